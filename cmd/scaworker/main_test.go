package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/mangosim"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a running
// command and the reads of a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func envOf(m map[string]string) settings.LookupEnv {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// runSync runs a command that finishes by itself.
func runSync(t *testing.T, args []string, env map[string]string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut syncBuffer
	code = run(t.Context(), args, envOf(env), &out, &errOut)
	return code, out.String(), errOut.String()
}

// logLines decodes the JSON log lines of stderr.
func logLines(stderr string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// waitLog polls stderr until a log line with message msg (and the given
// field values) appears, and returns it.
func waitLog(t *testing.T, stderr *syncBuffer, done chan int, msg string, fields map[string]string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
	lines:
		for _, l := range logLines(stderr.String()) {
			if l["msg"] != msg {
				continue
			}
			for k, v := range fields {
				if l[k] != v {
					continue lines
				}
			}
			return l
		}
		select {
		case code := <-done:
			done <- code // for whoever waits next
			t.Fatalf("command exited with %d before logging %q; stderr:\n%s", code, msg, stderr.String())
		case <-tick.C:
		}
	}
	t.Fatalf("no %q log line within 20s; stderr:\n%s", msg, stderr.String())
	return nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// testAPIKey is the simulator's key: it must never show in output.
const testAPIKey = "sim-api-key-not-for-logs"

// workerEnv is a valid environment for `run` against sim, on free
// loopback ports, with an embedded NATS in a fresh directory.
func workerEnv(t *testing.T, sim *mangosim.Server) map[string]string {
	t.Helper()
	return map[string]string{
		"MANGOPAY_BASE_URL":    sim.URL,
		"MANGOPAY_CLIENT_ID":   sim.ClientID(),
		"MANGOPAY_API_KEY":     sim.APIKey(),
		"SCA_RETURN_URL":       "https://platform.example/sca/done",
		"SCA_NATS_LISTEN":      "127.0.0.1:0",
		"SCA_DATA_DIR":         t.TempDir(),
		"SCA_HTTP_ADDR":        "127.0.0.1:0",
		"SCA_SHUTDOWN_TIMEOUT": "2s",
	}
}

func startSim(t *testing.T, faults ...mangosim.Faults) *mangosim.Server {
	t.Helper()
	sim := mangosim.Start(mangosim.Options{APIKey: testAPIKey})
	t.Cleanup(sim.Close)
	for _, f := range faults {
		sim.SetFaults(f)
	}
	return sim
}

// worker is a `run` in progress.
type worker struct {
	stderr *syncBuffer
	done   chan int
	cancel context.CancelFunc
}

func startWorker(t *testing.T, env map[string]string, args ...string) *worker {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	w := &worker{stderr: &syncBuffer{}, done: make(chan int, 1), cancel: cancel}
	go func() { w.done <- run(ctx, append([]string{"run"}, args...), envOf(env), io.Discard, w.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(20 * time.Second):
			t.Error("worker did not stop within 20s")
		}
	})
	return w
}

// stop cancels the run's ctx (as SIGTERM does) and returns its exit code.
func (w *worker) stop(t *testing.T) int {
	t.Helper()
	w.cancel()
	select {
	case code := <-w.done:
		w.done <- code // for the cleanup
		return code
	case <-time.After(20 * time.Second):
		t.Fatal("worker did not stop within 20s of cancel")
		return -1
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, out, _ := runSync(t, []string{"version"}, nil)
	if code != exitOK {
		t.Fatalf("version exit = %d, want 0", code)
	}
	for _, want := range []string{"scaworker ", "commit:", "built:", "go:       " + runtime.Version()} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}

func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	code, out, _ := runSync(t, []string{"run", "-h"}, nil)
	if code != exitOK || !strings.Contains(out, "$SCA_RETURN_URL") {
		t.Errorf("run -h = %d, output has SCA_RETURN_URL: %v; want 0 and the settings", code, strings.Contains(out, "$SCA_RETURN_URL"))
	}
}

func TestConfigErrorsNameTheirSetting(t *testing.T) {
	t.Parallel()
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(testAPIKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	valid := map[string]string{
		"MANGOPAY_CLIENT_ID": "client", "MANGOPAY_API_KEY": testAPIKey,
		"SCA_RETURN_URL": "https://platform.example/done", "SCA_HTTP_ADDR": "127.0.0.1:0",
	}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range valid {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"nothing set", []string{"run"}, nil, []string{"MANGOPAY_CLIENT_ID", "MANGOPAY_API_KEY", "SCA_RETURN_URL"}},
		{"no client id", []string{"run"}, with("MANGOPAY_CLIENT_ID", ""), []string{"MANGOPAY_CLIENT_ID"}},
		{"no api key", []string{"run"}, with("MANGOPAY_API_KEY", ""), []string{"MANGOPAY_API_KEY"}},
		{"no return url", []string{"run"}, with("SCA_RETURN_URL", ""), []string{"SCA_RETURN_URL"}},
		{"return url not https", []string{"run"}, with("SCA_RETURN_URL", "http://platform.example/done"), []string{"SCA_RETURN_URL"}},
		{"return url malformed", []string{"run"}, with("SCA_RETURN_URL", "https://%zz"), []string{"SCA_RETURN_URL"}},
		{"return url too long", []string{"run"}, with("SCA_RETURN_URL", "https://platform.example/"+strings.Repeat("a", 1900)), []string{"SCA_RETURN_URL"}},
		{"base url malformed", []string{"run"}, with("MANGOPAY_BASE_URL", "https://%zz"), []string{"MANGOPAY_BASE_URL"}},
		{"base url plain http", []string{"run"}, with("MANGOPAY_BASE_URL", "http://api.mangopay.com"), []string{"MANGOPAY_BASE_URL"}},
		{"retries longer than ack wait", []string{"run"}, with("SCA_ATTEMPT_TIMEOUT", "40s"), []string{"SCA_ATTEMPT_TIMEOUT"}},
		{"bad rate", []string{"run"}, with("SCA_MANGOPAY_RATE", "fast"), []string{"SCA_MANGOPAY_RATE"}},
		{"key and key file", []string{"run"}, with("MANGOPAY_API_KEY_FILE", keyFile), []string{"MANGOPAY_API_KEY_FILE"}},
		{"missing key file", []string{"run"}, with("MANGOPAY_API_KEY", "", "MANGOPAY_API_KEY_FILE", keyFile+".none"), []string{"MANGOPAY_API_KEY_FILE"}},
		{"bad number", []string{"run"}, with("SCA_CONCURRENCY", "lots"), []string{"SCA_CONCURRENCY"}},
		{"bad http addr", []string{"run"}, with("SCA_HTTP_ADDR", "8080"), []string{"SCA_HTTP_ADDR"}},
		{"bad nats listen", []string{"run"}, with("SCA_NATS_LISTEN", "localhost"), []string{"SCA_NATS_LISTEN"}},
		{"bad log level", []string{"run"}, with("LOG_LEVEL", "loud"), []string{"LOG_LEVEL"}},
		{"bad nats url", []string{"run"}, with("NATS_URL", "http://nats:4222"), []string{"NATS_URL"}},
		{"request timeout too long", []string{"run"}, with("SCA_MANGOPAY_TIMEOUT", "25s"), []string{"SCA_MANGOPAY_TIMEOUT"}},
		{"unknown flag", []string{"run", "--bogus"}, valid, []string{"--bogus"}},
		{"check without client id", []string{"check"}, with("MANGOPAY_CLIENT_ID", ""), []string{"MANGOPAY_CLIENT_ID"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runSync(t, tt.args, tt.env)
			if code != exitUsage {
				t.Fatalf("exit = %d, want 2; stdout %q stderr %q", code, out, errOut)
			}
			for _, want := range tt.want {
				if !strings.Contains(out+errOut, want) {
					t.Errorf("output does not name %s:\nstdout %s\nstderr %s", want, out, errOut)
				}
			}
			if strings.Contains(out+errOut, testAPIKey) {
				t.Errorf("output contains the API key:\n%s%s", out, errOut)
			}
		})
	}
}

// TestSettingDefaultsMatchPackages pins the flag defaults to the defaults
// the packages document, so `-h` and the README tell the truth.
func TestSettingDefaultsMatchPackages(t *testing.T) {
	t.Parallel()
	p, err := settings.Parse([]string{"run"}, nil, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got := consumerConfig(p.CLI.Run.Consumer)
	if want := (consumer.Config{}).Defaults(); !reflect.DeepEqual(got, want) {
		t.Errorf("consumer settings defaults =\n%+v\nwant consumer.Config defaults\n%+v", got, want)
	}
}

func TestSettingsTableMatchesREADME(t *testing.T) {
	t.Parallel()
	table, err := settings.Table()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatalf("read README.md: %v", err)
	}
	section, err := settings.Section(string(doc))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	if section != settings.Want(table) {
		t.Errorf("README.md's settings table is out of date; regenerate it with\n\tgo run ./cmd/scaworker settings-table -w README.md")
	}
}

func TestSettingsTableCommand(t *testing.T) {
	t.Parallel()
	table, err := settings.Table()
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ := runSync(t, []string{"settings-table"}, nil)
	if code != exitOK || out != table {
		t.Errorf("settings-table = %d, output equals Table(): %v; want 0, true", code, out == table)
	}
	file := filepath.Join(t.TempDir(), "README.md")
	doc := "# x\n\n" + settings.BeginMarker + "\nstale\n" + settings.EndMarker + "\n\nmore\n"
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runSync(t, []string{"settings-table", "-w", file}, nil); code != exitOK {
		t.Fatalf("settings-table -w = %d (%s), want 0", code, errOut)
	}
	b, _ := os.ReadFile(file)
	want := "# x\n\n" + settings.BeginMarker + "\n" + table + settings.EndMarker + "\n\nmore\n"
	if string(b) != want {
		t.Errorf("settings-table -w wrote\n%s\nwant\n%s", b, want)
	}
}
