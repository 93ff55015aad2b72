package main

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/natsembed"
	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

func TestOperatorCommandsParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args  []string
		cmd   string
		check func(*settings.CLI) bool
	}{
		{[]string{"dlq", "list", "--reason", "user_not_found", "--user", "u1", "--since", "24h", "--until", "1h", "--limit", "5"}, "dlq list",
			func(c *settings.CLI) bool {
				l := c.Dlq.List
				return l.Reason == "user_not_found" && l.User == "u1" && l.Since == "24h" && l.Until == "1h" && l.Limit == 5
			}},
		{[]string{"dlq", "list"}, "dlq list", func(c *settings.CLI) bool { return c.Dlq.List.Limit == 100 }},
		{[]string{"dlq", "show", "42"}, "dlq show <seq>", func(c *settings.CLI) bool { return c.Dlq.Show.Seq == 42 }},
		{[]string{"dlq", "redrive", "--seq", "3", "--seq", "7", "--reason", "r", "--user", "u"}, "dlq redrive",
			func(c *settings.CLI) bool {
				r := c.Dlq.Redrive
				return slices.Equal(r.Seq, []uint64{3, 7}) && r.Reason == "r" && r.User == "u" && !r.All
			}},
		{[]string{"dlq", "redrive", "--all"}, "dlq redrive", func(c *settings.CLI) bool { return c.Dlq.Redrive.All }},
		{[]string{"dlq", "purge", "--user", "u", "--older-than", "30d", "--reason", "r", "-y", "--secure"}, "dlq purge",
			func(c *settings.CLI) bool {
				p := c.Dlq.Purge
				return p.User == "u" && p.OlderThan == "30d" && p.Reason == "r" && p.Yes && p.Secure && !p.All
			}},
		{[]string{"dlq", "purge", "--all", "--nats-url", "nats://h:4222"}, "dlq purge",
			func(c *settings.CLI) bool { return c.Dlq.Purge.All && c.Dlq.NATS.URL == "nats://h:4222" }},
		{[]string{"backfill", "--since", "24h", "--rate", "10/1m"}, "backfill",
			func(c *settings.CLI) bool { return c.Backfill.Since == "24h" && c.Backfill.Rate == "10/1m" }},
		{[]string{"backfill", "--from", "2026-05-01T00:00:00Z", "--to", "2026-05-02T00:00:00Z"}, "backfill",
			func(c *settings.CLI) bool {
				return c.Backfill.From == "2026-05-01T00:00:00Z" && c.Backfill.To == "2026-05-02T00:00:00Z"
			}},
	} {
		p, err := settings.Parse(tc.args, envOf(map[string]string{"NATS_URL": "nats://env:4222"}), io.Discard, io.Discard)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.args, err)
			continue
		}
		if p.Command != tc.cmd || !tc.check(p.CLI) {
			t.Errorf("Parse(%q) = command %q, %+v", tc.args, p.Command, p.CLI)
		}
	}
}

func TestOperatorUsageErrors(t *testing.T) {
	t.Parallel()
	url := map[string]string{"NATS_URL": "nats://127.0.0.1:1"}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"list without NATS_URL", []string{"dlq", "list"}, nil, "NATS_URL: required by `scaworker dlq list`"},
		{"show without NATS_URL", []string{"dlq", "show", "1"}, nil, "NATS_URL: required"},
		{"redrive without NATS_URL", []string{"dlq", "redrive", "--all"}, nil, "SCA_NATS_LISTEN"},
		{"purge without NATS_URL", []string{"dlq", "purge", "--all", "--yes"}, nil, "NATS_URL: required"},
		{"backfill without NATS_URL", []string{"backfill", "--since", "1h"}, map[string]string{"MANGOPAY_CLIENT_ID": "c", "MANGOPAY_API_KEY": "k"}, "NATS_URL: required by `scaworker backfill`"},
		{"embedded deployment", []string{"dlq", "list"}, map[string]string{"SCA_NATS_LISTEN": "127.0.0.1:4222", "SCA_DATA_DIR": "./data"}, "never open SCA_DATA_DIR"},
		{"bad NATS_URL", []string{"dlq", "list"}, map[string]string{"NATS_URL": "http://nats:4222"}, "NATS_URL"},
		{"redrive selects nothing", []string{"dlq", "redrive"}, url, "--reason, --user, --seq or --all"},
		{"purge selects nothing", []string{"dlq", "purge", "--yes"}, url, "--user, --reason, --older-than or --all"},
		{"bad --since", []string{"dlq", "list", "--since", "last week"}, url, "--since"},
		{"bad --user", []string{"dlq", "purge", "--user", "a b", "--yes"}, url, "--user"},
		{"bad --older-than", []string{"dlq", "purge", "--older-than", "old", "--yes"}, url, "--older-than"},
		{"show needs a seq", []string{"dlq", "show"}, url, "seq"},
		{"backfill 46 days", []string{"backfill", "--since", "46d"}, map[string]string{"NATS_URL": "nats://127.0.0.1:1", "MANGOPAY_CLIENT_ID": "c", "MANGOPAY_API_KEY": "k"}, "--since 46d: reaches back before"},
		{"backfill old --from", []string{"backfill", "--from", "2020-01-01T00:00:00Z"}, map[string]string{"NATS_URL": "nats://127.0.0.1:1", "MANGOPAY_CLIENT_ID": "c", "MANGOPAY_API_KEY": "k"}, "--from 2020-01-01T00:00:00Z"},
		{"backfill without range", []string{"backfill"}, map[string]string{"NATS_URL": "nats://127.0.0.1:1", "MANGOPAY_CLIENT_ID": "c", "MANGOPAY_API_KEY": "k"}, "--since or --from"},
		{"backfill without credentials", []string{"backfill", "--since", "1h"}, url, "MANGOPAY_CLIENT_ID"},
		{"backfill bad rate", []string{"backfill", "--since", "1h", "--rate", "fast"}, map[string]string{"NATS_URL": "nats://127.0.0.1:1", "MANGOPAY_CLIENT_ID": "c", "MANGOPAY_API_KEY": "k"}, "--rate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runSync(t, tc.args, tc.env)
			if code != exitUsage || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("exit %d, want 2 naming %q; stdout %q stderr %q", code, tc.want, out, errOut)
			}
		})
	}
}

// operatorWorld is a live `run` on an external NATS (an embedded server
// standing in for the deployment's), and a connection to it.
type operatorWorld struct {
	sim *mangosim.Server
	env map[string]string // the operator commands' environment
	js  jetstream.JetStream
}

func startOperatorWorld(t *testing.T) *operatorWorld {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	sim := startSim(t)
	env := workerEnv(t, sim)
	env["NATS_URL"] = srv.ClientURL()
	w := startWorker(t, env)
	waitLog(t, w.stderr, w.done, "ready", nil)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &operatorWorld{sim: sim, js: js, env: map[string]string{
		"NATS_URL": srv.ClientURL(), "USER": "alice",
		"MANGOPAY_BASE_URL": sim.URL, "MANGOPAY_CLIENT_ID": sim.ClientID(), "MANGOPAY_API_KEY": sim.APIKey(),
	}}
}

// hasTimedRow reports whether table has a row of an RFC 3339 time followed
// by cells.
func hasTimedRow(table string, cells []string) bool {
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) == len(cells)+1 && strings.Join(f[1:], " ") == strings.Join(cells, " ") {
			if _, err := time.Parse(time.RFC3339, f[0]); err == nil {
				return true
			}
		}
	}
	return false
}

// dlqRecords counts the records in SCA_DLQ.
func (o *operatorWorld) dlqRecords(t *testing.T) int {
	t.Helper()
	n := 0
	if err := consumer.ReadStream(t.Context(), o.js, "SCA_DLQ", consumer.ReadOptions{}, func(consumer.StoredMsg) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDLQCommands walks the README's main use against a live worker: a
// legal owner was missing the representative's e-mail, the data was
// fixed, redrive; then a purge, refused without --yes, done with it.
func TestDLQCommands(t *testing.T) {
	t.Parallel()
	o := startOperatorWorld(t)
	body, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": "evt-42", "source": "/users", "type": events.TypeUserCreated,
		"data": map[string]any{"user_id": mangosim.UserOwnerLegalNoRep, "category": "OWNER"}})
	if _, err := o.js.Publish(t.Context(), events.DefaultSubjects().UserCreated, body, jetstream.WithMsgID("evt-42")); err != nil {
		t.Fatal(err)
	}
	testworld.WaitFor(t, "the dead letter", 20*time.Second, func() bool { return o.dlqRecords(t) == 1 })

	code, out, errOut := runSync(t, []string{"dlq", "list"}, o.env)
	if code != exitOK || !hasTimedRow(out, []string{"1", "sca.events.user.created", events.ReasonMissingLegalRepEmail, mangosim.UserOwnerLegalNoRep, "1", "-"}) {
		t.Fatalf("dlq list = %d:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("dlq list:\n%s", out)

	code, out, errOut = runSync(t, []string{"dlq", "show", "1"}, o.env)
	if code != exitOK || !strings.Contains(out, "reason:           missing_legal_representative_email") || !strings.Contains(out, `"id": "evt-42"`) {
		t.Fatalf("dlq show 1 = %d:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("dlq show 1:\n%s", out)
	if code, out, _ := runSync(t, []string{"dlq", "show", "9"}, o.env); code != exitFailure || !strings.Contains(out, "no dead letter") {
		t.Errorf("dlq show 9 = %d, %q; want 1 and no dead letter", code, out)
	}

	o.sim.AddUser(mangosim.User{ID: mangosim.UserOwnerLegalNoRep, Category: mangosim.CategoryOwner, PersonType: mangosim.PersonLegal,
		LegalPersonType: "BUSINESS", Status: mangosim.StatusActive, Email: "company@example.com", LegalRepresentativeEmail: "rep@example.com"})
	code, out, errOut = runSync(t, []string{"dlq", "redrive", "--reason", events.ReasonMissingLegalRepEmail, "--yes"}, o.env)
	if code != exitOK || !hasRow(out, []string{"1", "evt-42", "evt-42.redrive-1", "redriven"}) {
		t.Fatalf("dlq redrive = %d:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("dlq redrive:\n%s", out)
	audit := false
	for _, l := range logLines(errOut) {
		if l["msg"] == "dlq redrive" && l["operator"] == "alice" && l["redrive_id"] == "evt-42.redrive-1" {
			audit = true
		}
	}
	if !audit {
		t.Errorf("no audit line in stderr:\n%s", errOut)
	}
	// The worker links the fixed user; the ledger of the root says link.
	testworld.WaitFor(t, "the link", 20*time.Second, func() bool {
		n := 0
		_ = consumer.ReadStream(t.Context(), o.js, "SCA_LINKS", consumer.ReadOptions{}, func(consumer.StoredMsg) error { n++; return nil })
		return n == 1
	})
	code, out, _ = runSync(t, []string{"dlq", "show", "1"}, o.env)
	if code != exitOK || !strings.Contains(out, "state:            redriven 1 as evt-42.redrive-1") {
		t.Errorf("dlq show 1 after redrive = %d:\n%s", code, out)
	}
	testworld.WaitFor(t, "the root's ledger to say link", 20*time.Second, func() bool {
		_, out, _ := runSync(t, []string{"dlq", "show", "1"}, o.env)
		return strings.Contains(out, "ledger:           link (redriven to evt-42.redrive-1)")
	})
	code, out, _ = runSync(t, []string{"dlq", "redrive", "--all", "-y"}, o.env)
	if code != exitOK || !strings.Contains(out, "0 redriven, 1 skipped, 0 refused, 0 conflicts") {
		t.Errorf("second dlq redrive = %d:\n%s", code, out)
	}
	code, out, _ = runSync(t, []string{"dlq", "list"}, o.env)
	if code != exitOK || !hasTimedRow(out, []string{"1", "sca.events.user.created", events.ReasonMissingLegalRepEmail, mangosim.UserOwnerLegalNoRep, "1", "redriven", "1"}) {
		t.Errorf("dlq list after redrive = %d:\n%s", code, out)
	}
	t.Logf("dlq list after redrive:\n%s", out)

	// Purge: refused with no stdin, cancelled on "n", done on "y" or --yes.
	if code, out, errOut := runSync(t, []string{"dlq", "purge", "--all"}, o.env); code != exitUsage || !strings.Contains(errOut, "--yes") {
		t.Errorf("dlq purge without stdin = %d, %q, %q; want 2 naming --yes", code, out, errOut)
	}
	var sout, serr syncBuffer
	if code := runWithInput(t.Context(), []string{"dlq", "purge", "--all"}, envOf(o.env), typed("n\n"), &sout, &serr); code != exitFailure ||
		!strings.Contains(serr.String(), "purge 1 record? [y/N] ") || !strings.Contains(sout.String(), "purge cancelled") {
		t.Errorf("dlq purge answered n = %d, %q, %q", code, sout.String(), serr.String())
	}
	if n := o.dlqRecords(t); n != 1 {
		t.Fatalf("records after refusals = %d, want 1", n)
	}
	sout, serr = syncBuffer{}, syncBuffer{}
	if code := runWithInput(t.Context(), []string{"dlq", "purge", "--user", mangosim.UserOwnerLegalNoRep}, envOf(o.env), typed("y\n"), &sout, &serr); code != exitOK ||
		!strings.Contains(sout.String(), "purged 1 of 1 selected records (erased securely)") {
		t.Errorf("dlq purge --user answered y = %d, %q, %q", code, sout.String(), serr.String())
	}
	t.Logf("dlq purge --user:\n%s%s", serr.String(), sout.String())
	if strings.Contains(serr.String(), mangosim.UserOwnerLegalNoRep) {
		t.Errorf("purge audit carries the user id:\n%s", serr.String())
	}
	if n := o.dlqRecords(t); n != 0 {
		t.Errorf("records after purge = %d, want 0", n)
	}
	code, out, _ = runSync(t, []string{"dlq", "purge", "--all", "--yes"}, o.env)
	if code != exitOK || !strings.Contains(out, "purged 0 of 0 selected records") {
		t.Errorf("dlq purge --all --yes on an empty DLQ = %d, %q", code, out)
	}
}
