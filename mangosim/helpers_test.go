package mangosim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injectable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)}
}

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

type harness struct {
	t     *testing.T
	srv   *Server
	clock *fakeClock
}

// setup starts a simulator on a fake clock (unless opts.Now is set) and closes it at cleanup.
func setup(t *testing.T, opts Options) *harness {
	t.Helper()
	h := &harness{t: t, clock: newClock()}
	if opts.Now == nil {
		opts.Now = h.clock.Now
	}
	h.srv = Start(opts)
	t.Cleanup(h.srv.Close)
	return h
}

// api returns the URL of an API path below /v2.01/{ClientId}.
func (h *harness) api(path string) string {
	return h.srv.URL + "/v2.01/" + h.srv.ClientID() + path
}

// fetchToken performs the token call with the given credentials.
func (h *harness) fetchToken(id, key string) (*http.Response, map[string]any) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/v2.01/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		h.t.Fatalf("new token request: %v", err)
	}
	req.SetBasicAuth(id, key)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.send(req)
}

// token returns a fresh access token.
func (h *harness) token() string {
	h.t.Helper()
	resp, body := h.fetchToken(h.srv.ClientID(), h.srv.APIKey())
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("token status = %d, want 200 (body %v)", resp.StatusCode, body)
	}
	tok, _ := body["access_token"].(string)
	return tok
}

// call sends an API request with a bearer token and optional Idempotency-Key.
func (h *harness) call(method, path, token, key string) (*http.Response, map[string]any) {
	h.t.Helper()
	req := h.request(method, path, token, key)
	return h.send(req)
}

func (h *harness) request(method, path, token, key string) *http.Request {
	h.t.Helper()
	req, err := http.NewRequest(method, h.api(path), nil)
	if err != nil {
		h.t.Fatalf("new request: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return req
}

// send performs req and decodes a JSON object body (nil when the body is not an object).
func (h *harness) send(req *http.Request) (*http.Response, map[string]any) {
	h.t.Helper()
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("read body: %v", err)
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		m = nil
	}
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp, m
}

func bodyString(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// wantError checks a Mangopay error report.
func wantError(t *testing.T, resp *http.Response, body map[string]any, status int, typ string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d (body %v)", resp.StatusCode, status, body)
	}
	if got := body["Type"]; got != typ {
		t.Errorf("Type = %v, want %q", got, typ)
	}
	if msg, _ := body["Message"].(string); msg == "" {
		t.Errorf("Message empty in %v", body)
	}
	if _, ok := body["Date"].(float64); !ok {
		t.Errorf("Date = %v, want unix seconds", body["Date"])
	}
	if typ == "invalid_credentials" {
		return // the documented 401 body has no Id and no errors
	}
	if id, _ := body["Id"].(string); !strings.Contains(id, "#") {
		t.Errorf("Id = %q, want <uuid>#<unix>", id)
	}
	if _, ok := body["errors"]; !ok {
		t.Errorf("no errors key in %v", body)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func decodeJSON(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}
