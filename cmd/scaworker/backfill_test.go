package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/budget"
	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

func TestBackfillRate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ flag, deployment, want string }{
		{"", "1500/15m", "750/15m"},
		{"", "1/1s", "1/1s"},
		{"10/1m", "1500/15m", "10/1m"},
	} {
		r, err := backfillRate(tc.flag, tc.deployment)
		if err != nil || r.String() != tc.want {
			t.Errorf("backfillRate(%q, %q) = %s, %v; want %s", tc.flag, tc.deployment, r, err, tc.want)
		}
	}
}

func TestBackfillCommand(t *testing.T) {
	t.Parallel()
	o := startOperatorWorld(t)
	date := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	o.sim.AddEvent(mangosim.Event{ResourceID: mangosim.UserOwnerTriggered, EventType: events.HookEnrollmentExpired, Date: date})
	o.sim.AddEvent(mangosim.Event{ResourceID: mangosim.UserOwnerNatural, EventType: events.HookEnrollmentFailed, Date: date.Add(time.Minute)})
	o.sim.AddEvent(mangosim.Event{ResourceID: mangosim.UserOwnerEnrolled, EventType: events.HookEnrollmentSucceeded, Date: date.Add(2 * time.Minute)})

	code, out, errOut := runSync(t, []string{"backfill", "--since", "2h", "--yes"}, o.env)
	if code != exitOK || !hasRow(out, []string{"total", "3", "3", "0", "0"}) {
		t.Fatalf("backfill = %d:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("backfill:\n%s", out)
	pages := 0
	for _, l := range logLines(errOut) {
		if l["msg"] == "backfill page" {
			pages++
		}
	}
	if pages != 3 {
		t.Errorf("progress lines = %d, want 3 (one per page, stderr is not a terminal)", pages)
	}
	code, out, errOut = runSync(t, []string{"backfill", "--since", "2h", "--yes"}, o.env)
	if code != exitOK || !hasRow(out, []string{"total", "3", "0", "3", "0"}) {
		t.Fatalf("second backfill = %d:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("second backfill:\n%s", out)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	st, err := o.js.Stream(ctx, "SCA_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil || info.State.Msgs != 3 {
		t.Errorf("SCA_EVENTS = %v messages (%v), want 3", info.State.Msgs, err)
	}
}

// TestBackfillDrawsFromTheDeploymentBudget: while the workers have spent the deployment's
// budget, backfill does not call Mangopay; it calls once their calls left the window.
func TestBackfillDrawsFromTheDeploymentBudget(t *testing.T) {
	t.Parallel()
	srv, js := testworld.Server(t)
	sim := startSim(t)
	sim.AddEvent(mangosim.Event{ResourceID: mangosim.UserOwnerTriggered, EventType: events.HookEnrollmentExpired, Date: time.Now().Add(-time.Hour).Truncate(time.Second)})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := consumer.Provision(ctx, js, consumer.Config{}); err != nil {
		t.Fatal(err)
	}
	kv, err := budget.Bucket(ctx, js, "sca_budget", 1)
	if err != nil {
		t.Fatal(err)
	}
	rate := enroll.Rate{N: 3, Per: 2 * time.Second}
	workers, err := budget.Open(kv, budget.Config{Rate: rate, RequestTimeout: 100 * time.Millisecond, MaxLease: 3, Name: "workers"})
	if err != nil {
		t.Fatal(err)
	}
	defer workers.Close()
	for range rate.N {
		if err := workers.Take(ctx); err != nil {
			t.Fatal(err)
		}
	}
	spent := time.Now()

	code, out, errOut := runSync(t, []string{"backfill", "--since", "2h", "--yes"}, map[string]string{
		"NATS_URL": srv.ClientURL(), "USER": "alice", "SCA_MANGOPAY_RATE": rate.String(), "SCA_MANGOPAY_TIMEOUT": "500ms",
		"MANGOPAY_BASE_URL": sim.URL, "MANGOPAY_CLIENT_ID": sim.ClientID(), "MANGOPAY_API_KEY": sim.APIKey(),
	})
	if code != exitOK || !hasRow(out, []string{"total", "1", "1", "0", "0"}) {
		t.Fatalf("backfill = %d:\n%s\nstderr:\n%s", code, out, errOut)
	}
	calls := sim.Calls()
	if len(calls) == 0 {
		t.Fatal("backfill made no call")
	}
	for _, c := range calls {
		if c.At.Before(spent.Add(rate.Per)) {
			t.Errorf("backfill called %s %s %s after the workers spent the budget, want no call within its %s window", c.Method, c.Path, c.At.Sub(spent), rate.Per)
		}
	}
}

// TestBackfillDryRunCreatesNoBudgetBucket: a dry run creates nothing, not
// even the deployment's budget bucket when no worker made it yet.
func TestBackfillDryRunCreatesNoBudgetBucket(t *testing.T) {
	t.Parallel()
	srv, js := testworld.Server(t)
	sim := startSim(t)
	sim.AddEvent(mangosim.Event{ResourceID: mangosim.UserOwnerTriggered, EventType: events.HookEnrollmentExpired, Date: time.Now().Add(-time.Hour).Truncate(time.Second)})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := consumer.Provision(ctx, js, consumer.Config{}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runSync(t, []string{"backfill", "--since", "2h", "--dry-run"}, map[string]string{
		"NATS_URL": srv.ClientURL(), "USER": "alice",
		"MANGOPAY_BASE_URL": sim.URL, "MANGOPAY_CLIENT_ID": sim.ClientID(), "MANGOPAY_API_KEY": sim.APIKey(),
	})
	if code != exitOK || !hasRow(out, []string{"total", "1", "1", "0", "0"}) {
		t.Fatalf("backfill --dry-run = %d:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if _, err := js.KeyValue(ctx, consumer.Config{}.Defaults().BudgetBucket); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Errorf("budget bucket after a dry run: %v, want none", err)
	}
}
