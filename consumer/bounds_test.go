package consumer_test

import (
	"strings"
	"testing"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

// TestBoundedEventFields: an over-long id or source, an e-mail that is not
// a bare address and a locale that is not a BCP 47 tag are dead-lettered at
// once as invalid_event, without a call. A 60 KiB id still gets a ledger
// entry under its identity (so a second copy is a duplicate) and a
// dead-letter record, while the logs and the record carry only its start.
func TestBoundedEventFields(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{})
	subject := events.DefaultSubjects().UserCreated
	user := map[string]any{"user_id": mangosim.UserOwnerNatural, "category": "OWNER"}
	with := func(k string, v any) map[string]any {
		d := map[string]any{k: v}
		for k, v := range user {
			d[k] = v
		}
		return d
	}
	longID := strings.Repeat("i", 60<<10)
	bad := []struct {
		name, reason string
		body         []byte
	}{
		{"60 KiB id", "attribute id is too long: 61440 bytes", testworld.CloudEvent(events.TypeUserCreated, "/users", longID, user)},
		{"300-byte source", "attribute source is too long: 300 bytes", testworld.CloudEvent(events.TypeUserCreated, strings.Repeat("s", 300), "b2", user)},
		{"60 KiB e-mail", "data.email is", testworld.CloudEvent(events.TypeUserCreated, "/users", "b3", with("email", strings.Repeat("a", 60<<10)+"@example.com"))},
		{"e-mail with a display name", "data.email is not a valid e-mail address", testworld.CloudEvent(events.TypeUserCreated, "/users", "b4", with("email", "Ada <ada@example.com>"))},
		{"locale that is not BCP 47", "data.locale", testworld.CloudEvent(events.TypeUserCreated, "/users", "b5", with("locale", "french please"))},
	}
	var seqs []uint64
	for _, b := range bad {
		seqs = append(seqs, w.Publish(subject, b.body, ""))
	}
	outs := make([]consumer.Outcome, len(bad))
	for i, seq := range seqs {
		outs[i] = w.OutcomeAt(seq)
		if got := outs[i]; got.Outcome != events.OutcomeDLQ || got.Reason != events.ReasonInvalidEvent || !strings.Contains(got.Error, bad[i].reason) {
			t.Errorf("%s: outcome = %s/%s (%q), want dlq/invalid_event mentioning %q", bad[i].name, got.Outcome, got.Reason, got.Error, bad[i].reason)
		}
	}
	if got, want := outs[0].Key, events.KeyOf("/users", longID); got != want {
		t.Errorf("60 KiB id: ledger key = %s, want the key of its identity %s", got, want)
	}
	if got := outs[0].EventID; got != longID[:64]+"…" {
		t.Errorf("60 KiB id: event id = %.80q, want its first 64 bytes and an ellipsis", got)
	}
	var entry consumer.LedgerEntry
	if !w.LedgerEntry("/users", longID, &entry) || entry.Outcome != events.OutcomeDLQ || len(entry.EventID) > 80 {
		t.Errorf("60 KiB id: ledger entry outcome %q, event id %.80q (%d bytes), want a dlq outcome with a short event id", entry.Outcome, entry.EventID, len(entry.EventID))
	}
	// A second copy of the same event is recognised by its identity.
	again := w.Publish(subject, bad[0].body, "")
	got := w.WaitOutcome("outcome of the second copy", func(o consumer.Outcome) bool { return o.StreamSeq == again })
	if got.Outcome != events.OutcomeDuplicate {
		t.Errorf("60 KiB id published again: outcome = %s/%s, want duplicate", got.Outcome, got.Reason)
	}
	w.Settled()
	dead := w.DeadLetters()
	if len(dead) != len(bad) {
		t.Fatalf("dead letters = %d, want %d", len(dead), len(bad))
	}
	for _, d := range dead {
		if d.StreamSequence == seqs[0] {
			if d.EventID != longID[:64]+"…" || string(d.Original.Body) != string(bad[0].body) {
				t.Errorf("60 KiB id: record event_id %q (%d bytes), body kept: %v; want the cut id and the body untouched",
					d.EventID[:min(len(d.EventID), 80)], len(d.EventID), string(d.Original.Body) == string(bad[0].body))
			}
		}
	}
	for _, e := range w.Logs.All() {
		for k, v := range e.ContextMap() {
			if s, ok := v.(string); ok && len(s) > 1<<10 {
				t.Errorf("log line %q: field %s is %d bytes, want the over-long id cut", e.Message, k, len(s))
			}
		}
	}
	if n := w.Sim.Count("POST", "/enrollment"); n != 0 {
		t.Errorf("enrollment POSTs = %d, want 0", n)
	}
}
