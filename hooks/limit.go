package hooks

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/scaworker/scaworker/enroll"
)

// SharedBudget is the deployment's ingress budget (SCA_HOOK_RATE), drawn from by every
// replica together (package budget implements it over NATS KV). Take returns nil when a
// hook may be stored now; it returns ctx's error when the budget has no room before ctx
// ends (or cannot be reached: a replica cut off from NATS stores nothing anyway).
type SharedBudget interface {
	Take(ctx context.Context) error
}

// BudgetKey is the key of the budget bucket (SCA_BUDGET_BUCKET) under which the
// deployment's ingress budget is kept, beside the Mangopay budget.
const BudgetKey = "hooks"

// maxSources bounds the per-source buckets kept in memory; past it, idle (full) buckets
// are dropped, then arbitrary ones (a dropped source starts again with a full bucket: the
// shared budget still bounds the total).
const maxSources = 4096

// sourceLimits is the per-source token buckets: one per client address, IPv6 addresses
// grouped by /64 (one host usually holds a whole /64).
type sourceLimits struct {
	every rate.Limit
	burst int

	mu sync.Mutex
	m  map[netip.Addr]*rate.Limiter
}

func newSourceLimits(r enroll.Rate) *sourceLimits {
	return &sourceLimits{
		every: rate.Limit(float64(r.N) / r.Per.Seconds()),
		burst: r.N,
		m:     map[netip.Addr]*rate.Limiter{},
	}
}

// sourceKey is the bucket of a: the address itself for IPv4, its /64 for IPv6.
func sourceKey(a netip.Addr) netip.Addr {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// reserve reserves one token of a's bucket at now.
func (s *sourceLimits) reserve(a netip.Addr, now time.Time) *rate.Reservation {
	k := sourceKey(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.m[k]
	if !ok {
		if len(s.m) >= maxSources {
			s.evictLocked(now)
		}
		l = rate.NewLimiter(s.every, s.burst)
		s.m[k] = l
	}
	return l.ReserveN(now, 1)
}

// evictLocked drops the full buckets (they behave as new ones), and when none is full, an
// arbitrary tenth of them.
func (s *sourceLimits) evictLocked(now time.Time) {
	for k, l := range s.m {
		if l.TokensAt(now) >= float64(s.burst) {
			delete(s.m, k)
		}
	}
	for k := range s.m {
		if len(s.m) < maxSources*9/10 {
			break
		}
		delete(s.m, k)
	}
}
