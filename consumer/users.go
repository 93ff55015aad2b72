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
	// Links are the links of the cap window, by trigger: a mark is taken
	// before a session is requested (so replicas cannot overrun the cap
	// together), confirmed when the link is published, and dropped when
	// the trigger ends without a link.
	Links []linkMark `json:"links,omitempty"`
}

type linkMark struct {
	Key       string    `json:"key"`
	At        time.Time `json:"at"`
	Published bool      `json:"published,omitempty"`
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

// users stores userState in a KV bucket.
type users struct {
	kv jetstream.KeyValue
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
	for {
		s, rev, err := u.get(ctx, userID)
		if err != nil {
			return nil, err
		}
		if !fn(s) {
			return s, nil
		}
		b, err := json.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("encode user state: %w", err)
		}
		if rev == 0 {
			_, err = u.kv.Create(ctx, userID, b)
		} else {
			_, err = u.kv.Update(ctx, userID, b, rev)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("write user state: %w", err)
		}
		return s, nil
	}
}

// reserve takes a link mark for trigger key unless the user already has
// cap marks in the window ending at now. It reports whether the trigger
// holds a mark afterwards (a trigger that already held one keeps it).
func (u users) reserve(ctx context.Context, userID, key string, now time.Time, capacity int, window time.Duration) (bool, error) {
	ok := false
	_, err := u.update(ctx, userID, func(s *userState) bool {
		changed := s.prune(now, window)
		if slices.ContainsFunc(s.Links, func(m linkMark) bool { return m.Key == key }) {
			ok = true
			return changed
		}
		if len(s.Links) >= capacity {
			ok = false
			return changed
		}
		s.Links = append(s.Links, linkMark{Key: key, At: now})
		ok = true
		return true
	})
	return ok, err
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

// prune drops marks older than the window; it reports a change.
func (s *userState) prune(now time.Time, window time.Duration) bool {
	n := len(s.Links)
	s.Links = slices.DeleteFunc(s.Links, func(m linkMark) bool { return now.Sub(m.At) >= window })
	return len(s.Links) != n
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
