package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// userState is what the worker remembers of one user, shared by all
// replicas through a KV bucket keyed by user id.
type userState struct {
	// Enrolled is set once Mangopay's sca-status confirmed the enrollment;
	// replays then skip the user without a call.
	Enrolled   bool      `json:"enrolled,omitempty"`
	EnrolledAt time.Time `json:"enrolled_at,omitzero"`
	// Closed is set when Mangopay said the user is CLOSED.
	Closed bool `json:"closed,omitempty"`
	// SCANotRequired is set when Enroll answered 200 without a link (no SCA
	// session needed); replays then skip the user without a call.
	SCANotRequired bool `json:"sca_not_required,omitempty"`
	// Links are the links of the cap window (and of the recent-link
	// window, when that is longer), by trigger: a mark is taken
	// before a session is requested (so replicas cannot overrun the cap
	// together), confirmed when the link is published, and dropped when
	// the trigger ends without a link.
	Links []linkMark `json:"links,omitempty"`
}

type linkMark struct {
	Key string    `json:"key"`
	At  time.Time `json:"at"`
	// Published: the trigger's link was minted and recorded (it may have
	// been sent); it counts for recent_link and the cap until the window
	// passes, and is never released.
	Published bool `json:"published,omitempty"`
	// Lease ends an unpublished mark: a call in flight whose holder has
	// not claimed again by then is presumed dead (see markLease).
	Lease time.Time `json:"lease,omitzero"`
}

// lastPublished returns when the user's newest published link was minted.
func (s *userState) lastPublished() time.Time {
	var last time.Time
	for _, m := range s.Links {
		if m.Published && m.At.After(last) {
			last = m.At
		}
	}
	return last
}

// holds reports whether s has trigger key's mark of a call in flight.
func (s *userState) holds(key string) bool {
	return slices.ContainsFunc(s.Links, func(m linkMark) bool { return m.Key == key && !m.Published })
}

// claim is what one trigger asks of the per-user rules.
type claim struct {
	Key string // the trigger's ledger key
	// ProvesDead is set for expiries and failures: they prove the last link
	// dead, so only the cap limits them; a user.created also yields to a
	// recent link and to another trigger's call in flight.
	ProvesDead bool
	Now        time.Time
	// Linked, when set, is when Mangopay minted the trigger's link: the
	// mark becomes a published link instead of a call in flight.
	Linked time.Time

	RecentLink time.Duration
	Cap        int
	Window     time.Duration
	Lease      time.Duration
}

// decision is the per-user answer to a claim.
type decision int

const (
	granted     decision = iota // the trigger holds a mark: call Mangopay, or keep its link
	recentLink                  // skip: a link newer than RecentLink still works
	userCap                     // skip: the cap is reached in the window
	inFlight                    // wait: another trigger's call for this user is in flight
	enrolled                    // skip: Mangopay confirmed the user's enrollment
	closed                      // skip: the user is CLOSED
	notRequired                 // skip: Mangopay said the user needs no SCA session
)

// decide applies the per-user rules to s for c, in one step, and takes or
// renews c's mark when it is granted. It reports whether s changed.
func (s *userState) decide(c claim) (decision, bool) {
	changed := s.prune(c)
	i := slices.IndexFunc(s.Links, func(m linkMark) bool { return m.Key == c.Key })
	if i < 0 {
		// What is known of the user comes first: a claim may start from a
		// state this delivery never read (a new owner's first claim).
		switch {
		case s.Enrolled:
			return enrolled, changed
		case s.Closed:
			return closed, changed
		case s.SCANotRequired:
			return notRequired, changed
		}
		if !c.ProvesDead {
			if last := s.lastPublished(); !last.IsZero() && c.Now.Sub(last) < c.RecentLink {
				return recentLink, changed
			}
			if slices.ContainsFunc(s.Links, func(m linkMark) bool { return !m.Published }) {
				return inFlight, changed
			}
		}
		if s.inWindow(c.Now, c.Window) >= c.Cap {
			return userCap, changed
		}
		s.Links = append(s.Links, linkMark{Key: c.Key, At: c.Now})
		i = len(s.Links) - 1
	}
	m := &s.Links[i]
	if !m.Published && !c.ProvesDead {
		// A signup holding a call in flight still yields to a link that
		// another trigger (an expiry joining meanwhile) got published first:
		// its own link, if minted, is not sent, and its mark goes.
		if last := s.lastPublished(); !last.IsZero() && c.Now.Sub(last) < c.RecentLink {
			s.Links = slices.Delete(s.Links, i, i+1)
			return recentLink, true
		}
	}
	switch {
	case m.Published: // a redelivery of the trigger that has the link
		return granted, changed
	case !c.Linked.IsZero():
		m.Published, m.At, m.Lease = true, c.Linked, time.Time{}
	default:
		m.Lease = c.Now.Add(c.Lease)
	}
	return granted, true
}

// users stores userState in a KV bucket.
type users struct {
	bucket
}

func (u users) get(ctx context.Context, userID string) (*userState, uint64, error) {
	kve, err := u.kv.Get(ctx, userID)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return &userState{}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read user state: %w", err)
	}
	var s userState
	if err := json.Unmarshal(kve.Value(), &s); err != nil {
		return nil, 0, fmt.Errorf("decode user state: %w", err)
	}
	return &s, kve.Revision(), nil
}

// update applies fn to the user's state with compare-and-set, retrying on
// conflicts with other replicas. fn returns false to leave it unchanged.
func (u users) update(ctx context.Context, userID string, fn func(*userState) bool) (*userState, error) {
	s, _, err := u.updateFrom(ctx, userID, nil, 0, fn)
	return s, err
}

// updateFrom is update starting from s at revision rev, the state this
// delivery last read or wrote (nil: read it; rev 0: the entry is presumed
// missing and is created), so the common case is one write and no read. A conflict reads the entry again; so does a copy that
// fn leaves unchanged, since that answer must come from the entry itself.
// It returns the state and revision now stored.
func (u users) updateFrom(ctx context.Context, userID string, s *userState, rev uint64, fn func(*userState) bool) (*userState, uint64, error) {
	copied := s != nil
	for {
		if s == nil {
			var err error
			if s, rev, err = u.get(ctx, userID); err != nil {
				return nil, 0, err
			}
		}
		if !fn(s) {
			if copied {
				s, copied = nil, false
				continue
			}
			return s, rev, nil
		}
		b, err := json.Marshal(s)
		if err != nil {
			return nil, 0, fmt.Errorf("encode user state: %w", err)
		}
		next, err := u.write(ctx, userID, b, rev)
		if errors.Is(err, errConflict) {
			if ctx.Err() != nil {
				return nil, 0, ctx.Err()
			}
			s, copied = nil, false
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("write user state: %w", err)
		}
		return s, next, nil
	}
}

// claim decides c for the user with compare-and-set, so replicas and
// concurrent deliveries see one another's marks. It starts from s at rev
// (see updateFrom) and returns the state and revision now stored.
func (u users) claim(ctx context.Context, userID string, c claim, s *userState, rev uint64) (decision, *userState, uint64, error) {
	var d decision
	s, rev, err := u.updateFrom(ctx, userID, s, rev, func(s *userState) bool {
		var changed bool
		d, changed = s.decide(c)
		return changed
	})
	return d, s, rev, err
}

// publish confirms trigger key's mark as a published link minted at.
func (u users) publish(ctx context.Context, userID, key string, at time.Time) error {
	_, err := u.update(ctx, userID, func(s *userState) bool {
		for i := range s.Links {
			if s.Links[i].Key == key {
				if s.Links[i].Published {
					return false
				}
				s.Links[i].Published, s.Links[i].At = true, at
				return true
			}
		}
		s.Links = append(s.Links, linkMark{Key: key, At: at, Published: true})
		return true
	})
	return err
}

// release drops trigger key's unpublished mark.
func (u users) release(ctx context.Context, userID, key string) error {
	_, err := u.update(ctx, userID, func(s *userState) bool {
		n := len(s.Links)
		s.Links = slices.DeleteFunc(s.Links, func(m linkMark) bool { return m.Key == key && !m.Published })
		return len(s.Links) != n
	})
	return err
}

// prune drops what no rule needs any more: a link once it counts neither
// for the cap (c.Window) nor as recent (c.RecentLink, which may be the
// longer), a call in flight older than the window or whose lease ended,
// except the claimant's own (its holder is back); it reports a change.
func (s *userState) prune(c claim) bool {
	n := len(s.Links)
	links := max(c.Window, c.RecentLink)
	s.Links = slices.DeleteFunc(s.Links, func(m linkMark) bool {
		if m.Published {
			return c.Now.Sub(m.At) >= links
		}
		return c.Now.Sub(m.At) >= c.Window || (m.Key != c.Key && !c.Now.Before(m.Lease))
	})
	return len(s.Links) != n
}

// inWindow counts the marks of the cap window ending at now.
func (s *userState) inWindow(now time.Time, window time.Duration) int {
	n := 0
	for _, m := range s.Links {
		if now.Sub(m.At) < window {
			n++
		}
	}
	return n
}

func (u users) setEnrolled(ctx context.Context, userID string, at time.Time) error {
	_, err := u.update(ctx, userID, func(s *userState) bool {
		if s.Enrolled {
			return false
		}
		s.Enrolled, s.EnrolledAt = true, at
		return true
	})
	return err
}

func (u users) setClosed(ctx context.Context, userID string) error {
	_, err := u.update(ctx, userID, func(s *userState) bool {
		if s.Closed {
			return false
		}
		s.Closed = true
		return true
	})
	return err
}

func (u users) setSCANotRequired(ctx context.Context, userID string) error {
	_, err := u.update(ctx, userID, func(s *userState) bool {
		if s.SCANotRequired {
			return false
		}
		s.SCANotRequired = true
		return true
	})
	return err
}
