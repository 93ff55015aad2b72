package enroll_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/mangosim"
)

func TestTokenRequest(t *testing.T) {
	t.Parallel()
	type seen struct{ method, auth, contentType, body string }
	var (
		mu  sync.Mutex
		got []seen
	)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2.01/oauth/token" {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			got = append(got, seen{r.Method, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(body)})
			mu.Unlock()
			writeJSON(w, http.StatusOK, `{"access_token":"tok-1234567890","token_type":"bearer","expires_in":1199}`)
			return
		}
		if a := r.Header.Get("Authorization"); a != "Bearer tok-1234567890" {
			writeJSON(w, http.StatusUnauthorized, `{"Type":"invalid_credentials"}`)
			return
		}
		writeJSON(w, http.StatusOK, `{"Id":"u1"}`)
	})
	b := setup(t, setupOpts{handler: h, cfg: func(c *enroll.Config) { c.ClientID, c.APIKey = "my-client", "my-api-key-secret" }})
	for range 3 {
		if _, err := b.client.GetUser(context.Background(), "u1"); err != nil {
			t.Fatalf("GetUser() error = %v", err)
		}
	}
	if len(got) != 1 {
		t.Fatalf("token calls = %d, want 1", len(got))
	}
	want := seen{
		method:      http.MethodPost,
		auth:        "Basic " + base64.StdEncoding.EncodeToString([]byte("my-client:my-api-key-secret")),
		contentType: "application/x-www-form-urlencoded",
		body:        "grant_type=client_credentials",
	}
	if got[0] != want {
		t.Errorf("token request = %+v, want %+v", got[0], want)
	}
	b.checkNoSecrets(t, nil)
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := setup(t, setupOpts{clock: clock, sim: mangosim.Options{TokenTTL: 1199 * time.Second}})
	ctx := context.Background()
	steps := []struct {
		advance    time.Duration
		wantTokens int
	}{
		{0, 1},
		{time.Minute, 1},
		{1168*time.Second - time.Minute, 1}, // 31 s left: still used
		{2 * time.Second, 2},                // 29 s left: refreshed
		{time.Second, 2},
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		if _, err := b.client.GetUser(ctx, mangosim.UserOwnerNatural); err != nil {
			t.Fatalf("step %d: GetUser() error = %v", i, err)
		}
		if got := b.sim.Tokens(); got != s.wantTokens {
			t.Errorf("step %d: tokens issued = %d, want %d", i, got, s.wantTokens)
		}
	}
	if got := b.sim.Count(http.MethodGet, "/sca/users/"+mangosim.UserOwnerNatural); got != len(steps) {
		t.Errorf("GET calls = %d, want %d (no 401 on the way)", got, len(steps))
	}
}

func TestTokenOneRefreshForConcurrentCallers(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var (
		holding  atomic.Bool
		arrived  = make(chan struct{}, 100)
		gate     = make(chan struct{})
		gateOnce sync.Once
	)
	b := setup(t, setupOpts{clock: clock, wrap: func(sim http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2.01/oauth/token" && holding.Load() {
				arrived <- struct{}{}
				<-gate
			}
			sim.ServeHTTP(w, r)
		})
	}})
	t.Cleanup(func() { gateOnce.Do(func() { close(gate) }) })
	ctx := context.Background()
	if _, err := b.client.GetUser(ctx, mangosim.UserOwnerNatural); err != nil {
		t.Fatalf("GetUser() error = %v", err)
	}
	clock.Advance(1200 * time.Second) // the token has expired
	holding.Store(true)

	const callers = 50
	var started, done sync.WaitGroup
	errs := make(chan error, callers)
	started.Add(callers)
	done.Add(callers)
	for range callers {
		go func() {
			defer done.Done()
			started.Done()
			_, err := b.client.GetUser(ctx, mangosim.UserOwnerNatural)
			errs <- err
		}()
	}
	started.Wait()
	<-arrived // one refresh is in flight and held
	gateOnce.Do(func() { close(gate) })
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("GetUser() error = %v", err)
		}
	}
	if got := b.sim.Tokens(); got != 2 {
		t.Errorf("tokens issued = %d, want 2 (one refresh for %d callers)", got, callers)
	}
	if got := len(arrived); got != 0 {
		t.Errorf("%d more token calls arrived during the refresh, want 0", got)
	}
	if got := b.sim.Count(http.MethodGet, "/sca/users/"+mangosim.UserOwnerNatural); got != callers+1 {
		t.Errorf("GET calls = %d, want %d", got, callers+1)
	}
}

func TestTokenRefreshedOnceOn401(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	if _, err := b.client.GetUser(ctx, mangosim.UserOwnerNatural); err != nil {
		t.Fatalf("GetUser() error = %v", err)
	}
	b.sim.SetFaults(mangosim.Faults{RevokeTokens: true})
	b.sim.ResetCalls()
	if _, err := b.client.GetUser(ctx, mangosim.UserOwnerNatural); err != nil {
		t.Fatalf("GetUser() after revocation error = %v", err)
	}
	var got []int
	for _, c := range b.sim.Calls() {
		got = append(got, c.Status)
	}
	want := []int{401, 200, 200} // GET refused, token, GET again
	if !equalInts(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if got := b.sim.Tokens(); got != 2 {
		t.Errorf("tokens issued = %d, want 2", got)
	}
	b.checkNoSecrets(t, nil)
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFaults checks the failures that are the whole deployment's, not a
// user's: they are *FaultError, never retried, never a user's reason.
func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		faults     mangosim.Faults
		apiKey     string
		wantKind   string
		wantTokens int // token calls
		wantGets   int // GET user calls
	}{
		{name: "second 401 after a refresh", faults: mangosim.Faults{RejectTokens: true}, wantKind: enroll.FaultUnauthorized, wantTokens: 2, wantGets: 2},
		{name: "bad credentials at the token endpoint", apiKey: "wrong-api-key-8d7c6b", wantKind: enroll.FaultUnauthorized, wantTokens: 1, wantGets: 0},
		{name: "403 on every call (IP allowlist)", faults: mangosim.Faults{Status403: true}, wantKind: enroll.FaultForbidden, wantTokens: 1, wantGets: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{cfg: func(c *enroll.Config) {
				if tt.apiKey != "" {
					c.APIKey = tt.apiKey
				}
			}})
			b.sim.SetFaults(tt.faults)
			_, getErr := b.client.GetUser(context.Background(), mangosim.UserOwnerNatural)
			err := getErr
			var fault *enroll.FaultError
			if !errors.As(err, &fault) {
				t.Fatalf("GetUser() error = %v, want *FaultError", err)
			}
			if fault.Kind != tt.wantKind {
				t.Errorf("fault kind = %q, want %q", fault.Kind, tt.wantKind)
			}
			if !enroll.IsFault(err) || enroll.IsRetryable(err) {
				t.Errorf("IsFault = %v, IsRetryable = %v; want true, false", enroll.IsFault(err), enroll.IsRetryable(err))
			}
			if got := b.sim.Count(http.MethodPost, "/oauth/token"); got != tt.wantTokens {
				t.Errorf("token calls = %d, want %d", got, tt.wantTokens)
			}
			if got := b.sim.Count(http.MethodGet, "/sca/users/"+mangosim.UserOwnerNatural); got != tt.wantGets {
				t.Errorf("GET calls = %d, want %d", got, tt.wantGets)
			}
			res, err := b.client.Enroll(context.Background(), enroll.Request{UserID: mangosim.UserOwnerNatural, Trigger: testTrigger, Seq: 1})
			if !enroll.IsFault(err) {
				t.Errorf("Enroll() error = %v, want a fault", err)
			}
			if res.NextSeq < 1 {
				t.Errorf("Enroll() NextSeq = %d, want ≥ 1", res.NextSeq)
			}
			b.checkNoSecrets(t, getErr, err)
		})
	}
}

func TestForbiddenAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		tokenStatus int // answer of the token call; 0: a token
		status      int
		contentType string
		body        string
		wantFault   string // "" for a per-user error
		wantReason  string
	}{
		{name: "forbidden_ressource", status: 403, contentType: "application/json",
			body: `{"Message":"This endpoint is not available for your account","Type":"forbidden_ressource","Id":"x","Date":1740581497}`, wantFault: enroll.FaultForbidden},
		{name: "403 without JSON (IP allowlist)", status: 403, contentType: "text/html", body: "<html><title>403 Forbidden</title></html>", wantFault: enroll.FaultForbidden},
		{name: "403 empty", status: 403, wantFault: enroll.FaultForbidden},
		{name: "403 on the token call", tokenStatus: 403, wantFault: enroll.FaultForbidden},
		{name: "400 unauthorized_client at the token call (locked)", tokenStatus: 400, wantFault: enroll.FaultUnauthorized},
		{name: "sca_proxy_missing is per user", status: 403, contentType: "application/json",
			body: `{"Message":"user has not provided consent to the requested proxy","Type":"sca_proxy_missing","Id":"x"}`, wantReason: enroll.ReasonForbidden},
		{name: "401 SCA challenge is not a token refusal", status: 401, contentType: "application/json",
			body: `{"Message":"SCA required","Type":"sca_required"}`, wantReason: enroll.ReasonBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var tokens, calls atomic.Int32
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2.01/oauth/token" {
					tokens.Add(1)
					switch tt.tokenStatus {
					case 403:
						writeJSON(w, 403, `{"Message":"Forbidden","Type":"forbidden_ressource"}`)
					case 400:
						writeJSON(w, 400, `{"error":"unauthorized_client","error_description":"This account has been temporarily locked"}`)
					default:
						writeJSON(w, 200, `{"access_token":"tok-forbidden-test-1","token_type":"bearer","expires_in":1199}`)
					}
					return
				}
				calls.Add(1)
				if tt.status == 401 {
					w.Header().Set("WWW-Authenticate", "PendingUserAction RedirectUrl=https://sca.sandbox.mangopay.com/?token=abc123abc123")
				}
				if tt.contentType != "" {
					w.Header().Set("Content-Type", tt.contentType)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			b := setup(t, setupOpts{handler: h})
			_, err := b.client.GetUser(context.Background(), "u1")
			if err == nil {
				t.Fatal("GetUser() error = nil")
			}
			var fault *enroll.FaultError
			if tt.wantFault != "" {
				if !errors.As(err, &fault) || fault.Kind != tt.wantFault {
					t.Errorf("GetUser() error = %v, want a %q fault", err, tt.wantFault)
				}
			} else {
				if enroll.IsFault(err) {
					t.Errorf("GetUser() error = %v is a fault, want per-user", err)
				}
				if got := enroll.Reason(err); got != tt.wantReason {
					t.Errorf("Reason() = %q, want %q", got, tt.wantReason)
				}
			}
			if enroll.IsRetryable(err) {
				t.Errorf("IsRetryable(%v) = true", err)
			}
			if got := tokens.Load(); got != 1 {
				t.Errorf("token calls = %d, want 1", got)
			}
			if got, want := calls.Load(), int32(1); tt.tokenStatus == 0 && got != want {
				t.Errorf("API calls = %d, want %d", got, want)
			}
			b.checkNoSecrets(t, err)
		})
	}
}

func TestTokenEndpointOutageIsRetried(t *testing.T) {
	t.Parallel()
	var tokens atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2.01/oauth/token" {
			if tokens.Add(1) == 1 {
				writeJSON(w, 503, `{"Type":"service_unavailable","Message":"later"}`)
				return
			}
			writeJSON(w, 200, `{"access_token":"tok-outage-test-123","token_type":"bearer","expires_in":1199}`)
			return
		}
		writeJSON(w, 200, `{"Id":"u1"}`)
	})
	b := setup(t, setupOpts{handler: h})
	if _, err := b.client.GetUser(context.Background(), "u1"); err != nil {
		t.Fatalf("GetUser() error = %v", err)
	}
	if got := tokens.Load(); got != 2 {
		t.Errorf("token calls = %d, want 2", got)
	}
}
