package enroll

import (
	"context"
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate is a client-side request budget: at most N requests in any interval of length Per
// (a sliding window, the way Mangopay counts its own limits). Its text form is "N/duration",
// e.g. "1500/15m".
type Rate struct {
	N   int
	Per time.Duration
}

// DefaultRate returns the budget used when none is configured: 1500 requests per 15 minutes.
//
// Mangopay's ceilings (2,300/15 min, 4,500/30 min, 8,800/1 h, 105,600/24 h) are shared by
// every caller of the platform's API account, not just this worker. 1500/15m is about 65 % of
// the 15-minute ceiling, so the rest of the platform always keeps at least 800 calls per
// 15 minutes; it also stays under the 30-minute (3,000 ≤ 4,500) and 1-hour (6,000 ≤ 8,800)
// ceilings. Run flat out for a whole day it would exceed the 24-hour ceiling (144,000 >
// 105,600); the worker does not run saturated for a day in normal operation, and if it did,
// Mangopay's X-RateLimit headers would report that window as spent and the [Governor] would
// stop sending until its reset. Deployments sharing the account with heavy traffic should set
// a smaller budget.
func DefaultRate() Rate {
	return Rate{N: 1500, Per: 15 * time.Minute}
}

// ParseRate parses "N/duration", e.g. "1500/15m", "10/1s" or "2300/15m0s" (the form
// [Rate.String] writes). The duration uses [time.ParseDuration] syntax; a bare unit such as
// "10/s" means one of it. N and the duration must be positive. The error names the input.
func ParseRate(s string) (Rate, error) {
	n, per, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, fmt.Errorf("parse rate %q: want N/duration, e.g. 1500/15m", s)
	}
	n, per = strings.TrimSpace(n), strings.TrimSpace(per)
	if !allDigits(n) {
		return Rate{}, fmt.Errorf("parse rate %q: count %q is not a positive integer", s, n)
	}
	count, err := strconv.Atoi(n)
	if err != nil || count <= 0 {
		return Rate{}, fmt.Errorf("parse rate %q: count %q is not a positive integer", s, n)
	}
	if per != "" && 'a' <= per[0] && per[0] <= 'z' {
		per = "1" + per // "10/s" means ten per second
	}
	d, err := time.ParseDuration(per)
	if err != nil {
		return Rate{}, fmt.Errorf("parse rate %q: %w", s, err)
	}
	if d <= 0 {
		return Rate{}, fmt.Errorf("parse rate %q: duration must be positive", s)
	}
	return Rate{N: count, Per: d}, nil
}

// String returns the rate as "N/duration", e.g. "1500/15m"; [ParseRate] reads it back.
func (r Rate) String() string {
	d := r.Per.String()
	// time.Duration writes "15m0s" and "1h0m0s"; drop the zero tails for readability.
	if strings.HasSuffix(d, "m0s") {
		d = d[:len(d)-2]
	}
	if strings.HasSuffix(d, "h0m") {
		d = d[:len(d)-2]
	}
	return strconv.Itoa(r.N) + "/" + d
}

// Window is one Mangopay rate-limit window as told by the X-RateLimit headers of a response:
// Used calls made, Remaining calls left, and Reset, when the window frees up.
type Window struct {
	Used, Remaining int
	Reset           time.Time
}

// Names of Mangopay's rate-limit headers. X-RateLimit-Limit is not sent by Mangopay.
const (
	headerRateUsed      = "X-RateLimit"
	headerRateRemaining = "X-RateLimit-Remaining"
	headerRateReset     = "X-RateLimit-Reset"
)

// The header names as net/http stores them, computed once (canonicalizing
// allocates).
var (
	canonicalRateUsed      = textproto.CanonicalMIMEHeaderKey(headerRateUsed)
	canonicalRateRemaining = textproto.CanonicalMIMEHeaderKey(headerRateRemaining)
	canonicalRateReset     = textproto.CanonicalMIMEHeaderKey(headerRateReset)
)

// ParseRateLimit reads the X-RateLimit (calls made), X-RateLimit-Remaining and
// X-RateLimit-Reset (Unix seconds) headers of a response. Mangopay sends each header once per
// window (15 min, 30 min, 1 h, 24 h, in that order; the number of windows varies); a client or
// proxy may merge the lines into one comma-separated value ("6, 13, 13, 101"). Both layouts and
// any mix of them are accepted, under the canonical or any other spelling of the names. When
// none of the headers is present it returns nil, nil. Mismatched counts, empty items, signs,
// and anything but decimal digits are errors.
func ParseRateLimit(h http.Header) ([]Window, error) {
	used := headerItems(h, canonicalRateUsed)
	remaining := headerItems(h, canonicalRateRemaining)
	reset := headerItems(h, canonicalRateReset)
	if used == nil && remaining == nil && reset == nil {
		return nil, nil
	}
	if len(used) != len(remaining) || len(used) != len(reset) {
		return nil, fmt.Errorf("parse rate-limit headers: %d %s, %d %s and %d %s values do not match",
			len(used), headerRateUsed, len(remaining), headerRateRemaining, len(reset), headerRateReset)
	}
	windows := make([]Window, len(used))
	for i := range windows {
		u, err := parseCount(headerRateUsed, used[i])
		if err != nil {
			return nil, err
		}
		r, err := parseCount(headerRateRemaining, remaining[i])
		if err != nil {
			return nil, err
		}
		s, err := parseCount(headerRateReset, reset[i])
		if err != nil {
			return nil, err
		}
		windows[i] = Window{Used: u, Remaining: r, Reset: time.Unix(int64(s), 0)}
	}
	return windows, nil
}

// headerItems returns the comma-separated items of every line of the header canonical, trimmed,
// or nil when the header is absent. Lines stored under the canonical key come first, then
// lines stored under other spellings (a map built by hand), in a stable order.
func headerItems(h http.Header, canonical string) []string {
	lines := h.Values(canonical)
	var others []string
	for k := range h {
		if k != canonical && strings.EqualFold(k, canonical) {
			others = append(others, k)
		}
	}
	slices.Sort(others)
	for _, k := range others {
		lines = append(lines, h[k]...)
	}
	if len(lines) == 0 {
		return nil
	}
	items := make([]string, 0, len(lines))
	for _, line := range lines {
		for item := range strings.SplitSeq(line, ",") {
			items = append(items, strings.Trim(item, " \t"))
		}
	}
	return items
}

// parseCount parses a non-negative decimal integer from a header value.
func parseCount(header, v string) (int, error) {
	if !allDigits(v) {
		return 0, fmt.Errorf("parse rate-limit headers: %s value %q is not a non-negative integer", header, clip(v))
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("parse rate-limit headers: %s value %q is out of range", header, clip(v))
	}
	return n, nil
}

// allDigits reports whether s is a non-empty run of ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// clip shortens s for an error message.
func clip(s string) string {
	const limit = 32
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}

const (
	// firstBackoff and maxBackoff bound the block after a 429 without usable headers.
	firstBackoff = time.Second
	maxBackoff   = 5 * time.Minute
	// maxWindowBlock caps how far ahead a Reset header may block the worker: Mangopay's
	// longest window is 24 h, so a reset further away is bogus and is clamped.
	maxWindowBlock = 24 * time.Hour
)

// Governor decides when the next request to Mangopay may be sent. One Governor is shared by
// all requests of a [Client]; it is safe for concurrent use.
//
// It combines three rules:
//
//   - Mangopay's windows. While a window observed in X-RateLimit headers has Remaining 0 and
//     a Reset in the future, nothing is sent until that reset (several spent windows: until
//     the last of their resets, because a request needs room in every window). Such a block
//     only ever grows: answers that arrive while blocked were sent before it and are stale,
//     so they cannot lift it. A reset more than 24 h ahead is clamped to 24 h.
//   - 429 answers. A 429 with usable headers blocks as above; if none of its windows says
//     Remaining 0, it blocks until the earliest reset still in the future (the answer proves
//     some limit was hit, and the nearest reset is the first moment a slot can have freed).
//     A 429 without usable headers (absent, malformed, or with every reset already past)
//     blocks with exponential backoff: 1s, 2s, 4s … capped at 5 minutes. A 429 that arrives
//     while that backoff is in force does not grow it again (it was sent before the block).
//     Any later answer that is not a 429 resets the backoff to 1s.
//   - The client-side budget: at most Rate.N requests in any interval of Rate.Per (a sliding
//     window log, counted when Wait lets a request go), so the worker cannot starve the rest
//     of the platform sharing the API account.
//   - A [SharedBudget], when [Governor.Share] installed one: the budget of the whole
//     deployment, drawn from together with the other processes. A request then needs a token
//     from it too, and the blocks above are published to the other processes and theirs obeyed
//     here.
//
// Waiting is never an attempt: callers count attempts after Wait returns.
type Governor struct {
	budget Rate
	now    func() time.Time
	// after returns a channel that receives after d; tests replace it so they never sleep.
	after func(d time.Duration) <-chan time.Time

	mu           sync.Mutex
	shared       SharedBudget // nil: this process's budget only
	sent         []time.Time  // send times within the last budget.Per, oldest first
	windows      []Window     // last windows observed
	spentUntil   time.Time    // block from spent windows / 429 with headers
	backoffUntil time.Time    // block from headerless 429s
	backoff      time.Duration
}

// NewGovernor returns a Governor enforcing budget, reading the time from now (nil means
// [time.Now]). A budget with N <= 0 or Per <= 0 disables the client-side budget; Mangopay's
// headers and 429s still apply.
func NewGovernor(budget Rate, now func() time.Time) *Governor {
	if now == nil {
		now = time.Now
	}
	if budget.N <= 0 || budget.Per <= 0 {
		budget = Rate{}
	}
	return &Governor{budget: budget, now: now, after: time.After}
}

// SharedBudget is a budget of Mangopay requests shared by several processes — every replica
// of a deployment and the operator commands that call Mangopay — such as the NATS-backed one
// of package budget. enroll knows nothing of how it is shared; it must be safe for concurrent
// use.
type SharedBudget interface {
	// Take blocks until one request may be sent and takes it: the caller sends at once. It
	// returns an error only when ctx ends; a process that cannot reach the others waits
	// (it must not spend a budget it cannot account for).
	Take(ctx context.Context) error
	// Block tells the other processes that Mangopay refuses requests until until (a spent
	// window or a 429). It must not block the caller.
	Block(until time.Time)
	// BlockedUntil is the latest block told by any process, or the zero time.
	BlockedUntil() time.Time
}

// Share makes g draw every request from b as well as from its own budget, publish its blocks
// to b and obey the blocks of the other processes. Call it before the first request.
func (g *Governor) Share(b SharedBudget) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.shared = b
}

// Wait blocks until one request may be sent — no spent Mangopay window, no 429 backoff in
// force (here or told by another process), a slot free in the client-side budget and a token
// from the shared budget, if any — and takes that slot. It returns ctx.Err() if ctx ends
// first, without taking a slot. Waiting is never an attempt.
func (g *Governor) Wait(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		g.mu.Lock()
		now := g.now()
		shared := g.shared
		until := g.blockedUntilLocked(now)
		if until.IsZero() && shared == nil {
			var ok bool
			if until, ok = g.takeLocked(now); ok {
				g.mu.Unlock()
				return nil
			}
		} else if until.IsZero() {
			until = g.nextSlotLocked(now)
		}
		g.mu.Unlock()
		if until.IsZero() {
			// Not blocked and a local slot is free: the shared token comes first, then the
			// slot. A block or a full local budget seen after Take leaves that token unused;
			// it stays counted, which errs on the safe side.
			if err := shared.Take(ctx); err != nil {
				return err
			}
			g.mu.Lock()
			now = g.now()
			if g.blockedUntilLocked(now).IsZero() {
				if _, ok := g.takeLocked(now); ok {
					g.mu.Unlock()
					return nil
				}
			}
			g.mu.Unlock()
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-g.after(until.Sub(now)):
		}
	}
}

// takeLocked takes a budget slot at now, or reports when the next one frees up.
func (g *Governor) takeLocked(now time.Time) (time.Time, bool) {
	if g.budget.N == 0 {
		return time.Time{}, true
	}
	g.pruneLocked(now)
	if len(g.sent) < g.budget.N {
		g.sent = append(g.sent, now)
		return time.Time{}, true
	}
	return g.sent[0].Add(g.budget.Per), false
}

// nextSlotLocked reports when the client-side budget has a free slot: the zero time when it
// has one now.
func (g *Governor) nextSlotLocked(now time.Time) time.Time {
	if g.budget.N == 0 {
		return time.Time{}
	}
	g.pruneLocked(now)
	if len(g.sent) < g.budget.N {
		return time.Time{}
	}
	return g.sent[0].Add(g.budget.Per)
}

// pruneLocked drops the sends that left the client-side window by now. g.sent is in time
// order, so they are at its front: each send is dropped once, whatever the budget.
func (g *Governor) pruneLocked(now time.Time) {
	drop := 0
	for drop < len(g.sent) && !now.Before(g.sent[drop].Add(g.budget.Per)) {
		drop++
	}
	if drop > 0 {
		g.sent = g.sent[drop:]
	}
}

// Observe records an answer from Mangopay: its status and its rate-limit headers. A status
// below 100 (no answer) is ignored. See [Governor] for the rules. A block it starts or
// lengthens is told to the shared budget, if any.
func (g *Governor) Observe(status int, h http.Header) {
	if status < 100 {
		return
	}
	g.mu.Lock()
	before := g.ownBlockLocked()
	g.observeLocked(status, h)
	after, shared := g.ownBlockLocked(), g.shared
	g.mu.Unlock()
	if shared != nil && after.After(before) {
		shared.Block(after)
	}
}

// ownBlockLocked is the end of the block this process observed itself (zero when none).
func (g *Governor) ownBlockLocked() time.Time {
	if g.backoffUntil.After(g.spentUntil) {
		return g.backoffUntil
	}
	return g.spentUntil
}

func (g *Governor) observeLocked(status int, h http.Header) {
	windows, err := ParseRateLimit(h)
	if err != nil {
		windows = nil // malformed headers are as good as none
	}
	now := g.now()
	if windows != nil {
		g.windows = windows
	}
	limit := now.Add(maxWindowBlock)
	block := func(t time.Time) {
		if t.After(limit) {
			t = limit
		}
		if t.After(g.spentUntil) {
			g.spentUntil = t
		}
	}
	var spent, earliest time.Time // latest reset of a spent window; earliest future reset
	for _, w := range windows {
		if !w.Reset.After(now) {
			continue
		}
		if w.Remaining == 0 && w.Reset.After(spent) {
			spent = w.Reset
		}
		if earliest.IsZero() || w.Reset.Before(earliest) {
			earliest = w.Reset
		}
	}
	if !spent.IsZero() {
		block(spent)
	}
	if status != http.StatusTooManyRequests {
		g.backoff = 0
		return
	}
	switch {
	case !spent.IsZero():
		// Blocked above until the spent windows reset.
	case !earliest.IsZero():
		block(earliest)
	case now.Before(g.backoffUntil):
		// Sent before the current backoff began: do not grow it again.
	default:
		if g.backoff == 0 {
			g.backoff = firstBackoff
		} else {
			g.backoff = min(2*g.backoff, maxBackoff)
		}
		g.backoffUntil = now.Add(g.backoff)
	}
}

// BlockedUntil reports until when no request may be sent because a Mangopay window is spent
// or a 429 backoff is in force, here or told by another process through the shared budget; it
// returns the zero time when not blocked. The budgets are not included: they delay single
// requests, not the consumer. A consumer stops pulling messages until the returned time.
func (g *Governor) BlockedUntil() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.blockedUntilLocked(g.now())
}

// blockedUntilLocked returns the end of the current block, or zero when not blocked at now.
func (g *Governor) blockedUntilLocked(now time.Time) time.Time {
	until := g.ownBlockLocked()
	if g.shared != nil {
		if t := g.shared.BlockedUntil(); t.After(until) {
			until = t
			if limit := now.Add(maxWindowBlock); until.After(limit) {
				until = limit // a bogus far-away block is clamped too
			}
		}
	}
	if !until.After(now) {
		return time.Time{}
	}
	return until
}

// Windows returns a copy of the windows of the last answer that carried valid rate-limit
// headers (nil before any), for the rate-limit-remaining gauge.
func (g *Governor) Windows() []Window {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.windows)
}
