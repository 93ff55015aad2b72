package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/mangosim"
)

// TestSecretsRotateWithoutRestart runs the binary with MANGOPAY_API_KEY_FILE and rotates
// the key twice under it, each time at Mangopay (the simulator accepts only the new key and
// revoked the tokens) and in the file: first announced with SIGHUP, then unannounced (the
// 401 that survives a token refresh rereads the file). After each rotation a trigger gets
// its link from the same process; no key reaches the logs.
func TestSecretsRotateWithoutRestart(t *testing.T) {
	t.Parallel()
	keys := []string{"first-key-not-for-logs", "second-key-not-for-logs", "third-key-not-for-logs"}
	sim := mangosim.Start(mangosim.Options{APIKey: keys[0]})
	t.Cleanup(sim.Close)
	keyFile := filepath.Join(t.TempDir(), "api-key")
	writeKey := func(k string) {
		if err := os.WriteFile(keyFile, []byte(k+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeKey(keys[0])
	env := workerEnv(t, sim)
	delete(env, "MANGOPAY_API_KEY")
	env["MANGOPAY_API_KEY_FILE"] = keyFile
	env["SCA_HOOK_SECRET"] = testHookSecret

	cmd := exec.Command(binary(t), "run")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done, waited := make(chan int, 1), make(chan struct{})
	go func() { _ = cmd.Wait(); done <- cmd.ProcessState.ExitCode(); close(waited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-waited // gone before its SCA_DATA_DIR, a TempDir, is removed
	})
	addr := waitLog(t, stderr, done, "nats listening", nil)["addr"].(string)
	waitLog(t, stderr, done, "ready", nil)
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	trigger := func(id, user string) {
		t.Helper()
		body := triggerEvent(id, events.TypeUserCreated, map[string]any{"user_id": user, "category": "OWNER"}, time.Now())
		if _, err := js.Publish(t.Context(), events.DefaultSubjects().UserCreated, body); err != nil {
			t.Fatalf("publish: %v", err)
		}
		waitLog(t, stderr, done, "trigger settled", map[string]string{"event_id": id, "outcome": "link"})
	}
	trigger("rot-0", mangosim.UserOwnerNatural)

	// Rotation announced with SIGHUP.
	sim.SetAPIKey(keys[1])
	sim.SetFaults(mangosim.Faults{RevokeTokens: true})
	writeKey(keys[1])
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if l := waitLog(t, stderr, done, "mangopay secrets reloaded", nil); l["api_key_changed"] != true || l["cert_changed"] != false {
		t.Errorf("reload log = %v, want api_key_changed true, cert_changed false", l)
	}
	trigger("rot-1", mangosim.UserOwnerLegal)

	// Rotation found by the 401 that survives a token refresh.
	sim.SetAPIKey(keys[2])
	sim.SetFaults(mangosim.Faults{RevokeTokens: true})
	writeKey(keys[2])
	trigger("rot-2", mangosim.UserOwnerSoletrader)
	waitLog(t, stderr, done, "mangopay refused the credentials; the reloaded ones are tried", nil)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit after SIGTERM = %d, want 0", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s of SIGTERM")
	}
	for _, k := range keys {
		if strings.Contains(stderr.String(), k) {
			t.Errorf("the logs carry an API key")
		}
	}
}
