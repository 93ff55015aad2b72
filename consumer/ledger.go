package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/events"
)

// LedgerEntry is a trigger's ledger record, in the KV bucket
// Config.LedgerBucket under the key events.KeyOf(source, id). The worker
// writes it with compare-and-set at every step, so a redelivery, a replay
// or a second replica sees what was done and by whom; operator tools only
// read it.
//
// A trigger is pending while Outcome is empty. Once Outcome is set the
// trigger is decided. A dead letter's record is kept in Pending until
// JetStream acknowledged it, so a crash between the record and the publish
// is finished by the next delivery with the very same message id. A link
// is recorded by Sent, without the link itself (its token never enters the
// ledger), and the entry is not written again after the publish: a
// redelivery of the deciding message looks for the event in the links
// stream and, if the publish never happened, reads the link back from
// Mangopay (GET /responses/{key}) and publishes it with the same id.
type LedgerEntry struct {
	Outcome string `json:"outcome,omitempty"`
	Reason  string `json:"reason,omitempty"`

	Type      string `json:"type,omitempty"`
	EventID   string `json:"event_id,omitempty"`
	UserID    string `json:"user_id,omitempty"`
	StreamSeq uint64 `json:"stream_seq,omitempty"`

	// Attempts counts deliveries that did work on the trigger.
	Attempts       int       `json:"attempts"`
	FirstAttemptAt time.Time `json:"first_attempt_at"`
	LastAttemptAt  time.Time `json:"last_attempt_at"`
	// Seq is the first Idempotency-Key sequence not known to be spent.
	Seq int `json:"seq,omitempty"`
	// LastError is the last failure's text (no secrets); LastFault says
	// it was a deployment-wide fault, which never spends the budget.
	LastError string `json:"last_error,omitempty"`
	LastFault bool   `json:"last_fault,omitempty"`

	// Pending is the outcome event not yet acknowledged by JetStream (a
	// dead letter's record; a link's, for entries written before Sent).
	Pending *PendingEvent `json:"pending,omitempty"`
	// Sent is what a link outcome publishes, short of the link.
	Sent *SentLink `json:"sent,omitempty"`
	// LinkID and ExpiresAt describe the published link, if any.
	LinkID    string    `json:"link_id,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	DecidedAt time.Time `json:"decided_at,omitzero"`

	// ReplaySeq is the stream sequence of the replayed copy (Sca-Replay)
	// that last reopened a decided skip, dlq or state outcome; a
	// redelivery of that copy is then a duplicate, not another reopening.
	ReplaySeq uint64 `json:"replay_seq,omitempty"`
	// RedrivenTo is the id of the redriven copy whose outcome this entry
	// took (on the entry of the trigger that was dead-lettered).
	RedrivenTo string `json:"redriven_to,omitempty"`
}

// PendingEvent is an outcome event recorded before it is published. Its
// Body may hold a link's token: it leaves the ledger once published.
type PendingEvent struct {
	Stream  string `json:"stream"`
	Subject string `json:"subject"`
	// RecordedAt is when the event was recorded, just before its first publish.
	RecordedAt time.Time `json:"recorded_at"`
	MsgID      string    `json:"msg_id"`
	Body       []byte    `json:"body"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"` // links only: the message TTL ends here
}

// SentLink is the send-link event of a link outcome as recorded before its
// first publish, without the link (whose token never enters the ledger):
// with the trigger's event and Mangopay's stored answer to the key KeySeq
// it rebuilds the very same event. Its message id is the entry's LinkID,
// its TTL ends at the entry's ExpiresAt.
type SentLink struct {
	Stream  string `json:"stream"`
	Subject string `json:"subject"`
	// RecordedAt is when the event was recorded: its time.
	RecordedAt time.Time `json:"recorded_at"`
	// StreamSeq is the sequence of the trigger message whose delivery
	// decided the link. That message is acknowledged only once the event is
	// published, so only its redelivery may have to publish it again; any
	// other copy of the trigger is a duplicate.
	StreamSeq uint64 `json:"stream_seq"`
	// KeySeq is the Idempotency-Key sequence whose answer holds the link.
	KeySeq int    `json:"key_seq"`
	Locale string `json:"locale,omitempty"`
	Email  string `json:"email,omitempty"`
}

// ledger stores entries in a KV bucket.
type ledger struct {
	kv jetstream.KeyValue
}

// encoders encode ledger entries into buffers reused across writes.
var encoders = sync.Pool{New: func() any {
	e := new(entryEncoder)
	e.enc = json.NewEncoder(&e.buf)
	return e
}}

// entryEncoder is a buffer and a JSON encoder writing into it.
type entryEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// encode encodes e as json.Marshal would and returns the bytes, valid
// until the encoder is used again.
func (x *entryEncoder) encode(e *LedgerEntry) ([]byte, error) {
	x.buf.Reset()
	if err := x.enc.Encode(e); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(x.buf.Bytes(), []byte("\n")), nil
}

// errConflict means another writer changed the entry first.
var errConflict = errors.New("ledger entry changed concurrently")

// get returns the entry and its revision; a missing entry is (nil, 0, nil).
func (l ledger) get(ctx context.Context, key string) (*LedgerEntry, uint64, error) {
	kve, err := l.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read ledger: %w", err)
	}
	var e LedgerEntry
	if err := json.Unmarshal(kve.Value(), &e); err != nil {
		return nil, 0, fmt.Errorf("decode ledger entry %s: %w", key, err)
	}
	return &e, kve.Revision(), nil
}

// put writes e with compare-and-set: rev 0 creates the key. It returns the
// new revision, or errConflict when another writer got there first.
func (l ledger) put(ctx context.Context, key string, e *LedgerEntry, rev uint64) (uint64, error) {
	enc := encoders.Get().(*entryEncoder)
	defer encoders.Put(enc)
	b, err := enc.encode(e)
	if err != nil {
		return 0, fmt.Errorf("encode ledger entry: %w", err)
	}
	// The connection copies b before the write returns: enc is free again after it.
	if rev == 0 {
		rev, err = l.kv.Create(ctx, key, b)
	} else {
		rev, err = l.kv.Update(ctx, key, b, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, errConflict
	}
	if err != nil {
		return 0, fmt.Errorf("write ledger: %w", err)
	}
	return rev, nil
}

// Ledger is the ledger as the operator tools see it: they read entries,
// and `dlq redrive` marks an original for its copy ([Ledger.MarkRedrive]).
// A nil *Ledger (no bucket yet) has no entries.
type Ledger struct{ l ledger }

// OpenLedger binds the ledger bucket cfg.LedgerBucket. It never creates
// it: only the worker provisions it. A missing bucket is (nil, nil):
// nothing was decided yet.
func OpenLedger(ctx context.Context, js jetstream.JetStream, cfg Config) (*Ledger, error) {
	cfg = cfg.Defaults()
	kv, err := js.KeyValue(ctx, cfg.LedgerBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("SCA_LEDGER_BUCKET: look up bucket %s: %w", cfg.LedgerBucket, err)
	}
	return &Ledger{l: ledger{kv: kv}}, nil
}

// Entry returns the entry at key (see [TriggerKey]); nil when there is
// none.
func (l *Ledger) Entry(ctx context.Context, key string) (*LedgerEntry, error) {
	if l == nil {
		return nil, nil
	}
	e, _, err := l.l.get(ctx, key)
	return e, err
}

// TriggerKey is the ledger key of the message at seq of stream, decoded
// as ev (nil when invalid, decErr saying why), and the event id that
// could be read: events.KeyOf(source, id) when both could be read, else
// the key of its place in the stream, events.KeyOf("nats:<stream>", seq).
// The worker and the operator tools find a trigger's entry through it.
func TriggerKey(stream string, seq uint64, ev *events.Trigger, decErr error) (key, eventID string) {
	if ev != nil && decErr == nil {
		return ev.Key(), ev.ID
	}
	key = events.KeyOf("nats:"+stream, strconv.FormatUint(seq, 10))
	var inv *events.InvalidError
	if errors.As(decErr, &inv) {
		eventID = inv.EventID
		if inv.Key != "" {
			key = inv.Key
		}
	}
	return key, eventID
}
