package checker

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/hooks"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
	"github.com/scaworker/scaworker/ops/dlq"
	"github.com/scaworker/scaworker/ops/replay"
)

// replicas is the number of consumer replicas of a run.
const replicas = 2

// settleTimeout bounds the wait for a quiet worker after a schedule: many
// ack waits, so that a trigger without an outcome is a finding, not a
// slow machine.
const settleTimeout = 40 * time.Second

// run is one execution of a schedule: the world, its replicas, and what
// happened (a trace printed with a failure).
type run struct {
	t     testing.TB
	w     *testworld.World
	cfg   consumer.Config
	url   string
	tools *nats.Conn // the operator tools' and the checker's connection
	js    jetstream.JetStream
	hooks *http.ServeMux
	start time.Time
	short bool // the schedule's per-user windows are short

	mu      sync.Mutex // guards reps, trace, viols, crashes
	reps    [replicas]*replica
	trace   []string
	viols   []violation
	natsMu  sync.RWMutex // held for writing while NATS restarts
	crashes map[int]*crashPlan
}

// crashPlan is an armed crash of replica r at a checkpoint.
type crashPlan struct {
	point string
	whole bool
}

// replica is one in-process worker: its own NATS connection, Mangopay
// client and consumer.
type replica struct {
	n      int
	gen    int // incarnation: a killed replica is replaced by gen+1
	nc     *nats.Conn
	cons   *consumer.Consumer
	cancel context.CancelFunc
	done   chan struct{}
	// die aborts the replica's Mangopay calls in flight, as a killed
	// process's connections would be cut mid-call.
	die context.CancelFunc
}

// killable aborts every request in flight, and refuses new ones, once ctx
// ends: the HTTP side of a killed process.
type killable struct {
	ctx  context.Context
	base http.RoundTripper
}

func (k killable) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := k.ctx.Err(); err != nil {
		return nil, fmt.Errorf("replica killed: %w", err)
	}
	ctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(k.ctx, cancel)
	resp, err := k.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	resp.Body = &closeFunc{ReadCloser: resp.Body, done: func() { stop(); cancel() }}
	return resp, nil
}

type closeFunc struct {
	io.ReadCloser
	done func()
}

func (c *closeFunc) Close() error {
	err := c.ReadCloser.Close()
	c.done()
	return err
}

// newRun builds the world of one schedule: embedded NATS, the simulator,
// the layout, the webhook ingress and two running replicas.
func newRun(t testing.TB, s schedule) *run {
	t.Helper()
	seed := s.Seed
	w := testworld.New(t, testworld.Options{
		NoStart: true,
		Sim: func(o *mangosim.Options) {
			o.Seed = seed
			// Retries are milliseconds apart here, not seconds: Mangopay's
			// real windows would be spent by one outage and the run would
			// wait 15 minutes. 429 windows come from the 429-window fault.
			o.Windows = []mangosim.Limit{{N: 1_000_000, Per: 15 * time.Minute}}
		},
		Consumer: func(c *consumer.Config) {
			c.Concurrency = 4
			c.AckWait = 1500 * time.Millisecond
			c.AttemptTimeout = 700 * time.Millisecond
			c.RetryDelayMin = 10 * time.Millisecond
			c.RetryDelayMax = 100 * time.Millisecond
			c.FaultPause = 50 * time.Millisecond
			c.FaultPauseMax = 200 * time.Millisecond
			c.ShutdownTimeout = 2 * time.Second
			if s.Short {
				c.RecentLink, c.UserCapWindow = shortRecentLink, shortCapWindow
			}
		},
	})
	r := &run{t: t, w: w, cfg: w.Config.Defaults(), url: w.Server.ClientURL(), start: time.Now(), short: s.Short, crashes: map[int]*crashPlan{}}
	var err error
	if r.tools, err = r.connect("tools"); err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(r.tools.Close)
	if r.js, err = jetstream.New(r.tools); err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := consumer.HooksBucket(ctx, r.js, r.w.Config)
	if err != nil {
		t.Fatalf("hooks bucket: %v", err)
	}
	h, err := hooks.New(hooks.Config{Rate: enroll.Rate{N: 100000, Per: time.Second}, Burst: 1000}, hooks.Deps{Log: w.Log})
	if err != nil {
		t.Fatalf("hooks.New: %v", err)
	}
	h.Bind(hooks.NewStore(r.js, kv, r.cfg.Subjects, r.cfg.Stream, nil))
	r.hooks = http.NewServeMux()
	h.Register(r.hooks)
	for n := range replicas {
		r.startReplica(n, 0)
	}
	t.Cleanup(r.stopAll)
	return r
}

func (r *run) connect(name string) (*nats.Conn, error) {
	return nats.Connect(r.url, nats.Name(name), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(20*time.Millisecond), nats.ReconnectJitter(10*time.Millisecond, 10*time.Millisecond))
}

func (r *run) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trace = append(r.trace, fmt.Sprintf("%6.2fs ", time.Since(r.start).Seconds())+fmt.Sprintf(format, args...))
}

// startReplica starts incarnation gen of replica n.
func (r *run) startReplica(n, gen int) {
	r.natsMu.RLock() // not while NATS restarts
	defer r.natsMu.RUnlock()
	rep, err := r.newReplica(n, gen)
	if err != nil {
		r.t.Errorf("replica %d.%d: %v", n, gen, err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	rep.cancel = cancel
	r.mu.Lock()
	r.reps[n] = rep
	r.mu.Unlock()
	go func() {
		defer close(rep.done)
		for ctx.Err() == nil {
			// Run fails only when it cannot bind, e.g. while JetStream
			// recovers after a restart: bind again.
			if err := rep.cons.Run(ctx); err != nil {
				r.logf("replica %d.%d: %v", n, gen, err)
				waitCtx(ctx, 50*time.Millisecond)
			}
		}
	}()
}

// newReplica builds a replica: its NATS connection, its Mangopay client
// (whose calls in flight die with it) and its consumer.
func (r *run) newReplica(n, gen int) (*replica, error) {
	nc, err := r.connect(fmt.Sprintf("replica-%d.%d", n, gen))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	log := r.w.Log.With(zap.String("replica", fmt.Sprintf("%d.%d", n, gen)))
	dying, die := context.WithCancel(context.Background())
	rep := &replica{n: n, gen: gen, nc: nc, done: make(chan struct{}), die: die}
	ecfg := r.clientConfig()
	ecfg.HTTPClient = &http.Client{Transport: killable{ctx: dying, base: http.DefaultTransport.(*http.Transport).Clone()}}
	client, err := enroll.NewClient(ecfg, log)
	if err == nil {
		rep.cons, err = consumer.New(r.w.Config, consumer.Deps{
			JS: js, Mangopay: client, Pacer: client.Governor(), Log: log,
			Checkpoint: func(point string) { r.checkpoint(rep, point) },
		})
	}
	if err != nil {
		nc.Close()
		die()
		return nil, err
	}
	return rep, nil
}

// clientConfig is a replica's Mangopay client: requests time out quickly,
// so the timeout fault is cheap.
func (r *run) clientConfig() enroll.Config {
	c := testworld.EnrollConfig(r.w.Sim)
	c.RequestTimeout = 300 * time.Millisecond
	return c
}

// checkpoint is every replica's consumer.Deps.Checkpoint: an armed crash
// ends the handler there without an ack (runtime.Goexit, as a killed
// process would stop), and for a whole-replica crash kills the replica.
func (r *run) checkpoint(rep *replica, point string) {
	r.mu.Lock()
	plan := r.crashes[rep.n]
	current := r.reps[rep.n] == rep
	if plan == nil || plan.point != point || !current {
		r.mu.Unlock()
		return
	}
	delete(r.crashes, rep.n)
	r.mu.Unlock()
	if plan.whole {
		r.logf("replica %d.%d dies at %q", rep.n, rep.gen, point)
		go r.kill(rep)
	} else {
		r.logf("replica %d.%d: a handler dies at %q", rep.n, rep.gen, point)
	}
	runtime.Goexit()
}

// kill stops rep as a SIGKILL would — its connection closes first, so
// nothing it still has in hand is acknowledged — and starts a fresh
// incarnation in its place.
func (r *run) kill(rep *replica) {
	r.mu.Lock()
	if r.reps[rep.n] != rep {
		r.mu.Unlock()
		return
	}
	r.reps[rep.n] = nil
	r.mu.Unlock()
	rep.nc.Close()
	rep.die()
	rep.cancel()
	<-rep.done
	r.startReplica(rep.n, rep.gen+1)
}

func (r *run) stopAll() {
	r.mu.Lock()
	reps := r.reps
	r.reps = [replicas]*replica{}
	r.mu.Unlock()
	for _, rep := range reps {
		if rep != nil {
			rep.cancel()
			<-rep.done
			rep.nc.Close()
			rep.die()
		}
	}
}

// exec runs one step; errors of operator tools are traced, not fatal.
func (r *run) exec(st step) {
	i := st.Index
	r.logf("step %d: %s", i, st)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	switch st.Kind {
	case kPublish:
		r.publish(ctx, st, st.ID)
	case kDuplicate:
		r.publish(ctx, st, fmt.Sprintf("%s-dup-%d", st.ID, i))
	case kHook:
		q := "EventType=" + st.Type + "&RessourceId=" + st.User + "&Date=" + strconv.FormatInt(hookDate(r.start, st).Unix(), 10)
		rec := httptest.NewRecorder()
		r.hooks.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, hooks.Path+"?"+q, nil))
		if rec.Code != http.StatusOK {
			r.logf("hook answered %d %s", rec.Code, rec.Body.String())
		}
	case kCrash:
		r.mu.Lock()
		r.crashes[st.Replica] = &crashPlan{point: st.Point, whole: st.Whole}
		r.mu.Unlock()
	case kKill:
		r.mu.Lock()
		rep := r.reps[st.Replica]
		r.mu.Unlock()
		if rep != nil {
			r.kill(rep)
		}
	case kFault:
		r.w.Sim.SetFaults(faultsOf(st))
	case kHeal:
		r.w.Sim.SetFaults(mangosim.Faults{})
	case kFix:
		u, _ := r.w.Sim.User(st.User)
		u.LegalRepresentativeEmail = "fixed-rep@example.com"
		r.w.Sim.AddUser(u)
	case kEnrolled:
		r.w.Sim.CompleteEnrollment(st.User)
	case kReplay:
		r.replay(ctx, i, st)
	case kRedrive:
		res, err := dlq.New(r.js, dlq.Config{Layout: r.w.Config, Log: r.w.Log, Operator: "checker"}).Redrive(ctx, dlq.Filter{All: true})
		for _, x := range res {
			r.logf("  redrive dlq %d (%s): %s %s %s", x.Seq, x.EventID, x.Result, x.RedriveID, x.Note)
		}
		if err != nil {
			r.logf("  redrive: %v", err)
		}
	case kRestartNATS:
		r.restartNATS(ctx)
	case kOutage:
		r.outage(st.N)
	case kSettle:
		if err := r.quiet(15 * time.Second); err != nil {
			r.logf("  %v", err)
		}
		if r.short {
			// Time passes: the recent-link window ends for every link so far.
			waitCtx(ctx, r.cfg.RecentLink)
		}
	}
}

func (r *run) publish(ctx context.Context, st step, msgID string) {
	data := map[string]any{"user_id": st.User}
	if st.Category != "" {
		data["category"] = st.Category
	}
	if st.Type != events.TypeUserCreated {
		data["occurred_at"] = r.start.UTC().Format(time.RFC3339)
	}
	subject, _ := r.cfg.Subjects.SubjectFor(st.Type)
	msg := &nats.Msg{Subject: subject, Data: testworld.CloudEvent(st.Type, "/checker", st.ID, data), Header: nats.Header{nats.MsgIdHdr: {msgID}}}
	if _, err := r.js.PublishMsg(ctx, msg); err != nil {
		r.logf("  publish: %v", err)
	}
}

func faultsOf(st step) mangosim.Faults {
	switch st.Fault {
	case fBurst5xx:
		return mangosim.Faults{Burst5xx: st.N}
	case fErrors:
		return mangosim.Faults{ErrorRate: float64(st.N) / 100}
	case fRateLimit:
		return mangosim.Faults{RateLimitedUntil: time.Now().Add(time.Duration(st.N) * time.Millisecond)}
	case fTimeout:
		return mangosim.Faults{Latency: 400 * time.Millisecond} // past the client's 300ms
	case fDrop:
		return mangosim.Faults{DropAfterCommit: st.N}
	case fHTML:
		return mangosim.Faults{HTMLErrors: true}
	case fAbandoned:
		return mangosim.Faults{Latency: 400 * time.Millisecond, CommitAbandoned: true}
	case fDamaged:
		return mangosim.Faults{DropAfterCommit: st.N, StoredShapes: st.Shapes}
	}
	return mangosim.Faults{}
}

// replay runs `replay --from 1` in process, named after its step so that
// no cursor is resumed. A dry run must write nothing: the trigger stream's
// last sequence is compared before and after.
func (r *run) replay(ctx context.Context, i int, st step) {
	before := r.lastSeq(ctx)
	rep, err := replay.Run(ctx, r.js, replay.Config{
		Layout: r.w.Config, From: "1", Name: fmt.Sprintf("checker-%d", i),
		Force: st.Mode == "force", DryRun: st.Mode == "dry-run",
		Rate: enroll.Rate{N: 100000, Per: time.Second}, Log: r.w.Log,
	})
	if err != nil {
		r.logf("  replay: %v", err)
	}
	if rep != nil {
		r.logf("  replay: %v published %d", rep.Counts, rep.Published)
	}
	if st.Mode == "dry-run" {
		if after := r.lastSeq(ctx); after != before {
			r.violate("dry-run", "replay --dry-run changed the trigger stream: last sequence %d → %d", before, after)
		}
	}
}

func (r *run) lastSeq(ctx context.Context) uint64 {
	st, err := r.js.Stream(ctx, r.cfg.Stream)
	if err != nil {
		return 0
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.LastSeq
}

// outage answers every API call with a 500 until every user with an
// enrollment POST has had n of them (each spends an Idempotency-Key), or
// for a minute and a half at most.
func (r *run) outage(n int) {
	r.w.Sim.SetFaults(mangosim.Faults{ErrorRate: 1})
	defer r.w.Sim.SetFaults(mangosim.Faults{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		posts := map[string]int{}
		for _, c := range r.w.Sim.Calls() {
			if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/enrollment") {
				posts[c.Path]++
			}
		}
		done := len(posts) > 0
		for _, k := range posts {
			done = done && k >= n
		}
		if done {
			r.logf("  enrollment POSTs per user: %v", posts)
			return
		}
		waitCtx(ctx, 100*time.Millisecond)
	}
	r.logf("  the outage ended at its deadline before %d POSTs per user", n)
}

// restartNATS restarts the server and waits until JetStream answers again.
func (r *run) restartNATS(ctx context.Context) {
	r.natsMu.Lock()
	r.w.RestartServer()
	r.natsMu.Unlock()
	for ctx.Err() == nil {
		if _, err := r.js.Stream(ctx, r.cfg.Stream); err == nil {
			return
		}
		waitCtx(ctx, 20*time.Millisecond)
	}
	r.logf("  JetStream did not come back: %v", ctx.Err())
}

// quiet waits up to timeout until the durable consumer has nothing
// pending and nothing unacknowledged.
func (r *run) quiet(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		info, err := r.consumerInfo(ctx)
		cancel()
		if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("worker not quiet after %s: %w", timeout, err)
			}
			return fmt.Errorf("worker not quiet after %s: %d pending, %d unacknowledged", timeout, info.NumPending, info.NumAckPending)
		}
		waitCtx(context.Background(), 20*time.Millisecond)
	}
}

func (r *run) consumerInfo(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	c, err := r.js.Consumer(ctx, r.cfg.Stream, r.cfg.Durable)
	if err != nil {
		return nil, err
	}
	return c.Info(ctx)
}

// waitCtx waits d or until ctx ends: the pause between two polls.
func waitCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
