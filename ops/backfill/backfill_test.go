package backfill_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/hooks"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
	"github.com/scaworker/scaworker/ops/backfill"
)

// simEvents adds n events of each SCA type to the simulator, one minute
// apart, ending an hour ago; it returns them.
func simEvents(w *world, n int) []mangosim.Event {
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var out []mangosim.Event
	for _, typ := range backfill.HookTypes() {
		for i := range n {
			e := mangosim.Event{ResourceID: "user_m_bf_" + strconv.Itoa(i), EventType: typ, Date: base.Add(-time.Duration(i) * time.Minute)}
			w.Sim.AddEvent(e)
			out = append(out, e)
		}
	}
	return out
}

// storedTriggers reads the trigger stream: id → message.
func storedTriggers(t *testing.T, w *world) map[string]consumer.StoredMsg {
	t.Helper()
	out := map[string]consumer.StoredMsg{}
	err := consumer.ReadStream(w.Context(), w.JS, "SCA_EVENTS", consumer.ReadOptions{}, func(m consumer.StoredMsg) error {
		tr, err := events.DefaultSubjects().Decode(m.Subject, m.Data)
		if err != nil {
			return err
		}
		if _, dup := out[tr.ID]; dup {
			t.Errorf("trigger %s stored twice", tr.ID)
		}
		out[tr.ID] = m
		return nil
	})
	if err != nil {
		t.Fatalf("read SCA_EVENTS: %v", err)
	}
	return out
}

func hookID(e mangosim.Event) string {
	return events.HookID(e.EventType, e.ResourceID, strconv.FormatInt(e.Date.Unix(), 10))
}

func TestBackfillStoresMissedEventsOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{NoStart: true})
	evs := simEvents(w, 5)
	// An event outside the range and one of another type are not read.
	w.Sim.AddEvent(mangosim.Event{ResourceID: "user_m_old", EventType: events.HookEnrollmentFailed, Date: time.Now().Add(-3 * 24 * time.Hour)})
	w.Sim.AddEvent(mangosim.Event{ResourceID: "user_m_other", EventType: "USER_KYC_REGULAR", Date: time.Now().Add(-time.Hour)})
	w.Sim.ResetCalls()

	var pages pageCount
	opts := backfill.Config{Layout: w.Config, From: time.Now().Add(-24 * time.Hour), PerPage: 2, Progress: &pages, Log: w.Log}
	res, err := backfill.Run(w.Context(), w.JS, w.Client, opts)
	if err != nil {
		t.Fatalf("Backfill: %v", err)
	}
	if res.Total != (backfill.Counts{Found: 15, Stored: 15}) {
		t.Errorf("Backfill() total = %+v, want 15 found, 15 stored", res.Total)
	}
	// 5 events a type, 2 a page: pages of 2, 2, 1 (short: the end).
	if res.Pages != 9 {
		t.Errorf("pages = %d, want 9", res.Pages)
	}
	if got := w.Sim.Count("GET", "/events"); got != 9 {
		t.Errorf("GET /events calls = %d, want 9", got)
	}
	for _, c := range w.Sim.Calls() {
		if c.Method == "GET" && strings.Contains(c.Path, "/events") && c.Status != 200 {
			t.Errorf("call %s answered %d", c.Path, c.Status)
		}
	}
	if pages.pages != 9 || !pages.done {
		t.Errorf("progress told %d pages, done %v; want 9 (one per page), done", pages.pages, pages.done)
	}

	stored := storedTriggers(t, w)
	if len(stored) != len(evs) {
		t.Fatalf("stored triggers = %d, want %d", len(stored), len(evs))
	}
	for _, e := range evs {
		id := hookID(e)
		m, ok := stored[id]
		if !ok {
			t.Errorf("event %s %s: no trigger with id HookID = %s", e.EventType, e.ResourceID, id)
			continue
		}
		// The very body the webhook stores, apart from time.
		typ, wantID, want, err := events.EncodeHookEvent(e.EventType, e.ResourceID, e.Date, time.Now())
		if err != nil || wantID != id {
			t.Fatalf("EncodeHookEvent: %v, id %s want %s", err, wantID, id)
		}
		if subj, _ := events.DefaultSubjects().SubjectFor(typ); m.Subject != subj {
			t.Errorf("trigger %s subject = %s, want %s", id, m.Subject, subj)
		}
		if got, want := withoutTime(t, m.Data), withoutTime(t, want); got != want {
			t.Errorf("trigger body = %s, want %s", got, want)
		}
		if got := m.Header.Get("Nats-Msg-Id"); got != id {
			t.Errorf("Nats-Msg-Id = %q, want %q", got, id)
		}
	}
	// Each is marked in the hooks bucket, by the backfill.
	kv, err := consumer.HooksBucket(w.Context(), w.JS, w.Config)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(w.Context(), hookID(evs[0]))
	if err != nil {
		t.Fatalf("mark of %s: %v", hookID(evs[0]), err)
	}
	var mark hooks.Marker
	if err := json.Unmarshal(e.Value(), &mark); err != nil || mark.By != "backfill" || mark.StoredAt.IsZero() {
		t.Errorf("mark = %s (%v), want by backfill with stored_at", e.Value(), err)
	}

	// A second backfill stores nothing.
	res, err = backfill.Run(w.Context(), w.JS, w.Client, backfill.Config{Layout: w.Config, From: time.Now().Add(-24 * time.Hour)})
	if err != nil {
		t.Fatalf("second Backfill: %v", err)
	}
	if res.Total != (backfill.Counts{Found: 15, Delivered: 15}) {
		t.Errorf("second Backfill() = %+v, want 15 found, all already delivered", res.Total)
	}
	if n := w.StreamMsgs("SCA_EVENTS"); n != 15 {
		t.Errorf("SCA_EVENTS holds %d messages, want 15", n)
	}

	if len(res.ByType) != 3 || res.Pages != 3 {
		t.Errorf("second Backfill() by type %+v, %d pages; want 3 types, 3 pages", res.ByType, res.Pages)
	}
}

func withoutTime(t *testing.T, body []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	delete(m, "time")
	b, _ := json.Marshal(m)
	return string(b)
}

// Events the webhook already delivered (their ids are in the hooks
// bucket) are not stored again.
func TestBackfillAfterHooksStoresNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{NoStart: true})
	evs := simEvents(w, 3)
	kv, err := consumer.HooksBucket(w.Context(), w.JS, w.Config)
	if err != nil {
		t.Fatal(err)
	}
	// The webhook stored all but one of them, as it does: publish, mark.
	for _, e := range evs[1:] {
		typ, id, body, err := events.EncodeHookEvent(e.EventType, e.ResourceID, e.Date, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		subj, _ := events.DefaultSubjects().SubjectFor(typ)
		w.Publish(subj, body, id)
		mark, _ := json.Marshal(hooks.Marker{StoredAt: time.Now(), By: hooks.ByWebhook})
		if _, err := kv.Create(w.Context(), id, mark); err != nil {
			t.Fatal(err)
		}
	}
	before := w.StreamMsgs("SCA_EVENTS")
	res, err := backfill.Run(w.Context(), w.JS, w.Client, backfill.Config{Layout: w.Config, From: time.Now().Add(-2 * time.Hour)})
	if err != nil {
		t.Fatalf("Backfill: %v", err)
	}
	if want := (backfill.Counts{Found: 9, Stored: 1, Delivered: 8}); res.Total != want {
		t.Errorf("Backfill() = %+v, want %+v", res.Total, want)
	}
	if got := w.StreamMsgs("SCA_EVENTS"); got != before+1 {
		t.Errorf("SCA_EVENTS grew by %d, want 1", got-before)
	}
	if _, ok := storedTriggers(t, w)[hookID(evs[0])]; !ok {
		t.Errorf("the missed event %s was not stored", hookID(evs[0]))
	}

	// All delivered now: nothing new.
	res, err = backfill.Run(w.Context(), w.JS, w.Client, backfill.Config{Layout: w.Config, From: time.Now().Add(-2 * time.Hour)})
	if err != nil || res.Total.Stored != 0 {
		t.Errorf("third Backfill() = %+v, %v; want 0 stored", res.Total, err)
	}
	if got := w.StreamMsgs("SCA_EVENTS"); got != before+1 {
		t.Errorf("SCA_EVENTS grew by %d, want 1", got-before)
	}
}

// A backfilled expiry makes the worker send a link, once.
func TestBackfilledEventIsProcessed(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	date := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	w.Sim.AddEvent(mangosim.Event{ResourceID: mangosim.UserOwnerTriggered, EventType: events.HookEnrollmentExpired, Date: date})
	if _, err := backfill.Run(w.Context(), w.JS, w.Client, backfill.Config{Layout: w.Config, From: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	id := events.HookID(events.HookEnrollmentExpired, mangosim.UserOwnerTriggered, strconv.FormatInt(date.Unix(), 10))
	if got := w.OutcomeFor(id); got.Outcome != events.OutcomeLink {
		t.Errorf("outcome = %s %s, want link", got.Outcome, got.Reason)
	}
	if _, err := backfill.Run(w.Context(), w.JS, w.Client, backfill.Config{Layout: w.Config, From: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n := len(w.Links()); n != 1 {
		t.Errorf("links = %d, want 1", n)
	}
}

// The client's budget paces the backfill: with 3 requests an hour, only 3
// requests reach Mangopay (the token and two pages) before the deadline.
// The deadline leaves the two pages time to be read and stored under -race
// on a loaded machine (they take 5-50ms on an idle one; 500ms was the
// deadline); the third would wait for the budget an hour.
func TestBackfillRespectsRateBudget(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{NoStart: true, Enroll: func(c *enroll.Config) {
		c.Rate = enroll.Rate{N: 3, Per: time.Hour}
	}})
	simEvents(w, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res, err := backfill.Run(ctx, w.JS, w.Client, backfill.Config{Layout: w.Config, From: time.Now().Add(-2 * time.Hour)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Backfill() error = %v, want the deadline (the budget holds the third page)", err)
	}
	if got := len(w.Sim.Calls()); got != 3 {
		t.Errorf("calls to Mangopay = %d, want 3 (the budget)", got)
	}
	if res.Pages != 2 || res.Total.Stored != 2 {
		t.Errorf("Backfill() = %d pages, %+v; want 2 pages, 2 stored", res.Pages, res.Total)
	}
}

func TestBackfillWindow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		since, from, to string
		wantFrom        time.Time
		wantTo          time.Time
		wantErr         string
	}{
		{since: "24h", wantFrom: now.Add(-24 * time.Hour), wantTo: now},
		{since: "45d", wantFrom: now.Add(-45 * 24 * time.Hour), wantTo: now},
		{from: "2026-05-19T00:00:00Z", to: "2026-05-19T12:00:00Z", wantFrom: time.Date(2026, 5, 19, 0, 0, 0, 0, time.UTC), wantTo: time.Date(2026, 5, 19, 12, 0, 0, 0, time.UTC)},
		{from: "2026-05-19T00:00:00Z", to: "2027-01-01T00:00:00Z", wantFrom: time.Date(2026, 5, 19, 0, 0, 0, 0, time.UTC), wantTo: now},
		{since: "46d", wantErr: "--since 46d: reaches back before 2026-04-05T12:00:00Z; Mangopay keeps events for 45 days only"},
		{from: "2026-04-01T00:00:00Z", wantErr: "--from 2026-04-01T00:00:00Z: reaches back before"},
		{wantErr: "--since or --from: required"},
		{since: "1h", from: "2026-05-19T00:00:00Z", wantErr: "--since and --from"},
		{since: "soon", wantErr: "--since: \"soon\""},
		{from: "yesterday", wantErr: "--from: \"yesterday\""},
		{since: "1h", to: "noon", wantErr: "--to: \"noon\""},
		{from: "2026-05-19T00:00:00Z", to: "2026-05-18T00:00:00Z", wantErr: "--to: 2026-05-18T00:00:00Z is not after"},
	} {
		from, to, err := backfill.Window(tc.since, tc.from, tc.to, now)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("BackfillWindow(%q, %q, %q) error = %v, want %q", tc.since, tc.from, tc.to, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !from.Equal(tc.wantFrom) || !to.Equal(tc.wantTo) {
			t.Errorf("BackfillWindow(%q, %q, %q) = %s, %s, %v; want %s, %s", tc.since, tc.from, tc.to, from, to, err, tc.wantFrom, tc.wantTo)
		}
	}
}

// Backfill itself refuses a start beyond Mangopay's 45 days, before any call.
func TestBackfillRefusesOlderThan45Days(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{NoStart: true})
	_, err := backfill.Run(w.Context(), w.JS, w.Client, backfill.Config{Layout: w.Config, From: time.Now().Add(-46 * 24 * time.Hour)})
	if err == nil || !strings.Contains(err.Error(), "45 days") {
		t.Errorf("Backfill() error = %v, want a 45-day refusal", err)
	}
	if n := len(w.Sim.Calls()); n != 0 {
		t.Errorf("calls to Mangopay = %d, want 0", n)
	}
}

// A start at the very edge of the 45 days is moved inside it, so Mangopay
// never answers 400 while the backfill pages.
func TestBackfillAtTheEdgeOfTheWindow(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{NoStart: true})
	simEvents(w, 1)
	res, err := backfill.Run(w.Context(), w.JS, w.Client, backfill.Config{Layout: w.Config, From: time.Now().Add(-backfill.EventsWindow + time.Second), Log: w.Log})
	if err != nil {
		t.Fatalf("Backfill: %v", err)
	}
	if res.Total.Stored != 3 {
		t.Errorf("stored = %d, want 3", res.Total.Stored)
	}
	if got := len(w.Logs.FilterMessage("backfill: start moved inside Mangopay's 45-day window").All()); got != 1 {
		t.Errorf("warnings = %d, want 1", got)
	}
	for _, c := range w.Sim.Calls() {
		if c.Status != 200 {
			t.Errorf("%s %s answered %d", c.Method, c.Path, c.Status)
		}
	}
}

// pageCount records what a backfill tells its Progress.
type pageCount struct {
	pages int
	done  bool
}

func (p *pageCount) Page(string, int, int, backfill.Counts) { p.pages++ }
func (p *pageCount) Done(backfill.Result)                   { p.done = true }
