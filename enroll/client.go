package enroll

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"
)

// maxBodySize bounds how much of a response is read.
const maxBodySize = 1 << 20

// Client is a Mangopay SCA client: it holds one OAuth token, one [Governor]
// and one [LinkBuilder], and is safe for concurrent use.
type Client struct {
	cfg   Config
	base  string                  // scheme://host[/prefix], no trailing slash
	cpath string                  // base + "/v2.01/" + escaped ClientId
	sec   atomic.Pointer[secrets] // the API key and mTLS certificate in use; reloadable
	rmu   sync.Mutex              // one reload at a time
	http  *http.Client
	gov   *Governor
	links *LinkBuilder // nil: read-only, Enroll refuses
	log   *zap.Logger
	tok   tokenCache
}

// NewClient validates cfg and returns a Client. log may be nil (no logs).
func NewClient(cfg Config, log *zap.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	var links *LinkBuilder // nil for a read-only client
	if cfg.ReturnURL != "" {
		if links, err = NewLinkBuilder(cfg.LinkHosts, cfg.ReturnURL); err != nil {
			return nil, err
		}
	}
	sec, err := loadSecrets(cfg.ClientID, Secrets{APIKey: cfg.APIKey, TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey}, cfg.Now())
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	b := base.String()
	c := &Client{
		cfg:   cfg,
		base:  b,
		cpath: b + "/v2.01/" + url.PathEscape(cfg.ClientID),
		gov:   NewGovernor(cfg.Rate, cfg.Now),
		links: links,
		log:   log.Named("enroll"),
	}
	c.sec.Store(sec)
	var cert func() *tls.Certificate
	if sec.cert != nil {
		cert = func() *tls.Certificate { return c.sec.Load().cert }
	}
	if c.http, err = newHTTPClient(cfg, cert); err != nil {
		return nil, err
	}
	return c, nil
}

// Governor returns the client's rate governor: the consumer stops pulling
// while [Governor.BlockedUntil] is in the future.
func (c *Client) Governor() *Governor { return c.gov }

func (c *Client) now() time.Time { return c.cfg.Now() }

// apiRequest is one HTTP request to Mangopay.
type apiRequest struct {
	method      string
	url         string
	body        string
	contentType string
	basicAuth   bool          // token call: Basic ClientId:ApiKey instead of Bearer
	key         func() string // Idempotency-Key of this attempt; nil: none
	answered    func(status int)
}

// apiResponse is an answer received from Mangopay (any status).
type apiResponse struct {
	status     int
	header     http.Header
	body       []byte
	bodyErr    error // set when the body could not be read completely
	receivedAt time.Time
}

// send makes one HTTP exchange: it waits for the governor, sends within
// RequestTimeout and tells the governor about the answer. An error means no
// answer was received: *stoppedError when ctx ended, *FaultError for a TLS
// failure, *retryError otherwise.
func (c *Client) send(ctx context.Context, r *apiRequest, bearer string) (*apiResponse, error) {
	if err := c.gov.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, &stoppedError{ctxErr: ctx.Err()}
		}
		return nil, &retryError{msg: "rate governor", err: err}
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var (
		mu    sync.Mutex
		hsErr error
	)
	rctx = httptrace.WithClientTrace(rctx, &httptrace.ClientTrace{
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err != nil {
				mu.Lock()
				hsErr = err
				mu.Unlock()
			}
		},
	})
	var body io.Reader = http.NoBody
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(rctx, r.method, r.url, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	req.Header.Set("Accept", "application/json")
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.basicAuth {
		req.Header.Set("Authorization", c.sec.Load().basic)
	} else {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if r.key != nil {
		// Not the canonical key on purpose: net/http's Transport silently
		// replays a request carrying "Idempotency-Key" when a reused
		// connection fails, behind the governor's back and outside the key
		// accounting of Enroll. HTTP header names are case-insensitive.
		req.Header["idempotency-key"] = []string{r.key()}
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		mu.Lock()
		hs := hsErr
		mu.Unlock()
		switch {
		case ctx.Err() != nil:
			return nil, &stoppedError{ctxErr: ctx.Err()}
		case tlsFault(err, hs):
			return nil, &FaultError{Kind: FaultTLS, Err: err}
		default:
			return nil, &retryError{msg: "no answer from mangopay", err: err}
		}
	}
	defer resp.Body.Close()
	b, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBodySize+1))
	c.gov.Observe(resp.StatusCode, resp.Header)
	out := &apiResponse{status: resp.StatusCode, header: resp.Header, body: b, receivedAt: c.now()}
	switch {
	case readErr != nil:
		out.bodyErr = &retryError{msg: fmt.Sprintf("read body of status %d", resp.StatusCode), err: readErr}
	case len(b) > maxBodySize:
		out.body = b[:maxBodySize]
		out.bodyErr = &retryError{msg: fmt.Sprintf("body of status %d is over %d bytes", resp.StatusCode, maxBodySize)}
	}
	c.log.Debug("mangopay request",
		zap.String("method", r.method), zap.String("path", req.URL.Path),
		zap.Int("status", resp.StatusCode), zap.Duration("took", time.Since(start)))
	return out, nil
}

// do sends an authenticated request. A 401 (other than an SCA challenge)
// refreshes the token once and sends the request again; a second 401 is a
// *FaultError. Any received answer is returned, whatever its status.
func (c *Client) do(ctx context.Context, r *apiRequest) (*apiResponse, error) {
	var stale uint64
	for try := 0; ; try++ {
		tok, gen, err := c.token(ctx, stale)
		if err != nil {
			return nil, err
		}
		resp, err := c.send(ctx, r, tok)
		if err != nil {
			return nil, err
		}
		if r.answered != nil {
			r.answered(resp.status)
		}
		if resp.status != http.StatusUnauthorized || scaChallenge(resp.header) {
			return resp, nil
		}
		if try > 0 {
			// A 401 that survives a token refresh: the API key may have been rotated
			// (MANGOPAY_API_KEY_FILE rewritten). Reload once; a new key gets a new token.
			if try == 1 && c.reloadAfter401(ctx) {
				stale = gen
				continue
			}
			return nil, &FaultError{Kind: FaultUnauthorized, Err: DecodeError(resp.status, resp.body)}
		}
		c.log.Warn("mangopay refused the access token; refreshing it", zap.String("path", pathOf(r.url)))
		stale = gen
	}
}

// scaChallenge reports a 401 that asks for SCA (WWW-Authenticate:
// PendingUserAction …) rather than refusing the token.
func scaChallenge(h http.Header) bool {
	for _, v := range h.Values("WWW-Authenticate") {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), "pendinguseraction") {
			return true
		}
	}
	return false
}

// call sends an authenticated request and decodes a 2xx JSON answer into out
// (nil: body ignored). Non-2xx answers become errors via answerError.
func (c *Client) call(ctx context.Context, r *apiRequest, out any) (*apiResponse, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	if resp.status < 200 || resp.status > 299 {
		return resp, answerError(resp)
	}
	if resp.bodyErr != nil {
		return resp, resp.bodyErr
	}
	if out != nil {
		if err := json.Unmarshal(resp.body, out); err != nil {
			return resp, &retryError{msg: fmt.Sprintf("unreadable body of status %d", resp.status), err: err}
		}
	}
	return resp, nil
}

// answerError turns a non-2xx answer into an error: a *FaultError for a 403
// that is not about one user (anything but sca_proxy_missing) and for a 400
// that refuses our Idempotency-Key, else an *APIError.
func answerError(resp *apiResponse) error {
	e := DecodeError(resp.status, resp.body)
	switch {
	case resp.status == http.StatusForbidden && !strings.EqualFold(e.Type, typeProxyMissing):
		return &FaultError{Kind: FaultForbidden, Err: e}
	case e.refusesIdempotencyKey():
		return &FaultError{Kind: FaultIdempotencyKey, Err: e}
	}
	return e
}

// retry runs fn with exponential backoff: up to MaxRetries retries of
// retryable errors; 429s are waited out through the governor without
// counting; the end of ctx stops everything.
func (c *Client) retry(ctx context.Context, op string, log *zap.Logger, fn func(ctx context.Context) error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = c.cfg.InitialInterval
	b.MaxInterval = c.cfg.MaxInterval
	b.MaxElapsedTime = 0 // bounded by MaxRetries and ctx
	var (
		last     error
		attempt  int
		limited  int
		stopWith = func(err error) error {
			var stopped *stoppedError
			if errors.As(err, &stopped) {
				return backoff.Permanent(err)
			}
			return backoff.Permanent(&stoppedError{ctxErr: ctx.Err(), last: err})
		}
	)
	operation := func() error {
		for {
			attempt++
			err := fn(ctx)
			last = err
			switch {
			case err == nil:
				return nil
			case ctx.Err() != nil:
				return stopWith(err)
			case isRateLimited(err):
				limited++
				log.Debug("mangopay rate limit; waiting", zap.String("op", op), zap.Int("attempt", attempt))
				if err := c.pause(ctx, limited); err != nil {
					return stopWith(last)
				}
				continue // not an attempt: no MaxRetries budget spent
			case !IsRetryable(err):
				return backoff.Permanent(err)
			default:
				return err
			}
		}
	}
	notify := func(err error, wait time.Duration) {
		log.Warn("mangopay call failed; retrying", zap.String("op", op),
			zap.Int("attempt", attempt), zap.Duration("wait", wait), zap.Error(err))
	}
	err := backoff.RetryNotify(operation,
		backoff.WithContext(backoff.WithMaxRetries(b, uint64(c.cfg.MaxRetries)), ctx), notify)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		var stopped *stoppedError
		if !errors.As(err, &stopped) {
			return &stoppedError{ctxErr: ctx.Err(), last: last}
		}
	}
	return err
}

func isRateLimited(err error) bool {
	var apiErr *APIError
	var fault *FaultError
	return !errors.As(err, &fault) && errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusTooManyRequests
}

// pause follows a 429. The governor normally blocks the next request until
// the window resets; when it does not (no usable headers are its business,
// but a 429 with a window still open is not), wait a growing interval so
// that 429s are never answered at full speed.
func (c *Client) pause(ctx context.Context, n int) error {
	if until := c.gov.BlockedUntil(); until.After(c.now()) {
		return ctx.Err() // the next governor.Wait does the waiting
	}
	d := c.cfg.InitialInterval
	for i := 1; i < n && d < c.cfg.MaxInterval; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxInterval)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func pathOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Path
	}
	return ""
}
