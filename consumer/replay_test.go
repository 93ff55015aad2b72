package consumer_test

import (
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

// TestReplayReopensSkipsButNeverLinks: a replayed copy (Sca-Replay)
// re-evaluates a skip whose data changed, leaves a link alone, and its
// redelivery is a duplicate.
func TestReplayReopensSkipsButNeverLinks(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{})
	subj := events.DefaultSubjects().UserCreated
	payerBody := testworld.CloudEvent(events.TypeUserCreated, "/users", "p1", map[string]any{"user_id": "user_m_later_owner"})
	ownerBody := testworld.CloudEvent(events.TypeUserCreated, "/users", "o1", map[string]any{"user_id": mangosim.UserOwnerNatural, "category": "OWNER"})
	w.Sim.AddUser(mangosim.User{ID: "user_m_later_owner", Category: mangosim.CategoryPayer, PersonType: mangosim.PersonNatural, Status: mangosim.StatusActive, Email: "l@example.com"})
	w.Publish(subj, payerBody, "p1")
	w.Publish(subj, ownerBody, "o1")
	if got := w.OutcomeFor("p1"); got.Reason != events.ReasonNotOwner {
		t.Fatalf("first outcome of p1 = %s/%s, want skip/not_owner", got.Outcome, got.Reason)
	}
	w.OutcomeFor("o1")

	// The platform fixed the user's category; a replay re-evaluates the skip.
	w.Sim.AddUser(mangosim.User{ID: "user_m_later_owner", Category: mangosim.CategoryOwner, PersonType: mangosim.PersonNatural, Status: mangosim.StatusActive, Email: "l@example.com"})
	replaySeq := w.PublishMsg(&nats.Msg{Subject: subj, Data: payerBody, Header: nats.Header{consumer.HeaderReplay: {"test"}}}).Sequence
	ownerSeq := w.PublishMsg(&nats.Msg{Subject: subj, Data: ownerBody, Header: nats.Header{consumer.HeaderReplay: {"test"}}}).Sequence
	if got := w.OutcomeAt(replaySeq); got.Outcome != events.OutcomeLink {
		t.Errorf("replayed skip = %s/%s, want link", got.Outcome, got.Reason)
	}
	testworld.WaitFor(t, "the replayed link to be a duplicate", testworld.Timeout, func() bool {
		for _, o := range w.Outcomes() {
			if o.StreamSeq == ownerSeq {
				return o.Outcome == events.OutcomeDuplicate
			}
		}
		return false
	})
	w.Settled()
	if n := len(w.Links()); n != 2 {
		t.Errorf("links = %d, want 2 (one per user)", n)
	}
	var e map[string]any
	if !w.LedgerEntry("/users", "p1", &e) {
		t.Fatalf("ledger entry p1: not found")
	}
	if e["outcome"] != "link" || e["replay_seq"] != float64(replaySeq) {
		t.Errorf("ledger of p1 = %v, want the replay's link outcome", e)
	}
}

// TestRedriveTakesOverTheDeadLetter: a redriven copy (new id,
// Sca-Redrive-Of) is a trigger of its own, and its outcome replaces the
// dead-lettered trigger's in the ledger.
func TestRedriveTakesOverTheDeadLetter(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{})
	subj := events.DefaultSubjects().UserCreated
	w.Publish(subj, testworld.CloudEvent(events.TypeUserCreated, "/users", "l1", map[string]any{"user_id": mangosim.UserOwnerLegalNoRep}), "l1")
	if got := w.OutcomeFor("l1"); got.Reason != events.ReasonMissingLegalRepEmail {
		t.Fatalf("outcome = %s/%s, want dlq/missing_legal_representative_email", got.Outcome, got.Reason)
	}
	// The data is fixed, then the record redriven under a new id.
	w.Sim.AddUser(mangosim.User{ID: mangosim.UserOwnerLegalNoRep, Category: mangosim.CategoryOwner, PersonType: mangosim.PersonLegal,
		LegalPersonType: "BUSINESS", Status: mangosim.StatusActive, Email: "corp@example.com", LegalRepresentativeEmail: "rep@example.com"})
	body := testworld.CloudEvent(events.TypeUserCreated, "/users", "l1.redrive-1", map[string]any{"user_id": mangosim.UserOwnerLegalNoRep})
	w.PublishMsg(&nats.Msg{Subject: subj, Data: body, Header: nats.Header{consumer.HeaderRedriveOf: {"l1"}, consumer.HeaderRedriveCount: {"1"}, nats.MsgIdHdr: {"l1.redrive-1"}}})
	if got := w.OutcomeFor("l1.redrive-1"); got.Outcome != events.OutcomeLink {
		t.Fatalf("redriven outcome = %s/%s, want link", got.Outcome, got.Reason)
	}
	w.Settled()
	var e map[string]any
	if !w.LedgerEntry("/users", "l1", &e) {
		t.Fatalf("ledger entry l1: not found")
	}
	if e["outcome"] != "link" || e["redriven_to"] != "l1.redrive-1" {
		t.Errorf("ledger of the dead-lettered trigger = %v, want outcome link, redriven_to l1.redrive-1", e)
	}
	if n := len(w.Links()); n != 1 {
		t.Errorf("links = %d, want 1", n)
	}
}
