package enroll

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Defaults of [Config].
const (
	DefaultBaseURL         = "https://api.sandbox.mangopay.com"
	DefaultRequestTimeout  = 10 * time.Second
	DefaultMaxRetries      = 3
	DefaultInitialInterval = 200 * time.Millisecond
	DefaultMaxInterval     = 2 * time.Second
)

// Config configures a [Client]. Zero fields take the documented defaults;
// [Config.Validate] names the environment variable of a bad setting.
type Config struct {
	// BaseURL is the API base, without /v2.01 (MANGOPAY_BASE_URL). Default
	// "https://api.sandbox.mangopay.com". With mTLS use the api-mtls host.
	// Plain http is accepted only for loopback hosts (a simulator).
	BaseURL string
	// ClientID is the Mangopay ClientId (MANGOPAY_CLIENT_ID). Required.
	ClientID string
	// APIKey is the API key (MANGOPAY_API_KEY). Required. Secret: it is only
	// ever sent in the token call's Basic authorization.
	APIKey string
	// TLSCert and TLSKey are the mTLS client certificate and its private key
	// (MANGOPAY_TLS_CERT, MANGOPAY_TLS_KEY), each a file path or base64 PEM.
	// Both or neither. Used on every call, the token call included.
	TLSCert, TLSKey string
	// LinkHosts are the hosts Mangopay's links may point to (SCA_LINK_HOSTS).
	// Default DefaultLinkHosts().
	LinkHosts []string
	// ReturnURL is where Mangopay sends the user back (SCA_RETURN_URL),
	// appended to every link as returnUrl. Required, https, unless ReadOnly.
	ReturnURL string
	// ReadOnly makes a client for operator tools that only read (backfill):
	// it needs no ReturnURL, builds no link, and its Enroll refuses.
	ReadOnly bool
	// Rate is this client's own budget of requests (SCA_MANGOPAY_RATE). A
	// deployment of several processes also shares one budget between them:
	// see [SharedBudget] and [Governor.Share].
	// Default DefaultRate().
	Rate Rate
	// RequestTimeout bounds one HTTP exchange, body included. Default 10s.
	RequestTimeout time.Duration
	// MaxRetries is the number of in-process retries of one call after its
	// first attempt. 0 means the default 3; a negative value disables retries.
	// Waiting for a rate-limit window never counts as a retry.
	MaxRetries int
	// InitialInterval and MaxInterval shape the exponential backoff between
	// retries. Defaults 200ms and 2s.
	InitialInterval, MaxInterval time.Duration
	// UserAgent is sent on every request. Default
	// "scaworker/<module version> (<go version>)".
	UserAgent string
	// Secrets, when set, returns the secrets as they are now (rereading
	// MANGOPAY_API_KEY_FILE and the certificate files): [Client.Reload] and a 401
	// that survives a token refresh install what it returns, so rotated secrets
	// are used without a restart. Nil: the secrets above never change.
	Secrets func() (Secrets, error)
	// HTTPClient, when set, is used instead of a client built from this
	// Config. If TLSCert/TLSKey are set, its Transport must be an
	// *http.Transport; a copy of it gets the client certificate.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if len(c.LinkHosts) == 0 {
		c.LinkHosts = DefaultLinkHosts()
	}
	if c.Rate == (Rate{}) {
		c.Rate = DefaultRate()
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	} else if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.InitialInterval == 0 {
		c.InitialInterval = DefaultInitialInterval
	}
	if c.MaxInterval == 0 {
		c.MaxInterval = max(DefaultMaxInterval, c.InitialInterval)
	}
	if c.UserAgent == "" {
		c.UserAgent = defaultUserAgent()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// defaultUserAgent is "scaworker/<version> (<go version>)", the version read
// from the build information ("dev" for a development build).
func defaultUserAgent() string {
	version := "dev"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
	return "scaworker/" + version + " (" + runtime.Version() + ")"
}

// Validate checks the configuration after defaults are applied. Each error
// names the setting's environment variable; secrets are never printed.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if strings.TrimSpace(c.ClientID) == "" {
		errs = append(errs, errors.New("MANGOPAY_CLIENT_ID: required"))
	} else if strings.ContainsAny(c.ClientID, "/?#%: \t\r\n") {
		errs = append(errs, errors.New("MANGOPAY_CLIENT_ID: must not contain '/', '?', '#', '%', ':' or spaces"))
	}
	if c.APIKey == "" {
		errs = append(errs, errors.New("MANGOPAY_API_KEY: required"))
	}
	if _, err := parseBaseURL(c.BaseURL); err != nil {
		errs = append(errs, err)
	}
	if c.ReturnURL == "" {
		if !c.ReadOnly {
			errs = append(errs, errors.New("SCA_RETURN_URL: required"))
		}
	} else if _, err := NewLinkBuilder(c.LinkHosts, c.ReturnURL); err != nil {
		errs = append(errs, err) // names SCA_RETURN_URL or SCA_LINK_HOSTS
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("MANGOPAY_TLS_CERT, MANGOPAY_TLS_KEY: set both or neither"))
	}
	if c.Rate.N <= 0 || c.Rate.Per <= 0 {
		errs = append(errs, fmt.Errorf("SCA_MANGOPAY_RATE: %d per %s is not a positive rate", c.Rate.N, c.Rate.Per))
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("request timeout %s: must be positive", c.RequestTimeout))
	}
	if c.InitialInterval < 0 || c.MaxInterval < c.InitialInterval {
		errs = append(errs, fmt.Errorf("retry intervals %s..%s: want 0 < initial <= max", c.InitialInterval, c.MaxInterval))
	}
	return errors.Join(errs...)
}

// parseBaseURL checks MANGOPAY_BASE_URL: absolute, https (http only on a
// loopback host), no user info, query or fragment.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("MANGOPAY_BASE_URL: not a valid URL")
	}
	switch {
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("MANGOPAY_BASE_URL: want an absolute URL such as https://api.mangopay.com")
	case u.User != nil:
		return nil, errors.New("MANGOPAY_BASE_URL: must not contain user info")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, errors.New("MANGOPAY_BASE_URL: must not have a query or fragment")
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case u.Scheme == "http":
		return nil, fmt.Errorf("MANGOPAY_BASE_URL: http is only allowed on loopback hosts, not %q: use https", u.Hostname())
	default:
		return nil, fmt.Errorf("MANGOPAY_BASE_URL: scheme %q: want https", u.Scheme)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// isLoopback reports whether host is localhost or a loopback IP address
// (127.0.0.0/8, ::1).
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
