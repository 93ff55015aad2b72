package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

// TestCrashMidCallReachesAnOutcome kills the real binary with SIGKILL while
// its enrollment POSTs are in flight (300 ms of API latency, then held
// until the kill). Mangopay executes those calls anyway, and their records
// read back from GET /responses/{key} damaged the ways seen after such
// crashes: a StatusCode "0", empty, missing or not a number, no Resource, a
// null Resource, a 404 for a while, a 404 for good. After a restart, every
// trigger must reach exactly one outcome within two AckWaits — one link
// each, none twice, no dead letter.
func TestCrashMidCallReachesAnOutcome(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	srv, js := testworld.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	sim := startSim(t)
	shapes := mangosim.StoredShapes()
	concurrency := len(shapes) // one handler per damaged shape, all in a POST at the kill
	// Every POST is held in flight after its 300 ms, so the kill finds all
	// of them there; the calls it abandons are executed all the same, and
	// their records take one damaged shape each.
	const latency = 300 * time.Millisecond
	sim.SetFaults(mangosim.Faults{Latency: latency, HoldEnrollments: true, CommitAbandoned: true, StoredShapes: shapes})

	const ackWait = 5 * time.Second
	env := []string{
		"HOME=" + t.TempDir(),
		"NATS_URL=" + srv.ClientURL(),
		"MANGOPAY_BASE_URL=" + sim.URL,
		"MANGOPAY_CLIENT_ID=" + sim.ClientID(),
		"MANGOPAY_API_KEY=" + sim.APIKey(),
		"SCA_RETURN_URL=https://platform.example/sca/done",
		"SCA_HTTP_ADDR=127.0.0.1:0",
		fmt.Sprintf("SCA_CONCURRENCY=%d", concurrency),
		"SCA_ACK_WAIT=" + ackWait.String(),
		"SCA_ATTEMPT_TIMEOUT=4s",
		"SCA_MANGOPAY_TIMEOUT=2s",
		"SCA_RETRY_DELAY_MIN=20ms",
		"SCA_RETRY_DELAY_MAX=100ms",
		"SCA_SHUTDOWN_TIMEOUT=5s",
	}
	start := func() (*exec.Cmd, *syncBuffer, chan struct{}) {
		cmd := exec.Command(bin, "run")
		cmd.Env = env
		stderr := &syncBuffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited }) // a failed test leaves no worker running
		return cmd, stderr, exited
	}

	first, _, firstExited := start()
	// The worker creates its streams and consumer; then the triggers come.
	testworld.WaitFor(t, "the worker's consumer", 30*time.Second, func() bool {
		_, err := js.Consumer(ctx, "SCA_EVENTS", "scaworker")
		return err == nil
	})
	const n = 16
	for i := range n {
		userID := fmt.Sprintf("user_m_midcall_%02d", i)
		sim.AddUser(mangosim.User{ID: userID, Category: mangosim.CategoryOwner, PersonType: mangosim.PersonNatural,
			Status: mangosim.StatusActive, Email: userID + "@example.com"})
		body := testworld.CloudEvent(events.TypeUserCreated, "/midcall", fmt.Sprintf("m-%02d", i),
			map[string]any{"user_id": userID, "category": "OWNER"})
		if _, err := js.Publish(ctx, "sca.events.user.created", body); err != nil {
			t.Fatal(err)
		}
	}
	testworld.WaitFor(t, "every handler in an enrollment POST", 20*time.Second, func() bool {
		return sim.InFlight(http.MethodPost, "/enrollment") == concurrency
	})
	_ = first.Process.Kill()
	<-firstExited
	if ws, ok := first.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("worker ended with %v, want SIGKILL", first.ProcessState)
	}
	testworld.WaitFor(t, "the abandoned POSTs to be executed", 30*time.Second, func() bool {
		return sim.InFlight("", "") == 0
	})
	abandoned := 0
	for _, c := range sim.Calls() {
		if c.Abandoned && c.Method == http.MethodPost && c.Status == http.StatusOK {
			abandoned++
		}
	}
	if abandoned != concurrency || len(sim.Faults().StoredShapes) != 0 {
		t.Fatalf("abandoned and executed POSTs = %d, shapes left %v; want %d, none (each damaged record made by a POST the kill abandoned)",
			abandoned, sim.Faults().StoredShapes, concurrency)
	}
	sim.SetFaults(mangosim.Faults{Latency: latency}) // no more holds nor damage

	restarted := time.Now()
	cmd, stderr, exited := start()
	ledger, err := js.KeyValue(ctx, "sca_ledger")
	if err != nil {
		t.Fatal(err)
	}
	outcome := func(i int) string {
		e, err := ledger.Get(ctx, events.KeyOf("/midcall", fmt.Sprintf("m-%02d", i)))
		if err != nil {
			return ""
		}
		var rec struct{ Outcome string }
		_ = json.Unmarshal(e.Value(), &rec)
		return rec.Outcome
	}
	testworld.WaitFor(t, "an outcome for every trigger within two AckWaits of the restart", 2*ackWait, func() bool {
		for i := range n {
			if outcome(i) == "" {
				return false
			}
		}
		return true
	})
	t.Logf("every trigger decided %s after the restart", time.Since(restarted).Round(time.Millisecond))

	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit after SIGTERM = %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("no exit within 30s of SIGTERM")
	}

	links := readLinks(t, ctx, js)
	for i := range n {
		id := fmt.Sprintf("m-%02d", i)
		if got := outcome(i); got != events.OutcomeLink {
			t.Errorf("%s: outcome %q, want link", id, got)
		}
		if links[id] != 1 {
			t.Errorf("%s: %d send-link events, want 1", id, links[id])
		}
	}
	if dlq, err := js.Stream(ctx, "SCA_DLQ"); err == nil {
		if info, err := dlq.Info(ctx); err != nil || info.State.Msgs != 0 {
			t.Errorf("dead letters = %v (%v), want 0", info.State.Msgs, err)
		}
	}
	// The damaged records were read back, not skipped: each abandoned key
	// answered 409 and was looked up.
	conflicts, reads := 0, 0
	for _, c := range sim.Calls() {
		switch {
		case c.Method == http.MethodPost && c.Status == http.StatusConflict:
			conflicts++
		case c.Method == http.MethodGet && strings.Contains(c.Path, "/responses/"):
			reads++
		}
	}
	if conflicts < concurrency || reads < concurrency {
		t.Errorf("409s = %d, reads of stored answers = %d; want at least %d each", conflicts, reads, concurrency)
	}
	if strings.Contains(stderr.String(), `"level":"error"`) {
		t.Errorf("error logged after the restart:\n%s", stderr.String())
	}
}
