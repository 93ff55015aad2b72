package hooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/hooks"
	"github.com/scaworker/scaworker/mangosim"
)

// env is one test's world: an embedded JetStream server with scaworker's layout, the
// hooks bucket, and a bound ingress; optionally the simulator and a running consumer.
type env struct {
	t     testing.TB
	srv   *server.Server
	js    jetstream.JetStream
	kv    jetstream.KeyValue
	h     *hooks.Handler
	mux   *http.ServeMux
	reg   *prometheus.Registry
	logs  *observer.ObservedLogs
	ccfg  consumer.Config
	sim   *mangosim.Server
	mu    sync.Mutex
	outs  []consumer.Outcome
	jsCfg *server.JetStreamConfig
}

type envOpts struct {
	cfg      hooks.Config
	consumer bool // start the simulator and a consumer
}

// fastRate is a rate no test reaches, for tests that are not about the rate limit.
var fastRate = enroll.Rate{N: 100000, Per: time.Second}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	e := &env{t: t}
	opts := natsserver.DefaultTestOptions
	opts.Port, opts.JetStream, opts.StoreDir = -1, true, t.TempDir()
	e.srv = natsserver.RunServer(&opts)
	t.Cleanup(e.srv.Shutdown)
	e.jsCfg = e.srv.JetStreamConfig()
	e.jsCfg.StoreDir = opts.StoreDir // EnableJetStream appends "jetstream" itself
	nc, err := nats.Connect(e.srv.ClientURL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	if e.js, err = jetstream.New(nc); err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	e.ccfg = consumer.Config{
		Concurrency: 4, AckWait: 2 * time.Second, AttemptTimeout: time.Second,
		RetryDelayMin: 10 * time.Millisecond, RetryDelayMax: 50 * time.Millisecond,
		FaultPause: 50 * time.Millisecond, FaultPauseMax: 200 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := consumer.Provision(ctx, e.js, e.ccfg); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if e.kv, err = hooks.Bucket(ctx, e.js, "sca_hooks", 1); err != nil {
		t.Fatalf("Bucket: %v", err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	e.logs = logs
	log := zap.New(core)
	e.reg = prometheus.NewRegistry()
	cfg := o.cfg
	if cfg.Rate == (enroll.Rate{}) {
		cfg.Rate = fastRate
	}
	if e.h, err = hooks.New(cfg, hooks.Deps{Log: log, Metrics: hooks.NewMetrics(e.reg)}); err != nil {
		t.Fatalf("hooks.New: %v", err)
	}
	e.h.Bind(hooks.NewStore(e.js, e.kv, events.DefaultSubjects(), "SCA_EVENTS", nil))
	e.mux = http.NewServeMux()
	e.h.Register(e.mux)
	if o.consumer {
		e.startConsumer(log)
	}
	return e
}

func (e *env) startConsumer(log *zap.Logger) {
	t := e.t
	e.sim = mangosim.Start(mangosim.Options{})
	t.Cleanup(e.sim.Close)
	client, err := enroll.NewClient(enroll.Config{
		BaseURL: e.sim.URL, ClientID: e.sim.ClientID(), APIKey: e.sim.APIKey(),
		ReturnURL: "https://platform.example/sca/done", LinkHosts: enroll.DefaultLinkHosts(),
		RequestTimeout: 2 * time.Second, MaxRetries: 2,
		InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond,
		Rate: enroll.Rate{N: 100000, Per: time.Second},
	}, log.Named("enroll"))
	if err != nil {
		t.Fatalf("enroll.NewClient: %v", err)
	}
	c, err := consumer.New(e.ccfg, consumer.Deps{
		JS: e.js, Mangopay: client, Pacer: client.Governor(), Log: log.Named("consumer"),
		OnOutcome: func(o consumer.Outcome) {
			e.mu.Lock()
			e.outs = append(e.outs, o)
			e.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("consumer.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitFor(t, "consumer bound", 15*time.Second, func() bool { return c.Ready() == nil })
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("consumer Run() = %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("consumer did not stop")
		}
	})
}

// query builds a hook's query string.
func query(eventType, userID string, date time.Time) string {
	return "EventType=" + eventType + "&RessourceId=" + userID + "&Date=" + strconv.FormatInt(date.Unix(), 10)
}

// get sends one request through the mux (the route as mounted in `run`).
func (e *env) do(method, target string, mod func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = "192.0.2.10:40000"
	if mod != nil {
		mod(r)
	}
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	return w
}

func (e *env) get(target string) *httptest.ResponseRecorder { return e.do(http.MethodGet, target, nil) }

// stored returns the number of messages in the trigger stream.
func (e *env) stored() uint64 {
	e.t.Helper()
	return e.streamMsgs("SCA_EVENTS")
}

func (e *env) streamMsgs(name string) uint64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, name)
	if err != nil {
		e.t.Fatalf("stream %s: %v", name, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		e.t.Fatalf("stream %s info: %v", name, err)
	}
	return info.State.Msgs
}

// markers returns the keys of the hooks bucket.
func (e *env) markers() []string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := e.kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil
	}
	if err != nil {
		e.t.Fatalf("keys: %v", err)
	}
	return keys
}

func (e *env) marker(id string) (hooks.Marker, bool) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kve, err := e.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return hooks.Marker{}, false
	}
	if err != nil {
		e.t.Fatalf("marker %s: %v", id, err)
	}
	var m hooks.Marker
	if err := json.Unmarshal(kve.Value(), &m); err != nil {
		e.t.Fatalf("marker %s: %v", id, err)
	}
	return m, true
}

// count returns scaworker_hooks_total{result}.
func (e *env) count(result string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "scaworker_hooks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	e.t.Fatalf("no scaworker_hooks_total{result=%q}", result)
	return 0
}

func (e *env) outcomes() []consumer.Outcome {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]consumer.Outcome(nil), e.outs...)
}

// outcomeFor waits for the first non-duplicate outcome of event id.
func (e *env) outcomeFor(id string) consumer.Outcome {
	e.t.Helper()
	var got consumer.Outcome
	waitFor(e.t, "outcome of "+id, 20*time.Second, func() bool {
		for _, o := range e.outcomes() {
			if o.EventID == id && o.Outcome != events.OutcomeDuplicate {
				got = o
				return true
			}
		}
		return false
	})
	return got
}

// settled waits until the durable consumer has nothing pending or unacknowledged.
func (e *env) settled() {
	e.t.Helper()
	waitFor(e.t, "consumer to settle", 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := e.js.Consumer(ctx, "SCA_EVENTS", "scaworker")
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// logText renders every log line with its fields, for secret checks.
func (e *env) logText() string {
	var b strings.Builder
	for _, l := range e.logs.All() {
		fmt.Fprintf(&b, "%s %s", l.Level, l.Message)
		for k, v := range l.ContextMap() {
			fmt.Fprintf(&b, " %s=%v", k, v)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
