package enroll_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

const (
	testReturnURL = "https://platform.example/sca-done"
	// testTrigger is a 64-hex trigger key (events.Trigger.Key).
	testTrigger = "0f3a5c7e9b1d2f4a6c8e0b2d4f6a8c0e1f3a5c7e9b1d2f4a6c8e0b2d4f6a8c0e"
)

// testBundle is a client wired to a simulator (or a custom handler), with
// the secrets the server handed out and the logs the client wrote.
type testBundle struct {
	sim    *mangosim.Sim // nil with a custom handler
	url    string
	client *enroll.Client
	logs   *observer.ObservedLogs
	tap    *secretTap
	clock  *fakeClock // nil: real time
	apiKey string
}

type setupOpts struct {
	sim     mangosim.Options
	handler http.Handler // instead of the simulator
	wrap    func(sim http.Handler) http.Handler
	cfg     func(*enroll.Config)
	clock   *fakeClock
}

// setup starts a simulator (or opts.handler) behind a secret-recording tap
// and a client with fast retries pointed at it.
func setup(t *testing.T, opts setupOpts) *testBundle {
	t.Helper()
	b := &testBundle{clock: opts.clock, apiKey: "sim-api-key"}
	var h http.Handler = opts.handler
	if h == nil {
		so := opts.sim
		if opts.clock != nil {
			so.Now = opts.clock.Now
		}
		b.sim = mangosim.New(so)
		b.apiKey = b.sim.APIKey()
		h = b.sim
		if opts.wrap != nil {
			h = opts.wrap(h)
		}
	}
	b.tap = &secretTap{next: h}
	ts := httptest.NewServer(b.tap)
	t.Cleanup(ts.Close)
	b.url = ts.URL

	core, logs := observer.New(zapcore.DebugLevel)
	b.logs = logs
	cfg := enroll.Config{
		BaseURL:         ts.URL,
		ClientID:        mangosim.DefaultClientID,
		APIKey:          b.apiKey,
		ReturnURL:       testReturnURL,
		RequestTimeout:  5 * time.Second,
		InitialInterval: time.Millisecond,
		MaxInterval:     time.Millisecond,
	}
	if opts.clock != nil {
		cfg.Now = opts.clock.Now
	}
	if opts.cfg != nil {
		opts.cfg(&cfg)
	}
	b.apiKey = cfg.APIKey
	c, err := enroll.NewClient(cfg, zap.New(core))
	if err != nil {
		t.Fatalf("NewClient() error = %v", err)
	}
	b.client = c
	return b
}

// checkNoSecrets fails if err's text or any log line carries the API key,
// the Basic credentials, an access token or a link token.
func (b *testBundle) checkNoSecrets(t *testing.T, errs ...error) {
	t.Helper()
	secrets := append(b.tap.secrets(), b.apiKey)
	var texts []string
	for _, err := range errs {
		if err != nil {
			texts = append(texts, "error: "+err.Error())
		}
	}
	for _, e := range b.logs.All() {
		texts = append(texts, fmt.Sprintf("log: %s %v", e.Message, e.ContextMap()))
	}
	for _, s := range secrets {
		if len(s) < 6 {
			continue
		}
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Errorf("secret %.4s… found in %s", s, text)
			}
		}
	}
}

// secretTap passes requests to next and records every secret in the
// answers: access tokens, link tokens, and the Basic credentials sent.
type secretTap struct {
	next http.Handler
	mu   sync.Mutex
	seen []string
}

var (
	accessTokenRE = regexp.MustCompile(`"access_token"\s*:\s*"([^"]+)"`)
	linkTokenRE   = regexp.MustCompile(`token=([A-Za-z0-9_]+)`)
)

func (s *secretTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tw := &teeWriter{ResponseWriter: w}
	s.next.ServeHTTP(tw, r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := r.Header.Get("Authorization"); a != "" {
		if _, v, ok := strings.Cut(a, " "); ok {
			s.seen = append(s.seen, v)
		}
	}
	for _, m := range accessTokenRE.FindAllSubmatch(tw.buf.Bytes(), -1) {
		s.seen = append(s.seen, string(m[1]))
	}
	for _, m := range linkTokenRE.FindAllSubmatch(tw.buf.Bytes(), -1) {
		s.seen = append(s.seen, string(m[1]))
	}
}

func (s *secretTap) secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

type teeWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (w *teeWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	return w.ResponseWriter.Write(p)
}

func (w *teeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *teeWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// fakeClock is a settable clock shared by the simulator and the client.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// keysOf returns the Idempotency-Keys of the recorded enrollment POSTs.
func keysOf(sim *mangosim.Sim) []string {
	var keys []string
	for _, c := range sim.Calls() {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/enrollment") {
			keys = append(keys, c.IdempotencyKey)
		}
	}
	return keys
}

// fakeAPI is a small Mangopay stand-in for wire situations the simulator
// cannot produce: it answers the token call and passes API calls to api.
type fakeAPI struct {
	api    http.HandlerFunc
	token  string
	tokens atomic.Int32
	calls  atomic.Int32 // API calls (token calls excluded)
	mu     sync.Mutex
	seen   []string // Idempotency-Keys of the API calls that had one
}

func (f *fakeAPI) keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v2.01/oauth/token" {
		f.tokens.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":1199}`, f.token)
		return
	}
	f.calls.Add(1)
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		f.mu.Lock()
		f.seen = append(f.seen, k)
		f.mu.Unlock()
	}
	f.api(w, r)
}

func newFakeAPI(api http.HandlerFunc) *fakeAPI {
	return &fakeAPI{api: api, token: "fake-access-token-8c1d2e3f4a5b"}
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func TestClientInterfaces(t *testing.T) {
	t.Parallel()
	// The consumer's view of the client (consumer.Mangopay, consumer.Pacer).
	var _ interface {
		GetUser(ctx context.Context, userID string) (*enroll.User, error)
		SCAStatus(ctx context.Context, userID string) (*enroll.SCAStatus, error)
		Enroll(ctx context.Context, req enroll.Request) (enroll.Result, error)
	} = (*enroll.Client)(nil)
	var _ interface{ BlockedUntil() time.Time } = (*enroll.Governor)(nil)
	var _ error = (*enroll.FaultError)(nil)
	var _ error = (*enroll.APIError)(nil)
}

func TestGetUser(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	tests := []struct {
		id         string
		want       enroll.User
		wantReason string
	}{
		{id: mangosim.UserOwnerNatural, want: enroll.User{ID: mangosim.UserOwnerNatural, Category: "OWNER", PersonType: "NATURAL", Status: "ACTIVE", Email: "owner@example.com"}},
		{id: mangosim.UserOwnerLegal, want: enroll.User{ID: mangosim.UserOwnerLegal, Category: "OWNER", PersonType: "LEGAL", Status: "ACTIVE", Email: "company@example.com", LegalRepresentativeEmail: "rep@example.com"}},
		{id: mangosim.UserOwnerLegalNoRep, want: enroll.User{ID: mangosim.UserOwnerLegalNoRep, Category: "OWNER", PersonType: "LEGAL", Status: "ACTIVE", Email: "legacy-company@example.com"}},
		{id: mangosim.UserPayer, want: enroll.User{ID: mangosim.UserPayer, Category: "PAYER", PersonType: "NATURAL", Status: "ACTIVE", Email: "payer@example.com"}},
		{id: mangosim.UserOwnerClosed, want: enroll.User{ID: mangosim.UserOwnerClosed, Category: "OWNER", PersonType: "NATURAL", Status: "CLOSED", Email: "closed@example.com"}},
		{id: mangosim.UserOwnerLegacyNumeric, want: enroll.User{ID: mangosim.UserOwnerLegacyNumeric, Category: "OWNER", PersonType: "NATURAL", Status: "ACTIVE", Email: "legacy@example.com"}},
		{id: "user_m_unknown", wantReason: enroll.ReasonUserNotFound},
	}
	var errs []error
	for _, tt := range tests {
		before := b.sim.Count(http.MethodGet, "/sca/users/"+tt.id)
		got, err := b.client.GetUser(context.Background(), tt.id)
		errs = append(errs, err)
		calls := b.sim.Count(http.MethodGet, "/sca/users/"+tt.id) - before
		if calls != 1 {
			t.Errorf("GetUser(%s) sent %d requests, want 1", tt.id, calls)
		}
		if tt.wantReason != "" {
			if got := enroll.Reason(err); got != tt.wantReason {
				t.Errorf("GetUser(%s) reason = %q (err %v), want %q", tt.id, got, err, tt.wantReason)
			}
			if enroll.IsRetryable(err) || enroll.IsFault(err) {
				t.Errorf("GetUser(%s) error %v: retryable or fault, want permanent", tt.id, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("GetUser(%s) error = %v", tt.id, err)
			continue
		}
		if *got != tt.want {
			t.Errorf("GetUser(%s) = %+v, want %+v", tt.id, *got, tt.want)
		}
	}
	b.checkNoSecrets(t, errs...)
}

func TestInvalidUserIDSendsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	for _, id := range []string{"", "a/b", "../users", "user m", "ü", "x?y", strings.Repeat("a", 129), "a%2Fb"} {
		_, err := b.client.GetUser(ctx, id)
		if got := enroll.Reason(err); got != enroll.ReasonBadRequest {
			t.Errorf("GetUser(%q) reason = %q (err %v), want bad_request", id, got, err)
		}
		if enroll.IsRetryable(err) {
			t.Errorf("GetUser(%q) error is retryable", id)
		}
		_, err = b.client.SCAStatus(ctx, id)
		if err == nil {
			t.Errorf("SCAStatus(%q) error = nil", id)
		}
		res, err := b.client.Enroll(ctx, enroll.Request{UserID: id, Trigger: testTrigger, Seq: 4})
		if err == nil || res.NextSeq != 4 {
			t.Errorf("Enroll(%q) = %+v, %v; want an error and NextSeq 4", id, res, err)
		}
		b.checkNoSecrets(t, err)
	}
	if got := len(b.sim.Calls()); got != 0 {
		t.Errorf("requests sent for invalid ids = %d, want 0", got)
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		faults     mangosim.Faults
		maxRetries int
		wantCalls  int
		wantErr    bool
		wantReason string
		retryable  bool
	}{
		{name: "200", wantCalls: 1},
		{name: "503 then 200", faults: mangosim.Faults{Burst5xx: 1}, wantCalls: 2},
		{name: "503 twice then 200", faults: mangosim.Faults{Burst5xx: 2}, maxRetries: 2, wantCalls: 3},
		{name: "500 on every call", faults: mangosim.Faults{ErrorRate: 1}, maxRetries: 3, wantCalls: 4,
			wantErr: true, wantReason: enroll.ReasonUnavailable, retryable: true},
		{name: "no retries", faults: mangosim.Faults{Burst5xx: 5}, maxRetries: -1, wantCalls: 1,
			wantErr: true, wantReason: enroll.ReasonUnavailable, retryable: true},
		{name: "HTML 502 on every call", faults: mangosim.Faults{HTMLErrors: true}, maxRetries: 2, wantCalls: 3,
			wantErr: true, wantReason: enroll.ReasonUnavailable, retryable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{cfg: func(c *enroll.Config) { c.MaxRetries = tt.maxRetries }})
			if _, err := b.client.GetUser(context.Background(), mangosim.UserOwnerNatural2); err != nil {
				t.Fatalf("warm-up GetUser() error = %v", err)
			}
			b.sim.ResetCalls()
			b.sim.SetFaults(tt.faults)
			_, err := b.client.GetUser(context.Background(), mangosim.UserOwnerNatural)
			if got := b.sim.Count(http.MethodGet, "/sca/users/"+mangosim.UserOwnerNatural); got != tt.wantCalls {
				t.Errorf("GetUser() sent %d requests, want %d", got, tt.wantCalls)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("GetUser() error = %v, want error %v", err, tt.wantErr)
			}
			if got := enroll.Reason(err); err != nil && got != tt.wantReason {
				t.Errorf("Reason() = %q, want %q", got, tt.wantReason)
			}
			if got := enroll.IsRetryable(err); got != tt.retryable {
				t.Errorf("IsRetryable(%v) = %v, want %v", err, got, tt.retryable)
			}
			if err != nil && tt.wantCalls > 1 {
				if got := b.logs.FilterMessage("mangopay call failed; retrying").Len(); got != tt.wantCalls-1 {
					t.Errorf("retry warnings = %d, want %d", got, tt.wantCalls-1)
				}
				for _, e := range b.logs.FilterMessage("mangopay call failed; retrying").All() {
					m := e.ContextMap()
					if _, ok := m["attempt"]; !ok {
						t.Errorf("retry log %v has no attempt", m)
					}
					if _, ok := m["wait"]; !ok {
						t.Errorf("retry log %v has no wait", m)
					}
				}
			}
			b.checkNoSecrets(t, err)
		})
	}
}

func TestHTMLErrorIsClear(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{sim: mangosim.Options{}, cfg: func(c *enroll.Config) { c.MaxRetries = -1 }})
	b.sim.SetFaults(mangosim.Faults{HTMLErrors: true})
	_, err := b.client.GetUser(context.Background(), mangosim.UserOwnerNatural)
	var apiErr *enroll.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("GetUser() error = %v, want *APIError", err)
	}
	if apiErr.StatusCode != http.StatusBadGateway || !strings.Contains(apiErr.Message, "HTML") {
		t.Errorf("APIError = %+v, want status 502 and a message naming HTML", apiErr)
	}
	if !strings.Contains(err.Error(), "502 Bad Gateway") {
		t.Errorf("error %q does not carry the page title", err)
	}
	b.checkNoSecrets(t, err)
}

// TestTransportFailures covers answers that never fully arrive: each is
// retried (MaxRetries+1 requests), stays retryable and keeps the
// Idempotency-Key, since the call may have executed.
func TestTransportFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		timeout time.Duration // RequestTimeout
	}{
		{name: "truncated body", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "200")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, `{"PendingUserAction":{"RedirectUrl":"https://sca.sandbox`)
		}},
		{name: "unreadable 2xx body", handler: func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, `<html>not json</html>`)
		}},
		{name: "connection closed", handler: func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}},
		{name: "hanging server", timeout: 100 * time.Millisecond, handler: func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(tt.handler)
			b := setup(t, setupOpts{handler: f, cfg: func(c *enroll.Config) {
				c.MaxRetries = 2
				if tt.timeout > 0 {
					c.RequestTimeout = tt.timeout
				}
			}})
			res, err := b.client.Enroll(context.Background(), req("user_m_1", 4))
			if err == nil {
				t.Fatal("Enroll() error = nil, want one")
			}
			if got := b.logs.FilterMessage("mangopay call failed; retrying").Len(); got != 2 {
				t.Errorf("retries = %d, want 2 (MaxRetries)", got)
			}
			// A request that times out under load may never reach the handler.
			if got := f.calls.Load(); got != 3 && (tt.timeout == 0 || got > 3 || got < 1) {
				t.Errorf("requests = %d, want 3 (MaxRetries+1); err %v", got, err)
			}
			for _, k := range f.keys() {
				if k != key(4) {
					t.Errorf("Idempotency-Key = %s, want %s on every try (kept)", k, key(4))
				}
			}
			if res.NextSeq != 4 || res.Link != "" {
				t.Errorf("Enroll() = %+v, want NextSeq 4 and no link", res)
			}
			if !enroll.IsRetryable(err) {
				t.Errorf("IsRetryable(%v) = false, want true", err)
			}
			if got := enroll.Reason(err); got != enroll.ReasonUnavailable {
				t.Errorf("Reason() = %q, want unavailable", got)
			}
			if enroll.IsFault(err) {
				t.Errorf("IsFault(%v) = true", err)
			}
			b.checkNoSecrets(t, err)
		})
	}
}

func TestTruncatedBodyOnGet(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "200")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"Id":"u1","UserCat`)
	})
	b := setup(t, setupOpts{handler: f, cfg: func(c *enroll.Config) { c.MaxRetries = 1 }})
	_, err := b.client.GetUser(context.Background(), "u1")
	if !enroll.IsRetryable(err) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("GetUser() error = %v, want retryable io.ErrUnexpectedEOF", err)
	}
	if got := f.calls.Load(); got != 2 {
		t.Errorf("requests = %d, want 2", got)
	}
	b.checkNoSecrets(t, err)
}

func TestCallerDeadlineIsNotRetryable(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	b := setup(t, setupOpts{handler: f, cfg: func(c *enroll.Config) { c.RequestTimeout = time.Minute }})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := b.client.GetUser(ctx, mangosim.UserOwnerNatural)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("GetUser() error = %v, want context.DeadlineExceeded", err)
	}
	if enroll.IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = true after the caller's deadline", err)
	}
	if got := f.calls.Load(); got > 1 {
		t.Errorf("requests = %d, want at most 1 (no retry after the deadline)", got)
	}
	b.checkNoSecrets(t, err)

	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	_, err = b.client.GetUser(cctx, mangosim.UserOwnerNatural)
	if !errors.Is(err, context.Canceled) || enroll.IsRetryable(err) {
		t.Errorf("GetUser(canceled) error = %v (retryable %v), want context.Canceled, not retryable", err, enroll.IsRetryable(err))
	}
	b.checkNoSecrets(t, err)
}

func TestRequestHeaders(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		got []*http.Request
	)
	f := newFakeAPI(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		mu.Lock()
		got = append(got, r.Clone(context.Background()))
		mu.Unlock()
		if len(body) != 0 {
			writeJSON(w, http.StatusBadRequest, `{"Type":"param_error","Message":"unexpected body"}`)
			return
		}
		writeJSON(w, http.StatusOK, `{"PendingUserAction":{"RedirectUrl":"https://sca.sandbox.mangopay.com/?token=0193cf51ed367151a0cb1c59def21e13"}}`)
	})
	b := setup(t, setupOpts{handler: f})
	res, err := b.client.Enroll(context.Background(), enroll.Request{UserID: "user_m_1", Trigger: testTrigger, Seq: 3, Locale: "sv-SE"})
	if err != nil {
		t.Fatalf("Enroll() error = %v", err)
	}
	want := "https://sca.sandbox.mangopay.com/?token=0193cf51ed367151a0cb1c59def21e13&returnUrl=https%3A%2F%2Fplatform.example%2Fsca-done&lang=se"
	if res.Link != want {
		t.Errorf("Enroll() link = %q, want %q", res.Link, want)
	}
	if len(got) != 1 {
		t.Fatalf("requests = %d, want 1", len(got))
	}
	r := got[0]
	checks := []struct{ name, got, want string }{
		{"method", r.Method, http.MethodPost},
		{"path", r.URL.Path, "/v2.01/sim-client/sca/users/user_m_1/enrollment"},
		{"Content-Type", r.Header.Get("Content-Type"), "application/json"},
		{"Idempotency-Key", r.Header.Get("Idempotency-Key"), testTrigger[:32] + "-3"},
		{"Authorization", r.Header.Get("Authorization"), "Bearer " + f.token},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("request %s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if ua := r.Header.Get("User-Agent"); !regexp.MustCompile(`^scaworker/\S+ \(go[0-9.]+.*\)$`).MatchString(ua) {
		t.Errorf("User-Agent = %q, want scaworker/<version> (go…)", ua)
	}
	if r.ContentLength > 0 {
		t.Errorf("Content-Length = %d, want no body", r.ContentLength)
	}
}

func TestUserAgentFromConfig(t *testing.T) {
	t.Parallel()
	var ua atomic.Value
	f := newFakeAPI(func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.Header.Get("User-Agent"))
		writeJSON(w, http.StatusOK, `{"Id":"u1"}`)
	})
	b := setup(t, setupOpts{handler: f, cfg: func(c *enroll.Config) { c.UserAgent = "scaworker/v1.2.3 (go1.26)" }})
	if _, err := b.client.GetUser(context.Background(), "u1"); err != nil {
		t.Fatalf("GetUser() error = %v", err)
	}
	if got := ua.Load(); got != "scaworker/v1.2.3 (go1.26)" {
		t.Errorf("User-Agent = %v, want the configured one", got)
	}
}

// TestNoRequestWhileWindowSpent: after an answer saying a window is spent,
// the next call waits for the reset and sends nothing before it.
func TestNoRequestWhileWindowSpent(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{sim: mangosim.Options{Windows: []mangosim.Limit{{N: 3, Per: time.Hour}}}})
	ctx := context.Background()
	for range 2 { // token call + 2 GETs spend the window
		if _, err := b.client.GetUser(ctx, mangosim.UserOwnerNatural); err != nil {
			t.Fatalf("GetUser() error = %v", err)
		}
	}
	if until := b.client.Governor().BlockedUntil(); !until.After(time.Now().Add(50 * time.Minute)) {
		t.Fatalf("Governor().BlockedUntil() = %s, want about an hour ahead", until)
	}
	calls := len(b.sim.Calls())

	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := b.client.GetUser(cctx, mangosim.UserOwnerNatural)
		done <- err
	}()
	// While the call is blocked, nothing reaches the server.
	for range 50 {
		select {
		case err := <-done:
			t.Fatalf("GetUser() returned %v while the window is spent", err)
		case <-time.After(time.Millisecond):
		}
		if got := len(b.sim.Calls()); got != calls {
			t.Fatalf("calls = %d while blocked, want %d", got, calls)
		}
	}
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || enroll.IsRetryable(err) {
		t.Errorf("GetUser() error = %v, want context.Canceled, not retryable", err)
	}
	if got := len(b.sim.Calls()); got != calls {
		t.Errorf("calls = %d after the blocked call, want %d", got, calls)
	}
	b.checkNoSecrets(t, err)
}

// TestWaitsForReset: a call made while a window is spent is sent after the
// window's reset, not before.
func TestWaitsForReset(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		reset int64
		times []time.Time
	)
	f := newFakeAPI(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		first := len(times) == 1
		if first {
			reset = time.Now().Unix() + 1
		}
		rs := reset
		mu.Unlock()
		w.Header().Add("X-RateLimit", "3")
		w.Header().Add("X-RateLimit-Remaining", map[bool]string{true: "0", false: "5"}[first])
		w.Header().Add("X-RateLimit-Reset", fmt.Sprint(rs))
		writeJSON(w, http.StatusOK, `{"Id":"u1"}`)
	})
	b := setup(t, setupOpts{handler: f})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range 2 {
		if _, err := b.client.GetUser(ctx, "u1"); err != nil {
			t.Fatalf("GetUser() error = %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(times) != 2 {
		t.Fatalf("requests = %d, want 2", len(times))
	}
	if got := times[1]; got.Before(time.Unix(reset, 0)) {
		t.Errorf("second request sent at %s, before the reset at %s", got.Format(time.RFC3339Nano), time.Unix(reset, 0).Format(time.RFC3339Nano))
	}
}

// TestRateLimitedIsNotARetry: 429s are waited out through the governor and
// never spend the retry budget; only ctx bounds the wait.
func TestRateLimitedIsNotARetry(t *testing.T) {
	t.Parallel()
	t.Run("waited out", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{cfg: func(c *enroll.Config) { c.MaxRetries = -1 }})
		if _, err := b.client.GetUser(context.Background(), mangosim.UserOwnerNatural); err != nil {
			t.Fatalf("GetUser() error = %v", err)
		}
		b.sim.SetFaults(mangosim.Faults{RateLimitedUntil: time.Now().Add(time.Second)})
		b.sim.ResetCalls()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		res, err := b.client.Enroll(ctx, req(mangosim.UserOwnerNatural, 1))
		if err != nil {
			t.Fatalf("Enroll() error = %v, want success without retries (MaxRetries -1)", err)
		}
		var limited int
		for _, c := range b.sim.Calls() {
			if c.Status == http.StatusTooManyRequests {
				limited++
			}
		}
		if limited == 0 {
			t.Errorf("no 429 answered; the test did not exercise the limit")
		}
		// Each 429 spends its key (docs/mangopay.md, "Idempotency": any received failure does).
		if res.NextSeq != 1+limited {
			t.Errorf("NextSeq = %d, want %d", res.NextSeq, 1+limited)
		}
		if b.logs.FilterMessage("mangopay call failed; retrying").Len() != 0 {
			t.Errorf("a 429 was logged as a retry")
		}
	})
	t.Run("bounded by ctx", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		b.sim.SetFaults(mangosim.Faults{RateLimitedUntil: time.Now().Add(time.Hour)})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := b.client.GetUser(ctx, mangosim.UserOwnerNatural)
			done <- err
		}()
		testworld.WaitFor(t, "the first 429", 10*time.Second, func() bool { return len(b.sim.Calls()) == 1 && !b.client.Governor().BlockedUntil().IsZero() })
		cancel()
		err := <-done
		if !errors.Is(err, context.Canceled) || enroll.IsRetryable(err) {
			t.Errorf("GetUser() error = %v, want the ctx's end", err)
		}
		if got := len(b.sim.Calls()); got != 1 {
			t.Errorf("calls = %d, want 1 (the 429 blocks the rest)", got)
		}
		if !b.client.Governor().BlockedUntil().After(time.Now().Add(50 * time.Minute)) {
			t.Errorf("Governor().BlockedUntil() = %s, want the window's reset", b.client.Governor().BlockedUntil())
		}
		b.checkNoSecrets(t, err)
	})
}
