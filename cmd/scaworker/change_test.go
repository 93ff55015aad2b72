package main

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/ops/audit"
)

// fakeTerminal is stdin that claims to be a terminal, with answers typed in advance.
type fakeTerminal struct{ io.Reader }

func (fakeTerminal) Terminal() bool { return true }

func typed(answer string) io.Reader { return fakeTerminal{strings.NewReader(answer)} }

func TestChangeRules(t *testing.T) {
	t.Parallel()
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { devNull.Close() })
	user := envOf(map[string]string{"USER": "alice"})
	for _, tc := range []struct {
		name   string
		flags  settings.Change
		env    settings.LookupEnv
		stdin  io.Reader
		want   string // a problem naming this; "" for none
		wantOp string
	}{
		{"no terminal, no --yes", settings.Change{}, user, nil, "--yes", "alice"},
		{"a pipe is no terminal", settings.Change{}, user, strings.NewReader("y\n"), "--yes", "alice"},
		{"/dev/null is no terminal", settings.Change{}, user, devNull, "--yes", "alice"},
		{"--yes without terminal", settings.Change{Yes: true}, user, nil, "", "alice"},
		{"--dry-run asks nothing", settings.Change{DryRun: true}, user, nil, "", "alice"},
		{"a terminal", settings.Change{}, user, typed(""), "", "alice"},
		{"--operator wins over $USER", settings.Change{Yes: true, Operator: "bob"}, user, nil, "", "bob"},
		{"no operator at all", settings.Change{Yes: true}, envOf(nil), nil, "--operator", ""},
		{"a dry run without operator", settings.Change{DryRun: true}, envOf(nil), nil, "", ""},
		{"a blank $USER", settings.Change{Yes: true}, envOf(map[string]string{"USER": " "}), nil, "--operator", ""},
		{"a control character", settings.Change{Yes: true, Operator: "a\nb"}, user, nil, "--operator", "a\nb"},
	} {
		c, errs := newChange("dlq redrive", tc.flags, tc.env, tc.stdin, io.Discard)
		err := errors.Join(errs...)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want no problem", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want a problem naming %s", tc.name, err, tc.want)
		case c.operator != tc.wantOp:
			t.Errorf("%s: operator %q, want %q", tc.name, c.operator, tc.wantOp)
		}
	}
}

func TestChangeConfirm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		answer string
		want   error // nil, errCancelled, or a *configError
	}{
		{"y\n", nil}, {"YES\n", nil}, {" yes \n", nil},
		{"n\n", errCancelled}, {"\n", errCancelled}, {"maybe\n", errCancelled},
		{"", &configError{}},
	} {
		var prompt strings.Builder
		c, errs := newChange("dlq purge", settings.Change{Operator: "alice"}, nil, typed(tc.answer), &prompt)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		err := c.confirm("purge 3 records?")
		if !strings.HasPrefix(prompt.String(), "purge 3 records? [y/N] ") {
			t.Errorf("prompt = %q", prompt.String())
		}
		var cfgErr *configError
		switch {
		case tc.want == nil && err != nil, tc.want == errCancelled && !errors.Is(err, errCancelled):
			t.Errorf("answer %q: %v, want %v", tc.answer, err, tc.want)
		case tc.want != nil && tc.want != errCancelled && (!errors.As(err, &cfgErr) || !strings.Contains(err.Error(), "--yes")):
			t.Errorf("answer %q: %v, want a configuration error naming --yes", tc.answer, err)
		}
	}
	for _, f := range []settings.Change{{Yes: true, Operator: "a"}, {DryRun: true, Operator: "a"}} {
		var prompt strings.Builder
		c, _ := newChange("replay", f, nil, nil, &prompt)
		if err := c.confirm("replay?"); err != nil || prompt.Len() > 0 {
			t.Errorf("confirm with %+v = %v, prompt %q; want no question", f, err, prompt.String())
		}
	}
}

// TestCommandsThatChangeStateNeedYes: without a terminal, every command
// that changes state exits 2 naming --yes before it connects anywhere
// (NATS_URL points at a closed port); without an operator it exits 2
// naming --operator.
func TestCommandsThatChangeStateNeedYes(t *testing.T) {
	t.Parallel()
	env := map[string]string{"NATS_URL": "nats://127.0.0.1:1", "USER": "alice",
		"MANGOPAY_CLIENT_ID": "c", "MANGOPAY_API_KEY": "k"}
	noUser := map[string]string{"NATS_URL": "nats://127.0.0.1:1", "MANGOPAY_CLIENT_ID": "c", "MANGOPAY_API_KEY": "k"}
	for _, args := range [][]string{
		{"replay", "--from", "1"},
		{"dlq", "redrive", "--all"},
		{"dlq", "purge", "--all"},
		{"backfill", "--since", "1h"},
	} {
		code, out, errOut := runSync(t, args, env)
		if code != exitUsage || !strings.Contains(errOut, "--yes") {
			t.Errorf("%q without a terminal = %d, %q, %q; want 2 naming --yes", args, code, out, errOut)
		}
		code, out, errOut = runSync(t, append(args, "--yes"), noUser)
		if code != exitUsage || !strings.Contains(errOut, "--operator") {
			t.Errorf("%q without $USER or --operator = %d, %q, %q; want 2 naming --operator", args, code, out, errOut)
		}
	}
}

// TestAuditCommand pages through records written by the audit package.
func TestAuditCommand(t *testing.T) {
	t.Parallel()
	srv, js := testworld.Server(t)
	l, err := audit.New(js, audit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []audit.Record{
		{Operator: "alice", Command: audit.CommandDLQPurge, Selection: map[string]string{"all": "true"}, Counts: map[string]int{"selected": 3, "deleted": 3}},
		{Operator: "bob", Command: audit.CommandReplay, DryRun: true, Selection: map[string]string{"from": "1"}, Counts: map[string]int{"re-evaluated": 2}},
		{Operator: "carol", Command: audit.CommandBackfill, Result: audit.ResultFailed},
	} {
		if _, err := l.Write(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"NATS_URL": srv.ClientURL()}
	code, out, errOut := runSync(t, []string{"audit", "--limit", "2"}, env)
	if code != exitOK || !hasTimedRow(out, []string{"3", "carol", "backfill", "-", "failed", "-", "-"}) ||
		!hasTimedRow(out, []string{"2", "bob", "replay", "yes", "done", "from=1", "re-evaluated=2"}) ||
		strings.Contains(out, "alice") || !strings.Contains(out, "2 records (newest first; older: --before 2)") {
		t.Fatalf("audit --limit 2 = %d:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("audit --limit 2:\n%s", out)
	code, out, _ = runSync(t, []string{"audit", "--limit", "2", "--before", "2"}, env)
	if code != exitOK || !hasTimedRow(out, []string{"1", "alice", "dlq", "purge", "-", "done", "all=true", "deleted=3", "selected=3"}) ||
		!strings.Contains(out, "1 record (newest first)") {
		t.Errorf("audit --before 2 = %d:\n%s", code, out)
	}
	code, out, _ = runSync(t, []string{"audit", "--command", "dlq purge"}, env)
	if code != exitOK || !strings.Contains(out, "alice") || strings.Contains(out, "bob") {
		t.Errorf("audit --command 'dlq purge' = %d:\n%s", code, out)
	}
	if code, _, errOut := runSync(t, []string{"audit", "--command", "dlq list"}, env); code != exitUsage || !strings.Contains(errOut, "--command") {
		t.Errorf("audit --command 'dlq list' = %d, %q; want 2 naming --command", code, errOut)
	}
}

// TestChangeRecordResult: a command's record says how it ended, and a
// failed command still leaves its record with the counts so far.
func TestChangeRecordResult(t *testing.T) {
	t.Parallel()
	js := testworld.JetStream(t)
	c, errs := newChange(audit.CommandDLQRedrive, settings.Change{Yes: true, Operator: "alice"}, nil, nil, io.Discard)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := c.open(t.Context(), js, audit.Config{}); err != nil {
		t.Fatal(err)
	}
	failure := errors.New("publish failed")
	if err := c.record(t.Context(), nil, map[string]int{"redriven": 2}, failure); err != failure {
		t.Errorf("record(failure) = %v, want the failure itself", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.record(ctx, nil, nil, ctx.Err()); !errors.Is(err, context.Canceled) {
		t.Errorf("record(interrupted) = %v, want the interruption", err)
	}
	if err := c.record(t.Context(), nil, nil, nil); err != nil {
		t.Errorf("record(done) = %v", err)
	}
	l, _ := audit.New(js, audit.Config{})
	page, err := l.Read(t.Context(), audit.Query{})
	if err != nil || len(page.Records) != 3 {
		t.Fatalf("records = %+v, %v; want 3", page.Records, err)
	}
	var got []string
	for _, r := range page.Records {
		got = append(got, r.Result)
	}
	if want := []string{audit.ResultDone, audit.ResultInterrupted, audit.ResultFailed}; !slices.Equal(got, want) {
		t.Errorf("results (newest first) = %q, want %q", got, want)
	}
	if page.Records[2].Counts["redriven"] != 2 {
		t.Errorf("the failed command's record lost its counts: %+v", page.Records[2])
	}
}
