package consumer

import (
	"context"
	"time"

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
	ack               // outcome durable: DoubleAck
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
// the delay; without an ack or nak it would after AckWait), DoubleAck
// waits for JetStream to confirm the ack, TermWithReason ends its
// deliveries for good once its dead-letter record is published.
func (c *Consumer) finish(ctx context.Context, j *job, s settlement) {
	var err error
	switch s.verb {
	case ack:
		err = j.msg.DoubleAck(ctx)
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
		j.log.Info("trigger settled", zap.String("outcome", out.Outcome), zap.String("reason", out.Reason), zap.Int("attempts", out.Attempts))
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
