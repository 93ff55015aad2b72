package hooks

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr returns the address the allowlist is checked against: with header set, the
// right-most entry of that header (all its lines joined in order, entries separated by
// commas) — the address the trusted proxy in front of scaworker saw and appended; entries
// to its left were written by the client or by proxies scaworker does not trust. Without
// header, the TCP peer. An entry may carry a port ("203.0.113.7:443", "[2001:db8::1]:443")
// and IPv4-mapped IPv6 addresses are unmapped. It reports false when no address can be
// read: the request is then refused (403), never let through.
func clientAddr(r *http.Request, header string) (netip.Addr, bool) {
	if header == "" {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			return netip.Addr{}, false
		}
		return ap.Addr().Unmap().WithZone(""), true
	}
	lines := r.Header.Values(header)
	if len(lines) == 0 {
		return netip.Addr{}, false
	}
	last := lines[len(lines)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	return parseAddr(strings.TrimSpace(last))
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
