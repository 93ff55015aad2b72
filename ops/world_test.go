package ops_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/mangosim"
	"github.com/scaworker/scaworker/ops"
)

// opsWorld is one test's deployment: an embedded JetStream server, the
// Mangopay simulator, an enroll client and (unless noWorker) a running
// worker, as in consumer/harness_test.go.
type opsWorld struct {
	t      testing.TB
	srv    *server.Server
	js     jetstream.JetStream
	sim    *mangosim.Server
	client *enroll.Client
	cfg    consumer.Config
	logs   *observer.ObservedLogs
	log    *zap.Logger
	cancel context.CancelFunc
	done   chan error

	mu       sync.Mutex
	outcomes []consumer.Outcome
}

type opsWorldOpts struct {
	noWorker bool
	enroll   func(*enroll.Config)
}

func newOpsWorld(t testing.TB, o opsWorldOpts) *opsWorld {
	t.Helper()
	w := &opsWorld{t: t}
	sopts := natsserver.DefaultTestOptions
	sopts.Port, sopts.JetStream, sopts.StoreDir = -1, true, t.TempDir()
	w.srv = natsserver.RunServer(&sopts)
	t.Cleanup(w.srv.Shutdown)
	nc, err := nats.Connect(w.srv.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	if w.js, err = jetstream.New(nc); err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	w.sim = mangosim.Start(mangosim.Options{})
	t.Cleanup(w.sim.Close)

	core, logs := observer.New(zapcore.DebugLevel)
	w.logs, w.log = logs, zap.New(core)
	ecfg := enroll.Config{
		BaseURL: w.sim.URL, ClientID: w.sim.ClientID(), APIKey: w.sim.APIKey(),
		ReturnURL:      "https://platform.example/sca/done",
		RequestTimeout: 2 * time.Second, MaxRetries: 2,
		InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond,
		Rate: enroll.Rate{N: 100000, Per: time.Second},
	}
	if o.enroll != nil {
		o.enroll(&ecfg)
	}
	if w.client, err = enroll.NewClient(ecfg, w.log); err != nil {
		t.Fatalf("enroll.NewClient: %v", err)
	}
	w.cfg = consumer.Config{
		Concurrency: 4, AckWait: 2 * time.Second, AttemptTimeout: time.Second,
		RetryDelayMin: 10 * time.Millisecond, RetryDelayMax: 50 * time.Millisecond,
		FaultPause: 50 * time.Millisecond, FaultPauseMax: 200 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := consumer.Provision(ctx, w.js, w.cfg); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if o.noWorker {
		return w
	}
	cons, err := consumer.New(w.cfg, consumer.Deps{
		JS: w.js, Mangopay: w.client, Pacer: w.client.Governor(), Log: w.log,
		OnOutcome: func(out consumer.Outcome) {
			w.mu.Lock()
			w.outcomes = append(w.outcomes, out)
			w.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("consumer.New: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	w.cancel, w.done = stop, make(chan error, 1)
	go func() { w.done <- cons.Run(runCtx) }()
	t.Cleanup(func() {
		w.cancel()
		select {
		case err := <-w.done:
			if err != nil {
				t.Errorf("worker Run() = %v, want nil", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("worker did not stop within 15s")
		}
	})
	return w
}

func (w *opsWorld) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	w.t.Cleanup(cancel)
	return ctx
}

// opsWait polls cond until it holds or the deadline passes.
func opsWait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// outcomeOf waits for the first decided outcome of the trigger id.
func (w *opsWorld) outcomeOf(id string) consumer.Outcome {
	w.t.Helper()
	var got consumer.Outcome
	opsWait(w.t, "outcome of "+id, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, o := range w.outcomes {
			if o.EventID == id && o.Outcome != events.OutcomeDuplicate {
				got = o
				return true
			}
		}
		return false
	})
	return got
}

// outcomesOf returns every outcome of the trigger id so far.
func (w *opsWorld) outcomesOf(id string) []consumer.Outcome {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []consumer.Outcome
	for _, o := range w.outcomes {
		if o.EventID == id {
			out = append(out, o)
		}
	}
	return out
}

func ceBody(typ, source, id string, data map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": id, "source": source, "type": typ, "data": data})
	return b
}

// publish stores a message on subject with Nats-Msg-Id msgID (when set).
func (w *opsWorld) publish(subject string, body []byte, msgID string) *jetstream.PubAck {
	w.t.Helper()
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	ack, err := w.js.Publish(w.ctx(), subject, body, opts...)
	if err != nil {
		w.t.Fatalf("publish %s: %v", subject, err)
	}
	return ack
}

// userCreated publishes a user.created trigger of an OWNER.
func (w *opsWorld) userCreated(id, userID string) {
	w.t.Helper()
	w.publish(events.DefaultSubjects().UserCreated,
		ceBody(events.TypeUserCreated, "/users", id, map[string]any{"user_id": userID, "category": "OWNER"}), id)
}

// links returns the send-link events stored.
func (w *opsWorld) links() []events.LinkSend {
	w.t.Helper()
	var out []events.LinkSend
	err := ops.ReadStream(w.ctx(), w.js, w.cfg.Defaults().LinksStream, ops.ReadOptions{}, func(m ops.StoredMsg) error {
		l, err := events.DecodeLinkSend(m.Data)
		if err != nil {
			return err
		}
		out = append(out, *l)
		return nil
	})
	if err != nil {
		w.t.Fatalf("read links: %v", err)
	}
	return out
}

// dlq returns the dead-letter tools with the world's logger.
func (w *opsWorld) dlq() *ops.DLQ {
	return ops.NewDLQ(w.js, w.cfg, ops.DLQOptions{Log: w.log, Operator: "alice"})
}

// records lists every dead letter.
func (w *opsWorld) records() []ops.Record {
	w.t.Helper()
	recs, err := w.dlq().List(w.ctx(), ops.Filter{}, 0)
	if err != nil {
		w.t.Fatalf("List: %v", err)
	}
	return recs
}

// waitRecords waits until the DLQ holds n records and returns them.
func (w *opsWorld) waitRecords(n int) []ops.Record {
	w.t.Helper()
	var recs []ops.Record
	opsWait(w.t, fmt.Sprintf("%d dead letters", n), func() bool {
		recs = w.records()
		return len(recs) >= n
	})
	if len(recs) != n {
		w.t.Fatalf("dead letters = %d, want %d", len(recs), n)
	}
	return recs
}

// ledger reads the ledger entry of (source, id); nil when absent.
func (w *opsWorld) ledger(source, id string) *ops.LedgerEntry {
	w.t.Helper()
	kv, err := w.js.KeyValue(w.ctx(), w.cfg.Defaults().LedgerBucket)
	if err != nil {
		w.t.Fatalf("ledger bucket: %v", err)
	}
	e, err := kv.Get(w.ctx(), events.KeyOf(source, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		w.t.Fatalf("ledger get: %v", err)
	}
	var le ops.LedgerEntry
	if err := json.Unmarshal(e.Value(), &le); err != nil {
		w.t.Fatalf("ledger decode: %v", err)
	}
	return &le
}

// streamMsgs counts the messages stored in stream.
func (w *opsWorld) streamMsgs(stream string) uint64 {
	w.t.Helper()
	st, err := w.js.Stream(w.ctx(), stream)
	if err != nil {
		w.t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(w.ctx())
	if err != nil {
		w.t.Fatalf("stream %s info: %v", stream, err)
	}
	return info.State.Msgs
}

// logsWith returns the log entries with message msg.
func (w *opsWorld) logsWith(msg string) []observer.LoggedEntry {
	return w.logs.FilterMessage(msg).All()
}

// checkNoSecret fails when a log line carries the API key.
func (w *opsWorld) checkNoSecret() {
	w.t.Helper()
	for _, e := range w.logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += fmt.Sprintf(" %s=%v", k, v)
		}
		if strings.Contains(line, w.sim.APIKey()) {
			w.t.Errorf("log line carries the API key: %q", e.Message)
		}
	}
}
