package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Commands that write audit records: the operator commands that change state.
const (
	CommandReplay     = "replay"
	CommandDLQRedrive = "dlq redrive"
	CommandDLQPurge   = "dlq purge"
	CommandBackfill   = "backfill"
)

// Results of a command, as its record tells them.
const (
	// ResultDone: the command ran to its end.
	ResultDone = "done"
	// ResultFailed: the command stopped on an error; the counts say what
	// it had done until then.
	ResultFailed = "failed"
	// ResultInterrupted: the command was stopped (SIGINT, SIGTERM); the
	// counts say what it had done until then.
	ResultInterrupted = "interrupted"
)

// Record is one audit record: who ran which command, when, on what
// selection, and what it did. It never holds a secret, a link or its
// token, nor a user id in the clear: a user in a selection is named by
// [UserHash].
type Record struct {
	// Seq is the record's sequence in the audit stream (set when read).
	Seq uint64 `json:"-"`
	// ID identifies the record (its Nats-Msg-Id, so a retried write is
	// stored once).
	ID string `json:"id"`
	// Time is when the command ended.
	Time time.Time `json:"time"`
	// Operator is who ran the command (--operator or $USER); never empty.
	Operator string `json:"operator"`
	// Command is one of the Command* constants.
	Command string `json:"command"`
	// DryRun says the command only showed what it would do and changed
	// nothing.
	DryRun bool `json:"dry_run"`
	// Selection holds the command's filters and flags by flag name
	// ("reason", "user_sha256", "from", "force", ...).
	Selection map[string]string `json:"selection,omitempty"`
	// Counts holds what the command did (or, in a dry run, would do), by
	// name ("selected", "redriven", "deleted", "republished", ...).
	Counts map[string]int `json:"counts,omitempty"`
	// Result is ResultDone, ResultFailed or ResultInterrupted.
	Result string `json:"result"`
}

// UserHash is how audit records (and audit log lines) name a user: the
// first 16 hex digits of SHA-256 of the id, enough to match a known
// erasure request without keeping the id.
func UserHash(user string) string {
	sum := sha256.Sum256([]byte(user))
	return hex.EncodeToString(sum[:8])
}

// Log is the audit stream of one deployment: [Log.Write] appends records,
// [Log.Read] pages through them, newest first.
type Log struct {
	js  jetstream.JetStream
	cfg Config
	now func() time.Time
}

// New returns the audit log named by cfg (defaults applied). It does not
// connect: [Log.Ensure] or the first [Log.Write] binds the stream.
func New(js jetstream.JetStream, cfg Config) (*Log, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Log{js: js, cfg: cfg, now: time.Now}, nil
}

// Config returns the log's configuration, defaults applied.
func (l *Log) Config() Config { return l.cfg }

// Subject is the subject of a record of command: the prefix, then the
// command's words joined by dots ("sca.audit.dlq.purge").
func (l *Log) Subject(command string) string {
	return l.cfg.SubjectPrefix + strings.Join(strings.Fields(command), ".")
}

// Ensure binds the audit stream and creates it when it is missing
// (limits retention, MaxAge cfg.MaxAge, file storage, cfg.Replicas).
// Commands call it before they change anything, so a deployment where
// the record could not be written is not changed either. An existing
// stream must capture the audit subjects.
func (l *Log) Ensure(ctx context.Context) error {
	setting := "SCA_AUDIT_STREAM"
	st, err := l.js.Stream(ctx, l.cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = l.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        l.cfg.Stream,
			Description: "scaworker audit records of operator commands",
			Subjects:    []string{l.cfg.SubjectPrefix + ">"},
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      l.cfg.MaxAge,
			Storage:     jetstream.FileStorage,
			Replicas:    l.cfg.Replicas,
			Duplicates:  2 * time.Minute,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			st, err = l.js.Stream(ctx, l.cfg.Stream) // created concurrently
		}
		if err != nil {
			return fmt.Errorf("%s: create stream %s on %s>: %w", setting, l.cfg.Stream, l.cfg.SubjectPrefix, err)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: look up stream %s: %w", setting, l.cfg.Stream, err)
	}
	info := st.CachedInfo()
	want := l.cfg.SubjectPrefix + ">"
	for _, s := range info.Config.Subjects {
		if s == want || s == ">" {
			return nil
		}
	}
	return fmt.Errorf("%s: stream %s captures %v, not %s (SCA_SUBJECT_AUDIT_PREFIX): add that subject to it, or name another stream", setting, l.cfg.Stream, info.Config.Subjects, want)
}

// Write stores rec (after [Log.Ensure]): it sets its ID and Time when
// they are empty and refuses a record without operator or command. It
// returns the record's sequence in the stream.
func (l *Log) Write(ctx context.Context, rec Record) (uint64, error) {
	if strings.TrimSpace(rec.Operator) == "" {
		return 0, errors.New("audit record: no operator")
	}
	if rec.Command == "" {
		return 0, errors.New("audit record: no command")
	}
	if rec.ID == "" {
		rec.ID = nuid.Next()
	}
	if rec.Time.IsZero() {
		rec.Time = l.now()
	}
	rec.Time = rec.Time.UTC()
	if rec.Result == "" {
		rec.Result = ResultDone
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("audit record: %w", err)
	}
	if err := l.Ensure(ctx); err != nil {
		return 0, err
	}
	ack, err := l.js.Publish(ctx, l.Subject(rec.Command), b, jetstream.WithMsgID(rec.ID), jetstream.WithExpectStream(l.cfg.Stream))
	if err != nil {
		return 0, fmt.Errorf("write audit record to %s: %w", l.cfg.Stream, err)
	}
	return ack.Sequence, nil
}

// Query selects a page of records for [Log.Read].
type Query struct {
	// Limit is the page size (default 20).
	Limit int
	// Before, when set, reads records older than this sequence (the Next
	// of the previous page).
	Before uint64
	// Command, when set, keeps only records of this command.
	Command string
	// Operator, when set, keeps only records of this operator.
	Operator string
}

// Page is one page of records, newest first.
type Page struct {
	Records []Record
	// Next is the Before of the next (older) page when this one is full;
	// 0 when the stream holds nothing older.
	Next uint64
}

// Read returns the newest records selected by q, newest first, reading
// one record at a time backwards from the end (or from q.Before): it
// holds at most q.Limit records. A missing stream reads as empty.
func (l *Log) Read(ctx context.Context, q Query) (Page, error) {
	if q.Limit <= 0 {
		q.Limit = 20
	}
	var page Page
	st, err := l.js.Stream(ctx, l.cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return page, nil
	}
	if err != nil {
		return page, fmt.Errorf("SCA_AUDIT_STREAM: look up stream %s: %w", l.cfg.Stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return page, fmt.Errorf("SCA_AUDIT_STREAM: stream %s: %w", l.cfg.Stream, err)
	}
	first, seq := info.State.FirstSeq, info.State.LastSeq
	if info.State.Msgs == 0 {
		return page, nil
	}
	if q.Before != 0 {
		if q.Before <= first {
			return page, nil
		}
		seq = min(seq, q.Before-1)
	}
	for ; seq >= first && seq > 0; seq-- {
		if len(page.Records) == q.Limit {
			page.Next = seq + 1
			return page, nil
		}
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // expired or deleted
		}
		if err != nil {
			return page, fmt.Errorf("read audit record %d: %w", seq, err)
		}
		var rec Record
		if err := json.Unmarshal(m.Data, &rec); err != nil {
			return page, fmt.Errorf("decode audit record %d: %w", seq, err)
		}
		rec.Seq = seq
		if (q.Command != "" && rec.Command != q.Command) || (q.Operator != "" && rec.Operator != q.Operator) {
			continue
		}
		page.Records = append(page.Records, rec)
	}
	return page, nil
}
