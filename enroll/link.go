package enroll

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// LinkTTL is how long a Mangopay SCA link lives: 10 minutes from when it was minted.
const LinkTTL = 10 * time.Minute

// MaxLinkLen bounds a finished link: Mangopay requires the RedirectUrl plus the appended
// parameters to stay under 2,000 characters, so a link must be shorter than MaxLinkLen bytes.
const MaxLinkLen = 2000

// DefaultLinkHosts returns the hosts Mangopay serves SCA sessions from: production
// sca.mangopay.com and sandbox sca.sandbox.mangopay.com.
func DefaultLinkHosts() []string {
	return []string{"sca.mangopay.com", "sca.sandbox.mangopay.com"}
}

// LinkError is a RedirectUrl that failed a check of [LinkBuilder.Build]; such a link is never
// sent to anyone. Its text never carries the link's token, path or query string: at most the
// offending host, and only when that host is a plain hostname sharing nothing (no run of 8
// bytes) with the rest of the link.
type LinkError struct {
	Reason string // which check failed, e.g. "host is not an allowed SCA host"
}

// Error returns "link rejected: " followed by the reason.
func (e *LinkError) Error() string {
	return "link rejected: " + e.Reason
}

// LinkBuilder turns Mangopay's RedirectUrl into the link sent to a user: the URL checked and
// kept byte for byte, then the platform's return address and the session language appended.
// It is immutable and safe for concurrent use.
type LinkBuilder struct {
	hosts  []string // allowed hosts, lower case
	suffix string   // "returnUrl=" + url.QueryEscape(returnURL)
}

// sampleToken is the length of a Mangopay token (32 hex), used to size the shortest link.
const sampleToken = "0193cf51ed367151a0cb1c59def21e13"

// NewLinkBuilder returns a LinkBuilder that accepts links on hosts (nil or empty means
// [DefaultLinkHosts]) and sends users back to returnURL.
//
// Each host must be a plain DNS name (letters, digits, '-' and '.'; no scheme, port, or
// trailing dot); it is matched case-insensitively. returnURL must be an absolute https URL
// with a host and no user info, fragment, space or control character (Mangopay appends
// controlStatus to it, which a fragment would swallow). It must be short enough for a link to
// fit: the shortest plausible link, "https://<shortest host>/?token=" + 32 hex + "&returnUrl="
// + url.QueryEscape(returnURL) + "&lang=xx", must be under [MaxLinkLen] bytes. Errors name the
// setting at fault: SCA_LINK_HOSTS or SCA_RETURN_URL.
func NewLinkBuilder(hosts []string, returnURL string) (*LinkBuilder, error) {
	if len(hosts) == 0 {
		hosts = DefaultLinkHosts()
	}
	b := &LinkBuilder{hosts: make([]string, 0, len(hosts))}
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if err := checkHostname(h); err != nil {
			return nil, fmt.Errorf("SCA_LINK_HOSTS: host %q: %w", h, err)
		}
		b.hosts = append(b.hosts, h)
	}
	if err := checkReturnURL(returnURL); err != nil {
		return nil, fmt.Errorf("SCA_RETURN_URL: %w", err)
	}
	b.suffix = "returnUrl=" + url.QueryEscape(returnURL)
	shortest := b.hosts[0]
	for _, h := range b.hosts[1:] {
		if len(h) < len(shortest) {
			shortest = h
		}
	}
	minLink := len("https://"+shortest+"/?token="+sampleToken+"&") + len(b.suffix) + len("&lang=xx")
	if minLink >= MaxLinkLen {
		return nil, fmt.Errorf("SCA_RETURN_URL: too long: the shortest link with it would be %d bytes, Mangopay accepts under %d", minLink, MaxLinkLen)
	}
	return b, nil
}

// checkHostname validates an allowed link host (already lower case).
func checkHostname(h string) error {
	if h == "" {
		return errors.New("empty host")
	}
	if len(h) > 253 {
		return errors.New("longer than 253 bytes")
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 {
			return errors.New("want a DNS name such as sca.mangopay.com (empty or over-long label)")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("want a DNS name such as sca.mangopay.com (label starts or ends with '-')")
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isLowerAlnum(c) && c != '-' {
				return errors.New("want a bare DNS name such as sca.mangopay.com (no scheme, port, path or non-ASCII)")
			}
		}
	}
	return nil
}

// checkReturnURL validates the configured return address.
func checkReturnURL(s string) error {
	if s == "" {
		return errors.New("empty; want an absolute https URL")
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return errors.New("contains a space or control character")
		}
	}
	if strings.Contains(s, "#") {
		return errors.New("has a fragment (#…); Mangopay appends controlStatus to the query, which a fragment would hide")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("does not parse as a URL")
	}
	if u.Scheme != "https" {
		return errors.New("want an absolute https URL")
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return errors.New("want an absolute https URL with a host")
	}
	if u.User != nil {
		return errors.New("must not carry user info")
	}
	return nil
}

// Build checks redirectURL, the RedirectUrl of Mangopay's answer, and returns the link to send:
// redirectURL byte for byte, then "&returnUrl=" (or "?returnUrl=" when it has no '?'; no
// separator when its query is empty or already ends in '&') + url.QueryEscape(returnURL), then
// "&lang=xx" when [LangFor](locale) knows the language and redirectURL has no lang parameter.
//
// redirectURL is accepted only when all of these hold; otherwise the error is a *[LinkError]:
//   - it contains only characters RFC 3986 allows in a URL (no space, control character,
//     backslash, quote, angle bracket or non-ASCII byte — which also rules out IDN lookalikes);
//   - it starts with "https://" (scheme in any case) and its authority, up to the first '/',
//     '?' or '#', is exactly one of the allowed hosts, case-insensitively: so no port, no user
//     info, no percent-encoded or trailing-dot host, no "sca.mangopay.com.evil.example";
//   - it parses with [net/url] to the same scheme and host;
//   - it has no fragment: anything after '#' never reaches Mangopay's server, so a returnUrl
//     appended after it would be lost;
//   - it carries no returnUrl parameter of its own (two return addresses would be ambiguous);
//   - the finished link is shorter than [MaxLinkLen] bytes.
func (b *LinkBuilder) Build(redirectURL, locale string) (string, error) {
	if redirectURL == "" {
		return "", &LinkError{Reason: "empty RedirectUrl"}
	}
	if len(redirectURL) >= MaxLinkLen {
		return "", tooLong(len(redirectURL))
	}
	for i := 0; i < len(redirectURL); i++ {
		if !isURLByte(redirectURL[i]) {
			return "", &LinkError{Reason: "RedirectUrl contains a character not allowed in a URL"}
		}
	}
	const scheme = "https://"
	if len(redirectURL) < len(scheme) || !strings.EqualFold(redirectURL[:len(scheme)], scheme) {
		return "", &LinkError{Reason: "RedirectUrl is not an https URL"}
	}
	rest := redirectURL[len(scheme):]
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, rest = rest[:i], rest[i:]
	} else {
		rest = ""
	}
	switch {
	case strings.Contains(authority, "@"):
		return "", &LinkError{Reason: "RedirectUrl carries user info"}
	case strings.Contains(authority, ":") && !strings.Contains(authority, "["):
		return "", &LinkError{Reason: "RedirectUrl has a port"}
	case !b.allowed(authority):
		return "", &LinkError{Reason: hostReason(authority, rest)}
	}
	if strings.Contains(rest, "#") {
		return "", &LinkError{Reason: "RedirectUrl has a fragment"}
	}
	u, err := url.Parse(redirectURL)
	if err != nil || u.Scheme != "https" || !strings.EqualFold(u.Host, authority) || u.User != nil || u.Opaque != "" {
		return "", &LinkError{Reason: "RedirectUrl does not parse as an https URL"}
	}
	if queryHasKey(u.RawQuery, "returnUrl") {
		return "", &LinkError{Reason: "RedirectUrl already has a returnUrl parameter"}
	}

	var sb strings.Builder
	sb.Grow(len(redirectURL) + 1 + len(b.suffix) + len("&lang=xx"))
	sb.WriteString(redirectURL)
	switch _, q, ok := strings.Cut(redirectURL, "?"); {
	case !ok:
		sb.WriteByte('?')
	case q != "" && !strings.HasSuffix(q, "&"):
		sb.WriteByte('&')
	}
	sb.WriteString(b.suffix)
	if lang, ok := LangFor(locale); ok && !queryHasKey(u.RawQuery, "lang") {
		sb.WriteString("&lang=")
		sb.WriteString(lang)
	}
	if sb.Len() >= MaxLinkLen {
		return "", tooLong(sb.Len())
	}
	return sb.String(), nil
}

// queryHasKey reports whether the raw query has a parameter named key, compared
// case-insensitively after unescaping; both '&' and ';' count as separators, as some servers
// split on either.
func queryHasKey(rawQuery, key string) bool {
	for pair := range strings.FieldsFuncSeq(rawQuery, func(r rune) bool { return r == '&' || r == ';' }) {
		k, _, _ := strings.Cut(pair, "=")
		if u, err := url.QueryUnescape(k); err == nil {
			k = u
		}
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// allowed reports whether host is one of the allowed hosts, case-insensitively.
func (b *LinkBuilder) allowed(host string) bool {
	for _, h := range b.hosts {
		if strings.EqualFold(host, h) {
			return true
		}
	}
	return false
}

// hostReason describes a refused host. The host is named only when it is a plain hostname
// that shares no run of 8 bytes with the rest of the link, raw or unescaped, compared
// case-insensitively: so the reason cannot carry the token even when a forged link repeats
// the token, or part of it, in its host.
func hostReason(host, rest string) string {
	const reason = "host is not an allowed SCA host (SCA_LINK_HOSTS)"
	const overlap = 8
	host = strings.ToLower(host)
	if host == "" || checkHostname(host) != nil {
		return reason
	}
	lower := strings.ToLower(rest)
	variants := []string{lower}
	for _, unescape := range []func(string) (string, error){url.PathUnescape, url.QueryUnescape} {
		u, err := unescape(lower)
		if err != nil {
			return reason
		}
		variants = append(variants, strings.ToLower(u))
	}
	for i := 0; i+overlap <= len(host); i++ {
		for _, v := range variants {
			if strings.Contains(v, host[i:i+overlap]) {
				return reason
			}
		}
	}
	return "host " + host + " is not an allowed SCA host (SCA_LINK_HOSTS)"
}

// tooLong is the error for a link of n bytes.
func tooLong(n int) *LinkError {
	return &LinkError{Reason: "link would be " + strconv.Itoa(n) + " bytes, Mangopay accepts under " + strconv.Itoa(MaxLinkLen)}
}

// isURLByte reports whether c may appear in a URL as RFC 3986 writes them: unreserved,
// reserved (gen-delims and sub-delims) and '%'.
func isURLByte(c byte) bool {
	if isLowerAlnum(c) || 'A' <= c && c <= 'Z' {
		return true
	}
	return strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0
}

// isLowerAlnum reports whether c is an ASCII digit or lower-case letter.
func isLowerAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z'
}

// LangFor maps a locale to the value of Mangopay's lang parameter, which accepts bg, nl, en,
// fr, de, el, it, pl, pt, es and se (Swedish is "se", not "sv"). The locale may be a BCP 47
// tag or a POSIX-style name in any case: "sv-SE", "fr_FR", "pt_BR.UTF-8" and "EN" all map; only
// the primary language subtag counts. It reports false for any other language, including
// "se" itself (Northern Sami in BCP 47); Mangopay then picks the browser's language.
func LangFor(locale string) (string, bool) {
	tag := strings.TrimSpace(locale)
	if i := strings.IndexAny(tag, "-_.@"); i >= 0 {
		tag = tag[:i]
	}
	switch tag = strings.ToLower(tag); tag {
	case "bg", "nl", "en", "fr", "de", "el", "it", "pl", "pt", "es":
		return tag, true
	case "sv":
		return "se", true
	}
	return "", false
}
