package budget

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/internal/testworld"
)

func bucket(t *testing.T, js jetstream.JetStream) jetstream.KeyValue {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := Bucket(ctx, js, "sca_budget", 1)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func open(t *testing.T, kv jetstream.KeyValue, cfg Config) *Budget {
	t.Helper()
	b, err := Open(kv, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// TestProcessesShareOneBudget: three processes with several callers each draw 30 tokens
// from a budget of 6 per 500ms; in no span of 500ms were more than 6 handed out, all of
// them, and every process got some.
func TestProcessesShareOneBudget(t *testing.T) {
	t.Parallel()
	kv := bucket(t, testworld.JetStream(t))
	rate := enroll.Rate{N: 6, Per: 500 * time.Millisecond}
	var (
		mu    sync.Mutex
		taken []time.Time
		by    = map[int]int{}
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	left := make(chan struct{}, 30)
	for range 30 {
		left <- struct{}{}
	}
	close(left)
	for p := range 3 {
		b := open(t, kv, Config{Rate: rate, RequestTimeout: 50 * time.Millisecond, Lease: 100 * time.Millisecond, Name: "p" + string(rune('0'+p))})
		for range 3 {
			wg.Go(func() {
				for range left {
					if err := b.Take(ctx); err != nil {
						t.Errorf("Take: %v", err)
						return
					}
					mu.Lock()
					taken, by[p] = append(taken, time.Now()), by[p]+1
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if len(taken) != 30 {
		t.Fatalf("tokens = %d, want 30", len(taken))
	}
	if got := testworld.MaxInWindow(taken, rate.Per); got > rate.N {
		t.Errorf("most tokens in one window of %s = %d, want at most %d", rate.Per, got, rate.N)
	}
	if len(by) != 3 {
		t.Errorf("tokens by process = %v, want every process served", by)
	}
	t.Logf("tokens by process %v; most in one window %d of %d", by, testworld.MaxInWindow(taken, rate.Per), rate.N)
}

// TestUnusedTokensComeBack: a grant of four tokens of which one is used gives the other
// three back when its lease ends, long before the grant would have expired.
func TestUnusedTokensComeBack(t *testing.T) {
	t.Parallel()
	kv := bucket(t, testworld.JetStream(t))
	rate := enroll.Rate{N: 4, Per: time.Minute}
	cfg := Config{Rate: rate, RequestTimeout: time.Second, Lease: 200 * time.Millisecond, MaxLease: 4}
	cfg.Name = "a"
	a := open(t, kv, cfg)
	cfg.Name = "b"
	b := open(t, kv, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.mu.Lock()
	a.waiters = 3 // three more callers wait: the grant takes four tokens
	a.mu.Unlock()
	if err := a.Take(ctx); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.waiters = 0
	got := a.cur.N
	a.mu.Unlock()
	if got != 4 {
		t.Fatalf("grant of %d tokens, want 4", got)
	}
	// b can only have its three once a's lease has ended and the rest was handed back.
	for range 3 {
		if err := b.Take(ctx); err != nil {
			t.Fatalf("b.Take: %v (the unused tokens never came back)", err)
		}
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	if err := b.Take(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a fourth token = %v, want none: a's used token counts for a minute", err)
	}
}

// TestDeadProcessHoldsOneGrantOnly: a process that dies without handing anything back
// holds its last grant until it expires, and nothing else.
func TestDeadProcessHoldsOneGrantOnly(t *testing.T) {
	t.Parallel()
	kv := bucket(t, testworld.JetStream(t))
	rate := enroll.Rate{N: 3, Per: 300 * time.Millisecond}
	cfg := Config{Rate: rate, RequestTimeout: 100 * time.Millisecond, Lease: 100 * time.Millisecond, Name: "dead"}
	dead, err := Open(kv, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := dead.Take(ctx); err != nil {
		t.Fatal(err)
	}
	dead.cancel() // killed: its loop stops, nothing is handed back
	<-dead.done
	diedAt := time.Now()

	cfg.Name = "alive"
	alive := open(t, kv, cfg)
	for range 2 {
		if err := alive.Take(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := alive.Take(ctx); err != nil {
		t.Fatal(err)
	}
	// The third token needed the dead grant to expire: lease + request timeout + window.
	if waited := time.Since(diedAt); waited < 500*time.Millisecond-50*time.Millisecond {
		t.Errorf("third token after %s, want it only once the dead grant expired (500ms)", waited)
	}
}

// TestCutOffProcessStopsCalling: with NATS gone a process hands out no token beyond its
// lease; it comes back when NATS does.
func TestCutOffProcessStopsCalling(t *testing.T) {
	t.Parallel()
	srv, js := testworld.Server(t)
	kv := bucket(t, js)
	b := open(t, kv, Config{Rate: enroll.Rate{N: 100, Per: time.Second}, RequestTimeout: 100 * time.Millisecond, Lease: 50 * time.Millisecond, MaxLease: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Take(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancelShort()
	if err := b.Take(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Take without NATS = %v, want to wait until the context ends", err)
	}
}

// TestBlocksReachEveryProcess: a block published by one process is obeyed by the others.
func TestBlocksReachEveryProcess(t *testing.T) {
	t.Parallel()
	kv := bucket(t, testworld.JetStream(t))
	cfg := Config{Rate: enroll.Rate{N: 10, Per: time.Second}, RequestTimeout: time.Second}
	cfg.Name = "a"
	a := open(t, kv, cfg)
	cfg.Name = "b"
	b := open(t, kv, cfg)
	until := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	a.Block(until)
	testworld.WaitFor(t, "b to see a's block", 10*time.Second, func() bool { return !b.BlockedUntil().Before(until) })

	// An earlier block does not shorten it.
	b.Block(time.Now().Add(time.Minute))
	gov := enroll.NewGovernor(enroll.Rate{N: 10, Per: time.Second}, nil)
	gov.Share(b)
	if got := gov.BlockedUntil(); !got.Equal(until) {
		t.Errorf("governor blocked until %v, want the shared block %v", got, until)
	}
	c := open(t, kv, Config{Rate: cfg.Rate, RequestTimeout: time.Second, Name: "c"})
	testworld.WaitFor(t, "a newcomer to read the block", 10*time.Second, func() bool { return c.BlockedUntil().Equal(until) })
}

// TestSettledGrantsAreMerged: many small grants do not grow the stored value without
// bound: settled ones are merged, and they still count against the budget.
func TestSettledGrantsAreMerged(t *testing.T) {
	t.Parallel()
	kv := bucket(t, testworld.JetStream(t))
	var now atomic.Int64 // the clock, moved by hand
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	rate := enroll.Rate{N: 1000, Per: time.Hour}
	b := open(t, kv, Config{Rate: rate, RequestTimeout: time.Second, Lease: time.Second, MaxLease: 1, Now: clock})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// 300 grants of one token, one every 3 seconds of the (frozen, hand-moved) clock.
	for range 300 {
		if err := b.Take(ctx); err != nil {
			t.Fatal(err)
		}
		now.Add(int64(3 * time.Second))
	}
	st, _, err := b.read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, g := range st.Grants {
		total += g.N
	}
	if total != 300 || len(st.Grants) > 110 {
		t.Errorf("stored %d entries holding %d tokens, want at most about 100 entries holding all 300", len(st.Grants), total)
	}
}

// TestBusyProcessGrantsFollowItsPace: a process calling as fast as it can under a budget
// far above its pace sizes its grants to that pace, so it writes the bucket a few times per
// lease rather than once per MaxLease-of-Mangopay-rates (16) calls; and at Mangopay's rates
// a grant still holds at most 16 tokens.
func TestBusyProcessGrantsFollowItsPace(t *testing.T) {
	t.Parallel()
	if got := defaultMaxLease(enroll.Rate{N: 2300, Per: 15 * time.Minute}, DefaultLease); got != 16 {
		t.Errorf("MaxLease at Mangopay's rate = %d, want 16", got)
	}
	if got := defaultMaxLease(enroll.Rate{N: 12, Per: 3 * time.Second}, DefaultLease); got != 3 {
		t.Errorf("MaxLease at 12 per 3s = %d, want 3 (a quarter of the budget)", got)
	}
	kv := bucket(t, testworld.JetStream(t))
	rate := enroll.Rate{N: 1_000_000, Per: time.Second}
	b := open(t, kv, Config{Rate: rate, RequestTimeout: time.Second, Lease: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const tokens = 20_000
	var grants atomic.Int64
	var wg sync.WaitGroup
	var left atomic.Int64
	left.Store(tokens)
	for range 4 {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				b.mu.Lock()
				seq := b.seq
				b.mu.Unlock()
				if err := b.Take(ctx); err != nil {
					t.Errorf("Take: %v", err)
					return
				}
				b.mu.Lock()
				if b.seq != seq {
					grants.Add(1)
				}
				b.mu.Unlock()
			}
		})
	}
	wg.Wait()
	// One grant per 16 tokens would be 1,250; doubling from one token reaches 20,000 in
	// about 15 grants, and a lease ending with tokens left restarts from its pace.
	if g := grants.Load(); g > 100 {
		t.Errorf("%d grants for %d tokens, want the grants to grow with the pace (at most 100)", g, tokens)
	}
	t.Logf("%d grants for %d tokens", grants.Load(), tokens)
}
