package consumer_test

import (
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

// TestRecordedLinkWithCopiesReplicaRestartAnd429: the handler dies after
// recording a link and before publishing it; meanwhile a replay copy and a
// duplicate copy of the trigger arrive, every Mangopay window is spent for
// a while, NATS restarts and a second replica joins. The copies settle as
// duplicates, the deciding message's redelivery reads the link back, and
// exactly one link is published, minted by one POST, with no secret logged.
func TestRecordedLinkWithCopiesReplicaRestartAnd429(t *testing.T) {
	t.Parallel()
	var (
		world atomic.Pointer[testworld.World]
		died  atomic.Int32
	)
	w := testworld.New(t, testworld.Options{
		Consumer: func(c *consumer.Config) { c.AckWait = 2 * time.Second },
		Checkpoint: func(p string) {
			w := world.Load()
			if p != "recorded" || w == nil || died.Add(1) != 1 {
				return
			}
			w.Sim.SetFaults(mangosim.Faults{RateLimitedUntil: time.Now().Add(3 * time.Second)})
			body := testworld.CloudEvent(events.TypeUserCreated, "/users", "c1", map[string]any{"user_id": mangosim.UserOwnerNatural, "category": "OWNER"})
			w.PublishMsg(&nats.Msg{Subject: events.DefaultSubjects().UserCreated, Data: body, Header: nats.Header{consumer.HeaderReplay: []string{"1"}, "Nats-Msg-Id": []string{"replay-c1"}}})
			w.Publish(events.DefaultSubjects().UserCreated, body, "dup-c1")
			runtime.Goexit()
		},
	})
	world.Store(w)
	w.UserCreated("c1", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
	testworld.WaitFor(t, "the crash", 20*time.Second, func() bool { return died.Load() > 0 })
	w.RestartServer()
	w.StartReplica()
	testworld.WaitFor(t, "three outcomes for c1", 60*time.Second, func() bool {
		n := 0
		for _, o := range w.Outcomes() {
			if o.EventID == "c1" {
				n++
			}
		}
		return n >= 3
	})
	w.Settled()
	var got []string
	for _, o := range w.Outcomes() {
		if o.EventID == "c1" {
			got = append(got, o.Outcome)
		}
	}
	if strings.Join(got, ",") != "duplicate,duplicate,link" && strings.Join(got, ",") != "duplicate,link,duplicate" && strings.Join(got, ",") != "link,duplicate,duplicate" {
		t.Errorf("outcomes of c1 = %v, want one link and two duplicates", got)
	}
	if n := w.Sim.Count("POST", "/enrollment"); n != 1 {
		t.Errorf("enrollment POSTs = %d, want 1", n)
	}
	if n := w.Sim.Count("GET", "/responses/"+enroll.IdempotencyKey(events.KeyOf("/users", "c1"), 1)); n == 0 {
		t.Error("the recorded link was never read back")
	}
	if n := len(w.Links()); n != 1 {
		t.Fatalf("links = %d, want 1", n)
	}
	w.CheckNoSecrets()
}
