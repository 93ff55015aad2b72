package main

import (
	"fmt"
	"io"
	"os"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
)

// settingsTable prints the README's settings table, or with file set
// rewrites the section between the markers of that file in place.
func settingsTable(file string, stdout io.Writer) error {
	table, err := settings.Table()
	if err != nil {
		return err
	}
	if file == "" {
		_, err := io.WriteString(stdout, table)
		return err
	}
	doc, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("settings-table: %w", err)
	}
	out, err := settings.ReplaceSection(string(doc), table)
	if err != nil {
		return fmt.Errorf("settings-table %s: %w", file, err)
	}
	if out == string(doc) {
		return nil
	}
	info, err := os.Stat(file)
	if err != nil {
		return fmt.Errorf("settings-table: %w", err)
	}
	if err := os.WriteFile(file, []byte(out), info.Mode().Perm()); err != nil {
		return fmt.Errorf("settings-table: %w", err)
	}
	return nil
}
