package consumer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

// TestInvalidEvents: every kind of bad input is dead-lettered at once with
// invalid_event, its body kept untouched, and never blocks the stream.
func TestInvalidEvents(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{})
	s := events.DefaultSubjects()
	bad := []struct {
		name, subject, body string
	}{
		{"not JSON", s.UserCreated, "user created: 42"},
		{"not a CloudEvent", s.UserCreated, `{"user_id":"u"}`},
		{"unknown type", s.UserCreated, string(testworld.CloudEvent("user.deleted", "/users", "b3", map[string]any{"user_id": "user_m_x"}))},
		{"type does not match subject", s.SessionExpired, string(testworld.CloudEvent(events.TypeUserCreated, "/users", "b4", map[string]any{"user_id": "user_m_x"}))},
		{"missing user_id", s.UserCreated, string(testworld.CloudEvent(events.TypeUserCreated, "/users", "b5", map[string]any{}))},
		{"user_id with a path", s.UserCreated, string(testworld.CloudEvent(events.TypeUserCreated, "/users", "b6", map[string]any{"user_id": "../../oauth/token"}))},
		{"over 64 KiB", s.UserCreated, string(testworld.CloudEvent(events.TypeUserCreated, "/users", "b7", map[string]any{"user_id": "user_m_x", "pad": strings.Repeat("x", 70<<10)}))},
	}
	var seqs []uint64
	for _, c := range bad {
		seqs = append(seqs, w.Publish(c.subject, []byte(c.body), ""))
	}
	good := w.UserCreated("g1", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
	for i, seq := range seqs {
		if got := w.OutcomeAt(seq); got.Outcome != events.OutcomeDLQ || got.Reason != events.ReasonInvalidEvent {
			t.Errorf("%s: outcome = %s/%s, want dlq/invalid_event", bad[i].name, got.Outcome, got.Reason)
		}
	}
	if got := w.OutcomeAt(good); got.Outcome != events.OutcomeLink {
		t.Errorf("valid event after bad ones: outcome = %s/%s, want link", got.Outcome, got.Reason)
	}
	w.Settled()
	dead := w.DeadLetters()
	if len(dead) != len(bad) {
		t.Fatalf("dead letters = %d, want %d", len(dead), len(bad))
	}
	bySeq := map[uint64]events.DeadLetter{}
	for _, d := range dead {
		bySeq[d.StreamSequence] = d
	}
	for i, seq := range seqs {
		d, ok := bySeq[seq]
		if !ok {
			t.Errorf("%s: no dead letter for stream seq %d", bad[i].name, seq)
			continue
		}
		if string(d.Original.Body) != bad[i].body {
			t.Errorf("%s: original body not kept untouched", bad[i].name)
		}
		if d.Original.Subject != bad[i].subject || d.Error == "" {
			t.Errorf("%s: record subject %q, error %q", bad[i].name, d.Original.Subject, d.Error)
		}
	}
	if n := w.Sim.Count("POST", "/enrollment"); n != 1 {
		t.Errorf("enrollment POSTs = %d, want 1 (only the valid event)", n)
	}
}

// TestDuplicatesAndReplays: a redelivered, republished or replayed trigger
// is a duplicate with no second outcome and no call.
func TestDuplicatesAndReplays(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{})
	w.UserCreated("d1", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
	if got := w.OutcomeFor("d1"); got.Outcome != events.OutcomeLink {
		t.Fatalf("first outcome = %s/%s, want link", got.Outcome, got.Reason)
	}
	// The same trigger again, past JetStream's dedupe (another Nats-Msg-Id).
	body := testworld.CloudEvent(events.TypeUserCreated, "/users", "d1", map[string]any{"user_id": mangosim.UserOwnerNatural, "category": "OWNER"})
	for i := range 3 {
		w.Publish(events.DefaultSubjects().UserCreated, body, "copy-"+string(rune('a'+i)))
	}
	testworld.WaitFor(t, "three duplicates", testworld.Timeout, func() bool {
		n := 0
		for _, o := range w.Outcomes() {
			if o.EventID == "d1" && o.Outcome == events.OutcomeDuplicate {
				n++
			}
		}
		return n == 3
	})
	w.Settled()
	if n := w.Sim.Count("POST", "/enrollment"); n != 1 {
		t.Errorf("enrollment POSTs = %d, want 1", n)
	}
	if n := len(w.Links()); n != 1 {
		t.Errorf("links = %d, want 1", n)
	}
}

// TestPerUserRules: recent_link for a second signup event, the hourly cap
// for a flood of expiries, and enrolled users skipped without a call.
func TestPerUserRules(t *testing.T) {
	t.Parallel()
	t.Run("recent link", func(t *testing.T) {
		t.Parallel()
		w := testworld.New(t, testworld.Options{})
		w.UserCreated("r1", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
		w.OutcomeFor("r1")
		w.UserCreated("r2", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
		if got := w.OutcomeFor("r2"); got.Outcome != events.OutcomeSkip || got.Reason != events.ReasonRecentLink {
			t.Errorf("second signup = %s/%s, want skip/recent_link", got.Outcome, got.Reason)
		}
		// An expiry proves the link dead: it gets a new one.
		w.Hook(events.TypeSessionExpired, "r3", mangosim.UserOwnerNatural, time.Now())
		if got := w.OutcomeFor("r3"); got.Outcome != events.OutcomeLink {
			t.Errorf("expiry after a link = %s/%s, want link", got.Outcome, got.Reason)
		}
	})
	t.Run("cap on a flood of expiries", func(t *testing.T) {
		t.Parallel()
		w := testworld.New(t, testworld.Options{Consumer: func(c *consumer.Config) { c.Concurrency = 8 }})
		ids := []string{"f1", "f2", "f3", "f4", "f5", "f6", "f7"}
		for _, id := range ids {
			w.Hook(events.TypeSessionExpired, id, mangosim.UserOwnerTriggered, time.Now())
		}
		counts := map[string]int{}
		for _, id := range ids {
			o := w.OutcomeFor(id)
			counts[o.Outcome+"/"+o.Reason]++
		}
		if counts["link/"] != 3 || counts["skip/user_cap"] != 4 {
			t.Errorf("outcomes = %v, want 3 links and 4 user_cap skips", counts)
		}
		w.Settled()
		if n := len(w.Links()); n != 3 {
			t.Errorf("links published = %d, want 3", n)
		}
	})
	t.Run("enrolled users are remembered", func(t *testing.T) {
		t.Parallel()
		w := testworld.New(t, testworld.Options{})
		w.Sim.CompleteEnrollment(mangosim.UserOwnerTriggered)
		w.Hook(events.TypeEnrollmentSucceeded, "e1", mangosim.UserOwnerTriggered, time.Now())
		if got := w.OutcomeFor("e1"); got.Outcome != events.OutcomeState {
			t.Fatalf("succeeded hook = %s/%s, want state", got.Outcome, got.Reason)
		}
		before := callsOf(w, mangosim.UserOwnerTriggered)
		w.Hook(events.TypeSessionExpired, "e2", mangosim.UserOwnerTriggered, time.Now())
		w.UserCreated("e3", mangosim.UserOwnerTriggered, nil)
		// A signup that says OWNER claims the user without reading its entry
		// first: the claim itself finds the enrollment.
		w.UserCreated("e4", mangosim.UserOwnerTriggered, map[string]any{"category": "OWNER"})
		for _, id := range []string{"e2", "e3", "e4"} {
			if got := w.OutcomeFor(id); got.Outcome != events.OutcomeSkip || got.Reason != events.ReasonAlreadyEnrolled {
				t.Errorf("%s = %s/%s, want skip/already_enrolled", id, got.Outcome, got.Reason)
			}
		}
		if after := callsOf(w, mangosim.UserOwnerTriggered); after != before {
			t.Errorf("calls after enrollment was recorded: %+v, want %+v", after, before)
		}
	})
	t.Run("closed users are remembered", func(t *testing.T) {
		t.Parallel()
		w := testworld.New(t, testworld.Options{})
		w.UserCreated("c1", mangosim.UserOwnerClosed, nil)
		if got := w.OutcomeFor("c1"); got.Outcome != events.OutcomeSkip || got.Reason != events.ReasonUserClosed {
			t.Fatalf("signup of a closed user = %s/%s, want skip/user_closed", got.Outcome, got.Reason)
		}
		before := callsOf(w, mangosim.UserOwnerClosed)
		// A signup that says OWNER makes no read before its claim: the claim
		// finds the closure.
		w.UserCreated("c2", mangosim.UserOwnerClosed, map[string]any{"category": "OWNER"})
		if got := w.OutcomeFor("c2"); got.Outcome != events.OutcomeSkip || got.Reason != events.ReasonUserClosed {
			t.Errorf("second signup = %s/%s, want skip/user_closed", got.Outcome, got.Reason)
		}
		w.Settled()
		if after := callsOf(w, mangosim.UserOwnerClosed); after != before {
			t.Errorf("calls after the closure was recorded: %+v, want %+v", after, before)
		}
		if n := len(w.Links()); n != 0 {
			t.Errorf("links = %d, want 0", n)
		}
	})
}

// TestRetries: a 503 burst is retried into one link; an outage longer than
// the retry budget dead-letters with max_attempts and the last error.
func TestRetries(t *testing.T) {
	t.Parallel()
	t.Run("burst of 503", func(t *testing.T) {
		t.Parallel()
		w := testworld.New(t, testworld.Options{})
		w.Sim.SetFaults(mangosim.Faults{Burst5xx: 7})
		w.UserCreated("x1", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
		got := w.OutcomeFor("x1")
		if got.Outcome != events.OutcomeLink || got.Attempts < 2 {
			t.Errorf("outcome = %s/%s after %d deliveries, want a link after retries", got.Outcome, got.Reason, got.Attempts)
		}
		w.Settled()
		if n := len(w.Links()); n != 1 {
			t.Errorf("links = %d, want 1", n)
		}
	})
	t.Run("budget exhausted", func(t *testing.T) {
		t.Parallel()
		w := testworld.New(t, testworld.Options{Consumer: func(c *consumer.Config) { c.RetryBudget = 300 * time.Millisecond }})
		w.Sim.SetFaults(mangosim.Faults{ErrorRate: 1})
		w.UserCreated("x2", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
		got := w.OutcomeFor("x2")
		if got.Outcome != events.OutcomeDLQ || got.Reason != events.ReasonMaxAttempts {
			t.Fatalf("outcome = %s/%s, want dlq/max_attempts", got.Outcome, got.Reason)
		}
		if !strings.Contains(got.Error, "500") {
			t.Errorf("dead letter error = %q, want the last error's code", got.Error)
		}
		w.Settled()
		if d := w.DeadLetters(); len(d) != 1 || d[0].Attempts < 2 {
			t.Errorf("dead letters = %+v, want one with its attempts", d)
		}
	})
	t.Run("dropped answers are recovered through the 409 rule", func(t *testing.T) {
		t.Parallel()
		w := testworld.New(t, testworld.Options{})
		w.Sim.SetFaults(mangosim.Faults{DropAfterCommit: 1})
		w.UserCreated("x3", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
		if got := w.OutcomeFor("x3"); got.Outcome != events.OutcomeLink {
			t.Fatalf("outcome = %s/%s, want link", got.Outcome, got.Reason)
		}
		w.Settled()
		if n := len(w.Links()); n != 1 {
			t.Errorf("links = %d, want 1", n)
		}
		readBack := 0
		for _, c := range w.Sim.Calls() {
			if c.Method == "GET" && strings.Contains(c.Path, "/responses/") {
				readBack++
			}
		}
		if readBack < 1 {
			t.Errorf("responses read back = %d, want at least 1", readBack)
		}
	})
}

// TestDeploymentFault: 403 on every call pauses consumption and turns
// readiness off; nothing is dead-lettered; the fault clearing resumes it.
func TestDeploymentFault(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{})
	testworld.WaitFor(t, "ready", testworld.Timeout, func() bool { return w.Consumer.Ready() == nil })
	w.Sim.SetFaults(mangosim.Faults{Status403: true})
	w.UserCreated("z1", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
	testworld.WaitFor(t, "readiness off", testworld.Timeout, func() bool { return w.Consumer.Ready() != nil })
	faultLines := w.Logs.FilterMessageSnippet("deployment-wide fault: consumption paused").Len()
	if faultLines != 1 {
		t.Errorf("fault error lines = %d, want 1", faultLines)
	}
	if n := len(w.DeadLetters()); n != 0 {
		t.Errorf("dead letters during a fault = %d, want 0", n)
	}
	w.Sim.SetFaults(mangosim.Faults{})
	if got := w.OutcomeFor("z1"); got.Outcome != events.OutcomeLink {
		t.Errorf("outcome after the fault = %s/%s, want link", got.Outcome, got.Reason)
	}
	testworld.WaitFor(t, "ready again", testworld.Timeout, func() bool { return w.Consumer.Ready() == nil })
}

// TestRateLimitWindowStopsPulling: while a Mangopay window is spent, no
// request is sent before its reset and no delivery count grows.
func TestRateLimitWindowStopsPulling(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{Consumer: func(c *consumer.Config) { c.Concurrency = 2 }})
	reset := time.Now().Add(3 * time.Second).Truncate(time.Second).Add(time.Second)
	w.Sim.SetFaults(mangosim.Faults{RateLimitedUntil: reset})
	// One trigger meets the spent window and teaches the governor.
	w.UserCreated("w0", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
	testworld.WaitFor(t, "a 429", 5*time.Second, func() bool {
		for _, c := range w.Sim.Calls() {
			if c.Status == 429 {
				return true
			}
		}
		return false
	})
	users := []string{mangosim.UserOwnerNatural2, mangosim.UserOwnerLegal, mangosim.UserOwnerSoletrader, mangosim.UserOwnerNaturalPending, mangosim.UserOwnerLegacyNumeric}
	for i, u := range users {
		w.UserCreated("w"+string(rune('1'+i)), u, map[string]any{"category": "OWNER"})
	}
	before := len(w.Sim.Calls())
	// Until the reset nothing is sent, and no message is delivered twice.
	for time.Now().Before(reset.Add(-200 * time.Millisecond)) {
		if n := len(w.Sim.Calls()); n != before {
			t.Fatalf("calls during the spent window: %d, want %d", n, before)
		}
		info := w.ConsumerInfo()
		if info.NumRedelivered != 0 {
			t.Fatalf("redelivered during the spent window: %d, want 0", info.NumRedelivered)
		}
		if info.NumAckPending > 2 {
			t.Fatalf("messages in hand = %d, want at most the concurrency (2)", info.NumAckPending)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		<-ctx.Done()
		cancel()
	}
	for i := range users {
		if got := w.OutcomeFor("w" + string(rune('1'+i))); got.Outcome != events.OutcomeLink {
			t.Errorf("after the reset: %s/%s, want link", got.Outcome, got.Reason)
		}
	}
	for _, c := range w.Sim.Calls()[before:] {
		if c.At.Before(reset) {
			t.Errorf("call %s %s at %s, before the reset %s", c.Method, c.Path, c.At, reset)
		}
	}
	if info := w.ConsumerInfo(); info.NumRedelivered != 0 {
		t.Errorf("redelivered = %d, want 0: waiting for a reset grows no delivery count", info.NumRedelivered)
	}
}

// TestOversizedBodyIsPointedAt: a body close to NATS's payload limit
// cannot travel inside a dead-letter record; the record points at it in
// the trigger stream instead of being retried forever.
func TestOversizedBodyIsPointedAt(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{})
	body := strings.Repeat("\x00binary", 120<<10) // 960 KiB, not JSON: base64 would not fit
	seq := w.Publish(events.DefaultSubjects().UserCreated, []byte(body), "")
	if got := w.OutcomeAt(seq); got.Outcome != events.OutcomeDLQ || got.Reason != events.ReasonInvalidEvent {
		t.Fatalf("outcome = %s/%s, want dlq/invalid_event", got.Outcome, got.Reason)
	}
	w.Settled()
	dead := w.DeadLetters()
	if len(dead) != 1 {
		t.Fatalf("dead letters = %d, want 1", len(dead))
	}
	d := dead[0]
	if len(d.Original.Body) != 0 || d.StreamSequence != seq {
		t.Errorf("record body %d bytes, seq %d; want no body and seq %d", len(d.Original.Body), d.StreamSequence, seq)
	}
	if want := fmt.Sprintf("stays in stream SCA_EVENTS at sequence %d", seq); !strings.Contains(d.Error, want) {
		t.Errorf("record error = %q, want it to contain %q", d.Error, want)
	}
}
