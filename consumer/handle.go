package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
)

// job is one delivery of one trigger.
type job struct {
	msg       jetstream.Msg
	subject   string
	streamSeq uint64
	delivered uint64
	ev        *events.Trigger // nil when the event is invalid
	key       string          // ledger key: hash of (source, id)
	typ       string
	eventID   string
	userID    string
	trace     events.Trace // the trigger's trace context, carried to what it publishes
	log       *zap.Logger
	// replay is the Sca-Replay header: a replayed copy of a stored trigger.
	replay string
	// redriveOf is the id of the dead-lettered trigger this one redrives
	// (see [RedriveOf]); "" when it is no redrive copy.
	redriveOf string

	// fresh is set for the first try of a first delivery: no ledger entry
	// is expected, so none is read; the first write creates it, and a
	// conflict (the entry existed after all) starts over from a read.
	fresh bool
	// rev is the ledger revision of the entry being evaluated; recorded
	// says the attempt is written (see [Consumer.recordAttempt]).
	entry    *LedgerEntry
	rev      uint64
	recorded bool
	// us and usRev are the user's state as last read or written by this
	// delivery (nil: not read yet), so a compare-and-set starts from it
	// instead of reading it again.
	us    *userState
	usRev uint64
	// newEntry: a first delivery, and the ledger had no entry for the
	// trigger when this pass began, so no earlier delivery reached a
	// Mangopay call or took a mark. A redelivery without an entry may
	// follow a first delivery cut short (killed, or by the shutdown
	// timeout) in its first call: that one writes nothing before its calls
	// (see recordAttempt), but may have taken a mark.
	newEntry bool
	// marked: the user's entry may hold this trigger's mark of a call in
	// flight (taken by this delivery or an earlier one); see dropMark.
	marked bool
	// seen is the ledger entry, at seenRev, that a read or a conflicting
	// create of this delivery found last: the next pass starts from it
	// instead of reading it again.
	seen    *LedgerEntry
	seenRev uint64
	// stop ends at SIGTERM (see handle).
	stop context.Context
	// linkBody is the send-link event this delivery decided, kept in
	// memory only: the ledger records it without the link (see SentLink).
	linkBody []byte
}

// logContext appends the fields of every line logged for the delivery to
// fields: its event, user, stream sequence and delivery count, and its
// traceparent when it has one.
func (j *job) logContext(fields []zap.Field) []zap.Field {
	fields = append(fields, zap.String("event_id", j.eventID), zap.String("user_id", j.userID),
		zap.Uint64("stream_seq", j.streamSeq), zap.Uint64("attempt", j.delivered))
	if j.trace.Parent != "" {
		fields = append(fields, zap.String("traceparent", j.trace.Parent))
	}
	return fields
}

// typeUnknown is the type of a trigger whose event could not be decoded.
const typeUnknown = "unknown"

// Headers set by the operator tools (package ops) on triggers they publish.
const (
	// HeaderReplay marks a stored trigger republished unchanged by
	// `scaworker replay`: a decided skip, dlq or state outcome is reopened
	// and evaluated again; a link is left alone.
	HeaderReplay = "Sca-Replay"
	// HeaderReplayOf names the trigger a forced replay copies (new id).
	HeaderReplayOf = "Sca-Replay-Of"
	// HeaderRedriveOf names the dead-lettered trigger a redrive copies
	// (new id); its ledger entry takes the copy's outcome.
	HeaderRedriveOf = "Sca-Redrive-Of"
	// HeaderRedriveCount counts the redrives of one dead-lettered trigger.
	HeaderRedriveCount = "Sca-Redrive-Count"
)

// verdict is what evaluating a trigger decided.
type verdict struct {
	kind    verdictKind
	outcome string // for final verdicts
	reason  string
	err     error
	link    enroll.Result // for link outcomes
	email   string
	locale  string
}

type verdictKind int

const (
	final    verdictKind = iota // an outcome: record it, publish what it publishes, ack
	retry                       // a retryable failure: hand back with a delay
	fault                       // a deployment-wide fault: pause, hand back, never DLQ
	stopping                    // shutting down: hand back without a verdict
	wait                        // another trigger's call for the user is in flight: hand back until it ends
	restart                     // the ledger entry changed under this delivery: start over from it
)

func outcomeOf(outcome, reason string) verdict {
	return verdict{kind: final, outcome: outcome, reason: reason}
}

// errLedger marks a ledger write that failed before a call was made.
var errLedger = errors.New("ledger unavailable")

// errStopping means the worker is shutting down before a call was made.
var errStopping = errors.New("worker stopping")

// handle settles one delivery, in the hands of pool handler slot. stop
// ends at SIGTERM (no new waits); work ends at the shutdown timeout (calls
// and writes in progress stop).
func (c *Consumer) handle(stop, work context.Context, msg jetstream.Msg, slot int) {
	c.m.addInflight(1)
	defer c.m.addInflight(-1)
	c.heartbeat(slot, msg)
	defer c.beats.drop(slot)

	j := &job{msg: msg, subject: msg.Subject(), typ: typeUnknown, stop: stop}
	if h := msg.Headers(); h != nil {
		j.replay = h.Get(HeaderReplay)
	}
	if meta, err := msg.Metadata(); err == nil {
		j.streamSeq, j.delivered = meta.Sequence.Stream, meta.NumDelivered
	}
	ev, decErr := c.cfg.Subjects.Decode(j.subject, msg.Data())
	j.key, j.eventID = TriggerKey(c.cfg.Stream, j.streamSeq, ev, decErr)
	if decErr == nil {
		j.ev, j.typ, j.userID, j.trace = ev, ev.Type, ev.UserID, ev.Trace
		j.redriveOf = RedriveOf(msg.Headers(), ev.ID)
	} else {
		var inv *events.InvalidError
		if errors.As(decErr, &inv) {
			j.trace = inv.Trace // an invalid event's dead letter carries its trace too
		}
	}
	// Encoded only if the delivery logs through it: a settled trigger's
	// line is written with the same fields by report.
	j.log = c.log.WithLazy(j.logContext(nil)...)

	j.fresh = j.delivered == 1 && j.replay == ""
	// A compare-and-set conflict means another replica or delivery wrote
	// first: start over from what it wrote.
	s := settlement{verb: again}
	for i := 0; i < 5 && s.verb == again; i++ {
		s = c.process(stop, work, j, decErr)
	}
	if s.verb == again {
		s = redeliver(c.retryDelay(1), whyConflict)
	}
	c.finish(work, j, s)
}

// process reads the ledger and carries the trigger one step towards its
// outcome, and says how the delivery ends ([Consumer.finish] acts on it).
func (c *Consumer) process(stop, work context.Context, j *job, decErr error) settlement {
	var e *LedgerEntry
	var rev uint64
	var err error
	switch {
	case j.fresh:
		j.fresh = false // a conflict means the entry exists: read it next time
	case j.seen != nil:
		e, rev, j.seen = j.seen, j.seenRev, nil
	default:
		e, rev, err = c.ledger.get(work, j.key)
	}
	if err != nil {
		j.log.Warn("ledger unavailable; redelivering", zap.Error(err))
		return redeliver(c.retryDelay(1), whyRetry)
	}
	now := c.now()
	if e != nil && e.Outcome != "" {
		if !c.reopen(j, e, now) {
			j.entry = nil // decided: no attempt to record (see recordAttempt)
			return c.settle(work, j, e, rev, false)
		}
		j.log.Info("replay reopens a decided trigger", zap.String("outcome", e.Outcome), zap.String("reason", e.Reason))
	}
	if e == nil {
		e = &LedgerEntry{Type: j.typ, EventID: j.eventID, UserID: j.userID, StreamSeq: j.streamSeq, FirstAttemptAt: now, Seq: 1}
	}
	if j.redriveOf != "" {
		open, err := c.lineageOpen(work, j)
		if err != nil {
			j.log.Warn("ledger unavailable; redelivering", zap.Error(err))
			return redeliver(c.retryDelay(1), whyRetry)
		}
		if !open {
			j.log.Info("redrive copy settled as duplicate: its original is not dead-lettered for it", zap.String("redrive_of", j.redriveOf))
			return c.decide(work, j, e, rev, outcomeOf(events.OutcomeDuplicate, ""))
		}
	}
	e.Attempts++
	e.LastAttemptAt = now
	if decErr != nil {
		return c.decide(work, j, e, rev, verdict{kind: final, outcome: events.OutcomeDLQ, reason: events.ReasonInvalidEvent, err: decErr})
	}
	if e.Attempts > 1 && !e.LastFault && now.Sub(e.FirstAttemptAt) >= c.cfg.RetryBudget {
		if err := c.users.release(work, j.userID, j.key); err != nil {
			j.log.Warn("link mark not released; it lapses with its lease", zap.Error(err))
		}
		return c.decide(work, j, e, rev, verdict{kind: final, outcome: events.OutcomeDLQ, reason: events.ReasonMaxAttempts, err: errors.New(e.LastError)})
	}
	// The attempt is recorded before the first Mangopay call (see
	// recordAttempt); a verdict reached without one is recorded by the
	// write that decides it.
	j.entry, j.rev, j.recorded, j.newEntry = e, rev, false, rev == 0 && j.delivered == 1
	v := c.evaluate(stop, work, j, e)
	if v.kind == restart {
		return settlement{verb: again}
	}
	return c.conclude(work, j, e, j.rev, v)
}

// recordAttempt writes the attempt before the first Mangopay call of a
// delivery: the budget is counted by the worker, so a kill during the
// last allowed delivery still ends in the DLQ at the next one. It
// returns errConflict when another writer got there first.
func (c *Consumer) recordAttempt(ctx context.Context, j *job) error {
	if j.recorded || j.entry == nil {
		return nil
	}
	if j.newEntry && j.replay == "" {
		// A first try: no budget can end during it, so it only reads (see
		// the package documentation, step 3).
		e, rev, err := c.ledger.get(ctx, j.key)
		if err != nil {
			return fmt.Errorf("%w: %w", errLedger, err)
		}
		if e != nil {
			j.seen, j.seenRev = e, rev
			return errConflict
		}
		j.recorded = true
		return nil
	}
	rev, err := c.ledger.put(ctx, j.key, j.entry, j.rev)
	if errors.Is(err, errConflict) {
		j.keepFound(err)
		return err
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errLedger, err)
	}
	j.rev, j.recorded = rev, true
	return nil
}

// keepFound keeps the entry a conflicting create found (see foundError)
// for the next pass.
func (j *job) keepFound(err error) {
	if e, rev, ok := found(j.key, err); ok {
		j.seen, j.seenRev = e, rev
	}
}

// conclude maps a verdict to how the delivery ends: a final verdict is
// recorded and settled (ack, or term for a dead letter); the others save
// the pending entry's progress and hand the message back with a delay.
func (c *Consumer) conclude(ctx context.Context, j *job, e *LedgerEntry, rev uint64, v verdict) settlement {
	var s settlement
	switch v.kind {
	case final:
		if v.outcome != events.OutcomeLink {
			c.dropMark(ctx, j) // a trigger that ends without a link drops its mark
		}
		return c.decide(ctx, j, e, rev, v)
	case retry:
		e.LastError, e.LastFault = errText(v.err), false
		j.log.Warn("attempt failed; redelivering", zap.Error(v.err), zap.Int("attempts", e.Attempts))
		s = redeliver(c.retryDelay(e.Attempts), whyRetry)
	case fault:
		e.LastError, e.LastFault = errText(v.err), true
		s = redeliver(c.setFault(v.err), whyFault)
	case wait:
		e.LastError, e.LastFault = errText(v.err), false
		j.log.Debug("waiting for another trigger's link for the user", zap.Int("attempts", e.Attempts))
		s = redeliver(c.retryDelay(e.Attempts), whyWait)
	case stopping:
		e.Attempts-- // no work was done for it
		s = redeliver(time.Second, whyShutdown)
	}
	c.save(ctx, j, e, rev)
	return s
}

// save writes a pending entry's progress (key sequence, last error); a
// lost race or a failed write only costs a 409 read-back later.
func (c *Consumer) save(ctx context.Context, j *job, e *LedgerEntry, rev uint64) {
	if _, err := c.ledger.put(ctx, j.key, e, rev); err != nil {
		j.log.Debug("ledger progress not saved", zap.Error(err))
	}
}

// decide records a final verdict in the ledger, with the event it
// publishes, then settles it.
func (c *Consumer) decide(ctx context.Context, j *job, e *LedgerEntry, rev uint64, v verdict) settlement {
	now := c.now()
	e.Outcome, e.Reason, e.DecidedAt = v.outcome, v.reason, now
	switch v.outcome {
	case events.OutcomeLink:
		sent := &SentLink{Stream: c.cfg.LinksStream, Subject: c.cfg.Subjects.LinkSend, RecordedAt: now,
			StreamSeq: j.streamSeq, KeySeq: e.Seq, Locale: v.locale, Email: v.email}
		id, body, err := j.encodeLink(v.link.Link, v.link.ExpiresAt, sent)
		if err != nil { // cannot happen for a decoded trigger; never lose it
			j.log.Error("encode send-link event", zap.Error(err))
			return redeliver(c.retryDelay(e.Attempts), whyRetry)
		}
		e.LinkID, e.ExpiresAt, e.Sent = id, v.link.ExpiresAt, sent
		j.linkBody = body
	case events.OutcomeDLQ:
		e.LastError = errText(v.err)
		id := events.DeadLetterID(j.key, j.streamSeq)
		record := events.DeadLetter{
			EventID: j.eventID, Reason: v.reason, Error: e.LastError, Attempts: int(max(j.delivered, 1)),
			FirstAttemptAt: e.FirstAttemptAt, LastAttemptAt: e.LastAttemptAt, StreamSequence: j.streamSeq,
			Original: events.Original{Subject: j.subject, Headers: j.msg.Headers(), Body: j.msg.Data()},
			Trace:    j.trace,
		}
		body, err := events.EncodeDeadLetter(id, record, now)
		if err == nil && len(body) > c.maxRecord() {
			// A body near NATS's payload limit cannot travel inside a record
			// (nor, base64-encoded, inside the ledger): the record points at it.
			record.Original.Body = nil
			record.Error = fmt.Sprintf("%s; the original body (%d bytes) is too large for a dead-letter record: it stays in stream %s at sequence %d", record.Error, len(j.msg.Data()), c.cfg.Stream, j.streamSeq)
			e.LastError = record.Error
			body, err = events.EncodeDeadLetter(id, record, now)
		}
		if err != nil {
			j.log.Error("encode dead-letter record", zap.Error(err))
			return redeliver(c.retryDelay(e.Attempts), whyRetry)
		}
		e.Pending = &PendingEvent{Stream: c.cfg.DLQStream, Subject: c.cfg.Subjects.DLQSubject(j.subject), MsgID: id, Body: body, RecordedAt: now}
	}
	c.checkpoint("decided")
	rev, err := c.ledger.put(ctx, j.key, e, rev)
	if errors.Is(err, errConflict) {
		j.keepFound(err)
		return settlement{verb: again}
	}
	if err != nil {
		j.log.Warn("ledger unavailable; redelivering", zap.Error(err))
		return redeliver(c.retryDelay(e.Attempts), whyRetry)
	}
	c.checkpoint("recorded")
	return c.settle(ctx, j, e, rev, true)
}

// settle finishes a decided trigger: publishes its outcome event (with
// its deterministic message id, so a republish after a crash is dropped by
// JetStream); the settlement acknowledges it (term for a dead letter) and
// reports it. decidedNow is false for a redelivery or replay of a decided
// trigger.
func (c *Consumer) settle(ctx context.Context, j *job, e *LedgerEntry, rev uint64, decidedNow bool) settlement {
	var finishing bool
	switch {
	case e.Pending != nil:
		if s, ok := c.finishPending(ctx, j, e, rev, decidedNow); !ok {
			return s
		}
		finishing = true
	case e.Sent != nil && e.Outcome == events.OutcomeLink:
		done, s, ok := c.sendLink(ctx, j, e, decidedNow)
		if !ok {
			return s
		}
		finishing = done
	}
	c.takeOver(ctx, j, e)
	out := Outcome{Key: j.key, EventID: j.eventID, Type: j.typ, UserID: j.userID, Outcome: e.Outcome,
		Reason: e.Reason, Attempts: e.Attempts, StreamSeq: j.streamSeq, LinkID: e.LinkID}
	if e.Outcome == events.OutcomeDLQ {
		out.Error = e.LastError
	}
	if j.ev != nil {
		out.Source = j.ev.Source
	}
	s := settlement{verb: ack, out: &out, decided: decidedNow || finishing}
	if e.Outcome == events.OutcomeDLQ && s.decided {
		s.verb, s.reason = term, e.Reason
	}
	return s
}

// finishPending publishes the event e.Pending holds (a dead letter's
// record; a link recorded before links were kept out of the ledger) and
// removes it from the entry. ok is false when the delivery must end with s
// instead.
func (c *Consumer) finishPending(ctx context.Context, j *job, e *LedgerEntry, rev uint64, decidedNow bool) (s settlement, ok bool) {
	p := e.Pending
	publish := true
	if !p.ExpiresAt.IsZero() && c.linkLeft(p.ExpiresAt) < time.Second {
		// The link died before JetStream confirmed it: sending it now is
		// useless, and minting another could send this trigger twice.
		j.log.Warn("link expired before its publish was confirmed; not sent again")
		publish = false
	}
	if publish && !decidedNow && !c.dedupes(p) {
		// Past the stream's duplicate window JetStream would take a second
		// copy: look for the first one instead.
		found, err := c.published(ctx, p)
		if err != nil {
			j.log.Warn("cannot tell whether the outcome was published; redelivering", zap.Error(err))
			return redeliver(c.retryDelay(1), whyRetry), false
		}
		publish = !found
	}
	if publish {
		if err := c.publishEvent(ctx, p.Subject, p.MsgID, p.Body, p.ExpiresAt); err != nil && !errors.Is(err, errLinkDead) {
			j.log.Warn("publish outcome failed; redelivering", zap.Error(err))
			return redeliver(c.retryDelay(1), whyRetry), false
		}
	}
	if e.Outcome == events.OutcomeLink && !decidedNow {
		c.countLink(ctx, j, e)
	}
	e.Pending = nil // the link's token leaves the ledger with it
	if _, err := c.ledger.put(ctx, j.key, e, rev); err != nil {
		// Not acknowledged until the ledger says published: an ack here
		// would leave the link's token in the ledger for good. The next
		// round finds the event published (message id or stream lookup).
		if errors.Is(err, errConflict) {
			return settlement{verb: again}, false
		}
		j.log.Warn("ledger publish mark not saved; redelivering", zap.Error(err))
		return redeliver(c.retryDelay(1), whyRetry), false
	}
	return settlement{}, true
}

// sendLink publishes the send-link event of link outcome e. The delivery
// that decided it has the event in hand (j.linkBody). Any later delivery
// has only the entry (see SentLink): a redelivery of the deciding message,
// while the link lives, looks for the event in the links stream and, when
// the publish never happened, reads the link back from Mangopay and
// publishes the same event; a copy of the trigger (a replay, a duplicate)
// leaves that to the deciding message, which is not acknowledged before
// its event is published. finished says this delivery finished the link's
// delivery (the deciding delivery did, or one redelivering its message,
// which then reports the outcome the first never acknowledged); ok is false
// when the delivery must end with s instead.
func (c *Consumer) sendLink(ctx context.Context, j *job, e *LedgerEntry, decidedNow bool) (finished bool, s settlement, ok bool) {
	r := e.Sent
	body := j.linkBody
	if !decidedNow {
		if j.streamSeq != r.StreamSeq || j.ev == nil {
			return false, settlement{}, true
		}
		if c.linkLeft(e.ExpiresAt) < time.Second {
			// Dead: whether or not it was sent, nothing is sent again and no
			// other link is minted for this trigger.
			j.log.Warn("recorded link expired before its publish was confirmed; not sent again")
			return true, settlement{}, true
		}
		p := &PendingEvent{Stream: r.Stream, Subject: r.Subject, RecordedAt: r.RecordedAt, MsgID: e.LinkID}
		found, err := c.published(ctx, p)
		if err != nil {
			j.log.Warn("cannot tell whether the link was published; redelivering", zap.Error(err))
			return false, redeliver(c.retryDelay(1), whyRetry), false
		}
		if found {
			c.countLink(ctx, j, e)
			return true, settlement{}, true
		}
		if body, err = c.rebuildLink(ctx, j, e); err != nil {
			// Tried again until the link's life ends; never minted anew.
			j.log.Warn("recorded link not published and not read back; redelivering", zap.Error(err))
			return false, redeliver(c.retryDelay(1), whyRetry), false
		}
		j.log.Info("recorded link read back from Mangopay and published")
	}
	if err := c.publishEvent(ctx, r.Subject, e.LinkID, body, e.ExpiresAt); errors.Is(err, errLinkDead) {
		// It died while it was read back (a rate-limit window, a slow
		// Mangopay), or before its first publish: as above, not sent.
		j.log.Warn("recorded link expired before its publish was confirmed; not sent again")
		return true, settlement{}, true
	} else if err != nil {
		j.log.Warn("publish outcome failed; redelivering", zap.Error(err))
		return false, redeliver(c.retryDelay(1), whyRetry), false
	}
	if !decidedNow {
		c.countLink(ctx, j, e)
	}
	return true, settlement{}, true
}

// rebuildLink reads link outcome e's link back from Mangopay and encodes
// the event its deciding delivery published (or would have).
func (c *Consumer) rebuildLink(ctx context.Context, j *job, e *LedgerEntry) ([]byte, error) {
	r := e.Sent
	var link string
	err := c.call(j.stop, ctx, j, "read_link", func(ctx context.Context) (err error) {
		link, err = c.mp.ReadLink(ctx, j.ev.UserID, j.key, r.KeySeq, r.Locale)
		return err
	})
	if err != nil {
		return nil, err
	}
	_, body, err := j.encodeLink(link, e.ExpiresAt, r)
	return body, err
}

// encodeLink encodes trigger j's send-link event for link as sent records
// it (its time, locale and e-mail): the delivery that decides the link and
// one that reads it back after a crash encode the very same event.
func (j *job) encodeLink(link string, expiresAt time.Time, sent *SentLink) (id string, body []byte, err error) {
	return events.EncodeLinkSend(j.key, events.LinkSend{
		UserID: j.ev.UserID, RedirectURL: link, ExpiresAt: expiresAt, Trigger: j.ev.Ref(),
		Locale: sent.Locale, Email: sent.Email, Trace: j.trace,
	}, sent.RecordedAt)
}

// errLinkDead: a link has less than a whole second left. It is not
// published: JetStream takes no TTL under a second (the client then sends
// none), so the message would outlive the link.
var errLinkDead = errors.New("link expired")

// publishEvent publishes an outcome event with its message id and, for a
// link (expiresAt set), a TTL of the whole seconds it has left; a link
// without one is not published (errLinkDead).
func (c *Consumer) publishEvent(ctx context.Context, subject, msgID string, body []byte, expiresAt time.Time) error {
	opts := []jetstream.PublishOpt{jetstream.WithMsgID(msgID)}
	if !expiresAt.IsZero() {
		ttl := c.linkLeft(expiresAt)
		c.m.linkLeft(ttl.Seconds())
		if ttl < time.Second {
			return errLinkDead
		}
		opts = append(opts, jetstream.WithMsgTTL(ttl))
	}
	if _, err := c.js.Publish(ctx, subject, body, opts...); err != nil {
		return err
	}
	c.checkpoint("published")
	return nil
}

// linkLeft is the whole seconds a link expiring at expiresAt has left.
func (c *Consumer) linkLeft(expiresAt time.Time) time.Duration {
	return expiresAt.Sub(c.now()).Truncate(time.Second)
}

// countLink counts a link finished by a later delivery in the user's
// entry. A link decided by this delivery was counted by its claim when
// Mangopay answered; one finished after a crash is counted here, even when
// its publish could not be confirmed: it may have been sent.
func (c *Consumer) countLink(ctx context.Context, j *job, e *LedgerEntry) {
	if err := c.users.publish(ctx, e.UserID, j.key, e.ExpiresAt.Add(-enroll.LinkTTL)); err != nil {
		j.log.Warn("user link count not updated", zap.Error(err))
	}
}

// maxRecord is the largest dead-letter record that fits in a message and,
// base64-encoded as a pending event, in a ledger entry.
func (c *Consumer) maxRecord() int {
	limit := int64(1 << 20) // NATS's default max payload
	if nc := c.js.Conn(); nc != nil && nc.MaxPayload() > 0 {
		limit = nc.MaxPayload()
	}
	return int(limit*3/4) - 8<<10
}

// errText is an error's text for the ledger and DLQ records; enroll's
// errors never carry secrets.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
