package budget

import (
	"context"
	"testing"
	"time"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/internal/testworld"
)

// TestReadUsage: a reader sees the tokens of the live grants, who holds
// them, when the first comes back, and a published block; a budget never
// used reads idle.
func TestReadUsage(t *testing.T) {
	t.Parallel()
	kv := bucket(t, testworld.JetStream(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := ReadUsage(ctx, kv, time.Now())
	if err != nil || u.Used != 0 || len(u.Processes) != 0 || !u.NextFree.IsZero() {
		t.Fatalf("idle budget = %+v, %v; want nothing used", u, err)
	}
	rate := enroll.Rate{N: 20, Per: time.Hour}
	a := open(t, kv, Config{Rate: rate, RequestTimeout: time.Second, MaxLease: 4, Name: "replica-a"})
	for range 3 {
		if err := a.Take(ctx); err != nil {
			t.Fatal(err)
		}
	}
	until := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	a.Block(until)
	testworld.WaitFor(t, "the grant and the block in the bucket", 10*time.Second, func() bool {
		u, err = ReadUsage(ctx, kv, time.Now())
		return err == nil && u.Used >= 3 && u.BlockUntil.Equal(until)
	})
	if len(u.Processes) != 1 || u.Processes[0] != "replica-a" || u.BlockBy != "replica-a" {
		t.Errorf("usage = %+v, want replica-a holding the grant and the block", u)
	}
	if u.Used > 4 {
		t.Errorf("used = %d, want at most one grant of MaxLease 4", u.Used)
	}
	if !u.NextFree.After(time.Now().Add(rate.Per - time.Minute)) {
		t.Errorf("next free = %v, want about Rate.Per from now", u.NextFree)
	}
	// Past the grant's life and the block, nothing counts.
	later, err := ReadUsage(ctx, kv, until.Add(2*rate.Per))
	if err != nil || later.Used != 0 || !later.BlockUntil.IsZero() || len(later.Processes) != 0 {
		t.Errorf("usage later = %+v, %v; want nothing live", later, err)
	}
}
