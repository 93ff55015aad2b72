package ops_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
	"github.com/scaworker/scaworker/ops/dlq"
	"github.com/scaworker/scaworker/ops/replay"
)

// A trigger and its redrive copies are one lineage: whatever the order of
// `replay` and `dlq redrive`, it gets at most one link.

// legalOwner is the legal owner of mangosim.UserOwnerLegalNoRep, with or
// without the representative's e-mail (whose absence dead-letters it).
func legalOwner(repEmail string) mangosim.User {
	return mangosim.User{ID: mangosim.UserOwnerLegalNoRep, Category: mangosim.CategoryOwner, PersonType: mangosim.PersonLegal,
		LegalPersonType: "BUSINESS", Status: mangosim.StatusActive, Email: "company@example.com",
		LegalRepresentativeEmail: repEmail}
}

// expiry stores the session expiry exp-1 of the legal owner without
// representative e-mail and waits for its dead letter.
func (w *world) expiry() uint64 {
	w.T.Helper()
	seq := w.Hook(events.TypeSessionExpired, "exp-1", mangosim.UserOwnerLegalNoRep, time.Now())
	if got := w.OutcomeFor("exp-1"); got.Outcome != events.OutcomeDLQ || got.Reason != events.ReasonMissingLegalRepEmail {
		w.T.Fatalf("exp-1: outcome %s/%s, want dlq/%s", got.Outcome, got.Reason, events.ReasonMissingLegalRepEmail)
	}
	return seq
}

func (w *world) replay(cfg replay.Config) *replay.Report {
	w.T.Helper()
	cfg.Layout, cfg.Rate = w.Config, enroll.Rate{N: 100000, Per: time.Second}
	rep, err := replay.Run(w.Context(), w.JS, cfg)
	if err != nil {
		w.T.Fatalf("replay: %v", err)
	}
	return rep
}

func (w *world) redrive(f dlq.Filter) []dlq.RedriveResult {
	w.T.Helper()
	res, err := dlq.New(w.JS, dlq.Config{Layout: w.Config, Log: w.Log, Operator: "alice"}).Redrive(w.Context(), f)
	if err != nil {
		w.T.Fatalf("redrive: %v", err)
	}
	return res
}

// waitRecords waits for n dead letters and returns them.
func (w *world) waitRecords(n int) []dlq.Record {
	w.T.Helper()
	var recs []dlq.Record
	testworld.WaitFor(w.T, "dead letters", testworld.Timeout, func() bool {
		var err error
		recs, err = dlq.New(w.JS, dlq.Config{Layout: w.Config}).List(w.Context(), dlq.Filter{}, 0)
		return err == nil && len(recs) >= n
	})
	if len(recs) != n {
		w.T.Fatalf("dead letters = %d, want %d", len(recs), n)
	}
	return recs
}

// links counts the links sent to the legal owner, once the consumer has
// settled everything stored.
func (w *world) links() int {
	w.T.Helper()
	w.Settled()
	n := 0
	for _, l := range w.Links() {
		if l.UserID == mangosim.UserOwnerLegalNoRep {
			n++
		}
	}
	return n
}

// republish stores the message at seq again (its headers but JetStream's,
// then h; body when set), as a publisher repeating itself, or a tool that
// read the ledger before another one changed it, would.
func (w *world) republish(seq uint64, h map[string]string, body []byte) uint64 {
	w.T.Helper()
	st, err := w.JS.Stream(w.Context(), "SCA_EVENTS")
	if err != nil {
		w.T.Fatal(err)
	}
	m, err := st.GetMsg(w.Context(), seq)
	if err != nil {
		w.T.Fatal(err)
	}
	msg := nats.NewMsg(m.Subject)
	msg.Data = m.Data
	if body != nil {
		msg.Data = body
	}
	for k, vs := range m.Header {
		if !strings.HasPrefix(k, "Nats-") {
			msg.Header[k] = vs
		}
	}
	for k, v := range h {
		msg.Header.Set(k, v)
	}
	ack := w.PublishMsg(msg)
	return ack.Sequence
}

// Replay first: the re-evaluated original links; the redrive that follows
// is refused, and a redrive copy published anyway settles as duplicate.
func TestLineageReplayThenRedrive(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	seq := w.expiry()
	w.waitRecords(1)
	w.Sim.AddUser(legalOwner("rep@example.com"))

	rep := w.replay(replay.Config{From: "1"})
	if rep.Count(replay.Reevaluated) != 1 {
		t.Fatalf("replay re-evaluated %d, want 1", rep.Count(replay.Reevaluated))
	}
	w.WaitOutcome("exp-1 re-evaluated", func(o consumer.Outcome) bool { return o.EventID == "exp-1" && o.Outcome == events.OutcomeLink })

	res := w.redrive(dlq.Filter{All: true})
	if len(res) != 1 || res[0].Result != dlq.RedriveRefused {
		t.Errorf("redrive after the replay linked exp-1 = %+v, want refused", res)
	}
	// A copy published without the redrive mark (an older tool, or a
	// redrive that raced the replay) cannot link again.
	copySeq := w.republish(seq, map[string]string{consumer.HeaderRedriveOf: "exp-1", consumer.HeaderRedriveCount: "1"},
		testworld.CloudEvent(events.TypeSessionExpired, "mangopay", "exp-1.redrive-1", map[string]any{"user_id": mangosim.UserOwnerLegalNoRep}))
	if got := w.firstOutcomeAt(copySeq); got.Outcome != events.OutcomeDuplicate {
		t.Errorf("unmarked redrive copy: outcome %s/%s, want duplicate", got.Outcome, got.Reason)
	}
	if n := w.links(); n != 1 {
		t.Errorf("links for exp-1's lineage = %d, want 1", n)
	}
}

// Redrive first: the copy dead-letters again; once the data is fixed a
// replay leaves the lineage alone (a replayed copy of the original that
// raced the redrive is a duplicate), and redriving the copy's record links
// once.
func TestLineageRedriveThenReplay(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	seq := w.expiry()
	w.waitRecords(1)
	if res := w.redrive(dlq.Filter{All: true}); len(res) != 1 || res[0].Result != dlq.RedriveDone || res[0].RedriveID != "exp-1.redrive-1" {
		t.Fatalf("first redrive = %+v, want exp-1.redrive-1", res)
	}
	if got := w.OutcomeFor("exp-1.redrive-1"); got.Outcome != events.OutcomeDLQ {
		t.Fatalf("redrive copy: outcome %s/%s, want dlq again", got.Outcome, got.Reason)
	}
	w.waitRecords(2)
	w.Sim.AddUser(legalOwner("rep@example.com"))

	rep := w.replay(replay.Config{From: "1"})
	if n := rep.Count(replay.Reevaluated); n != 0 {
		t.Errorf("replay re-evaluated %d triggers of a redriven lineage, want 0", n)
	}
	if n := rep.Count(replay.Redriven); n != 2 {
		t.Errorf("replay left %d alone as redriven, want 2 (the original and its copy)", n)
	}
	// A replay that read the ledger before the redrive mark republished
	// the original: the worker does not reopen it.
	raced := w.republish(seq, map[string]string{consumer.HeaderReplay: "raced"}, nil)
	if got := w.firstOutcomeAt(raced); got.Outcome != events.OutcomeDuplicate {
		t.Errorf("replayed original of a redriven lineage: outcome %s/%s, want duplicate", got.Outcome, got.Reason)
	}
	if n := w.links(); n != 0 {
		t.Fatalf("links after the replay = %d, want 0 (the lineage waits for its redrive)", n)
	}

	res := w.redrive(dlq.Filter{All: true})
	done := 0
	for _, r := range res {
		if r.Result == dlq.RedriveDone {
			done++
			if r.RedriveID != "exp-1.redrive-2" {
				t.Errorf("second redrive id = %s, want exp-1.redrive-2", r.RedriveID)
			}
		}
	}
	if done != 1 {
		t.Fatalf("second redrive = %+v, want the copy's record redriven", res)
	}
	if got := w.OutcomeFor("exp-1.redrive-2"); got.Outcome != events.OutcomeLink {
		t.Fatalf("exp-1.redrive-2: outcome %s/%s, want link", got.Outcome, got.Reason)
	}
	if n := w.links(); n != 1 {
		t.Errorf("links for exp-1's lineage = %d, want 1", n)
	}
	var root consumer.LedgerEntry
	if !w.LedgerEntry("mangopay", "exp-1", &root) || root.Outcome != events.OutcomeLink || root.RedrivenTo != "exp-1.redrive-2" {
		t.Errorf("exp-1's ledger entry = %+v, want link, redriven to exp-1.redrive-2", root)
	}
	// Nothing is left to redrive: the lineage linked.
	for _, r := range w.redrive(dlq.Filter{All: true}) {
		if r.Result == dlq.RedriveDone {
			t.Errorf("third redrive redrove %+v", r)
		}
	}
}

// firstOutcomeAt waits for the first settled delivery of the message at
// seq, a duplicate included.
func (w *world) firstOutcomeAt(seq uint64) consumer.Outcome {
	w.T.Helper()
	return w.WaitOutcome("first outcome of a copy", func(o consumer.Outcome) bool { return o.StreamSeq == seq })
}

// A redrive that stopped between the original's ledger mark and the
// publish of its copy: the original is already the copy's (a replay
// leaves it alone), and the next redrive publishes that very copy.
func TestLineageRedriveAfterCrashBeforePublish(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	w.expiry()
	w.waitRecords(1)
	l, err := consumer.OpenLedger(w.Context(), w.JS, w.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.MarkRedrive(w.Context(), "mangopay", "exp-1", "", "exp-1.redrive-1", events.ReasonMissingLegalRepEmail); err != nil {
		t.Fatalf("MarkRedrive: %v", err)
	}
	if err := l.MarkRedrive(w.Context(), "mangopay", "exp-1", "", "exp-1.redrive-9", events.ReasonMissingLegalRepEmail); !errors.Is(err, consumer.ErrRedrivenElsewhere) {
		t.Errorf("MarkRedrive for another copy: %v, want ErrRedrivenElsewhere", err)
	}
	w.Sim.AddUser(legalOwner("rep@example.com"))
	if rep := w.replay(replay.Config{From: "1"}); rep.Count(replay.Redriven) != 1 || rep.Count(replay.Reevaluated) != 0 {
		t.Errorf("replay of a marked original: counts %v, want it left alone as redriven", rep.Counts)
	}
	if res := w.redrive(dlq.Filter{All: true}); len(res) != 1 || res[0].Result != dlq.RedriveDone || res[0].RedriveID != "exp-1.redrive-1" {
		t.Fatalf("redrive after the crash = %+v, want exp-1.redrive-1 redriven", res)
	}
	if got := w.OutcomeFor("exp-1.redrive-1"); got.Outcome != events.OutcomeLink {
		t.Fatalf("exp-1.redrive-1: outcome %s/%s, want link", got.Outcome, got.Reason)
	}
	if n := w.links(); n != 1 {
		t.Errorf("links for exp-1's lineage = %d, want 1", n)
	}
}

// replay and redrive run at the same time over dead-lettered lineages:
// whichever reaches a lineage first decides it, and each gets one link.
func TestLineageReplayRacesRedrive(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	const n = 6
	user := func(i int) string { return fmt.Sprintf("user_m_race_%d", i) }
	owner := func(i int, rep string) mangosim.User {
		u := legalOwner(rep)
		u.ID = user(i)
		return u
	}
	for i := range n {
		w.Sim.AddUser(owner(i, ""))
		id := fmt.Sprintf("exp-race-%d", i)
		w.Hook(events.TypeSessionExpired, id, user(i), time.Now())
		if got := w.OutcomeFor(id); got.Outcome != events.OutcomeDLQ {
			t.Fatalf("%s: outcome %s/%s, want dlq", id, got.Outcome, got.Reason)
		}
	}
	w.waitRecords(n)
	for i := range n {
		w.Sim.AddUser(owner(i, "rep@example.com"))
	}
	var wg sync.WaitGroup
	var replayErr, redriveErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, replayErr = replay.Run(w.Context(), w.JS, replay.Config{Layout: w.Config, From: "1", Rate: enroll.Rate{N: 100000, Per: time.Second}})
	}()
	go func() {
		defer wg.Done()
		_, redriveErr = dlq.New(w.JS, dlq.Config{Layout: w.Config}).Redrive(w.Context(), dlq.Filter{All: true})
	}()
	wg.Wait()
	if replayErr != nil || redriveErr != nil {
		t.Fatalf("replay: %v; redrive: %v", replayErr, redriveErr)
	}
	w.Settled()
	links := map[string]int{}
	for _, l := range w.Links() {
		links[l.UserID]++
	}
	for i := range n {
		if links[user(i)] != 1 {
			t.Errorf("%s got %d links, want 1", user(i), links[user(i)])
		}
	}
}

// A late delivery of an older copy (redriven again since) leaves the
// original pointing at the newest copy, whose redrive then links once.
func TestLineageLateCopyDoesNotTakeOver(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	w.expiry()
	w.waitRecords(1)
	w.redrive(dlq.Filter{All: true})
	w.OutcomeFor("exp-1.redrive-1")
	recs := w.waitRecords(2)
	w.redrive(dlq.Filter{Seqs: []uint64{recs[1].Seq}})
	w.OutcomeFor("exp-1.redrive-2")
	recs = w.waitRecords(3)
	// exp-1.redrive-1 is delivered again (stored anew, as a republish by
	// its publisher would be).
	again := w.republish(recs[1].DeadLetter.StreamSequence, nil, nil)
	if got := w.firstOutcomeAt(again); got.Outcome != events.OutcomeDuplicate {
		t.Fatalf("late exp-1.redrive-1: outcome %s/%s, want duplicate", got.Outcome, got.Reason)
	}
	var root consumer.LedgerEntry
	if !w.LedgerEntry("mangopay", "exp-1", &root) || root.RedrivenTo != "exp-1.redrive-2" || root.Outcome != events.OutcomeDLQ {
		t.Fatalf("exp-1's entry = %+v, want dlq redriven to exp-1.redrive-2", root)
	}
	w.Sim.AddUser(legalOwner("rep@example.com"))
	if res := w.redrive(dlq.Filter{Seqs: []uint64{recs[2].Seq}}); len(res) != 1 || res[0].Result != dlq.RedriveDone || res[0].RedriveID != "exp-1.redrive-3" {
		t.Fatalf("redrive of exp-1.redrive-2's record = %+v, want exp-1.redrive-3", res)
	}
	if got := w.OutcomeFor("exp-1.redrive-3"); got.Outcome != events.OutcomeLink {
		t.Fatalf("exp-1.redrive-3: outcome %s/%s, want link", got.Outcome, got.Reason)
	}
	if n := w.links(); n != 1 {
		t.Errorf("links for exp-1's lineage = %d, want 1", n)
	}
}
