package consumer_test

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
)

const returnURL = "https://platform.example/sca/done?from=mail"

// bundle is one test's world: an embedded JetStream server, a Mangopay
// simulator, a client, and a running consumer.
type bundle struct {
	t      testing.TB
	srv    *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	sim    *mangosim.Server
	client *enroll.Client
	cons   *consumer.Consumer
	cfg    consumer.Config
	logs   *observer.ObservedLogs
	logger *zap.Logger
	cancel context.CancelFunc
	done   chan error

	mu       sync.Mutex
	outcomes []consumer.Outcome
}

type setupOpts struct {
	cfg      func(*consumer.Config)
	enroll   func(*enroll.Config)
	sim      func(*mangosim.Options)
	noStart  bool
	srvStore string
	// quiet drops logs (benchmarks), so nothing is checked for secrets.
	quiet bool
}

func runJetStream(t testing.TB, storeDir string) *server.Server {
	t.Helper()
	opts := natsserver.DefaultTestOptions
	opts.Port, opts.JetStream = -1, true
	opts.StoreDir = storeDir
	if opts.StoreDir == "" {
		opts.StoreDir = t.TempDir()
	}
	srv := natsserver.RunServer(&opts)
	t.Cleanup(srv.Shutdown)
	return srv
}

func setup(t testing.TB, o setupOpts) *bundle {
	t.Helper()
	b := &bundle{t: t}
	b.srv = runJetStream(t, o.srvStore)
	nc, err := nats.Connect(b.srv.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	b.nc = nc
	b.js, err = jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}

	simOpts := mangosim.Options{}
	if o.sim != nil {
		o.sim(&simOpts)
	}
	b.sim = mangosim.Start(simOpts)
	t.Cleanup(b.sim.Close)

	core, logs := observer.New(zapcore.DebugLevel)
	b.logs = logs
	log := zap.New(core)
	if o.quiet {
		log = zap.NewNop()
	}
	b.logger = log

	ecfg := enroll.Config{
		BaseURL: b.sim.URL, ClientID: b.sim.ClientID(), APIKey: b.sim.APIKey(),
		ReturnURL:       returnURL,
		LinkHosts:       enroll.DefaultLinkHosts(),
		RequestTimeout:  2 * time.Second,
		MaxRetries:      2,
		InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond,
		Rate: enroll.Rate{N: 100000, Per: time.Second},
	}
	if o.enroll != nil {
		o.enroll(&ecfg)
	}
	b.client, err = enroll.NewClient(ecfg, log)
	if err != nil {
		t.Fatalf("enroll.NewClient: %v", err)
	}

	b.cfg = consumer.Config{
		Concurrency:     4,
		AckWait:         2 * time.Second,
		AttemptTimeout:  time.Second,
		RetryDelayMin:   10 * time.Millisecond,
		RetryDelayMax:   50 * time.Millisecond,
		FaultPause:      50 * time.Millisecond,
		FaultPauseMax:   200 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second,
	}
	if o.cfg != nil {
		o.cfg(&b.cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := consumer.Provision(ctx, b.js, b.cfg); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	b.cons, err = consumer.New(b.cfg, consumer.Deps{
		JS: b.js, Mangopay: b.client, Pacer: b.client.Governor(), Log: log,
		OnOutcome: func(out consumer.Outcome) {
			if o.quiet {
				return
			}
			b.mu.Lock()
			b.outcomes = append(b.outcomes, out)
			b.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("consumer.New: %v", err)
	}
	if !o.noStart {
		b.start()
	}
	t.Cleanup(func() {
		b.stop()
		if !o.quiet {
			b.checkNoSecrets()
		}
	})
	return b
}

func (b *bundle) start() {
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done = cancel, make(chan error, 1)
	go func() { b.done <- b.cons.Run(ctx) }()
}

func (b *bundle) stop() {
	if b.cancel == nil {
		return
	}
	b.cancel()
	select {
	case err := <-b.done:
		if err != nil {
			b.t.Errorf("Run() = %v, want nil after cancel", err)
		}
	case <-time.After(15 * time.Second):
		b.t.Errorf("Run() did not return within 15s of cancel")
	}
	b.cancel = nil
}

// checkNoSecrets fails the test when a log line carries the API key, an
// access token or a link token.
func (b *bundle) checkNoSecrets() {
	b.t.Helper()
	secrets := []string{b.sim.APIKey()}
	for _, l := range b.links() {
		if i := strings.Index(l.RedirectURL, "token="); i >= 0 {
			tok := l.RedirectURL[i+len("token="):]
			if j := strings.IndexAny(tok, "&#"); j >= 0 {
				tok = tok[:j]
			}
			secrets = append(secrets, tok)
		}
	}
	for _, e := range b.logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += fmt.Sprintf(" %s=%v", k, v)
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(line, s) {
				b.t.Errorf("log line carries a secret: %q", e.Message)
			}
		}
	}
}

// trigger is a CloudEvent to publish.
type trigger struct {
	subject string
	body    string
}

func cloudEvent(typ, source, id string, data map[string]any) []byte {
	ev := map[string]any{"specversion": "1.0", "id": id, "source": source, "type": typ, "data": data}
	out, _ := json.Marshal(ev)
	return out
}

func (b *bundle) publish(subject string, body []byte, msgID string) uint64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	ack, err := b.js.Publish(ctx, subject, body, opts...)
	if err != nil {
		b.t.Fatalf("publish %s: %v", subject, err)
	}
	return ack.Sequence
}

func (b *bundle) userCreated(id, userID string, data map[string]any) uint64 {
	if data == nil {
		data = map[string]any{}
	}
	data["user_id"] = userID
	return b.publish(events.DefaultSubjects().UserCreated, cloudEvent(events.TypeUserCreated, "/users", id, data), id)
}

func (b *bundle) hook(typ, id, userID string, occurred time.Time) uint64 {
	s := events.DefaultSubjects()
	subj := map[string]string{
		events.TypeSessionExpired:      s.SessionExpired,
		events.TypeSessionFailed:       s.SessionFailed,
		events.TypeEnrollmentSucceeded: s.EnrollmentSucceeded,
	}[typ]
	data := map[string]any{"user_id": userID}
	if !occurred.IsZero() {
		data["occurred_at"] = occurred.UTC().Format(time.RFC3339)
	}
	return b.publish(subj, cloudEvent(typ, "mangopay", id, data), id)
}

func (b *bundle) snapshot() []consumer.Outcome {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]consumer.Outcome(nil), b.outcomes...)
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

// outcomeFor waits for the first non-duplicate outcome of event id.
func (b *bundle) outcomeFor(id string) consumer.Outcome {
	b.t.Helper()
	var got consumer.Outcome
	waitFor(b.t, "outcome of "+id, 20*time.Second, func() bool {
		for _, o := range b.snapshot() {
			if o.EventID == id && o.Outcome != events.OutcomeDuplicate {
				got = o
				return true
			}
		}
		return false
	})
	return got
}

// outcomeAt waits for the outcome of the trigger stored at stream seq.
func (b *bundle) outcomeAt(seq uint64) consumer.Outcome {
	b.t.Helper()
	var got consumer.Outcome
	waitFor(b.t, fmt.Sprintf("outcome of stream seq %d", seq), 20*time.Second, func() bool {
		for _, o := range b.snapshot() {
			if o.StreamSeq == seq && o.Outcome != events.OutcomeDuplicate {
				got = o
				return true
			}
		}
		return false
	})
	return got
}

// links reads every send-link event stored in the links stream.
func (b *bundle) links() []events.LinkSend {
	return readAll(b, b.cfg.Defaults().LinksStream, func(m *jetstream.RawStreamMsg) (events.LinkSend, error) {
		l, err := events.DecodeLinkSend(m.Data)
		if err != nil {
			return events.LinkSend{}, err
		}
		return *l, nil
	})
}

// deadLetters reads every dead-letter record.
func (b *bundle) deadLetters() []events.DeadLetter {
	return readAll(b, b.cfg.Defaults().DLQStream, func(m *jetstream.RawStreamMsg) (events.DeadLetter, error) {
		d, err := events.DecodeDeadLetter(m.Data)
		if err != nil {
			return events.DeadLetter{}, err
		}
		return *d, nil
	})
}

func readAll[T any](b *bundle, stream string, decode func(*jetstream.RawStreamMsg) (T, error)) []T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := b.js.Stream(ctx, stream)
	if err != nil {
		b.t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		b.t.Fatalf("stream %s info: %v", stream, err)
	}
	var out []T
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			b.t.Fatalf("get %s/%d: %v", stream, seq, err)
		}
		v, err := decode(m)
		if err != nil {
			b.t.Fatalf("decode %s/%d: %v", stream, seq, err)
		}
		out = append(out, v)
	}
	return out
}

// consumerInfo returns the durable consumer's state.
func (b *bundle) consumerInfo() *jetstream.ConsumerInfo {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg := b.cfg.Defaults()
	c, err := b.js.Consumer(ctx, cfg.Stream, cfg.Durable)
	if err != nil {
		b.t.Fatalf("consumer: %v", err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		b.t.Fatalf("consumer info: %v", err)
	}
	return info
}

// settled waits until the consumer has nothing pending or unacknowledged.
func (b *bundle) settled() {
	b.t.Helper()
	waitFor(b.t, "consumer to settle", 20*time.Second, func() bool {
		info := b.consumerInfo()
		return info.NumPending == 0 && info.NumAckPending == 0
	})
}
