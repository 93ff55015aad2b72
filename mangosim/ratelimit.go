package mangosim

import (
	"net/http"
	"sort"
	"strconv"
	"time"
)

// limiter is a sliding-log rate limiter over several windows: a call is accepted while every
// window holds fewer than N accepted calls in the last Per. Calls are logged at whole seconds
// (truncated), so a call made during second t leaves a window at exactly t+Per, and a
// window's reset is never more than Per after the current second — which is how the SDKs
// tell the windows apart (reset−now ≤ 15 min is the 15-minute window, and so on).
type limiter struct {
	limits []Limit
	maxPer time.Duration
	calls  []time.Time // accepted calls, sorted, none older than maxPer
}

// windowState is what one X-RateLimit* header line tells.
type windowState struct {
	used, remaining int
	reset           int64 // unix seconds
}

func newLimiter(limits []Limit) *limiter {
	l := &limiter{limits: limits}
	for _, lim := range limits {
		l.maxPer = max(l.maxPer, lim.Per)
	}
	return l
}

func (l *limiter) prune(now time.Time) {
	cut := now.Add(-l.maxPer)
	i := sort.Search(len(l.calls), func(i int) bool { return l.calls[i].After(cut) })
	if i > 0 {
		l.calls = append(l.calls[:0:0], l.calls[i:]...)
	}
}

// inWindow returns the index of the oldest call inside (now-per, ...].
func (l *limiter) inWindow(now time.Time, per time.Duration) int {
	cut := now.Add(-per)
	return sort.Search(len(l.calls), func(i int) bool { return l.calls[i].After(cut) })
}

// take accepts one call at now unless a window is spent; it reports whether it did.
func (l *limiter) take(now time.Time) bool {
	now = now.Truncate(time.Second)
	l.prune(now)
	for _, lim := range l.limits {
		if len(l.calls)-l.inWindow(now, lim.Per) >= lim.N {
			return false
		}
	}
	i := sort.Search(len(l.calls), func(i int) bool { return l.calls[i].After(now) })
	l.calls = append(l.calls, time.Time{})
	copy(l.calls[i+1:], l.calls[i:])
	l.calls[i] = now
	return true
}

// state reports every window at now. Reset is when the oldest call of the window leaves it
// (when one more call fits), or now+Per for an empty window (unix seconds).
func (l *limiter) state(now time.Time) []windowState {
	now = now.Truncate(time.Second)
	out := make([]windowState, len(l.limits))
	for k, lim := range l.limits {
		i := l.inWindow(now, lim.Per)
		used := len(l.calls) - i
		reset := now.Add(lim.Per)
		if used > 0 {
			reset = l.calls[i].Add(lim.Per)
		}
		out[k] = windowState{used: used, remaining: max(lim.N-used, 0), reset: reset.Unix()}
	}
	return out
}

// spent reports every window as exhausted until until (the RateLimitedUntil fault).
func (l *limiter) spent(until time.Time) []windowState {
	out := make([]windowState, len(l.limits))
	for k, lim := range l.limits {
		out[k] = windowState{used: lim.N, remaining: 0, reset: ceilUnix(until)}
	}
	return out
}

func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// addRateHeaders writes one X-RateLimit, X-RateLimit-Remaining and X-RateLimit-Reset line per
// window, in window order (repeated header lines, as Mangopay sends them).
func addRateHeaders(h http.Header, ws []windowState) {
	for _, w := range ws {
		h.Add("X-RateLimit", strconv.Itoa(w.used))
		h.Add("X-RateLimit-Remaining", strconv.Itoa(w.remaining))
		h.Add("X-RateLimit-Reset", strconv.FormatInt(w.reset, 10))
	}
}
