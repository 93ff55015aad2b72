package hooks_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/hooks"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

const secret = "s3cr3t-Path_Segment.0123456789"

// TestSameHook100Times: Mangopay's resends, one after the other and all at once, store
// one trigger and yield one link.
func TestSameHook100Times(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{consumer: true})
	date := time.Now().Add(-time.Minute)
	for _, tc := range []struct {
		name, user string
		concurrent bool
	}{
		{"sequential", mangosim.UserOwnerNatural, false},
		{"concurrent", mangosim.UserOwnerNatural2, true},
	} {
		target := hooks.Path + "?" + query("SCA_ENROLLMENT_EXPIRED", tc.user, date)
		codes := make([]int, 100)
		if tc.concurrent {
			var wg sync.WaitGroup
			for i := range codes {
				wg.Go(func() { codes[i] = e.get(target).Code })
			}
			wg.Wait()
		} else {
			for i := range codes {
				codes[i] = e.get(target).Code
			}
		}
		for i, c := range codes {
			if c != http.StatusOK {
				t.Fatalf("%s: hook %d = %d, want 200", tc.name, i, c)
			}
		}
		id := events.HookID("SCA_ENROLLMENT_EXPIRED", tc.user, strconv.FormatInt(date.Unix(), 10))
		if m, ok := e.marker(id); !ok || m.By != hooks.ByWebhook || m.StoredAt.IsZero() {
			t.Errorf("%s: marker = %+v, %v; want one by webhook", tc.name, m, ok)
		}
		if got := e.OutcomeFor(id); got.Outcome != events.OutcomeLink || got.UserID != tc.user {
			t.Errorf("%s: outcome = %+v, want a link for %s", tc.name, got, tc.user)
		}
	}
	e.Settled()
	if n := e.stored(); n != 2 {
		t.Errorf("stored triggers = %d, want 2 (one per hook)", n)
	}
	if n := e.StreamMsgs("SCA_LINKS"); n != 2 {
		t.Errorf("links = %d, want 2 (one per hook)", n)
	}
	if n := e.Sim.Count("POST", "/enrollment"); n != 2 {
		t.Errorf("enrollment POSTs = %d, want 2", n)
	}
	if got, want := e.count(hooks.ResultStored), 2.0; got != want {
		t.Errorf("stored count = %v, want %v", got, want)
	}
	if got, want := e.count(hooks.ResultDuplicate), 198.0; got != want {
		t.Errorf("duplicate count = %v, want %v", got, want)
	}
	var infos int
	for _, l := range e.Logs.FilterMessage("hook stored").All() {
		infos++
		if f := l.ContextMap(); f["event_id"] == "" || f["user_id"] == "" {
			t.Errorf("hook stored log lacks event_id or user_id: %v", f)
		}
	}
	if infos != 2 {
		t.Errorf("hook stored logs = %d, want 2", infos)
	}
}

// TestStalledJetStream: while JetStream does not answer, a hook waits until the store
// deadline and gets 503 (nothing stored, no marker); after JetStream is back, Mangopay's
// resend is stored and yields one link.
func TestStalledJetStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{consumer: true, cfg: hooks.Config{StoreTimeout: 300 * time.Millisecond}})
	if err := e.Server.DisableJetStream(); err != nil {
		t.Fatalf("DisableJetStream: %v", err)
	}
	target := hooks.Path + "?" + query("SCA_ENROLLMENT_FAILED", mangosim.UserOwnerNatural, time.Now().Add(-time.Minute))
	w := e.get(target)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("hook while JetStream is stalled = %d %q, want 503", w.Code, w.Body.String())
	}
	warns := e.Logs.FilterMessage("hook not stored; Mangopay will resend").All()
	if len(warns) != 1 || !strings.Contains(warns[0].ContextMap()["error"].(string), "deadline") {
		t.Errorf("503 warn logs = %v, want one naming the deadline", warns)
	}
	if got := e.count(hooks.ResultUnavailable); got != 1 {
		t.Errorf("unavailable count = %v, want 1", got)
	}

	if err := e.Server.EnableJetStream(e.jsCfg); err != nil {
		t.Fatalf("EnableJetStream: %v", err)
	}
	testworld.WaitFor(t, "JetStream back", 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := e.JS.Stream(ctx, "SCA_EVENTS")
		return err == nil
	})
	if n, k := e.stored(), len(e.markers()); n != 0 || k != 0 {
		t.Fatalf("after the 503: %d stored, %d markers; want nothing", n, k)
	}
	// Mangopay resends; JetStream answers again (the first resend may still meet a
	// JetStream that is coming up: a 503 again, and Mangopay resends again).
	var code int
	testworld.WaitFor(t, "a resend to be stored", 20*time.Second, func() bool {
		code = e.get(target).Code
		return code == http.StatusOK
	})
	id := events.HookID("SCA_ENROLLMENT_FAILED", mangosim.UserOwnerNatural, target[strings.LastIndex(target, "=")+1:])
	if got := e.OutcomeFor(id); got.Outcome != events.OutcomeLink {
		t.Errorf("outcome after the resend = %+v, want link", got)
	}
	e.get(target) // one more resend: a duplicate
	e.Settled()
	if n := e.stored(); n != 1 {
		t.Errorf("stored triggers = %d, want 1", n)
	}
	if n := e.StreamMsgs("SCA_LINKS"); n != 1 {
		t.Errorf("links = %d, want 1", n)
	}
}

// TestPublishedButNotMarked: a crash between publish and marker leaves a stored trigger
// without a marker; the resend is not stored twice, and gets its marker.
func TestPublishedButNotMarked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	date := time.Now().Add(-time.Minute).Truncate(time.Second)
	typ, id, body, err := events.EncodeHookEvent("SCA_ENROLLMENT_SUCCEEDED", "u1", date, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := events.DefaultSubjects().SubjectFor(typ)
	e.Publish(subj, body, id)
	if w := e.get(hooks.Path + "?" + query("SCA_ENROLLMENT_SUCCEEDED", "u1", date)); w.Code != http.StatusOK {
		t.Fatalf("resend = %d, want 200", w.Code)
	}
	if n := e.stored(); n != 1 {
		t.Errorf("stored = %d, want 1 (JetStream dropped the copy)", n)
	}
	if _, ok := e.marker(id); !ok {
		t.Error("no marker after the resend")
	}
	if got := e.count(hooks.ResultDuplicate); got != 1 {
		t.Errorf("duplicate count = %v, want 1", got)
	}
}

// TestMalformedStoresNothing: every malformed request gets its status code and stores
// nothing.
func TestMalformedStoresNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	now := time.Now()
	ok := strconv.FormatInt(now.Add(-time.Minute).Unix(), 10)
	day := int64(86400)
	long := strings.Repeat("a", 128)
	for _, tc := range []struct {
		name, query string
		want        int
	}{
		{"no query", "", 400},
		{"EventType missing", "RessourceId=u&Date=" + ok, 400},
		{"EventType empty", "EventType=&RessourceId=u&Date=" + ok, 400},
		{"EventType repeated", "EventType=SCA_ENROLLMENT_FAILED&EventType=SCA_ENROLLMENT_FAILED&RessourceId=u&Date=" + ok, 400},
		{"unknown type ignored", "EventType=PAYIN_NORMAL_SUCCEEDED&RessourceId=u&Date=" + ok, 200},
		{"RessourceId missing", "EventType=SCA_ENROLLMENT_FAILED&Date=" + ok, 400},
		{"RessourceId empty", "EventType=SCA_ENROLLMENT_FAILED&RessourceId=&Date=" + ok, 400},
		{"RessourceId 129 chars", "EventType=SCA_ENROLLMENT_FAILED&RessourceId=" + long + "a&Date=" + ok, 400},
		{"RessourceId bad chars", "EventType=SCA_ENROLLMENT_FAILED&RessourceId=u%2F..%2Ftoken&Date=" + ok, 400},
		{"RessourceId repeated", "EventType=SCA_ENROLLMENT_FAILED&RessourceId=u&RessourceId=v&Date=" + ok, 400},
		{"Date missing", "EventType=SCA_ENROLLMENT_FAILED&RessourceId=u", 400},
		{"Date empty", "EventType=SCA_ENROLLMENT_FAILED&RessourceId=u&Date=", 400},
		{"Date non-numeric", "EventType=SCA_ENROLLMENT_FAILED&RessourceId=u&Date=today", 400},
		{"Date fractional", "EventType=SCA_ENROLLMENT_FAILED&RessourceId=u&Date=" + ok + ".0", 400},
		{"Date repeated", "EventType=SCA_ENROLLMENT_FAILED&RessourceId=u&Date=" + ok + "&Date=" + ok, 400},
		{"Date 45 days and a minute old", "EventType=SCA_ENROLLMENT_FAILED&RessourceId=u&Date=" + strconv.FormatInt(now.Unix()-45*day-60, 10), 400},
		{"Date 6 minutes ahead", "EventType=SCA_ENROLLMENT_FAILED&RessourceId=u&Date=" + strconv.FormatInt(now.Unix()+360, 10), 400},
		{"bad escape", "EventType=SCA_ENROLLMENT_FAILED&RessourceId=u%zz&Date=" + ok, 400},
		{"semicolon", "EventType=SCA_ENROLLMENT_FAILED;RessourceId=u&Date=" + ok, 400},
		{"target over 2 KiB", "EventType=SCA_ENROLLMENT_FAILED&RessourceId=u&Date=" + ok + "&pad=" + strings.Repeat("x", 2048), 414},
	} {
		if w := e.get(hooks.Path + "?" + tc.query); w.Code != tc.want {
			t.Errorf("%s: status = %d %q, want %d", tc.name, w.Code, w.Body.String(), tc.want)
		}
	}
	if n, k := e.stored(), len(e.markers()); n != 0 || k != 0 {
		t.Errorf("after malformed hooks: %d stored, %d markers; want none", n, k)
	}
	if got := e.count(hooks.ResultIgnored); got != 1 {
		t.Errorf("ignored count = %v, want 1", got)
	}
	if got := e.count(hooks.ResultRejected); got != 19 {
		t.Errorf("rejected count = %v, want 19", got)
	}
	// The boundaries themselves are accepted.
	for _, d := range []int64{now.Unix() - 45*day + 60, now.Unix() + 240} {
		q := "EventType=SCA_ENROLLMENT_FAILED&RessourceId=" + long + "&Date=" + strconv.FormatInt(d, 10)
		if w := e.get(hooks.Path + "?" + q); w.Code != http.StatusOK {
			t.Errorf("date %d: status = %d, want 200", d, w.Code)
		}
	}
	if n := e.stored(); n != 2 {
		t.Errorf("stored = %d, want 2", n)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{cfg: hooks.Config{Secret: secret}})
	q := "?" + query("SCA_ENROLLMENT_FAILED", "u", time.Now())
	for _, m := range []string{http.MethodPost, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions} {
		for _, path := range []string{hooks.Path + "/" + secret, hooks.Path + "/wrong", hooks.Path} {
			w := e.do(m, path+q, nil)
			if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodGet {
				t.Errorf("%s %s = %d, Allow %q; want 405, GET", m, hooks.RedactPath(path), w.Code, w.Header().Get("Allow"))
			}
		}
	}
	if n := e.stored(); n != 0 {
		t.Errorf("stored = %d, want 0", n)
	}
}

func TestSecretPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{cfg: hooks.Config{Secret: secret}})
	q := "?" + query("SCA_ENROLLMENT_FAILED", "u", time.Now())
	for _, path := range []string{
		hooks.Path, hooks.Path + "/", hooks.Path + "/wrong", hooks.Path + "/" + secret + "x",
		hooks.Path + "/" + secret[:len(secret)-1], hooks.Path + "/" + secret + "/", hooks.Path + "/" + secret + "/x",
		hooks.Path + "/" + strings.ToUpper(secret),
	} {
		if w := e.get(path + q); w.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, w.Code)
		}
	}
	if n := e.stored(); n != 0 {
		t.Errorf("stored = %d, want 0", n)
	}
	if w := e.get(hooks.Path + "/" + secret + q); w.Code != http.StatusOK {
		t.Fatalf("GET with the secret = %d, want 200", w.Code)
	}
	if n := e.stored(); n != 1 {
		t.Errorf("stored = %d, want 1", n)
	}
	if strings.Contains(e.LogText(), secret) {
		t.Errorf("logs carry the secret path segment:\n%s", e.LogText())
	}
	if got := hooks.RedactPath(hooks.Path + "/" + secret); strings.Contains(got, secret) {
		t.Errorf("RedactPath() = %q", got)
	}

	// Without a secret, only the bare path works.
	e2 := newEnv(t, envOpts{})
	for path, want := range map[string]int{hooks.Path: 200, hooks.Path + "/": 404, hooks.Path + "/" + secret: 404} {
		if w := e2.get(path + q); w.Code != want {
			t.Errorf("no secret: GET %s = %d, want %d", path, w.Code, want)
		}
	}
}

func TestAllowCIDRs(t *testing.T) {
	t.Parallel()
	cidrs, err := hooks.ParseCIDRs([]string{"203.0.113.0/24", " 2001:db8:1::/48", "198.51.100.7"})
	if err != nil {
		t.Fatal(err)
	}
	q := hooks.Path + "?" + query("SCA_ENROLLMENT_FAILED", "u", time.Now())
	proxies, err := hooks.ParseCIDRs([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	peer := func(addr string) func(*http.Request) { return func(r *http.Request) { r.RemoteAddr = addr } }
	xff := func(peerAddr string, lines ...string) func(*http.Request) {
		return func(r *http.Request) {
			r.RemoteAddr = peerAddr
			for _, l := range lines {
				r.Header.Add("X-Forwarded-For", l)
			}
		}
	}
	t.Run("TCP peer", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{cfg: hooks.Config{AllowCIDRs: cidrs}})
		for _, tc := range []struct {
			name string
			mod  func(*http.Request)
			want int
		}{
			{"in v4 range", peer("203.0.113.9:5000"), 200},
			{"single address", peer("198.51.100.7:5000"), 200},
			{"v4-mapped v6", peer("[::ffff:203.0.113.9]:5000"), 200},
			{"in v6 range", peer("[2001:db8:1:2::3]:5000"), 200},
			{"outside", peer("192.0.2.10:5000"), 403},
			{"next address", peer("198.51.100.8:5000"), 403},
			{"outside v6", peer("[2001:db8:2::1]:5000"), 403},
			{"header ignored without the setting", xff("192.0.2.10:5000", "203.0.113.9"), 403},
			{"unreadable peer", peer("pipe"), 403},
		} {
			if w := e.do(http.MethodGet, q, tc.mod); w.Code != tc.want {
				t.Errorf("%s: status = %d, want %d", tc.name, w.Code, tc.want)
			}
		}
	})
	t.Run("trusted header", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{cfg: hooks.Config{AllowCIDRs: cidrs, ClientIPHeader: "X-Forwarded-For", TrustedProxies: proxies}})
		proxy := "10.0.0.2:5000" // the proxy's own address: not allowed, never used
		for _, tc := range []struct {
			name string
			mod  func(*http.Request)
			want int
		}{
			{"right-most allowed", xff(proxy, "203.0.113.9"), 200},
			{"right-most of a list", xff(proxy, "192.0.2.99, 203.0.113.9"), 200},
			{"spoofed left entry", xff(proxy, "203.0.113.9, 192.0.2.99"), 403},
			{"last line wins", xff(proxy, "203.0.113.9", "192.0.2.99"), 403},
			{"last line, allowed", xff(proxy, "192.0.2.99", "10.1.1.1, 203.0.113.9"), 200},
			{"with port", xff(proxy, "203.0.113.9:443"), 200},
			{"v6 with port", xff(proxy, "[2001:db8:1::9]:443"), 200},
			{"trusted proxy without the header", peer(proxy), 403},
			{"direct allowed peer without the header", peer("203.0.113.9:5000"), 200},
			{"garbage", xff(proxy, "unknown"), 403},
			{"empty last entry", xff(proxy, "203.0.113.9, "), 403},
			{"chain of trusted proxies", xff(proxy, "192.0.2.99, 203.0.113.9, 10.9.9.9"), 200},
			{"spoofed behind a chain", xff(proxy, "203.0.113.9, 192.0.2.99, 10.9.9.9"), 403},
			// A client that reaches the listener directly cannot claim an allowed address.
			{"direct peer claiming an allowed address", xff("192.0.2.10:5000", "203.0.113.9"), 403},
			{"direct allowed peer, header ignored", xff("203.0.113.9:5000", "192.0.2.99"), 200},
		} {
			if w := e.do(http.MethodGet, q, tc.mod); w.Code != tc.want {
				t.Errorf("%s: status = %d, want %d", tc.name, w.Code, tc.want)
			}
		}
		if n := e.stored(); n != 1 { // every 200 above is the same hook
			t.Errorf("stored = %d, want 1", n)
		}
	})
}

func TestParseCIDRs(t *testing.T) {
	t.Parallel()
	got, err := hooks.ParseCIDRs([]string{"10.1.2.3/8", "", "::ffff:192.0.2.0/120", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::1/128")}
	if len(got) != len(want) {
		t.Fatalf("ParseCIDRs() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("ParseCIDRs()[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.0/", "::ffff:1.2.3.4/64"} {
		if _, err := hooks.ParseCIDRs([]string{bad}); err == nil {
			t.Errorf("ParseCIDRs(%q) = nil error", bad)
		}
	}
}

// TestRateLimit: past the burst, hooks that would be stored get 429 with Retry-After; the
// The documented checks keep their status codes.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{cfg: hooks.Config{Rate: enroll.Rate{N: 3, Per: time.Hour}, Burst: 3}})
	now := time.Now()
	for i := range 3 {
		if w := e.get(hooks.Path + "?" + query("SCA_ENROLLMENT_FAILED", "u"+strconv.Itoa(i), now)); w.Code != http.StatusOK {
			t.Fatalf("hook %d = %d, want 200", i, w.Code)
		}
	}
	w := e.get(hooks.Path + "?" + query("SCA_ENROLLMENT_FAILED", "u9", now))
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("hook over the burst = %d, want 429", w.Code)
	}
	if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 1200 {
		t.Errorf("Retry-After = %q, want 1..1200 seconds", w.Header().Get("Retry-After"))
	}
	for q, want := range map[string]int{
		"":                        400,
		"EventType=KYC_SUCCEEDED": 200,
		query("SCA_ENROLLMENT_FAILED", "u/x", now): 400,
	} {
		if w := e.get(hooks.Path + "?" + q); w.Code != want {
			t.Errorf("while limited, %q = %d, want %d", q, w.Code, want)
		}
	}
	if w := e.do(http.MethodPost, hooks.Path, nil); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("while limited, POST = %d, want 405", w.Code)
	}
	if n := e.stored(); n != 3 {
		t.Errorf("stored = %d, want 3", n)
	}
	if got := e.count(hooks.ResultRateLimited); got != 1 {
		t.Errorf("rate_limited count = %v, want 1", got)
	}
}

// TestRateLimitProtectsQuota: a flood of forged hooks (valid-looking, unknown users) is
// stored only up to the ingress's limit, so the consumer's Mangopay calls stay bounded
// by it.
func TestRateLimitProtectsQuota(t *testing.T) {
	t.Parallel()
	const burst = 5
	e := newEnv(t, envOpts{consumer: true, cfg: hooks.Config{Rate: enroll.Rate{N: 1, Per: time.Hour}, Burst: burst}})
	now := time.Now()
	codes := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			c := e.get(hooks.Path + "?" + query("SCA_ENROLLMENT_EXPIRED", "forged_"+strconv.Itoa(i), now)).Code
			mu.Lock()
			codes[c]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[200] != burst || codes[429] != 200-burst {
		t.Fatalf("status codes = %v, want %d × 200 and %d × 429", codes, burst, 200-burst)
	}
	testworld.WaitFor(t, "outcomes of the stored hooks", 20*time.Second, func() bool { return len(e.Outcomes()) >= burst })
	e.Settled()
	if n := e.stored(); n != burst {
		t.Errorf("stored = %d, want %d", n, burst)
	}
	// Each stored expiry costs at most sca-status + enrollment.
	calls := e.Sim.Count("GET", "/sca-status") + e.Sim.Count("POST", "/enrollment")
	if calls > 2*burst {
		t.Errorf("Mangopay calls = %d, want at most %d", calls, 2*burst)
	}
}

func TestNotBoundAnswers503(t *testing.T) {
	t.Parallel()
	h, err := hooks.New(hooks.Config{}, hooks.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, hooks.Path+"?"+query("SCA_ENROLLMENT_FAILED", "u", time.Now()), nil))
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("unbound handler = %d, want 503", w.Code)
	}
}

// TestRealServer: through an HTTP server with the ingress's limits: a request with a huge
// header is refused by the server itself, and a normal hook works.
func TestRealServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	srv := httptest.NewUnstartedServer(e.mux)
	srv.Config.MaxHeaderBytes = 8 << 10
	srv.Config.ReadHeaderTimeout = 5 * time.Second
	srv.Start()
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL + hooks.Path + "?" + query("SCA_ENROLLMENT_SUCCEEDED", "u1", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("GET = %d %q, want 200 text/plain", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, err = srv.Client().Get(srv.URL + hooks.Path + "?" + strings.Repeat("x", 4096))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestURITooLong {
		t.Errorf("4 KiB target = %d, want 414", resp.StatusCode)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  hooks.Config
		want string
	}{
		{"short secret", hooks.Config{Secret: "short"}, "SCA_HOOK_SECRET"},
		{"secret with slash", hooks.Config{Secret: "0123456789/abcdefgh"}, "SCA_HOOK_SECRET"},
		{"bad header", hooks.Config{ClientIPHeader: "X Forwarded"}, "SCA_HOOK_CLIENT_IP_HEADER"},
		{"zero burst", hooks.Config{Burst: -1}, "SCA_HOOK_BURST"},
		{"store timeout 2s", hooks.Config{StoreTimeout: 2 * time.Second}, "SCA_HOOK_STORE_TIMEOUT"},
		{"bad rate", hooks.Config{Rate: enroll.Rate{N: 0, Per: time.Second}}, "SCA_HOOK_RATE"},
		{"bad source rate", hooks.Config{SourceRate: enroll.Rate{N: -1, Per: time.Second}}, "SCA_HOOK_SOURCE_RATE"},
		{"header without trusted proxies", hooks.Config{ClientIPHeader: "X-Forwarded-For"}, "SCA_HOOK_TRUSTED_PROXIES"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error naming %s", tc.name, err, tc.want)
		}
	}
	if err := (hooks.Config{Secret: secret}).Validate(); err != nil {
		t.Errorf("Validate() = %v for a good config", err)
	}
}

// TestOnResult: the callback sees every request's result, once, as the metrics count it.
func TestOnResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{cfg: hooks.Config{Rate: enroll.Rate{N: 3, Per: time.Hour}, Burst: 3}})
	var mu sync.Mutex
	var got []string
	e.h.OnResult(func(r string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r)
	})
	now := time.Now()
	hook := hooks.Path + "?" + query("SCA_ENROLLMENT_FAILED", "u1", now)
	store := hooks.NewStore(e.JS, e.kv, events.DefaultSubjects(), "SCA_EVENTS", nil)
	for _, step := range []struct {
		do   func() *httptest.ResponseRecorder
		code int
	}{
		{func() *httptest.ResponseRecorder { return e.get(hook) }, http.StatusOK},
		{func() *httptest.ResponseRecorder { return e.get(hook) }, http.StatusOK},
		{func() *httptest.ResponseRecorder { return e.get(hooks.Path + "?EventType=KYC_SUCCEEDED") }, http.StatusOK},
		{func() *httptest.ResponseRecorder { return e.do(http.MethodPost, hooks.Path, nil) }, http.StatusMethodNotAllowed},
		{func() *httptest.ResponseRecorder {
			e.h.Bind(nil)
			defer e.h.Bind(store)
			return e.get(hooks.Path + "?" + query("SCA_ENROLLMENT_FAILED", "u2", now))
		}, http.StatusServiceUnavailable},
		{func() *httptest.ResponseRecorder {
			return e.get(hooks.Path + "?" + query("SCA_ENROLLMENT_FAILED", "u3", now))
		}, http.StatusTooManyRequests},
	} {
		if w := step.do(); w.Code != step.code {
			t.Fatalf("status = %d %q, want %d", w.Code, w.Body.String(), step.code)
		}
	}
	e.h.OnResult(nil)
	if w := e.get(hook); w.Code != http.StatusTooManyRequests {
		t.Fatalf("after OnResult(nil): status = %d, want 429", w.Code)
	}
	mu.Lock()
	defer mu.Unlock()
	if g, w := strings.Join(got, " "), strings.Join(hooks.Results(), " "); g != w {
		t.Errorf("results seen = %q, want %q (each once, in request order)", g, w)
	}
}
