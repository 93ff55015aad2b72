package hooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/hooks"
	"github.com/scaworker/scaworker/internal/testworld"
)

// env is one test's world (testworld) with the hooks bucket and a bound
// ingress; the consumer runs only when asked for.
type env struct {
	*testworld.World
	kv    jetstream.KeyValue
	h     *hooks.Handler
	mux   *http.ServeMux
	reg   *prometheus.Registry
	jsCfg *server.JetStreamConfig // to enable JetStream again
}

type envOpts struct {
	cfg      hooks.Config
	consumer bool // run the consumer
}

// fastRate is a rate no test reaches, for tests that are not about the rate limit.
var fastRate = enroll.Rate{N: 100000, Per: time.Second}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	e := &env{World: testworld.New(t, testworld.Options{NoStart: true})}
	e.jsCfg = e.Server.JetStreamConfig()
	e.jsCfg.StoreDir = e.StoreDir // EnableJetStream appends "jetstream" itself
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	if e.kv, err = consumer.HooksBucket(ctx, e.JS, consumer.Config{HooksBucket: "sca_hooks", Replicas: 1}); err != nil {
		t.Fatalf("Bucket: %v", err)
	}
	e.reg = prometheus.NewRegistry()
	cfg := o.cfg
	if cfg.Rate == (enroll.Rate{}) {
		cfg.Rate = fastRate
	}
	if cfg.SourceRate == (enroll.Rate{}) {
		cfg.SourceRate = fastRate
	}
	if e.h, err = hooks.New(cfg, hooks.Deps{Log: e.Log, Metrics: hooks.NewMetrics(e.reg)}); err != nil {
		t.Fatalf("hooks.New: %v", err)
	}
	e.h.Bind(hooks.NewStore(e.JS, e.kv, events.DefaultSubjects(), "SCA_EVENTS", nil))
	e.mux = http.NewServeMux()
	e.h.Register(e.mux)
	if o.consumer {
		e.Start()
		testworld.WaitFor(t, "consumer bound", testworld.Timeout, func() bool { return e.Consumer.Ready() == nil })
	}
	return e
}

// query builds a hook's query string.
func query(eventType, userID string, date time.Time) string {
	return "EventType=" + eventType + "&RessourceId=" + userID + "&Date=" + strconv.FormatInt(date.Unix(), 10)
}

// do sends one request through the mux (the route as mounted in `run`).
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
	e.T.Helper()
	return e.StreamMsgs("SCA_EVENTS")
}

// markers returns the keys of the hooks bucket.
func (e *env) markers() []string {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := e.kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil
	}
	if err != nil {
		e.T.Fatalf("keys: %v", err)
	}
	return keys
}

func (e *env) marker(id string) (hooks.Marker, bool) {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kve, err := e.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return hooks.Marker{}, false
	}
	if err != nil {
		e.T.Fatalf("marker %s: %v", id, err)
	}
	var m hooks.Marker
	if err := json.Unmarshal(kve.Value(), &m); err != nil {
		e.T.Fatalf("marker %s: %v", id, err)
	}
	return m, true
}

// count returns scaworker_hooks_total{result}.
func (e *env) count(result string) float64 {
	e.T.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.T.Fatal(err)
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
	e.T.Fatalf("no scaworker_hooks_total{result=%q}", result)
	return 0
}
