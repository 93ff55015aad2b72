package consumer_test

import (
	"testing"
	"time"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

// TestHeartbeatOutlastsAckWait holds triggers in hand for several ack
// waits (a spent rate-limit window) and checks that JetStream never
// redelivers them meanwhile: the shared heartbeat keeps every one alive.
func TestHeartbeatOutlastsAckWait(t *testing.T) {
	t.Parallel()
	// An ack wait of a second: a beat comes every third of it, so a beat late
	// by half a second (a loaded machine, the race detector) is still in
	// time; and a Mangopay call gets 700ms before its attempt fails.
	const ackWait = time.Second
	w := testworld.New(t, testworld.Options{NoStart: true, Consumer: func(c *consumer.Config) {
		c.AckWait, c.AttemptTimeout = ackWait, 700*time.Millisecond
	}})
	w.Sim.SetFaults(mangosim.Faults{RateLimitedUntil: time.Now().Add(5 * ackWait)})
	users := map[string]string{"hb-1": mangosim.UserOwnerNatural, "hb-2": mangosim.UserOwnerNatural2, "hb-3": mangosim.UserOwnerSoletrader}
	for id, user := range users {
		w.UserCreated(id, user, map[string]any{"category": "OWNER", "email": "owner@example.com"})
	}
	w.Start()
	for id := range users {
		if o := w.OutcomeFor(id); o.Outcome != events.OutcomeLink {
			t.Errorf("%s: outcome %s/%s, want a link", id, o.Outcome, o.Reason)
		}
	}
	// A redelivery would show as a duplicate outcome, or as a second attempt.
	for _, o := range w.Outcomes() {
		if o.Outcome == events.OutcomeDuplicate || o.Attempts != 1 {
			t.Errorf("%s: outcome %s after %d attempts: the message was redelivered while in hand", o.EventID, o.Outcome, o.Attempts)
		}
	}
}
