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
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

// TestHandlerDiesAtEveryStep stops a handler dead (runtime.Goexit: no ack,
// no nak, no further write) at each step where a crash is telling, lets
// JetStream redeliver, and checks the trigger ends with exactly one link.
// With a one-second duplicate window on the links stream, the redelivery
// comes after JetStream forgot the first publish, so only the ledger and
// the stream lookup can prevent a second link. The worker has a single
// handler: the one that died must be replaced for the redelivery to be
// handled at all.
func TestHandlerDiesAtEveryStep(t *testing.T) {
	t.Parallel()
	for _, point := range []string{"decided", "recorded", "published"} {
		for _, window := range []time.Duration{time.Second, 15 * time.Minute} {
			t.Run(point+"/dupe-window-"+window.String(), func(t *testing.T) {
				t.Parallel()
				var died atomic.Int32
				w := testworld.New(t, testworld.Options{
					// Redelivery two seconds after the handler died, past the one-second
					// duplicate window; a call gets 1.5s before its attempt fails (a
					// timed-out POST would be a third one). One handler: a handler that
					// dies must be replaced, or the worker stops.
					Consumer: func(c *consumer.Config) {
						c.AckWait, c.AttemptTimeout, c.Concurrency = 2*time.Second, 1500*time.Millisecond, 1
					},
					// A links stream whose duplicate window is window.
					Links: &jetstream.StreamConfig{
						Subjects: []string{"sca.links.>"}, AllowMsgTTL: true,
						Duplicates: window, MaxAge: time.Hour,
					},
					Checkpoint: func(p string) {
						if p == point && died.Add(1) == 1 {
							runtime.Goexit()
						}
					},
				})
				w.UserCreated("c1", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
				got := w.OutcomeFor("c1")
				if got.Outcome != events.OutcomeLink {
					t.Fatalf("outcome = %s/%s, want link", got.Outcome, got.Reason)
				}
				if died.Load() == 0 {
					t.Fatalf("the handler never reached %q", point)
				}
				w.Settled()
				if n := len(w.Links()); n != 1 {
					t.Errorf("links = %d, want exactly 1", n)
				}
				if n := w.Sim.Count("POST", "/enrollment"); n > 2 {
					t.Errorf("enrollment POSTs = %d, want at most 2 (the second answered 409 and read back)", n)
				}
			})
		}
	}
}

// TestPublishedMarkIsSavedBeforeTheAck: when the write that clears the
// pending event (and the link's token with it) loses a race right after
// the publish, the delivery is not acknowledged until a later round has
// cleared it, so no token stays in the ledger.
func TestPublishedMarkIsSavedBeforeTheAck(t *testing.T) {
	t.Parallel()
	var (
		world   atomic.Pointer[testworld.World]
		touched atomic.Int32
	)
	w := testworld.New(t, testworld.Options{
		Checkpoint: func(p string) {
			w := world.Load()
			if p != "published" || w == nil || touched.Add(1) != 1 {
				return
			}
			// Another writer touches the entry between the publish and the
			// write that clears the pending event.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			kv, err := w.JS.KeyValue(ctx, w.Config.Defaults().LedgerBucket)
			if err != nil {
				t.Errorf("ledger bucket: %v", err)
				return
			}
			key := events.KeyOf("/users", "c1")
			e, err := kv.Get(ctx, key)
			if err != nil {
				t.Errorf("ledger entry: %v", err)
				return
			}
			if _, err := kv.Put(ctx, key, e.Value()); err != nil {
				t.Errorf("touch ledger entry: %v", err)
			}
		},
	})
	world.Store(w)
	w.UserCreated("c1", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
	if got := w.OutcomeFor("c1"); got.Outcome != events.OutcomeLink {
		t.Fatalf("outcome = %s/%s, want link", got.Outcome, got.Reason)
	}
	w.Settled()
	if touched.Load() == 0 {
		t.Fatal("the handler never reached the published checkpoint")
	}
	var e consumer.LedgerEntry
	if !w.LedgerEntry("/users", "c1", &e) {
		t.Fatal("no ledger entry for c1")
	}
	if e.Pending != nil {
		t.Errorf("ledger entry still holds the pending event (and the link's token) after the ack")
	}
	if n := len(w.Links()); n != 1 {
		t.Errorf("links = %d, want exactly 1", n)
	}
}
