package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/ops/backfill"
	"github.com/scaworker/scaworker/ops/dlq"
	"github.com/scaworker/scaworker/ops/replay"
)

// outputRecords are three dead letters as `dlq list` reads them: a legal
// owner without representative e-mail (redriven once), an unknown user,
// and a body that is not JSON.
func outputRecords() []dlq.Record {
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	rec := func(seq uint64, id, reason, user string, body []byte) dlq.Record {
		return dlq.Record{Seq: seq, Stored: at.Add(time.Duration(seq) * time.Minute), Subject: "sca.dlq.user.created", ID: "dlq-" + id,
			DeadLetter: &events.DeadLetter{EventID: id, Reason: reason, Attempts: 1, FirstAttemptAt: at, LastAttemptAt: at, StreamSequence: seq,
				Original: events.Original{Subject: "sca.events.user.created", Headers: map[string][]string{"Nats-Msg-Id": {id}}, Body: body}},
			Event: dlq.OriginalEvent{ID: id, UserID: user}}
	}
	recs := []dlq.Record{
		rec(1, "evt-legal", events.ReasonMissingLegalRepEmail, "user_m_legal", []byte(`{"id":"evt-legal","specversion":"1.0"}`)),
		rec(2, "evt-ghost", events.ReasonUserNotFound, "user_m_ghost", []byte(`{"id":"evt-ghost"}`)),
		rec(3, "", events.ReasonInvalidEvent, "", []byte("user_id=user_m_secret; not json")),
	}
	recs[0].State = &dlq.RedriveState{Redriven: 1, RedriveID: "evt-legal.redrive-1", RedrivenAt: at}
	return recs
}

func TestDLQTables(t *testing.T) {
	t.Parallel()
	recs := outputRecords()
	var out bytes.Buffer
	if err := writeRecords(&out, recs, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	want := []string{
		"TIME SEQ SUBJECT REASON USER ATTEMPTS STATE",
		"2026-05-01T10:01:00Z 1 sca.events.user.created missing_legal_representative_email user_m_legal 1 redriven 1",
		"2026-05-01T10:02:00Z 2 sca.events.user.created user_not_found user_m_ghost 1 -",
		"2026-05-01T10:03:00Z 3 sca.events.user.created invalid_event - 1 -",
		"3 records",
	}
	if len(lines) != len(want) {
		t.Fatalf("table =\n%s", out.String())
	}
	for i := range want {
		if got := strings.Join(strings.Fields(lines[i]), " "); got != want[i] {
			t.Errorf("line %d = %q, want %q", i, got, want[i])
		}
	}
	out.Reset()
	if err := writeRecords(&out, recs[2:], true); err != nil {
		t.Fatal(err)
	}
	if want := "\n1 record (the newest; more match: --limit 0 shows all)\n"; !strings.HasSuffix(out.String(), want) {
		t.Errorf("limited table = %q, want suffix %q", out.String(), want)
	}

	out.Reset()
	if err := writeRecord(&out, &recs[0], &consumer.LedgerEntry{Outcome: events.OutcomeLink, RedrivenTo: "evt-legal.redrive-1"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"seq:              1\n",
		"event id:         evt-legal\n",
		"user:             user_m_legal\n",
		"reason:           missing_legal_representative_email\n",
		"attempts:         1\n",
		"state:            redriven 1 as evt-legal.redrive-1 at 2026-05-01T10:00:00Z\n",
		"ledger:           link (redriven to evt-legal.redrive-1)\n",
		"original subject: sca.events.user.created\n",
		"original headers:\n  Nats-Msg-Id: evt-legal\n",
		"original event:\n{\n",
		"\n  \"id\": \"evt-legal\",\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("record 1 lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := writeRecord(&out, &recs[2], nil); err != nil {
		t.Fatal(err)
	}
	if want := "original body (31 bytes, not JSON, base64):\ndXNlcl9pZD11c2VyX21fc2VjcmV0OyBub3QganNvbg==\n"; !strings.Contains(out.String(), want) {
		t.Errorf("record 3 lacks %q:\n%s", want, out.String())
	}

	out.Reset()
	res := []dlq.RedriveResult{
		{Seq: 1, EventID: "e1", RedriveID: "e1.redrive-1", Result: dlq.RedriveDone},
		{Seq: 2, EventID: "e2", RedriveID: "e2.redrive-1", Result: dlq.RedriveSkipped, Note: "already redriven"},
		{Seq: 3, EventID: "e3", Result: dlq.RedriveRefused, Note: "redriven 5 times"},
	}
	if err := writeRedriveResults(&out, res, false); err != nil {
		t.Fatal(err)
	}
	if !hasRow(out.String(), []string{"3", "e3", "-", "refused:", "redriven", "5", "times"}) ||
		!strings.HasSuffix(out.String(), "1 redriven, 1 skipped, 1 refused, 0 conflicts\n") {
		t.Errorf("redrive results =\n%s", out.String())
	}
}

func TestReplayOutput(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	rep := &replay.Report{ReplayID: "r-1", Stream: "SCA_EVENTS", FromSeq: 1, ToSeq: 9, NextSeq: 5,
		Counts: map[string]map[string]int{replay.Reevaluated: {events.TypeSessionFailed: 1, events.TypeUserCreated: 2}}}
	if err := writeReplaySummary(&out, rep); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.HasPrefix(s, "replay r-1 on SCA_EVENTS, stream seq 1..9: interrupted before stream seq 5: run the same command again to resume\n") ||
		!hasRow(s, []string{"ACTION", "TOTAL", events.TypeUserCreated, events.TypeSessionFailed}) ||
		!hasRow(s, []string{"re-evaluated", "3", "2", "1"}) || !hasRow(s, []string{"total", "3", "2", "1"}) {
		t.Errorf("summary =\n%s", s)
	}

	out.Reset()
	table := newReplayTable(&out)
	table.Add(replay.Step{Seq: 7, Type: events.TypeUserCreated, UserID: "u1", Outcome: events.OutcomeLink, Action: replay.Forced, NewID: "e.replay-1"})
	table.Add(replay.Step{Seq: 8, Type: events.TypeUserCreated, Action: replay.Filtered})
	table.Add(replay.Step{Seq: 9, Type: events.TypeUserCreated, Outcome: events.OutcomeDLQ, Reason: events.ReasonInvalidEvent, Action: replay.Invalid})
	if err := table.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 || !hasRow(lines[0], []string{"SEQ", "TYPE", "USER", "LEDGER", "ACTION"}) ||
		!strings.Contains(lines[1], "link") || !strings.HasSuffix(lines[1], "forced as e.replay-1") ||
		!strings.Contains(lines[2], " - ") || !strings.Contains(lines[2], "dlq/invalid_event") {
		t.Errorf("dry-run lines =\n%s", out.String())
	}

	// A long user id keeps the columns aligned: ACTION starts at the same
	// place on every line.
	out.Reset()
	table = newReplayTable(&out)
	long := "user_m_" + strings.Repeat("0123456789", 12)
	table.Add(replay.Step{Seq: 1, Type: events.TypeUserCreated, UserID: "u1", Outcome: events.OutcomeSkip, Reason: events.ReasonNotOwner, Action: replay.Reevaluated})
	table.Add(replay.Step{Seq: 2, Type: events.TypeSessionExpired, UserID: long, Outcome: events.OutcomeSkip, Reason: events.ReasonUserCap, Action: replay.Reevaluated})
	_ = table.Flush()
	lines = strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	col := strings.Index(lines[0], "ACTION")
	for _, l := range lines[1:] {
		if strings.Index(l, replay.Reevaluated) != col {
			t.Errorf("dry-run lines not aligned with a %d-character user id:\n%s", len(long), out.String())
			break
		}
	}

	out.Reset()
	bar := &replayBar{w: &out}
	bar.Start("replay r-1", 5)
	for i := range int64(5) {
		bar.Set(i + 1)
	}
	bar.Finish(true)
	if !strings.Contains(out.String(), "100%") || !strings.Contains(out.String(), "(5/5") {
		t.Errorf("progress bar output lacks 100%% and 5/5: %q", out.String())
	}
}

func TestBackfillSummary(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	res := backfill.Result{From: at, To: at.Add(24 * time.Hour), Pages: 3}
	for _, typ := range backfill.HookTypes() {
		res.ByType = append(res.ByType, backfill.TypeCounts{Type: typ, Counts: backfill.Counts{Found: 5, Delivered: 5}})
		res.Total.Found, res.Total.Delivered = res.Total.Found+5, res.Total.Delivered+5
	}
	var out bytes.Buffer
	if err := writeBackfillSummary(&out, res, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	want := []string{
		"backfill 2026-05-01T00:00:00Z .. 2026-05-02T00:00:00Z: 3 pages",
		"TYPE FOUND STORED ALREADY DELIVERED INVALID",
		"SCA_ENROLLMENT_EXPIRED 5 0 5 0",
		"SCA_ENROLLMENT_FAILED 5 0 5 0",
		"SCA_ENROLLMENT_SUCCEEDED 5 0 5 0",
		"total 15 0 15 0",
	}
	if len(lines) != len(want) {
		t.Fatalf("summary =\n%s", out.String())
	}
	for i := range want {
		if got := strings.Join(strings.Fields(lines[i]), " "); got != want[i] {
			t.Errorf("line %d = %q, want %q", i, got, want[i])
		}
	}
}
