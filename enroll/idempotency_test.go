package enroll_test

import (
	"regexp"
	"testing"

	"github.com/scaworker/scaworker/enroll"
)

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^[A-Za-z0-9-]{16,36}$`)
	tests := []struct {
		trigger string
		seq     int
		want    string
	}{
		{testTrigger, 1, "0f3a5c7e9b1d2f4a6c8e0b2d4f6a8c0e-1"},
		{testTrigger, 12, "0f3a5c7e9b1d2f4a6c8e0b2d4f6a8c0e-12"},
		{testTrigger, 999, "0f3a5c7e9b1d2f4a6c8e0b2d4f6a8c0e-999"},
		{"0123456789abcdef", 3, "0123456789abcdef-3"},
	}
	for _, tt := range tests {
		got := enroll.IdempotencyKey(tt.trigger, tt.seq)
		if got != tt.want {
			t.Errorf("IdempotencyKey(%.8s…, %d) = %q, want %q", tt.trigger, tt.seq, got, tt.want)
		}
		if !valid.MatchString(got) {
			t.Errorf("IdempotencyKey(%.8s…, %d) = %q does not fit Mangopay's rule", tt.trigger, tt.seq, got)
		}
	}
	if a, b := enroll.IdempotencyKey(testTrigger, 1), enroll.IdempotencyKey(testTrigger, 1); a != b {
		t.Errorf("IdempotencyKey is not deterministic: %q, %q", a, b)
	}
}
