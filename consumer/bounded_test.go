package consumer_test

import (
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

// publishBacklog queues n triggers asynchronously: every tenth for an
// owner the simulator knows (a link), the rest for payers (a skip).
func publishBacklog(tb testing.TB, js jetstream.JetStream, sim *mangosim.Server, n int) {
	tb.Helper()
	subj := events.DefaultSubjects().UserCreated
	for i := range n {
		userID := "user_m_bulk_" + strconv.Itoa(i)
		category := "PAYER"
		if i%10 == 0 {
			category = "OWNER"
			sim.AddUser(mangosim.User{ID: userID, Category: mangosim.CategoryOwner, PersonType: mangosim.PersonNatural,
				Status: mangosim.StatusActive, Email: userID + "@example.com"})
		}
		id := fmt.Sprintf("bulk-%d", i)
		body := testworld.CloudEvent(events.TypeUserCreated, "/users", id, map[string]any{"user_id": userID, "category": category})
		if _, err := js.PublishAsync(subj, body, jetstream.WithMsgID(id)); err != nil {
			tb.Fatalf("publish %d: %v", i, err)
		}
		if i%1000 == 999 || i == n-1 { // stay under the client's limit of outstanding publishes
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(60 * time.Second):
				tb.Fatalf("backlog not stored within 60s")
			}
		}
	}
}

// TestBacklogStaysBounded queues 10,000 triggers and checks, all along,
// that the messages held, the goroutines and the handlers in flight stay
// within their bounds, and that every trigger gets its outcome.
//
// It does not run in parallel: it counts the process's goroutines, which
// other tests would add to.
func TestBacklogStaysBounded(t *testing.T) {
	const n, concurrency = 10_000, 4
	w := testworld.New(t, testworld.Options{NoStart: true, Consumer: func(c *consumer.Config) { c.Concurrency = concurrency }})
	w.Sim.SetFaults(mangosim.Faults{Latency: 2 * time.Millisecond})
	publishBacklog(t, w.JS, w.Sim, n)
	baseline := runtime.NumGoroutine()
	w.Start()

	var maxAckPending, maxGoroutines int
	testworld.WaitFor(t, "the backlog to drain", 5*time.Minute, func() bool {
		info := w.ConsumerInfo()
		maxAckPending = max(maxAckPending, info.NumAckPending)
		maxGoroutines = max(maxGoroutines, runtime.NumGoroutine())
		if info.NumAckPending > concurrency {
			t.Fatalf("messages held = %d, want at most %d", info.NumAckPending, concurrency)
		}
		// The outcome is reported just after the ack: wait for both.
		return info.NumPending == 0 && info.NumAckPending == 0 && len(w.Outcomes()) >= n
	})
	// A handler acknowledges before it reports its outcome: the last
	// reports may trail the empty queue by a moment.
	testworld.WaitFor(t, "every outcome reported", 30*time.Second, func() bool { return len(w.Outcomes()) >= n })
	// Each handler owns itself and a heartbeat; the rest (the embedded
	// server's timers and fetch requests among them) varies a little, but
	// nothing grows with the 10,000 messages waiting.
	if limit := baseline + 3*concurrency + 50; maxGoroutines > limit {
		t.Errorf("goroutines peaked at %d, want at most %d (baseline %d)", maxGoroutines, limit, baseline)
	}
	counts := map[string]int{}
	for _, o := range w.Outcomes() {
		counts[o.Outcome+"/"+o.Reason]++
	}
	if counts["link/"] != n/10 || counts["skip/not_owner"] != n-n/10 {
		t.Errorf("outcomes = %v, want %d links and %d not_owner skips", counts, n/10, n-n/10)
	}
	t.Logf("max messages held %d, max goroutines %d (baseline %d)", maxAckPending, maxGoroutines, baseline)
}

// BenchmarkSoak reports the heap while a backlog of b.N triggers drains;
// it is not part of CI. For the 1,000,000-event soak:
//
//	go test ./consumer -run '^$' -bench Soak -benchtime 1000000x -timeout 2h
func BenchmarkSoak(b *testing.B) {
	// Mangopay's real windows (2,300 calls per 15 minutes) would make this a
	// benchmark of waiting: the simulator gets one window too large to spend.
	w := testworld.New(b, testworld.Options{NoStart: true, Quiet: true, Sim: func(o *mangosim.Options) {
		o.Windows = []mangosim.Limit{{N: 1 << 30, Per: time.Minute}}
	}})
	publishBacklog(b, w.JS, w.Sim, b.N)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	startHeap := ms.HeapInuse
	var maxHeap atomic.Uint64
	b.ResetTimer()
	w.Start()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > maxHeap.Load() {
			maxHeap.Store(ms.HeapInuse)
		}
		info := w.ConsumerInfo()
		if info.NumPending == 0 && info.NumAckPending == 0 {
			break
		}
		<-tick.C
	}
	b.StopTimer()
	b.ReportMetric(float64(maxHeap.Load())/(1<<20), "max-heap-MiB")
	b.ReportMetric(float64(startHeap)/(1<<20), "start-heap-MiB")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
