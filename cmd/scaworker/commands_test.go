package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/internal/testworld"
)

// Bare `scaworker` and `scaworker help [command]` print usage and exit 0.
func TestUsageWithoutACommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"Usage: scaworker <command>", "run ", "dlq ", "backfill "}},
		{[]string{"help"}, []string{"Usage: scaworker <command>"}},
		{[]string{"help", "run"}, []string{"Usage: scaworker run", "$SCA_RETURN_URL", "--startup-timeout"}},
		{[]string{"help", "dlq", "list"}, []string{"Usage: scaworker dlq list", "--reason", "--nats-url"}},
	} {
		code, out, errOut := runSync(t, tc.args, nil)
		if code != exitOK {
			t.Errorf("scaworker %v = %d, want 0; stderr %q", tc.args, code, errOut)
		}
		for _, want := range tc.want {
			if !strings.Contains(out, want) {
				t.Errorf("scaworker %v does not print %q:\n%s", tc.args, want, out)
			}
		}
	}
}

// An operator command's help lists the NATS connection and its own flags,
// not the worker's tuning, and says what --nats-url means for it.
func TestOperatorHelpListsWhatItUses(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"backfill", "-h"}, {"replay", "-h"}, {"dlq", "list", "-h"}, {"dlq", "purge", "-h"}, {"audit", "-h"}} {
		code, out, _ := runSync(t, args, nil)
		if code != exitOK {
			t.Fatalf("%v = %d", args, code)
		}
		out = strings.Join(strings.Fields(out), " ") // help wraps lines
		for _, worker := range []string{"--concurrency", "--ack-wait", "--retry-budget", "--user-cap", "--shutdown-timeout", "--return-url"} {
			if strings.Contains(out, worker) {
				t.Errorf("%v lists the worker's %s:\n%s", args, worker, out)
			}
		}
		if !strings.Contains(out, "--nats-url") || !strings.Contains(out, "required") || strings.Contains(out, "empty starts an embedded") {
			t.Errorf("%v: --nats-url does not say it is the deployment to operate on:\n%s", args, out)
		}
	}
	_, out, _ := runSync(t, []string{"run", "-h"}, nil)
	out = strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"--concurrency", "--ack-wait", "empty starts an embedded"} {
		if !strings.Contains(out, want) {
			t.Errorf("run -h lacks %s", want)
		}
	}
}

// version prints when the binary was built, not when its commit was made.
func TestVersionPrintsBuildTime(t *testing.T) {
	t.Parallel()
	_, out, _ := runSync(t, []string{"version"}, nil)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(exe)
	if err != nil {
		t.Fatal(err)
	}
	want := "built:    " + fi.ModTime().UTC().Format(time.RFC3339) + "\n"
	if !strings.Contains(out, want) {
		t.Errorf("version = \n%s\nwant a line %q (the test binary's build time)", out, want)
	}
}

// Closing a connection of ours (every operator command does at its end)
// logs no "nats disconnected" warning; only a lost connection does.
func TestClosingNATSIsQuiet(t *testing.T) {
	t.Parallel()
	srv, _ := testworld.Server(t)
	var logs syncBuffer
	log, err := newLogger("info", "json", &logs)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := connectNATS(t.Context(), srv.ClientURL(), settings.NATS{}, log)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	// The closed handler runs after the disconnect handler, on the same queue.
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	nc.Close()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("connection not closed within 10s")
	}
	if strings.Contains(logs.String(), "nats disconnected") {
		t.Errorf("closing the connection logged:\n%s", logs.String())
	}
}

// The rate-limit windows of the metrics are named by their length.
func TestRateLimitMetricLabelsAreDurations(t *testing.T) {
	t.Parallel()
	w := startWorker(t, workerEnv(t, startSim(t)))
	base := "http://" + waitLog(t, w.stderr, w.done, "http listening", map[string]string{"setting": "SCA_HTTP_ADDR"})["addr"].(string)
	waitLog(t, w.stderr, w.done, "ready", nil)
	publishTrigger(t, w)
	var metrics string
	testworld.WaitFor(t, "rate-limit windows in /metrics", 20*time.Second, func() bool {
		_, metrics = get(t, base+"/metrics")
		return strings.Contains(metrics, "scaworker_mangopay_ratelimit_remaining{")
	})
	for _, want := range []string{`window="15m"`, `window="30m"`, `window="1h"`, `window="24h"`} {
		if !strings.Contains(metrics, "scaworker_mangopay_ratelimit_remaining{"+want+"}") {
			t.Errorf("/metrics lacks the window %s:\n%s", want, grepLines(metrics, "ratelimit_remaining"))
		}
	}
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// backfill's result (range, pages, counts) is on stdout; stderr carries no
// info line repeating it ahead of the result, only the per-page progress.
func TestBackfillSaysItsRangeOnce(t *testing.T) {
	t.Parallel()
	o := startOperatorWorld(t)
	code, out, errOut := runSync(t, []string{"backfill", "--since", "1h", "--yes"}, o.env)
	if code != exitOK || !strings.HasPrefix(out, "backfill ") {
		t.Fatalf("backfill = %d:\n%s\n%s", code, out, errOut)
	}
	for _, l := range logLines(errOut) {
		if l["msg"] == "backfill" {
			t.Errorf("stderr repeats the range before the result: %v", l)
		}
	}
}
