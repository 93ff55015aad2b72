package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
)

// TestDeployFilesNameOnlySettings: every variable the deploy files set is
// a scaworker setting, so a renamed setting cannot leave them stale.
func TestDeployFilesNameOnlySettings(t *testing.T) {
	t.Parallel()
	table, err := settings.Table()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z0-9_]+)`").FindAllStringSubmatch(table, -1) {
		known[m[1]] = true
	}
	if len(known) < 20 {
		t.Fatalf("read %d settings from the table, want them all", len(known))
	}
	files := map[string]*regexp.Regexp{
		"../../deploy/systemd/scaworker.env":     regexp.MustCompile(`(?m)^#?([A-Z][A-Z0-9_]+)=`),
		"../../deploy/kubernetes/scaworker.yaml": regexp.MustCompile(`(?m)^\s*- name: ([A-Z][A-Z0-9_]+)\s*$`),
	}
	for path, re := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		found := re.FindAllStringSubmatch(string(b), -1)
		if len(found) < 5 {
			t.Errorf("%s: found %d variables, want the file's settings", path, len(found))
		}
		for _, m := range found {
			if !known[m[1]] {
				t.Errorf("%s sets %s, which is not a scaworker setting", path, m[1])
			}
		}
	}
	unit, err := os.ReadFile("../../deploy/systemd/scaworker.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=/usr/local/bin/scaworker run", "KillSignal=SIGTERM", "RestartPreventExitStatus=2"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("scaworker.service lacks %q", want)
		}
	}
}
