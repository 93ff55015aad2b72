package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

// replica is a `scaworker run` process.
type replica struct {
	name   string
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{}
}

// startReplica starts the binary with env; the test's cleanup kills it if it still runs.
func startReplica(t *testing.T, bin, name string, env []string) *replica {
	t.Helper()
	r := &replica{name: name, cmd: exec.Command(bin, "run"), stderr: &syncBuffer{}, exited: make(chan struct{})}
	r.cmd.Env = append(env[:len(env):len(env)], "HOME="+t.TempDir())
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(r.kill)
	return r
}

// waitReady waits for the replica's "ready" log line (the layout exists then).
func waitReady(t *testing.T, r *replica) {
	t.Helper()
	testworld.WaitFor(t, r.name+" to be ready", 30*time.Second, func() bool {
		select {
		case <-r.exited:
			t.Fatalf("%s exited before it was ready; stderr:\n%s", r.name, r.stderr.String())
		default:
		}
		return strings.Contains(r.stderr.String(), `"msg":"ready"`)
	})
}

// kill ends the process with SIGKILL and waits for it.
func (r *replica) kill() {
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
}

// workerProcessEnv is the environment of worker processes on natsURL against sim, fast
// enough for tests, drawing from a budget of rate.
func workerProcessEnv(natsURL string, sim *mangosim.Server, rate string) []string {
	return []string{
		"NATS_URL=" + natsURL,
		"MANGOPAY_BASE_URL=" + sim.URL,
		"MANGOPAY_CLIENT_ID=" + sim.ClientID(),
		"MANGOPAY_API_KEY=" + sim.APIKey(),
		"SCA_RETURN_URL=https://platform.example/sca/done",
		"SCA_HTTP_ADDR=127.0.0.1:0",
		"SCA_MANGOPAY_RATE=" + rate,
		"SCA_CONCURRENCY=4",
		"SCA_ACK_WAIT=3s",
		"SCA_ATTEMPT_TIMEOUT=2s",
		"SCA_MANGOPAY_TIMEOUT=500ms",
		"SCA_RETRY_DELAY_MIN=50ms",
		"SCA_RETRY_DELAY_MAX=200ms",
		"SCA_SHUTDOWN_TIMEOUT=5s",
	}
}

// publishOwners adds n owners to sim and publishes a user.created for each; it returns
// the trigger ids.
func publishOwners(t *testing.T, ctx context.Context, js jetstream.JetStream, sim *mangosim.Server, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		userID := fmt.Sprintf("user_m_%s_%03d", prefix, i)
		ids[i] = fmt.Sprintf("%s-%03d", prefix, i)
		sim.AddUser(mangosim.User{ID: userID, Category: mangosim.CategoryOwner, PersonType: mangosim.PersonNatural,
			Status: mangosim.StatusActive, Email: userID + "@example.com"})
		body := testworld.CloudEvent(events.TypeUserCreated, "/"+prefix, ids[i], map[string]any{"user_id": userID, "category": "OWNER"})
		if _, err := js.Publish(ctx, "sca.events.user.created", body, jetstream.WithMsgID(ids[i])); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// budgetFigures reads the simulator's record: the calls, the most of them in any window of
// per, and the 429s.
func budgetFigures(sim *mangosim.Server, per time.Duration) (calls, most, tooMany int) {
	var at []time.Time
	for _, c := range sim.Calls() {
		at = append(at, c.At)
		if c.Status == 429 {
			tooMany++
		}
	}
	return len(at), testworld.MaxInWindow(at, per), tooMany
}

// TestReplicasShareOneBudget: three worker processes on one NATS drain a backlog of 40
// owners with a deployment budget of 12 calls per 2 s. Together they stay within it in
// every sliding window the simulator sees, get no 429, and every owner gets one link.
func TestReplicasShareOneBudget(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	srv, js := testworld.Server(t)
	const n, budgetN, per = 40, 12, 2 * time.Second
	// Mangopay's own limit is the budget: one call too many would be a 429.
	sim := mangosim.Start(mangosim.Options{APIKey: testAPIKey, Windows: []mangosim.Limit{{N: budgetN, Per: per}}})
	t.Cleanup(sim.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	env := workerProcessEnv(srv.ClientURL(), sim, fmt.Sprintf("%d/%s", budgetN, per))
	start := time.Now()
	for i := range 3 {
		r := startReplica(t, bin, fmt.Sprintf("w%d", i), env)
		waitReady(t, r)
	}
	ids := publishOwners(t, ctx, js, sim, "budget", n)
	testworld.WaitFor(t, "every owner's link", 90*time.Second, func() bool {
		st, err := js.Stream(ctx, "SCA_LINKS")
		return err == nil && st.CachedInfo() != nil && linksStored(ctx, st) == n
	})
	took := time.Since(start)

	links := readLinks(t, ctx, js)
	for _, id := range ids {
		if links[id] != 1 {
			t.Errorf("%s: %d links, want 1", id, links[id])
		}
	}
	calls, most, tooMany := budgetFigures(sim, per)
	if most > budgetN {
		t.Errorf("most calls in one window of %s = %d, want at most the budget %d", per, most, budgetN)
	}
	if tooMany > 0 {
		t.Errorf("429s = %d, want none", tooMany)
	}
	t.Logf("3 replicas, budget %d/%s, %d triggers: %d calls in %s, most in any %s window %d, %d links, %d 429s",
		budgetN, per, n, calls, took.Round(100*time.Millisecond), per, most, len(links), tooMany)
}

// linksStored is the number of messages in the links stream.
func linksStored(ctx context.Context, st jetstream.Stream) int {
	info, err := st.Info(ctx)
	if err != nil {
		return -1
	}
	return int(info.State.Msgs)
}

// TestA429PausesEveryReplica: a 429 with spent windows seen by one replica stops both
// until the reset: the other one pauses too, and Mangopay sees no second call before the
// reset; afterwards every trigger gets its link.
func TestA429PausesEveryReplica(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	srv, js := testworld.Server(t)
	sim := startSim(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := workerProcessEnv(srv.ClientURL(), sim, "1500/15m")
	var metrics []string
	for i := range 2 {
		r := startReplica(t, bin, fmt.Sprintf("r%d", i), env)
		waitReady(t, r)
		for _, l := range logLines(r.stderr.String()) {
			if l["msg"] == "http listening" {
				metrics = append(metrics, fmt.Sprintf("http://%s/metrics", l["addr"]))
			}
		}
	}
	if len(metrics) != 2 {
		t.Fatalf("metrics endpoints = %v, want one per replica", metrics)
	}

	until := time.Now().Add(6 * time.Second)
	sim.SetFaults(mangosim.Faults{RateLimitedUntil: until})
	ids := publishOwners(t, ctx, js, sim, "first", 1)
	var first time.Time
	testworld.WaitFor(t, "the first 429", 10*time.Second, func() bool {
		for _, c := range sim.Calls() {
			if c.Status == 429 {
				first = c.At
				return true
			}
		}
		return false
	})
	for _, url := range metrics {
		testworld.WaitFor(t, url+" to report the pause", 5*time.Second, func() bool {
			_, body := get(t, url)
			return strings.Contains(body, `scaworker_paused{cause="rate_limit"} 1`)
		})
	}
	ids = append(ids, publishOwners(t, ctx, js, sim, "during", 6)...)
	testworld.WaitFor(t, "every link after the reset", 30*time.Second, func() bool {
		st, err := js.Stream(ctx, "SCA_LINKS")
		return err == nil && linksStored(ctx, st) == len(ids)
	})
	links := readLinks(t, ctx, js)
	for _, id := range ids {
		if links[id] != 1 {
			t.Errorf("%s: %d links, want 1", id, links[id])
		}
	}
	tooMany, during := 0, 0
	for _, c := range sim.Calls() {
		if c.Status == 429 {
			tooMany++
		}
		if c.At.After(first) && c.At.Before(until) {
			during++
		}
	}
	if tooMany != 1 || during != 0 {
		t.Errorf("429s = %d and calls during the block after the first = %d, want 1 and 0: the other replica must wait too", tooMany, during)
	}
}
