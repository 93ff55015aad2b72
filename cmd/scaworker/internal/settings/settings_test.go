package settings

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) LookupEnv {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func parse(t *testing.T, args []string, env map[string]string) *Parsed {
	t.Helper()
	var out, errOut bytes.Buffer
	p, err := Parse(args, envOf(env), &out, &errOut)
	if err != nil {
		t.Fatalf("Parse(%q) error = %v (stderr %q)", args, err, errOut.String())
	}
	return p
}

func TestFlagBeatsEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SCA_CONCURRENCY": "4", "NATS_URL": "nats://env:4222", "SCA_ACK_WAIT": "45s", "LOG_LEVEL": "debug"}
	p := parse(t, []string{"run", "--concurrency=16", "--nats-url", "nats://flag:4222"}, env)
	r := p.CLI.Run
	if r.Consumer.Concurrency != 16 {
		t.Errorf("Concurrency = %d, want 16 (flag beats SCA_CONCURRENCY)", r.Consumer.Concurrency)
	}
	if r.NATS.URL != "nats://flag:4222" {
		t.Errorf("NATS URL = %q, want the flag's", r.NATS.URL)
	}
	if r.Consumer.AckWait != 45*time.Second {
		t.Errorf("AckWait = %s, want 45s from SCA_ACK_WAIT", r.Consumer.AckWait)
	}
	if r.Log.Level != "debug" {
		t.Errorf("log level = %q, want debug from LOG_LEVEL", r.Log.Level)
	}
	if p.Command != "run" {
		t.Errorf("Command = %q, want run", p.Command)
	}
}

func TestDefaultsWithoutEnv(t *testing.T) {
	t.Parallel()
	r := parse(t, []string{"run"}, map[string]string{"SCA_HTTP_ADDR": ""}).CLI.Run
	if r.HTTP.Addr != ":8080" || r.Embedded.Listen != "127.0.0.1:4222" || r.Embedded.DataDir != "./data" {
		t.Errorf("defaults = %q %q %q, want :8080 127.0.0.1:4222 ./data (empty variable = unset)", r.HTTP.Addr, r.Embedded.Listen, r.Embedded.DataDir)
	}
	if got, want := strings.Join(r.Mangopay.LinkHosts, ","), "sca.mangopay.com,sca.sandbox.mangopay.com"; got != want {
		t.Errorf("LinkHosts = %q, want %q", got, want)
	}
	if r.Mangopay.Rate != "1500/15m" || r.Log.Format != "json" {
		t.Errorf("rate, log format = %q %q, want 1500/15m json", r.Mangopay.Rate, r.Log.Format)
	}
}

func TestEnvListAndDurations(t *testing.T) {
	t.Parallel()
	r := parse(t, []string{"run"}, map[string]string{"SCA_LINK_HOSTS": "a.example,b.example", "SCA_RETRY_BUDGET": "2h30m"}).CLI.Run
	if got := strings.Join(r.Mangopay.LinkHosts, "|"); got != "a.example|b.example" {
		t.Errorf("LinkHosts = %q, want a.example|b.example", got)
	}
	if r.Consumer.RetryBudget != 150*time.Minute {
		t.Errorf("RetryBudget = %s, want 2h30m", r.Consumer.RetryBudget)
	}
}

func TestBadEnvNamesVariable(t *testing.T) {
	t.Parallel()
	for name, val := range map[string]string{"SCA_CONCURRENCY": "many", "SCA_ACK_WAIT": "soon", "LOG_FORMAT": "xml"} {
		_, err := Parse([]string{"run"}, envOf(map[string]string{name: val}), &bytes.Buffer{}, &bytes.Buffer{})
		var usage *UsageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), name) {
			t.Errorf("Parse with %s=%q: error = %v, want a UsageError naming %s", name, val, err, name)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"nope"}, {"help", "nope"}, {"run", "--no-such-flag"}, {"run", "--concurrency=x"}} {
		_, err := Parse(args, nil, &bytes.Buffer{}, &bytes.Buffer{})
		var usage *UsageError
		if !errors.As(err, &usage) {
			t.Errorf("Parse(%q) error = %v, want *UsageError", args, err)
		}
	}
}

// No arguments, and `help [command]`, ask for help: usage, not an error.
func TestNoArgumentsAndHelpShowUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{}, {"help"}, {"help", "run"}, {"help", "dlq", "list"}} {
		var out bytes.Buffer
		_, err := Parse(args, nil, &out, &bytes.Buffer{})
		if !errors.As(err, new(HelpShown)) || !strings.Contains(out.String(), "Usage: scaworker") {
			t.Errorf("Parse(%q) error = %v, want HelpShown and the usage", args, err)
		}
	}
}

func TestHelpListsVariablesAndDefaults(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	_, err := Parse([]string{"run", "-h"}, nil, &out, &bytes.Buffer{})
	if !errors.As(err, new(HelpShown)) {
		t.Fatalf("Parse(run -h) error = %v, want HelpShown", err)
	}
	for _, want := range []string{"$SCA_CONCURRENCY", "default: 8", "$MANGOPAY_API_KEY", "$NATS_URL", "$SCA_DATA_DIR", "default: ./data", "$LOG_LEVEL"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("run -h lacks %q", want)
		}
	}
}

// TestVariableNames pins the naming rule: --some-setting is
// SCA_SOME_SETTING, except the Mangopay, NATS and log names of docs/settings.md.
func TestVariableNames(t *testing.T) {
	t.Parallel()
	special := map[string]bool{"NATS_URL": true, "NATS_CREDS": true, "NATS_TLS_CA": true, "NATS_TLS_CERT": true,
		"NATS_TLS_KEY": true, "MANGOPAY_BASE_URL": true, "MANGOPAY_CLIENT_ID": true, "MANGOPAY_API_KEY": true,
		"MANGOPAY_API_KEY_FILE": true, "MANGOPAY_TLS_CERT": true, "MANGOPAY_TLS_KEY": true, "LOG_LEVEL": true, "LOG_FORMAT": true}
	k, err := New(&CLI{}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, cmd := range k.Model.Children {
		for _, f := range settingFlags(cmd) {
			name := EnvName(f)
			seen[name] = true
			derived := "SCA_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
			if name != derived && !special[name] {
				t.Errorf("--%s reads %s, want %s", f.Name, name, derived)
			}
			if special[name] && f.Tag.Get("envvar") == "" {
				t.Errorf("--%s: special variable %s must be declared", f.Name, name)
			}
		}
	}
	for name := range special {
		if !seen[name] {
			t.Errorf("setting %s missing", name)
		}
	}
	for _, name := range []string{"SCA_RETURN_URL", "SCA_LINK_HOSTS", "SCA_MANGOPAY_RATE", "SCA_HTTP_ADDR", "SCA_ADMIN_ADDR",
		"SCA_NATS_LISTEN", "SCA_DATA_DIR", "SCA_STREAM", "SCA_CONCURRENCY", "SCA_ACK_WAIT", "SCA_USER_CAP"} {
		if !seen[name] {
			t.Errorf("setting %s missing", name)
		}
	}
}

func TestLogFieldsRedactSecrets(t *testing.T) {
	t.Parallel()
	const key = "sk-very-secret-api-key"
	p := parse(t, []string{"run", "--mangopay-tls-key", "LS0tLS1CRUdJTiBQUklWQVRF"}, map[string]string{
		"MANGOPAY_API_KEY": key, "MANGOPAY_CLIENT_ID": "client",
		"NATS_URL": "nats://alice:hunter2@n1:4222,nats://tok3n@n2:4222",
	})
	var all strings.Builder
	got := map[string]string{}
	for _, f := range p.LogFields() {
		got[f.Key] = f.String
		all.WriteString(f.Key + "=" + f.String + "\n")
	}
	for _, secret := range []string{key, "LS0tLS1CRUdJTiBQUklWQVRF", "hunter2", "tok3n"} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("log fields contain secret %q:\n%s", secret, all.String())
		}
	}
	if got["MANGOPAY_API_KEY"] != Redacted {
		t.Errorf("MANGOPAY_API_KEY field = %q, want %q", got["MANGOPAY_API_KEY"], Redacted)
	}
	if got["MANGOPAY_CLIENT_ID"] != "client" || got["SCA_CONCURRENCY"] != "8" || got["SCA_ACK_WAIT"] != "30s" {
		t.Errorf("plain fields = %q %q %q, want client 8 30s", got["MANGOPAY_CLIENT_ID"], got["SCA_CONCURRENCY"], got["SCA_ACK_WAIT"])
	}
	if !strings.Contains(got["NATS_URL"], "n1:4222") || !strings.Contains(got["NATS_URL"], "alice") {
		t.Errorf("NATS_URL field = %q, want hosts and user kept", got["NATS_URL"])
	}
}

func TestReadAPIKey(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte("  the-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := Mangopay{APIKeyFile: file}
	if err := m.ReadAPIKey(nil); err != nil || m.APIKey != "the-key" {
		t.Errorf("ReadAPIKey() = %v, key %q; want nil, the-key", err, m.APIKey)
	}
	both := Mangopay{APIKey: "x", APIKeyFile: file}
	if err := both.ReadAPIKey(nil); err == nil || !strings.Contains(err.Error(), "MANGOPAY_API_KEY_FILE") {
		t.Errorf("ReadAPIKey() with both = %v, want an error naming MANGOPAY_API_KEY_FILE", err)
	}
	missing := Mangopay{APIKeyFile: filepath.Join(t.TempDir(), "none")}
	if err := missing.ReadAPIKey(nil); err == nil || !strings.Contains(err.Error(), "MANGOPAY_API_KEY_FILE") {
		t.Errorf("ReadAPIKey() missing file = %v, want an error naming MANGOPAY_API_KEY_FILE", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	_ = os.WriteFile(empty, []byte(" \n"), 0o600)
	e := Mangopay{APIKeyFile: empty}
	if err := e.ReadAPIKey(nil); err == nil {
		t.Error("ReadAPIKey() of a blank file = nil, want an error")
	}
}

func TestTableAndSection(t *testing.T) {
	t.Parallel()
	table, err := Table()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| `SCA_CONCURRENCY` | `--concurrency` |", "`MANGOPAY_API_KEY`", "| `SCA_DATA_DIR` | `--data-dir` | ", "`./data`"} {
		if !strings.Contains(table, want) {
			t.Errorf("Table() lacks %q", want)
		}
	}
	if strings.Count(table, "`LOG_LEVEL`") != 1 {
		t.Errorf("Table() lists LOG_LEVEL %d times, want once", strings.Count(table, "`LOG_LEVEL`"))
	}
	if strings.Contains(table, "--write") || strings.Contains(table, "--help") {
		t.Error("Table() lists command options, want settings only")
	}
	doc := "# T\n\nintro\n" + BeginMarker + "\nold\n" + EndMarker + "\nrest\n"
	out, err := ReplaceSection(doc, table)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := Section(out)
	if err != nil || sec != Want(table) {
		t.Errorf("Section(ReplaceSection()) = %q, %v; want the table", sec, err)
	}
	if !strings.HasPrefix(out, "# T\n\nintro\n") || !strings.HasSuffix(out, EndMarker+"\nrest\n") {
		t.Errorf("ReplaceSection() changed text outside the markers:\n%s", out)
	}
	if _, err := ReplaceSection("no markers", table); err == nil {
		t.Error("ReplaceSection() without markers = nil error")
	}
}

func TestRedactURLs(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                                 "",
		"nats://h:4222":                    "nats://h:4222",
		"nats://u:p@h:4222":                "nats://u:xxxxx@h:4222",
		"https://api.mangopay.com":         "https://api.mangopay.com",
		"nats://a:b@h1:1, nats://tok@h2:2": "nats://a:xxxxx@h1:1,nats://%5Bredacted%5D@h2:2",
	} {
		if got := RedactURLs(in); got != want {
			t.Errorf("RedactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}
