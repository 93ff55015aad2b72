package consumer_test

import (
	"fmt"
	"testing"
	"time"

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
