// Package bench is `scaworker bench`: it measures the worker against the
// bare pipeline and raw JetStream, side by side, on the same server.
//
// # Processes
//
// The NATS server (one node, or three clustered nodes with --cluster) and
// the Mangopay simulator run in two child processes (this executable,
// started again with [ChildEnv] set); the phases run in the bench process
// itself. So the operating system tells each side's CPU apart: worker CPU
// is the bench process's own (getrusage), server CPU is the NATS child's,
// and the simulator's is reported apart. The bench process holds nothing
// but the phase under way (the worker, or a baseline), a sampler and the
// progress bar, so its peak resident set and goroutine count are the
// worker's (plus a constant few for the harness).
//
// # Phases
//
// Every phase consumes the same triggers with a consumer of its own:
//
//   - raw: JetStream consume and ack, nothing else;
//   - bare: consume → one POST to the simulator → publish with a
//     Nats-Msg-Id → ack, no rules (the floor of any worker);
//   - worker: the real worker — package consumer with the enroll client,
//     its governor drawing from the shared budget, and its metrics, as
//     `scaworker run` builds them (without the HTTP listeners).
//
// With a prefilled backlog (the default) the triggers are stored before
// the first phase; with --rate each phase publishes triggers of its own
// at that rate while it runs, which is what trigger-to-link latency means.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/mangosim"
)

// Options are one bench run.
type Options struct {
	N         int           // triggers per phase
	InFlight  int           // triggers handled at once
	Cluster   bool          // a 3-node R3 cluster instead of one node
	Latency   time.Duration // simulated Mangopay latency per call
	ErrorRate float64       // share of Mangopay calls answered 500
	Budget    string        // N/duration: the simulator's window and the worker's rate; "" unlimited
	Mix       string        // weights: owners=..,payers=..,enrolled=..,invalid=..,duplicates=..
	Rate      float64       // > 0: publish each phase's triggers live at this rate
	Phases    []string      // of raw, bare, worker
	Duration  time.Duration // longest phase
	Profile   string        // directory for the worker phase's profiles
	Exe       string        // this executable, for the children
	Log       *zap.Logger   // the worker's logger, as `scaworker run` builds it
	// ShareBudget makes the worker's governor draw from the deployment's
	// shared budget, as `scaworker run` does; nil: the governor alone.
	ShareBudget func(ctx context.Context, js jetstream.JetStream, c consumer.Config, rate enroll.Rate, requestTimeout time.Duration, gov *enroll.Governor) (func(), error)
	Progress    io.Writer // progress bars; nil: none
}

// Report is what a run measured.
type Report struct {
	Command string             `json:"command"`
	Machine Machine            `json:"machine"`
	Options ReportOptions      `json:"options"`
	Phases  []*Phase           `json:"phases"`
	Ratios  map[string]float64 `json:"ratios"`
}

// Machine describes where the figures come from.
type Machine struct {
	CPUs      int    `json:"cpus"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	GoVersion string `json:"go_version"`
	CPUModel  string `json:"cpu_model,omitempty"`
	LoadAvg   string `json:"load_avg,omitempty"` // at the start: the machine may be shared
}

// ReportOptions echo the options.
type ReportOptions struct {
	N         int     `json:"n"`
	InFlight  int     `json:"in_flight"`
	Cluster   bool    `json:"cluster"`
	LatencyMS float64 `json:"latency_ms"`
	ErrorRate float64 `json:"error_rate"`
	Budget    string  `json:"budget,omitempty"`
	Mix       string  `json:"mix"`
	Rate      float64 `json:"rate,omitempty"`
}

// Phase is one phase's figures. Per-event figures divide by Events.
type Phase struct {
	Name          string         `json:"name"`
	Events        int            `json:"events"`
	Seconds       float64        `json:"seconds"`
	EventsPerSec  float64        `json:"events_per_s"`
	Links         int            `json:"links"`
	LinksPerSec   float64        `json:"links_per_s"`
	Outcomes      map[string]int `json:"outcomes,omitempty"`
	LatencyP50MS  float64        `json:"trigger_to_link_p50_ms"`
	LatencyP99MS  float64        `json:"trigger_to_link_p99_ms"`
	MangopayCalls int            `json:"mangopay_calls"`
	CallsPerLink  float64        `json:"mangopay_calls_per_link"`
	Status429     int            `json:"mangopay_429s"`
	// BudgetUsed is the share of the budget's windows that the accepted
	// calls of the last whole windows of the phase filled; null without a
	// budget or when the phase was shorter than one window.
	BudgetUsed        *float64 `json:"budget_used"`
	WorkerCPUUSPerEv  float64  `json:"worker_cpu_us_per_event"`
	ServerCPUUSPerEv  float64  `json:"server_cpu_us_per_event"`
	SimCPUUSPerEv     float64  `json:"sim_cpu_us_per_event"`
	NATSOutPerTrigger float64  `json:"nats_requests_per_trigger"` // messages sent by the client
	NATSInPerTrigger  float64  `json:"nats_replies_per_trigger"`  // messages received by the client
	RSSStartMB        float64  `json:"rss_start_mb"`
	RSSPeakMB         float64  `json:"rss_peak_mb"`
	RSSEndMB          float64  `json:"rss_end_mb"`
	GoroutinesPeak    int      `json:"goroutines_peak"`
}

// kinds of triggers in a mix.
const (
	kindOwner = iota
	kindPayer
	kindEnrolled
	kindInvalid
	kindDuplicate
	nKinds
)

// duplicateDistance is how many valid triggers back a duplicate copies.
const duplicateDistance = 1000

var kindNames = [nKinds]string{"owners", "payers", "enrolled", "invalid", "duplicates"}

// parseMix turns "owners=70,payers=30" into weights.
func parseMix(s string) ([nKinds]int, error) {
	var w [nKinds]int
	total := 0
	for part := range strings.SplitSeq(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return w, fmt.Errorf("--mix: %q is not name=weight", part)
		}
		k := slices.Index(kindNames[:], name)
		if k < 0 {
			return w, fmt.Errorf("--mix: unknown kind %q (owners, payers, enrolled, invalid, duplicates)", name)
		}
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 {
			return w, fmt.Errorf("--mix: %s=%q is not a weight", name, val)
		}
		w[k] += n
		total += n
	}
	if total == 0 {
		return w, errors.New("--mix: all weights are zero")
	}
	return w, nil
}

// plan is the kind of each trigger of a phase, shuffled deterministically.
func plan(n int, w [nKinds]int) []uint8 {
	total := 0
	for _, v := range w {
		total += v
	}
	kinds := make([]uint8, n)
	// Largest remainder per kind, then a seeded shuffle.
	i := 0
	for k, v := range w {
		for range n * v / total {
			kinds[i] = uint8(k)
			i++
		}
	}
	for k := 0; i < n; k = (k + 1) % nKinds {
		if w[k] > 0 {
			kinds[i] = uint8(k)
			i++
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(n, func(a, b int) { kinds[a], kinds[b] = kinds[b], kinds[a] })
	return kinds
}

// triggers builds the messages of one phase (prefix makes ids unique);
// owner and enrolled users are numbered in order, the same in every phase.
func triggers(kinds []uint8, prefix string, now time.Time) []*nats.Msg {
	subj := events.DefaultSubjects()
	msgs := make([]*nats.Msg, len(kinds))
	owners, enrolled := 0, 0
	// A duplicate copies a trigger well behind it, as a redelivered or
	// replayed copy comes after its original was decided.
	var valid []*nats.Msg
	for i, k := range kinds {
		id := prefix + strconv.Itoa(i)
		var m *nats.Msg
		switch k {
		case kindOwner:
			user := ownerID(owners)
			owners++
			m = event(subj.UserCreated, events.TypeUserCreated, "/bench", id, map[string]any{"user_id": user, "category": "OWNER", "email": user + "@example.com"})
		case kindEnrolled:
			s, _ := subj.SubjectFor(events.TypeEnrollmentSucceeded)
			m = event(s, events.TypeEnrollmentSucceeded, "mangopay", id, map[string]any{"user_id": enrolledID(enrolled), "occurred_at": now.UTC().Format(time.RFC3339)})
			enrolled++
		case kindInvalid:
			m = &nats.Msg{Subject: subj.UserCreated, Data: []byte(`{"specversion":"1.0","id":"` + id + `","type":`)}
		case kindDuplicate:
			if len(valid) > 0 {
				orig := valid[max(len(valid)-1-duplicateDistance, 0)]
				m = &nats.Msg{Subject: orig.Subject, Data: orig.Data}
				break
			}
			fallthrough
		default: // kindPayer
			m = event(subj.UserCreated, events.TypeUserCreated, "/bench", id, map[string]any{"user_id": "bench_payer_" + strconv.Itoa(i), "category": "PAYER"})
		}
		m.Header = nats.Header{nats.MsgIdHdr: {id}}
		if k != kindInvalid && k != kindDuplicate {
			valid = append(valid, m)
		}
		msgs[i] = m
	}
	return msgs
}

func event(subject, typ, source, id string, data map[string]any) *nats.Msg {
	b, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": id, "source": source, "type": typ, "data": data})
	return &nats.Msg{Subject: subject, Data: b}
}

// env is what the phases share.
type env struct {
	o        Options
	natsURL  string
	nats     *child
	sim      *child
	simURL   string
	kinds    []uint8
	ccfg     consumer.Config
	rate     enroll.Rate
	budgetN  int
	budgetPr time.Duration
	admin    jetstream.JetStream
}

// Run runs the bench and returns its report.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.N < 1 {
		return nil, errors.New("-n: must be at least 1")
	}
	if o.InFlight < 1 || o.InFlight > 1024 {
		return nil, errors.New("--in-flight: must be 1..1024")
	}
	w, err := parseMix(o.Mix)
	if err != nil {
		return nil, err
	}
	for _, p := range o.Phases {
		if !slices.Contains([]string{"raw", "bare", "worker"}, p) {
			return nil, fmt.Errorf("--phases: unknown phase %q (raw, bare, worker)", p)
		}
	}
	e := &env{o: o, kinds: plan(o.N, w)}
	e.rate = enroll.Rate{N: 1_000_000, Per: time.Second}
	if o.Budget != "" {
		if e.rate, err = enroll.ParseRate(o.Budget); err != nil {
			return nil, fmt.Errorf("--budget: %w", err)
		}
		e.budgetN, e.budgetPr = e.rate.N, e.rate.Per
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	dir, err := os.MkdirTemp("", "scaworker-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	owners, enrolled := 0, 0
	for _, k := range e.kinds {
		switch k {
		case kindOwner:
			owners++
		case kindEnrolled:
			enrolled++
		}
	}
	e.nats, err = spawn(ctx, o.Exe, "nats", childConfig{Dir: dir, Cluster: o.Cluster, SyncAlways: o.Cluster}, os.Stderr)
	if err != nil {
		return nil, err
	}
	defer e.nats.stop()
	e.sim, err = spawn(ctx, o.Exe, "sim", childConfig{Latency: o.Latency, ErrorRate: o.ErrorRate, BudgetN: e.budgetN, BudgetPer: e.budgetPr, Owners: owners, Enrolled: enrolled}, os.Stderr)
	if err != nil {
		return nil, err
	}
	defer e.sim.stop()
	e.natsURL, e.simURL = e.nats.hello.URL, e.sim.hello.URL

	nc, err := nats.Connect(e.natsURL, nats.Name("bench-admin"))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	if e.admin, err = jetstream.New(nc); err != nil {
		return nil, err
	}
	e.ccfg = consumer.Config{Concurrency: o.InFlight, MaxAckPending: max(256, o.InFlight)}
	if o.Cluster {
		e.ccfg.Replicas = 3
	}
	if err := e.provision(ctx); err != nil {
		return nil, err
	}
	if o.Rate <= 0 {
		if err := e.load(ctx, triggers(e.kinds, "t-", time.Now()), nil); err != nil {
			return nil, err
		}
	}

	rep := &Report{
		Command: "scaworker bench " + strings.Join(os.Args[2:], " "),
		Machine: machine(),
		Options: ReportOptions{N: o.N, InFlight: o.InFlight, Cluster: o.Cluster, LatencyMS: float64(o.Latency) / 1e6,
			ErrorRate: o.ErrorRate, Budget: o.Budget, Mix: o.Mix, Rate: o.Rate},
		Ratios: map[string]float64{},
	}
	for _, name := range o.Phases {
		p, err := e.phase(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("phase %s: %w", name, err)
		}
		rep.Phases = append(rep.Phases, p)
	}
	rep.ratios()
	return rep, nil
}

// provision creates the worker's layout, waiting for a cluster's
// JetStream to elect its leaders.
func (e *env) provision(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := consumer.Provision(pctx, e.admin, e.ccfg)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("provision: %w", err)
		}
		sleep(ctx, 500*time.Millisecond)
	}
}

// load publishes msgs, recording when each was sent in sent (by id) when
// sent is not nil; with Options.Rate it paces them.
func (e *env) load(ctx context.Context, msgs []*nats.Msg, sent *sync.Map) error {
	var tick *time.Ticker
	perTick := len(msgs)
	if e.o.Rate > 0 {
		tick = time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		perTick = max(int(e.o.Rate/100), 1)
	}
	for i, m := range msgs {
		if tick != nil && i%perTick == 0 && i > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if sent != nil {
			sent.Store(m.Header.Get(nats.MsgIdHdr), time.Now())
		}
		if _, err := e.admin.PublishMsgAsync(m); err != nil {
			return fmt.Errorf("load: %w", err)
		}
		if i%1000 == 999 || i == len(msgs)-1 || tick != nil {
			select {
			case <-e.admin.PublishAsyncComplete():
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// phaseRun is one phase in progress.
type phaseRun struct {
	e     *env
	p     *Phase
	nc    *nats.Conn
	js    jetstream.JetStream
	start time.Time
	done  atomic.Int64
	links atomic.Int64
	bar   *progressbar.ProgressBar

	mu       sync.Mutex
	lat      []time.Duration
	outcomes map[string]int
	sent     *sync.Map // id -> time.Time, with Options.Rate
}

// finished records one settled trigger; link is its trigger-to-link
// latency origin (zero when it made no link).
func (r *phaseRun) finished(outcome string, link bool, origin time.Time) {
	now := time.Now()
	r.mu.Lock()
	if outcome != "" {
		r.outcomes[outcome]++
	}
	if link {
		r.lat = append(r.lat, now.Sub(latest(origin, r.start)))
	}
	r.mu.Unlock()
	if link {
		r.links.Add(1)
	}
	r.done.Add(1)
	if r.bar != nil {
		_ = r.bar.Add(1)
	}
}

// origin is when trigger id was published (paced), else the stored time.
func (r *phaseRun) origin(id string, stored time.Time) time.Time {
	if r.sent != nil {
		if t, ok := r.sent.Load(id); ok {
			return t.(time.Time)
		}
	}
	return stored
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// phase runs one phase and measures it.
func (e *env) phase(ctx context.Context, name string) (*Phase, error) {
	r := &phaseRun{e: e, p: &Phase{Name: name, Events: e.o.N}, outcomes: map[string]int{}}
	var err error
	if r.nc, err = nats.Connect(e.natsURL, nats.Name("bench-"+name), nats.MaxReconnects(-1)); err != nil {
		return nil, err
	}
	defer r.nc.Close()
	if r.js, err = jetstream.New(r.nc); err != nil {
		return nil, err
	}
	var msgs []*nats.Msg
	if e.o.Rate > 0 {
		msgs = triggers(e.kinds, name+"-", time.Now())
		r.sent = &sync.Map{}
	}
	cons, err := e.consumerFor(ctx, name)
	if err != nil {
		return nil, err
	}

	if e.o.Progress != nil {
		r.bar = progressbar.NewOptions(e.o.N, progressbar.OptionSetWriter(e.o.Progress),
			progressbar.OptionSetDescription(fmt.Sprintf("%-6s", name)), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("ev"), progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish())
	}
	runtime.GC()
	debug.FreeOSMemory()
	samp := startSampler()
	ns0, err := e.nats.stats(time.Time{}, time.Time{})
	if err != nil {
		return nil, err
	}
	ss0, err := e.sim.stats(time.Time{}, time.Time{})
	if err != nil {
		return nil, err
	}
	cpu0 := selfStats().CPUNanos
	st0 := r.nc.Stats()
	stopProfiles, err := e.startProfiles(name)
	if err != nil {
		return nil, err
	}
	r.start = time.Now()

	pctx, cancel := context.WithTimeout(ctx, e.o.Duration)
	defer cancel()
	if msgs != nil {
		go func() {
			if err := e.load(pctx, msgs, r.sent); err != nil && pctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			}
		}()
	}
	var stopPhase func()
	switch name {
	case "raw":
		stopPhase, err = r.raw(cons)
	case "bare":
		stopPhase, err = r.bare(pctx, cons)
	default:
		stopPhase, err = r.worker(pctx)
	}
	if err != nil {
		return nil, err
	}
	waitDone(pctx, &r.done, int64(e.o.N))
	end := time.Now()
	// What settles while the phase stops (a budget run cut at --duration)
	// is not counted: its calls fall after end.
	events, links := r.done.Load(), r.links.Load()
	cpu1 := selfStats().CPUNanos
	st1 := r.nc.Stats()
	stopProfiles()
	stopPhase()
	peakRSS, peakG, startRSS := samp.stop()
	endRSS := rssBytes()
	if r.bar != nil {
		_ = r.bar.Finish()
	}
	ns1, err := e.nats.stats(time.Time{}, time.Time{})
	if err != nil {
		return nil, err
	}
	ss1, err := e.sim.stats(r.start, end)
	if err != nil {
		return nil, err
	}

	p := r.p
	p.Events = int(events)
	p.Seconds = end.Sub(r.start).Seconds()
	p.EventsPerSec = float64(p.Events) / p.Seconds
	p.Links = int(links)
	p.LinksPerSec = float64(p.Links) / p.Seconds
	if len(r.outcomes) > 0 {
		p.Outcomes = r.outcomes
	}
	p.LatencyP50MS, p.LatencyP99MS = quantile(r.lat, 0.50), quantile(r.lat, 0.99)
	p.MangopayCalls, p.Status429 = ss1.Calls, ss1.Status429
	if p.Links > 0 {
		p.CallsPerLink = float64(p.MangopayCalls) / float64(p.Links)
	}
	if e.budgetN > 0 {
		if k := int(end.Sub(r.start) / e.budgetPr); k >= 1 {
			w, err := e.sim.stats(end.Add(-time.Duration(k)*e.budgetPr), end)
			if err != nil {
				return nil, err
			}
			used := float64(w.Calls-w.Status429) / float64(k*e.budgetN)
			p.BudgetUsed = &used
		}
	}
	ev := float64(max(p.Events, 1))
	p.WorkerCPUUSPerEv = float64(cpu1-cpu0) / 1e3 / ev
	p.ServerCPUUSPerEv = float64(ns1.CPUNanos-ns0.CPUNanos) / 1e3 / ev
	p.SimCPUUSPerEv = float64(ss1.CPUNanos-ss0.CPUNanos) / 1e3 / ev
	p.NATSOutPerTrigger = float64(st1.OutMsgs-st0.OutMsgs) / ev
	p.NATSInPerTrigger = float64(st1.InMsgs-st0.InMsgs) / ev
	p.RSSStartMB, p.RSSPeakMB, p.RSSEndMB = mb(startRSS), mb(peakRSS), mb(endRSS)
	p.GoroutinesPeak = peakG
	return p, nil
}

// consumerFor creates the phase's consumer: a durable of its own on the
// trigger stream for a baseline; for the worker, the provisioned one (with
// Options.Rate, created anew to deliver only new triggers).
func (e *env) consumerFor(ctx context.Context, name string) (jetstream.Consumer, error) {
	cfg := e.ccfg.Defaults()
	cc := jetstream.ConsumerConfig{
		Durable: "bench_" + name, AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: -1,
		AckWait: cfg.AckWait, MaxAckPending: cfg.MaxAckPending, FilterSubjects: cfg.Subjects.Triggers(),
		Replicas: cfg.Replicas, DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if e.o.Rate > 0 {
		cc.DeliverPolicy = jetstream.DeliverNewPolicy
	}
	if name == "worker" {
		if e.o.Rate <= 0 {
			return nil, nil // the provisioned durable delivers the backlog
		}
		cc.Durable = cfg.Durable
		if err := e.admin.DeleteConsumer(ctx, cfg.Stream, cfg.Durable); err != nil {
			return nil, err
		}
	}
	return e.admin.CreateConsumer(ctx, cfg.Stream, cc)
}

// raw acks every message, nothing else.
func (r *phaseRun) raw(cons jetstream.Consumer) (func(), error) {
	cc, err := r.bind(cons).Consume(func(m jetstream.Msg) {
		var stored time.Time
		if md, err := m.Metadata(); err == nil {
			stored = md.Timestamp
		}
		_ = m.Ack()
		r.finished("", false, stored)
	}, jetstream.PullMaxMessages(r.e.o.InFlight))
	if err != nil {
		return nil, err
	}
	return cc.Stop, nil
}

// bind returns cons as seen from the phase's own connection.
func (r *phaseRun) bind(cons jetstream.Consumer) jetstream.Consumer {
	cfg := r.e.ccfg.Defaults()
	c, err := r.js.Consumer(context.Background(), cfg.Stream, cons.CachedInfo().Name)
	if err != nil {
		return cons
	}
	return c
}

// bare is the pipeline without rules: POST, publish with a message id, ack.
func (r *phaseRun) bare(ctx context.Context, cons jetstream.Consumer) (func(), error) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: r.e.o.InFlight, MaxIdleConnsPerHost: r.e.o.InFlight}}
	token, err := r.token(ctx, hc)
	if err != nil {
		return nil, err
	}
	linkSubject := events.DefaultSubjects().LinkSend
	base := r.e.simURL + "/v2.01/" + mangosim.DefaultClientID + "/sca/users/"
	work := make(chan jetstream.Msg, r.e.o.InFlight)
	var wg sync.WaitGroup
	for range r.e.o.InFlight {
		wg.Go(func() {
			for m := range work {
				var ev struct {
					ID   string `json:"id"`
					Data struct {
						UserID string `json:"user_id"`
					} `json:"data"`
				}
				_ = json.Unmarshal(m.Data(), &ev)
				var stored time.Time
				var seq uint64
				if md, err := m.Metadata(); err == nil {
					stored, seq = md.Timestamp, md.Sequence.Stream
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+ev.Data.UserID+"/enrollment", strings.NewReader(`{}`))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				var body []byte
				if resp, err := hc.Do(req); err == nil {
					body, _ = io.ReadAll(resp.Body)
					_ = resp.Body.Close()
				}
				if _, err := r.js.Publish(ctx, linkSubject, body, jetstream.WithMsgID("bare-"+strconv.FormatUint(seq, 10))); err != nil {
					_ = m.Nak()
					continue
				}
				_ = m.Ack()
				r.finished("", true, r.origin(ev.ID, stored))
			}
		})
	}
	cc, err := r.bind(cons).Consume(func(m jetstream.Msg) { work <- m }, jetstream.PullMaxMessages(r.e.o.InFlight))
	if err != nil {
		close(work)
		return nil, err
	}
	return func() { cc.Stop(); close(work); wg.Wait(); hc.CloseIdleConnections() }, nil
}

// token gets a bearer token from the simulator for the bare pipeline.
func (r *phaseRun) token(ctx context.Context, hc *http.Client) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.e.simURL+"/v2.01/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.SetBasicAuth(mangosim.DefaultClientID, mangosim.DefaultAPIKey)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("simulator token: %v (status %d)", err, resp.StatusCode)
	}
	return tok.AccessToken, nil
}

// worker runs the real consumer, built as `scaworker run` builds it.
func (r *phaseRun) worker(ctx context.Context) (func(), error) {
	mp, err := enroll.NewClient(enroll.Config{
		BaseURL: r.e.simURL, ClientID: mangosim.DefaultClientID, APIKey: mangosim.DefaultAPIKey,
		ReturnURL: "https://platform.example/sca/done", LinkHosts: enroll.DefaultLinkHosts(),
		Rate: r.e.rate,
	}, r.e.o.Log)
	if err != nil {
		return nil, err
	}
	closeBudget := func() {}
	if r.e.o.ShareBudget != nil {
		if closeBudget, err = r.e.o.ShareBudget(ctx, r.js, r.e.ccfg, r.e.rate, enroll.DefaultRequestTimeout, mp.Governor()); err != nil {
			return nil, err
		}
	}
	c, err := consumer.New(r.e.ccfg, consumer.Deps{
		JS: r.js, Mangopay: mp, Pacer: mp.Governor(), Metrics: consumer.NewMetrics(prometheus.NewRegistry()), Log: r.e.o.Log,
		OnOutcome: func(o consumer.Outcome) {
			link := o.Outcome == events.OutcomeLink
			var origin time.Time
			if link {
				origin = r.origin(o.EventID, time.Time{})
			}
			r.finished(o.Outcome, link, origin)
		},
	})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintf(os.Stderr, "bench: worker: %v\n", err)
		}
		closeBudget()
	}, nil
}

// startProfiles starts the worker phase's profiles in Options.Profile.
func (e *env) startProfiles(name string) (func(), error) {
	if e.o.Profile == "" || name != "worker" {
		return func() {}, nil
	}
	if err := os.MkdirAll(e.o.Profile, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(e.o.Profile, "worker-cpu.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, err
	}
	runtime.SetMutexProfileFraction(10)
	runtime.SetBlockProfileRate(int(50 * time.Microsecond))
	serverProf := filepath.Join(e.o.Profile, "server-cpu.pprof")
	if abs, err := filepath.Abs(serverProf); err == nil {
		serverProf = abs
	}
	if err := e.nats.post("/cpuprofile/start?file=" + serverProf); err != nil {
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
		_ = e.nats.post("/cpuprofile/stop")
		for _, p := range []string{"mutex", "block", "goroutine"} {
			if out, err := os.Create(filepath.Join(e.o.Profile, "worker-"+p+".pprof")); err == nil {
				_ = pprof.Lookup(p).WriteTo(out, 0)
				_ = out.Close()
			}
		}
		runtime.SetMutexProfileFraction(0)
		runtime.SetBlockProfileRate(0)
	}, nil
}

// waitDone waits until n reaches want or ctx ends.
func waitDone(ctx context.Context, n *atomic.Int64, want int64) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for n.Load() < want {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func quantile(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return float64(ds[min(int(q*float64(len(ds))), len(ds)-1)]) / 1e6
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// sampler follows the peak resident set and goroutine count.
type sampler struct {
	stopc     chan struct{}
	done      chan struct{}
	rss, rss0 int64
	g         int
}

func startSampler() *sampler {
	s := &sampler{stopc: make(chan struct{}), done: make(chan struct{}), rss0: rssBytes()}
	go func() {
		defer close(s.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			s.rss = max(s.rss, rssBytes())
			s.g = max(s.g, runtime.NumGoroutine())
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() (peakRSS int64, peakG int, startRSS int64) {
	close(s.stopc)
	<-s.done
	return max(s.rss, rssBytes()), s.g, s.rss0
}

// rssBytes is the resident set now (Linux /proc), else the peak so far.
func rssBytes() int64 {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			if pages, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return pages * int64(os.Getpagesize())
			}
		}
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss * 1024
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}
