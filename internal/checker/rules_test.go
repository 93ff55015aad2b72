package checker

import (
	"reflect"
	"testing"
	"time"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
)

// The checks themselves must be able to fail: each is fed a history that
// breaks it, and one that does not.

func link(typ, id, user string, minted time.Time) linkMsg {
	return linkMsg{LinkSend: events.LinkSend{UserID: user, ExpiresAt: minted.Add(linkTTL),
		Trigger: events.Ref{Type: typ, Source: "/checker", ID: id}}, id: "link-" + id}
}

func decidedAt(l linkMsg, at time.Time) linkMsg {
	l.decided = at
	return l
}

func TestUserRulesCheck(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		links []linkMsg
		want  int
	}{
		{"one link", []linkMsg{link(events.TypeUserCreated, "a", "u", t0)}, 0},
		{"two signups at once", []linkMsg{link(events.TypeUserCreated, "a", "u", t0), link(events.TypeUserCreated, "b", "u", t0)}, 1},
		{"signup after an expiry's link", []linkMsg{link(events.TypeSessionExpired, "a", "u", t0), link(events.TypeUserCreated, "b", "u", t0.Add(3*time.Second))}, 1},
		{"expiry after a signup's link", []linkMsg{link(events.TypeUserCreated, "a", "u", t0), link(events.TypeSessionExpired, "b", "u", t0.Add(time.Second))}, 0},
		// Seed 20171: a failure's link read back from an answer Mangopay stored
		// 15 s before a signup's link, but decided after it.
		{"expiry decided after a signup's link, minted before it", []linkMsg{
			decidedAt(link(events.TypeUserCreated, "a", "u", t0.Add(15*time.Second)), t0.Add(15*time.Second)),
			decidedAt(link(events.TypeSessionFailed, "b", "u", t0), t0.Add(16*time.Second))}, 0},
		// Seeds 30020, 30085: minted in the same second; the expiry's ledger
		// write landed first, though the signup's claim came first.
		{"same second, decided in the other order", []linkMsg{
			decidedAt(link(events.TypeSessionExpired, "a", "u", t0), t0.Add(100*time.Millisecond)),
			decidedAt(link(events.TypeUserCreated, "b", "u", t0), t0.Add(200*time.Millisecond))}, 0},
		{"signup decided after an expiry's link", []linkMsg{
			decidedAt(link(events.TypeSessionFailed, "a", "u", t0), t0.Add(time.Second)),
			decidedAt(link(events.TypeUserCreated, "b", "u", t0.Add(2*time.Second)), t0.Add(2*time.Second))}, 1},
		{"signup past the window", []linkMsg{link(events.TypeUserCreated, "a", "u", t0), link(events.TypeUserCreated, "b", "u", t0.Add(11*time.Minute))}, 0},
		{"other users", []linkMsg{link(events.TypeUserCreated, "a", "u", t0), link(events.TypeUserCreated, "b", "v", t0)}, 0},
		{"four expiries in an hour", []linkMsg{
			link(events.TypeSessionExpired, "a", "u", t0), link(events.TypeSessionExpired, "b", "u", t0.Add(time.Minute)),
			link(events.TypeSessionFailed, "c", "u", t0.Add(2*time.Minute)), link(events.TypeSessionExpired, "d", "u", t0.Add(59*time.Minute)),
		}, 1},
		{"four expiries over more than an hour", []linkMsg{
			link(events.TypeSessionExpired, "a", "u", t0), link(events.TypeSessionExpired, "b", "u", t0.Add(time.Minute)),
			link(events.TypeSessionFailed, "c", "u", t0.Add(2*time.Minute)), link(events.TypeSessionExpired, "d", "u", t0.Add(61*time.Minute)),
		}, 0},
	}
	for _, c := range cases {
		r := &run{cfg: consumer.Config{}.Defaults()}
		r.checkUserRules(c.links)
		if len(r.viols) != c.want {
			t.Errorf("%s: violations %v, want %d", c.name, r.viols, c.want)
		}
	}
}

func TestProvenanceHelpers(t *testing.T) {
	t.Parallel()
	minted := "https://sca.sandbox.mangopay.com/?token=abc"
	if got := mintedPart(minted + "&returnUrl=https%3A%2F%2Fx&lang=fr"); got != minted {
		t.Errorf("mintedPart = %q, want %q", got, minted)
	}
	key := events.KeyOf("/checker", "a")
	if !keyOfTrigger(enroll.IdempotencyKey(key, 1), key) || !keyOfTrigger(enroll.IdempotencyKey(key, 1200), key) {
		t.Error("keyOfTrigger does not recognise the trigger's own keys")
	}
	if keyOfTrigger(enroll.IdempotencyKey(events.KeyOf("/checker", "b"), 1), key) {
		t.Error("keyOfTrigger takes another trigger's key")
	}
	for k, want := range map[string]bool{
		"0123456789abcdef": true, "0123456789abcdef-0123456789abcdef-12": true,
		"0123456789abcde": false, "0123456789abcdef-0123456789abcdef-123": false, "0123456789abcdef_1": false,
	} {
		if validKey(k) != want {
			t.Errorf("validKey(%q) = %v, want %v", k, !want, want)
		}
	}
}

func TestSchedulesAreSeeded(t *testing.T) {
	t.Parallel()
	a, b := generate(42), generate(42)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("one seed gave two schedules")
	}
	if reflect.DeepEqual(a.Steps, generate(43).Steps) {
		t.Error("seeds 42 and 43 gave the same schedule")
	}
	sub := a.subset([]int{0, 2})
	if len(sub.Steps) != 2 || sub.Steps[1].Index != 2 || sub.Steps[1].String() != a.Steps[2].String() {
		t.Errorf("subset kept %v", sub.Steps)
	}
	seen := map[kind]bool{}
	for seed := uint64(1); seed <= 200; seed++ {
		for _, st := range generate(seed).Steps {
			seen[st.Kind] = true
		}
	}
	for k := kPublish; k <= kSettle; k++ {
		if !seen[k] {
			t.Errorf("no schedule of seeds 1..200 has a step of kind %d", k)
		}
	}
}
