package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

// builds are the binaries built by this test process, by build tags.
var builds struct {
	sync.Mutex
	dir  string
	bins map[string]*build
}

type build struct {
	sync.Once
	bin string
	err error
	out []byte
}

// binary builds cmd/scaworker as released, once per test process.
func binary(t testing.TB) string {
	t.Helper()
	return buildWith(t, "")
}

// crashBinary builds cmd/scaworker with the crashpoints tag, which
// compiles in the SCAWORKER_CRASH_AT fault injection, once per test process.
func crashBinary(t testing.TB) string {
	t.Helper()
	return buildWith(t, "crashpoints")
}

func buildWith(t testing.TB, tags string) string {
	t.Helper()
	builds.Lock()
	if builds.bins == nil {
		builds.bins = map[string]*build{}
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "scaworker-bin-")
		if err != nil {
			builds.Unlock()
			t.Fatalf("build dir: %v", err)
		}
		builds.dir = dir
	}
	b := builds.bins[tags]
	if b == nil {
		b = &build{bin: filepath.Join(builds.dir, "scaworker-"+tags)}
		builds.bins[tags] = b
	}
	builds.Unlock()
	b.Do(func() {
		b.out, b.err = exec.Command("go", "build", "-tags", tags, "-o", b.bin, ".").CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("go build -tags %q: %v\n%s", tags, b.err, b.out)
	}
	return b.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	os.Exit(code)
}

// TestCrashesLoseNothingAndDoubleNothing runs the real binary against a
// backlog and kills it with SIGKILL again and again — inside handlers
// (after Mangopay answered and before anything was recorded, after the
// outcome was recorded and before it was published, after it was
// published and before the ack) and from outside at random moments —
// restarting it each time, once after JetStream's duplicate windows have
// passed. Then every trigger must have exactly one outcome: none lost,
// no link sent twice.
func TestCrashesLoseNothingAndDoubleNothing(t *testing.T) {
	t.Parallel()
	bin := crashBinary(t)

	// NATS outlives the worker: it runs here, in the test process.
	srv, js := testworld.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// One-second duplicate windows, so that a restart can come after them.
	for _, sc := range []jetstream.StreamConfig{
		{Name: "SCA_EVENTS", Subjects: []string{"sca.events.>"}, Duplicates: time.Second, MaxAge: 24 * time.Hour},
		{Name: "SCA_LINKS", Subjects: []string{"sca.links.>"}, Duplicates: time.Second, MaxAge: time.Hour, AllowMsgTTL: true},
	} {
		if _, err := js.CreateStream(ctx, sc); err != nil {
			t.Fatalf("create %s: %v", sc.Name, err)
		}
	}

	sim := startSim(t)
	const n = 240
	wantLink := map[string]bool{}
	for i := range n {
		userID := fmt.Sprintf("user_m_crash_%03d", i)
		id := fmt.Sprintf("c-%03d", i)
		data := map[string]any{"user_id": userID}
		switch {
		case i%10 == 3:
			data["category"] = "PAYER"
		case i%8 == 0: // no category: GET user + POST
		default:
			data["category"] = "OWNER"
		}
		wantLink[id] = i%10 != 3
		sim.AddUser(mangosim.User{ID: userID, Category: mangosim.CategoryOwner, PersonType: mangosim.PersonNatural,
			Status: mangosim.StatusActive, Email: userID + "@example.com"})
		body, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": id, "source": "/crash", "type": events.TypeUserCreated, "data": data})
		if _, err := js.Publish(ctx, "sca.events.user.created", body, jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}

	env := []string{
		"HOME=" + t.TempDir(),
		"NATS_URL=" + srv.ClientURL(),
		"MANGOPAY_BASE_URL=" + sim.URL,
		"MANGOPAY_CLIENT_ID=" + sim.ClientID(),
		"MANGOPAY_API_KEY=" + sim.APIKey(),
		"SCA_RETURN_URL=https://platform.example/sca/done",
		"SCA_HTTP_ADDR=127.0.0.1:0",
		"SCA_CONCURRENCY=4",
		"SCA_ACK_WAIT=2s",
		"SCA_ATTEMPT_TIMEOUT=1500ms",
		"SCA_MANGOPAY_TIMEOUT=1s",
		"SCA_RETRY_DELAY_MIN=20ms",
		"SCA_RETRY_DELAY_MAX=100ms",
		"SCA_SHUTDOWN_TIMEOUT=5s",
	}
	pending := func() (uint64, int) {
		c, err := js.Consumer(ctx, "SCA_EVENTS", "scaworker")
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return n, 0
		}
		if err != nil {
			t.Fatalf("consumer: %v", err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatalf("consumer info: %v", err)
		}
		return info.NumPending, info.NumAckPending
	}

	// Each run: a crash point the process kills itself at, or "" for a
	// SIGKILL from here once it has made progress.
	runs := []string{
		"decided:3", "recorded:2", "published:4", "",
		"published:1", "decided:1", "recorded:5", "",
		"published:2", "", "recorded:1", "decided:6", "",
	}
	kills, inHandler := 0, 0
	for i, crash := range runs {
		cmd := exec.Command(bin, "run")
		cmd.Env = append(env[:len(env):len(env)], crashEnv+"="+crash)
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited }) // a failed test leaves no worker running
		startPending, _ := pending()
		deadline := time.Now().Add(60 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond)
		for done := false; !done; {
			select {
			case <-exited:
				done = true
			case <-tick.C:
				p, inHand := pending()
				drained := p == 0 && inHand == 0
				if drained || (crash == "" && startPending-p >= 15) || time.Now().After(deadline) {
					_ = cmd.Process.Kill()
					<-exited
					done = true
				}
			}
		}
		tick.Stop()
		if strings.Contains(stderr.String(), "crash point reached") {
			inHandler++
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			kills++
		} else {
			t.Errorf("run %d (%q) ended with %v, want SIGKILL; stderr:\n%s", i, crash, cmd.ProcessState, stderr.String())
		}
		if i == 4 {
			// Come back only after JetStream's duplicate windows (1s) have passed.
			killedAt := time.Now()
			testworld.WaitFor(t, "the duplicate windows to pass", 5*time.Second, func() bool { return time.Since(killedAt) > 1500*time.Millisecond })
		}
	}
	if kills < 10 {
		t.Errorf("SIGKILLs = %d, want at least 10", kills)
	}
	if inHandler < 8 {
		t.Errorf("kills inside a handler = %d, want one per crash point run (at least 8)", inHandler)
	}

	// A last run drains the backlog and stops with SIGTERM.
	cmd := exec.Command(bin, "run")
	cmd.Env = env
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	testworld.WaitFor(t, "the backlog to drain", 90*time.Second, func() bool {
		p, inHand := pending()
		return p == 0 && inHand == 0
	})
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

	// Exactly one outcome per trigger, none pending, one link per linked trigger.
	ledger, err := js.KeyValue(ctx, "sca_ledger")
	if err != nil {
		t.Fatal(err)
	}
	links := readLinks(t, ctx, js)
	for id, link := range wantLink {
		e, err := ledger.Get(ctx, events.KeyOf("/crash", id))
		if err != nil {
			t.Errorf("%s: no ledger entry: %v", id, err)
			continue
		}
		var rec struct {
			Outcome, Reason string
			Pending         json.RawMessage
		}
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			t.Fatal(err)
		}
		want := "skip"
		if link {
			want = "link"
		}
		if rec.Outcome != want || len(rec.Pending) > 0 {
			t.Errorf("%s: ledger outcome %q (pending %s), want %q and nothing pending", id, rec.Outcome, rec.Pending, want)
		}
		if got, w := links[id], map[bool]int{true: 1, false: 0}[link]; got != w {
			t.Errorf("%s: %d send-link events, want %d", id, got, w)
		}
	}
	dlq, err := js.Stream(ctx, "SCA_DLQ")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := dlq.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Errorf("dead letters = %v (%v), want 0", info.State.Msgs, err)
	}
	t.Logf("%d SIGKILLs (%d inside a handler); %d triggers; %d links", kills, inHandler, n, len(links))
}

// readLinks counts the send-link events by trigger id.
func readLinks(t *testing.T, ctx context.Context, js jetstream.JetStream) map[string]int {
	t.Helper()
	oc, err := js.OrderedConsumer(ctx, "SCA_LINKS", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := oc.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for left := info.NumPending; left > 0; {
		batch, err := oc.Fetch(int(min(left, 500)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := uint64(0)
		for msg := range batch.Messages() {
			got++
			l, err := events.DecodeLinkSend(msg.Data())
			if err != nil {
				t.Fatalf("decode link: %v", err)
			}
			counts[l.Trigger.ID]++
		}
		if got == 0 {
			t.Fatalf("links stream stopped with %d left", left)
		}
		left -= min(got, left)
	}
	return counts
}

// TestReleaseBinaryIgnoresCrashAt: the binary built as released has no
// fault injection: with SCAWORKER_CRASH_AT naming every crash point, it
// passes them all, publishes the link and stops cleanly on SIGTERM.
func TestReleaseBinaryIgnoresCrashAt(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	srv, js := testworld.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SCA_EVENTS", Subjects: []string{"sca.events.>"}, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	sim := startSim(t)
	body := testworld.CloudEvent(events.TypeUserCreated, "/release", "rel-1",
		map[string]any{"user_id": mangosim.UserOwnerNatural, "category": "OWNER"})
	if _, err := js.Publish(ctx, "sca.events.user.created", body); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run")
	cmd.Env = []string{"HOME=" + t.TempDir(), crashEnv + "=decided:1,recorded:1,published:1"}
	for k, v := range workerEnv(t, sim) {
		if k != "SCA_NATS_LISTEN" && k != "SCA_DATA_DIR" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Env = append(cmd.Env, "NATS_URL="+srv.ClientURL())
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	testworld.WaitFor(t, "the link to be published", 30*time.Second, func() bool {
		select {
		case <-exited:
			t.Fatalf("the release binary exited: %v; stderr:\n%s", cmd.ProcessState, stderr.String())
		default:
		}
		st, err := js.Stream(ctx, "SCA_LINKS")
		if err != nil {
			return false
		}
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == 1
	})
	if strings.Contains(stderr.String(), "crash point") {
		t.Errorf("the release binary reached a crash point; stderr:\n%s", stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit after SIGTERM = %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s of SIGTERM")
	}
}
