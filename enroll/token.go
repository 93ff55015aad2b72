package enroll

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// tokenEarly is how long before expires_in runs out a token is refreshed
// (Mangopay's SDKs use 30 s).
const tokenEarly = 30 * time.Second

// minTokenTTL is how long a token without a usable expires_in is used.
const minTokenTTL = 5 * time.Second

// tokenCache holds the one OAuth token of a Client. Concurrent callers that
// find it missing or stale wait for a single refresh.
type tokenCache struct {
	mu      sync.Mutex
	value   string    // access_token; secret
	expiry  time.Time // when to stop using it (expires_in minus tokenEarly)
	gen     uint64    // incremented on every new token
	flight  chan struct{}
	lastErr error // result of the last finished refresh, read by its waiters
}

// token returns a usable access token and its generation, fetching a new one
// when there is none, it is about to expire, or its generation is ≤ stale
// (the caller saw a 401 with that generation). Only one fetch runs at a time;
// the others wait for it. If the fetching caller's ctx ends, a waiter takes
// over instead of failing.
func (c *Client) token(ctx context.Context, stale uint64) (string, uint64, error) {
	t := &c.tok
	for {
		t.mu.Lock()
		if t.value != "" && t.gen > stale && c.now().Before(t.expiry) {
			v, g := t.value, t.gen
			t.mu.Unlock()
			return v, g, nil
		}
		if ch := t.flight; ch != nil {
			t.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return "", 0, &stoppedError{ctxErr: ctx.Err()}
			}
			t.mu.Lock()
			err := t.lastErr
			ok := t.value != "" && t.gen > stale
			t.mu.Unlock()
			var stopped *stoppedError
			if err != nil && !errors.As(err, &stopped) && !ok {
				return "", 0, err
			}
			continue // a new token (or the leader gave up): look again
		}
		ch := make(chan struct{})
		t.flight = ch
		t.mu.Unlock()

		value, ttl, err := c.fetchToken(ctx)
		var fault *FaultError
		if errors.As(err, &fault) && fault.Kind == FaultUnauthorized && c.reloadAfter401(ctx) {
			// The token endpoint refused the key and a reload found a new one.
			value, ttl, err = c.fetchToken(ctx)
		}

		t.mu.Lock()
		t.flight = nil
		t.lastErr = err
		if err == nil {
			t.value = value
			t.gen++
			t.expiry = c.now().Add(ttl)
		}
		v, g := t.value, t.gen
		t.mu.Unlock()
		close(ch)
		if err != nil {
			return "", 0, err
		}
		return v, g, nil
	}
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.RawMessage `json:"expires_in"`
}

// fetchToken makes one token call: POST /v2.01/oauth/token with Basic
// ClientId:ApiKey and grant_type=client_credentials. It returns the token and
// how long to use it. A refusal of the credentials (any 4xx other than 429)
// is a *FaultError; 429 and 5xx are retryable *APIErrors.
func (c *Client) fetchToken(ctx context.Context) (string, time.Duration, error) {
	resp, err := c.send(ctx, &apiRequest{
		method:      http.MethodPost,
		url:         c.base + "/v2.01/oauth/token",
		body:        "grant_type=client_credentials",
		contentType: "application/x-www-form-urlencoded",
		basicAuth:   true,
	}, "")
	if err != nil {
		return "", 0, err
	}
	if resp.status != http.StatusOK {
		apiErr := DecodeError(resp.status, resp.body)
		switch {
		case apiErr.Temporary():
			return "", 0, apiErr
		case resp.status == http.StatusForbidden:
			return "", 0, &FaultError{Kind: FaultForbidden, Err: apiErr}
		default: // 400 invalid_client / unauthorized_client, 401 …
			return "", 0, &FaultError{Kind: FaultUnauthorized, Err: apiErr}
		}
	}
	if resp.bodyErr != nil {
		return "", 0, resp.bodyErr
	}
	var tr tokenResponse
	if err := json.Unmarshal(resp.body, &tr); err != nil || strings.TrimSpace(tr.AccessToken) == "" {
		return "", 0, &retryError{msg: "token response has no access_token"}
	}
	if tt := strings.TrimSpace(tr.TokenType); tt != "" && !strings.EqualFold(tt, "bearer") {
		return "", 0, &FaultError{Kind: FaultUnauthorized, Err: errors.New("token endpoint returned an unsupported token_type")}
	}
	secs := jsonUnixSeconds(tr.ExpiresIn)
	ttl := time.Duration(secs * float64(time.Second))
	switch {
	case ttl > 2*tokenEarly:
		ttl -= tokenEarly
	case ttl > 0:
		ttl /= 2
	default:
		ttl = minTokenTTL // unknown lifetime: use it briefly
	}
	return tr.AccessToken, ttl, nil
}

// jsonUnixSeconds reads a number given as JSON number or numeric string; 0
// when absent or malformed.
func jsonUnixSeconds(v json.RawMessage) float64 {
	var f float64
	if err := json.Unmarshal(v, &f); err == nil {
		return f
	}
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
			return f
		}
	}
	return 0
}
