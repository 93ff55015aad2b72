package budget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/enroll"
)

// DefaultKey is the key of the bucket that holds a budget's live grants and its current
// block. One bucket may hold several budgets under different keys ([Config.Key]).
const DefaultKey = "state"

// Defaults of [Config].
const (
	DefaultLease = time.Second
	// opTimeout bounds one read or write of the bucket.
	opTimeout = 2 * time.Second
	// retryEvery is how often a process that cannot reach NATS tries again.
	retryEvery = 250 * time.Millisecond
	// refreshEvery is how often an idle process rereads the bucket (blocks, leftovers),
	// besides watching it.
	refreshEvery = time.Second
)

// Config configures a [Budget].
type Config struct {
	// Rate is the budget of the whole deployment (SCA_MANGOPAY_RATE). Required.
	Rate enroll.Rate
	// RequestTimeout bounds one Mangopay request (SCA_MANGOPAY_TIMEOUT): Mangopay may
	// count a request that long after it was sent. Required.
	RequestTimeout time.Duration
	// Lease is how long the tokens of a grant may start requests. Default [DefaultLease].
	Lease time.Duration
	// MaxLease is the most tokens in one grant. Default Rate.N/4, between 1 and 16.
	MaxLease int
	// Name identifies this process in the bucket; it must be unique. Default
	// "<hostname>-<pid>-<random>".
	Name string
	// Key is the bucket key holding this budget. Default [DefaultKey] (the Mangopay
	// budget); the webhook ingress's budget lives under "hooks" in the same bucket.
	Key string
	// Log receives the budget's warnings; nil discards them.
	Log *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// grant is one lease of tokens, as stored. Times are Unix milliseconds.
type grant struct {
	By    string `json:"by"`
	ID    uint64 `json:"id"`
	N     int    `json:"n"`     // tokens; lowered to those used when the rest is handed back
	At    int64  `json:"at"`    // taken
	Use   int64  `json:"use"`   // no request starts after this
	Until int64  `json:"until"` // counts against the budget until this
}

// state is the value under key.
type state struct {
	Grants     []grant `json:"grants"`
	BlockUntil int64   `json:"block_until,omitempty"` // Unix ms; Mangopay refuses calls until then
	BlockBy    string  `json:"block_by,omitempty"`
}

// Budget is one process's handle on the shared budget. It implements
// [enroll.SharedBudget] and is safe for concurrent use. Close it when done: unused tokens go
// back to the others.
type Budget struct {
	cfg  Config
	kv   jetstream.KeyValue
	log  *zap.Logger
	hold time.Duration // Lease + RequestTimeout + Rate.Per

	grantMu sync.Mutex // one grant request at a time per process

	mu          sync.Mutex
	cur         grant // the process's current grant (N == 0: none)
	used        int   // tokens of cur handed out
	returned    bool  // cur's leftover was handed back
	seq         uint64
	waiters     int
	blockUntil  time.Time
	pending     time.Time     // a block to publish
	changed     chan struct{} // closed when the bucket changed
	unreachable bool

	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// Bucket returns the budget bucket named name, creating it when it is missing (history 1,
// file storage, replicas). The error names the setting SCA_BUDGET_BUCKET.
func Bucket(ctx context.Context, js jetstream.JetStream, name string, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      name,
			Description: "scaworker: the deployment's shared Mangopay budget",
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    max(replicas, 1),
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, name) // created concurrently
		}
	}
	if err != nil {
		return nil, fmt.Errorf("SCA_BUDGET_BUCKET: bucket %s: %w", name, err)
	}
	return kv, nil
}

// Open starts drawing from the budget held in kv (see [Bucket]).
func Open(kv jetstream.KeyValue, cfg Config) (*Budget, error) {
	if cfg.Rate.N <= 0 || cfg.Rate.Per <= 0 {
		return nil, fmt.Errorf("SCA_MANGOPAY_RATE: %d per %s is not a positive rate", cfg.Rate.N, cfg.Rate.Per)
	}
	if cfg.RequestTimeout <= 0 {
		return nil, errors.New("SCA_MANGOPAY_TIMEOUT: must be positive")
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.MaxLease <= 0 {
		cfg.MaxLease = defaultMaxLease(cfg.Rate, cfg.Lease)
	}
	if cfg.Name == "" {
		host, _ := os.Hostname()
		cfg.Name = host + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(rand.Uint64()%(1<<32), 16)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Key == "" {
		cfg.Key = DefaultKey
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Budget{
		cfg: cfg, kv: kv, log: log.Named("budget"),
		hold:    cfg.Lease + cfg.RequestTimeout + cfg.Rate.Per,
		changed: make(chan struct{}),
		wake:    make(chan struct{}, 1),
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	go b.loop(ctx)
	return b, nil
}

// Close hands back the unused tokens (best effort) and stops the background work.
func (b *Budget) Close() {
	b.cancel()
	<-b.done
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	b.grantMu.Lock()
	defer b.grantMu.Unlock()
	b.mu.Lock()
	b.cur.Use = 0 // no more requests from it
	b.mu.Unlock()
	_ = b.handBack(ctx)
}

// Take implements [enroll.SharedBudget]: it returns when a token of this process's grant
// may start a request now, taking a new grant when needed.
func (b *Budget) Take(ctx context.Context) error {
	b.mu.Lock()
	b.waiters++
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.waiters--
		b.mu.Unlock()
	}()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if b.takeLocal() {
			return nil
		}
		wait, err := b.grant(ctx)
		if err != nil {
			return err
		}
		if wait == nil {
			continue // a grant came: take from it
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wait:
		}
	}
}

// takeLocal hands out a token of the current grant, if it has one left and its lease runs.
func (b *Budget) takeLocal() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.takeableLocked() {
		b.used++
		return true
	}
	return false
}

// grant takes a new grant for the waiting callers, handing back what is left of the
// previous one in the same write. It returns nil when a grant was taken (or another caller
// took one meanwhile), else a channel that fires when it is worth trying again.
func (b *Budget) grant(ctx context.Context) (<-chan struct{}, error) {
	b.grantMu.Lock()
	defer b.grantMu.Unlock()
	b.mu.Lock()
	takeable := b.takeableLocked()
	b.mu.Unlock()
	if takeable {
		return nil, nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st, rev, err := b.read(ctx)
		if err != nil {
			return b.unreachableFor(err), nil
		}
		now := b.cfg.Now()
		b.mu.Lock()
		want := min(max(b.waiters, b.demandLocked(now), 1), b.cfg.MaxLease)
		b.settleLocked(&st, now)
		b.mu.Unlock()
		room, next := b.cfg.Rate.N, int64(0)
		for _, g := range st.Grants {
			room -= g.N
			if next == 0 || g.Until < next {
				next = g.Until
			}
		}
		if room <= 0 {
			b.mu.Lock()
			changed := b.changed
			b.mu.Unlock()
			return b.until(time.UnixMilli(next), changed), nil
		}
		b.mu.Lock()
		g := grant{
			By: b.cfg.Name, ID: b.seq + 1, N: min(want, room),
			At: now.UnixMilli(), Use: now.Add(b.cfg.Lease).UnixMilli(), Until: now.Add(b.hold).UnixMilli(),
		}
		b.mu.Unlock()
		st.Grants = append(st.Grants, g)
		switch err := b.write(ctx, st, rev); {
		case errors.Is(err, errConflict):
			continue // another process wrote first: look again
		case err != nil:
			return b.unreachableFor(err), nil
		}
		b.mu.Lock()
		b.cur, b.used, b.returned, b.seq = g, 0, false, g.ID
		b.noteLocked(st)
		b.mu.Unlock()
		return nil, nil
	}
}

// defaultMaxLease is [Config.MaxLease]'s default: a quarter of the budget, at most 16 tokens
// or, for a budget that allows more than 64 calls per lease, a quarter of what the budget
// allows during one lease. So at Mangopay's rates a dead process holds at most 16 tokens,
// and at rates far above them (a test, a benchmark) a busy process takes a grant about once
// per lease instead of one per 16 calls.
func defaultMaxLease(r enroll.Rate, lease time.Duration) int {
	perLease := float64(r.N) * float64(lease) / float64(r.Per)
	return max(min(r.N/4, max(16, int(min(perLease/4, 1<<20)))), 1)
}

// demandLocked is how many tokens the process used in its last lease, doubled when it ran
// out before the lease ended (b.mu held): a busy process takes grants sized to its pace, so
// it writes the bucket about once per lease, not once per few calls.
func (b *Budget) demandLocked(now time.Time) int {
	if b.cur.N == 0 {
		return 0
	}
	if b.used >= b.cur.N && now.UnixMilli() < b.cur.Use {
		return 2 * b.cur.N
	}
	return b.used
}

// takeableLocked reports whether the current grant still has a token to hand out (b.mu held).
func (b *Budget) takeableLocked() bool {
	return b.used < b.cur.N && !b.returned && b.cfg.Now().UnixMilli() < b.cur.Use
}

// settleLocked drops the expired grants of st and lowers this process's previous grant to
// the tokens it used (b.mu held).
func (b *Budget) settleLocked(st *state, now time.Time) {
	ms := now.UnixMilli()
	kept := st.Grants[:0]
	for _, g := range st.Grants {
		if g.Until <= ms {
			continue
		}
		if g.By == b.cfg.Name && g.ID == b.cur.ID && b.cur.N > 0 && (ms >= b.cur.Use || b.returned) {
			g.N = b.used
			if g.N == 0 {
				continue
			}
		}
		kept = append(kept, g)
	}
	st.Grants = b.compact(kept, ms)
}

// settleGrace is how long after its lease a grant may still be lowered by its holder; past
// it the grant is settled and may be merged with others.
const settleGrace = 2 * time.Second

// compact merges settled grants — their lease ended more than settleGrace ago, so their
// holder has handed back what it did not use, or is dead — into entries of no holder, one
// per slice of a hundredth of the window, each counting until the end of its slice. The
// stored value then holds at most about a hundred entries plus the recent grants, whatever
// the budget; a merged grant counts at most a hundredth of the window longer.
func (b *Budget) compact(grants []grant, ms int64) []grant {
	slice := max(b.cfg.Rate.Per/100, 10*time.Millisecond).Milliseconds()
	settled := ms - (b.cfg.Lease + settleGrace).Milliseconds()
	merged := map[int64]int{}
	out := make([]grant, 0, len(grants))
	for _, g := range grants {
		switch {
		case g.By == "":
			merged[g.Until] += g.N
		case g.Use < settled:
			merged[(g.Until+slice-1)/slice*slice] += g.N
		default:
			out = append(out, g)
		}
	}
	for _, until := range slices.Sorted(maps.Keys(merged)) {
		out = append(out, grant{N: merged[until], Until: until})
	}
	return out
}

// handBack lowers the current grant to the tokens used, once its lease ended (or Close
// ended it). The caller holds grantMu.
func (b *Budget) handBack(ctx context.Context) error {
	b.mu.Lock()
	due := b.cur.N > 0 && !b.returned && b.used < b.cur.N && b.cfg.Now().UnixMilli() >= b.cur.Use
	b.mu.Unlock()
	if !due {
		return nil
	}
	for {
		st, rev, err := b.read(ctx)
		if err != nil {
			return err
		}
		b.mu.Lock()
		b.settleLocked(&st, b.cfg.Now())
		b.mu.Unlock()
		switch err := b.write(ctx, st, rev); {
		case errors.Is(err, errConflict):
			continue
		case err != nil:
			return err
		}
		b.mu.Lock()
		b.returned = true
		b.noteLocked(st)
		b.mu.Unlock()
		return nil
	}
}

// Block implements [enroll.SharedBudget]: the block is published in the background.
func (b *Budget) Block(until time.Time) {
	b.mu.Lock()
	if until.After(b.pending) {
		b.pending = until
	}
	if until.After(b.blockUntil) {
		b.blockUntil = until
	}
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// BlockedUntil implements [enroll.SharedBudget]: the latest block published by any process.
func (b *Budget) BlockedUntil() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.blockUntil
}

// publishBlock writes the pending block unless a later one is stored.
func (b *Budget) publishBlock(ctx context.Context) error {
	b.mu.Lock()
	until := b.pending
	b.mu.Unlock()
	if until.IsZero() {
		return nil
	}
	for {
		st, rev, err := b.read(ctx)
		if err != nil {
			return err
		}
		if st.BlockUntil >= until.UnixMilli() {
			break
		}
		st.BlockUntil, st.BlockBy = until.UnixMilli(), b.cfg.Name
		b.mu.Lock()
		b.settleLocked(&st, b.cfg.Now())
		b.mu.Unlock()
		err = b.write(ctx, st, rev)
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			return err
		}
		b.log.Info("mangopay rate limit shared with the other processes", zap.Time("until", until))
		break
	}
	b.mu.Lock()
	if !b.pending.After(until) {
		b.pending = time.Time{}
	}
	b.mu.Unlock()
	return nil
}

// loop watches the bucket, hands back leftovers when leases end and publishes blocks.
func (b *Budget) loop(ctx context.Context) {
	defer close(b.done)
	var updates <-chan jetstream.KeyValueEntry
	if w, err := b.kv.Watch(ctx, b.cfg.Key, jetstream.UpdatesOnly()); err == nil {
		defer func() { _ = w.Stop() }()
		updates = w.Updates()
	}
	tick := time.NewTicker(min(b.cfg.Lease/2, refreshEvery))
	defer tick.Stop()
	lastRead := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-updates:
			if !ok {
				updates = nil
				continue
			}
			if e != nil && e.Operation() == jetstream.KeyValuePut {
				var st state
				if json.Unmarshal(e.Value(), &st) == nil {
					b.mu.Lock()
					b.noteLocked(st)
					b.mu.Unlock()
				}
			}
			continue
		case <-b.wake:
		case <-tick.C:
		}
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		b.grantMu.Lock()
		err := b.handBack(octx)
		if err == nil {
			err = b.publishBlock(octx)
		}
		b.grantMu.Unlock()
		if err == nil && time.Since(lastRead) >= refreshEvery {
			lastRead = time.Now()
			var st state
			if st, _, err = b.read(octx); err == nil {
				b.mu.Lock()
				b.noteLocked(st)
				b.mu.Unlock()
			}
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			b.unreachableFor(err)
		}
	}
}

// noteLocked takes in what the bucket holds: the block, and a wake-up for waiting callers
// (b.mu held). A successful read also ends an unreachable spell.
func (b *Budget) noteLocked(st state) {
	if t := time.UnixMilli(st.BlockUntil); st.BlockUntil > 0 && t.After(b.blockUntil) {
		b.blockUntil = t
	}
	close(b.changed)
	b.changed = make(chan struct{})
	if b.unreachable {
		b.unreachable = false
		b.log.Info("shared budget reachable again: Mangopay calls resume")
	}
}

// unreachableFor records a failed read or write (logged once per spell) and returns a
// channel that fires when it is worth trying again.
func (b *Budget) unreachableFor(err error) <-chan struct{} {
	b.mu.Lock()
	if !b.unreachable {
		b.unreachable = true
		b.log.Warn("shared budget unreachable: no Mangopay call until NATS answers", zap.Error(err))
	}
	b.mu.Unlock()
	return b.until(b.cfg.Now().Add(retryEvery), nil)
}

// until returns a channel that fires at t or when changed closes.
func (b *Budget) until(t time.Time, changed <-chan struct{}) <-chan struct{} {
	out := make(chan struct{})
	d := max(t.Sub(b.cfg.Now()), time.Millisecond)
	go func() {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-changed:
		}
		close(out)
	}()
	return out
}

var errConflict = errors.New("budget: written by another process first")

// read returns the stored state and its revision (0 when the key does not exist yet).
func (b *Budget) read(ctx context.Context) (state, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	e, err := b.kv.Get(ctx, b.cfg.Key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return state{}, 0, nil
	}
	if err != nil {
		return state{}, 0, err
	}
	var st state
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return state{}, 0, fmt.Errorf("budget: stored state unreadable: %w", err)
	}
	return st, e.Revision(), nil
}

// write stores st if the key is still at rev (0: if it does not exist).
func (b *Budget) write(ctx context.Context, st state, rev uint64) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	v, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if rev == 0 {
		_, err = b.kv.Create(ctx, b.cfg.Key, v)
	} else {
		_, err = b.kv.Update(ctx, b.cfg.Key, v, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return errConflict
	}
	return err
}
