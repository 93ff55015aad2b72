package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

// closedURL returns a NATS URL on a loopback port where nothing listens,
// held for the test so that no server of another test gets it meanwhile.
func closedURL(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("nats://127.0.0.1:%d", testworld.ReservePort(t))
}

// runBounded runs a command with a deadline well past the one under test,
// so a command that never gives up fails the test instead of hanging it.
func runBounded(t *testing.T, args []string, env map[string]string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	code = run(ctx, args, envOf(env), &out, &errOut)
	if ctx.Err() != nil {
		t.Fatalf("%v still running after 30s; stderr:\n%s", args, errOut.String())
	}
	return code, out.String(), errOut.String()
}

// Mistake 1: a NATS_URL where no server answers. run says why while it
// waits and gives up at SCA_STARTUP_TIMEOUT with exit 1, naming the
// setting, the URL and the last error.
func TestRunGivesUpOnUnreachableNATSAtStartupTimeout(t *testing.T) {
	t.Parallel()
	env := workerEnv(t, startSim(t))
	url := closedURL(t)
	env["NATS_URL"] = url
	env["SCA_STARTUP_TIMEOUT"] = "2500ms"
	code, _, errOut := runBounded(t, []string{"run"}, env)
	if code != exitFailure {
		t.Fatalf("run = %d, want 1; stderr:\n%s", code, errOut)
	}
	var waiting, failed map[string]any
	for _, l := range logLines(errOut) {
		switch l["msg"] {
		case "waiting for nats":
			waiting = l
		case "scaworker failed":
			failed = l
		}
	}
	if waiting == nil || waiting["setting"] != "NATS_URL" || waiting["url"] != url {
		t.Errorf("waiting line = %v, want setting NATS_URL and url %s", waiting, url)
	}
	msg, _ := failed["error"].(string)
	for _, want := range []string{"NATS_URL", url, "SCA_STARTUP_TIMEOUT", "2.5s", "connection refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
}

// While it waits, the connection says why again and again, with the last
// error once there is one.
func TestDialNATSSaysWhyWhileWaiting(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	log, err := newLogger("info", "json", &logs)
	if err != nil {
		t.Fatal(err)
	}
	url := closedURL(t)
	_, err = dialNATS(t.Context(), url, settings.NATS{}, dialOptions{setting: "NATS_URL", wait: 2500 * time.Millisecond, every: 200 * time.Millisecond}, log)
	if err == nil {
		t.Fatal("dialNATS to a closed port = nil error")
	}
	withErr := 0
	for _, l := range logLines(logs.String()) {
		if l["msg"] == "waiting for nats" && strings.Contains(fmt.Sprint(l["last_error"]), "connection refused") {
			withErr++
		}
	}
	if withErr < 2 {
		t.Errorf("%d waiting lines with the last error, want several:\n%s", withErr, logs.String())
	}
}

// check names NATS_URL and the URL instead of "context deadline exceeded".
func TestCheckNamesUnreachableNATSURL(t *testing.T) {
	t.Parallel()
	env := workerEnv(t, startSim(t))
	url := closedURL(t)
	env["NATS_URL"] = url
	code, out, _ := runBounded(t, []string{"check"}, env)
	if code != exitFailure {
		t.Errorf("check = %d, want 1", code)
	}
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "nats and streams:") {
			line = l
		}
	}
	if !strings.Contains(line, "FAILED: NATS_URL "+url) || strings.Contains(line, "context deadline exceeded") {
		t.Errorf("check's nats line = %q, want it to name NATS_URL %s, not a bare deadline", line, url)
	}
}

// Mistake 2: a server without JetStream.
func TestRunAndCheckSayJetStreamIsNotEnabled(t *testing.T) {
	t.Parallel()
	srv := testworld.ServerWithoutJetStream(t)
	const want = "JetStream is not enabled on the server at NATS_URL (start nats-server with -js)"
	env := workerEnv(t, startSim(t))
	env["NATS_URL"] = srv.ClientURL()
	code, _, errOut := runBounded(t, []string{"run"}, env)
	if code != exitFailure || !strings.Contains(errOut, want) || strings.Contains(errOut, "no responders") {
		t.Errorf("run = %d, want 1 saying %q; stderr:\n%s", code, want, errOut)
	}
	code, out, _ := runBounded(t, []string{"check"}, env)
	if code != exitFailure || !strings.Contains(out, want) {
		t.Errorf("check = %d, want 1 saying %q; stdout:\n%s", code, want, out)
	}
}

// Mistake 3: the embedded server's port is taken. The cause is the error,
// at once, as a configuration error naming SCA_NATS_LISTEN.
func TestRunEmbeddedListenTakenIsAConfigError(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	env := workerEnv(t, startSim(t))
	env["SCA_NATS_LISTEN"] = ln.Addr().String()
	code, _, errOut := runBounded(t, []string{"run"}, env)
	if code != exitUsage {
		t.Errorf("run = %d, want 2; stderr:\n%s", code, errOut)
	}
	for _, want := range []string{"configuration error", "SCA_NATS_LISTEN " + ln.Addr().String(), "address already in use"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	}
}

// Mistake 5: credentials Mangopay refuses are a configuration error
// (exit 2, so the restart guard applies), naming both settings.
func TestRunRefusedCredentialsIsAConfigError(t *testing.T) {
	t.Parallel()
	for name, edit := range map[string]func(map[string]string){
		"wrong key":       func(env map[string]string) { env["MANGOPAY_API_KEY"] = "not-the-key" },
		"wrong client id": func(env map[string]string) { env["MANGOPAY_CLIENT_ID"] = "someone-else" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := workerEnv(t, startSim(t))
			edit(env)
			code, _, errOut := runBounded(t, []string{"run"}, env)
			if code != exitUsage {
				t.Errorf("run = %d, want 2; stderr:\n%s", code, errOut)
			}
			for _, want := range []string{"configuration error", "MANGOPAY_CLIENT_ID", "MANGOPAY_API_KEY", "refused"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr does not say %q:\n%s", want, errOut)
				}
			}
			if strings.Contains(errOut, "not-the-key") || strings.Contains(errOut, testAPIKey) {
				t.Errorf("stderr shows an API key:\n%s", errOut)
			}
		})
	}
}

// Mistake 4: a trigger on a subject under the trigger stream that the
// worker does not handle is dead-lettered (invalid_event, "unknown
// subject") and counted, instead of sitting unseen in the stream.
func TestRunDeadLettersUnknownSubject(t *testing.T) {
	t.Parallel()
	w := startWorker(t, workerEnv(t, startSim(t)))
	base := "http://" + waitLog(t, w.stderr, w.done, "http listening", map[string]string{"setting": "SCA_HTTP_ADDR"})["addr"].(string)
	waitLog(t, w.stderr, w.done, "ready", nil)
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
	body := triggerEvent("typo-1", events.TypeUserCreated, map[string]any{"user_id": mangosim.UserOwnerNatural}, time.Now())
	if _, err := js.Publish(t.Context(), "sca.events.user.create", body); err != nil {
		t.Fatalf("publish: %v", err)
	}
	const counter = `scaworker_events_total{outcome="dlq",reason="invalid_event",type="unknown"} 1`
	testworld.WaitFor(t, "the unknown subject counted as invalid_event", 20*time.Second, func() bool {
		_, metrics := get(t, base+"/metrics")
		return strings.Contains(metrics, counter)
	})
	st, err := js.Stream(t.Context(), "SCA_DLQ")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := st.GetLastMsgForSubject(t.Context(), "sca.dlq.sca.events.user.create")
	if err != nil {
		t.Fatalf("no dead letter for the unknown subject: %v", err)
	}
	var rec struct {
		Data struct {
			Reason, Error string
			EventID       string `json:"event_id"`
		}
	}
	if err := json.Unmarshal(msg.Data, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Data.Reason != events.ReasonInvalidEvent || !strings.Contains(rec.Data.Error, "unknown subject") || rec.Data.EventID != "typo-1" {
		t.Errorf("dead letter = %+v, want invalid_event about an unknown subject for typo-1", rec.Data)
	}
}
