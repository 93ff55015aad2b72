package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/events"
)

// MarkerTTL is the life of a marker in the hooks bucket: longer than [MaxAge] plus
// [MaxSkew], so every hook that can still be accepted (or backfilled) finds the marker of
// its first copy.
const MarkerTTL = events.HookIDRetention

// Who stored a hook, in its marker.
const (
	ByWebhook  = "webhook"
	ByBackfill = "backfill"
)

// Marker is the value kept under a hook's id in the hooks bucket.
type Marker struct {
	StoredAt time.Time `json:"stored_at"`
	By       string    `json:"by"` // ByWebhook or ByBackfill
}

// Stored is what [Store.Put] did.
type Stored struct {
	// ID is the trigger's id ([Hook.ID]).
	ID string
	// Duplicate is true when the hook was already stored (its marker existed, or JetStream
	// recognised the message id): nothing new was written to the stream.
	Duplicate bool
	// Seq is the stream sequence of the stored trigger (0 when the marker already existed).
	Seq uint64
	// MarkErr is set when the trigger was stored but its marker could not be written. The
	// hook is safe and counts as stored: a later copy is dropped by JetStream's message id
	// or recorded as a duplicate by the consumer's ledger. Log it.
	MarkErr error
}

// Store writes hooks to the trigger stream once each. It is safe for concurrent use and
// is shared by the webhook ingress and backfill, so both write the very same ids and
// markers.
type Store struct {
	js       jetstream.JetStream
	kv       jetstream.KeyValue
	subjects events.Subjects
	stream   string
	now      func() time.Time
}

// NewStore returns a Store that publishes on subjects (their trigger subjects), expects
// the stream named stream to take them ("" skips the check), and keeps markers in kv.
// now nil means time.Now.
func NewStore(js jetstream.JetStream, kv jetstream.KeyValue, subjects events.Subjects, stream string, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{js: js, kv: kv, subjects: subjects, stream: stream, now: now}
}

// publishRetryWait is the pause between publish attempts while no JetStream server
// answers (a leader election, a restarting server): the publish keeps trying until the
// caller's deadline instead of failing at the first "no responders".
const publishRetryWait = 50 * time.Millisecond

// Put stores h once: when its marker is in the bucket it returns Duplicate without
// writing; else it publishes the trigger ([events.EncodeHookEvent]) with Nats-Msg-Id =
// id, then creates the marker (by is [ByWebhook] or [ByBackfill]).
//
// Publish first, mark second: a crash (or a failure) between the two leaves a stored
// trigger without a marker, and the next copy is published again — within JetStream's
// duplicate window it is dropped by the message id, past it the consumer's ledger sees
// the same (source, id) and records a duplicate outcome. The other order could mark a hook
// that was never stored, and every resend would then be dropped: a lost hook. Put returns
// an error only when the trigger is not known to be stored (ctx's deadline included); a
// failure to write the marker after a successful publish is reported in Stored.MarkErr.
func (s *Store) Put(ctx context.Context, h Hook, by string) (Stored, error) {
	id := h.ID()
	out := Stored{ID: id}
	switch _, err := s.kv.Get(ctx, id); {
	case err == nil:
		out.Duplicate = true
		return out, nil
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
	case ctx.Err() != nil:
		return out, fmt.Errorf("look up hook marker: %w", ctx.Err())
	default:
		// The marker cannot be read (JetStream unavailable?): publishing is still safe
		// (message id, then ledger), and it decides whether the hook is stored.
	}
	typ, evID, body, err := events.EncodeHookEvent(h.EventType, h.UserID, h.Date, s.now())
	if err != nil {
		return out, err
	}
	if evID != id {
		return out, fmt.Errorf("encode hook event: id %s differs from the hook's %s (date %q not canonical)", evID, id, h.RawDate)
	}
	subject, ok := s.subjects.SubjectFor(typ)
	if !ok {
		return out, fmt.Errorf("no subject configured for %s", typ)
	}
	opts := []jetstream.PublishOpt{
		jetstream.WithMsgID(id),
		jetstream.WithRetryWait(publishRetryWait),
		jetstream.WithRetryAttempts(1 << 20), // bounded by ctx
	}
	if s.stream != "" {
		opts = append(opts, jetstream.WithExpectStream(s.stream))
	}
	ack, err := s.js.Publish(ctx, subject, body, opts...)
	if err != nil {
		return out, fmt.Errorf("publish hook %s: %w", id, err)
	}
	out.Seq, out.Duplicate = ack.Sequence, ack.Duplicate
	out.MarkErr = s.mark(ctx, id, by)
	return out, nil
}

func (s *Store) mark(ctx context.Context, id, by string) error {
	val, err := json.Marshal(Marker{StoredAt: s.now().UTC().Truncate(time.Second), By: by})
	if err != nil {
		return err
	}
	_, err = s.kv.Create(ctx, id, val)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil // a concurrent copy (or backfill) marked it first
	}
	return err
}
