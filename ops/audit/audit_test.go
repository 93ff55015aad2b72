package audit_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/ops/audit"
)

func newLog(t *testing.T, js jetstream.JetStream, cfg audit.Config) *audit.Log {
	t.Helper()
	l, err := audit.New(js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestWriteCreatesTheStream(t *testing.T) {
	t.Parallel()
	js := testworld.JetStream(t)
	l := newLog(t, js, audit.Config{})
	seq, err := l.Write(t.Context(), audit.Record{Operator: "alice", Command: audit.CommandDLQPurge,
		Selection: map[string]string{"user_sha256": audit.UserHash("u1")}, Counts: map[string]int{"selected": 2, "deleted": 2}})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if seq != 1 {
		t.Errorf("seq = %d, want 1", seq)
	}
	st, err := js.Stream(t.Context(), "SCA_AUDIT")
	if err != nil {
		t.Fatalf("stream SCA_AUDIT: %v", err)
	}
	cfg := st.CachedInfo().Config
	if cfg.MaxAge != audit.DefaultMaxAge || cfg.Retention != jetstream.LimitsPolicy || len(cfg.Subjects) != 1 || cfg.Subjects[0] != "sca.audit.>" {
		t.Errorf("stream config = max age %s, retention %s, subjects %v; want a year, limits, sca.audit.>", cfg.MaxAge, cfg.Retention, cfg.Subjects)
	}
	m, err := st.GetMsg(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "sca.audit.dlq.purge" {
		t.Errorf("subject = %q, want sca.audit.dlq.purge", m.Subject)
	}
	if strings.Contains(string(m.Data), `"u1"`) {
		t.Errorf("record holds the user id in the clear: %s", m.Data)
	}
	page, err := l.Read(t.Context(), audit.Query{})
	if err != nil || len(page.Records) != 1 {
		t.Fatalf("Read = %+v, %v; want one record", page, err)
	}
	got := page.Records[0]
	if got.Operator != "alice" || got.Command != audit.CommandDLQPurge || got.Result != audit.ResultDone || got.ID == "" ||
		time.Since(got.Time) > time.Minute || got.Counts["deleted"] != 2 || got.Selection["user_sha256"] != audit.UserHash("u1") {
		t.Errorf("record = %+v", got)
	}
}

func TestWriteTwiceWithOneIDStoresOnce(t *testing.T) {
	t.Parallel()
	js := testworld.JetStream(t)
	l := newLog(t, js, audit.Config{})
	rec := audit.Record{ID: "rec-1", Operator: "alice", Command: audit.CommandBackfill}
	for range 2 {
		if _, err := l.Write(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	page, err := l.Read(t.Context(), audit.Query{})
	if err != nil || len(page.Records) != 1 {
		t.Errorf("records after two writes of one id = %+v, %v; want 1", page.Records, err)
	}
}

func TestWriteRefusesARecordWithoutOperator(t *testing.T) {
	t.Parallel()
	js := testworld.JetStream(t)
	l := newLog(t, js, audit.Config{})
	for _, op := range []string{"", "  "} {
		if _, err := l.Write(t.Context(), audit.Record{Operator: op, Command: audit.CommandReplay}); err == nil || !strings.Contains(err.Error(), "operator") {
			t.Errorf("Write(operator %q) = %v, want an error naming the operator", op, err)
		}
	}
	if _, err := js.Stream(t.Context(), "SCA_AUDIT"); err == nil {
		t.Errorf("a refused record created the stream")
	}
}

// TestReadPagesNewestFirst writes 25 records of two commands and pages
// through them, newest first, with and without a command filter.
func TestReadPagesNewestFirst(t *testing.T) {
	t.Parallel()
	js := testworld.JetStream(t)
	l := newLog(t, js, audit.Config{Stream: "AUDIT_T", SubjectPrefix: "ops.audit.", MaxAge: time.Hour})
	for i := 1; i <= 25; i++ {
		cmd := audit.CommandReplay
		if i%5 == 0 {
			cmd = audit.CommandBackfill
		}
		if _, err := l.Write(t.Context(), audit.Record{Operator: "bob", Command: cmd, Counts: map[string]int{"n": i}}); err != nil {
			t.Fatal(err)
		}
	}
	var got []int
	q := audit.Query{Limit: 10}
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatalf("more than 3 pages of 10 for 25 records")
		}
		page, err := l.Read(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Records) > 10 {
			t.Fatalf("page of %d records, want at most 10", len(page.Records))
		}
		for _, r := range page.Records {
			got = append(got, r.Counts["n"])
			if r.Seq != uint64(r.Counts["n"]) {
				t.Errorf("record %d has seq %d", r.Counts["n"], r.Seq)
			}
		}
		if page.Next == 0 {
			break
		}
		q.Before = page.Next
	}
	if want := seqDown(25, 1, 1); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records read = %v, want %v", got, want)
	}
	page, err := l.Read(t.Context(), audit.Query{Limit: 3, Command: audit.CommandBackfill})
	if err != nil {
		t.Fatal(err)
	}
	var backfills []int
	for _, r := range page.Records {
		backfills = append(backfills, r.Counts["n"])
	}
	if fmt.Sprint(backfills) != "[25 20 15]" || page.Next != 15 {
		t.Errorf("backfills = %v next %d, want [25 20 15] next 15", backfills, page.Next)
	}
}

func seqDown(from, to, step int) []int {
	var out []int
	for i := from; i >= to; i -= step {
		out = append(out, i)
	}
	return out
}

func TestReadWithoutStreamIsEmpty(t *testing.T) {
	t.Parallel()
	js := testworld.JetStream(t)
	page, err := newLog(t, js, audit.Config{}).Read(t.Context(), audit.Query{})
	if err != nil || len(page.Records) != 0 || page.Next != 0 {
		t.Errorf("Read on no stream = %+v, %v; want empty", page, err)
	}
	if _, err := js.Stream(t.Context(), "SCA_AUDIT"); err == nil {
		t.Errorf("Read created the stream")
	}
}

func TestEnsureRefusesAStreamWithoutTheSubjects(t *testing.T) {
	t.Parallel()
	js := testworld.JetStream(t)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "SCA_AUDIT", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	err := newLog(t, js, audit.Config{}).Ensure(t.Context())
	if err == nil || !strings.Contains(err.Error(), "SCA_AUDIT_STREAM") || !strings.Contains(err.Error(), "sca.audit.>") {
		t.Errorf("Ensure = %v, want an error naming SCA_AUDIT_STREAM and sca.audit.>", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  audit.Config
		want string
	}{
		{audit.Config{Stream: "a.b"}, "SCA_AUDIT_STREAM"},
		{audit.Config{SubjectPrefix: "sca.audit"}, "SCA_SUBJECT_AUDIT_PREFIX"},
		{audit.Config{SubjectPrefix: "sca.*."}, "SCA_SUBJECT_AUDIT_PREFIX"},
		{audit.Config{SubjectPrefix: "."}, "SCA_SUBJECT_AUDIT_PREFIX"},
		{audit.Config{MaxAge: -time.Hour}, "SCA_AUDIT_MAX_AGE"},
		{audit.Config{Replicas: 7}, "SCA_REPLICAS"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
	if err := (audit.Config{}).Validate(); err != nil {
		t.Errorf("Validate(defaults) = %v", err)
	}
}

func TestUserHash(t *testing.T) {
	t.Parallel()
	h := audit.UserHash("user_m_1")
	if len(h) != 16 || h == audit.UserHash("user_m_2") || h != audit.UserHash("user_m_1") {
		t.Errorf("UserHash = %q: want 16 stable hex digits that differ between users", h)
	}
}
