package replay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
)

// Actions a replay takes on one stored message; they label the dry-run
// lines and the rows of the summary.
const (
	// Reevaluated: the recorded outcome is skip, dlq or state; the
	// trigger is republished unchanged with [consumer.HeaderReplay] and the live
	// worker decides it again.
	Reevaluated = "re-evaluated"
	// Forced: the trigger produced a link and --force is set; a new
	// trigger "<id>.replay-<n>" is published, so the per-user rules apply.
	Forced = "forced"
	// Reprocessed: no ledger entry, yet the durable consumer
	// acknowledged the message (its ledger entry was lost): republished
	// unchanged so the live worker processes it.
	Reprocessed = "re-processed: not in ledger"
	// Linked: the trigger produced a link; left alone without --force.
	Linked = "left alone: already linked"
	// Redriven: a redrive copy ("<id>.redrive-<n>"), or an original whose
	// dead letter was redriven: its lineage is settled by `dlq redrive`
	// alone (see consumer.Reopens), so it is left alone. With Force, a
	// redriven original whose lineage linked is forced like any link.
	Redriven = "left alone: redriven"
	// NotYet: the live worker has not decided the trigger yet (no
	// ledger entry or an attempt in progress); it is still pending in the
	// durable consumer, so it is left to it.
	NotYet = "left alone: not processed yet"
	// Repeat: the same trigger (source, id) appeared earlier in this
	// replay's range (a copy published by an earlier replay); considered once.
	Repeat = "left alone: repeat in range"
	// Invalid: the stored event is not a valid trigger; not replayed
	// (it was dead-lettered with invalid_event; see `dlq`).
	Invalid = "invalid, not replayed"
	// Filtered: not one of --user's users (an invalid event, whose
	// user cannot be trusted, is filtered out whenever --user is set).
	// Triggers of other types than --type are not read at all, so they
	// are not counted.
	Filtered = "filtered out"
)

// Actions returns the actions in the order of the summary's rows.
func Actions() []string {
	return []string{Reevaluated, Forced, Reprocessed, Linked,
		Redriven, NotYet, Repeat, Invalid, Filtered}
}

// DefaultRate is the default republish rate of a replay.
func DefaultRate() enroll.Rate { return enroll.Rate{N: 50, Per: time.Second} }

// Config is what [Replay] replays and how.
type Config struct {
	// Layout names the streams, the durable consumer, the buckets and the
	// subjects (zero fields take consumer.Config's defaults).
	Layout consumer.Config

	// From is where the replay starts: a stream sequence ("1200") or an
	// RFC 3339 time, compared with the time JetStream stored each message.
	// Required.
	From string
	// To is where it ends, inclusive, in the same forms; "" means the last
	// message stored when the replay first started (messages stored later,
	// the replay's own among them, are never part of it).
	To string
	// Types keeps only triggers of these CloudEvents types; empty: all four.
	Types []string
	// Users keeps only triggers whose data.user_id is one of these; empty: all.
	Users []string

	// DryRun writes nothing anywhere (no publish, no cursor, no bucket);
	// AfterTrigger still learns what would happen to each trigger.
	DryRun bool
	// Force replays triggers that produced a link as new triggers
	// "<id>.replay-<n>", which the per-user rules then judge.
	Force bool
	// Restart ignores a stored cursor and starts the replay over.
	Restart bool
	// Name names the replay and its cursor (key "replay.<Name>" in
	// Layout.OpsBucket): 1 to 64 of [A-Za-z0-9_-]. Default: "r-" and 8 hex
	// digits of a hash of the normalised filters, so running the same
	// command again resumes it.
	Name string
	// Rate bounds republishing (default [DefaultRate]), so a large
	// replay does not flood the worker's stream. Mangopay's budget is
	// enforced by the workers themselves.
	Rate enroll.Rate

	// Progress, when set, is told the replay's position (cmd/scaworker
	// draws a bar with rate and ETA on a terminal); when nil, progress is
	// logged every LogEvery messages.
	Progress Progress
	// LogEvery is the number of messages between progress log lines
	// (default 1000).
	LogEvery int
	// Log receives progress and per-trigger debug lines; nil: none.
	Log *zap.Logger
	// Confirm, when set, is asked once the range is known (the report
	// names the stream, FromSeq..ToSeq and whether the replay resumes) and
	// before anything is written; an error stops the replay with that
	// error. A dry run and an already finished replay do not ask.
	Confirm func(*Report) error
	// SeenMax bounds the triggers remembered to recognise repeats in the
	// range (default [DefaultSeenMax]).
	SeenMax int
	// AfterTrigger, when set, is called after each message is settled
	// (after its republish was acknowledged and the cursor written).
	AfterTrigger func(Step)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Step is what a replay did with one stored message.
type Step struct {
	Seq     uint64 // stream sequence of the stored message
	Type    string // CloudEvents type (from the subject for invalid events)
	EventID string
	UserID  string
	// Outcome and Reason are the ledger's record before the replay; ""
	// when there is none.
	Outcome, Reason string
	Action          string // one of the Replay* actions
	// NewID is the id of the trigger published by a forced replay.
	NewID string
}

// Ledger is the step's ledger record as the replay tables show it:
// "outcome/reason", "outcome", or "-" when there is none.
func (s Step) Ledger() string {
	switch {
	case s.Outcome != "" && s.Reason != "":
		return s.Outcome + "/" + s.Reason
	case s.Outcome != "":
		return s.Outcome
	}
	return "-"
}

// Did is the step's action as the replay tables show it, with the new
// trigger's id of a forced replay appended ("<action> as <id>").
func (s Step) Did() string {
	if s.NewID != "" {
		return s.Action + " as " + s.NewID
	}
	return s.Action
}

// Report sums a replay up.
type Report struct {
	Name     string // the cursor's name
	ReplayID string // value of the Sca-Replay header (Name, then Name.<run> after a restart)
	Stream   string
	// FromSeq and ToSeq bound the replay (inclusive); empty when FromSeq > ToSeq.
	FromSeq, ToSeq uint64
	// NextSeq is the first stream sequence not yet considered.
	NextSeq uint64
	DryRun  bool
	// Resumed says the replay continued from a stored cursor.
	Resumed bool
	// Done says every message of the range was considered.
	Done bool
	// AlreadyDone says the cursor was already finished: nothing was read.
	AlreadyDone bool
	// Counts holds, per action, the number of messages by type, over the
	// whole replay (a resumed replay includes the earlier sessions).
	Counts map[string]map[string]int
	// Published counts the messages this session published, and
	// Duplicates those of them JetStream reported as duplicates (a
	// republish inside the duplicate window of an interrupted session).
	Published, Duplicates int
}

// Count returns the number of messages that got action, all types.
func (r *Report) Count(action string) int {
	n := 0
	for _, c := range r.Counts[action] {
		n += c
	}
	return n
}

func (r *Report) add(action, typ string) {
	if r.Counts == nil {
		r.Counts = map[string]map[string]int{}
	}
	if r.Counts[action] == nil {
		r.Counts[action] = map[string]int{}
	}
	r.Counts[action][typ]++
}

// replayPoint is a --from or --to value: a stream sequence or a time.
type replayPoint struct {
	seq  uint64
	time time.Time
}

func (p replayPoint) String() string {
	if p.seq > 0 {
		return "seq:" + strconv.FormatUint(p.seq, 10)
	}
	return "time:" + p.time.UTC().Format(time.RFC3339Nano)
}

// parseReplayPoint reads a stream sequence or an RFC 3339 time.
func parseReplayPoint(flag, s string) (replayPoint, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return replayPoint{}, fmt.Errorf("%s: empty: want a stream sequence (e.g. 1200) or an RFC 3339 time (e.g. 2025-06-01T00:00:00Z)", flag)
	}
	if s[0] >= '0' && s[0] <= '9' && !strings.ContainsAny(s, "-:T") {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return replayPoint{}, fmt.Errorf("%s: %q: a stream sequence is a whole number from 1", flag, s)
		}
		return replayPoint{seq: n}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return replayPoint{}, fmt.Errorf("%s: %q is neither a stream sequence nor an RFC 3339 time (e.g. 2025-06-01T00:00:00Z)", flag, s)
	}
	return replayPoint{time: t}, nil
}

// replayPlan is a validated Config.
type replayPlan struct {
	cfg      Config
	layout   consumer.Config
	from     replayPoint
	to       *replayPoint
	types    []string
	users    map[string]bool
	filters  string // normalised filters, stored in the cursor
	subjects []string
}

// Validate checks cfg without connecting; errors name the flag.
func Validate(cfg Config) error {
	_, err := planReplay(cfg)
	return err
}

func planReplay(cfg Config) (*replayPlan, error) {
	p := &replayPlan{cfg: cfg, layout: cfg.Layout.Defaults(), users: map[string]bool{}}
	var errs []error
	var err error
	if p.from, err = parseReplayPoint("--from", cfg.From); err != nil {
		errs = append(errs, err)
	}
	if cfg.To != "" {
		to, err := parseReplayPoint("--to", cfg.To)
		if err != nil {
			errs = append(errs, err)
		} else {
			p.to = &to
			switch {
			case to.seq > 0 && p.from.seq > 0 && to.seq < p.from.seq:
				errs = append(errs, fmt.Errorf("--to: sequence %d is before --from %d", to.seq, p.from.seq))
			case !to.time.IsZero() && !p.from.time.IsZero() && to.time.Before(p.from.time):
				errs = append(errs, fmt.Errorf("--to: %s is before --from %s", cfg.To, cfg.From))
			}
		}
	}
	for _, typ := range cfg.Types {
		subj, ok := p.layout.Subjects.SubjectFor(typ)
		if !ok {
			errs = append(errs, fmt.Errorf("--type: %q is not a trigger type (%s, %s, %s or %s)", typ,
				events.TypeUserCreated, events.TypeSessionExpired, events.TypeSessionFailed, events.TypeEnrollmentSucceeded))
			continue
		}
		if !slices.Contains(p.types, typ) {
			p.types = append(p.types, typ)
			p.subjects = append(p.subjects, subj)
		}
	}
	if len(cfg.Types) == 0 {
		p.subjects = p.layout.Subjects.Triggers()
	}
	for _, u := range cfg.Users {
		if !events.ValidUserID(u) {
			errs = append(errs, fmt.Errorf("--user: %q is not a user id (1 to 128 of A-Z a-z 0-9 _ -)", u))
			continue
		}
		p.users[u] = true
	}
	if cfg.Name != "" && !validReplayName(cfg.Name) {
		errs = append(errs, fmt.Errorf("--name: %q: want 1 to 64 of A-Z a-z 0-9 _ -", cfg.Name))
	}
	if cfg.Rate != (enroll.Rate{}) && (cfg.Rate.N < 1 || cfg.Rate.Per <= 0) {
		errs = append(errs, fmt.Errorf("--rate: %s: want N/duration with N >= 1", cfg.Rate))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	types := slices.Sorted(slices.Values(p.types))
	users := make([]string, 0, len(p.users))
	for u := range p.users {
		users = append(users, u)
	}
	slices.Sort(users)
	to := ""
	if p.to != nil {
		to = p.to.String()
	}
	p.filters = fmt.Sprintf("stream=%s;from=%s;to=%s;types=%s;users=%s;force=%t",
		p.layout.Stream, p.from, to, strings.Join(types, ","), strings.Join(users, ","), cfg.Force)
	if p.cfg.Name == "" {
		sum := sha256.Sum256([]byte(p.filters))
		p.cfg.Name = "r-" + hex.EncodeToString(sum[:4])
	}
	if p.cfg.Rate == (enroll.Rate{}) {
		p.cfg.Rate = DefaultRate()
	}
	if p.cfg.SeenMax <= 0 {
		p.cfg.SeenMax = DefaultSeenMax
	}
	if p.cfg.LogEvery <= 0 {
		p.cfg.LogEvery = 1000
	}
	if p.cfg.Log == nil {
		p.cfg.Log = zap.NewNop()
	}
	if p.cfg.Now == nil {
		p.cfg.Now = time.Now
	}
	return p, nil
}

func validReplayName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// replayCursor is a replay's progress, in the ops bucket under
// "replay.<name>". NextSeq and Counts are written together, so a resumed
// replay continues both from the same point.
type replayCursor struct {
	NextSeq   uint64    `json:"next_seq"`
	From      string    `json:"from"`
	To        string    `json:"to,omitempty"`
	Done      bool      `json:"done"`
	FromSeq   uint64    `json:"from_seq"`
	ToSeq     uint64    `json:"to_seq"`
	Filters   string    `json:"filters"`
	Run       int       `json:"run"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Forcing is the forced trigger being published: a resumed replay
	// publishes the same id again rather than a new one.
	Forcing *replayForcing            `json:"forcing,omitempty"`
	Counts  map[string]map[string]int `json:"counts,omitempty"`
}

type replayForcing struct {
	Seq uint64 `json:"seq"`
	ID  string `json:"id"`
}

// replayer is one run of [Replay].
type replayer struct {
	*replayPlan
	js     jetstream.JetStream
	ledger *consumer.Ledger   // nil: no ledger bucket yet
	ops    jetstream.KeyValue // nil in a dry run without the bucket
	key    string             // cursor key
	cur    replayCursor
	rev    uint64 // cursor revision; 0: not stored
	report *Report
	floor  uint64 // the durable consumer's ack floor at start
	seen   *seenSet
	pace   *rate.Limiter // spaces republishes evenly
	prog   *replayProgress
	// unsaved counts messages considered since the cursor was last written.
	unsaved   int
	lastSaved time.Time
}

// Replay re-processes stored triggers through the live worker: it reads
// Layout.Stream from From to To, keeps the triggers that match Types and
// Users, and for each one reads the ledger and either republishes it (the
// worker then decides it again with the normal rules and the deployment's
// rate budget; Replay itself never calls Mangopay) or leaves it alone:
//
//   - outcome skip, dlq or state: republished unchanged (same body, same
//     CloudEvent id) with header Sca-Replay: <replay id> and Nats-Msg-Id
//     "replay-<replay id>-<stream seq>"; the consumer re-evaluates it.
//   - outcome link: left alone, or with Force published as a new trigger
//     "<id>.replay-<n>" (n the smallest not in the ledger), extension
//     screplayof and header Sca-Replay-Of = original id, Nats-Msg-Id = new id.
//   - no ledger entry: still pending in the durable consumer, so left to
//     it; unless the durable already acknowledged it (its stream sequence
//     is at or below the ack floor), in which case the entry was lost and
//     the trigger is republished unchanged to be processed again.
//   - a redrive copy, or a trigger whose dead letter was redriven
//     ([consumer.Redriven]): left alone, since `dlq redrive` alone settles
//     its lineage; with Force, a redriven trigger whose lineage linked is
//     forced like any link.
//   - an entry without outcome (an attempt in progress): left to the worker.
//   - an invalid stored event: reported, not replayed.
//   - the same trigger (source, id) seen before in the range, e.g. a copy
//     republished by an earlier replay: considered once.
//
// Triggers published by earlier replays are treated like any other: a
// copy has the original's identity, and a forced "<id>.replay-<n>" is a
// trigger of its own (forcing it again gives "<id>.replay-<n>.replay-1").
//
// The cursor (Layout.OpsBucket, "replay.<name>") records the next stream
// sequence to consider; it is written after each republish is
// acknowledged by JetStream, and every few hundred messages otherwise, so
// running the same replay again resumes where it stopped. It returns the
// report so far with ctx's error when ctx ends.
func Run(ctx context.Context, js jetstream.JetStream, cfg Config) (*Report, error) {
	plan, err := planReplay(cfg)
	if err != nil {
		return nil, err
	}
	r := &replayer{replayPlan: plan, js: js, seen: newSeenSet(plan.cfg.SeenMax)}
	r.key = "replay." + r.cfg.Name
	r.pace = rate.NewLimiter(rate.Every(r.cfg.Rate.Per/time.Duration(r.cfg.Rate.N)), 1)
	r.report = &Report{Name: r.cfg.Name, Stream: r.layout.Stream, DryRun: r.cfg.DryRun}
	if err := r.open(ctx); err != nil {
		return nil, err
	}
	if err := r.start(ctx); err != nil {
		return nil, err
	}
	rep := r.report
	switch {
	case rep.AlreadyDone:
		return rep, nil
	case r.cur.NextSeq > r.cur.ToSeq: // an empty range
		return rep, r.finish(ctx)
	}
	r.prog = newReplayProgress(r.cfg, rep, r.cur.NextSeq)
	err = r.loop(ctx)
	r.prog.finish(rep.Done)
	if err != nil {
		// Keep the progress made: a resumed replay starts from it. The
		// write uses a fresh ctx since ctx may be what ended.
		if r.unsaved > 0 && !r.cfg.DryRun {
			saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if serr := r.save(saveCtx); serr != nil {
				r.cfg.Log.Warn("replay cursor not saved", zap.Error(serr))
			}
			cancel()
		}
		return rep, err
	}
	return rep, r.finish(ctx)
}

// open binds the stream, the ledger, the ops bucket and the cursor.
func (r *replayer) open(ctx context.Context) error {
	var err error
	if r.ledger, err = consumer.OpenLedger(ctx, r.js, r.layout); err != nil {
		return err
	}
	if r.cfg.DryRun {
		// A dry run creates nothing: without the bucket there is no cursor.
		r.ops, err = r.js.KeyValue(ctx, r.layout.OpsBucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			r.ops, err = nil, nil
		}
		if err != nil {
			return fmt.Errorf("SCA_OPS_BUCKET: look up bucket %s: %w", r.layout.OpsBucket, err)
		}
	} else if r.ops, err = consumer.OpsBucket(ctx, r.js, r.layout); err != nil {
		return err
	}
	if r.ops != nil {
		kve, err := r.ops.Get(ctx, r.key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
		case err != nil:
			return fmt.Errorf("read replay cursor %s: %w", r.key, err)
		default:
			r.rev = kve.Revision()
			if err := json.Unmarshal(kve.Value(), &r.cur); err != nil {
				if !r.cfg.Restart {
					return fmt.Errorf("decode replay cursor %s: %w (use --restart to start the replay over)", r.key, err)
				}
				r.cur = replayCursor{}
			}
		}
	}
	// The durable consumer's ack floor tells a trigger that lost its ledger
	// entry from one still pending.
	if c, err := r.js.Consumer(ctx, r.layout.Stream, r.layout.Durable); err == nil {
		if info, err := c.Info(ctx); err == nil {
			r.floor = info.AckFloor.Stream
		}
	}
	return nil
}

// start resumes the stored cursor or resolves the range and stores a new one.
func (r *replayer) start(ctx context.Context) error {
	rep := r.report
	if r.rev != 0 && !r.cfg.Restart {
		if r.cur.Filters != r.filters {
			return fmt.Errorf("--name: replay %s was started with other filters (%s); use --restart to start it over with these, or another --name", r.cfg.Name, r.cur.Filters)
		}
		rep.ReplayID = replayID(r.cfg.Name, r.cur.Run)
		rep.FromSeq, rep.ToSeq, rep.NextSeq = r.cur.FromSeq, r.cur.ToSeq, r.cur.NextSeq
		rep.Counts = cloneReplayCounts(r.cur.Counts)
		if r.cur.Done {
			rep.AlreadyDone, rep.Done = true, true
			return nil
		}
		rep.Resumed = true
		if err := r.confirm(); err != nil {
			return err
		}
		r.cfg.Log.Info("replay resumed", zap.String("replay", rep.ReplayID), zap.Uint64("next_seq", r.cur.NextSeq), zap.Uint64("to_seq", r.cur.ToSeq))
		return nil
	}
	st, err := r.js.Stream(ctx, r.layout.Stream)
	if err != nil {
		return fmt.Errorf("SCA_STREAM: stream %s: %w", r.layout.Stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("SCA_STREAM: stream %s: %w", r.layout.Stream, err)
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	if info.State.Msgs == 0 {
		first = last + 1
	}
	fromSeq := max(r.from.seq, first)
	if r.from.seq == 0 {
		if fromSeq, err = replaySeqAt(ctx, r.js, r.layout.Stream, r.from.time, last); err != nil {
			return err
		}
	}
	toSeq := last
	if r.to != nil {
		if r.to.seq > 0 {
			toSeq = min(r.to.seq, last)
		} else {
			after, err := replaySeqAt(ctx, r.js, r.layout.Stream, r.to.time.Add(time.Nanosecond), last)
			if err != nil {
				return err
			}
			toSeq = after - 1
		}
	}
	run := 1
	if r.rev != 0 {
		run = r.cur.Run + 1
	}
	now := r.cfg.Now().UTC()
	r.cur = replayCursor{NextSeq: fromSeq, From: r.cfg.From, To: r.cfg.To, FromSeq: fromSeq, ToSeq: toSeq,
		Filters: r.filters, Run: run, StartedAt: now, UpdatedAt: now}
	rep.ReplayID = replayID(r.cfg.Name, run)
	rep.FromSeq, rep.ToSeq, rep.NextSeq = fromSeq, toSeq, fromSeq
	if r.cfg.DryRun {
		return nil
	}
	if err := r.confirm(); err != nil {
		return err
	}
	return r.save(ctx)
}

// confirm asks cfg.Confirm, if any, before the first write.
func (r *replayer) confirm() error {
	if r.cfg.Confirm == nil || r.cfg.DryRun {
		return nil
	}
	return r.cfg.Confirm(r.report)
}

// replayID is the Sca-Replay value: the name, then name.<run> once
// restarted, so a restart inside JetStream's duplicate window is not
// dropped as a duplicate of the first run.
func replayID(name string, run int) string {
	if run <= 1 {
		return name
	}
	return name + "." + strconv.Itoa(run)
}

func cloneReplayCounts(c map[string]map[string]int) map[string]map[string]int {
	out := make(map[string]map[string]int, len(c))
	for a, byType := range c {
		out[a] = make(map[string]int, len(byType))
		for t, n := range byType {
			out[a][t] = n
		}
	}
	return out
}

// save writes the cursor with compare-and-set.
func (r *replayer) save(ctx context.Context) error {
	if r.cfg.DryRun {
		return nil
	}
	r.cur.NextSeq = r.report.NextSeq
	r.cur.Counts = r.report.Counts
	r.cur.UpdatedAt = r.cfg.Now().UTC()
	b, err := json.Marshal(r.cur)
	if err != nil {
		return fmt.Errorf("encode replay cursor: %w", err)
	}
	var rev uint64
	if r.rev == 0 {
		rev, err = r.ops.Create(ctx, r.key, b)
	} else {
		rev, err = r.ops.Update(ctx, r.key, b, r.rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return fmt.Errorf("replay cursor %s changed concurrently: is another replay named %s running?", r.key, r.cfg.Name)
	}
	if err != nil {
		return fmt.Errorf("write replay cursor %s: %w", r.key, err)
	}
	r.rev, r.unsaved, r.lastSaved = rev, 0, time.Now()
	return nil
}

// finish marks the cursor done.
func (r *replayer) finish(ctx context.Context) error {
	r.report.Done = true
	r.report.NextSeq = max(r.report.NextSeq, r.cur.ToSeq+1)
	r.cur.Done = true
	return r.save(ctx)
}

// errRangeDone stops the read at the end of the range.
var errRangeDone = errors.New("end of the replay's range")

// loop reads the range (a bounded stream read) and settles each message.
func (r *replayer) loop(ctx context.Context) error {
	o := consumer.ReadOptions{Subjects: r.subjects, StartSeq: r.cur.NextSeq}
	err := consumer.ReadStream(ctx, r.js, r.layout.Stream, o, func(msg consumer.StoredMsg) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if msg.Seq > r.cur.ToSeq {
			return errRangeDone
		}
		if err := r.settle(ctx, msg, msg.Seq); err != nil {
			return err
		}
		r.prog.set(msg.Seq)
		return nil
	})
	switch {
	case err == nil, errors.Is(err, errRangeDone):
		// Every matching message up to ToSeq was settled (what is stored
		// later lies past ToSeq).
		r.report.Done = true
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return err
}

// settle decides what to do with one message, does it, and advances the cursor.
func (r *replayer) settle(ctx context.Context, msg consumer.StoredMsg, seq uint64) error {
	step, publish, err := r.decide(ctx, msg, seq)
	if err != nil {
		return err
	}
	rep := r.report
	if publish != nil && !r.cfg.DryRun {
		if step.Action == Forced {
			r.cur.Forcing = &replayForcing{Seq: seq, ID: step.NewID}
			if err := r.save(ctx); err != nil {
				return err
			}
		}
		if err := r.pace.Wait(ctx); err != nil {
			return err
		}
		ack, err := r.js.PublishMsg(ctx, publish.msg, publish.opts...)
		if err != nil {
			return fmt.Errorf("republish stream seq %d (event %s): %w", seq, step.EventID, err)
		}
		rep.Published++
		if ack.Duplicate {
			rep.Duplicates++
		}
		r.cur.Forcing = nil
	}
	rep.add(step.Action, step.Type)
	rep.NextSeq = seq + 1
	r.unsaved++
	if publish != nil || r.unsaved >= 256 || time.Since(r.lastSaved) > 2*time.Second {
		if err := r.save(ctx); err != nil {
			return err
		}
	}
	r.cfg.Log.Debug("replay step", zap.Uint64("stream_seq", seq), zap.String("event_id", step.EventID),
		zap.String("user_id", step.UserID), zap.String("action", step.Action), zap.String("new_id", step.NewID))
	if r.cfg.AfterTrigger != nil {
		r.cfg.AfterTrigger(step)
	}
	return nil
}

// replayPublish is a message to publish and its options.
type replayPublish struct {
	msg  *nats.Msg
	opts []jetstream.PublishOpt
}

// decide reads the ledger and picks the action for one message.
func (r *replayer) decide(ctx context.Context, msg consumer.StoredMsg, seq uint64) (Step, *replayPublish, error) {
	subject := msg.Subject
	typ, _ := r.layout.Subjects.TypeFor(subject)
	step := Step{Seq: seq, Type: typ}
	tr, decErr := r.layout.Subjects.Decode(subject, msg.Data)
	key, eventID := consumer.TriggerKey(r.layout.Stream, seq, tr, decErr)
	step.EventID = eventID
	if decErr != nil {
		if len(r.users) > 0 {
			step.Action = Filtered // no readable user_id
			return step, nil, nil
		}
		e, err := r.ledger.Entry(ctx, key)
		if err != nil {
			return step, nil, err
		}
		if e != nil {
			step.Outcome, step.Reason = e.Outcome, e.Reason
		}
		step.Action = Invalid
		return step, nil, nil
	}
	step.EventID, step.UserID = tr.ID, tr.UserID
	if len(r.users) > 0 && !r.users[tr.UserID] {
		step.Action = Filtered
		return step, nil, nil
	}
	var short [16]byte
	if b, err := hex.DecodeString(key[:32]); err == nil {
		copy(short[:], b)
	}
	e, err := r.ledger.Entry(ctx, key)
	if err != nil {
		return step, nil, err
	}
	if e != nil {
		step.Outcome, step.Reason = e.Outcome, e.Reason
	}
	// A repeat: seen in this session, or its entry was created by an
	// earlier message of the range (considered before an interruption).
	if r.seen.has(short) || (e != nil && e.StreamSeq != seq && e.StreamSeq >= r.cur.FromSeq && e.StreamSeq < seq) {
		step.Action = Repeat
		return step, nil, nil
	}
	r.seen.add(short)
	redriveOf := consumer.RedriveOf(msg.Header, tr.ID)
	switch {
	case consumer.Redriven(redriveOf, e) && !(r.cfg.Force && redriveOf == "" && e.Outcome == events.OutcomeLink):
		step.Action = Redriven
		return step, nil, nil
	case e == nil && seq <= r.floor:
		step.Action = Reprocessed
		return step, r.unchanged(msg, seq), nil
	case e == nil || e.Outcome == "":
		step.Action = NotYet
		return step, nil, nil
	case e.Outcome == events.OutcomeLink && !r.cfg.Force:
		step.Action = Linked
		return step, nil, nil
	case e.Outcome == events.OutcomeLink:
		step.Action = Forced
		p, newID, err := r.forced(ctx, msg, tr, seq)
		step.NewID = newID
		return step, p, err
	case consumer.Reopens(redriveOf, e): // skip, dlq or state, published
		step.Action = Reevaluated
		return step, r.unchanged(msg, seq), nil
	default: // an outcome event not yet published: the worker finishes it
		step.Action = NotYet
		return step, nil, nil
	}
}

// unchanged is the message republished unchanged for re-evaluation.
func (r *replayer) unchanged(msg consumer.StoredMsg, seq uint64) *replayPublish {
	m := nats.NewMsg(msg.Subject)
	m.Data = msg.Data
	m.Header = consumer.RepublishHeader(msg.Header)
	// A copy of a forced replay keeps its lineage.
	if of := msg.Header.Get(consumer.HeaderReplayOf); of != "" {
		m.Header.Set(consumer.HeaderReplayOf, of)
	}
	m.Header.Set(consumer.HeaderReplay, r.report.ReplayID)
	return &replayPublish{msg: m, opts: []jetstream.PublishOpt{
		jetstream.WithMsgID("replay-" + r.report.ReplayID + "-" + strconv.FormatUint(seq, 10)),
		jetstream.WithExpectStream(r.layout.Stream),
	}}
}

// forced builds the new trigger of a forced replay.
func (r *replayer) forced(ctx context.Context, msg consumer.StoredMsg, tr *events.Trigger, seq uint64) (*replayPublish, string, error) {
	newID := ""
	if f := r.cur.Forcing; f != nil && f.Seq == seq {
		newID = f.ID // an interrupted publish: the same id again
	}
	for n := 1; newID == "" && n <= 1000; n++ {
		id := ForcedID(tr.ID, n)
		e, err := r.ledger.Entry(ctx, events.KeyOf(tr.Source, id))
		if err != nil {
			return nil, "", err
		}
		if e == nil {
			newID = id
		}
	}
	if newID == "" {
		return nil, "", fmt.Errorf("force stream seq %d (event %s): 1000 forced replays already exist", seq, tr.ID)
	}
	body, err := consumer.RewriteID(msg.Data, newID, consumer.ExtReplayOf, tr.ID)
	if err != nil {
		return nil, newID, fmt.Errorf("force stream seq %d (event %s): %w", seq, tr.ID, err)
	}
	if got, err := r.layout.Subjects.Decode(msg.Subject, body); err != nil || got.ID != newID {
		return nil, newID, fmt.Errorf("force stream seq %d (event %s): the new trigger is not valid: %v", seq, tr.ID, err)
	}
	m := nats.NewMsg(msg.Subject)
	m.Data = body
	m.Header = consumer.RepublishHeader(msg.Header)
	m.Header.Set(consumer.HeaderReplayOf, tr.ID)
	return &replayPublish{msg: m, opts: []jetstream.PublishOpt{
		jetstream.WithMsgID(newID),
		jetstream.WithExpectStream(r.layout.Stream),
	}}, newID, nil
}

// replaySeqAt returns the sequence of the first message stored at or
// after t, or last+1 when there is none up to last.
func replaySeqAt(ctx context.Context, js jetstream.JetStream, stream string, t time.Time, last uint64) (uint64, error) {
	seq := last + 1
	err := consumer.ReadStream(ctx, js, stream, consumer.ReadOptions{StartTime: t, HeadersOnly: true}, func(m consumer.StoredMsg) error {
		seq = min(m.Seq, last+1)
		return errRangeDone
	})
	if err != nil && !errors.Is(err, errRangeDone) {
		return 0, fmt.Errorf("find stream seq at %s: %w", t.Format(time.RFC3339Nano), err)
	}
	return seq, nil
}

// Progress is told a replay's position; see [Config.Progress].
type Progress interface {
	// Start begins a session that considers total stream sequences;
	// desc names the replay ("replay <id>", "(resumed)" when it is).
	Start(desc string, total int64)
	// Set reports that done of them were considered.
	Set(done int64)
	// Finish ends the session: complete when the range is done.
	Finish(complete bool)
}

// replayProgress shows the replay's position: through Config.Progress
// when set, else a log line every LogEvery messages. It counts from the
// sequence where this session started, so a resumed replay's rate and ETA
// are its own.
type replayProgress struct {
	shown Progress
	log   *zap.Logger
	every int
	start uint64 // first sequence of this session
	total int64  // sequences from start to ToSeq
	began time.Time
	n     int
}

func newReplayProgress(cfg Config, rep *Report, next uint64) *replayProgress {
	p := &replayProgress{shown: cfg.Progress, log: cfg.Log, every: cfg.LogEvery, start: next,
		total: int64(rep.ToSeq - next + 1), began: time.Now()}
	if p.shown != nil {
		desc := "replay " + rep.ReplayID
		if rep.Resumed {
			desc += " (resumed)"
		}
		p.shown.Start(desc, p.total)
	}
	return p
}

// set records that the message at seq was settled.
func (p *replayProgress) set(seq uint64) {
	pos := int64(seq - p.start + 1)
	p.n++
	if p.shown != nil {
		p.shown.Set(pos)
		return
	}
	if p.n%p.every != 0 {
		return
	}
	rate := float64(pos) / time.Since(p.began).Seconds()
	eta := time.Duration(0)
	if rate > 0 {
		eta = time.Duration(float64(p.total-pos) / rate * float64(time.Second)).Round(time.Second)
	}
	p.log.Info("replay progress", zap.Uint64("stream_seq", seq), zap.Int64("done", pos), zap.Int64("total", p.total),
		zap.Float64("rate_per_s", float64(int64(rate*10))/10), zap.String("eta", eta.String()))
}

// finish ends the display: full when the range is done, else where it stopped.
func (p *replayProgress) finish(done bool) {
	if p.shown != nil {
		p.shown.Finish(done)
	}
}
