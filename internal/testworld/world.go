package testworld

import (
	"context"
	"net"
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
	"github.com/scaworker/scaworker/mangosim"
)

// ReturnURL is the client's return URL. It carries a query of its own, so
// tests can check that links escape it.
const ReturnURL = "https://platform.example/sca/done?from=mail"

// Timeout is how long the waiters of a [World] wait before they fail the
// test.
const Timeout = 20 * time.Second

// stopTimeout bounds the consumer's return after its context is cancelled.
const stopTimeout = 15 * time.Second

// Options are what a test changes in its world. The zero value is the
// usual world: a running consumer with four handlers and fast retries.
type Options struct {
	// Consumer, when set, edits the consumer settings before the layout is
	// provisioned.
	Consumer func(*consumer.Config)
	// Enroll, when set, edits the client settings.
	Enroll func(*enroll.Config)
	// Sim, when set, edits the simulator's options.
	Sim func(*mangosim.Options)
	// NoStart leaves the consumer stopped; [World.Start] runs it.
	NoStart bool
	// Quiet drops the logs and the outcomes, for benchmarks: nothing is
	// recorded, so nothing is scanned for secrets either.
	Quiet bool
	// Links, when set, replaces the provisioned links stream before the
	// consumer is built; an empty Name means the layout's links stream.
	Links *jetstream.StreamConfig
	// Checkpoint is passed to the consumer as [consumer.Deps.Checkpoint].
	Checkpoint func(point string)
	// Mangopay, when set, wraps the client the consumer calls (World.Client
	// stays the client itself), e.g. to age the links it mints.
	Mangopay func(consumer.Mangopay) consumer.Mangopay
}

// World is one test's world; [New] builds it. Its fields are the parts a
// test may use directly.
type World struct {
	T        testing.TB
	Server   *server.Server
	StoreDir string // the JetStream store, as given to the server
	JS       jetstream.JetStream
	Sim      *mangosim.Server
	Client   *enroll.Client
	Config   consumer.Config // as provisioned; Config.Defaults() has the names
	Consumer *consumer.Consumer
	Log      *zap.Logger
	Logs     *observer.ObservedLogs // what Log wrote (empty when quiet)

	quiet  bool
	cancel context.CancelFunc
	done   chan error

	mu       sync.Mutex
	outcomes []consumer.Outcome
}

// New builds a world for t and registers its teardown with t.Cleanup: the
// consumer is stopped (Run must return nil within 15s) and, unless quiet,
// the logs are scanned for secrets.
func New(t testing.TB, o Options) *World {
	t.Helper()
	w := &World{T: t, quiet: o.Quiet}
	w.StoreDir = t.TempDir()
	w.Server, w.JS = runJetStream(t, w.StoreDir)
	t.Cleanup(func() { w.Server.Shutdown() }) // the server of the last RestartServer

	simOpts := mangosim.Options{}
	if o.Sim != nil {
		o.Sim(&simOpts)
	}
	w.Sim = mangosim.Start(simOpts)
	t.Cleanup(w.Sim.Close)

	core, logs := observer.New(zapcore.DebugLevel)
	w.Logs, w.Log = logs, zap.New(core)
	if o.Quiet {
		w.Log = zap.NewNop()
	}

	ecfg := EnrollConfig(w.Sim)
	if o.Enroll != nil {
		o.Enroll(&ecfg)
	}
	var err error
	if w.Client, err = enroll.NewClient(ecfg, w.Log); err != nil {
		t.Fatalf("enroll.NewClient: %v", err)
	}

	w.Config = consumer.Config{
		Concurrency:     4,
		AckWait:         2 * time.Second,
		AttemptTimeout:  time.Second,
		RetryDelayMin:   10 * time.Millisecond,
		RetryDelayMax:   50 * time.Millisecond,
		FaultPause:      50 * time.Millisecond,
		FaultPauseMax:   200 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second,
	}
	if o.Consumer != nil {
		o.Consumer(&w.Config)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := consumer.Provision(ctx, w.JS, w.Config); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if o.Links != nil {
		w.replaceLinks(ctx, *o.Links)
	}
	var mp consumer.Mangopay = w.Client
	if o.Mangopay != nil {
		mp = o.Mangopay(mp)
	}
	w.Consumer, err = consumer.New(w.Config, consumer.Deps{
		JS: w.JS, Mangopay: mp, Pacer: w.Client.Governor(), Log: w.Log,
		Checkpoint: o.Checkpoint,
		OnOutcome:  w.record,
	})
	if err != nil {
		t.Fatalf("consumer.New: %v", err)
	}
	if !o.NoStart {
		w.Start()
	}
	t.Cleanup(func() {
		w.Stop()
		if !w.quiet {
			w.CheckNoSecrets()
		}
	})
	return w
}

// EnrollConfig is the client configuration of a world: the simulator sim,
// [ReturnURL], millisecond retries and a rate no test reaches. Tests that
// build more clients (one per replica) start from it.
func EnrollConfig(sim *mangosim.Server) enroll.Config {
	return enroll.Config{
		BaseURL: sim.URL, ClientID: sim.ClientID(), APIKey: sim.APIKey(),
		ReturnURL:       ReturnURL,
		LinkHosts:       enroll.DefaultLinkHosts(),
		RequestTimeout:  2 * time.Second,
		MaxRetries:      2,
		InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond,
		Rate: enroll.Rate{N: 100000, Per: time.Second},
	}
}

// RestartServer shuts the NATS server down and starts it again on the same
// port and store, as an operator's restart would; clients reconnect. The
// port stays reserved for the test meanwhile ([ReservePort]). It returns
// once the new server accepts connections (JetStream may still be
// recovering its streams: poll for what the test needs).
func (w *World) RestartServer() {
	w.T.Helper()
	port := w.Server.Addr().(*net.TCPAddr).Port
	w.Server.Shutdown()
	w.Server.WaitForShutdown()
	opts := natsserver.DefaultTestOptions
	opts.Port, opts.JetStream, opts.StoreDir = port, true, w.StoreDir
	w.Server = StartServer(w.T, &opts)
}

// ServerStartTimeout is how long [StartServer] waits for a server to accept
// connections: a JetStream server recovering its store on a loaded machine,
// under the race detector, takes far longer than on an idle one.
const ServerStartTimeout = time.Minute

// StartServer starts a NATS server with opts, as nats-server's
// test.RunServer does, and waits up to [ServerStartTimeout] until it
// accepts connections. Unlike RunServer, which panics after 10s (and a
// panic ends every test of the process), it fails t. The caller shuts the
// server down.
func StartServer(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(ServerStartTimeout) {
		srv.Shutdown()
		t.Fatalf("nats server on port %d not accepting connections after %s", opts.Port, ServerStartTimeout)
	}
	return srv
}

// JetStream starts an embedded JetStream server with nothing on it, for
// tests of the layout itself, and returns a client of it.
func JetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	_, js := Server(t)
	return js
}

// Server starts an embedded JetStream server with nothing on it, for tests
// that run the worker as a process against it (its ClientURL is the
// worker's NATS_URL), and returns it with a client of it.
func Server(t testing.TB) (*server.Server, jetstream.JetStream) {
	t.Helper()
	return runJetStream(t, t.TempDir())
}

// runJetStream starts an embedded server with JetStream stored in
// storeDir, on a port reserved for the test, and connects to it. The
// connection reconnects forever, so a test may stop and restart JetStream
// on that port.
func runJetStream(t testing.TB, storeDir string) (*server.Server, jetstream.JetStream) {
	t.Helper()
	opts := natsserver.DefaultTestOptions
	opts.Port, opts.JetStream, opts.StoreDir = ReservePort(t), true, storeDir
	srv := StartServer(t, &opts)
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close) // runs before Shutdown (LIFO)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	return srv, js
}

// replaceLinks deletes the provisioned links stream and creates cfg in its
// place.
func (w *World) replaceLinks(ctx context.Context, cfg jetstream.StreamConfig) {
	w.T.Helper()
	if cfg.Name == "" {
		cfg.Name = w.Config.Defaults().LinksStream
	}
	if err := w.JS.DeleteStream(ctx, cfg.Name); err != nil {
		w.T.Fatalf("delete links stream: %v", err)
	}
	if _, err := w.JS.CreateStream(ctx, cfg); err != nil {
		w.T.Fatalf("create links stream: %v", err)
	}
}

// record is the consumer's OnOutcome.
func (w *World) record(out consumer.Outcome) {
	if w.quiet {
		return
	}
	w.mu.Lock()
	w.outcomes = append(w.outcomes, out)
	w.mu.Unlock()
}

// Start runs the consumer until [World.Stop] or the test's cleanup.
func (w *World) Start() {
	w.T.Helper()
	if w.cancel != nil {
		w.T.Fatalf("testworld: the consumer is already running")
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan error, 1)
	go func() { w.done <- w.Consumer.Run(ctx) }()
}

// Stop cancels the consumer's Run and fails the test unless it returns
// nil within 15s. It does nothing when the consumer is not running.
func (w *World) Stop() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	select {
	case err := <-w.done:
		if err != nil {
			w.T.Errorf("Run() = %v, want nil after cancel", err)
		}
	case <-time.After(stopTimeout):
		w.T.Errorf("Run() did not return within %s of cancel", stopTimeout)
	}
	w.cancel = nil
}

// Context returns a context that ends after [Timeout] or at the test's
// cleanup, whichever comes first.
func (w *World) Context() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	w.T.Cleanup(cancel)
	return ctx
}
