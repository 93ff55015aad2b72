package enroll_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/mangosim"
)

func TestResponse(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := setup(t, setupOpts{clock: clock})
	ctx := context.Background()
	if _, err := b.client.Enroll(ctx, req(mangosim.UserOwnerNatural, 1)); err != nil {
		t.Fatalf("Enroll() error = %v", err)
	}
	payerTrigger := "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbcccccccccccccccc"
	if _, err := b.client.Enroll(ctx, enroll.Request{UserID: mangosim.UserPayer, Trigger: payerTrigger, Seq: 1}); err == nil {
		t.Fatalf("Enroll(payer) error = nil")
	}
	tests := []struct {
		key        string
		wantStatus int
		wantField  string // a top-level field of the stored body
	}{
		{key(1), 200, "PendingUserAction"},
		{enroll.IdempotencyKey(payerTrigger, 1), 400, "Type"},
	}
	for _, tt := range tests {
		got, err := b.client.Response(ctx, tt.key)
		if err != nil {
			t.Errorf("Response(%s) error = %v", tt.key, err)
			continue
		}
		if got.StatusCode != tt.wantStatus || !got.Date.Equal(clock.Now()) {
			t.Errorf("Response(%s) = {%d %s}, want {%d %s}", tt.key, got.StatusCode, got.Date, tt.wantStatus, clock.Now())
		}
		var body map[string]json.RawMessage
		if err := json.Unmarshal(got.Body, &body); err != nil || body[tt.wantField] == nil {
			t.Errorf("Response(%s) body has no %s (err %v)", tt.key, tt.wantField, err)
		}
	}
	b.checkNoSecrets(t, nil)
}

func TestResponseErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	_, err := b.client.Response(ctx, "unknownkey-000000000001")
	var apiErr *enroll.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || enroll.IsRetryable(err) {
		t.Errorf("Response(unknown) error = %v, want a permanent 404", err)
	}
	b.checkNoSecrets(t, err)
	before := len(b.sim.Calls())
	for _, k := range []string{"short", "has space in the key 123", "0123456789abcdef0123456789abcdef-1000", "a/b-0123456789abcdef"} {
		_, err := b.client.Response(ctx, k)
		if enroll.Reason(err) != enroll.ReasonBadRequest {
			t.Errorf("Response(%q) error = %v, want bad_request", k, err)
		}
		b.checkNoSecrets(t, err)
	}
	if got := len(b.sim.Calls()); got != before {
		t.Errorf("requests for invalid keys = %d, want 0", got-before)
	}
}
