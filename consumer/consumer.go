package consumer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/enroll"
)

// Consumer turns trigger events into outcomes. Create it with [New] and
// run it with [Consumer.Run].
type Consumer struct {
	cfg       Config
	js        jetstream.JetStream
	mp        Mangopay
	pacer     Pacer
	m         *Metrics
	log       *zap.Logger
	onOutcome func(Outcome)
	now       func() time.Time

	ledger ledger
	users  users
	req    *requests
	acks   *acks
	bound  atomic.Bool
	// dupWindow is each output stream's duplicate window, read at bind.
	dupWindow  map[string]time.Duration
	checkpoint func(point string)
	beats      beats

	mu         sync.Mutex
	faulted    bool
	faultUntil time.Time
	faultPause time.Duration
	faultText  string
}

// New checks cfg and returns a consumer; it does no I/O. The JetStream
// layout must exist: call [Provision] first.
func New(cfg Config, deps Deps) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.JS == nil {
		return nil, errors.New("consumer: no JetStream")
	}
	if deps.Mangopay == nil {
		return nil, errors.New("consumer: no Mangopay client")
	}
	c := &Consumer{
		cfg:        cfg.Defaults(),
		js:         deps.JS,
		mp:         deps.Mangopay,
		pacer:      deps.Pacer,
		m:          deps.Metrics,
		log:        deps.Log,
		onOutcome:  deps.OnOutcome,
		now:        deps.Now,
		checkpoint: deps.Checkpoint,
	}
	if c.checkpoint == nil {
		c.checkpoint = func(string) {}
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	c.log = c.log.Named("consumer")
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Ready reports nil while the consumer is bound to its stream and not
// paused by a deployment-wide fault. A pause for a Mangopay rate-limit
// window does not make it unready: the worker is healthy and waiting.
func (c *Consumer) Ready() error {
	if !c.bound.Load() {
		return errors.New("consumer not bound")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.faulted {
		return fmt.Errorf("paused by a deployment-wide fault: %s", c.faultText)
	}
	return nil
}

// Run pulls triggers and handles them until ctx ends, then stops pulling,
// lets the messages in hand finish (or hands them back) within the
// shutdown timeout, and returns nil. It returns an error only when it
// cannot bind to the stream, the consumer or the buckets.
func (c *Consumer) Run(ctx context.Context) error {
	bindCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	cons, err := c.js.Consumer(bindCtx, c.cfg.Stream, c.cfg.Durable)
	if err != nil {
		cancel()
		return fmt.Errorf("bind consumer %s on %s: %w", c.cfg.Durable, c.cfg.Stream, err)
	}
	c.warnNarrowFilter(bindCtx, cons)
	ledgerKV, err := c.js.KeyValue(bindCtx, c.cfg.LedgerBucket)
	if err != nil {
		cancel()
		return fmt.Errorf("bind ledger bucket %s: %w", c.cfg.LedgerBucket, err)
	}
	usersKV, err := c.js.KeyValue(bindCtx, c.cfg.UsersBucket)
	if err != nil {
		cancel()
		return fmt.Errorf("bind users bucket %s: %w", c.cfg.UsersBucket, err)
	}
	c.dupWindow = map[string]time.Duration{}
	for _, name := range []string{c.cfg.LinksStream, c.cfg.DLQStream} {
		st, err := c.js.Stream(bindCtx, name)
		if err != nil {
			cancel()
			return fmt.Errorf("bind stream %s: %w", name, err)
		}
		c.dupWindow[name] = st.CachedInfo().Config.Duplicates
	}
	// The hot requests (ledger and user writes, acks) wait on replies of
	// their own (see requests).
	c.req = newRequests(c.js.Conn(), c.js.Options().DefaultTimeout, c.cfg.Concurrency+1) // the handlers', and the acks' confirmation
	defer c.req.close()
	c.ledger = ledger{leanWrites(bindCtx, c.js, ledgerKV, c.req)}
	c.users = users{leanWrites(bindCtx, c.js, usersKV, c.req)}
	cancel()
	c.bound.Store(true)
	defer c.bound.Store(false)

	// work outlives ctx: messages in hand finish their calls and writes
	// after SIGTERM, until the shutdown timeout cancels it.
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	c.acks = startAcks(work, c.req, c.cfg.Concurrency)
	defer c.acks.stop() // once the handlers are done, before the requests close
	slots := make(chan struct{}, c.cfg.Concurrency)
	// A fixed pool of handlers, one per slot: a goroutine per message would
	// grow a fresh stack for every trigger (a tenth of a skip's CPU). A
	// handler whose goroutine ends inside handle (runtime.Goexit at a crash
	// test's checkpoint) frees its slot and is replaced, so the pool keeps
	// its size.
	msgs := make(chan jetstream.Msg)
	var wg sync.WaitGroup
	var handler func(slot int)
	handler = func(slot int) {
		died := true
		defer func() {
			if died {
				<-slots
				wg.Go(func() { handler(slot) })
			}
		}()
		for msg := range msgs {
			c.handle(ctx, work, msg, slot)
			<-slots
		}
		died = false
	}
	for slot := range c.cfg.Concurrency {
		wg.Go(func() { handler(slot) })
	}
	for ctx.Err() == nil {
		if d := c.pause(); d > 0 {
			sleepCtx(ctx, min(d, time.Second))
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		n := 1
		for n < c.cfg.Concurrency && len(slots) < cap(slots) {
			slots <- struct{}{}
			n++
		}
		// Fetch pulls only as many messages as there are free handlers, so
		// nothing waits in a buffer: a pause stops the pulling itself.
		batch, err := cons.Fetch(n, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			for range n {
				<-slots
			}
			c.log.Warn("fetch failed", zap.Error(err))
			sleepCtx(ctx, time.Second)
			continue
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			msgs <- msg
		}
		for ; got < n; got++ {
			<-slots
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoMessages) {
			c.log.Debug("fetch ended", zap.Error(err))
		}
	}

	close(msgs)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	timer := time.NewTimer(c.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		c.log.Warn("shutdown timeout: handing back the messages in hand")
		stopWork()
		<-done
	}
	return nil
}

// pause returns how long pulling must wait: for a spent Mangopay window
// or a deployment-wide fault.
func (c *Consumer) pause() time.Duration {
	now := c.now()
	var until time.Time
	if c.pacer != nil {
		until = c.pacer.BlockedUntil()
		c.m.setPaused("rate_limit", until.After(now))
		if w, ok := c.pacer.(interface{ Windows() []enroll.Window }); ok {
			c.m.setRemaining(w.Windows())
		}
	}
	c.mu.Lock()
	if c.faultUntil.After(until) {
		until = c.faultUntil
	}
	c.mu.Unlock()
	return until.Sub(now)
}

// setFault pauses consumption after a deployment-wide fault, logging once
// per fault, and returns how long to wait before the next try.
func (c *Consumer) setFault(err error) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.faulted {
		c.faulted = true
		c.faultPause = c.cfg.FaultPause
		c.log.Error("deployment-wide fault: consumption paused, readiness off; no event is dead-lettered for it", zap.Error(err), zap.Duration("retry_in", c.faultPause))
	} else if c.now().After(c.faultUntil) {
		c.faultPause = min(2*c.faultPause, c.cfg.FaultPauseMax)
	}
	c.faultText = err.Error()
	c.faultUntil = c.now().Add(c.faultPause)
	c.m.setPaused("fault", true)
	return c.faultPause
}

func (c *Consumer) clearFault() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.faulted {
		c.faulted, c.faultUntil, c.faultText = false, time.Time{}, ""
		c.m.setPaused("fault", false)
		c.log.Info("deployment-wide fault cleared: consumption resumed")
	}
}

// retryDelay is the delay before delivery attempt+1: exponential from
// RetryDelayMin, capped at RetryDelayMax, with jitter over its upper half.
func (c *Consumer) retryDelay(attempts int) time.Duration {
	d := c.cfg.RetryDelayMax
	if attempts < 30 {
		d = min(c.cfg.RetryDelayMin<<max(attempts-1, 0), c.cfg.RetryDelayMax)
	}
	return d/2 + rand.N(d/2+1)
}

// heartbeat keeps msg, in the hands of pool handler slot, from being
// redelivered while it is handled, however long a rate-limit wait or a
// slow call takes, until beats.drop(slot). One goroutine beats for every
// message in hand (see beats), not one goroutine and ticker per message.
func (c *Consumer) heartbeat(slot int, msg jetstream.Msg) {
	c.beats.hold(slot, msg, c.cfg.AckWait/3, c.log)
}

// beats sends InProgress for the messages in hand, each at most every
// interval after it was taken: a message is never silent for longer than
// 1.5 intervals (half the ack wait). Each pool handler has its place, so
// taking and dropping a message allocates nothing. Its goroutine runs only
// while messages are in hand.
type beats struct {
	mu      sync.Mutex
	msgs    []beat // by handler slot; msg nil: none in hand
	held    int
	running bool
}

type beat struct {
	msg  jetstream.Msg
	last time.Time // when it last showed life
}

func (b *beats) hold(slot int, msg jetstream.Msg, interval time.Duration, log *zap.Logger) {
	interval = max(interval, 10*time.Millisecond)
	now := time.Now()
	b.mu.Lock()
	if slot >= len(b.msgs) {
		b.msgs = append(b.msgs, make([]beat, slot+1-len(b.msgs))...)
	}
	b.msgs[slot] = beat{msg: msg, last: now}
	b.held++
	if !b.running {
		b.running = true
		go b.loop(interval, log)
	}
	b.mu.Unlock()
}

func (b *beats) drop(slot int) {
	b.mu.Lock()
	b.msgs[slot] = beat{}
	b.held--
	b.mu.Unlock()
}

func (b *beats) loop(interval time.Duration, log *zap.Logger) {
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	var due []jetstream.Msg
	for now := range t.C {
		due = due[:0]
		b.mu.Lock()
		if b.held == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		for i := range b.msgs {
			if m := &b.msgs[i]; m.msg != nil && now.Sub(m.last) >= interval {
				m.last = now
				due = append(due, m.msg)
			}
		}
		b.mu.Unlock()
		for _, m := range due {
			if err := m.InProgress(); err != nil {
				log.Debug("in-progress failed", zap.Error(err))
			}
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// warnNarrowFilter says when the durable consumer, created before it took
// the whole subject root ([TriggerFilters]), delivers only the four
// trigger subjects: a message on another subject of the stream is then
// never seen, nor dead-lettered.
func (c *Consumer) warnNarrowFilter(ctx context.Context, cons jetstream.Consumer) {
	st, err := c.js.Stream(ctx, c.cfg.Stream)
	if err != nil {
		return // Run reports the stream when it binds what it needs
	}
	want := TriggerFilters(c.cfg, st.CachedInfo().Config.Subjects)
	cc := cons.CachedInfo().Config
	filters := cc.FilterSubjects
	if cc.FilterSubject != "" {
		filters = append(filters, cc.FilterSubject)
	}
	if len(filters) == 0 {
		return // no filter: the consumer delivers everything
	}
	for _, w := range want {
		if !captures(filters, w) {
			c.log.Warn("the durable consumer does not deliver every subject of its stream: triggers on unknown subjects are neither handled nor dead-lettered; widen its filter to deliver them",
				zap.String("durable", c.cfg.Durable), zap.Strings("filter", filters), zap.String("want", w),
				zap.String("fix", fmt.Sprintf("nats consumer edit %s %s --filter %s", c.cfg.Stream, c.cfg.Durable, w)))
			return
		}
	}
}
