package hooks

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr returns the address the allowlist and the per-source limit are checked
// against.
//
// Without header, or when the TCP peer is not one of the trusted proxies, it is the TCP
// peer: a header written by anyone else is ignored, so a direct client cannot claim an
// allowed address by sending X-Forwarded-For itself. When the peer is a trusted proxy,
// the header's entries (all its lines joined in order, separated by commas) are read from
// the right, skipping those that are trusted proxies too (a chain of them); the first
// other entry is the client — the address the outermost trusted proxy saw. Entries further
// left were written by the client or by proxies nobody trusts. When every entry is a
// trusted proxy, the left-most one is used. An entry may carry a port ("203.0.113.7:443",
// "[2001:db8::1]:443") and IPv4-mapped IPv6 addresses are unmapped. It reports false when
// no address can be read (a trusted proxy sent no header, or an unparseable entry came
// first): the request is then refused (403), never let through.
func clientAddr(r *http.Request, header string, trusted []netip.Prefix) (netip.Addr, bool) {
	peer, ok := parseAddr(r.RemoteAddr)
	if !ok || header == "" || !allowed(peer, trusted) {
		return peer, ok
	}
	lines := r.Header.Values(header)
	if len(lines) == 0 {
		return netip.Addr{}, false
	}
	entries := strings.Split(strings.Join(lines, ","), ",")
	var a netip.Addr
	for i := len(entries) - 1; i >= 0; i-- {
		if a, ok = parseAddr(strings.TrimSpace(entries[i])); !ok {
			return netip.Addr{}, false
		}
		if !allowed(a, trusted) {
			return a, true
		}
	}
	return a, true
}

// parseAddr parses an address with or without a port.
func parseAddr(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// allowed reports whether a lies in one of prefixes.
func allowed(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
