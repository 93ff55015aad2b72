package hooks

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
)

// Path is where the ingress listens; with a secret, hooks go to Path + "/" + secret.
const Path = "/hooks/mangopay"

// MaxURILen bounds the request target (path and query). Mangopay's hook URL is at most
// 255 bytes and its three parameters about 200 more; a longer target is answered 414.
const MaxURILen = 2 << 10

// Secret length bounds, and the characters a secret may hold (URL-safe, no escaping).
const (
	MinSecretLen = 16
	MaxSecretLen = 128
)

// Config is the ingress configuration. The zero value of every field means its
// documented default; [Config.Validate] names the setting in every error.
type Config struct {
	// Secret, when set, is the path segment that must follow Path
	// (SCA_HOOK_SECRET): hooks are then accepted only on /hooks/mangopay/<secret>, and any
	// other path under /hooks/mangopay answers 404. 16 to 128 of A-Z a-z 0-9 - _ . ~.
	Secret string
	// AllowCIDRs, when not empty, is the source allowlist (SCA_HOOK_ALLOW_CIDRS): a
	// request whose client address is in none of them answers 403.
	AllowCIDRs []netip.Prefix
	// ClientIPHeader, when set, is the header that carries the client address, set by a
	// trusted reverse proxy (SCA_HOOK_CLIENT_IP_HEADER, e.g. X-Forwarded-For). It is read
	// only from requests whose TCP peer is in TrustedProxies (its right-most entry that is
	// not a trusted proxy is the client); from any other peer, and when empty, the TCP
	// peer address is used.
	ClientIPHeader string
	// TrustedProxies are the reverse proxies whose ClientIPHeader is believed
	// (SCA_HOOK_TRUSTED_PROXIES, CIDRs). Required with ClientIPHeader.
	TrustedProxies []netip.Prefix
	// Rate is the ingress's own budget of stored hooks (SCA_HOOK_RATE, default 20/1m): a
	// token bucket refilled at Rate.N per Rate.Per, holding at most Burst tokens.
	Rate enroll.Rate
	// Burst is the token bucket's size (SCA_HOOK_BURST, default 60).
	Burst int
	// SourceRate is the budget of one client address (SCA_HOOK_SOURCE_RATE, default
	// 10/1m; IPv6 addresses counted by /64): a token bucket of SourceRate.N tokens refilled
	// at that rate. Hooks over it answer 429 before they spend anything of Rate, so forged
	// hooks from one address cannot keep Mangopay's on 429.
	SourceRate enroll.Rate
	// StoreTimeout bounds storing one hook (SCA_HOOK_STORE_TIMEOUT, default 1.5s): past
	// it the answer is 503 and Mangopay resends. It must stay under Mangopay's 2-second
	// limit.
	StoreTimeout time.Duration

	// Stream is the trigger stream the hooks must land in (SCA_STREAM, default "SCA_EVENTS").
	Stream string
	// Bucket is the KV bucket of hook markers (SCA_HOOKS_BUCKET, default "sca_hooks").
	Bucket string
	// Subjects are the trigger subjects (default events.DefaultSubjects()).
	Subjects events.Subjects
}

// DefaultRate is the default SCA_HOOK_RATE: 20 stored hooks per minute.
//
// A stored expiry or failure costs at most two Mangopay calls (sca-status and the
// enrollment), so hooks alone can spend at most 40 calls a minute — 600 per 15 minutes,
// 40 % of the default SCA_MANGOPAY_RATE (1500/15m) — and a flood of forged hooks cannot
// starve the other triggers of the quota.
func DefaultRate() enroll.Rate { return enroll.Rate{N: 20, Per: time.Minute} }

// DefaultSourceRate is the default SCA_HOOK_SOURCE_RATE: 10 stored hooks per minute from
// one address, half of [DefaultRate].
func DefaultSourceRate() enroll.Rate { return enroll.Rate{N: 10, Per: time.Minute} }

// Defaults returns c with every zero field set to its default.
func (c Config) Defaults() Config {
	if c.Rate == (enroll.Rate{}) {
		c.Rate = DefaultRate()
	}
	if c.Burst == 0 {
		c.Burst = 60
	}
	if c.SourceRate == (enroll.Rate{}) {
		c.SourceRate = DefaultSourceRate()
	}
	if c.StoreTimeout == 0 {
		c.StoreTimeout = 1500 * time.Millisecond
	}
	if c.Stream == "" {
		c.Stream = "SCA_EVENTS"
	}
	if c.Bucket == "" {
		c.Bucket = "sca_hooks"
	}
	if c.Subjects == (events.Subjects{}) {
		c.Subjects = events.DefaultSubjects()
	}
	return c
}

// Validate reports every setting that cannot work, by its environment variable. It
// validates c.Defaults().
func (c Config) Validate() error {
	c = c.Defaults()
	var errs []error
	bad := func(setting, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", setting, fmt.Sprintf(format, args...)))
	}
	if c.Secret != "" {
		if n := len(c.Secret); n < MinSecretLen || n > MaxSecretLen {
			bad("SCA_HOOK_SECRET", "must be %d to %d characters, got %d", MinSecretLen, MaxSecretLen, n)
		} else if !secretChars(c.Secret) {
			bad("SCA_HOOK_SECRET", "may hold only A-Z a-z 0-9 - _ . ~ (it is a URL path segment)")
		}
	}
	for _, p := range c.AllowCIDRs {
		if !p.IsValid() {
			bad("SCA_HOOK_ALLOW_CIDRS", "invalid prefix")
		}
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			bad("SCA_HOOK_TRUSTED_PROXIES", "invalid prefix")
		}
	}
	if h := c.ClientIPHeader; h != "" && !validHeaderName(h) {
		bad("SCA_HOOK_CLIENT_IP_HEADER", "%q is not an HTTP header name", h)
	} else if h != "" && len(c.TrustedProxies) == 0 {
		bad("SCA_HOOK_TRUSTED_PROXIES", "required when SCA_HOOK_CLIENT_IP_HEADER is set: the addresses (CIDRs) of the reverse proxies whose %s is believed; without them any client could write the header and pass SCA_HOOK_ALLOW_CIDRS", h)
	}
	if c.Rate.N < 1 || c.Rate.Per <= 0 {
		bad("SCA_HOOK_RATE", "must be N/duration with N and duration positive, got %d/%s", c.Rate.N, c.Rate.Per)
	}
	if c.Burst < 1 {
		bad("SCA_HOOK_BURST", "must be at least 1, got %d", c.Burst)
	}
	if c.SourceRate.N < 1 || c.SourceRate.Per <= 0 {
		bad("SCA_HOOK_SOURCE_RATE", "must be N/duration with N and duration positive, got %d/%s", c.SourceRate.N, c.SourceRate.Per)
	}
	if c.StoreTimeout <= 0 || c.StoreTimeout >= 2*time.Second {
		bad("SCA_HOOK_STORE_TIMEOUT", "must be positive and shorter than Mangopay's 2-second limit, got %s", c.StoreTimeout)
	}
	if err := c.Subjects.Validate(); err != nil {
		bad("SCA_SUBJECT_*", "%v", err)
	}
	return errors.Join(errs...)
}

// Open reports whether the ingress accepts hooks from anyone on the Internet at the
// public path: neither a secret path segment nor a source allowlist is set.
func (c Config) Open() bool { return c.Secret == "" && len(c.AllowCIDRs) == 0 }

// OpenWarning is the start-up warning (and `check`'s) for an [Config.Open] ingress.
const OpenWarning = "webhook ingress open to the world: neither SCA_HOOK_SECRET nor SCA_HOOK_ALLOW_CIDRS is set, so anyone who can reach SCA_HTTP_ADDR can store hooks; set both (a secret path segment and Mangopay's source ranges)"

// ParseCIDRs parses a list of CIDR prefixes or single addresses (IPv4 or IPv6; a single
// address means /32 or /128). Entries are trimmed; empty entries are skipped. Prefixes
// are masked ("10.1.2.3/8" is 10.0.0.0/8); IPv4-mapped IPv6 addresses are unmapped.
func ParseCIDRs(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is neither a CIDR prefix nor an IP address", s)
			}
			a = a.Unmap().WithZone("")
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR prefix", s)
		}
		if a := p.Addr(); a.Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				return nil, fmt.Errorf("%q: an IPv4-mapped prefix needs at least /96", s)
			}
			p = netip.PrefixFrom(a.Unmap(), bits)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func secretChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == '~':
		default:
			return false
		}
	}
	return true
}

// validHeaderName reports whether h is an RFC 9110 token.
func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return http.CanonicalHeaderKey(h) != ""
}
