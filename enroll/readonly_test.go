package enroll_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/mangosim"
)

// TestReadOnlyClient: an operator tool's client needs no return URL, reads
// Mangopay's events, and refuses to enroll without sending anything.
func TestReadOnlyClient(t *testing.T) {
	t.Parallel()
	sim := mangosim.Start(mangosim.Options{})
	t.Cleanup(sim.Close)
	cfg := enroll.Config{BaseURL: sim.URL, ClientID: sim.ClientID(), APIKey: sim.APIKey(), ReadOnly: true}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate() of a read-only config without SCA_RETURN_URL = %v, want nil", err)
	}
	cfg.ReadOnly = false
	if err := cfg.Validate(); err == nil {
		t.Fatalf("Validate() without SCA_RETURN_URL = nil, want an error naming it")
	}
	cfg.ReadOnly = true
	c, err := enroll.NewClient(cfg, nil)
	if err != nil {
		t.Fatalf("NewClient() = %v", err)
	}
	ctx := context.Background()
	sim.AddEvent(mangosim.Event{ResourceID: "u1", EventType: "SCA_ENROLLMENT_EXPIRED", Date: time.Now().Add(-time.Hour)})
	if got, err := c.Events(ctx, enroll.EventsQuery{}); err != nil || len(got) != 1 {
		t.Errorf("Events() = %v, %v; want the one event", got, err)
	}
	before := sim.Count("POST", "/enrollment")
	_, err = c.Enroll(ctx, enroll.Request{UserID: mangosim.UserOwnerNatural, Trigger: "0123456789abcdef0123456789abcdef", Seq: 1})
	if err == nil || enroll.IsRetryable(err) || enroll.Reason(err) != enroll.ReasonBadRequest {
		t.Errorf("Enroll() on a read-only client = %v (retryable %v, reason %s), want a permanent bad_request", err, enroll.IsRetryable(err), enroll.Reason(err))
	}
	var fault *enroll.FaultError
	if errors.As(err, &fault) {
		t.Errorf("Enroll() = %v, want no deployment fault", err)
	}
	if n := sim.Count("POST", "/enrollment"); n != before {
		t.Errorf("enrollment POSTs = %d, want %d: a read-only client sends none", n, before)
	}
}
