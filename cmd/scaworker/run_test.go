package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/natsembed"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/mangosim"
)

func TestRunServesOpsEndpoints(t *testing.T) {
	t.Parallel()
	sim := startSim(t)
	env := workerEnv(t, sim)
	w := startWorker(t, env)
	ln := waitLog(t, w.stderr, w.done, "http listening", map[string]string{"setting": "SCA_HTTP_ADDR"})
	base := "http://" + ln["addr"].(string)
	waitLog(t, w.stderr, w.done, "nats listening", nil)
	waitLog(t, w.stderr, w.done, "ready", nil)

	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d, want 200", code)
	}
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d %q, want 200 when ready", code, body)
	}
	code, body := get(t, base+"/metrics")
	if code != 200 {
		t.Errorf("/metrics = %d, want 200", code)
	}
	for _, want := range []string{"go_goroutines", "process_start_time_seconds", "scaworker_"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The effective configuration is logged once, redacted.
	logs := w.stderr.String()
	cfg := waitLog(t, w.stderr, w.done, "config", nil)
	if cfg["MANGOPAY_API_KEY"] != "[redacted]" || cfg["SCA_DATA_DIR"] != env["SCA_DATA_DIR"] {
		t.Errorf("config line = %v, want MANGOPAY_API_KEY [redacted] and the data dir", cfg)
	}
	if strings.Contains(logs, testAPIKey) {
		t.Errorf("logs contain the API key:\n%s", logs)
	}

	// A second worker on the same data directory fails (exit 1) naming it.
	env2 := workerEnv(t, sim)
	env2["SCA_DATA_DIR"] = env["SCA_DATA_DIR"]
	code2, _, errOut := runSync(t, []string{"run"}, env2)
	if code2 != exitFailure || !strings.Contains(errOut, "SCA_DATA_DIR") {
		t.Errorf("second run on the same data dir = %d, stderr %q; want 1 naming SCA_DATA_DIR", code2, errOut)
	}

	if code := w.stop(t); code != exitOK {
		t.Errorf("exit after cancel = %d, want 0; stderr:\n%s", code, w.stderr.String())
	}
}

func TestRunAdminAddrMovesOpsEndpoints(t *testing.T) {
	t.Parallel()
	env := workerEnv(t, startSim(t))
	env["SCA_ADMIN_ADDR"] = "127.0.0.1:0"
	w := startWorker(t, env)
	public := waitLog(t, w.stderr, w.done, "http listening", map[string]string{"setting": "SCA_HTTP_ADDR"})
	admin := waitLog(t, w.stderr, w.done, "http listening", map[string]string{"setting": "SCA_ADMIN_ADDR"})
	waitLog(t, w.stderr, w.done, "ready", nil)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _ := get(t, "http://"+admin["addr"].(string)+path); code != 200 {
			t.Errorf("admin %s = %d, want 200", path, code)
		}
		if code, _ := get(t, "http://"+public["addr"].(string)+path); code != 404 {
			t.Errorf("public %s = %d, want 404 with SCA_ADMIN_ADDR set", path, code)
		}
	}
	// The operator console is served there too, read-only by default, and
	// never on the public listener.
	code, body := get(t, "http://"+admin["addr"].(string)+"/")
	if code != 200 || !strings.Contains(body, "Overview") || !strings.Contains(body, "read-only") || !strings.Contains(body, "running") {
		t.Errorf("admin / = %d, want the console's overview, read-only, the worker running:\n%s", code, body)
	}
	if code, _ := get(t, "http://"+public["addr"].(string)+"/dlq"); code != 404 {
		t.Errorf("public /dlq = %d, want 404", code)
	}
}

func TestRunAdminAddrOffLoopbackNeedsAuthFile(t *testing.T) {
	t.Parallel()
	env := workerEnv(t, startSim(t))
	env["SCA_ADMIN_ADDR"] = ":0"
	code, _, errOut := runSync(t, []string{"run"}, env)
	if code != exitUsage || !strings.Contains(errOut, "SCA_ADMIN_AUTH_FILE") {
		t.Errorf("run with SCA_ADMIN_ADDR=:0 = %d, stderr %q; want 2 naming SCA_ADMIN_AUTH_FILE", code, errOut)
	}
	// With the file, the console asks for its credentials.
	auth := t.TempDir() + "/admin-auth"
	if err := os.WriteFile(auth, []byte("ada:correct-horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env["SCA_ADMIN_AUTH_FILE"] = auth
	w := startWorker(t, env)
	admin := waitLog(t, w.stderr, w.done, "http listening", map[string]string{"setting": "SCA_ADMIN_ADDR"})
	waitLog(t, w.stderr, w.done, "ready", nil)
	_, port, _ := strings.Cut(admin["addr"].(string), "]:")
	if port == "" {
		_, port, _ = strings.Cut(admin["addr"].(string), ":")
	}
	base := "http://127.0.0.1:" + port
	if code, _ := get(t, base+"/"); code != 401 {
		t.Errorf("console without credentials = %d, want 401", code)
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d, want 200 (probes need no credentials)", code)
	}
	if strings.Contains(w.stderr.String(), "correct-horse") {
		t.Error("the logs show the console's password")
	}
}

func TestRunNotReadyDuringFault(t *testing.T) {
	t.Parallel()
	sim := startSim(t)
	w := startWorker(t, workerEnv(t, sim), "--fault-pause=100ms", "--fault-pause-max=200ms")
	ln := waitLog(t, w.stderr, w.done, "http listening", map[string]string{"setting": "SCA_HTTP_ADDR"})
	waitLog(t, w.stderr, w.done, "ready", nil)
	base := "http://" + ln["addr"].(string)
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d before the fault, want 200", code)
	}
	// Mangopay refuses every call with 403: a deployment-wide fault once
	// the consumer meets it.
	sim.SetFaults(mangosim.Faults{Status403: true})
	publishTrigger(t, w)
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		code, body := get(t, base+"/readyz")
		if code == 503 {
			if !strings.Contains(body, "fault") {
				t.Errorf("/readyz body = %q, want the fault named", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz stayed %d during a 403 fault", code)
		}
		<-tick.C
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz during a fault = %d, want 200", code)
	}
}

// publishTrigger publishes one user.created for an owner to the worker's
// embedded NATS.
func publishTrigger(t *testing.T, w *worker) {
	t.Helper()
	addr := waitLog(t, w.stderr, w.done, "nats listening", nil)["addr"].(string)
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	body := triggerEvent("t-1", events.TypeUserCreated, map[string]any{"user_id": mangosim.UserOwnerNatural, "category": "OWNER"}, time.Now())
	if _, err := js.Publish(t.Context(), events.DefaultSubjects().UserCreated, body); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	srv, err := natsembed.Start(natsembed.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	t.Run("ok", func(t *testing.T) {
		t.Parallel()
		env := workerEnv(t, startSim(t))
		env["NATS_URL"] = srv.ClientURL()
		env["SCA_HOOK_SECRET"] = testHookSecret
		env["SCA_HOOK_ALLOW_CIDRS"] = "203.0.113.0/24"
		code, out, errOut := runSync(t, []string{"check"}, env)
		if code != exitOK {
			t.Fatalf("check = %d, want 0; stdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		if n := strings.Count(out, ": ok\n"); n != 6 || strings.Contains(out, "FAILED") || !strings.Contains(out, "durability: ok\n") || !strings.Contains(out, "webhooks: ok\n") {
			t.Errorf("check printed %d ok lines, want 6 with durability's and webhooks':\n%s", n, out)
		}
	})
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		env := workerEnv(t, startSim(t))
		code, out, _ := runSync(t, []string{"check"}, env)
		if code != exitOK || !strings.Contains(out, "durability: WARNING: the embedded NATS server is a single replica") {
			t.Errorf("check without NATS_URL = %d, want 0 with the single-replica warning:\n%s", code, out)
		}
		if !strings.Contains(out, "webhooks: WARNING: webhook ingress open to the world: neither SCA_HOOK_SECRET nor SCA_HOOK_ALLOW_CIDRS is set") {
			t.Errorf("check without SCA_HOOK_SECRET and SCA_HOOK_ALLOW_CIDRS lacks the open-ingress warning:\n%s", out)
		}
		code, out, _ = runSync(t, []string{"check", "--require-durable"}, env)
		if code != exitFailure || !strings.Contains(out, "durability: FAILED: SCA_REQUIRE_DURABLE: the embedded NATS server is a single replica") {
			t.Errorf("check --require-durable without NATS_URL = %d, want 1 with the refusal:\n%s", code, out)
		}
		env["SCA_REQUIRE_DURABLE"] = "true"
		code, _, errOut := runSync(t, []string{"run"}, env)
		if code != exitUsage || !strings.Contains(errOut, "SCA_REQUIRE_DURABLE: the embedded NATS server is a single replica") {
			t.Errorf("run with SCA_REQUIRE_DURABLE and the embedded server = %d, want 2 naming the setting:\n%s", code, errOut)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		t.Parallel()
		env := workerEnv(t, startSim(t))
		env["MANGOPAY_API_KEY"] = "wrong-key"
		code, out, _ := runSync(t, []string{"check"}, env)
		if code != exitFailure || !strings.Contains(out, "FAILED") {
			t.Errorf("check with a wrong key = %d, want 1 with FAILED:\n%s", code, out)
		}
		if strings.Contains(out, "wrong-key") {
			t.Errorf("check output contains the API key:\n%s", out)
		}
	})
	t.Run("forbidden", func(t *testing.T) {
		t.Parallel()
		env := workerEnv(t, startSim(t, mangosim.Faults{Status403: true}))
		code, out, _ := runSync(t, []string{"check"}, env)
		if code != exitFailure || !strings.Contains(out, "FAILED") {
			t.Errorf("check with 403 = %d, want 1 with FAILED:\n%s", code, out)
		}
	})
}

func TestDemo(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	start := time.Now()
	code := run(ctx, []string{"demo"}, envOf(nil), &out, &errOut)
	if code != exitOK {
		t.Fatalf("demo = %d, want 0; stdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	summary := out.String()
	if i := strings.Index(summary, "Summary"); i >= 0 {
		summary = summary[i:]
	} else {
		t.Fatalf("demo printed no summary:\n%s", out.String())
	}
	for _, row := range [][]string{
		{"link", "-", "8"}, {"skip", "not_owner", "2"}, {"skip", "user_cap", "2"}, {"skip", "user_closed", "1"}, {"skip", "sca_not_required", "2"},
		{"dlq", "invalid_event", "1"}, {"dlq", "missing_legal_representative_email", "1"},
		{"state", "-", "1"}, {"duplicate", "-", "1"},
	} {
		if !hasRow(summary, row) {
			t.Errorf("summary lacks row %v:\n%s", row, summary)
		}
	}
	for _, want := range []string{
		"user user_m_owner_natural at Mangopay: OWNER, NATURAL, ACTIVE, not enrolled",
		"user user_m_owner_legal_norep at Mangopay: OWNER, LEGAL, BUSINESS, ACTIVE, not enrolled, no legal representative e-mail",
		"What next", "./scaworker check", "./scaworker run",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo does not say %q", want)
		}
	}
	t.Logf("demo took %s", time.Since(start))
}

func hasRow(table string, cells []string) bool {
	for _, line := range strings.Split(table, "\n") {
		if strings.Join(strings.Fields(line), " ") == strings.Join(cells, " ") {
			return true
		}
	}
	return false
}

// TestSIGTERMExitsZero runs the real binary and stops it with SIGTERM.
func TestSIGTERMExitsZero(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	sim := startSim(t)
	cmd := exec.Command(bin, "run")
	cmd.Env = []string{"HOME=" + t.TempDir()}
	for k, v := range workerEnv(t, sim) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited, waited := make(chan int, 1), make(chan struct{})
	go func() {
		_ = cmd.Wait()
		exited <- cmd.ProcessState.ExitCode()
		close(waited)
	}()
	t.Cleanup(func() { // a failed test leaves no worker running on its TempDir
		_ = cmd.Process.Kill()
		<-waited
	})
	waitLog(t, &stderr, exited, "ready", nil)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("exit after SIGTERM = %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("no exit within 30s of SIGTERM")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatal(err)
	}
}
