package enroll_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/mangosim"
)

func TestEvents(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := setup(t, setupOpts{clock: clock})
	now := clock.Now()
	for _, e := range []mangosim.Event{
		{ResourceID: "u1", EventType: "SCA_ENROLLMENT_EXPIRED", Date: now.Add(-3 * time.Hour)},
		{ResourceID: "u2", EventType: "SCA_ENROLLMENT_SUCCEEDED", Date: now.Add(-2 * time.Hour)},
		{ResourceID: "u3", EventType: "SCA_ENROLLMENT_EXPIRED", Date: now.Add(-time.Hour)},
		{ResourceID: "u4", EventType: "SCA_ENROLLMENT_EXPIRED", Date: now.Add(-30 * time.Minute)},
	} {
		b.sim.AddEvent(e)
	}
	tests := []struct {
		name string
		q    enroll.EventsQuery
		want []string // resource ids
	}{
		{"all", enroll.EventsQuery{}, []string{"u1", "u2", "u3", "u4"}},
		{"by type", enroll.EventsQuery{EventType: "SCA_ENROLLMENT_EXPIRED", Sort: "Date:ASC"}, []string{"u1", "u3", "u4"}},
		{"descending", enroll.EventsQuery{EventType: "SCA_ENROLLMENT_EXPIRED", Sort: "Date:DESC"}, []string{"u4", "u3", "u1"}},
		{"page 2", enroll.EventsQuery{Sort: "Date:ASC", Page: 2, PerPage: 3}, []string{"u4"}},
		{"after", enroll.EventsQuery{AfterDate: now.Add(-90 * time.Minute)}, []string{"u3", "u4"}},
		{"between", enroll.EventsQuery{AfterDate: now.Add(-150 * time.Minute), BeforeDate: now.Add(-45 * time.Minute)}, []string{"u2", "u3"}},
	}
	for _, tt := range tests {
		got, err := b.client.Events(context.Background(), tt.q)
		if err != nil {
			t.Errorf("Events(%s) error = %v", tt.name, err)
			continue
		}
		var ids []string
		for _, e := range got {
			ids = append(ids, e.ResourceID)
		}
		if !equalStrings(ids, tt.want) {
			t.Errorf("Events(%s) = %v, want %v", tt.name, ids, tt.want)
		}
	}
	got, err := b.client.Events(context.Background(), enroll.EventsQuery{EventType: "SCA_ENROLLMENT_SUCCEEDED"})
	want := enroll.Event{ResourceID: "u2", EventType: "SCA_ENROLLMENT_SUCCEEDED", Date: now.Add(-2 * time.Hour)}
	if err != nil || len(got) != 1 || got[0].ResourceID != want.ResourceID || got[0].EventType != want.EventType || !got[0].Date.Equal(want.Date) {
		t.Errorf("Events() = %+v, %v; want [%+v]", got, err, want)
	}

	// Older than 45 days: Mangopay's 400 param_error, not retried.
	before := b.sim.Count(http.MethodGet, "/events")
	_, err = b.client.Events(context.Background(), enroll.EventsQuery{AfterDate: now.Add(-50 * 24 * time.Hour)})
	if enroll.Reason(err) != enroll.ReasonBadRequest || enroll.IsRetryable(err) {
		t.Errorf("Events(50 days ago) error = %v, want bad_request", err)
	}
	b.checkNoSecrets(t, err)
	if got := b.sim.Count(http.MethodGet, "/events") - before; got != 1 {
		t.Errorf("requests = %d, want 1", got)
	}
	// Invalid paging is refused before any request.
	before = len(b.sim.Calls())
	for _, q := range []enroll.EventsQuery{{PerPage: 101}, {PerPage: -1}, {Page: -1}} {
		_, err := b.client.Events(context.Background(), q)
		if enroll.Reason(err) != enroll.ReasonBadRequest {
			t.Errorf("Events(%+v) error = %v, want bad_request", q, err)
		}
		b.checkNoSecrets(t, err)
	}
	if got := len(b.sim.Calls()) - before; got != 0 {
		t.Errorf("requests for invalid queries = %d, want 0", got)
	}
}
