package settings

import (
	"errors"
	"fmt"
	"strings"
)

// Markers delimit the generated settings table in README.md.
const (
	BeginMarker = "<!-- settings:begin -->"
	EndMarker   = "<!-- settings:end -->"
)

// Table returns the Markdown table of every setting of every command
// (variable | flag | meaning | default), each setting once, in the order
// of `scaworker run -h`.
func Table() (string, error) {
	k, err := New(&CLI{}, nil, nil, nil)
	if err != nil {
		return "", fmt.Errorf("build command line: %w", err)
	}
	var b strings.Builder
	b.WriteString("| variable | flag | meaning | default |\n|---|---|---|---|\n")
	seen := map[string]bool{}
	for _, cmd := range k.Model.Children {
		if cmd.Hidden {
			continue
		}
		for _, f := range settingFlags(cmd) {
			name := EnvName(f)
			if seen[name] {
				continue
			}
			seen[name] = true
			def := ""
			if f.HasDefault && f.Default != "" {
				def = "`" + f.Default + "`"
			}
			fmt.Fprintf(&b, "| `%s` | `--%s` | %s | %s |\n", name, f.Name, cell(f.Help), cell(def))
		}
	}
	return b.String(), nil
}

func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

// Section returns the text between the settings markers of doc.
func Section(doc string) (string, error) {
	_, section, _, err := split(doc)
	return section, err
}

// ReplaceSection returns doc with the text between the settings markers
// replaced by "\n" + table.
func ReplaceSection(doc, table string) (string, error) {
	before, _, after, err := split(doc)
	if err != nil {
		return "", err
	}
	return before + "\n" + table + after, nil
}

// split cuts doc into the text up to and including the begin marker, the
// section, and the text from the end marker on.
func split(doc string) (before, section, after string, err error) {
	i := strings.Index(doc, BeginMarker)
	j := strings.Index(doc, EndMarker)
	if i < 0 || j < 0 || j < i {
		return "", "", "", errors.New("settings markers " + BeginMarker + " … " + EndMarker + " not found in order")
	}
	i += len(BeginMarker)
	return doc[:i], doc[i:j], doc[j:], nil
}

// Want is the section that belongs between the markers for table.
func Want(table string) string { return "\n" + table }
