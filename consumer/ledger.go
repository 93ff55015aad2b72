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
	"unicode/utf8"

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
	bucket
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
	out []byte
}

// encode encodes e as json.Marshal would and returns the bytes, valid
// until the encoder is used again. An entry's own fields are appended
// directly (a skip's entry is most writes); its pending or sent event,
// and a time json.Marshal would refuse, go through encoding/json.
func (x *entryEncoder) encode(e *LedgerEntry) ([]byte, error) {
	if !rfc3339(e.FirstAttemptAt) || !rfc3339(e.LastAttemptAt) || !rfc3339(e.ExpiresAt) || !rfc3339(e.DecidedAt) {
		return x.encodeJSON(e)
	}
	b := append(x.out[:0], '{')
	field := func(name string) {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
	}
	str := func(name, v string) {
		if v != "" {
			field(name)
			b = appendJSONString(b, v)
		}
	}
	str("outcome", e.Outcome)
	str("reason", e.Reason)
	str("type", e.Type)
	str("event_id", e.EventID)
	str("user_id", e.UserID)
	if e.StreamSeq != 0 {
		field("stream_seq")
		b = strconv.AppendUint(b, e.StreamSeq, 10)
	}
	field("attempts")
	b = strconv.AppendInt(b, int64(e.Attempts), 10)
	field("first_attempt_at")
	b = appendJSONTime(b, e.FirstAttemptAt)
	field("last_attempt_at")
	b = appendJSONTime(b, e.LastAttemptAt)
	if e.Seq != 0 {
		field("seq")
		b = strconv.AppendInt(b, int64(e.Seq), 10)
	}
	str("last_error", e.LastError)
	if e.LastFault {
		field("last_fault")
		b = append(b, "true"...)
	}
	// The events of links and dead letters, less frequent, through encoding/json.
	for _, v := range []struct {
		name  string
		value any
		set   bool
	}{{"pending", e.Pending, e.Pending != nil}, {"sent", e.Sent, e.Sent != nil}} {
		if !v.set {
			continue
		}
		x.buf.Reset()
		if err := x.enc.Encode(v.value); err != nil {
			return nil, err
		}
		field(v.name)
		b = append(b, bytes.TrimSuffix(x.buf.Bytes(), []byte("\n"))...)
	}
	str("link_id", e.LinkID)
	if !e.ExpiresAt.IsZero() {
		field("expires_at")
		b = appendJSONTime(b, e.ExpiresAt)
	}
	if !e.DecidedAt.IsZero() {
		field("decided_at")
		b = appendJSONTime(b, e.DecidedAt)
	}
	if e.ReplaySeq != 0 {
		field("replay_seq")
		b = strconv.AppendUint(b, e.ReplaySeq, 10)
	}
	str("redriven_to", e.RedrivenTo)
	b = append(b, '}')
	x.out = b
	return b, nil
}

// encodeJSON is encode through encoding/json.
func (x *entryEncoder) encodeJSON(e *LedgerEntry) ([]byte, error) {
	x.buf.Reset()
	if err := x.enc.Encode(e); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(x.buf.Bytes(), []byte("\n")), nil
}

// rfc3339 reports whether t is written by appendJSONTime exactly as
// time.Time's MarshalJSON writes it: a four-digit year and a zone offset
// in whole minutes.
func rfc3339(t time.Time) bool {
	_, offset := t.Zone()
	return t.Year() >= 0 && t.Year() <= 9999 && offset%60 == 0
}

// appendJSONTime appends t as time.Time's MarshalJSON does (see rfc3339).
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONString appends s as encoding/json writes a string: quoted,
// with <, > and & escaped, and invalid UTF-8 replaced.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
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
	e, err := decodeEntry(key, kve.Value())
	if err != nil {
		return nil, 0, err
	}
	return e, kve.Revision(), nil
}

// decodeEntry decodes the entry stored at key.
func decodeEntry(key string, b []byte) (*LedgerEntry, error) {
	var e LedgerEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decode ledger entry %s: %w", key, err)
	}
	return &e, nil
}

// found returns the entry a conflicting create of key found and read
// (see foundError), if err is such a conflict.
func found(key string, err error) (*LedgerEntry, uint64, bool) {
	var f *foundError
	if !errors.As(err, &f) {
		return nil, 0, false
	}
	e, derr := decodeEntry(key, f.value)
	if derr != nil {
		return nil, 0, false
	}
	return e, f.rev, true
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
	rev, err = l.write(ctx, key, b, rev)
	if errors.Is(err, errConflict) {
		return 0, err // errConflict, or a foundError that wraps it
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
	return &Ledger{l: ledger{bucket{kv: kv}}}, nil
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
