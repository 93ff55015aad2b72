package consumer_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/mangosim"
)

func (b *bundle) publishWithHeaders(subject string, body []byte, h nats.Header) uint64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := b.js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: body, Header: h})
	if err != nil {
		b.t.Fatalf("publish %s: %v", subject, err)
	}
	return ack.Sequence
}

// ledgerEntry reads a trigger's ledger entry as operators do.
func (b *bundle) ledgerEntry(source, id string) map[string]any {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := b.js.KeyValue(ctx, b.cfg.Defaults().LedgerBucket)
	if err != nil {
		b.t.Fatalf("ledger: %v", err)
	}
	e, err := kv.Get(ctx, events.KeyOf(source, id))
	if err != nil {
		b.t.Fatalf("ledger entry %s: %v", id, err)
	}
	var m map[string]any
	if err := json.Unmarshal(e.Value(), &m); err != nil {
		b.t.Fatal(err)
	}
	return m
}

// TestReplayReopensSkipsButNeverLinks: a replayed copy (Sca-Replay)
// re-evaluates a skip whose data changed, leaves a link alone, and its
// redelivery is a duplicate.
func TestReplayReopensSkipsButNeverLinks(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	subj := events.DefaultSubjects().UserCreated
	payerBody := cloudEvent(events.TypeUserCreated, "/users", "p1", map[string]any{"user_id": "user_m_later_owner"})
	ownerBody := cloudEvent(events.TypeUserCreated, "/users", "o1", map[string]any{"user_id": mangosim.UserOwnerNatural, "category": "OWNER"})
	b.sim.AddUser(mangosim.User{ID: "user_m_later_owner", Category: mangosim.CategoryPayer, PersonType: mangosim.PersonNatural, Status: mangosim.StatusActive, Email: "l@example.com"})
	b.publish(subj, payerBody, "p1")
	b.publish(subj, ownerBody, "o1")
	if got := b.outcomeFor("p1"); got.Reason != events.ReasonNotOwner {
		t.Fatalf("first outcome of p1 = %s/%s, want skip/not_owner", got.Outcome, got.Reason)
	}
	b.outcomeFor("o1")

	// The platform fixed the user's category; a replay re-evaluates the skip.
	b.sim.AddUser(mangosim.User{ID: "user_m_later_owner", Category: mangosim.CategoryOwner, PersonType: mangosim.PersonNatural, Status: mangosim.StatusActive, Email: "l@example.com"})
	replaySeq := b.publishWithHeaders(subj, payerBody, nats.Header{consumer.HeaderReplay: {"test"}})
	ownerSeq := b.publishWithHeaders(subj, ownerBody, nats.Header{consumer.HeaderReplay: {"test"}})
	if got := b.outcomeAt(replaySeq); got.Outcome != events.OutcomeLink {
		t.Errorf("replayed skip = %s/%s, want link", got.Outcome, got.Reason)
	}
	waitFor(t, "the replayed link to be a duplicate", 10*time.Second, func() bool {
		for _, o := range b.snapshot() {
			if o.StreamSeq == ownerSeq {
				return o.Outcome == events.OutcomeDuplicate
			}
		}
		return false
	})
	b.settled()
	if n := len(b.links()); n != 2 {
		t.Errorf("links = %d, want 2 (one per user)", n)
	}
	if e := b.ledgerEntry("/users", "p1"); e["outcome"] != "link" || e["replay_seq"] != float64(replaySeq) {
		t.Errorf("ledger of p1 = %v, want the replay's link outcome", e)
	}
}

// TestRedriveTakesOverTheDeadLetter: a redriven copy (new id,
// Sca-Redrive-Of) is a trigger of its own, and its outcome replaces the
// dead-lettered trigger's in the ledger.
func TestRedriveTakesOverTheDeadLetter(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	subj := events.DefaultSubjects().UserCreated
	b.publish(subj, cloudEvent(events.TypeUserCreated, "/users", "l1", map[string]any{"user_id": mangosim.UserOwnerLegalNoRep}), "l1")
	if got := b.outcomeFor("l1"); got.Reason != events.ReasonMissingLegalRepEmail {
		t.Fatalf("outcome = %s/%s, want dlq/missing_legal_representative_email", got.Outcome, got.Reason)
	}
	// The data is fixed, then the record redriven under a new id.
	b.sim.AddUser(mangosim.User{ID: mangosim.UserOwnerLegalNoRep, Category: mangosim.CategoryOwner, PersonType: mangosim.PersonLegal,
		LegalPersonType: "BUSINESS", Status: mangosim.StatusActive, Email: "corp@example.com", LegalRepresentativeEmail: "rep@example.com"})
	body := cloudEvent(events.TypeUserCreated, "/users", "l1.redrive-1", map[string]any{"user_id": mangosim.UserOwnerLegalNoRep})
	b.publishWithHeaders(subj, body, nats.Header{consumer.HeaderRedriveOf: {"l1"}, consumer.HeaderRedriveCount: {"1"}, nats.MsgIdHdr: {"l1.redrive-1"}})
	if got := b.outcomeFor("l1.redrive-1"); got.Outcome != events.OutcomeLink {
		t.Fatalf("redriven outcome = %s/%s, want link", got.Outcome, got.Reason)
	}
	b.settled()
	e := b.ledgerEntry("/users", "l1")
	if e["outcome"] != "link" || e["redriven_to"] != "l1.redrive-1" {
		t.Errorf("ledger of the dead-lettered trigger = %v, want outcome link, redriven_to l1.redrive-1", e)
	}
	if n := len(b.links()); n != 1 {
		t.Errorf("links = %d, want 1", n)
	}
}
