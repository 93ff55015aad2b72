package hooks

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Deps are the handler's collaborators.
type Deps struct {
	// Log receives one Info per stored hook and a Warn per 503; nil means no logs.
	Log *zap.Logger
	// Metrics, when set, counts every request by result.
	Metrics *Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Handler is the webhook ingress, an http.Handler for [Path] and the paths under it. It
// answers 503 until a [Store] is bound with [Handler.Bind] (the HTTP listener starts
// before NATS is connected). It is safe for concurrent use.
type Handler struct {
	cfg     Config
	secret  [sha256.Size]byte // SHA-256 of the expected path suffix, for a constant-time compare
	log     *zap.Logger
	m       *Metrics
	now     func() time.Time
	limiter *rate.Limiter
	sources *sourceLimits
	shared  atomic.Pointer[sharedBox]
	store   atomic.Pointer[Store]
	result  atomic.Pointer[func(result string)]
}

// sharedBox holds a SharedBudget for an atomic pointer.
type sharedBox struct{ b SharedBudget }

// sharedWait bounds the wait for the shared budget (a grant from NATS KV takes a read and
// a write), well inside Mangopay's 2 seconds.
const sharedWait = 250 * time.Millisecond

// New returns the ingress for cfg (validated: an error names the setting).
func New(cfg Config, deps Deps) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.Defaults()
	h := &Handler{cfg: cfg, log: deps.Log, m: deps.Metrics, now: deps.Now}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	h.log = h.log.Named("hooks")
	if h.now == nil {
		h.now = time.Now
	}
	h.secret = sha256.Sum256([]byte(cfg.Secret))
	every := rate.Limit(float64(cfg.Rate.N) / cfg.Rate.Per.Seconds())
	h.limiter = rate.NewLimiter(every, cfg.Burst)
	h.sources = newSourceLimits(cfg.SourceRate)
	return h, nil
}

// Share makes the ingress draw every stored hook from b as well, the deployment's budget
// shared with the other replicas (nil: this process's own limit only).
func (h *Handler) Share(b SharedBudget) {
	if b == nil {
		h.shared.Store(nil)
		return
	}
	h.shared.Store(&sharedBox{b: b})
}

// Register mounts the handler on mux at [Path] and under it (any method: the handler
// answers 405 itself, before anything else).
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle(Path, h)
	mux.Handle(Path+"/", h)
}

// OnResult makes the handler call f with the result of every request (one of
// [Results]), as it counts it in [Metrics]; nil stops it. f must not block: it runs
// before the answer is written.
func (h *Handler) OnResult(f func(result string)) {
	if f == nil {
		h.result.Store(nil)
		return
	}
	h.result.Store(&f)
}

// count counts one request's result in the metrics and tells [Handler.OnResult]'s f.
func (h *Handler) count(result string) {
	h.m.count(result)
	if f := h.result.Load(); f != nil {
		(*f)(result)
	}
}

// Bind makes the handler store hooks with s; until then it answers 503.
func (h *Handler) Bind(s *Store) { h.store.Store(s) }

// ServeHTTP checks a hook in the documented order (README, Mangopay webhooks) and stores it. See the package
// documentation for every status code.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// The body is never read: a hook has none.
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		h.reject(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if len(r.RequestURI) > MaxURILen || len(r.URL.RawQuery) > MaxURILen {
		h.reject(w, http.StatusRequestURITooLong, "request target too long")
		return
	}
	if !h.pathOK(r.URL.Path) {
		h.reject(w, http.StatusNotFound, "not found")
		return
	}
	client, clientOK := clientAddr(r, h.cfg.ClientIPHeader, h.cfg.TrustedProxies)
	if len(h.cfg.AllowCIDRs) > 0 {
		a, ok := client, clientOK
		if !ok || !allowed(a, h.cfg.AllowCIDRs) {
			h.log.Debug("hook refused: client address not allowed", zap.String("client", a.String()), zap.Bool("readable", ok))
			h.reject(w, http.StatusForbidden, "forbidden")
			return
		}
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		h.reject(w, http.StatusBadRequest, "malformed query")
		return
	}
	now := h.now()
	hook, rej := ParseHook(q, now)
	if rej != nil {
		if rej.Ignored() {
			h.count(ResultIgnored)
			h.log.Debug("hook ignored", zap.String("event_type", truncate(q.Get(ParamEventType), 64)))
			reply(w, http.StatusOK, "ignored")
			return
		}
		h.reject(w, rej.Status, rej.Reason)
		return
	}
	// The ingress's rate limits sit after every documented check (so none of their
	// status codes depends on the load) and before any JetStream work: a flood of forged
	// hooks cannot write the stream faster than the limits, hence cannot spend the
	// Mangopay quota faster either. Ignored and malformed requests cost no token. The
	// client's own bucket comes first, so one source over its share spends nothing of
	// the process's or the deployment's budget.
	if wait, ok := h.admit(r.Context(), client, clientOK, now); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(int(math.Ceil(wait.Seconds())), 1)))
		h.count(ResultRateLimited)
		h.log.Debug("hook rate limited", zap.Duration("retry_after", wait))
		reply(w, http.StatusTooManyRequests, "rate limited")
		return
	}
	h.store503(w, r, hook)
}

// admit spends a token of the client's bucket, of this process's bucket and of the
// shared budget, or none of them; it returns false and when to try again when one of them
// has no room.
func (h *Handler) admit(ctx context.Context, client netip.Addr, clientOK bool, now time.Time) (time.Duration, bool) {
	var src *rate.Reservation
	if clientOK {
		src = h.sources.reserve(client, now)
		if d := src.DelayFrom(now); d > 0 {
			src.CancelAt(now)
			return d, false
		}
	}
	res := h.limiter.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		if src != nil {
			src.CancelAt(now)
		}
		return d, false
	}
	if box := h.shared.Load(); box != nil {
		ctx, cancel := context.WithTimeout(ctx, min(sharedWait, h.cfg.StoreTimeout/4))
		defer cancel()
		if err := box.b.Take(ctx); err != nil {
			res.CancelAt(now)
			if src != nil {
				src.CancelAt(now)
			}
			return h.cfg.Rate.Per / time.Duration(h.cfg.Rate.N), false
		}
	}
	return 0, true
}

// store503 stores hook within the store deadline, or answers 503.
func (h *Handler) store503(w http.ResponseWriter, r *http.Request, hook Hook) {
	log := h.log.With(zap.String("event_id", hook.ID()), zap.String("user_id", hook.UserID), zap.String("event_type", hook.EventType))
	s := h.store.Load()
	if s == nil {
		h.count(ResultUnavailable)
		log.Warn("hook not stored: not connected to JetStream yet; Mangopay will resend")
		reply(w, http.StatusServiceUnavailable, "unavailable")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.StoreTimeout)
	defer cancel()
	start := time.Now()
	res, err := s.Put(ctx, hook, ByWebhook)
	h.m.observe(time.Since(start).Seconds())
	if err != nil {
		h.count(ResultUnavailable)
		log.Warn("hook not stored; Mangopay will resend", zap.Duration("store_timeout", h.cfg.StoreTimeout), zap.Error(err))
		reply(w, http.StatusServiceUnavailable, "unavailable")
		return
	}
	if res.MarkErr != nil {
		log.Warn("hook stored but not marked; a resend is dropped by JetStream or the ledger", zap.Error(res.MarkErr))
	}
	if res.Duplicate {
		h.count(ResultDuplicate)
		log.Debug("hook already stored")
	} else {
		h.count(ResultStored)
		log.Info("hook stored", zap.Uint64("stream_seq", res.Seq), zap.Time("occurred_at", hook.Date))
	}
	reply(w, http.StatusOK, "ok")
}

// pathOK checks the path: exactly Path without a secret; exactly Path/<secret> with one,
// compared in constant time (hashes of equal length, so the length leaks nothing either).
func (h *Handler) pathOK(p string) bool {
	if h.cfg.Secret == "" {
		return p == Path
	}
	rest, ok := strings.CutPrefix(p, Path+"/")
	got := sha256.Sum256([]byte(rest))
	return subtle.ConstantTimeCompare(got[:], h.secret[:]) == 1 && ok
}

func (h *Handler) reject(w http.ResponseWriter, status int, reason string) {
	h.count(ResultRejected)
	h.log.Debug("hook rejected", zap.Int("status", status), zap.String("reason", reason))
	reply(w, status, reason)
}

func reply(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text + "\n"))
}

// truncate shortens s to at most n bytes for a log field.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// RedactPath returns p with the segment after [Path] replaced, for logs: the secret path
// segment must never be logged.
func RedactPath(p string) string {
	if rest, ok := strings.CutPrefix(p, Path+"/"); ok && rest != "" {
		return Path + "/[redacted]"
	}
	return p
}
