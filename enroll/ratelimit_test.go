package enroll

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Rate
	}{
		{"1500/15m", Rate{N: 1500, Per: 15 * time.Minute}},
		{"10/1s", Rate{N: 10, Per: time.Second}},
		{"2300/15m", Rate{N: 2300, Per: 15 * time.Minute}},
		{"2300/15m0s", Rate{N: 2300, Per: 15 * time.Minute}},
		{" 5 / 1h ", Rate{N: 5, Per: time.Hour}},
		{"10/s", Rate{N: 10, Per: time.Second}},
		{"1/1.5s", Rate{N: 1, Per: 1500 * time.Millisecond}},
		{"105600/24h", Rate{N: 105600, Per: 24 * time.Hour}},
	}
	for _, tt := range tests {
		got, err := ParseRate(tt.in)
		if err != nil {
			t.Errorf("ParseRate(%q) error = %v, want nil", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseRate(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseRateRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", "1500", "/15m", "1500/", "0/15m", "-1/15m", "+5/1m", "1500/0s", "1500/-15m",
		"abc/15m", "15/abc", "1.5/1m", "1500/15m/2", "99999999999999999999999/1s", "1500 15m",
		"1500/15", "1e3/1m",
	} {
		got, err := ParseRate(in)
		if err == nil {
			t.Errorf("ParseRate(%q) = %+v, nil; want an error", in, got)
			continue
		}
		if !strings.Contains(err.Error(), strconv.Quote(in)) {
			t.Errorf("ParseRate(%q) error = %q, want it to name the input", in, err)
		}
	}
}

func TestRateStringRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		r    Rate
		want string
	}{
		{DefaultRate(), "1500/15m"},
		{Rate{N: 10, Per: time.Second}, "10/1s"},
		{Rate{N: 8800, Per: time.Hour}, "8800/1h"},
		{Rate{N: 3, Per: 90 * time.Second}, "3/1m30s"},
		{Rate{N: 3, Per: time.Hour + time.Second}, "3/1h0m1s"},
		{Rate{N: 7, Per: 250 * time.Millisecond}, "7/250ms"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.r, got, tt.want)
		}
		back, err := ParseRate(tt.r.String())
		if err != nil || back != tt.r {
			t.Errorf("ParseRate(%q) = %+v, %v; want %+v, nil", tt.r.String(), back, err, tt.r)
		}
	}
}

func TestDefaultRateIsAShareOfMangopayLimits(t *testing.T) {
	t.Parallel()
	r := DefaultRate()
	if r.N != 1500 || r.Per != 15*time.Minute {
		t.Fatalf("DefaultRate() = %v, want 1500/15m", r)
	}
	// The documented ceilings shared with the rest of the platform, per docs/mangopay.md, "Rate limits".
	for _, limit := range []Rate{{2300, 15 * time.Minute}, {4500, 30 * time.Minute}, {8800, time.Hour}} {
		if got := r.N * int(limit.Per/r.Per); got >= limit.N {
			t.Errorf("DefaultRate() allows %d per %v, want fewer than Mangopay's %d", got, limit.Per, limit.N)
		}
	}
}

// header builds an http.Header from name/value pairs, adding (not setting) each.
func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestParseRateLimit(t *testing.T) {
	t.Parallel()
	four := []Window{
		{Used: 6, Remaining: 2294, Reset: time.Unix(1711457340, 0)},
		{Used: 13, Remaining: 4487, Reset: time.Unix(1711458240, 0)},
		{Used: 13, Remaining: 8787, Reset: time.Unix(1711460040, 0)},
		{Used: 101, Remaining: 105499, Reset: time.Unix(1711540140, 0)},
	}
	tests := []struct {
		name string
		h    http.Header
		want []Window
	}{
		{"absent", http.Header{"Content-Type": {"application/json"}}, nil},
		{"nil header", nil, nil},
		{"repeated lines", header(
			"X-RateLimit", "6", "X-RateLimit-Remaining", "2294", "X-RateLimit-Reset", "1711457340",
			"X-RateLimit", "13", "X-RateLimit-Remaining", "4487", "X-RateLimit-Reset", "1711458240",
			"X-RateLimit", "13", "X-RateLimit-Remaining", "8787", "X-RateLimit-Reset", "1711460040",
			"X-RateLimit", "101", "X-RateLimit-Remaining", "105499", "X-RateLimit-Reset", "1711540140",
		), four},
		{"merged values", header(
			"X-RateLimit", "6, 13, 13, 101",
			"X-RateLimit-Remaining", "2294, 4487, 8787, 105499",
			"X-RateLimit-Reset", "1711457340,1711458240,\t1711460040 ,1711540140",
		), four},
		{"mixed layouts", header(
			"X-RateLimit", "6, 13", "X-RateLimit", "13", "X-RateLimit", "101",
			"X-RateLimit-Remaining", "2294", "X-RateLimit-Remaining", "4487, 8787, 105499",
			"X-RateLimit-Reset", "1711457340, 1711458240, 1711460040, 1711540140",
		), four},
		{"lowercase map keys", http.Header{
			"x-ratelimit":           {"6", "13, 13, 101"},
			"x-ratelimit-remaining": {"2294, 4487, 8787, 105499"},
			"X-RateLimit-Reset":     {"1711457340, 1711458240, 1711460040, 1711540140"},
		}, four},
		{"canonical and lowercase keys", http.Header{
			"X-Ratelimit":           {"6, 13"},
			"x-ratelimit":           {"13, 101"},
			"X-Ratelimit-Remaining": {"2294, 4487, 8787, 105499"},
			"X-Ratelimit-Reset":     {"1711457340, 1711458240, 1711460040, 1711540140"},
		}, four},
		{"three windows", header("X-RateLimit", "6, 15, 100", "X-RateLimit-Remaining", "0, 1, 2",
			"X-RateLimit-Reset", "10, 20, 30"), []Window{
			{Used: 6, Remaining: 0, Reset: time.Unix(10, 0)},
			{Used: 15, Remaining: 1, Reset: time.Unix(20, 0)},
			{Used: 100, Remaining: 2, Reset: time.Unix(30, 0)},
		}},
		{"one window", header("X-RateLimit", "1", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "5"),
			[]Window{{Used: 1, Remaining: 0, Reset: time.Unix(5, 0)}}},
	}
	for _, tt := range tests {
		got, err := ParseRateLimit(tt.h)
		if err != nil {
			t.Errorf("%s: ParseRateLimit() error = %v, want nil", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: ParseRateLimit() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParseRateLimitRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h    http.Header
	}{
		{"count mismatch", header("X-RateLimit", "6, 13", "X-RateLimit-Remaining", "1", "X-RateLimit-Reset", "1, 2")},
		{"reset missing", header("X-RateLimit", "6", "X-RateLimit-Remaining", "1")},
		{"only remaining", header("X-RateLimit-Remaining", "1")},
		{"negative remaining", header("X-RateLimit", "6", "X-RateLimit-Remaining", "-1", "X-RateLimit-Reset", "5")},
		{"plus sign", header("X-RateLimit", "+6", "X-RateLimit-Remaining", "1", "X-RateLimit-Reset", "5")},
		{"not a number", header("X-RateLimit", "six", "X-RateLimit-Remaining", "1", "X-RateLimit-Reset", "5")},
		{"float reset", header("X-RateLimit", "6", "X-RateLimit-Remaining", "1", "X-RateLimit-Reset", "5.0")},
		{"empty item", header("X-RateLimit", "6,,7", "X-RateLimit-Remaining", "1,2,3", "X-RateLimit-Reset", "5,6,7")},
		{"empty value", header("X-RateLimit", "", "X-RateLimit-Remaining", "", "X-RateLimit-Reset", "")},
		{"overflow", header("X-RateLimit", "6", "X-RateLimit-Remaining", "99999999999999999999999", "X-RateLimit-Reset", "5")},
		{"http-date reset", header("X-RateLimit", "6", "X-RateLimit-Remaining", "1", "X-RateLimit-Reset", "Tue, 19 Jul 2022 08:47:59 GMT")},
	}
	for _, tt := range tests {
		got, err := ParseRateLimit(tt.h)
		if err == nil {
			t.Errorf("%s: ParseRateLimit() = %v, nil; want an error", tt.name, got)
		}
	}
}

// FuzzParseRateLimit feeds three header values; '\n' separates the lines of one header (an
// empty string leaves it out) and lower stores them under lower-case map keys.
func FuzzParseRateLimit(f *testing.F) {
	f.Add("6\n13\n13\n101", "2294\n4487\n8787\n105499", "1711457340\n1711458240\n1711460040\n1711540140", false)
	f.Add("6, 13, 13, 101", "2294, 4487, 8787, 105499", "1711457340, 1711458240, 1711460040, 1711540140", true)
	f.Add("6, 15, 100", "0, 1, 2", "10, 20, 30", false)
	f.Add("", "", "", false)
	f.Add("1", "-1", "5", false)
	f.Fuzz(func(t *testing.T, used, remaining, reset string, lower bool) {
		h := http.Header{}
		for _, kv := range [][2]string{{"X-RateLimit", used}, {"X-RateLimit-Remaining", remaining}, {"X-RateLimit-Reset", reset}} {
			if kv[1] == "" {
				continue
			}
			key := http.CanonicalHeaderKey(kv[0])
			if lower {
				key = strings.ToLower(key)
			}
			h[key] = strings.Split(kv[1], "\n")
		}
		want := 0
		if used != "" {
			for line := range strings.SplitSeq(used, "\n") {
				want += strings.Count(line, ",") + 1
			}
		}
		got, err := ParseRateLimit(h)
		if err != nil {
			if got != nil {
				t.Errorf("ParseRateLimit() = %v with error %v, want nil", got, err)
			}
			return
		}
		if used == "" && remaining == "" && reset == "" {
			if got != nil {
				t.Errorf("ParseRateLimit(no headers) = %v, want nil", got)
			}
			return
		}
		if len(got) != want {
			t.Errorf("ParseRateLimit() gave %d windows, want %d (values in %q)", len(got), want, used)
		}
		for i, w := range got {
			if w.Remaining < 0 || w.Used < 0 || w.Reset.Unix() < 0 {
				t.Errorf("window %d = %+v, want no negative field", i, w)
			}
		}
	})
}

// fakeClock is a manual clock whose timers fire only when the test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []fakeTimer
	changed chan struct{} // signalled when a timer is added
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_700_000_000, 0), changed: make(chan struct{}, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), ch: ch})
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return ch
}

// Advance moves the clock forward and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if tm.at.After(c.now) {
			kept = append(kept, tm)
			continue
		}
		tm.ch <- c.now
	}
	c.timers = kept
}

func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// waitTimers waits until n timers are pending, that is, n goroutines sleep in Wait.
func (c *fakeClock) waitTimers(t *testing.T, n int) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for c.pending() < n {
		select {
		case <-c.changed:
		case <-deadline.C:
			t.Fatalf("pending timers = %d, want %d", c.pending(), n)
		}
	}
}

func newTestGovernor(budget Rate) (*Governor, *fakeClock) {
	c := newFakeClock()
	g := NewGovernor(budget, c.Now)
	g.after = c.After
	return g, c
}

// rateHeader renders windows as Mangopay does, one header line per window.
func rateHeader(ws ...Window) http.Header {
	h := http.Header{}
	for _, w := range ws {
		h.Add("X-RateLimit", strconv.Itoa(w.Used))
		h.Add("X-RateLimit-Remaining", strconv.Itoa(w.Remaining))
		h.Add("X-RateLimit-Reset", strconv.FormatInt(w.Reset.Unix(), 10))
	}
	return h
}

// mergedRateHeader renders windows as one comma-separated value per header.
func mergedRateHeader(ws ...Window) http.Header {
	var used, rem, reset []string
	for _, w := range ws {
		used = append(used, strconv.Itoa(w.Used))
		rem = append(rem, strconv.Itoa(w.Remaining))
		reset = append(reset, strconv.FormatInt(w.Reset.Unix(), 10))
	}
	return http.Header{
		"X-Ratelimit":           {strings.Join(used, ", ")},
		"X-Ratelimit-Remaining": {strings.Join(rem, ", ")},
		"X-Ratelimit-Reset":     {strings.Join(reset, ", ")},
	}
}

// startWait runs g.Wait in a goroutine; the channel receives its result.
func startWait(ctx context.Context, g *Governor) <-chan error {
	done := make(chan error, 1)
	go func() { done <- g.Wait(ctx) }()
	return done
}

func assertPending(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s: Wait returned %v, want it still blocked", what, err)
	default:
	}
}

func assertDone(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: Wait() = %v, want nil", what, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: Wait did not return", what)
	}
}

func TestGovernorSpentWindowBlocksUntilReset(t *testing.T) {
	t.Parallel()
	layouts := []struct {
		name   string
		render func(...Window) http.Header
	}{{"repeated lines", rateHeader}, {"merged values", mergedRateHeader}}
	for _, layout := range layouts {
		for _, status := range []int{http.StatusOK, http.StatusTooManyRequests} {
			t.Run(layout.name+"/"+strconv.Itoa(status), func(t *testing.T) {
				t.Parallel()
				g, c := newTestGovernor(Rate{})
				t0 := c.Now()
				ws := []Window{
					{Used: 2300, Remaining: 0, Reset: t0.Add(10 * time.Minute)},
					{Used: 2300, Remaining: 2200, Reset: t0.Add(20 * time.Minute)},
					{Used: 8800, Remaining: 0, Reset: t0.Add(40 * time.Minute)},
					{Used: 8800, Remaining: 96800, Reset: t0.Add(20 * time.Hour)},
				}
				g.Observe(status, layout.render(ws...))
				if got := g.Windows(); !reflect.DeepEqual(got, ws) {
					t.Fatalf("Windows() = %v, want %v", got, ws)
				}
				// Two windows are spent: a request needs room in both, so the later reset rules.
				want := t0.Add(40 * time.Minute)
				if got := g.BlockedUntil(); !got.Equal(want) {
					t.Fatalf("BlockedUntil() = %v, want %v", got, want)
				}
				done := startWait(t.Context(), g)
				c.waitTimers(t, 1)
				assertPending(t, done, "before any reset")
				c.Advance(10 * time.Minute) // the first spent window resets; the other is still spent
				c.waitTimers(t, 1)
				assertPending(t, done, "after the first reset")
				c.Advance(30*time.Minute - time.Second)
				assertPending(t, done, "one second before the last reset")
				c.Advance(time.Second)
				assertDone(t, done, "at the last reset")
				if got := c.Now(); got.Before(want) {
					t.Errorf("Wait returned at %v, before the reset %v", got, want)
				}
				if got := g.BlockedUntil(); !got.IsZero() {
					t.Errorf("BlockedUntil() after reset = %v, want zero", got)
				}
			})
		}
	}
}

func TestGovernorObserveRules(t *testing.T) {
	t.Parallel()
	type obs struct {
		status int
		h      func(t0 time.Time) http.Header
		at     time.Duration // clock offset from t0 at which it is observed
	}
	hdr := func(rem int, reset time.Duration) func(time.Time) http.Header {
		return func(t0 time.Time) http.Header {
			return rateHeader(Window{Used: 1, Remaining: rem, Reset: t0.Add(reset)})
		}
	}
	two := func(rem1 int, reset1 time.Duration, rem2 int, reset2 time.Duration) func(time.Time) http.Header {
		return func(t0 time.Time) http.Header {
			return rateHeader(Window{Remaining: rem1, Reset: t0.Add(reset1)}, Window{Remaining: rem2, Reset: t0.Add(reset2)})
		}
	}
	none := func(time.Time) http.Header { return nil }
	bad := func(time.Time) http.Header {
		return header("X-RateLimit", "1", "X-RateLimit-Remaining", "x", "X-RateLimit-Reset", "1")
	}
	tests := []struct {
		name string
		obs  []obs
		want time.Duration // BlockedUntil - t0 after the last observation; -1 = not blocked
	}{
		{"200 with room", []obs{{200, hdr(5, 15*time.Minute), 0}}, -1},
		{"200 without headers", []obs{{200, none, 0}}, -1},
		{"spent window in the past", []obs{{200, hdr(0, -time.Minute), 0}}, -1},
		{"spent window", []obs{{200, hdr(0, 15*time.Minute), 0}}, 15 * time.Minute},
		{"429 spent window", []obs{{429, hdr(0, 15*time.Minute), 0}}, 15 * time.Minute},
		{"429 no window spent: earliest future reset", []obs{{429, two(3, 30*time.Minute, 4, 15*time.Minute), 0}}, 15 * time.Minute},
		{"429 no window spent, one reset past", []obs{{429, two(3, -time.Minute, 4, 20*time.Minute), 0}}, 20 * time.Minute},
		{"429 all resets past: backoff", []obs{{429, two(0, -time.Minute, 4, -time.Second), 0}}, time.Second},
		{"429 malformed headers: backoff", []obs{{429, bad, 0}}, time.Second},
		{"429 headerless", []obs{{429, none, 0}}, time.Second},
		{"reset clamped to 24h", []obs{{200, hdr(0, 1000*time.Hour), 0}}, 24 * time.Hour},
		{"stale answer cannot lift a block", []obs{{200, hdr(0, 15*time.Minute), 0}, {200, hdr(100, 15*time.Minute), time.Second}}, 15 * time.Minute},
		{"block only grows", []obs{{200, hdr(0, 15*time.Minute), 0}, {429, hdr(0, 5*time.Minute), time.Second}}, 15 * time.Minute},
		{"later block extends", []obs{{200, hdr(0, 15*time.Minute), 0}, {200, hdr(0, time.Hour), time.Second}}, time.Hour},
		{"status 0 ignored", []obs{{0, hdr(0, 15*time.Minute), 0}}, -1},
		{"backoff and window: the later wins", []obs{{429, none, 0}, {200, hdr(0, time.Minute), 0}}, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, c := newTestGovernor(Rate{})
			t0 := c.Now()
			for _, o := range tt.obs {
				c.Advance(t0.Add(o.at).Sub(c.Now()))
				g.Observe(o.status, o.h(t0))
			}
			got := g.BlockedUntil()
			if tt.want < 0 {
				if !got.IsZero() {
					t.Errorf("BlockedUntil() = %v (t0%+v), want zero", got, got.Sub(t0))
				}
				return
			}
			if want := t0.Add(tt.want); !got.Equal(want) {
				t.Errorf("BlockedUntil() = t0%+v, want t0%+v", got.Sub(t0), tt.want)
			}
		})
	}
}

func TestGovernorHeaderless429Backoff(t *testing.T) {
	t.Parallel()
	g, c := newTestGovernor(Rate{})
	wantSeq := []time.Duration{
		time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second,
		64 * time.Second, 128 * time.Second, 256 * time.Second, 5 * time.Minute, 5 * time.Minute,
	}
	for i, want := range wantSeq {
		t0 := c.Now()
		g.Observe(http.StatusTooManyRequests, nil)
		if got := g.BlockedUntil().Sub(t0); got != want {
			t.Fatalf("429 #%d: blocked for %v, want %v", i+1, got, want)
		}
		// A 429 of a request sent before the block does not grow it again.
		g.Observe(http.StatusTooManyRequests, http.Header{})
		if got := g.BlockedUntil().Sub(t0); got != want {
			t.Fatalf("429 #%d repeated while blocked: blocked for %v, want %v", i+1, got, want)
		}
		c.Advance(want)
		if got := g.BlockedUntil(); !got.IsZero() {
			t.Fatalf("429 #%d: BlockedUntil() after %v = %v, want zero", i+1, want, got)
		}
	}
	g.Observe(http.StatusOK, nil) // a success resets the backoff
	t0 := c.Now()
	g.Observe(http.StatusTooManyRequests, nil)
	if got := g.BlockedUntil().Sub(t0); got != time.Second {
		t.Errorf("429 after a success: blocked for %v, want 1s", got)
	}
}

func TestGovernorBackoffBlocksWait(t *testing.T) {
	t.Parallel()
	g, c := newTestGovernor(Rate{})
	g.Observe(http.StatusTooManyRequests, nil)
	g.Observe(http.StatusOK, nil) // success resets the growth, not the block in force
	done := startWait(t.Context(), g)
	c.waitTimers(t, 1)
	assertPending(t, done, "during backoff")
	c.Advance(time.Second)
	assertDone(t, done, "after backoff")
}

func TestGovernorBudget(t *testing.T) {
	t.Parallel()
	const n, per, callers = 3, time.Minute, 10
	g, c := newTestGovernor(Rate{N: n, Per: per})
	t0 := c.Now()
	var (
		mu    sync.Mutex
		times []time.Time
	)
	results := make(chan error, callers)
	for range callers {
		go func() {
			err := g.Wait(t.Context())
			mu.Lock()
			times = append(times, c.Now())
			mu.Unlock()
			results <- err
		}()
	}
	receive := func(k int) {
		t.Helper()
		for range k {
			select {
			case err := <-results:
				if err != nil {
					t.Fatalf("Wait() = %v, want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("Wait did not return")
			}
		}
	}
	for left := callers; left > 0; left -= min(n, left) {
		receive(min(n, left))
		if left > n {
			c.waitTimers(t, left-n) // the rest sleep until a slot frees up
			select {
			case err := <-results:
				t.Fatalf("Wait() = %v before a slot freed up, want it blocked", err)
			default:
			}
			c.Advance(per)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(times, time.Time.Compare)
	for i := 0; i+n < len(times); i++ {
		if gap := times[i+n].Sub(times[i]); gap < per {
			t.Errorf("requests %d and %d were %v apart, want at least %v (at most %d per %v)", i, i+n, gap, per, n, per)
		}
	}
	if got, want := times[len(times)-1].Sub(t0), 3*per; got != want {
		t.Errorf("last request at t0+%v, want t0+%v", got, want)
	}
}

func TestGovernorBudgetSlides(t *testing.T) {
	t.Parallel()
	g, c := newTestGovernor(Rate{N: 2, Per: time.Minute})
	ctx := t.Context()
	for _, step := range []time.Duration{0, 30 * time.Second} {
		c.Advance(step)
		assertDone(t, startWait(ctx, g), "within budget")
	}
	// Two sent at t0 and t0+30s: the third waits for t0+1m, the fourth for t0+1m30s.
	done := startWait(ctx, g)
	c.waitTimers(t, 1)
	c.Advance(30*time.Second - time.Nanosecond)
	assertPending(t, done, "just before the first slot frees up")
	c.Advance(time.Nanosecond)
	assertDone(t, done, "when the first slot frees up")
	done = startWait(ctx, g)
	c.waitTimers(t, 1)
	assertPending(t, done, "second slot still taken")
	c.Advance(30 * time.Second)
	assertDone(t, done, "when the second slot frees up")
}

func TestGovernorWaitContext(t *testing.T) {
	t.Parallel()
	g, c := newTestGovernor(Rate{N: 1, Per: time.Hour})

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if err := g.Wait(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait(cancelled ctx) = %v, want context.Canceled", err)
	}
	// The cancelled Wait took no slot: this one passes at once.
	if err := g.Wait(t.Context()); err != nil {
		t.Fatalf("Wait() = %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := startWait(ctx, g)
	c.waitTimers(t, 1)
	assertPending(t, done, "budget spent")
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Wait() after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after cancel")
	}
}

func TestGovernorRealTimer(t *testing.T) {
	t.Parallel()
	const per = 20 * time.Millisecond
	g := NewGovernor(Rate{N: 1, Per: per}, nil)
	start := time.Now() // before the first slot is taken, so the bound below is exact
	for range 2 {
		if err := g.Wait(t.Context()); err != nil {
			t.Fatalf("Wait() = %v, want nil", err)
		}
	}
	// A lower bound only: the second request cannot leave before the first slot frees up.
	if got := time.Since(start); got < per {
		t.Errorf("second Wait returned after %v, want at least %v", got, per)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	g.Observe(http.StatusTooManyRequests, nil) // 1s backoff, longer than ctx
	if err := g.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait() during backoff = %v, want context.DeadlineExceeded", err)
	}
}

func TestGovernorWindowsIsACopy(t *testing.T) {
	t.Parallel()
	g, c := newTestGovernor(Rate{})
	if got := g.Windows(); got != nil {
		t.Fatalf("Windows() before any answer = %v, want nil", got)
	}
	w := Window{Used: 1, Remaining: 9, Reset: c.Now().Add(time.Minute)}
	g.Observe(http.StatusOK, rateHeader(w))
	got := g.Windows()
	got[0].Remaining = 0
	if again := g.Windows(); again[0] != w {
		t.Errorf("Windows() after mutating a copy = %v, want %v", again, []Window{w})
	}
	// Answers without (valid) headers keep the last windows.
	g.Observe(http.StatusOK, nil)
	g.Observe(http.StatusOK, header("X-RateLimit", "oops"))
	if again := g.Windows(); len(again) != 1 || again[0] != w {
		t.Errorf("Windows() after headerless answers = %v, want %v", again, []Window{w})
	}
}

func TestGovernorConcurrent(t *testing.T) {
	t.Parallel()
	g := NewGovernor(Rate{N: 1 << 20, Per: time.Hour}, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				if err := g.Wait(t.Context()); err != nil {
					t.Errorf("Wait() = %v, want nil", err)
					return
				}
				reset := time.Now().Add(time.Hour)
				g.Observe(http.StatusOK, rateHeader(Window{Used: i, Remaining: 1 + j, Reset: reset}))
				_ = g.BlockedUntil()
				if ws := g.Windows(); len(ws) != 1 {
					t.Errorf("Windows() = %v, want one window", ws)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := g.BlockedUntil(); !got.IsZero() {
		t.Errorf("BlockedUntil() = %v, want zero (no window spent)", got)
	}
}

func TestNewGovernorWithoutBudget(t *testing.T) {
	t.Parallel()
	for _, r := range []Rate{{}, {N: -1, Per: time.Second}, {N: 5, Per: 0}} {
		g, _ := newTestGovernor(r)
		for i := range 100 {
			done := startWait(t.Context(), g)
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("budget %+v: Wait #%d = %v, want nil", r, i, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("budget %+v: Wait #%d blocked, want no client-side budget", r, i)
			}
		}
	}
}

func BenchmarkGovernorWait(b *testing.B) {
	g := NewGovernor(Rate{N: 1 << 30, Per: time.Second}, nil)
	ctx := context.Background()
	for b.Loop() {
		if err := g.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRateLimit(b *testing.B) {
	h := rateHeader(
		Window{6, 2294, time.Unix(1711457340, 0)}, Window{13, 4487, time.Unix(1711458240, 0)},
		Window{13, 8787, time.Unix(1711460040, 0)}, Window{101, 105499, time.Unix(1711540140, 0)},
	)
	for b.Loop() {
		if _, err := ParseRateLimit(h); err != nil {
			b.Fatal(err)
		}
	}
}

// sharedRecorder is a SharedBudget that hands out tokens while it has some and records the
// blocks told to it.
type sharedRecorder struct {
	mu      sync.Mutex
	tokens  int
	taken   int
	blocks  []time.Time
	blocked time.Time
}

func (s *sharedRecorder) Take(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == 0 {
		return errors.New("no token")
	}
	s.tokens--
	s.taken++
	return nil
}

func (s *sharedRecorder) Block(until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocks = append(s.blocks, until)
}

func (s *sharedRecorder) BlockedUntil() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blocked
}

// TestGovernorDrawsFromTheSharedBudget: every request takes a shared token as well as a
// local slot; without a shared token nothing is sent.
func TestGovernorDrawsFromTheSharedBudget(t *testing.T) {
	t.Parallel()
	g, _ := newTestGovernor(Rate{N: 10, Per: time.Minute})
	shared := &sharedRecorder{tokens: 2}
	g.Share(shared)
	for i := range 2 {
		if err := g.Wait(t.Context()); err != nil {
			t.Fatalf("Wait %d = %v", i, err)
		}
	}
	if err := g.Wait(t.Context()); err == nil {
		t.Fatal("Wait without a shared token = nil, want the shared budget's refusal")
	}
	if shared.taken != 2 {
		t.Errorf("shared tokens taken = %d, want 2", shared.taken)
	}
	g.mu.Lock()
	sent := len(g.sent)
	g.mu.Unlock()
	if sent != 2 {
		t.Errorf("local slots taken = %d, want 2 (one per request sent)", sent)
	}
}

// TestGovernorSharesBlocks: a spent window or a headerless 429 seen here is told to the
// shared budget once, and a block told by another process stops this one.
func TestGovernorSharesBlocks(t *testing.T) {
	t.Parallel()
	g, c := newTestGovernor(Rate{})
	shared := &sharedRecorder{tokens: 100}
	g.Share(shared)
	t0 := c.Now()
	reset := t0.Add(5 * time.Minute)
	g.Observe(http.StatusOK, rateHeader(Window{Used: 10, Remaining: 0, Reset: reset}))
	g.Observe(http.StatusOK, rateHeader(Window{Used: 10, Remaining: 0, Reset: reset})) // same block: not told again
	g.Observe(http.StatusTooManyRequests, nil)                                         // inside the block: a 1s backoff ends earlier
	if want := []time.Time{reset}; !slices.EqualFunc(shared.blocks, want, time.Time.Equal) {
		t.Errorf("blocks told = %v, want %v", shared.blocks, want)
	}

	other, oc := newTestGovernor(Rate{})
	remote := &sharedRecorder{tokens: 100, blocked: oc.Now().Add(time.Minute)}
	other.Share(remote)
	if got := other.BlockedUntil(); !got.Equal(remote.blocked) {
		t.Fatalf("BlockedUntil() = %v, want the other process's block %v", got, remote.blocked)
	}
	done := startWait(t.Context(), other)
	oc.waitTimers(t, 1)
	assertPending(t, done, "during the other process's block")
	oc.Advance(time.Minute)
	assertDone(t, done, "after the other process's block")
	if len(remote.blocks) != 0 {
		t.Errorf("blocks told = %v, want none: the block came from elsewhere", remote.blocks)
	}
}
