package consumer_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

// TestSCANotRequired: Enroll's 200 without a RedirectUrl (Sandbox skips SCA
// for e-mails containing "accept") is a skip with reason sca_not_required:
// nothing is published, the per-user link mark is released, and the user
// is remembered, so a replay and later triggers make no call.
func TestSCANotRequired(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{})
	subj := events.DefaultSubjects().UserCreated
	user := mangosim.UserOwnerAccept
	body := testworld.CloudEvent(events.TypeUserCreated, "/users", "a1", map[string]any{"user_id": user, "category": "OWNER"})
	w.Publish(subj, body, "a1")
	if got := w.OutcomeFor("a1"); got.Outcome != events.OutcomeSkip || got.Reason != events.ReasonSCANotRequired {
		t.Fatalf("outcome = %s/%s (%q), want skip/sca_not_required", got.Outcome, got.Reason, got.Error)
	}
	w.Settled()
	if links, dead := w.Links(), w.DeadLetters(); len(links) != 0 || len(dead) != 0 {
		t.Errorf("links, dead letters = %d, %d; want 0, 0", len(links), len(dead))
	}
	if c := callsOf(w, user); c != (calls{enroll: 1}) {
		t.Errorf("Mangopay calls = %+v, want one POST", c)
	}
	st := userState(t, w, user)
	if st["sca_not_required"] != true || st["links"] != nil {
		t.Errorf("user state = %v, want sca_not_required and no link mark", st)
	}

	// A replay re-evaluates the skip from the user's state: no call.
	replaySeq := w.PublishMsg(&nats.Msg{Subject: subj, Data: body, Header: nats.Header{consumer.HeaderReplay: {"test"}}}).Sequence
	if got := w.OutcomeAt(replaySeq); got.Outcome != events.OutcomeSkip || got.Reason != events.ReasonSCANotRequired {
		t.Errorf("replay outcome = %s/%s, want skip/sca_not_required", got.Outcome, got.Reason)
	}
	// So do later triggers for the user, an expiry included (no sca-status).
	w.UserCreated("a2", user, nil)
	w.Hook(events.TypeSessionExpired, "a3", user, time.Now())
	w.UserCreated("a4", user, map[string]any{"category": "OWNER"}) // no read before its claim
	for _, id := range []string{"a2", "a3", "a4"} {
		if got := w.OutcomeFor(id); got.Outcome != events.OutcomeSkip || got.Reason != events.ReasonSCANotRequired {
			t.Errorf("%s: outcome = %s/%s, want skip/sca_not_required", id, got.Outcome, got.Reason)
		}
	}
	w.Settled()
	if c := callsOf(w, user); c != (calls{enroll: 1}) {
		t.Errorf("Mangopay calls after the replay and later triggers = %+v, want still one POST", c)
	}
	var e map[string]any
	if !w.LedgerEntry("/users", "a1", &e) || e["outcome"] != events.OutcomeSkip || e["reason"] != events.ReasonSCANotRequired {
		t.Errorf("ledger of a1 = %v, want skip/sca_not_required", e)
	}
}

// userState reads the worker's per-user state as stored in its KV bucket.
func userState(t *testing.T, w *testworld.World, userID string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := w.JS.KeyValue(ctx, w.Config.Defaults().UsersBucket)
	if err != nil {
		t.Fatalf("users bucket: %v", err)
	}
	kve, err := kv.Get(ctx, userID)
	if err != nil {
		t.Fatalf("user state %s: %v", userID, err)
	}
	var st map[string]any
	if err := json.Unmarshal(kve.Value(), &st); err != nil {
		t.Fatalf("user state %s: %v", userID, err)
	}
	return st
}
