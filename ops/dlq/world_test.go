package dlq_test

import (
	"fmt"
	"testing"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/ops/dlq"
)

// world is one test's deployment (testworld) with the dead-letter tools.
type world struct{ *testworld.World }

func newWorld(t testing.TB, o testworld.Options) *world {
	t.Helper()
	return &world{testworld.New(t, o)}
}

// dlq returns the dead-letter tools with the world's logger.
func (w *world) dlq() *dlq.Tools {
	return dlq.New(w.JS, dlq.Config{Layout: w.Config, Log: w.Log, Operator: "alice"})
}

// records lists every dead letter.
func (w *world) records() []dlq.Record {
	w.T.Helper()
	recs, err := w.dlq().List(w.Context(), dlq.Filter{}, 0)
	if err != nil {
		w.T.Fatalf("List: %v", err)
	}
	return recs
}

// waitRecords waits until the DLQ holds n records and returns them.
func (w *world) waitRecords(n int) []dlq.Record {
	w.T.Helper()
	var recs []dlq.Record
	testworld.WaitFor(w.T, fmt.Sprintf("%d dead letters", n), testworld.Timeout, func() bool {
		recs = w.records()
		return len(recs) >= n
	})
	if len(recs) != n {
		w.T.Fatalf("dead letters = %d, want %d", len(recs), n)
	}
	return recs
}

// category is the data of a user.created trigger that names the category.
func category(c string) map[string]any { return map[string]any{"category": c} }

// ledger reads the ledger entry of (source, id); nil when absent.
func (w *world) ledger(source, id string) *consumer.LedgerEntry {
	w.T.Helper()
	var le consumer.LedgerEntry
	if !w.LedgerEntry(source, id, &le) {
		return nil
	}
	return &le
}
