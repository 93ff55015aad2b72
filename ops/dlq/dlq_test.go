package dlq_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
	"github.com/scaworker/scaworker/ops/audit"
	"github.com/scaworker/scaworker/ops/dlq"
)

const userNoRep2 = "user_m_owner_legal_norep_2"

// legalNoRep is a legal owner without LegalRepresentative.Email, or with
// it once fixed.
func legalNoRep(id, rep string) mangosim.User {
	return mangosim.User{ID: id, Category: mangosim.CategoryOwner, PersonType: mangosim.PersonLegal,
		LegalPersonType: "BUSINESS", Status: mangosim.StatusActive, Email: "company@example.com",
		LegalRepresentativeEmail: rep}
}

// seedDLQ dead-letters three triggers, one after the other, so their DLQ
// sequences are 1, 2, 3: a legal owner without representative e-mail, an
// unknown user, and a body that is not JSON (its user only readable from
// the raw bytes).
func seedDLQ(t *testing.T, w *world) []dlq.Record {
	t.Helper()
	w.UserCreated("evt-legal", mangosim.UserOwnerLegalNoRep, category("OWNER"))
	w.waitRecords(1)
	w.UserCreated("evt-ghost", "user_m_ghost", category("OWNER"))
	w.waitRecords(2)
	w.Publish(events.DefaultSubjects().UserCreated, []byte("user_id=user_m_secret; not json"), "")
	return w.waitRecords(3)
}

func TestDLQListAndShow(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	recs := seedDLQ(t, w)

	type row struct {
		seq                          uint64
		subject, reason, user, state string
		attempts                     int
	}
	wantRows := []row{
		{1, "sca.events.user.created", events.ReasonMissingLegalRepEmail, mangosim.UserOwnerLegalNoRep, "", 1},
		{2, "sca.events.user.created", events.ReasonUserNotFound, "user_m_ghost", "", 1},
		{3, "sca.events.user.created", events.ReasonInvalidEvent, "", "", 1},
	}
	for i, want := range wantRows {
		r := recs[i]
		got := row{r.Seq, r.OriginalSubject(), r.Reason(), r.Event.UserID, r.StateText(), r.DeadLetter.Attempts}
		if got != want || r.Stored.IsZero() {
			t.Errorf("record %d = %+v (stored %s), want %+v", i, got, r.Stored, want)
		}
	}

	d := w.dlq()
	now := time.Now()
	for _, tc := range []struct {
		name  string
		f     dlq.Filter
		limit int
		want  []uint64
	}{
		{"reason", dlq.Filter{Reason: events.ReasonUserNotFound}, 0, []uint64{2}},
		{"user from data", dlq.Filter{User: mangosim.UserOwnerLegalNoRep}, 0, []uint64{1}},
		{"user only in the raw body", dlq.Filter{User: "user_m_secret"}, 0, []uint64{3}},
		{"user is a whole token", dlq.Filter{User: "user_m"}, 0, nil},
		{"since future", dlq.Filter{Since: now.Add(time.Hour)}, 0, nil},
		{"until past", dlq.Filter{Until: now.Add(-time.Hour)}, 0, nil},
		{"since past until future", dlq.Filter{Since: now.Add(-time.Hour), Until: now.Add(time.Hour)}, 0, []uint64{1, 2, 3}},
		{"limit keeps the newest", dlq.Filter{}, 2, []uint64{2, 3}},
	} {
		got, err := d.List(w.Context(), tc.f, tc.limit)
		if err != nil {
			t.Fatalf("%s: List: %v", tc.name, err)
		}
		var seqs []uint64
		for _, r := range got {
			seqs = append(seqs, r.Seq)
		}
		if !slices.Equal(seqs, tc.want) {
			t.Errorf("%s: List() seqs = %v, want %v", tc.name, seqs, tc.want)
		}
	}

	rec, le, err := d.Show(w.Context(), 1)
	if err != nil {
		t.Fatalf("Show(1): %v", err)
	}
	if rec.Seq != 1 || rec.EventID() != "evt-legal" || rec.Event.UserID != mangosim.UserOwnerLegalNoRep || rec.Reason() != events.ReasonMissingLegalRepEmail ||
		rec.State != nil || rec.OriginalSubject() != "sca.events.user.created" || rec.DeadLetter.Original.Headers["Nats-Msg-Id"][0] != "evt-legal" {
		t.Errorf("Show(1) = %+v", rec)
	}
	if le == nil || le.Outcome != events.OutcomeDLQ || le.Reason != events.ReasonMissingLegalRepEmail {
		t.Errorf("Show(1) ledger = %+v, want dlq missing_legal_representative_email", le)
	}
	rec, _, err = d.Show(w.Context(), 3)
	if err != nil {
		t.Fatalf("Show(3): %v", err)
	}
	if string(rec.DeadLetter.Original.Body) != "user_id=user_m_secret; not json" || rec.Event.CloudEvent {
		t.Errorf("Show(3) original body = %q, CloudEvent %v", rec.DeadLetter.Original.Body, rec.Event.CloudEvent)
	}

	if _, _, err := d.Show(w.Context(), 99); !errors.Is(err, dlq.ErrNoRecord) {
		t.Errorf("Show(99) error = %v, want ErrNoRecord", err)
	}
}

// A fixed record and an unfixed one, redriven together, end with one link
// (the fixed user's, whose root trigger's ledger says link) and one open
// dead letter (the unfixed user's redrive, dead-lettered again as a NEW
// record carrying the redrive headers); both old records are marked
// redriven, and a second redrive only picks the new record.
func TestRedriveFixedAndUnfixed(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	w.Sim.AddUser(legalNoRep(userNoRep2, ""))
	w.UserCreated("evt-fixed", mangosim.UserOwnerLegalNoRep, category("OWNER"))
	w.waitRecords(1)
	w.UserCreated("evt-unfixed", userNoRep2, category("OWNER"))
	w.waitRecords(2)
	if got := w.OutcomeFor("evt-fixed"); got.Reason != events.ReasonMissingLegalRepEmail {
		t.Fatalf("first outcome = %+v, want dlq %s", got, events.ReasonMissingLegalRepEmail)
	}

	// The data is fixed at Mangopay for one of the two users only.
	w.Sim.AddUser(legalNoRep(mangosim.UserOwnerLegalNoRep, "rep@example.com"))
	res, err := w.dlq().Redrive(w.Context(), dlq.Filter{Reason: events.ReasonMissingLegalRepEmail})
	if err != nil {
		t.Fatalf("Redrive: %v", err)
	}
	if len(res) != 2 {
		t.Fatalf("Redrive() results = %+v, want 2", res)
	}
	for _, r := range res {
		if r.Result != dlq.RedriveDone || r.Count != 1 || r.RedriveID != r.EventID+".redrive-1" || r.AsIs {
			t.Errorf("Redrive() result = %+v, want redriven as %s.redrive-1", r, r.EventID)
		}
	}
	if got := w.OutcomeFor("evt-fixed.redrive-1"); got.Outcome != events.OutcomeLink {
		t.Errorf("outcome of the fixed redrive = %s %s, want link", got.Outcome, got.Reason)
	}
	if got := w.OutcomeFor("evt-unfixed.redrive-1"); got.Outcome != events.OutcomeDLQ || got.Reason != events.ReasonMissingLegalRepEmail {
		t.Errorf("outcome of the unfixed redrive = %s %s, want dlq %s", got.Outcome, got.Reason, events.ReasonMissingLegalRepEmail)
	}

	// One link: the fixed user's, for the redriven trigger.
	links := w.Links()
	if len(links) != 1 || links[0].UserID != mangosim.UserOwnerLegalNoRep || links[0].Trigger.ID != "evt-fixed.redrive-1" {
		t.Errorf("links = %+v, want one for %s from evt-fixed.redrive-1", links, mangosim.UserOwnerLegalNoRep)
	}
	// One open record: the unfixed user's redrive; the old two are marked.
	recs := w.waitRecords(3)
	var open []dlq.Record
	for _, r := range recs {
		switch {
		case r.Seq <= 2:
			if r.State == nil || r.State.Redriven != 1 || r.State.Pending || r.StateText() != "redriven 1" {
				t.Errorf("old record %d state = %+v, want redriven 1", r.Seq, r.State)
			}
		case r.State == nil:
			open = append(open, r)
		}
	}
	if len(open) != 1 {
		t.Fatalf("open records = %d, want 1: %+v", len(open), recs)
	}
	nr := open[0]
	if nr.EventID() != "evt-unfixed.redrive-1" || nr.Event.RedriveOf != "evt-unfixed" || nr.Event.RedriveCount != 1 || nr.Event.UserID != userNoRep2 {
		t.Errorf("new record = event %s, redrive of %q #%d, user %s; want evt-unfixed.redrive-1 of evt-unfixed #1, %s",
			nr.EventID(), nr.Event.RedriveOf, nr.Event.RedriveCount, nr.Event.UserID, userNoRep2)
	}
	// The ledger of each root trigger takes the new outcome.
	if le := w.ledger("/users", "evt-fixed"); le == nil || le.Outcome != events.OutcomeLink || le.RedrivenTo != "evt-fixed.redrive-1" {
		t.Errorf("ledger of evt-fixed = %+v, want link redriven to evt-fixed.redrive-1", le)
	}
	if le := w.ledger("/users", "evt-unfixed"); le == nil || le.Outcome != events.OutcomeDLQ || le.RedrivenTo != "evt-unfixed.redrive-1" {
		t.Errorf("ledger of evt-unfixed = %+v, want dlq redriven to evt-unfixed.redrive-1", le)
	}

	// A second redrive skips the two marked records and takes the new one.
	res, err = w.dlq().Redrive(w.Context(), dlq.Filter{All: true})
	if err != nil {
		t.Fatalf("second Redrive: %v", err)
	}
	got := map[uint64]string{}
	for _, r := range res {
		got[r.Seq] = r.Result + " " + r.RedriveID
	}
	want := map[uint64]string{
		1: "skipped evt-fixed.redrive-1", 2: "skipped evt-unfixed.redrive-1",
		nr.Seq: "redriven evt-unfixed.redrive-2",
	}
	if len(got) != len(want) {
		t.Errorf("second Redrive() = %v, want %v", got, want)
	}
	for seq, wantRes := range want {
		if got[seq] != wantRes {
			t.Errorf("second Redrive() seq %d = %q, want %q", seq, got[seq], wantRes)
		}
	}

	// Audit lines: one per redrive, with the operator.
	audits := w.Logs.FilterMessage("dlq redrive").All()
	if len(audits) != 3 {
		t.Errorf("audit lines = %d, want 3", len(audits))
	}
	for _, a := range audits {
		m := a.ContextMap()
		if m["operator"] != "alice" || m["redrive_id"] == "" || m["event_id"] == "" || m["seq"] == nil || m["reason"] == "" {
			t.Errorf("audit line fields = %v", m)
		}
	}
	w.CheckNoSecrets()
}

// A redrive inside JetStream's duplicate window is processed: the same id
// would be swallowed, the new id is not.
func TestRedriveInsideDuplicateWindow(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	body := testworld.CloudEvent(events.TypeUserCreated, "/users", "evt-late", map[string]any{"user_id": "user_m_late", "category": "OWNER"})
	w.Publish(events.DefaultSubjects().UserCreated, body, "evt-late")
	w.waitRecords(1)
	if got := w.OutcomeFor("evt-late"); got.Reason != events.ReasonUserNotFound {
		t.Fatalf("outcome = %+v, want dlq user_not_found", got)
	}
	// The user shows up at Mangopay (a replication lag, say).
	w.Sim.AddUser(mangosim.User{ID: "user_m_late", Category: mangosim.CategoryOwner, PersonType: mangosim.PersonNatural,
		Status: mangosim.StatusActive, Email: "late@example.com"})

	// Publishing the original again is swallowed by the duplicate window.
	if ack := w.PublishMsg(&nats.Msg{Subject: events.DefaultSubjects().UserCreated, Data: body, Header: nats.Header{nats.MsgIdHdr: {"evt-late"}}}); !ack.Duplicate {
		t.Fatalf("republish with the same id: Duplicate = false; the window is not in force, the test proves nothing")
	}
	res, err := w.dlq().Redrive(w.Context(), dlq.Filter{Seqs: []uint64{1}})
	if err != nil || len(res) != 1 || res[0].Result != dlq.RedriveDone {
		t.Fatalf("Redrive() = %+v, %v; want one redriven", res, err)
	}
	if got := w.OutcomeFor("evt-late.redrive-1"); got.Outcome != events.OutcomeLink {
		t.Errorf("outcome of the redrive = %s %s, want link", got.Outcome, got.Reason)
	}
	if le := w.ledger("/users", "evt-late"); le == nil || le.Outcome != events.OutcomeLink {
		t.Errorf("root ledger entry = %+v, want link", le)
	}
	if n := len(w.Links()); n != 1 {
		t.Errorf("links = %d, want 1", n)
	}
}

// An event is redriven at most 5 times; the 6th redrive is refused and
// publishes nothing.
func TestRedriveRefusedAfterFive(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	w.UserCreated("evt-loop", "user_m_nobody", category("OWNER"))
	recs := w.waitRecords(1)
	d := w.dlq()
	for n := 1; n <= dlq.MaxRedrives; n++ {
		seq := recs[len(recs)-1].Seq
		res, err := d.Redrive(w.Context(), dlq.Filter{Seqs: []uint64{seq}})
		if err != nil || len(res) != 1 || res[0].Result != dlq.RedriveDone || res[0].Count != n {
			t.Fatalf("redrive %d = %+v, %v; want redriven #%d", n, res, err, n)
		}
		if want := "evt-loop.redrive-" + strconv.Itoa(n); res[0].RedriveID != want {
			t.Fatalf("redrive %d id = %s, want %s", n, res[0].RedriveID, want)
		}
		recs = w.waitRecords(n + 1)
	}
	last := recs[len(recs)-1]
	if last.Event.RedriveCount != dlq.MaxRedrives {
		t.Fatalf("last record redrive count = %d, want %d", last.Event.RedriveCount, dlq.MaxRedrives)
	}
	before := w.StreamMsgs("SCA_EVENTS")
	res, err := d.Redrive(w.Context(), dlq.Filter{All: true})
	if err != nil {
		t.Fatalf("6th Redrive: %v", err)
	}
	var refused []dlq.RedriveResult
	for _, r := range res {
		switch r.Result {
		case dlq.RedriveRefused:
			refused = append(refused, r)
		case dlq.RedriveSkipped:
		default:
			t.Errorf("6th Redrive() result = %+v, want only skips and one refusal", r)
		}
	}
	if len(refused) != 1 || refused[0].Seq != last.Seq || !strings.Contains(refused[0].Note, "redriven 5 times") {
		t.Errorf("refusals = %+v, want one for seq %d saying it was redriven 5 times", refused, last.Seq)
	}
	if after := w.StreamMsgs("SCA_EVENTS"); after != before {
		t.Errorf("SCA_EVENTS holds %d messages after the refusal, want %d", after, before)
	}
}

// A crash after the mark was written and before the publish leaves a
// pending mark; the next redrive publishes the same id, once.
func TestRedriveFinishesPendingMark(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{NoStart: true})
	dlqBody, err := events.EncodeDeadLetter("dlq-x-1", events.DeadLetter{
		EventID: "evt-crash", Reason: events.ReasonUserNotFound, Attempts: 1, StreamSequence: 1,
		Original: events.Original{Subject: "sca.events.user.created", Headers: map[string][]string{"Nats-Msg-Id": {"evt-crash"}, "Traceparent": {"00-abc-def-01"}},
			Body: testworld.CloudEvent(events.TypeUserCreated, "/users", "evt-crash", map[string]any{"user_id": "user_m_x"})},
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w.Publish("sca.dlq.sca.events.user.created", dlqBody, "")
	kv, err := consumer.OpsBucket(w.Context(), w.JS, w.Config)
	if err != nil {
		t.Fatal(err)
	}
	mark, _ := json.Marshal(dlq.RedriveState{Redriven: 1, RedriveID: "evt-crash.redrive-1", Pending: true, RedrivenAt: time.Now()})
	if _, err := kv.Create(w.Context(), dlq.StateKey(1), mark); err != nil {
		t.Fatal(err)
	}
	res, err := w.dlq().Redrive(w.Context(), dlq.Filter{All: true})
	if err != nil || len(res) != 1 || res[0].Result != dlq.RedriveDone || res[0].RedriveID != "evt-crash.redrive-1" {
		t.Fatalf("Redrive() = %+v, %v; want the pending redrive finished as evt-crash.redrive-1", res, err)
	}
	res, err = w.dlq().Redrive(w.Context(), dlq.Filter{All: true})
	if err != nil || len(res) != 1 || res[0].Result != dlq.RedriveSkipped {
		t.Fatalf("second Redrive() = %+v, %v; want skipped", res, err)
	}
	// Exactly one copy was published, with the redrive headers, the new id
	// and the extension; other headers kept, the old message id dropped.
	var got []consumer.StoredMsg
	if err := consumer.ReadStream(w.Context(), w.JS, "SCA_EVENTS", consumer.ReadOptions{}, func(m consumer.StoredMsg) error {
		got = append(got, m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("SCA_EVENTS holds %d messages, want 1", len(got))
	}
	m := got[0]
	h := m.Header
	for k, want := range map[string]string{
		consumer.HeaderRedriveOf: "evt-crash", consumer.HeaderRedriveCount: "1",
		"Nats-Msg-Id": "evt-crash.redrive-1", "Traceparent": "00-abc-def-01",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	tr, err := events.DefaultSubjects().Decode(m.Subject, m.Data)
	if err != nil {
		t.Fatalf("redriven body does not decode: %v", err)
	}
	if tr.ID != "evt-crash.redrive-1" || tr.Source != "/users" || tr.UserID != "user_m_x" {
		t.Errorf("redriven trigger = %+v", tr)
	}
	var ext map[string]any
	_ = json.Unmarshal(m.Data, &ext)
	if ext[consumer.ExtRedriveOf] != "evt-crash" {
		t.Errorf("extension %s = %v, want evt-crash", consumer.ExtRedriveOf, ext[consumer.ExtRedriveOf])
	}
}

// A body that is not a CloudEvent is redriven byte for byte with the
// redrive headers, and dead-letters again as a new record.
func TestRedriveInvalidBodyAsIs(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	raw := []byte("\x00\x01 not an event")
	w.Publish(events.DefaultSubjects().UserCreated, raw, "")
	first := w.waitRecords(1)[0]
	res, err := w.dlq().Redrive(w.Context(), dlq.Filter{Reason: events.ReasonInvalidEvent})
	if err != nil || len(res) != 1 || res[0].Result != dlq.RedriveDone || !res[0].AsIs || !strings.Contains(res[0].Note, "dead-letter again") {
		t.Fatalf("Redrive() = %+v, %v; want redriven as is with a warning", res, err)
	}
	recs := w.waitRecords(2)
	again := recs[1]
	if !bytes.Equal(again.DeadLetter.Original.Body, raw) {
		t.Errorf("redriven body = %q, want %q", again.DeadLetter.Original.Body, raw)
	}
	if again.Reason() != events.ReasonInvalidEvent || again.Event.RedriveCount != 1 || again.Event.RedriveOf != first.ID {
		t.Errorf("new record: reason %s, redrive of %q #%d; want invalid_event, of %q #1", again.Reason(), again.Event.RedriveOf, again.Event.RedriveCount, first.ID)
	}
	if got := nats.Header(again.DeadLetter.Original.Headers).Get("Nats-Msg-Id"); got != res[0].RedriveID {
		t.Errorf("redrive Nats-Msg-Id = %q, want %q", got, res[0].RedriveID)
	}
}

func TestPurge(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	seedDLQ(t, w)
	d := w.dlq()

	// A refused confirmation deletes nothing; it is asked with the count.
	refused := errors.New("refused")
	asked := 0
	if _, err := d.Purge(w.Context(), dlq.Filter{All: true}, dlq.PurgeOptions{Confirm: func(p dlq.PurgeResult) error { asked = p.Selected; return refused }}); !errors.Is(err, refused) || asked != 3 {
		t.Errorf("Purge() refused = %v, asked for %d; want the refusal, asked for 3", err, asked)
	}
	if n := len(w.records()); n != 3 {
		t.Fatalf("records after refusals = %d, want 3", n)
	}

	// Personal-data erasure: the user of record 3 is only in its raw body.
	res, err := d.Purge(w.Context(), dlq.Filter{User: "user_m_secret"}, dlq.PurgeOptions{Confirm: func(p dlq.PurgeResult) error { asked = p.Selected; return nil }})
	if err != nil || res.Deleted != 1 || !res.Secure || asked != 1 {
		t.Fatalf("Purge(user) = %+v, %v, asked for %d; want 1 deleted securely, asked for 1", res, err, asked)
	}
	if _, _, err := d.Show(w.Context(), 3); !errors.Is(err, dlq.ErrNoRecord) {
		t.Errorf("Show(3) after erasure: %v, want ErrNoRecord", err)
	}

	// By reason and age, no question asked (--yes).
	res, err = d.Purge(w.Context(), dlq.Filter{Reason: events.ReasonUserNotFound, Until: time.Now().Add(time.Minute)}, dlq.PurgeOptions{OlderThan: time.Nanosecond})
	if err != nil || res.Deleted != 1 || res.Secure {
		t.Fatalf("Purge(reason) = %+v, %v; want 1 deleted", res, err)
	}
	recs := w.records()
	if len(recs) != 1 || recs[0].Seq != 1 {
		t.Fatalf("records left = %+v, want only seq 1", recs)
	}
	// Nothing selected: no question.
	res, err = d.Purge(w.Context(), dlq.Filter{User: "user_m_nobody"}, dlq.PurgeOptions{Confirm: func(dlq.PurgeResult) error { return errors.New("asked") }})
	if err != nil || res.Selected != 0 {
		t.Errorf("Purge(nobody) = %+v, %v; want nothing selected, no question", res, err)
	}

	audits := w.Logs.FilterMessage("dlq purge").All()
	if len(audits) != 3 {
		t.Fatalf("purge audit lines = %d, want 3 (erasure, reason, empty)", len(audits))
	}
	m := audits[0].ContextMap()
	if m["deleted"] != int64(1) || m["secure"] != true || m["user_sha256"] != audit.UserHash("user_m_secret") || m["operator"] != "alice" {
		t.Errorf("erasure audit fields = %v", m)
	}
	for _, a := range w.Logs.All() {
		line := a.Message
		for k, v := range a.ContextMap() {
			line += " " + k + "=" + toString(v)
		}
		if a.Message == "dlq purge" && strings.Contains(line, "user_m_secret") {
			t.Errorf("purge audit line carries the user id: %s", line)
		}
	}
	if _, err := d.Purge(w.Context(), dlq.Filter{}, dlq.PurgeOptions{}); err == nil {
		t.Errorf("Purge(empty filter) = nil error, want a refusal")
	}
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Purging a redriven record also purges its mark.
func TestPurgeDropsRedriveMark(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	w.UserCreated("evt-p", "user_m_nobody", category("OWNER"))
	w.waitRecords(1)
	if _, err := w.dlq().Redrive(w.Context(), dlq.Filter{Seqs: []uint64{1}}); err != nil {
		t.Fatal(err)
	}
	w.waitRecords(2)
	if _, err := w.dlq().Purge(w.Context(), dlq.Filter{All: true}, dlq.PurgeOptions{}); err != nil {
		t.Fatal(err)
	}
	kv, err := consumer.OpsBucket(w.Context(), w.JS, w.Config)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(w.Context(), dlq.StateKey(1)); err == nil {
		t.Errorf("mark of a purged record still there: %s", e.Value())
	}
	if n := len(w.records()); n != 0 {
		t.Errorf("records = %d, want 0", n)
	}
}
