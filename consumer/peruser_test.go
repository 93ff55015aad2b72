package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

// TestOneOwnerManyTriggersAcrossReplicas publishes, round after round,
// several user.created triggers (different ids) for one owner at the same
// moment, to two consumer replicas on separate NATS connections, with a
// slow Mangopay so the calls overlap. The per-user decision is one atomic
// step: each round ends with exactly one link, and every other trigger
// settles as recent_link once that link is published.
func TestOneOwnerManyTriggersAcrossReplicas(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{Consumer: func(c *consumer.Config) { c.Concurrency = 8 }})
	w.StartReplica()
	w.Sim.SetFaults(mangosim.Faults{Latency: 150 * time.Millisecond})

	const rounds = 6
	for round := range rounds {
		userID := fmt.Sprintf("user_m_race_%d", round)
		w.Sim.AddUser(mangosim.User{ID: userID, Category: mangosim.CategoryOwner, PersonType: mangosim.PersonNatural,
			Status: mangosim.StatusActive, Email: userID + "@example.com"})
		n := 2 + round%3 // 2, 3 or 4 triggers at once
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("race-%d-%d", round, i)
			data := map[string]any{"category": "OWNER"}
			if i%2 == 1 {
				data = nil // no category: GET user first, which widens the window
			}
			w.UserCreated(ids[i], userID, data)
		}
		counts := map[string]int{}
		for _, id := range ids {
			o := w.OutcomeFor(id)
			counts[o.Outcome+"/"+o.Reason]++
		}
		if counts["link/"] != 1 || counts["skip/"+events.ReasonRecentLink] != n-1 {
			t.Errorf("round %d, %d triggers: outcomes %v, want 1 link and %d recent_link", round, n, counts, n-1)
		}
	}
	w.Settled()
	perUser := map[string]int{}
	for _, l := range w.Links() {
		perUser[l.UserID]++
	}
	for user, n := range perUser {
		if n != 1 {
			t.Errorf("user %s got %d links, want 1", user, n)
		}
	}
	if len(perUser) != rounds {
		t.Errorf("users with a link = %d, want %d", len(perUser), rounds)
	}
}

// TestSignupWhileAnExpiryIsInFlight: a user.created that arrives while an
// expiry's link for the same owner is being minted waits for it, then
// settles as recent_link: one link, an outcome for both.
func TestSignupWhileAnExpiryIsInFlight(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{})
	w.StartReplica()
	w.Sim.SetFaults(mangosim.Faults{Latency: 300 * time.Millisecond})
	ctx := w.Context()
	users, err := w.JS.KeyValue(ctx, w.Config.Defaults().UsersBucket)
	if err != nil {
		t.Fatalf("users bucket: %v", err)
	}
	for round := range 3 {
		userID := fmt.Sprintf("user_m_inflight_%d", round)
		w.Sim.AddUser(mangosim.User{ID: userID, Category: mangosim.CategoryOwner, PersonType: mangosim.PersonNatural,
			Status: mangosim.StatusActive, Email: userID + "@example.com", Triggered: true})
		exp, signup := fmt.Sprintf("exp-%d", round), fmt.Sprintf("signup-%d", round)
		w.Hook(events.TypeSessionExpired, exp, userID, time.Now())
		// The expiry's mark is in the user's entry, so its POST (300ms) is
		// under way when the signup comes.
		testworld.WaitFor(t, "the expiry's claim", testworld.Timeout, func() bool {
			_, err := users.Get(ctx, userID)
			return err == nil
		})
		w.UserCreated(signup, userID, map[string]any{"category": "OWNER"})
		if got := w.OutcomeFor(exp); got.Outcome != events.OutcomeLink {
			t.Errorf("round %d: expiry = %s/%s, want link", round, got.Outcome, got.Reason)
		}
		if got := w.OutcomeFor(signup); got.Outcome != events.OutcomeSkip || got.Reason != events.ReasonRecentLink {
			t.Errorf("round %d: signup during the expiry's call = %s/%s, want skip/recent_link", round, got.Outcome, got.Reason)
		}
	}
	w.Settled()
	if n := len(w.Links()); n != 3 {
		t.Errorf("links = %d, want 3 (one per user)", n)
	}
}

// TestDeadHolderDoesNotBlockTheUser: a mark of a call in flight whose
// holder never comes back (as left by a worker killed mid-call whose
// trigger was then purged) holds a user.created back only until its lease
// ends; then the user.created mints.
func TestDeadHolderDoesNotBlockTheUser(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{})
	ctx := w.Context()
	users, err := w.JS.KeyValue(ctx, w.Config.Defaults().UsersBucket)
	if err != nil {
		t.Fatalf("users bucket: %v", err)
	}
	now := time.Now().UTC()
	leaseEnd := now.Add(time.Second)
	state := fmt.Sprintf(`{"links":[{"key":%q,"at":%q,"lease":%q}]}`,
		events.KeyOf("/users", "killed-holder"), now.Format(time.RFC3339Nano), leaseEnd.Format(time.RFC3339Nano))
	if _, err := users.Create(ctx, mangosim.UserOwnerNatural, []byte(state)); err != nil {
		t.Fatalf("store the dead holder's mark: %v", err)
	}
	w.UserCreated("after-the-holder", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
	got := w.OutcomeFor("after-the-holder")
	if got.Outcome != events.OutcomeLink {
		t.Fatalf("user.created after a dead holder = %s/%s, want link once the lease ended", got.Outcome, got.Reason)
	}
	if got.Attempts < 2 {
		t.Errorf("attempts = %d, want the trigger handed back while the lease held", got.Attempts)
	}
	if now := time.Now(); now.Before(leaseEnd) {
		t.Errorf("link settled at %s, before the lease ended at %s", now, leaseEnd)
	}
}

// TestRecentLinkOutlivesAShortCapWindow: a cap window shorter than the
// recent-link window (SCA_USER_CAP_WINDOW < SCA_RECENT_LINK) must not
// forget a link that still counts as recent: a second user.created for
// the owner right after the first one's link is a recent_link skip.
func TestRecentLinkOutlivesAShortCapWindow(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{Consumer: func(c *consumer.Config) {
		c.RecentLink, c.UserCapWindow = time.Hour, time.Nanosecond
	}})
	w.UserCreated("short-1", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
	if o := w.OutcomeFor("short-1"); o.Outcome != events.OutcomeLink {
		t.Fatalf("short-1: %s/%s, want link", o.Outcome, o.Reason)
	}
	w.UserCreated("short-2", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
	if o := w.OutcomeFor("short-2"); o.Outcome != events.OutcomeSkip || o.Reason != events.ReasonRecentLink {
		t.Errorf("short-2 right after short-1's link: %s/%s, want skip/%s", o.Outcome, o.Reason, events.ReasonRecentLink)
	}
	w.Settled()
	if n := len(w.Links()); n != 1 {
		t.Errorf("links = %d, want 1", n)
	}
}

// TestMarkDroppedWhenALaterDeliveryEndsWithoutALink: a delivery takes a
// mark for its POST and fails (the call is cut by the attempt timeout);
// the next delivery ends without a link before it calls again (the data
// changed: dead-lettered). The mark of the first call must go with that
// outcome, not linger until its lease ends, holding up the user's other
// triggers (handed back as in flight) and counting against the cap.
func TestMarkDroppedWhenALaterDeliveryEndsWithoutALink(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{})
	legal := func(rep string) mangosim.User {
		return mangosim.User{ID: "user_m_mark_legal", Category: mangosim.CategoryOwner, PersonType: mangosim.PersonLegal,
			LegalPersonType: "BUSINESS", Status: mangosim.StatusActive, Email: "company@example.com", LegalRepresentativeEmail: rep}
	}
	w.Sim.AddUser(legal("rep@example.com"))
	w.Sim.SetFaults(mangosim.Faults{HoldEnrollments: true})
	w.UserCreated("mark-1", "user_m_mark_legal", nil) // no category: GET user, then the POST
	testworld.WaitFor(t, "mark-1's first delivery to fail", testworld.Timeout, func() bool {
		var le consumer.LedgerEntry
		return w.LedgerEntry("/users", "mark-1", &le) && le.LastError != ""
	})
	w.Sim.AddUser(legal("")) // the representative's e-mail is gone
	w.Sim.SetFaults(mangosim.Faults{})
	if o := w.OutcomeFor("mark-1"); o.Outcome != events.OutcomeDLQ || o.Reason != events.ReasonMissingLegalRepEmail {
		t.Fatalf("mark-1: %s/%s, want dlq/%s", o.Outcome, o.Reason, events.ReasonMissingLegalRepEmail)
	}
	noMarkLeft(t, w, "user_m_mark_legal", "mark-1")
}

// TestDuplicateOfAPendingTriggerReadsTheUser: a trigger published again
// under another message id (a first delivery, so no ledger read) whose
// entry turns out to exist — its first copy's holder was killed mid-call,
// leaving the entry pending and its mark held — while the user has
// enrolled since. A new owner's signup claims without reading the user's
// entry, but once the ledger says the trigger is not new, the delivery
// must read the entry: the user is skipped as enrolled, without a call,
// and the dead holder's mark goes with that outcome.
func TestDuplicateOfAPendingTriggerReadsTheUser(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{})
	ctx := w.Context()
	user, id := mangosim.UserOwnerNatural, "pending-dup"
	key := events.KeyOf("/users", id)
	now := time.Now().UTC()
	ledgerKV, err := w.JS.KeyValue(ctx, w.Config.Defaults().LedgerBucket)
	if err != nil {
		t.Fatalf("ledger bucket: %v", err)
	}
	entry, err := json.Marshal(consumer.LedgerEntry{Type: events.TypeUserCreated, EventID: id, UserID: user,
		Attempts: 1, FirstAttemptAt: now, LastAttemptAt: now, Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledgerKV.Create(ctx, key, entry); err != nil {
		t.Fatalf("store the pending entry: %v", err)
	}
	usersKV, err := w.JS.KeyValue(ctx, w.Config.Defaults().UsersBucket)
	if err != nil {
		t.Fatalf("users bucket: %v", err)
	}
	state := fmt.Sprintf(`{"enrolled":true,"enrolled_at":%q,"links":[{"key":%q,"at":%q,"lease":%q}]}`,
		now.Format(time.RFC3339Nano), key, now.Format(time.RFC3339Nano), now.Add(time.Minute).Format(time.RFC3339Nano))
	if _, err := usersKV.Create(ctx, user, []byte(state)); err != nil {
		t.Fatalf("store the user's state: %v", err)
	}

	w.UserCreated(id, user, map[string]any{"category": "OWNER"})
	if o := w.OutcomeFor(id); o.Outcome != events.OutcomeSkip || o.Reason != events.ReasonAlreadyEnrolled {
		t.Errorf("outcome = %s/%s, want skip/%s", o.Outcome, o.Reason, events.ReasonAlreadyEnrolled)
	}
	w.Settled()
	if c := callsOf(w, user); c != (calls{}) {
		t.Errorf("Mangopay calls = %+v, want none", c)
	}
	if n := len(w.Links()); n != 0 {
		t.Errorf("links = %d, want 0", n)
	}
	if st := userState(t, w, user); st["links"] != nil {
		t.Errorf("user state = %v, want the dead holder's mark released", st)
	}
}

// TestMarkDroppedAfterAFirstDeliveryCutMidCall: a first delivery writes
// nothing to the ledger before its calls, so when it is cut mid-POST (here
// by the shutdown timeout; a kill is the same) it leaves the mark it took
// and no ledger entry. The redelivery, on another replica, ends without a
// link before it calls again (the data changed: dead-lettered); the mark
// must go with that outcome, not linger until its lease ends.
func TestMarkDroppedAfterAFirstDeliveryCutMidCall(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{Consumer: func(c *consumer.Config) {
		c.AckWait, c.AttemptTimeout, c.ShutdownTimeout = 5*time.Second, 4*time.Second, time.Second // the POST outlasts the drain
	}})
	legal := func(rep string) mangosim.User {
		return mangosim.User{ID: "user_m_cut_legal", Category: mangosim.CategoryOwner, PersonType: mangosim.PersonLegal,
			LegalPersonType: "BUSINESS", Status: mangosim.StatusActive, Email: "company@example.com", LegalRepresentativeEmail: rep}
	}
	w.Sim.AddUser(legal("rep@example.com"))
	w.Sim.SetFaults(mangosim.Faults{HoldEnrollments: true})
	w.UserCreated("cut-1", "user_m_cut_legal", nil) // no category: GET user, then the POST
	testworld.WaitFor(t, "cut-1's first delivery in its POST", testworld.Timeout, func() bool {
		return w.Sim.InFlight("POST", "/enrollment") == 1
	})
	// The shutdown timeout cuts the POST; meanwhile the representative's
	// e-mail is gone.
	w.Stop()
	w.Sim.AddUser(legal(""))
	w.Sim.SetFaults(mangosim.Faults{})
	w.StartReplica()
	if o := w.OutcomeFor("cut-1"); o.Outcome != events.OutcomeDLQ || o.Reason != events.ReasonMissingLegalRepEmail {
		t.Fatalf("cut-1: %s/%s, want dlq/%s", o.Outcome, o.Reason, events.ReasonMissingLegalRepEmail)
	}
	noMarkLeft(t, w, "user_m_cut_legal", "cut-1")
}

// noMarkLeft fails the test unless user's state, which a first delivery
// of trigger marked, holds no mark any more now that trigger was
// dead-lettered.
func noMarkLeft(t *testing.T, w *testworld.World, user, trigger string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := w.JS.KeyValue(ctx, w.Config.Defaults().UsersBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, user)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatal("no user state: the first delivery took no mark")
	}
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Links []struct{ Key string } `json:"links"`
	}
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Links) != 0 {
		t.Errorf("user state after %s was dead-lettered: %s; want no mark left", trigger, e.Value())
	}
}
