package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
	"github.com/scaworker/scaworker/ops/replay"
)

func TestReplayFlags(t *testing.T) {
	t.Parallel()
	args := []string{"replay", "--from", "2025-06-01T00:00:00Z", "--to", "42",
		"--type", events.TypeUserCreated, "--type", events.TypeSessionFailed, "--user", "user_m_1",
		"--dry-run", "--force", "--restart", "--name", "n1", "--rate", "10/1s"}
	p, err := settings.Parse(args, envOf(map[string]string{"NATS_URL": "nats://127.0.0.1:4222"}), io.Discard, io.Discard)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if p.Command != "replay" {
		t.Fatalf("command = %q, want replay", p.Command)
	}
	cfg, err := replayConfig(p.CLI.Replay)
	if err != nil {
		t.Fatalf("replayConfig: %v", err)
	}
	want := replay.Config{
		Layout: consumerConfig(p.CLI.Replay.Consumer),
		From:   "2025-06-01T00:00:00Z", To: "42",
		Types: []string{events.TypeUserCreated, events.TypeSessionFailed}, Users: []string{"user_m_1"},
		DryRun: true, Force: true, Restart: true, Name: "n1", Rate: enroll.Rate{N: 10, Per: time.Second},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("replay config =\n%+v\nwant\n%+v", cfg, want)
	}

	p, err = settings.Parse([]string{"replay", "--from", "1"}, nil, io.Discard, io.Discard)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if r := p.CLI.Replay; r.Rate != "50/1s" || r.DryRun || r.Force || r.Restart || r.Name != "" || len(r.Types) != 0 {
		t.Errorf("replay defaults = %+v", r)
	}
}

func TestReplayUsageErrors(t *testing.T) {
	t.Parallel()
	nats := map[string]string{"NATS_URL": "nats://127.0.0.1:1"}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no NATS_URL", []string{"replay", "--from", "1"}, nil, "NATS_URL"},
		{"no --from", []string{"replay"}, nats, "--from"},
		{"bad --from", []string{"replay", "--from", "last week"}, nats, "--from"},
		{"bad --type", []string{"replay", "--from", "1", "--type", "user.deleted"}, nats, "--type"},
		{"bad --user", []string{"replay", "--from", "1", "--user", "a/b"}, nats, "--user"},
		{"bad rate", []string{"replay", "--from", "1", "--rate", "fast"}, nats, "--rate"},
		{"bad NATS_URL", []string{"replay", "--from", "1"}, map[string]string{"NATS_URL": "http://nats:4222"}, "NATS_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runSync(t, tt.args, tt.env)
			if code != exitUsage || !strings.Contains(out+errOut, tt.want) {
				t.Errorf("exit %d, want 2 naming %s; stdout %q stderr %q", code, tt.want, out, errOut)
			}
		})
	}
}

// TestReplayCommand runs `replay` against a live `run` through NATS_URL:
// a dry run prints one line per trigger, then the replay prints its summary.
func TestReplayCommand(t *testing.T) {
	t.Parallel()
	o := startOperatorWorld(t)
	js := o.js
	s := events.DefaultSubjects()
	for i, u := range []string{mangosim.UserOwnerNatural, mangosim.UserPayer, mangosim.UserPlatform} {
		body := triggerEvent("e"+string(rune('1'+i)), events.TypeUserCreated, map[string]any{"user_id": u}, time.Now())
		if _, err := js.Publish(t.Context(), s.UserCreated, body); err != nil {
			t.Fatal(err)
		}
	}
	testworld.WaitFor(t, "the worker to process the triggers", 20*time.Second, func() bool {
		c, err := js.Consumer(t.Context(), "SCA_EVENTS", "scaworker")
		if err != nil {
			return false
		}
		info, err := c.Info(t.Context())
		return err == nil && info.AckFloor.Stream == 3 && info.NumAckPending == 0
	})
	env := map[string]string{"NATS_URL": o.env["NATS_URL"], "USER": "carol"}

	code, out, errOut := runSync(t, []string{"replay", "--from", "1", "--dry-run"}, env)
	if code != exitOK {
		t.Fatalf("replay --dry-run = %d; stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"skip/not_owner", mangosim.UserPayer, replay.Reevaluated, replay.Linked, "(dry run: nothing was written)"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("dry run:\n%s", out)

	code, out, errOut = runSync(t, []string{"replay", "--from", "1", "--name", "cmd-test", "--yes", "--operator", "ops-bot"}, env)
	if code != exitOK {
		t.Fatalf("replay = %d; stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "replay cmd-test on SCA_EVENTS, stream seq 1..3: finished") ||
		!hasRow(out, []string{replay.Reevaluated, "2", "2"}) || !hasRow(out, []string{"left", "alone:", "already", "linked", "1", "1"}) {
		t.Errorf("summary:\n%s", out)
	}
	t.Logf("replay:\n%s\nstderr:\n%s", out, errOut)
	if strings.Contains(out+errOut, testAPIKey) {
		t.Errorf("output contains the API key")
	}

	code, out, _ = runSync(t, []string{"replay", "--from", "1", "--name", "cmd-test", "--yes", "--operator", "ops-bot"}, env)
	if code != exitOK || !strings.Contains(out, "already finished") {
		t.Errorf("replay again = %d, want 0 and already finished:\n%s", code, out)
	}
}
