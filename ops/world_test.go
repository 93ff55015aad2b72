package ops_test

import (
	"fmt"
	"testing"

	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/ops"
)

// world is one test's deployment (testworld) with the operators' tools.
type world struct{ *testworld.World }

func newWorld(t testing.TB, o testworld.Options) *world {
	t.Helper()
	return &world{testworld.New(t, o)}
}

// dlq returns the dead-letter tools with the world's logger.
func (w *world) dlq() *ops.DLQ {
	return ops.NewDLQ(w.JS, w.Config, ops.DLQOptions{Log: w.Log, Operator: "alice"})
}

// records lists every dead letter.
func (w *world) records() []ops.Record {
	w.T.Helper()
	recs, err := w.dlq().List(w.Context(), ops.Filter{}, 0)
	if err != nil {
		w.T.Fatalf("List: %v", err)
	}
	return recs
}

// waitRecords waits until the DLQ holds n records and returns them.
func (w *world) waitRecords(n int) []ops.Record {
	w.T.Helper()
	var recs []ops.Record
	testworld.WaitFor(w.T, fmt.Sprintf("%d dead letters", n), testworld.Timeout, func() bool {
		recs = w.records()
		return len(recs) >= n
	})
	if len(recs) != n {
		w.T.Fatalf("dead letters = %d, want %d", len(recs), n)
	}
	return recs
}

// ledger reads the ledger entry of (source, id); nil when absent.
func (w *world) ledger(source, id string) *ops.LedgerEntry {
	w.T.Helper()
	var le ops.LedgerEntry
	if !w.LedgerEntry(source, id, &le) {
		return nil
	}
	return &le
}

// category is the data of a user.created trigger that names the category.
func category(c string) map[string]any { return map[string]any{"category": c} }
