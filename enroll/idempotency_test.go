package enroll_test

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/mangosim"
)

var validKeyRE = regexp.MustCompile(`^[A-Za-z0-9-]{16,36}$`)

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		trigger string
		seq     int
		want    string
	}{
		{testTrigger, 1, "0f3a5c7e9b1d2f4a6c8e0b2d4f6a8c0e-1"},
		{testTrigger, 12, "0f3a5c7e9b1d2f4a6c8e0b2d4f6a8c0e-12"},
		{testTrigger, 999, "0f3a5c7e9b1d2f4a6c8e0b2d4f6a8c0e-999"},
		{"0123456789abcdef", 3, "0123456789abcdef-3"},
		{"0123456789abcdef", 1234567, "0123456789abcdef-1234567"},
	}
	for _, tt := range tests {
		got := enroll.IdempotencyKey(tt.trigger, tt.seq)
		if got != tt.want {
			t.Errorf("IdempotencyKey(%.8s…, %d) = %q, want %q", tt.trigger, tt.seq, got, tt.want)
		}
	}
	if a, b := enroll.IdempotencyKey(testTrigger, 1), enroll.IdempotencyKey(testTrigger, 1); a != b {
		t.Errorf("IdempotencyKey is not deterministic: %q, %q", a, b)
	}
}

// TestIdempotencyKeyAnySeq: a long outage spends a key per failed call, so
// the key of any sequence must fit Mangopay's rule, stay deterministic and
// never repeat a key of another sequence or another trigger.
func TestIdempotencyKeyAnySeq(t *testing.T) {
	t.Parallel()
	triggers := []string{testTrigger, strings.Repeat("9c", 32), "0123456789abcdef", strings.Repeat("A", 34)}
	seen := map[string]string{}
	seqs := []int{9999, 10000, 123456, 1 << 30, 1<<63 - 1}
	for i := 1; i <= 3000; i++ {
		seqs = append(seqs, i)
	}
	for _, trig := range triggers {
		for _, seq := range seqs {
			k := enroll.IdempotencyKey(trig, seq)
			if !validKeyRE.MatchString(k) {
				t.Fatalf("IdempotencyKey(%.8s…, %d) = %q (%d characters): not 16–36 of [A-Za-z0-9-]", trig, seq, k, len(k))
			}
			if k != enroll.IdempotencyKey(trig, seq) {
				t.Fatalf("IdempotencyKey(%.8s…, %d) is not deterministic", trig, seq)
			}
			name := trig + "#" + strconv.Itoa(seq)
			if prev, dup := seen[k]; dup {
				t.Fatalf("IdempotencyKey(%.8s…, %d) = %q, already the key of %s", trig, seq, k, prev)
			}
			seen[k] = name
		}
	}
	// Keys 1 to 999 keep their plain shape (a call in flight across an
	// upgrade is read back under the same key); 1000 cannot.
	if got := enroll.IdempotencyKey(testTrigger, 1000); strings.HasPrefix(got, testTrigger[:32]) {
		t.Errorf("IdempotencyKey(1000) = %q: 37 characters cannot keep the plain shape", got)
	}
}

// TestEnrollHighSeq: after a thousand spent keys the next call still
// sends a key Mangopay accepts, and gets a link.
func TestEnrollHighSeq(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	for _, seq := range []int{999, 1000, 1001, 250000} {
		res, err := b.client.Enroll(context.Background(), req(mangosim.UserOwnerNatural, seq))
		if err != nil || res.Link == "" || res.NextSeq != seq {
			t.Fatalf("Enroll(seq %d) = %+v, %v; want a link with NextSeq %d", seq, res, err, seq)
		}
	}
	for _, k := range keysOf(b.sim) {
		if !validKeyRE.MatchString(k) {
			t.Errorf("sent Idempotency-Key %q does not fit Mangopay's rule", k)
		}
	}
	b.checkNoSecrets(t, nil)
}

// TestEnrollSurvivesALongOutage: a Mangopay outage answers 503 to 1,205
// calls in a row, each spending a key; the caller carries NextSeq from
// one Enroll to the next, as the consumer does through its ledger. The
// outage ends in a link, never in a permanent error.
func TestEnrollSurvivesALongOutage(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	const outage = 1205
	b.sim.SetFaults(mangosim.Faults{Burst5xx: outage})
	seq, calls := 1, 0
	for {
		calls++
		res, err := b.client.Enroll(context.Background(), req(mangosim.UserOwnerNatural, seq))
		seq = res.NextSeq
		if err == nil {
			break
		}
		if !enroll.IsRetryable(err) || enroll.Reason(err) != enroll.ReasonUnavailable {
			t.Fatalf("Enroll() after %d spent keys: %v (reason %s), want a retryable 503", seq-1, err, enroll.Reason(err))
		}
		if calls > outage {
			t.Fatalf("no link after %d calls", calls)
		}
	}
	if seq != outage+1 {
		t.Errorf("link under key %d, want %d (one key spent per 503)", seq, outage+1)
	}
	keys := keysOf(b.sim)
	if len(keys) != outage+1 {
		t.Errorf("POSTs = %d, want %d", len(keys), outage+1)
	}
	distinct := map[string]bool{}
	for _, k := range keys {
		if !validKeyRE.MatchString(k) {
			t.Fatalf("sent Idempotency-Key %q does not fit Mangopay's rule", k)
		}
		distinct[k] = true
	}
	if len(distinct) != len(keys) {
		t.Errorf("%d distinct keys for %d POSTs", len(distinct), len(keys))
	}
}

// TestEnrollMalformedKeyIsAFault: a 400 that refuses the Idempotency-Key
// is our bug (or a proxy's), never a verdict about the user: a fault of
// the deployment, which the worker waits out instead of dead-lettering.
func TestEnrollMalformedKeyIsAFault(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"Message":"One or several required parameters are missing or incorrect. An incorrect resource ID also raises this kind of error.","Type":"param_error","errors":{"Idempotency-Key":"The Idempotency-Key must be 16 to 36 characters long"}}`,
		`{"Message":"Invalid idempotency key","Type":"param_error","errors":null}`,
		`{"Message":"bad","Type":"param_error","errors":{"IdempotencyKey":"too long"}}`,
	} {
		f := newFakeAPI(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusBadRequest, body)
		})
		b := setup(t, setupOpts{handler: f})
		res, err := b.client.Enroll(context.Background(), req("user_m_1", 4))
		var fault *enroll.FaultError
		if !errors.As(err, &fault) || fault.Kind != enroll.FaultIdempotencyKey {
			t.Errorf("Enroll() error = %v, want a fault of kind %s", err, enroll.FaultIdempotencyKey)
		}
		if enroll.Reason(err) == enroll.ReasonBadRequest || enroll.IsRetryable(err) {
			t.Errorf("Reason() = %s, retryable %v; want no bad_request (it would dead-letter)", enroll.Reason(err), enroll.IsRetryable(err))
		}
		if res.NextSeq != 5 {
			t.Errorf("NextSeq = %d, want 5 (an answered POST spends its key)", res.NextSeq)
		}
		b.checkNoSecrets(t, err)
	}
	// The simulator's refusal, behind a proxy that mangles the header.
	b := setup(t, setupOpts{wrap: func(sim http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if k := r.Header.Get("Idempotency-Key"); k != "" {
				r.Header.Set("Idempotency-Key", k+"_mangled")
			}
			sim.ServeHTTP(w, r)
		})
	}})
	_, err := b.client.Enroll(context.Background(), req(mangosim.UserOwnerNatural, 1))
	var fault *enroll.FaultError
	if !errors.As(err, &fault) || fault.Kind != enroll.FaultIdempotencyKey {
		t.Errorf("Enroll() behind a mangling proxy: error = %v, want a fault of kind %s", err, enroll.FaultIdempotencyKey)
	}
	if u, _ := b.sim.User(mangosim.UserOwnerNatural); u.Triggered {
		t.Errorf("the simulator executed a call with a malformed key")
	}

	// Other 400s stay the user's.
	f := newFakeAPI(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusBadRequest, `{"Message":"One or several required parameters are missing or incorrect.","Type":"param_error","errors":{"UserId":"The user is closed."}}`)
	})
	b = setup(t, setupOpts{handler: f})
	_, err = b.client.Enroll(context.Background(), req("user_m_1", 1))
	if enroll.IsFault(err) || enroll.Reason(err) != enroll.ReasonBadRequest {
		t.Errorf("Enroll(closed user) error = %v, want bad_request", err)
	}
}
