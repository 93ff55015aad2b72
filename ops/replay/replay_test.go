package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
	"github.com/scaworker/scaworker/ops/replay"
)

// firstOutcomeAt waits for the first settled delivery of the message at
// seq, a duplicate included (OutcomeAt skips duplicates).
func (w *world) firstOutcomeAt(seq uint64) consumer.Outcome {
	w.T.Helper()
	return w.WaitOutcome(fmt.Sprintf("outcome of stream seq %d", seq), func(o consumer.Outcome) bool {
		return o.StreamSeq == seq
	})
}

// stored returns the messages of SCA_EVENTS from seq from on.
func (w *world) stored(from uint64) []*jetstream.RawStreamMsg {
	w.T.Helper()
	st, err := w.JS.Stream(w.Context(), "SCA_EVENTS")
	if err != nil {
		w.T.Fatal(err)
	}
	info, err := st.Info(w.Context())
	if err != nil {
		w.T.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := from; seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(w.Context(), seq)
		if err != nil {
			w.T.Fatalf("get seq %d: %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}

// snapshot is the state of every stream (KV buckets included): message
// count and last sequence.
func (w *world) snapshot() map[string][2]uint64 {
	w.T.Helper()
	out := map[string][2]uint64{}
	names := w.JS.StreamNames(w.Context())
	for name := range names.Name() {
		st, err := w.JS.Stream(w.Context(), name)
		if err != nil {
			w.T.Fatal(err)
		}
		info, err := st.Info(w.Context())
		if err != nil {
			w.T.Fatal(err)
		}
		out[name] = [2]uint64{info.State.Msgs, info.State.LastSeq}
	}
	if err := names.Err(); err != nil {
		w.T.Fatal(err)
	}
	return out
}

// replay runs replay.Run with a fast rate and returns its report.
func (w *world) replay(cfg replay.Config) *replay.Report {
	w.T.Helper()
	rep, err := w.tryReplay(w.Context(), cfg)
	if err != nil {
		w.T.Fatalf("Replay(%+v): %v", cfg, err)
	}
	return rep
}

func (w *world) tryReplay(ctx context.Context, cfg replay.Config) (*replay.Report, error) {
	cfg.Layout = w.Config
	if cfg.Rate == (enroll.Rate{}) {
		cfg.Rate = enroll.Rate{N: 100000, Per: time.Second}
	}
	return replay.Run(ctx, w.JS, cfg)
}

// cursor reads a replay cursor; nil when absent.
func (w *world) cursor(name string) map[string]any {
	w.T.Helper()
	kv, err := w.JS.KeyValue(w.Context(), "sca_ops")
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err != nil {
		w.T.Fatal(err)
	}
	e, err := kv.Get(w.Context(), "replay."+name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		w.T.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(e.Value(), &m); err != nil {
		w.T.Fatal(err)
	}
	return m
}

func wantCounts(t *testing.T, rep *replay.Report, want map[string]int) {
	t.Helper()
	for action, n := range want {
		if got := rep.Count(action); got != n {
			t.Errorf("report %q = %d, want %d (counts %v)", action, got, n, rep.Counts)
		}
	}
}

// history stores a mix of triggers for several users and waits for their
// outcomes: 4 links and 3 skips.
func (w *world) history() (links, skips []uint64) {
	w.T.Helper()
	want := func(seq uint64, outcome string) uint64 {
		w.T.Helper()
		if got := w.firstOutcomeAt(seq); got.Outcome != outcome {
			w.T.Fatalf("history seq %d: outcome %s/%s, want %s", seq, got.Outcome, got.Reason, outcome)
		}
		return seq
	}
	// Each waits for its outcome: the per-user rules depend on the order.
	s1 := want(w.UserCreated("h1", mangosim.UserOwnerNatural, category("OWNER")), events.OutcomeLink)
	s2 := want(w.UserCreated("h2", mangosim.UserOwnerNatural2, nil), events.OutcomeLink) // GET user
	s3 := want(w.UserCreated("h3", mangosim.UserOwnerLegal, category("OWNER")), events.OutcomeLink)
	s4 := want(w.UserCreated("h4", mangosim.UserPayer, category("PAYER")), events.OutcomeSkip)        // not_owner
	s5 := want(w.UserCreated("h5", mangosim.UserPayerLegal, nil), events.OutcomeSkip)                 // GET user: not_owner
	s6 := want(w.UserCreated("h6", mangosim.UserOwnerNatural, category("OWNER")), events.OutcomeSkip) // recent_link
	s7 := want(w.Hook(events.TypeSessionExpired, "h7", mangosim.UserOwnerNatural2, time.Now()), events.OutcomeLink)
	w.Settled()
	return []uint64{s1, s2, s3, s7}, []uint64{s4, s5, s6}
}

// TestReplayAfterEnrollmentSendsNothing: a replay of the day's history
// after the users enrolled sends them nothing, with or without --force.
func TestReplayAfterEnrollmentSendsNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	start := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	links, skips := w.history()
	if got := w.StreamMsgs("SCA_LINKS"); got != uint64(len(links)) {
		t.Fatalf("links after history = %d, want %d", got, len(links))
	}
	owners := []string{mangosim.UserOwnerNatural, mangosim.UserOwnerNatural2, mangosim.UserOwnerLegal}
	for i, u := range owners {
		w.Sim.CompleteEnrollment(u)
		seq := w.Hook(events.TypeEnrollmentSucceeded, "enrolled-"+strconv.Itoa(i), u, time.Now())
		if got := w.firstOutcomeAt(seq); got.Outcome != events.OutcomeState {
			t.Fatalf("enrollment of %s: outcome %s/%s, want state", u, got.Outcome, got.Reason)
		}
	}
	w.Settled()
	before := w.Sim.Count("POST", "/enrollment")

	rep := w.replay(replay.Config{From: start})
	wantCounts(t, rep, map[string]int{
		replay.Reevaluated: len(skips) + len(owners), replay.Linked: len(links), replay.Forced: 0,
		replay.NotYet: 0, replay.Invalid: 0,
	})
	if !rep.Done || rep.Published != len(skips)+len(owners) {
		t.Errorf("report done %v published %d, want true, %d", rep.Done, rep.Published, len(skips)+len(owners))
	}
	w.Settled()

	forced := w.replay(replay.Config{From: start, Force: true})
	wantCounts(t, forced, map[string]int{replay.Forced: len(links), replay.Reevaluated: len(skips) + len(owners)})
	for _, seq := range links {
		id := w.stored(seq)[0].Header.Get("Nats-Msg-Id")
		if got := w.OutcomeFor(id + ".replay-1"); got.Outcome != events.OutcomeSkip || got.Reason != events.ReasonAlreadyEnrolled {
			t.Errorf("forced replay of %s: outcome %s/%s, want skip/already_enrolled", id, got.Outcome, got.Reason)
		}
	}
	w.Settled()
	if got := w.StreamMsgs("SCA_LINKS"); got != uint64(len(links)) {
		t.Errorf("links after replays = %d, want %d: enrolled users were sent a link", got, len(links))
	}
	if got := w.Sim.Count("POST", "/enrollment"); got != before {
		t.Errorf("enrollment POSTs after replays = %d, want %d", got, before)
	}
}

// TestReplayReevaluatesSkipAfterDataChanged: a not_owner skip (a PAYER
// according to Mangopay) becomes a link once the user is an OWNER.
func TestReplayReevaluatesSkipAfterDataChanged(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	const user = "user_m_was_payer"
	w.Sim.AddUser(mangosim.User{ID: user, Category: "PAYER", PersonType: "NATURAL", Status: "ACTIVE", Email: "p@example.com"})
	seq := w.UserCreated("c1", user, nil)
	if got := w.firstOutcomeAt(seq); got.Outcome != events.OutcomeSkip || got.Reason != events.ReasonNotOwner {
		t.Fatalf("first outcome %s/%s, want skip/not_owner", got.Outcome, got.Reason)
	}
	other := w.UserCreated("c2", mangosim.UserPayer, nil)
	w.firstOutcomeAt(other)
	w.Settled()
	w.Sim.AddUser(mangosim.User{ID: user, Category: "OWNER", PersonType: "NATURAL", Status: "ACTIVE", Email: "p@example.com"})

	rep := w.replay(replay.Config{From: "1", Users: []string{user}})
	wantCounts(t, rep, map[string]int{replay.Reevaluated: 1, replay.Filtered: 1})
	copySeq := seq + 2 // after c1 and c2
	got := w.firstOutcomeAt(copySeq)
	if got.Outcome != events.OutcomeLink {
		t.Fatalf("re-evaluated outcome %s/%s, want link (the consumer must re-evaluate a skip carrying %s)", got.Outcome, got.Reason, consumer.HeaderReplay)
	}
	w.Settled()
	if n := w.StreamMsgs("SCA_LINKS"); n != 1 {
		t.Errorf("links = %d, want 1", n)
	}
}

// TestReplayDryRunChangesNothing: a dry run writes nothing anywhere and
// prints one line per trigger.
func TestReplayDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	links, skips := w.history()
	bad := w.Publish(events.DefaultSubjects().UserCreated, []byte("not an event"), "")
	w.firstOutcomeAt(bad)
	w.Settled()
	total := len(links) + len(skips) + 1
	before, calls := w.snapshot(), len(w.Sim.Calls())

	for _, force := range []bool{false, true} {
		var out strings.Builder
		rep := w.replay(replay.Config{From: "1", DryRun: true, Force: force, AfterTrigger: stepLines(&out)})
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if len(lines) != total {
			t.Errorf("force=%v: dry run told %d steps, want %d:\n%s", force, len(lines), total, out.String())
		}
		forcedWant, linkedWant := 0, len(links)
		if force {
			forcedWant, linkedWant = len(links), 0
		}
		wantCounts(t, rep, map[string]int{replay.Reevaluated: len(skips), replay.Linked: linkedWant,
			replay.Forced: forcedWant, replay.Invalid: 1})
		if rep.Published != 0 || !rep.DryRun {
			t.Errorf("dry run published %d, DryRun %v; want 0, true", rep.Published, rep.DryRun)
		}
		for _, want := range []string{"skip/not_owner", "skip/recent_link", replay.Reevaluated, "dlq/invalid_event", replay.Invalid, mangosim.UserPayer} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("force=%v: dry-run output lacks %q:\n%s", force, want, out.String())
			}
		}
		if force && !strings.Contains(out.String(), "forced as h1.replay-1") {
			t.Errorf("dry run with force does not name the new id:\n%s", out.String())
		}
		if cur := w.cursor(rep.Name); cur != nil {
			t.Errorf("dry run wrote cursor %v", cur)
		}
	}
	if after := w.snapshot(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("streams and buckets changed by a dry run:\nbefore %v\nafter  %v", before, after)
	}
	if got := len(w.Sim.Calls()); got != calls {
		t.Errorf("Mangopay calls = %d after the dry run, want %d", got, calls)
	}
}

// TestReplayResumesAfterInterruption: a replay stopped after K republishes
// resumes where it stopped; each trigger is republished exactly once.
func TestReplayResumesAfterInterruption(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	const n, k = 10, 4
	var seqs []uint64
	for i := range n {
		seqs = append(seqs, w.UserCreated("p"+strconv.Itoa(i), mangosim.UserPayer, category("PAYER")))
	}
	for _, seq := range seqs {
		w.firstOutcomeAt(seq)
	}
	w.Settled()
	last := seqs[len(seqs)-1]

	ctx, cancel := context.WithCancel(w.Context())
	published := 0
	cfg := replay.Config{From: "1", AfterTrigger: func(s replay.Step) {
		if s.Action == replay.Reevaluated {
			published++
		}
		if published == k {
			cancel()
		}
	}}
	rep, err := w.tryReplay(ctx, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Replay() error = %v, want context.Canceled", err)
	}
	if rep == nil || rep.Done || rep.Published != k || rep.NextSeq != seqs[k-1]+1 {
		t.Fatalf("interrupted report = %+v, want %d published, not done, next seq %d", rep, k, seqs[k-1]+1)
	}
	if cur := w.cursor(rep.Name); cur == nil || cur["next_seq"] != float64(seqs[k-1]+1) || cur["done"] != false {
		t.Errorf("cursor after interruption = %v, want next_seq %d, not done", cur, seqs[k-1]+1)
	}

	cfg.AfterTrigger = nil
	w.Settled()
	again := w.replay(cfg)
	if !again.Resumed || !again.Done || again.Published != n-k || again.Duplicates != 0 {
		t.Errorf("resumed report: resumed %v done %v published %d duplicates %d; want true, true, %d, 0",
			again.Resumed, again.Done, again.Published, again.Duplicates, n-k)
	}
	wantCounts(t, again, map[string]int{replay.Reevaluated: n})
	if again.Name != rep.Name {
		t.Errorf("resumed replay name %q, want %q", again.Name, rep.Name)
	}

	copies := map[string]int{}
	for _, m := range w.stored(last + 1) {
		if m.Header.Get(consumer.HeaderReplay) != rep.ReplayID {
			t.Errorf("stored seq %d: %s = %q, want %q", m.Sequence, consumer.HeaderReplay, m.Header.Get(consumer.HeaderReplay), rep.ReplayID)
		}
		copies[m.Header.Get("Nats-Msg-Id")]++
	}
	if len(copies) != n {
		t.Errorf("republished %d distinct triggers, want %d: %v", len(copies), n, copies)
	}
	for _, seq := range seqs {
		if id := "replay-" + rep.ReplayID + "-" + strconv.FormatUint(seq, 10); copies[id] != 1 {
			t.Errorf("stream seq %d republished %d times, want once", seq, copies[id])
		}
	}

	w.Settled() // the worker re-evaluated every copy
	third := w.replay(cfg)
	if !third.AlreadyDone || third.Published != 0 || third.Count(replay.Reevaluated) != n {
		t.Errorf("finished replay run again: already done %v, published %d, re-evaluated %d; want true, 0, %d",
			third.AlreadyDone, third.Published, third.Count(replay.Reevaluated), n)
	}
	w.Settled() // the worker re-evaluated every copy
	restarted := w.replay(replay.Config{From: "1", To: strconv.FormatUint(last, 10), Name: "again"})
	if restarted.Count(replay.Repeat) != 0 || restarted.Count(replay.Reevaluated) != n {
		t.Errorf("named replay: counts %v, want %d re-evaluated", restarted.Counts, n)
	}
	w.Settled() // the worker re-evaluated every copy
	re := w.replay(replay.Config{From: "1", To: strconv.FormatUint(last, 10), Name: "again", Restart: true})
	if re.ReplayID != "again.2" || re.Published != n || re.Duplicates != 0 {
		t.Errorf("restarted replay: id %q published %d duplicates %d; want again.2, %d, 0", re.ReplayID, re.Published, re.Duplicates, n)
	}
}

// TestReplayFilters: --type, --user, and --from/--to by sequence and by time.
func TestReplayFilters(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	var seqs []uint64
	users := []string{mangosim.UserPayer, mangosim.UserPlatform}
	for i := range 6 {
		seqs = append(seqs, w.UserCreated("f"+strconv.Itoa(i), users[i%2], category("PAYER")))
	}
	stale := time.Now().Add(-100 * time.Hour).UTC().Format(time.RFC3339)
	for i := range 2 {
		seqs = append(seqs, w.Publish(events.DefaultSubjects().SessionFailed, testworld.CloudEvent(events.TypeSessionFailed, "mangopay", "g"+strconv.Itoa(i),
			map[string]any{"user_id": users[i%2], "occurred_at": stale}), ""))
	}
	for _, seq := range seqs {
		if got := w.firstOutcomeAt(seq); got.Outcome != events.OutcomeSkip {
			t.Fatalf("seq %d: outcome %s/%s, want skip", seq, got.Outcome, got.Reason)
		}
	}
	w.Settled()
	times := make([]string, len(seqs))
	for i, m := range w.stored(seqs[0]) {
		times[i] = m.Time.UTC().Format(time.RFC3339Nano)
		if i > 0 && times[i] == times[i-1] {
			t.Fatalf("two messages stored at the same time %s", times[i])
		}
	}
	seqLines := func(out string) []string {
		var got []string
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 0 {
				got = append(got, f[0])
			}
		}
		return got
	}
	str := func(s ...uint64) []string {
		var out []string
		for _, v := range s {
			out = append(out, strconv.FormatUint(v, 10))
		}
		return out
	}
	tests := []struct {
		name string
		cfg  replay.Config
		want []string
	}{
		{"all", replay.Config{From: "1"}, str(seqs...)},
		{"type", replay.Config{From: "1", Types: []string{events.TypeSessionFailed}}, str(seqs[6:]...)},
		{"two types", replay.Config{From: "1", Types: []string{events.TypeSessionFailed, events.TypeUserCreated}}, str(seqs...)},
		{"user", replay.Config{From: "1", Users: []string{mangosim.UserPlatform}}, str(seqs[1], seqs[3], seqs[5], seqs[7])},
		{"type and user", replay.Config{From: "1", Types: []string{events.TypeUserCreated}, Users: []string{mangosim.UserPayer}}, str(seqs[0], seqs[2], seqs[4])},
		{"seq range", replay.Config{From: str(seqs[2])[0], To: str(seqs[4])[0]}, str(seqs[2:5]...)},
		{"from seq", replay.Config{From: str(seqs[6])[0]}, str(seqs[6:]...)},
		{"to seq past the end", replay.Config{From: "1", To: "1000"}, str(seqs...)},
		{"time range", replay.Config{From: times[1], To: times[3]}, str(seqs[1:4]...)},
		{"from time", replay.Config{From: times[5]}, str(seqs[5:]...)},
		{"time range, user", replay.Config{From: times[0], To: times[4], Users: []string{mangosim.UserPayer}}, str(seqs[0], seqs[2], seqs[4])},
		{"future", replay.Config{From: time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, nil},
		{"before the stream", replay.Config{From: "2020-01-01T00:00:00Z", To: "2020-01-02T00:00:00Z"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			tt.cfg.DryRun, tt.cfg.AfterTrigger = true, stepLines(&out)
			rep := w.replay(tt.cfg)
			got := seqLines(out.String())
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("dry run lines for seqs %v, want %v:\n%s", got, tt.want, out.String())
			}
			if n := rep.Count(replay.Reevaluated); n != len(tt.want) {
				t.Errorf("re-evaluated = %d, want %d", n, len(tt.want))
			}
			if !rep.Done {
				t.Errorf("report not done")
			}
		})
	}

	// A real run with a type filter republishes only that type.
	last := w.stored(1)[len(w.stored(1))-1].Sequence
	rep := w.replay(replay.Config{From: "1", Types: []string{events.TypeSessionFailed}, Users: []string{mangosim.UserPayer}})
	wantCounts(t, rep, map[string]int{replay.Reevaluated: 1, replay.Filtered: 1})
	copies := w.stored(last + 1)
	if len(copies) != 1 || copies[0].Subject != events.DefaultSubjects().SessionFailed || !bytes.Contains(copies[0].Data, []byte(`"g0"`)) {
		t.Errorf("republished %d messages, want only g0 of the failure triggers", len(copies))
	}
}

// TestReplayForceMakesNewTriggers: --force publishes "<id>.replay-<n>"
// with its lineage, and the per-user rules judge it.
func TestReplayForceMakesNewTriggers(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	seq := w.UserCreated("k1", mangosim.UserOwnerNatural, category("OWNER"))
	if got := w.firstOutcomeAt(seq); got.Outcome != events.OutcomeLink {
		t.Fatalf("outcome %s/%s, want link", got.Outcome, got.Reason)
	}
	w.Settled()
	for n := 1; n <= 2; n++ {
		rep := w.replay(replay.Config{From: "1", To: "1", Force: true, Name: "force-" + strconv.Itoa(n)})
		wantCounts(t, rep, map[string]int{replay.Forced: 1})
		id := "k1.replay-" + strconv.Itoa(n)
		got := w.OutcomeFor(id)
		if got.Outcome != events.OutcomeSkip || got.Reason != events.ReasonRecentLink {
			t.Errorf("forced %s: outcome %s/%s, want skip/recent_link (the user got a link minutes ago)", id, got.Outcome, got.Reason)
		}
		w.Settled()
		stored := w.stored(got.StreamSeq)[0]
		if h := stored.Header.Get(consumer.HeaderReplayOf); h != "k1" {
			t.Errorf("%s header = %q, want k1", consumer.HeaderReplayOf, h)
		}
		if h := stored.Header.Get("Nats-Msg-Id"); h != id {
			t.Errorf("Nats-Msg-Id = %q, want %q", h, id)
		}
		var body map[string]any
		if err := json.Unmarshal(stored.Data, &body); err != nil {
			t.Fatal(err)
		}
		if body["id"] != id || body[consumer.ExtReplayOf] != "k1" || body["source"] != "/users" ||
			body["type"] != events.TypeUserCreated || fmt.Sprint(body["data"]) != fmt.Sprint(map[string]any{"user_id": mangosim.UserOwnerNatural, "category": "OWNER"}) {
			t.Errorf("forced body = %s", stored.Data)
		}
	}
	if n := w.StreamMsgs("SCA_LINKS"); n != 1 {
		t.Errorf("links = %d, want 1", n)
	}
}

// TestReplayLeavesPendingTriggers: triggers the live worker has not
// decided are left to it; a trigger the worker acknowledged but whose
// ledger entry is gone is processed again.
func TestReplayLeavesPendingTriggers(t *testing.T) {
	t.Parallel()
	t.Run("not processed yet", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, testworld.Options{NoStart: true})
		for i := range 3 {
			w.UserCreated("n"+strconv.Itoa(i), mangosim.UserOwnerNatural, category("OWNER"))
		}
		rep := w.replay(replay.Config{From: "1"})
		wantCounts(t, rep, map[string]int{replay.NotYet: 3})
		if rep.Published != 0 || w.StreamMsgs("SCA_EVENTS") != 3 {
			t.Errorf("published %d, stream holds %d; want 0, 3", rep.Published, w.StreamMsgs("SCA_EVENTS"))
		}
	})
	t.Run("ledger entry lost", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, testworld.Options{})
		seq := w.UserCreated("l1", mangosim.UserPayer, category("PAYER"))
		w.firstOutcomeAt(seq)
		w.Settled()
		kv, err := w.JS.KeyValue(w.Context(), "sca_ledger")
		if err != nil {
			t.Fatal(err)
		}
		if err := kv.Purge(w.Context(), events.KeyOf("/users", "l1")); err != nil {
			t.Fatal(err)
		}
		rep := w.replay(replay.Config{From: "1"})
		wantCounts(t, rep, map[string]int{replay.Reprocessed: 1})
		if got := w.firstOutcomeAt(seq + 1); got.Outcome != events.OutcomeSkip || got.Reason != events.ReasonNotOwner {
			t.Errorf("re-processed outcome %s/%s, want skip/not_owner", got.Outcome, got.Reason)
		}
	})
}

// TestReplayRepeatsAndCopies: copies published by an earlier replay are the
// same triggers: a later replay over both considers each trigger once.
func TestReplayRepeatsAndCopies(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	for i := range 3 {
		w.firstOutcomeAt(w.UserCreated("r"+strconv.Itoa(i), mangosim.UserPayer, category("PAYER")))
	}
	w.Settled()
	first := w.replay(replay.Config{From: "1"})
	wantCounts(t, first, map[string]int{replay.Reevaluated: 3})
	w.Settled()
	second := w.replay(replay.Config{From: "1", Name: "second"})
	wantCounts(t, second, map[string]int{replay.Reevaluated: 3, replay.Repeat: 3})
}

func TestReplayConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  replay.Config
		want string
	}{
		{"no from", replay.Config{}, "--from"},
		{"bad from", replay.Config{From: "yesterday"}, "--from"},
		{"seq zero", replay.Config{From: "0"}, "--from"},
		{"bad to", replay.Config{From: "1", To: "2025-13-01"}, "--to"},
		{"to before from", replay.Config{From: "10", To: "5"}, "--to"},
		{"time to before from", replay.Config{From: "2025-06-02T00:00:00Z", To: "2025-06-01T00:00:00Z"}, "--to"},
		{"unknown type", replay.Config{From: "1", Types: []string{"user.deleted"}}, "--type"},
		{"bad user", replay.Config{From: "1", Users: []string{"../x"}}, "--user"},
		{"bad name", replay.Config{From: "1", Name: "a.b"}, "--name"},
		{"bad rate", replay.Config{From: "1", Rate: enroll.Rate{N: 0, Per: time.Second}}, "--rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := replay.Validate(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ValidateReplay() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
	if err := replay.Validate(replay.Config{From: "2025-06-01T00:00:00Z", To: "42"}); err != nil {
		t.Errorf("ValidateReplay(time, seq) = %v, want nil", err)
	}
}

// TestReplayNameMismatch: a named cursor refuses other filters unless restarted.
func TestReplayNameMismatch(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	w.firstOutcomeAt(w.UserCreated("m1", mangosim.UserPayer, category("PAYER")))
	w.Settled()
	w.replay(replay.Config{From: "1", Name: "mine"})
	if _, err := w.tryReplay(w.Context(), replay.Config{From: "1", Name: "mine", Force: true}); err == nil || !strings.Contains(err.Error(), "--restart") {
		t.Errorf("replay with the same name, other filters: %v, want an error suggesting --restart", err)
	}
	w.replay(replay.Config{From: "1", Name: "mine", Force: true, Restart: true})
}

// TestReplayProgress: Config.Progress is told the position; without it,
// log lines.
func TestReplayProgress(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	for i := range 5 {
		w.firstOutcomeAt(w.UserCreated("g"+strconv.Itoa(i), mangosim.UserPayer, category("PAYER")))
	}
	w.Settled()
	var shown progressLog
	w.replay(replay.Config{From: "1", DryRun: true, Progress: &shown})
	if want := []string{"start replay r-", "set 1", "set 2", "set 3", "set 4", "set 5", "finish true"}; len(shown) != len(want) ||
		!strings.HasPrefix(shown[0], want[0]) || !strings.HasSuffix(shown[0], " 5") || strings.Join(shown[1:], ",") != strings.Join(want[1:], ",") {
		t.Errorf("progress told %q, want %q (total 5)", shown, want)
	}

	core, logs := observer.New(zapcore.InfoLevel)
	w.replay(replay.Config{From: "1", DryRun: true, LogEvery: 2, Log: zap.New(core)})
	lines := logs.FilterMessage("replay progress").All()
	if len(lines) != 2 {
		t.Fatalf("progress log lines = %d, want 2 (every 2 of 5 messages)", len(lines))
	}
	if f := lines[1].ContextMap(); f["done"] != int64(4) || f["total"] != int64(5) || f["stream_seq"] != uint64(4) {
		t.Errorf("second progress line = %v, want done 4 of 5 at seq 4", f)
	}
	if _, ok := lines[1].ContextMap()["eta"]; !ok {
		t.Errorf("progress line lacks eta: %v", lines[1].ContextMap())
	}
}

// stepLines writes one line per step the replay reports (what
// cmd/scaworker prints in a dry run): seq, type, user, the ledger's
// outcome/reason before the replay, action; filtered steps are left out.
func stepLines(out *strings.Builder) func(replay.Step) {
	return func(s replay.Step) {
		if s.Action == replay.Filtered {
			return
		}
		fmt.Fprintf(out, "%d %s %s %s %s\n", s.Seq, s.Type, s.UserID, s.Ledger(), s.Did())
	}
}

// progressLog records what a replay tells its Progress.
type progressLog []string

func (p *progressLog) Start(desc string, total int64) {
	*p = append(*p, fmt.Sprintf("start %s %d", desc, total))
}
func (p *progressLog) Set(done int64)       { *p = append(*p, fmt.Sprintf("set %d", done)) }
func (p *progressLog) Finish(complete bool) { *p = append(*p, fmt.Sprintf("finish %t", complete)) }
