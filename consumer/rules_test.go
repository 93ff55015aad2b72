package consumer_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

// calls counts the Mangopay calls a trigger made, by kind.
type calls struct{ getUser, status, enroll int }

// callsOf counts the calls made so far about userID.
func callsOf(w *testworld.World, userID string) calls {
	return calls{
		getUser: w.Sim.Count("GET", "/sca/users/"+userID),
		status:  w.Sim.Count("GET", "/sca/users/"+userID+"/sca-status"),
		enroll:  w.Sim.Count("POST", "/sca/users/"+userID+"/enrollment"),
	}
}

// TestRules holds every rule of docs/events.md that one trigger exercises: its
// exact outcome and reason, and exactly the Mangopay calls it may make.
func TestRules(t *testing.T) {
	t.Parallel()
	old := time.Now().Add(-73 * time.Hour)
	tests := []struct {
		name    string
		user    string
		publish func(w *testworld.World) string // returns the event id
		outcome string
		reason  string
		calls   calls
	}{
		{"owner in event: only the POST", mangosim.UserOwnerNatural, func(w *testworld.World) string {
			w.UserCreated("u1", mangosim.UserOwnerNatural, map[string]any{"category": "owner", "locale": "sv-SE", "email": "ada@example.com"})
			return "u1"
		}, events.OutcomeLink, "", calls{enroll: 1}},
		{"no category: GET user + POST", mangosim.UserOwnerLegal, func(w *testworld.World) string {
			w.UserCreated("u2", mangosim.UserOwnerLegal, nil)
			return "u2"
		}, events.OutcomeLink, "", calls{getUser: 1, enroll: 1}},
		{"payer in event: no call", mangosim.UserPayer, func(w *testworld.World) string {
			w.UserCreated("u3", mangosim.UserPayer, map[string]any{"category": "PAYER"})
			return "u3"
		}, events.OutcomeSkip, events.ReasonNotOwner, calls{}},
		{"platform in event: no call", mangosim.UserPlatform, func(w *testworld.World) string {
			w.UserCreated("u4", mangosim.UserPlatform, map[string]any{"category": "Platform"})
			return "u4"
		}, events.OutcomeSkip, events.ReasonNotOwner, calls{}},
		{"payer found at Mangopay", mangosim.UserPayer, func(w *testworld.World) string {
			w.UserCreated("u5", mangosim.UserPayer, nil)
			return "u5"
		}, events.OutcomeSkip, events.ReasonNotOwner, calls{getUser: 1}},
		{"closed user", mangosim.UserOwnerClosed, func(w *testworld.World) string {
			w.UserCreated("u6", mangosim.UserOwnerClosed, nil)
			return "u6"
		}, events.OutcomeSkip, events.ReasonUserClosed, calls{getUser: 1}},
		{"event says owner, Mangopay says payer", mangosim.UserPayer, func(w *testworld.World) string {
			w.UserCreated("u7", mangosim.UserPayer, map[string]any{"category": "OWNER"})
			return "u7"
		}, events.OutcomeDLQ, events.ReasonUserNotOwner, calls{enroll: 1}},
		{"legal owner without representative e-mail, found by GET", mangosim.UserOwnerLegalNoRep, func(w *testworld.World) string {
			w.UserCreated("u8", mangosim.UserOwnerLegalNoRep, nil)
			return "u8"
		}, events.OutcomeDLQ, events.ReasonMissingLegalRepEmail, calls{getUser: 1}},
		{"legal owner without representative e-mail, refused by POST", mangosim.UserOwnerLegalNoRep, func(w *testworld.World) string {
			w.UserCreated("u9", mangosim.UserOwnerLegalNoRep, map[string]any{"category": "OWNER"})
			return "u9"
		}, events.OutcomeDLQ, events.ReasonMissingLegalRepEmail, calls{enroll: 1}},
		{"unknown user", "user_m_nobody", func(w *testworld.World) string {
			w.UserCreated("u10", "user_m_nobody", nil)
			return "u10"
		}, events.OutcomeDLQ, events.ReasonUserNotFound, calls{getUser: 1}},
		{"expiry from Mangopay: sca-status + POST", mangosim.UserOwnerTriggered, func(w *testworld.World) string {
			w.Hook(events.TypeSessionExpired, "h1", mangosim.UserOwnerTriggered, time.Now().Add(-time.Minute))
			return "h1"
		}, events.OutcomeLink, "", calls{status: 1, enroll: 1}},
		{"failure of a never-triggered user (sca-status 404)", mangosim.UserOwnerNatural2, func(w *testworld.World) string {
			w.Hook(events.TypeSessionFailed, "h2", mangosim.UserOwnerNatural2, time.Time{})
			return "h2"
		}, events.OutcomeLink, "", calls{status: 1, enroll: 1}},
		{"expiry of an enrolled user", mangosim.UserOwnerEnrolled, func(w *testworld.World) string {
			w.Hook(events.TypeSessionExpired, "h3", mangosim.UserOwnerEnrolled, time.Now())
			return "h3"
		}, events.OutcomeSkip, events.ReasonAlreadyEnrolled, calls{status: 1}},
		{"stale expiry: no call", mangosim.UserOwnerTriggered, func(w *testworld.World) string {
			w.Hook(events.TypeSessionExpired, "h4", mangosim.UserOwnerTriggered, old)
			return "h4"
		}, events.OutcomeSkip, events.ReasonStaleTrigger, calls{}},
		{"expiry of a closed user", "user_m_closed_triggered", func(w *testworld.World) string {
			w.Sim.AddUser(mangosim.User{ID: "user_m_closed_triggered", Category: mangosim.CategoryOwner, PersonType: mangosim.PersonNatural,
				Status: mangosim.StatusClosed, Email: "gone@example.com", Triggered: true})
			w.Hook(events.TypeSessionExpired, "h5", "user_m_closed_triggered", time.Now())
			return "h5"
		}, events.OutcomeSkip, events.ReasonUserClosed, calls{status: 1}},
		{"enrollment succeeded, confirmed", mangosim.UserOwnerEnrolled, func(w *testworld.World) string {
			w.Hook(events.TypeEnrollmentSucceeded, "h6", mangosim.UserOwnerEnrolled, time.Now())
			return "h6"
		}, events.OutcomeState, "", calls{status: 1}},
		{"enrollment succeeded, not confirmed (forged hook)", mangosim.UserOwnerTriggered, func(w *testworld.World) string {
			w.Hook(events.TypeEnrollmentSucceeded, "h7", mangosim.UserOwnerTriggered, time.Now())
			return "h7"
		}, events.OutcomeSkip, "not_confirmed", calls{status: 1}},
		{"Sandbox skips SCA (e-mail contains accept): one POST, no link", mangosim.UserOwnerAccept, func(w *testworld.World) string {
			w.UserCreated("u12", mangosim.UserOwnerAccept, map[string]any{"category": "OWNER", "email": "ada+accept@example.com"})
			return "u12"
		}, events.OutcomeSkip, events.ReasonSCANotRequired, calls{enroll: 1}},
		{"Sandbox skips SCA for a legal owner (representative's e-mail)", mangosim.UserOwnerLegalAccept, func(w *testworld.World) string {
			w.UserCreated("u13", mangosim.UserOwnerLegalAccept, nil)
			return "u13"
		}, events.OutcomeSkip, events.ReasonSCANotRequired, calls{getUser: 1, enroll: 1}},
		{"link on a foreign host", mangosim.UserOwnerNatural, func(w *testworld.World) string {
			w.Sim.SetFaults(mangosim.Faults{WrongHost: true})
			w.UserCreated("u11", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
			return "u11"
		}, events.OutcomeDLQ, events.ReasonLinkRejected, calls{enroll: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := testworld.New(t, testworld.Options{})
			id := tt.publish(w)
			got := w.OutcomeFor(id)
			if got.Outcome != tt.outcome || got.Reason != tt.reason {
				t.Errorf("outcome = %s/%s (error %q), want %s/%s", got.Outcome, got.Reason, got.Error, tt.outcome, tt.reason)
			}
			w.Settled()
			if c := callsOf(w, tt.user); c != tt.calls {
				t.Errorf("Mangopay calls = %+v, want %+v", c, tt.calls)
			}
			links, dead := w.Links(), w.DeadLetters()
			switch tt.outcome {
			case events.OutcomeLink:
				if len(links) != 1 || len(dead) != 0 {
					t.Fatalf("links, dead letters = %d, %d; want 1, 0", len(links), len(dead))
				}
				checkLink(t, links[0], tt.user, id)
			case events.OutcomeDLQ:
				if len(links) != 0 || len(dead) != 1 {
					t.Fatalf("links, dead letters = %d, %d; want 0, 1", len(links), len(dead))
				}
				if d := dead[0]; d.Reason != tt.reason || d.EventID != id {
					t.Errorf("dead letter reason, event id = %s, %s; want %s, %s", d.Reason, d.EventID, tt.reason, id)
				}
			default:
				if len(links) != 0 || len(dead) != 0 {
					t.Errorf("links, dead letters = %d, %d; want 0, 0", len(links), len(dead))
				}
			}
		})
	}
}

func checkLink(t *testing.T, l events.LinkSend, userID, triggerID string) {
	t.Helper()
	if l.UserID != userID || l.Trigger.ID != triggerID {
		t.Errorf("link user, trigger = %s, %s; want %s, %s", l.UserID, l.Trigger.ID, userID, triggerID)
	}
	u, err := url.Parse(l.RedirectURL)
	if err != nil {
		t.Fatalf("redirect_url does not parse: %v", err)
	}
	if u.Scheme != "https" || !strings.HasPrefix(u.Host, "sca.") {
		t.Errorf("redirect_url scheme/host = %s/%s", u.Scheme, u.Host)
	}
	if got := u.Query().Get("returnUrl"); got != testworld.ReturnURL {
		t.Errorf("returnUrl = %q, want %q", got, testworld.ReturnURL)
	}
	if !strings.Contains(l.RedirectURL, "&returnUrl="+url.QueryEscape(testworld.ReturnURL)) {
		t.Errorf("redirect_url %q lacks the QueryEscaped return URL", l.RedirectURL)
	}
	if left := time.Until(l.ExpiresAt); left <= 5*time.Minute || left > 10*time.Minute {
		t.Errorf("expires_at in %s, want within (5m, 10m]", left)
	}
}
