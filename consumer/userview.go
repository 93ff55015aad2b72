package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// UserView is what the worker remembers of one user, as the operator
// tools read it (the per-user rules themselves stay in users.go).
type UserView struct {
	Enrolled       bool
	EnrolledAt     time.Time
	Closed         bool
	SCANotRequired bool
	// Links are the user's triggers that claimed a link within the cap
	// window (Config.UserCapWindow), oldest first: Key is the trigger's
	// ledger key, Published says the link was minted (else the call is in
	// flight until Lease).
	Links []UserLink
}

// UserLink is one mark of [UserView.Links].
type UserLink struct {
	Key       string
	At        time.Time
	Published bool
	Lease     time.Time
}

// ReadUser returns what the worker remembers of userID: one read of its
// entry in cfg.UsersBucket. It never creates the bucket; a missing bucket
// or entry is (nil, nil).
func ReadUser(ctx context.Context, js jetstream.JetStream, cfg Config, userID string) (*UserView, error) {
	cfg = cfg.Defaults()
	kv, err := js.KeyValue(ctx, cfg.UsersBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("SCA_USERS_BUCKET: look up bucket %s: %w", cfg.UsersBucket, err)
	}
	s, rev, err := users{bucket{kv: kv}}.get(ctx, userID)
	if err != nil || rev == 0 {
		return nil, err
	}
	v := &UserView{Enrolled: s.Enrolled, EnrolledAt: s.EnrolledAt, Closed: s.Closed, SCANotRequired: s.SCANotRequired}
	for _, m := range s.Links {
		v.Links = append(v.Links, UserLink{Key: m.Key, At: m.At, Published: m.Published, Lease: m.Lease})
	}
	return v, nil
}
