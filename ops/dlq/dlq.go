package dlq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/ops"
	"github.com/scaworker/scaworker/ops/audit"
)

// MaxRedrives is the most redrives of one dead-lettered trigger (one
// root id): the next one is refused, so nothing loops.
const MaxRedrives = 5

// RedriveState is the mark of a redriven dead letter, kept in
// SCA_OPS_BUCKET under [StateKey] of its DLQ stream sequence.
type RedriveState struct {
	// Redriven is the redrive count n of the event published for it (its
	// id ends in ".redrive-<n>").
	Redriven   int       `json:"redriven"`
	RedrivenAt time.Time `json:"redriven_at"`
	RedriveID  string    `json:"redrive_id"`
	// Pending is set while the event is not yet acknowledged by JetStream
	// (the mark is written before the publish); the next redrive finishes
	// it with the same id.
	Pending  bool   `json:"pending,omitempty"`
	Operator string `json:"operator,omitempty"`
}

// StateKey is the SCA_OPS_BUCKET key of the mark of the dead letter at
// DLQ stream sequence seq: "dlq.<seq>".
func StateKey(seq uint64) string { return "dlq." + strconv.FormatUint(seq, 10) }

// Record is one dead letter as stored in the DLQ stream.
type Record struct {
	Seq     uint64
	Stored  time.Time // when the DLQ stream stored it
	Subject string    // the DLQ subject
	// ID is the record's CloudEvents id; "" when unreadable.
	ID string
	// DeadLetter is the decoded record; nil when it could not be decoded
	// (DecodeError says why): such a record can be listed and purged only.
	DeadLetter  *events.DeadLetter
	DecodeError string
	// Event is what could be read of the original event.
	Event OriginalEvent
	// State is the record's redrive mark; nil when never redriven.
	State *RedriveState
}

// OriginalEvent is what could be read of a dead letter's original event,
// leniently: fields that are absent or not strings are "".
type OriginalEvent struct {
	ID, Source, Type string
	// UserID is data.user_id, even when the event was invalid.
	UserID string
	// CloudEvent reports that the body has a valid CloudEvents envelope
	// (specversion 1.0, id, source, type), so a redrive can give it a new id.
	CloudEvent bool
	// RedriveOf and RedriveCount are the redrive headers it carried (it was
	// itself a redrive): the root id and the count so far.
	RedriveOf    string
	RedriveCount int
	// ExtRedriveOf is its scaredriveof extension, when present.
	ExtRedriveOf string
}

// OriginalSubject is the subject the original event was received on.
func (r *Record) OriginalSubject() string {
	if r.DeadLetter != nil && r.DeadLetter.Original.Subject != "" {
		return r.DeadLetter.Original.Subject
	}
	return ""
}

// Reason is the record's DLQ reason, "?" when it could not be decoded.
func (r *Record) Reason() string {
	if r.DeadLetter == nil {
		return "?"
	}
	return r.DeadLetter.Reason
}

// EventID is the original event's id as the record tells it.
func (r *Record) EventID() string {
	if r.DeadLetter != nil && r.DeadLetter.EventID != "" {
		return r.DeadLetter.EventID
	}
	return r.Event.ID
}

// StateText is the record's state for a table: "" (never redriven),
// "redriven <n>", or "redriving <n>" while a redrive is unfinished.
func (r *Record) StateText() string {
	switch {
	case r.State == nil:
		return ""
	case r.State.Pending:
		return "redriving " + strconv.Itoa(r.State.Redriven)
	default:
		return "redriven " + strconv.Itoa(r.State.Redriven)
	}
}

// MentionsUser reports whether the record concerns user: the original
// event's data.user_id is user, or user appears as a whole token (not
// inside a longer run of [A-Za-z0-9_-]) in the original body or headers.
func (r *Record) MentionsUser(user string) bool {
	if user == "" {
		return false
	}
	if r.Event.UserID == user {
		return true
	}
	return r.DeadLetter != nil && namesToken(r.DeadLetter.Original, user)
}

// namesToken reports whether user appears as a whole token in the body or
// the headers of o.
func namesToken(o events.Original, user string) bool {
	if containsToken(o.Body, user) {
		return true
	}
	for _, vs := range o.Headers {
		for _, v := range vs {
			if containsToken([]byte(v), user) {
				return true
			}
		}
	}
	return false
}

func containsToken(b []byte, tok string) bool {
	for i := 0; i <= len(b)-len(tok); {
		j := bytes.Index(b[i:], []byte(tok))
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(tok)
		if (start == 0 || !isIDByte(b[start-1])) && (end == len(b) || !isIDByte(b[end])) {
			return true
		}
		i = start + 1
	}
	return false
}

func isIDByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// Filter selects dead letters. Set fields combine with AND. [Tools.List]
// reads an empty filter as "all"; [Tools.Redrive] and [Tools.Purge] refuse it
// (All says "all" explicitly).
type Filter struct {
	Reason string    // DLQ reason code, exact
	User   string    // see [Record.MentionsUser]
	Since  time.Time // stored at or after
	Until  time.Time // stored before
	Seqs   []uint64  // DLQ stream sequences
	All    bool
}

// Empty reports whether f selects nothing because no criterion is set.
func (f Filter) Empty() bool {
	return !f.All && f.Reason == "" && f.User == "" && f.Since.IsZero() && f.Until.IsZero() && len(f.Seqs) == 0
}

func (f Filter) match(r *Record) bool {
	switch {
	case f.Reason != "" && r.Reason() != f.Reason:
		return false
	case f.User != "" && !r.MentionsUser(f.User):
		return false
	case !f.Since.IsZero() && r.Stored.Before(f.Since):
		return false
	case !f.Until.IsZero() && !r.Stored.Before(f.Until):
		return false
	case len(f.Seqs) > 0 && !slices.Contains(f.Seqs, r.Seq):
		return false
	}
	return true
}

// Config is what the dead-letter tools work on and with.
type Config struct {
	// Layout names the streams, the buckets and the subjects (zero fields
	// take consumer.Config's defaults).
	Layout consumer.Config
	// Log receives the audit lines; nil means none.
	Log *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Operator names who runs the tool (e.g. $USER) in audit lines and marks.
	Operator string
}

// Tools are the dead-letter tools of one deployment.
type Tools struct {
	js       jetstream.JetStream
	ledger   *consumer.Ledger // bound by Redrive
	cfg      consumer.Config
	log      *zap.Logger
	now      func() time.Time
	operator string
}

// New returns the dead-letter tools for cfg.
func New(js jetstream.JetStream, cfg Config) *Tools {
	d := &Tools{js: js, cfg: cfg.Layout.Defaults(), log: cfg.Log, now: cfg.Now, operator: cfg.Operator}
	if d.log == nil {
		d.log = zap.NewNop()
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// List returns the dead letters selected by f (an empty filter selects
// all), oldest first; with limit > 0 only the newest limit of them.
func (d *Tools) List(ctx context.Context, f Filter, limit int) ([]Record, error) {
	recs, _, err := d.Newest(ctx, f, limit)
	return recs, err
}

// Newest returns the newest limit dead letters selected by f (an empty
// filter selects all; limit 0 means all of them), oldest first, and
// whether more records match. With a limit it reads the stream backwards
// in windows from its end and stops once it has limit+1 matches, so it
// decodes about limit records, not the whole stream, and holds at most a
// window of them.
func (d *Tools) Newest(ctx context.Context, f Filter, limit int) ([]Record, bool, error) {
	kv, err := d.opsKV(ctx, false)
	if err != nil {
		return nil, false, err
	}
	var out []Record
	keep := func(r *Record) error {
		if err := d.attachState(ctx, kv, r); err != nil {
			return err
		}
		out = append(out, *r)
		return nil
	}
	if limit <= 0 {
		_, err := d.each(ctx, f, 0, keep)
		if err != nil {
			return nil, false, fmt.Errorf("list dead letters: %w", err)
		}
		return out, false, nil
	}
	st, err := d.js.Stream(ctx, d.cfg.DLQStream)
	if err != nil {
		return nil, false, fmt.Errorf("SCA_DLQ_STREAM: stream %s: %w", d.cfg.DLQStream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("SCA_DLQ_STREAM: stream %s: %w", d.cfg.DLQStream, err)
	}
	if info.State.Msgs == 0 {
		return nil, false, nil
	}
	first, hi := info.State.FirstSeq, info.State.LastSeq
	window := uint64(min(max(limit+1, 16), 256))
	var newest []Record // newest first
	for len(newest) <= limit {
		lo := first
		if hi-first+1 > window {
			lo = hi - window + 1
		}
		var batch []Record
		older := false // a record of the window is older than f.Since: nothing before it matches
		err := consumer.ReadStream(ctx, d.js, d.cfg.DLQStream, consumer.ReadOptions{StartSeq: lo, EndSeq: hi}, func(m consumer.StoredMsg) error {
			r := decodeRecord(m)
			if !f.Since.IsZero() && r.Stored.Before(f.Since) {
				older = true
			}
			if f.match(&r) {
				batch = append(batch, r)
			}
			return nil
		})
		if err != nil {
			return nil, false, fmt.Errorf("list dead letters: %w", err)
		}
		for i := len(batch) - 1; i >= 0 && len(newest) <= limit; i-- {
			newest = append(newest, batch[i])
		}
		if lo == first || older {
			break
		}
		hi = lo - 1
	}
	more := len(newest) > limit
	if more {
		newest = newest[:limit]
	}
	for i := len(newest) - 1; i >= 0; i-- {
		if err := keep(&newest[i]); err != nil {
			return nil, false, err
		}
	}
	return out, more, nil
}

// ErrNoRecord means there is no dead letter at the sequence asked for
// (never stored, purged, or expired).
var ErrNoRecord = errors.New("no dead letter at this sequence (purged, expired, or never stored)")

// Show returns the dead letter at DLQ stream sequence seq and, when the
// worker decided its root trigger, that trigger's ledger entry.
func (d *Tools) Show(ctx context.Context, seq uint64) (*Record, *consumer.LedgerEntry, error) {
	r, err := d.get(ctx, seq)
	if err != nil {
		return nil, nil, err
	}
	marks, err := d.opsKV(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	if err := d.attachState(ctx, marks, r); err != nil {
		return nil, nil, err
	}
	if r.Event.Source == "" {
		return r, nil, nil
	}
	l, err := consumer.OpenLedger(ctx, d.js, d.cfg)
	if err != nil {
		return nil, nil, err
	}
	root, _ := redriveRoot(r)
	le, err := l.Entry(ctx, events.KeyOf(r.Event.Source, root))
	if err != nil {
		return nil, nil, err
	}
	return r, le, nil
}

func (d *Tools) get(ctx context.Context, seq uint64) (*Record, error) {
	st, err := d.js.Stream(ctx, d.cfg.DLQStream)
	if err != nil {
		return nil, fmt.Errorf("SCA_DLQ_STREAM: stream %s: %w", d.cfg.DLQStream, err)
	}
	m, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("dead letter %d: %w", seq, ErrNoRecord)
	}
	if err != nil {
		return nil, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	r := decodeRecord(consumer.StoredMsg{Seq: m.Sequence, Subject: m.Subject, Time: m.Time, Header: m.Header, Data: m.Data})
	return &r, nil
}

// errStop ends a read early.
var errStop = errors.New("stop")

// each calls fn with every record f selects, oldest first, decoding one
// record at a time: by direct get when f names sequences, else by reading
// the stream up to upTo (0: the last record stored when it started). It
// returns the last sequence it considered. fn may return errStop to end
// early.
func (d *Tools) each(ctx context.Context, f Filter, upTo uint64, fn func(*Record) error) (uint64, error) {
	var last uint64
	if len(f.Seqs) > 0 {
		seqs := slices.Clone(f.Seqs)
		slices.Sort(seqs)
		for _, seq := range slices.Compact(seqs) {
			if upTo != 0 && seq > upTo {
				break
			}
			r, err := d.get(ctx, seq)
			if err != nil {
				return last, err
			}
			last = seq
			if !f.match(r) {
				continue
			}
			if err := fn(r); err != nil {
				if errors.Is(err, errStop) {
					return last, nil
				}
				return last, err
			}
		}
		return last, nil
	}
	err := consumer.ReadStream(ctx, d.js, d.cfg.DLQStream, consumer.ReadOptions{StartTime: f.Since, EndSeq: upTo}, func(m consumer.StoredMsg) error {
		last = m.Seq
		r := decodeRecord(m)
		if !f.match(&r) {
			return nil
		}
		return fn(&r)
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return last, err
}

// attachState reads the record's redrive mark from kv (nil: no bucket).
func (d *Tools) attachState(ctx context.Context, kv jetstream.KeyValue, r *Record) error {
	if kv == nil {
		return nil
	}
	e, err := kv.Get(ctx, StateKey(r.Seq))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read redrive mark %s: %w", StateKey(r.Seq), err)
	}
	var st RedriveState
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return fmt.Errorf("decode redrive mark %s: %w", StateKey(r.Seq), err)
	}
	r.State = &st
	return nil
}

func (d *Tools) opsKV(ctx context.Context, create bool) (jetstream.KeyValue, error) {
	if create {
		return consumer.OpsBucket(ctx, d.js, d.cfg)
	}
	kv, err := d.js.KeyValue(ctx, d.cfg.OpsBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("SCA_OPS_BUCKET: look up bucket %s: %w", d.cfg.OpsBucket, err)
	}
	return kv, nil
}

// count returns how many records f selects (at most limit when limit >
// 0) and the last stream sequence considered, which bounds the pass that
// acts on them: records stored later are not part of the selection.
func (d *Tools) count(ctx context.Context, f Filter, limit int) (int, uint64, error) {
	upTo := uint64(0)
	if len(f.Seqs) == 0 {
		st, err := d.js.Stream(ctx, d.cfg.DLQStream)
		if err != nil {
			return 0, 0, fmt.Errorf("SCA_DLQ_STREAM: stream %s: %w", d.cfg.DLQStream, err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("SCA_DLQ_STREAM: stream %s: %w", d.cfg.DLQStream, err)
		}
		if info.State.Msgs == 0 {
			return 0, 0, nil
		}
		upTo = info.State.LastSeq
	}
	n := 0
	last, err := d.each(ctx, f, upTo, func(*Record) error {
		n++
		if limit > 0 && n >= limit {
			return errStop
		}
		return nil
	})
	if len(f.Seqs) == 0 && (limit <= 0 || n < limit) {
		last = upTo
	}
	return n, last, err
}

// decodeRecord reads a DLQ message; what cannot be decoded is kept as text.
func decodeRecord(m consumer.StoredMsg) Record {
	r := Record{Seq: m.Seq, Stored: m.Time.UTC(), Subject: m.Subject}
	if env, err := events.DecodeEnvelope(m.Data); err == nil {
		r.ID = env.ID
	}
	dl, err := events.DecodeDeadLetter(m.Data)
	if err != nil {
		r.DecodeError = err.Error()
		return r
	}
	r.DeadLetter = dl
	r.Event = readOriginal(dl.Original)
	return r
}

// readOriginal reads what it can of an original event, leniently.
func readOriginal(o events.Original) OriginalEvent {
	var ev OriginalEvent
	h := nats.Header(o.Headers)
	ev.RedriveOf = h.Get(consumer.HeaderRedriveOf)
	if n, err := strconv.Atoi(h.Get(consumer.HeaderRedriveCount)); err == nil && n > 0 {
		ev.RedriveCount = n
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(o.Body, &m) != nil {
		return ev
	}
	str := func(raw json.RawMessage) string {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return s
	}
	ev.ID, ev.Source, ev.Type = str(m["id"]), str(m["source"]), str(m["type"])
	ev.ExtRedriveOf = str(m[consumer.ExtRedriveOf])
	var data map[string]json.RawMessage
	if json.Unmarshal(m["data"], &data) == nil {
		ev.UserID = str(data["user_id"])
	}
	_, err := events.DecodeEnvelope(o.Body)
	ev.CloudEvent = err == nil
	return ev
}

// Root returns the root id of the record's event (the id of the first
// dead-lettered trigger of its chain of redrives) and the redrive count so
// far; see [redriveRoot].
func (r *Record) Root() (root string, count int) { return redriveRoot(r) }

// redriveRoot returns the root id of a record's event (the id of the first
// dead-lettered trigger of its chain of redrives) and the redrive count so
// far. The Sca-Redrive-Of header wins, then the scaredriveof extension,
// then the event's own id; an event without a readable id is known by the
// record's id.
func redriveRoot(r *Record) (root string, count int) {
	switch {
	case r.Event.RedriveOf != "":
		root = r.Event.RedriveOf
	case r.Event.ExtRedriveOf != "":
		root = r.Event.ExtRedriveOf
	case r.EventID() != "":
		root = r.EventID()
	case r.ID != "":
		root = r.ID
	default:
		root = "dlq-" + strconv.FormatUint(r.Seq, 10)
	}
	return root, r.Event.RedriveCount
}

// RedriveID is the id of the n-th redrive of root: "<root>.redrive-<n>".
func RedriveID(root string, n int) string { return root + ".redrive-" + strconv.Itoa(n) }

// Redrive results.
const (
	RedriveDone     = "redriven"
	RedriveSkipped  = "skipped"
	RedriveRefused  = "refused"
	RedriveConflict = "conflict"
	// RedriveWould is the result of a record a dry run would redrive.
	RedriveWould = "would redrive"
)

// RedriveResult is what became of one selected record.
type RedriveResult struct {
	Seq       uint64
	EventID   string
	RedriveID string // the new id ("" when refused)
	Count     int    // n of the new id
	Result    string // RedriveDone, RedriveSkipped, RedriveRefused or RedriveConflict
	// Note explains skips and refusals, and warns about redrives that will
	// dead-letter again.
	Note string
	// AsIs reports that the body was not a CloudEvent and was redriven
	// byte for byte.
	AsIs bool
}

// RedriveOptions tune [Tools.RedriveWith].
type RedriveOptions struct {
	// Limit, when positive, redrives at most the first Limit selected
	// records (oldest first).
	Limit int
	// DryRun writes nothing (no mark, no publish): each result says what
	// would happen (RedriveWould instead of RedriveDone).
	DryRun bool
	// Confirm, when set, is asked with the number of selected records
	// before anything is written (not when none is selected, nor in a dry
	// run); an error stops the redrive with that error.
	Confirm func(n int) error
}

// Redrive is [Tools.RedriveWith] without options.
func (d *Tools) Redrive(ctx context.Context, f Filter) ([]RedriveResult, error) {
	return d.RedriveWith(ctx, f, RedriveOptions{})
}

// RedriveWith publishes the original events of the records f selects (f
// must not be empty) back to their original subjects as new triggers; see
// the package documentation. A record already redriven is skipped; one
// whose root was redriven [MaxRedrives] times is refused. It returns one
// result per selected record, in stream order; the error is for failures
// that stop it (the results so far are returned too). It reads the
// stream twice, one record at a time (to count for o.Confirm, then to
// redrive), never holding the selection's bodies.
func (d *Tools) RedriveWith(ctx context.Context, f Filter, o RedriveOptions) ([]RedriveResult, error) {
	if f.Empty() {
		return nil, errors.New("redrive: select records by reason, user, sequence, or all")
	}
	n, upTo, err := d.count(ctx, f, o.Limit)
	if err != nil {
		return nil, fmt.Errorf("redrive: %w", err)
	}
	if n == 0 {
		return nil, nil
	}
	if o.Confirm != nil && !o.DryRun {
		if err := o.Confirm(n); err != nil {
			return nil, err
		}
	}
	var kv jetstream.KeyValue
	if o.DryRun {
		kv, err = d.opsKV(ctx, false) // a dry run creates nothing
	} else {
		kv, err = consumer.OpsBucket(ctx, d.js, d.cfg)
	}
	if err != nil {
		return nil, err
	}
	if d.ledger, err = consumer.OpenLedger(ctx, d.js, d.cfg); err != nil {
		return nil, err
	}
	var out []RedriveResult
	_, err = d.each(ctx, f, upTo, func(r *Record) error {
		res, err := d.redriveOne(ctx, kv, r, o.DryRun)
		out = append(out, res)
		if err != nil {
			return fmt.Errorf("redrive dead letter %d: %w", r.Seq, err)
		}
		if o.Limit > 0 && len(out) >= o.Limit {
			return errStop
		}
		return nil
	})
	return out, err
}

// redriveOne redrives one record; with dryRun it decides the same way
// and stops before the first write. kv is nil in a dry run without the
// ops bucket.
func (d *Tools) redriveOne(ctx context.Context, kv jetstream.KeyValue, r *Record, dryRun bool) (RedriveResult, error) {
	res := RedriveResult{Seq: r.Seq, EventID: r.EventID()}
	if r.DeadLetter == nil {
		res.Result, res.Note = RedriveRefused, "record cannot be decoded ("+r.DecodeError+"); purge it"
		return res, nil
	}
	subject := r.OriginalSubject()
	if subject == "" {
		subject, _ = d.cfg.Subjects.OriginalSubject(r.Subject)
	}
	key := StateKey(r.Seq)
	var rev uint64
	var st RedriveState
	var e jetstream.KeyValueEntry
	var err error = jetstream.ErrKeyNotFound
	if kv != nil {
		e, err = kv.Get(ctx, key)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
	case err != nil:
		return res, fmt.Errorf("read redrive mark: %w", err)
	default:
		if err := json.Unmarshal(e.Value(), &st); err != nil {
			return res, fmt.Errorf("decode redrive mark %s: %w", key, err)
		}
		rev = e.Revision()
	}
	root, prev := redriveRoot(r)
	if rev != 0 && !st.Pending {
		res.Result, res.RedriveID, res.Count = RedriveSkipped, st.RedriveID, st.Redriven
		res.Note = "already redriven (to " + st.RedriveID + "); if that dead-lettered again, redrive its new record"
		return res, nil
	}
	if rev == 0 {
		n := prev + 1
		if n > MaxRedrives {
			res.Result = RedriveRefused
			res.Note = fmt.Sprintf("event %s was redriven %d times already, the most allowed; fix the cause and publish it anew, or purge it", root, prev)
			return res, nil
		}
		st = RedriveState{Redriven: n, RedrivenAt: d.now().UTC(), RedriveID: RedriveID(root, n), Pending: true, Operator: d.operator}
	}
	// The original's ledger entry names the copy that may decide the
	// lineage before the copy exists (an event that is not a CloudEvent
	// has no identity to mark: its copy dead-letters as invalid again).
	// A dry run asks the same question without writing the answer.
	if r.Event.CloudEvent {
		from := ""
		if prev > 0 {
			from = r.EventID()
		}
		mark := d.ledger.MarkRedrive
		if dryRun {
			mark = d.ledger.CheckRedrive
		}
		err := mark(ctx, r.Event.Source, root, from, st.RedriveID, r.Reason())
		if errors.Is(err, consumer.ErrNotDeadLettered) || errors.Is(err, consumer.ErrRedrivenElsewhere) {
			res.Result = RedriveRefused
			res.Note = fmt.Sprintf("event %s is %v; its lineage has its outcome (see `dlq show %d`)", root, err, r.Seq)
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("mark %s in the ledger: %w", root, err)
		}
	}
	if dryRun {
		res.Result, res.RedriveID, res.Count = RedriveWould, st.RedriveID, st.Redriven
		return res, nil
	}
	if rev == 0 {
		b, _ := json.Marshal(st)
		rev, err = kv.Create(ctx, key, b)
		if errors.Is(err, jetstream.ErrKeyExists) {
			res.Result, res.Note = RedriveConflict, "redriven concurrently by someone else; run the redrive again to see"
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("write redrive mark: %w", err)
		}
	}
	// The mark is written: from here on this record's redrive is st.RedriveID.
	res.RedriveID, res.Count = st.RedriveID, st.Redriven
	body, asIs := redriveBody(r.DeadLetter.Original.Body, st.RedriveID, root)
	res.AsIs = asIs
	msg := &nats.Msg{Subject: subject, Header: redriveHeaders(r.DeadLetter.Original.Headers, root, st.Redriven), Data: body}
	if _, err := d.js.PublishMsg(ctx, msg, jetstream.WithMsgID(st.RedriveID)); err != nil {
		return res, fmt.Errorf("publish %s to %s (the mark stays pending; run the redrive again): %w", st.RedriveID, subject, err)
	}
	st.Pending = false
	b, _ := json.Marshal(st)
	if _, err := kv.Update(ctx, key, b, rev); err != nil {
		return res, fmt.Errorf("published %s, but the redrive mark was not updated: %w", st.RedriveID, err)
	}
	res.Result = RedriveDone
	if asIs {
		res.Note = "not a CloudEvent: redriven byte for byte; it will dead-letter again unless its publisher or the configuration was fixed"
	}
	d.log.Info("dlq redrive",
		zap.Uint64("seq", r.Seq), zap.String("event_id", r.EventID()), zap.String("redrive_id", st.RedriveID),
		zap.Int("redrive_count", st.Redriven), zap.String("reason", r.Reason()), zap.String("subject", subject),
		zap.Bool("as_is", asIs), zap.String("operator", d.operator))
	return res, nil
}

// redriveBody returns the body of a redrive: the CloudEvent with its id
// set to newID and the extension scaredriveof = root, or the original
// bytes when body is not a CloudEvent (asIs true).
func redriveBody(body []byte, newID, root string) (out []byte, asIs bool) {
	if _, err := events.DecodeEnvelope(body); err != nil {
		return body, true
	}
	out, err := consumer.RewriteID(body, newID, consumer.ExtRedriveOf, root)
	if err != nil {
		return body, true
	}
	return out, false
}

// redriveHeaders are the headers of a redrive: the original's (see
// consumer.RepublishHeader) with the redrive headers.
func redriveHeaders(orig map[string][]string, root string, n int) nats.Header {
	h := consumer.RepublishHeader(orig)
	h.Set(consumer.HeaderRedriveOf, root)
	h.Set(consumer.HeaderRedriveCount, strconv.Itoa(n))
	return h
}

// PurgeOptions tune [Tools.Purge].
type PurgeOptions struct {
	// Confirm is asked with what the purge would do (the counts of a dry
	// run) before anything is deleted (nil: no question; not asked when
	// nothing is selected, nor in a dry run); an error stops the purge.
	Confirm func(preview PurgeResult) error
	// Secure erases with SecureDeleteMsg (overwritten on disk). Always on
	// when the filter selects by user (personal-data erasure).
	Secure bool
	// OlderThan is shown in the audit line when the selection is by age.
	OlderThan time.Duration
	// Limit, when positive, purges at most the first Limit selected
	// records (oldest first). It does not apply to what a purge by user
	// erases beyond the dead letters.
	Limit int
	// DryRun deletes nothing: the result counts what would be.
	DryRun bool
}

// PurgeResult counts what a purge did (or, in a dry run, would do).
type PurgeResult struct {
	Selected int
	Deleted  int
	Gone     int // already deleted when their turn came
	Secure   bool
	DryRun   bool
	// Erasure is what a purge by user erased beyond the dead letters; nil
	// for other purges.
	Erasure *Erasure
}

// Empty reports whether the purge selected nothing at all.
func (r PurgeResult) Empty() bool {
	return r.Selected == 0 && (r.Erasure == nil || *r.Erasure == Erasure{})
}

// Purge deletes the dead letters f selects (f must not be empty) after
// o.Confirm agreed, and purges their redrive marks; a purge by user also
// erases the user's data elsewhere (see [Erasure]). Selecting by user
// erases securely. It reads the stream twice, one record at a time (to
// count, then to delete). Unless the confirmation was refused, it logs
// one audit line with the counts.
func (d *Tools) Purge(ctx context.Context, f Filter, o PurgeOptions) (PurgeResult, error) {
	if f.Empty() {
		return PurgeResult{}, errors.New("purge: select records by user, reason, age, or all")
	}
	res := PurgeResult{Secure: o.Secure || f.User != "", DryRun: o.DryRun}
	n, upTo, err := d.count(ctx, f, o.Limit)
	if err != nil {
		return res, fmt.Errorf("purge: %w", err)
	}
	res.Selected = n
	var plan *erasurePlan
	if f.User != "" {
		if plan, err = d.planErasure(ctx, f.User); err != nil {
			return res, fmt.Errorf("purge: %w", err)
		}
		res.Erasure = &plan.counts
	}
	if res.Empty() || o.DryRun {
		d.auditPurge(f, o, res)
		return res, nil
	}
	if o.Confirm != nil {
		if err := o.Confirm(res); err != nil {
			return res, err
		}
	}
	defer func() { d.auditPurge(f, o, res) }()
	if plan != nil {
		// The triggers first: the worker then cannot decide them again
		// (and write their ledger entries) while the rest is erased.
		erased, err := d.erase(ctx, f.User, plan)
		res.Erasure = &erased
		if err != nil {
			return res, fmt.Errorf("purge: erase user data: %w", err)
		}
	}
	if n == 0 {
		return res, nil
	}
	st, err := d.js.Stream(ctx, d.cfg.DLQStream)
	if err != nil {
		return res, fmt.Errorf("purge: stream %s: %w", d.cfg.DLQStream, err)
	}
	kv, err := d.opsKV(ctx, false)
	if err != nil {
		return res, fmt.Errorf("purge: %w", err)
	}
	del := st.DeleteMsg
	if res.Secure {
		del = st.SecureDeleteMsg
	}
	done := 0
	_, err = d.each(ctx, f, upTo, func(r *Record) error {
		switch err := del(ctx, r.Seq); {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			res.Gone++
		case err != nil:
			return fmt.Errorf("purge dead letter %d: %w", r.Seq, err)
		default:
			res.Deleted++
		}
		if kv != nil {
			if err := kv.Purge(ctx, StateKey(r.Seq)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				return fmt.Errorf("purge redrive mark of %d: %w", r.Seq, err)
			}
		}
		if done++; o.Limit > 0 && done >= o.Limit {
			return errStop
		}
		return nil
	})
	return res, err
}

func (d *Tools) auditPurge(f Filter, o PurgeOptions, res PurgeResult) {
	fields := []zap.Field{
		zap.Int("selected", res.Selected), zap.Int("deleted", res.Deleted), zap.Int("gone", res.Gone),
		zap.Bool("secure", res.Secure), zap.Bool("all", f.All), zap.Bool("dry_run", res.DryRun), zap.String("operator", d.operator),
	}
	if f.Reason != "" {
		fields = append(fields, zap.String("reason", f.Reason))
	}
	if f.User != "" {
		fields = append(fields, zap.String("user_sha256", audit.UserHash(f.User)))
	}
	if e := res.Erasure; e != nil {
		fields = append(fields, zap.Int("triggers", e.Triggers), zap.Int("links", e.Links),
			zap.Int("ledger_entries", e.LedgerEntries), zap.Bool("user_state", e.UserState), zap.Int("ops_entries", e.OpsEntries))
	}
	if o.OlderThan > 0 {
		fields = append(fields, zap.Duration("older_than", o.OlderThan))
	}
	if !f.Until.IsZero() {
		fields = append(fields, zap.String("until", ops.FormatTime(f.Until)))
	}
	d.log.Info("dlq purge", fields...)
}
