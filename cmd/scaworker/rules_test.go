package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/console"
	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
	"github.com/scaworker/scaworker/ops/audit"
)

// state is what an operator command may change: every stream (the KV
// buckets' among them) but the audit stream and the buckets the running
// worker of the world writes whatever the command does (the shared
// Mangopay budget it draws from whenever it calls Mangopay, the console's
// outcome counters with their heartbeat), by name: messages, first and
// last sequence, bytes.
func (o *operatorWorld) state(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	budgetStream := "KV_" + (consumer.Config{}).Defaults().BudgetBucket
	names := o.js.StreamNames(t.Context())
	for name := range names.Name() {
		if name == "SCA_AUDIT" || name == budgetStream || name == "KV_"+console.DefaultStatsBucket {
			continue
		}
		st, err := o.js.Stream(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		s := info.State
		out[name] = fmt.Sprintf("msgs=%d first=%d last=%d bytes=%d", s.Msgs, s.FirstSeq, s.LastSeq, s.Bytes)
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// auditRecords reads every audit record, newest first.
func (o *operatorWorld) auditRecords(t *testing.T) []audit.Record {
	t.Helper()
	l, err := audit.New(o.js, audit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	page, err := l.Read(t.Context(), audit.Query{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return page.Records
}

// TestDryRunsChangeNothingRealRunsAreAudited runs every command that changes
// state with --dry-run against a live worker: without a terminal and
// without --yes, each prints what it would do, changes no stream and no
// bucket (not even a cursor, a mark, a hook marker or an audit record).
// Then the same commands run for real,
// with --yes, and their records carry the operator, the selection (a user
// by hash only) and the counts.
func TestDryRunsChangeNothingRealRunsAreAudited(t *testing.T) {
	t.Parallel()
	o := startOperatorWorld(t)
	s := events.DefaultSubjects()
	for id, user := range map[string]string{"evt-dead": mangosim.UserOwnerLegalNoRep, "evt-link": mangosim.UserOwnerNatural} {
		body := triggerEvent(id, events.TypeUserCreated, map[string]any{"user_id": user, "category": "OWNER"}, time.Now())
		if _, err := o.js.Publish(t.Context(), s.UserCreated, body, jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}
	o.sim.AddEvent(mangosim.Event{ResourceID: mangosim.UserOwnerTriggered, EventType: events.HookEnrollmentExpired, Date: time.Now().Add(-time.Hour).Truncate(time.Second)})
	testworld.WaitFor(t, "the worker to decide both triggers", 20*time.Second, func() bool {
		c, err := o.js.Consumer(t.Context(), "SCA_EVENTS", "scaworker")
		if err != nil {
			return false
		}
		info, err := c.Info(t.Context())
		return err == nil && info.AckFloor.Stream == 2 && info.NumAckPending == 0 && o.dlqRecords(t) == 1
	})
	before := o.state(t)

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"replay", "--from", "1", "--force", "--dry-run"}, []string{"forced as evt-link.replay-1", "(dry run: nothing was written)"}},
		{[]string{"dlq", "redrive", "--all", "--dry-run"}, []string{"would redrive", "1 would be redriven, 0 skipped, 0 refused (dry run: nothing was written)"}},
		{[]string{"dlq", "purge", "--all", "--dry-run"}, []string{"would purge 1 selected records", "dry run: nothing was deleted"}},
		{[]string{"dlq", "purge", "--user", mangosim.UserOwnerNatural, "--dry-run"}, []string{
			"would purge 0 selected records (erased securely)",
			"would erase the user's data: 1 trigger in the trigger stream, 1 link event, 1 ledger entry, the user state, 0 operator entries"}},
		{[]string{"backfill", "--since", "2h", "--dry-run"}, []string{"(dry run: nothing was stored)", "WOULD STORE"}},
	} {
		code, out, errOut := runSync(t, tc.args, o.env)
		if code != exitOK {
			t.Errorf("%q = %d:\n%s\nstderr:\n%s", tc.args, code, out, errOut)
			continue
		}
		for _, want := range tc.want {
			if !strings.Contains(out, want) {
				t.Errorf("%q output lacks %q:\n%s", tc.args, want, out)
			}
		}
		if tc.args[0] == "backfill" && !hasRow(out, []string{"total", "1", "1", "0", "0"}) {
			t.Errorf("backfill --dry-run counts:\n%s", out)
		}
		if after := o.state(t); !maps.Equal(after, before) {
			t.Errorf("%q changed state:\nbefore %v\nafter  %v", tc.args, before, after)
		}
	}
	// A dry run writes nothing at all: not even an audit record, not even
	// the audit stream.
	if _, err := o.js.Stream(t.Context(), "SCA_AUDIT"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("after the dry runs, stream SCA_AUDIT: err = %v, want it never created", err)
	}

	// Asked on a terminal and answered no: nothing changes, nothing is recorded.
	for _, args := range [][]string{
		{"replay", "--from", "1", "--force"},
		{"dlq", "redrive", "--all"},
		{"dlq", "purge", "--user", mangosim.UserOwnerNatural},
		{"backfill", "--since", "2h"},
	} {
		var sout, serr syncBuffer
		code := runWithInput(t.Context(), args, envOf(o.env), typed("n\n"), &sout, &serr)
		if code != exitFailure || !strings.Contains(serr.String(), "? [y/N] ") || !strings.Contains(sout.String(), "cancelled: nothing changed") {
			t.Errorf("%q answered n = %d, stdout %q, stderr %q", args, code, sout.String(), serr.String())
		}
		if after := o.state(t); !maps.Equal(after, before) {
			t.Errorf("%q answered n changed state:\nbefore %v\nafter  %v", args, before, after)
		}
		t.Logf("%q asked: %s", args, strings.SplitN(serr.String(), "\n", 2)[0])
	}
	if _, err := o.js.Stream(t.Context(), "SCA_AUDIT"); err == nil {
		if n := len(o.auditRecords(t)); n != 0 {
			t.Errorf("audit records after dry runs and refusals = %d, want none", n)
		}
	}

	// For real.
	code, out, errOut := runSync(t, []string{"dlq", "redrive", "--all", "--yes", "--operator", "bob"}, o.env)
	if code != exitOK || !strings.Contains(out, "1 redriven, 0 skipped") {
		t.Fatalf("dlq redrive --yes = %d:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut = runSync(t, []string{"dlq", "purge", "--user", mangosim.UserOwnerNatural, "-y"}, o.env)
	if code != exitOK || !strings.Contains(out, "erased the user's data: 1 trigger in the trigger stream, 1 link event, 1 ledger entry, the user state") {
		t.Fatalf("dlq purge --user -y = %d:\n%s\nstderr:\n%s", code, out, errOut)
	}
	recs := o.auditRecords(t)
	if r := recs[1]; r.Command != audit.CommandDLQRedrive || r.DryRun || r.Operator != "bob" || r.Counts["redriven"] != 1 {
		t.Errorf("redrive record = %+v", r)
	}
	if r := recs[0]; r.Command != audit.CommandDLQPurge || r.DryRun || r.Operator != "alice" || r.Counts["triggers"] != 1 || r.Counts["links"] != 1 {
		t.Errorf("purge record = %+v", r)
	}
	raw, _ := json.Marshal(recs)
	for _, secret := range []string{mangosim.UserOwnerNatural + `"`, testAPIKey, "token"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("audit records hold %q: %s", secret, raw)
		}
	}
	code, out, _ = runSync(t, []string{"audit", "--limit", "2"}, o.env)
	if code != exitOK || !strings.Contains(out, "alice") || !strings.Contains(out, "bob") || len(recs) != 2 {
		t.Errorf("audit --limit 2 = %d (%d records):\n%s", code, len(recs), out)
	}
	if code, page, _ := runSync(t, []string{"audit", "--limit", "1"}, o.env); code != exitOK || !strings.Contains(page, "alice") || strings.Contains(page, "bob") || !strings.Contains(page, "older: --before") {
		t.Errorf("audit --limit 1 = %d:\n%s", code, page)
	}
	t.Logf("audit:\n%s", out)
	code, listed, _ := runSync(t, []string{"dlq", "list", "--audit", "--limit", "2"}, o.env)
	if code != exitOK || listed != out {
		t.Errorf("dlq list --audit --limit 2 = %d:\n%s\nwant what audit --limit 2 prints", code, listed)
	}
}
