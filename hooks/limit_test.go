package hooks_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/scaworker/scaworker/budget"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/hooks"
)

// TestSourceRateLimit: one address over SCA_HOOK_SOURCE_RATE gets 429 while the others
// keep storing; a flood from one address spends nothing of the process's budget beyond
// its own share, so Mangopay's hooks from another address still get 200. IPv6 sources are
// counted by /64.
func TestSourceRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{cfg: hooks.Config{
		Rate: enroll.Rate{N: 6, Per: time.Hour}, Burst: 6,
		SourceRate: enroll.Rate{N: 2, Per: time.Hour},
	}})
	now := time.Now()
	from := func(addr string) func(*http.Request) { return func(r *http.Request) { r.RemoteAddr = addr } }
	codes := map[int]int{}
	for i := range 50 {
		w := e.do(http.MethodGet, hooks.Path+"?"+query("SCA_ENROLLMENT_EXPIRED", "forged_"+strconv.Itoa(i), now), from("192.0.2.66:4000"))
		codes[w.Code]++
		if w.Code == http.StatusTooManyRequests {
			if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 {
				t.Fatalf("Retry-After = %q, want whole seconds", w.Header().Get("Retry-After"))
			}
		}
	}
	if codes[200] != 2 || codes[429] != 48 {
		t.Fatalf("flood from one address: status codes %v, want 2 × 200 and 48 × 429", codes)
	}
	for i := range 2 {
		if w := e.do(http.MethodGet, hooks.Path+"?"+query("SCA_ENROLLMENT_FAILED", "real_"+strconv.Itoa(i), now), from("203.0.113.9:4000")); w.Code != 200 {
			t.Fatalf("Mangopay's hook %d during the flood = %d, want 200", i, w.Code)
		}
	}
	// One IPv6 /64 is one source, whatever the host part.
	for i, addr := range []string{"[2001:db8:1:2::1]:1", "[2001:db8:1:2::ffff]:1", "[2001:db8:1:2:aaaa::3]:1"} {
		w := e.do(http.MethodGet, hooks.Path+"?"+query("SCA_ENROLLMENT_FAILED", "v6_"+strconv.Itoa(i), now), from(addr))
		if want := map[bool]int{true: 200, false: 429}[i < 2]; w.Code != want {
			t.Errorf("IPv6 hook %d from %s = %d, want %d", i, addr, w.Code, want)
		}
	}
	if n := e.stored(); n != 6 {
		t.Errorf("stored = %d, want 6", n)
	}
}

// TestSharedIngressBudget: two replicas of the ingress draw from one SCA_HOOK_RATE held in
// NATS KV (the budget package, under its own key): together they store at most the
// budget, and both store while it has room.
func TestSharedIngressBudget(t *testing.T) {
	t.Parallel()
	const budgetN = 4
	e := newEnv(t, envOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := budget.Bucket(ctx, e.JS, "sca_budget", 1)
	if err != nil {
		t.Fatal(err)
	}
	rate := enroll.Rate{N: budgetN, Per: time.Hour}
	var muxes []*http.ServeMux
	for i := range 2 {
		cfg := hooks.Config{Rate: fastRate, SourceRate: fastRate}
		h, err := hooks.New(cfg, hooks.Deps{Log: e.Log})
		if err != nil {
			t.Fatal(err)
		}
		h.Bind(hooks.NewStore(e.JS, e.kv, events.DefaultSubjects(), "SCA_EVENTS", nil))
		b, err := budget.Open(kv, budget.Config{Rate: rate, RequestTimeout: 1500 * time.Millisecond, Key: hooks.BudgetKey, Name: "replica-" + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		h.Share(b)
		mux := http.NewServeMux()
		h.Register(mux)
		muxes = append(muxes, mux)
	}
	now := time.Now()
	perReplica := map[int]int{}
	for i := range 16 {
		r := httptest.NewRequest(http.MethodGet, hooks.Path+"?"+query("SCA_ENROLLMENT_EXPIRED", "u"+strconv.Itoa(i), now), nil)
		w := httptest.NewRecorder()
		muxes[i%2].ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK:
			perReplica[i%2]++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("hook %d = %d, want 200 or 429", i, w.Code)
		}
	}
	if n := e.stored(); n != budgetN {
		t.Errorf("stored by both replicas = %d, want the shared budget %d", n, budgetN)
	}
	if perReplica[0] == 0 || perReplica[1] == 0 {
		t.Errorf("stored per replica = %v, want both to draw from the budget", perReplica)
	}
	// The Mangopay budget under the bucket's default key is untouched.
	if _, err := kv.Get(ctx, budget.DefaultKey); err == nil {
		t.Errorf("the ingress wrote the Mangopay budget's key %q", budget.DefaultKey)
	}
}
