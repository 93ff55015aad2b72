package consumer

import (
	"slices"
	"testing"
	"time"
)

// TestDecidePerUser: the per-user rules as one step on the user's state —
// recent link, calls in flight, their lease, the cap, and a holder that
// comes back.
func TestDecidePerUser(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	const lease = 5 * time.Minute
	published := func(key string, ago time.Duration) linkMark {
		return linkMark{Key: key, At: now.Add(-ago), Published: true}
	}
	flying := func(key string, leaseLeft time.Duration) linkMark {
		return linkMark{Key: key, At: now.Add(-time.Minute), Lease: now.Add(leaseLeft)}
	}
	tests := []struct {
		name       string
		links      []linkMark
		provesDead bool
		linked     time.Time
		want       decision
		wantKeys   []string // the marks left, in order
	}{
		{"first trigger", nil, false, time.Time{}, granted, []string{"me"}},
		{"signup after a recent link", []linkMark{published("a", 5*time.Minute)}, false, time.Time{}, recentLink, []string{"a"}},
		{"signup after an old link", []linkMark{published("a", 20*time.Minute)}, false, time.Time{}, granted, []string{"a", "me"}},
		{"signup while a call is in flight", []linkMark{flying("a", time.Minute)}, false, time.Time{}, inFlight, []string{"a"}},
		{"signup after the holder's lease lapsed", []linkMark{flying("a", -time.Second)}, false, time.Time{}, granted, []string{"me"}},
		{"a mark stored without a lease has lapsed", []linkMark{{Key: "a", At: now.Add(-time.Minute)}}, false, time.Time{}, granted, []string{"me"}},
		{"expiry while a call is in flight", []linkMark{flying("a", time.Minute)}, true, time.Time{}, granted, []string{"a", "me"}},
		{"expiry after a recent link", []linkMark{published("a", time.Minute)}, true, time.Time{}, granted, []string{"a", "me"}},
		{"expiry at the cap", []linkMark{published("a", 50*time.Minute), published("b", 30*time.Minute), flying("c", time.Minute)}, true, time.Time{}, userCap, []string{"a", "b", "c"}},
		{"cap window slides", []linkMark{published("a", 61*time.Minute), published("b", 30*time.Minute), published("c", 20*time.Minute)}, true, time.Time{}, granted, []string{"b", "c", "me"}},
		{"holder comes back after its lease lapsed", []linkMark{{Key: "me", At: now.Add(-time.Minute), Lease: now.Add(-time.Minute)}, published("b", 20*time.Minute)}, false, time.Time{}, granted, []string{"me", "b"}},
		{"holder comes back after another's recent link", []linkMark{{Key: "me", At: now.Add(-time.Minute), Lease: now.Add(-time.Minute)}, published("a", time.Minute)}, false, time.Time{}, recentLink, []string{"a"}},
		{"link minted after another won", []linkMark{published("a", time.Second)}, false, now, recentLink, []string{"a"}},
		{"link minted by the holder", []linkMark{flying("me", time.Minute)}, false, now, granted, []string{"me"}},
		// An expiry joined while a signup's call was in flight, and its link
		// was published first: the signup's link is not sent (the checker's
		// seed 10102), and its mark goes.
		{"signup's link minted after an expiry's link", []linkMark{flying("me", time.Minute), published("x", 2*time.Second)}, false, now, recentLink, []string{"x"}},
		{"signup claims again after an expiry's link", []linkMark{flying("me", time.Minute), published("x", 2*time.Second)}, false, time.Time{}, recentLink, []string{"x"}},
		{"expiry's link minted after a signup's link", []linkMark{flying("me", time.Minute), published("a", 2*time.Second)}, true, now, granted, []string{"me", "a"}},
	}
	for _, tt := range tests {
		s := &userState{Links: append([]linkMark(nil), tt.links...)}
		got, _ := s.decide(claim{Key: "me", ProvesDead: tt.provesDead, Now: now, Linked: tt.linked,
			RecentLink: 10 * time.Minute, Cap: 3, Window: time.Hour, Lease: lease})
		if got != tt.want {
			t.Errorf("%s: decide() = %d, want %d", tt.name, got, tt.want)
		}
		var keys []string
		for _, m := range s.Links {
			keys = append(keys, m.Key)
		}
		if !slices.Equal(keys, tt.wantKeys) {
			t.Errorf("%s: marks %v, want %v", tt.name, keys, tt.wantKeys)
		}
		if got != granted {
			continue
		}
		me := s.Links[len(s.Links)-1]
		for _, m := range s.Links {
			if m.Key == "me" {
				me = m
			}
		}
		switch {
		case !tt.linked.IsZero() && (!me.Published || !me.At.Equal(tt.linked)):
			t.Errorf("%s: mark %+v, want published at %s", tt.name, me, tt.linked)
		case tt.linked.IsZero() && (me.Published || !me.Lease.Equal(now.Add(lease))):
			t.Errorf("%s: mark %+v, want in flight with its lease renewed to %s", tt.name, me, now.Add(lease))
		}
	}
}

// TestDecideStanding: what is known of the user (enrolled, closed, no SCA
// needed) refuses a trigger that holds no mark — a new owner's first claim
// starts from a state it never read, so the claim must see it — while the
// trigger that already has the user's link keeps it.
func TestDecideStanding(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	c := claim{Key: "me", Now: now, RecentLink: 10 * time.Minute, Cap: 3, Window: time.Hour, Lease: 5 * time.Minute}
	for _, tt := range []struct {
		name  string
		state userState
		want  decision
	}{
		{"enrolled", userState{Enrolled: true}, enrolled},
		{"closed", userState{Closed: true}, closed},
		{"no SCA needed", userState{SCANotRequired: true}, notRequired},
		{"enrolled and closed", userState{Enrolled: true, Closed: true}, enrolled},
		{"enrolled after the trigger's link", userState{Enrolled: true, Links: []linkMark{{Key: "me", At: now.Add(-time.Minute), Published: true}}}, granted},
	} {
		s := tt.state
		n := len(s.Links)
		if got, _ := s.decide(c); got != tt.want {
			t.Errorf("%s: decide() = %d, want %d", tt.name, got, tt.want)
		}
		if len(s.Links) != n {
			t.Errorf("%s: marks %v, want none taken", tt.name, s.Links)
		}
	}
}
