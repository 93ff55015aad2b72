package consumer

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/events"
)

// settlement is how one delivery ends. Every path of handle returns one,
// and [Consumer.finish] is the one place that acts on it: the only place
// a trigger message is acknowledged, terminated or handed back.
type settlement struct {
	verb   verb
	delay  time.Duration // nak: JetStream delivers the message again after it
	why    string        // nak: the why label of scaworker_deliveries_total
	reason string        // term: the dead-letter reason
	// out is the trigger's outcome (ack and term), reported once the
	// message is settled; decided says it was decided or finished by this
	// delivery, not found decided (a duplicate).
	out     *Outcome
	decided bool
}

type verb int

const (
	again verb = iota // a ledger write lost a race: start over from the ledger
	nak               // hand back: NakWithDelay, no outcome yet
	ack               // outcome durable: acknowledged and confirmed (see acks)
	term              // dead-lettered (record published): TermWithReason
)

// Why a delivery was handed back: the label values of scaworker_deliveries_total.
const (
	whyRetry    = "retry"    // a retryable failure; the budget runs
	whyWait     = "wait"     // another trigger's call for the user is in flight
	whyFault    = "fault"    // a deployment-wide fault paused the worker
	whyShutdown = "shutdown" // the worker is stopping
	whyConflict = "conflict" // ledger races kept being lost
)

// redeliver hands the message back to JetStream after delay.
func redeliver(delay time.Duration, why string) settlement {
	return settlement{verb: nak, delay: delay, why: why}
}

// finish settles the message as s says, then reports the outcome it
// carries: NakWithDelay hands it back (JetStream delivers it again after
// the delay; without an ack or nak it would after AckWait), an ack waits
// for JetStream to confirm it (see acks), TermWithReason ends its
// deliveries for good once its dead-letter record is published.
func (c *Consumer) finish(ctx context.Context, j *job, s settlement) {
	var err error
	switch s.verb {
	case ack:
		err = c.acks.ack(ctx, j.msg)
	case term:
		err = j.msg.TermWithReason(s.reason)
	default: // nak; again never reaches here
		if err := j.msg.NakWithDelay(s.delay); err != nil {
			j.log.Warn("nak failed; JetStream redelivers after the ack wait", zap.Error(err))
		}
		c.m.handedBack(s.why)
		return
	}
	if err != nil {
		j.log.Warn("ack failed; JetStream redelivers the trigger, which then settles as a duplicate (a link found in the links stream is reported again)", zap.Error(err))
	}
	c.report(j, s)
}

// report logs, counts and passes on a settled outcome.
func (c *Consumer) report(j *job, s settlement) {
	out := *s.out
	if s.decided {
		// The line j.log would write, without encoding its context twice.
		if ce := c.log.Check(zap.InfoLevel, "trigger settled"); ce != nil {
			ce.Write(append(j.logContext(make([]zap.Field, 0, 8)),
				zap.String("outcome", out.Outcome), zap.String("reason", out.Reason), zap.Int("attempts", out.Attempts))...)
		}
		c.m.outcome(j.typ, out.Outcome, out.Reason, out.Attempts)
	} else {
		j.log.Debug("duplicate trigger", zap.String("outcome", out.Outcome))
		out.Outcome, out.Reason = events.OutcomeDuplicate, ""
		c.m.outcome(j.typ, events.OutcomeDuplicate, "", 0)
	}
	if c.onOutcome != nil {
		c.onOutcome(out)
	}
}

// acks acknowledges messages and waits for JetStream to confirm each, as
// DoubleAck does, so a handler takes its next message only once the
// server no longer counts this one as held (SCA_CONCURRENCY bounds what
// the server sees as held, not only what the worker handles). The acks
// of the handlers that finish together are confirmed together: one
// goroutine sends all but the last as plain acks and the last as a
// double ack; JetStream processes a consumer's acks from one connection
// in order, so the answer to the last confirms them all, with one reply
// instead of one per message (when the client reconnected meanwhile, the
// plain acks may have died with the old connection: each is then
// confirmed on its own).
type acks struct {
	q    *requests
	in   chan ackRequest
	done chan struct{}
	// errs holds the channels handlers wait on, reused.
	errs sync.Pool
}

type ackRequest struct {
	msg jetstream.Msg
	err chan error
}

// startAcks starts confirming acks with q until stop; size is how many
// handlers ack at once at most.
func startAcks(ctx context.Context, q *requests, size int) *acks {
	a := &acks{q: q, in: make(chan ackRequest, size), done: make(chan struct{}),
		errs: sync.Pool{New: func() any { return make(chan error, 1) }}}
	go a.run(ctx, size)
	return a
}

// stop ends the confirming once no handler acks any more.
func (a *acks) stop() {
	close(a.in)
	<-a.done
}

// ack acknowledges msg and waits until JetStream confirmed it.
func (a *acks) ack(ctx context.Context, msg jetstream.Msg) error {
	if msg.Reply() == "" {
		return jetstream.ErrMsgNoReply
	}
	errc := a.errs.Get().(chan error)
	a.in <- ackRequest{msg: msg, err: errc}
	err := <-errc
	a.errs.Put(errc)
	return err
}

func (a *acks) run(ctx context.Context, size int) {
	defer close(a.done)
	batch := make([]ackRequest, 0, size)
	errs := make([]error, 0, size)
	for {
		r, ok := <-a.in
		if !ok {
			return
		}
		batch = append(batch[:0], r)
	more:
		for len(batch) < cap(batch) {
			select {
			case r, ok := <-a.in:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		errs = errs[:0]
		last := len(batch) - 1
		var conn uint64
		if last > 0 {
			conn = a.q.nc.Stats().Reconnects
		}
		for _, r := range batch[:last] {
			errs = append(errs, a.q.nc.Publish(r.msg.Reply(), ackBody))
		}
		confirmed := a.q.doubleAck(ctx, batch[last].msg)
		if confirmed == nil && last > 0 && a.q.nc.Stats().Reconnects != conn {
			// The client reconnected while the group was on its way: plain
			// acks written to the old connection may never have reached the
			// server (nats.go drops what it had not flushed, a dying socket
			// what the server had not read), and the answer came over the
			// new one. Each is confirmed on its own; an ack twice is harmless.
			for i, r := range batch[:last] {
				if errs[i] == nil {
					errs[i] = a.q.doubleAck(ctx, r.msg)
				}
			}
		}
		for i, r := range batch[:last] {
			if errs[i] == nil {
				errs[i] = confirmed
			}
			r.err <- errs[i]
		}
		batch[last].err <- confirmed
	}
}
