package main

import (
	"context"
	"testing"
	"time"

	"github.com/scaworker/scaworker/events"
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
