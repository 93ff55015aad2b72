package consumer_test

import (
	"context"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
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
				if point == "recorded" {
					// The link was recorded, never published: the redelivery found no
					// event in the links stream and read the link back, without a POST.
					if n := w.Sim.Count("POST", "/enrollment"); n != 1 {
						t.Errorf("enrollment POSTs = %d, want 1 (the recorded link is read back, not minted again)", n)
					}
					if n := w.Sim.Count("GET", "/responses/"+enroll.IdempotencyKey(events.KeyOf("/users", "c1"), 1)); n != 1 {
						t.Errorf("reads of the link's stored answer = %d, want 1", n)
					}
				}
			})
		}
	}
}

// TestLedgerNeverHoldsTheLink: the ledger records a link outcome without
// the link (its token) — between the publish and the ack, and after — and
// the entry is not written again after the publish.
func TestLedgerNeverHoldsTheLink(t *testing.T) {
	t.Parallel()
	var (
		world  atomic.Pointer[testworld.World]
		during atomic.Pointer[[]byte]
	)
	w := testworld.New(t, testworld.Options{
		Checkpoint: func(p string) {
			w := world.Load()
			if p != "published" || w == nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			kv, err := w.JS.KeyValue(ctx, w.Config.Defaults().LedgerBucket)
			if err != nil {
				t.Errorf("ledger bucket: %v", err)
				return
			}
			e, err := kv.Get(ctx, events.KeyOf("/users", "c1"))
			if err != nil {
				t.Errorf("ledger entry: %v", err)
				return
			}
			b := e.Value()
			during.Store(&b)
		},
	})
	world.Store(w)
	w.UserCreated("c1", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
	if got := w.OutcomeFor("c1"); got.Outcome != events.OutcomeLink {
		t.Fatalf("outcome = %s/%s, want link", got.Outcome, got.Reason)
	}
	w.Settled()
	links := w.Links()
	if len(links) != 1 {
		t.Fatalf("links = %d, want exactly 1", len(links))
	}
	u, err := url.Parse(links[0].RedirectURL)
	if err != nil {
		t.Fatalf("link: %v", err)
	}
	token := u.Query().Get("token")
	if token == "" {
		t.Fatalf("the simulator's link has no token")
	}
	b := during.Load()
	if b == nil {
		t.Fatal("the handler never reached the published checkpoint")
	}
	kv, err := w.JS.KeyValue(w.Context(), w.Config.Defaults().LedgerBucket)
	if err != nil {
		t.Fatalf("ledger bucket: %v", err)
	}
	after, err := kv.Get(w.Context(), events.KeyOf("/users", "c1"))
	if err != nil {
		t.Fatalf("ledger entry: %v", err)
	}
	for name, v := range map[string][]byte{"after the publish": *b, "after the ack": after.Value()} {
		if strings.Contains(string(v), links[0].RedirectURL) || strings.Contains(string(v), token) || strings.Contains(string(v), "redirect_url") {
			t.Errorf("ledger entry %s holds the link: %s", name, v)
		}
	}
	if after.Revision() != 1 {
		t.Errorf("ledger entry revision = %d, want 1: a link is recorded by the one write that decides it", after.Revision())
	}
}

// TestLinkDyingDuringItsReadBackIsNotPublished: a link recorded but never
// published (the handler died) is read back by the redelivery of its
// message; when a Mangopay rate-limit window holds that read back until
// the link has died, the link is not published: with no whole second left
// it would carry no TTL and outlive its expiry in the links stream.
func TestLinkDyingDuringItsReadBackIsNotPublished(t *testing.T) {
	t.Parallel()
	// The redelivery comes about AckWait (2s) after the handler died: the link
	// is alive then, with ample margin.
	const life = 12 * time.Second
	var (
		world atomic.Pointer[testworld.World]
		died  atomic.Int32
	)
	w := testworld.New(t, testworld.Options{
		Mangopay: func(mp consumer.Mangopay) consumer.Mangopay { return agedLinks{mp, life} },
		Checkpoint: func(p string) {
			w := world.Load()
			if p != "recorded" || w == nil || died.Add(1) != 1 {
				return
			}
			// Every window spent until a second after the link dies.
			w.Sim.SetFaults(mangosim.Faults{RateLimitedUntil: time.Now().Add(life + time.Second)})
			runtime.Goexit()
		},
	})
	world.Store(w)
	w.UserCreated("c1", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
	got := w.OutcomeFor("c1")
	if got.Outcome != events.OutcomeLink {
		t.Fatalf("outcome = %s/%s, want link", got.Outcome, got.Reason)
	}
	if died.Load() == 0 {
		t.Fatal("the handler never reached the recorded checkpoint")
	}
	w.Settled()
	// The redelivery found the link alive and read it back, held by the
	// window until the link had died.
	read := "/responses/" + enroll.IdempotencyKey(events.KeyOf("/users", "c1"), 1)
	var limited, answered int
	for _, c := range w.Sim.Calls() {
		if c.Method == "GET" && strings.HasSuffix(c.Path, read) {
			switch c.Status {
			case 429:
				limited++
			case 200:
				answered++
			}
		}
	}
	if limited == 0 || answered == 0 {
		t.Fatalf("reads of the link's stored answer: %d answered 429, %d answered 200; want both", limited, answered)
	}
	if links := w.Links(); len(links) != 0 {
		t.Errorf("links = %d, want none: the link expired at %s, before its read back ended", len(links), links[0].ExpiresAt)
	}
}

// agedLinks is the Mangopay client whose fresh links have only left to
// live, as if Mangopay had answered long ago.
type agedLinks struct {
	consumer.Mangopay
	left time.Duration
}

func (a agedLinks) Enroll(ctx context.Context, req enroll.Request) (enroll.Result, error) {
	res, err := a.Mangopay.Enroll(ctx, req)
	if err == nil && !res.NotRequired {
		res.ExpiresAt = time.Now().Add(a.left)
		res.MintedAt = res.ExpiresAt.Add(-enroll.LinkTTL)
	}
	return res, err
}
