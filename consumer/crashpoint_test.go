package consumer_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/mangosim"
)

// TestHandlerDiesAtEveryStep stops a handler dead (runtime.Goexit: no ack,
// no nak, no further write) at each step where a crash is telling, lets
// JetStream redeliver, and checks the trigger ends with exactly one link.
// With a one-second duplicate window on the links stream, the redelivery
// comes after JetStream forgot the first publish, so only the ledger and
// the stream lookup can prevent a second link.
func TestHandlerDiesAtEveryStep(t *testing.T) {
	t.Parallel()
	for _, point := range []string{"decided", "recorded", "published"} {
		for _, window := range []time.Duration{time.Second, 15 * time.Minute} {
			t.Run(point+"/dupe-window-"+window.String(), func(t *testing.T) {
				t.Parallel()
				var died atomic.Int32
				b := setup(t, setupOpts{noStart: true, cfg: func(c *consumer.Config) { c.AckWait = time.Second; c.AttemptTimeout = 500 * time.Millisecond }})
				recreateLinks(t, b, window)
				b.cons = newConsumer(t, b, func(p string) {
					if p == point && died.Add(1) == 1 {
						runtime.Goexit()
					}
				})
				b.start()
				b.userCreated("c1", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
				got := b.outcomeFor("c1")
				if got.Outcome != events.OutcomeLink {
					t.Fatalf("outcome = %s/%s, want link", got.Outcome, got.Reason)
				}
				if died.Load() == 0 {
					t.Fatalf("the handler never reached %q", point)
				}
				b.settled()
				if n := len(b.links()); n != 1 {
					t.Errorf("links = %d, want exactly 1", n)
				}
				if n := b.sim.Count("POST", "/enrollment"); n > 2 {
					t.Errorf("enrollment POSTs = %d, want at most 2 (the second answered 409 and read back)", n)
				}
			})
		}
	}
}

// recreateLinks replaces the links stream with one whose duplicate window
// is window, before the consumer starts.
func recreateLinks(t *testing.T, b *bundle, window time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	name := b.cfg.Defaults().LinksStream
	if err := b.js.DeleteStream(ctx, name); err != nil {
		t.Fatalf("delete links stream: %v", err)
	}
	if _, err := b.js.CreateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{"sca.links.>"}, AllowMsgTTL: true,
		Duplicates: window, MaxAge: time.Hour,
	}); err != nil {
		t.Fatalf("create links stream: %v", err)
	}
}

func newConsumer(t *testing.T, b *bundle, checkpoint func(string)) *consumer.Consumer {
	t.Helper()
	c, err := consumer.New(b.cfg, consumer.Deps{
		JS: b.js, Mangopay: b.client, Pacer: b.client.Governor(),
		Log: b.logger, Checkpoint: checkpoint,
		OnOutcome: func(o consumer.Outcome) {
			b.mu.Lock()
			b.outcomes = append(b.outcomes, o)
			b.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("consumer.New: %v", err)
	}
	return c
}
