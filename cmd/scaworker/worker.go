package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/httpserver"
	"github.com/scaworker/scaworker/cmd/scaworker/internal/natsembed"
	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/console"
	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/hooks"
)

// httpGrace bounds the shutdown of the HTTP listeners.
const httpGrace = 5 * time.Second

// runCommand is `scaworker run`.
func runCommand(ctx context.Context, p *settings.Parsed, env settings.LookupEnv, log *zap.Logger) error {
	cfg, err := runConfig(p.CLI.Run)
	if err != nil {
		return err
	}
	if cfg.checkpoint, err = crashCheckpoint(env, log); err != nil {
		return newConfigError(err)
	}
	log.Info("config", p.LogFields()...)
	if cfg.hooks.Open() {
		log.Warn(hooks.OpenWarning)
	}
	mp, err := enroll.NewClient(cfg.mangopay, log)
	if err != nil {
		return newConfigError(err) // e.g. an unreadable MANGOPAY_TLS_CERT
	}
	stopReload := reloadOnSIGHUP(mp, log)
	defer stopReload()
	return runWorker(ctx, cfg, mp, log)
}

// reloadOnSIGHUP rereads the Mangopay secrets (MANGOPAY_API_KEY_FILE, the mTLS
// certificate) on every SIGHUP until the returned function is called. A failed reload
// keeps the secrets in use.
func reloadOnSIGHUP(mp *enroll.Client, log *zap.Logger) func() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				ch, err := mp.Reload()
				switch {
				case err != nil:
					log.Warn("SIGHUP: mangopay secrets not reloaded; the ones in use are kept", zap.Error(err))
				case !ch.APIKey && !ch.Cert:
					log.Info("SIGHUP: mangopay secrets unchanged")
				}
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}

// certExpiryMetric is the gauge of the mTLS certificate's expiry.
const certExpiryMetric = "scaworker_mangopay_cert_expiry_timestamp_seconds"

// registerCertExpiry registers the gauge of the mTLS client certificate's expiry (Unix
// seconds; it follows reloads) when mTLS is configured.
func registerCertExpiry(reg prometheus.Registerer, mp *enroll.Client) {
	if mp.CertNotAfter().IsZero() {
		return
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: certExpiryMetric,
		Help: "Expiry (Unix seconds) of the Mangopay mTLS client certificate in use (MANGOPAY_TLS_CERT); Mangopay's last 12 months. Follows reloads (SIGHUP).",
	}, func() float64 { return float64(mp.CertNotAfter().Unix()) }))
}

// lagEvery is how often the consumer's backlog is read for its gauges.
const lagEvery = 15 * time.Second

// lagMetrics are the gauges of the durable consumer's backlog, as JetStream reports it
// (the same for every replica: they share the consumer).
type lagMetrics struct {
	pending, ackPending prometheus.Gauge
}

func newLagMetrics(reg prometheus.Registerer) *lagMetrics {
	m := &lagMetrics{
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scaworker_consumer_pending",
			Help: "Triggers stored in SCA_STREAM and not yet delivered to the durable consumer (its lag), read every 15s.",
		}),
		ackPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scaworker_consumer_ack_pending",
			Help: "Triggers delivered and not yet acknowledged, across all replicas, read every 15s.",
		}),
	}
	reg.MustRegister(m.pending, m.ackPending)
	return m
}

// watch reads the consumer's info until ctx ends.
func (m *lagMetrics) watch(ctx context.Context, js jetstream.JetStream, c consumer.Config, log *zap.Logger) {
	tick := time.NewTicker(lagEvery)
	defer tick.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := js.Consumer(rctx, c.Stream, c.Durable)
		if err == nil {
			var ci *jetstream.ConsumerInfo
			if ci, err = info.Info(rctx); err == nil {
				m.pending.Set(float64(ci.NumPending))
				m.ackPending.Set(float64(ci.NumAckPending))
			}
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			log.Debug("consumer lag not read", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// readiness answers /readyz: NATS connected and the consumer ready.
type readiness struct {
	nc  atomic.Pointer[nats.Conn]
	con atomic.Pointer[consumer.Consumer]
	// console is the operator console on SCA_ADMIN_ADDR.
	console consoleSlot
}

func (r *readiness) ready() error {
	nc := r.nc.Load()
	if nc == nil {
		return errors.New("starting: nats not connected yet")
	}
	if !nc.IsConnected() {
		return fmt.Errorf("nats %s", nc.Status())
	}
	c := r.con.Load()
	if c == nil {
		return errors.New("starting: consumer not running yet")
	}
	return c.Ready()
}

// runWorker runs the worker until ctx ends: HTTP listeners first (so
// /healthz answers during start-up), then NATS (embedded or NATS_URL), the
// JetStream layout, the Mangopay checks, and the consumer.
func runWorker(ctx context.Context, cfg serviceConfig, mp *enroll.Client, log *zap.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := consumer.NewMetrics(reg)
	registerCertExpiry(reg, mp)
	lag := newLagMetrics(reg)

	var state readiness
	ops := httpserver.Ops{Ready: state.ready, Gatherer: reg}
	public := http.NewServeMux() // the webhook ingress, and the ops endpoints without SCA_ADMIN_ADDR
	hk, err := newHooks(cfg.hooks, reg, log)
	if err != nil {
		return newConfigError(err)
	}
	hk.Register(public)
	servers := []struct {
		setting, addr string
		mux           *http.ServeMux
	}{{"SCA_HTTP_ADDR", cfg.http.Addr, public}}
	if cfg.http.AdminAddr == "" {
		httpserver.RegisterOps(public, ops)
	} else {
		admin := http.NewServeMux()
		httpserver.RegisterOps(admin, ops)
		admin.Handle("/", &state.console)
		servers = append(servers, struct {
			setting, addr string
			mux           *http.ServeMux
		}{"SCA_ADMIN_ADDR", cfg.http.AdminAddr, admin})
	}

	listeners := make([]net.Listener, 0, len(servers))
	for _, s := range servers {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.addr)
		if err != nil {
			for _, l := range listeners {
				_ = l.Close()
			}
			return fmt.Errorf("%s: listen on %s: %w", s.setting, s.addr, err)
		}
		listeners = append(listeners, ln)
		log.Info("http listening", zap.String("addr", ln.Addr().String()), zap.String("setting", s.setting))
	}
	g, gctx := errgroup.WithContext(ctx)
	for i, s := range servers {
		srv, ln := httpserver.NewServer(s.mux, log), listeners[i]
		g.Go(func() error { return httpserver.Serve(gctx, srv, ln, httpGrace) })
	}
	g.Go(func() error {
		err := work(gctx, cfg, mp, log, metrics, lag, &state, hk)
		if err != nil && ctx.Err() != nil {
			return nil // interrupted during start-up: a clean stop
		}
		if err == nil && ctx.Err() == nil {
			return errors.New("consumer stopped unexpectedly")
		}
		return err
	})
	return g.Wait()
}

// work is the NATS side of the worker; it returns after the consumer has
// drained, then closes the connection and stops the embedded server.
func work(ctx context.Context, cfg serviceConfig, mp *enroll.Client, log *zap.Logger, metrics *consumer.Metrics, lag *lagMetrics, state *readiness, hk *hooks.Handler) error {
	url, setting := cfg.nats.URL, "NATS_URL"
	if url == "" {
		emb, err := natsembed.Start(natsembed.Options{Listen: cfg.embedded.Listen, DataDir: cfg.embedded.DataDir, Log: log})
		if errors.Is(err, natsembed.ErrListen) {
			return newConfigError(err) // the port is taken: SCA_NATS_LISTEN must change
		}
		if err != nil {
			return err
		}
		defer func() {
			emb.Shutdown()
			log.Info("nats stopped")
		}()
		log.Info("nats listening", zap.String("addr", emb.Addr()), zap.String("data_dir", cfg.embedded.DataDir))
		log.Info("durability", zap.String("note", embeddedSingleReplica))
		if p := openListenProblem(emb.Addr()); p != "" {
			log.Warn("embedded nats open to the network", zap.String("problem", p))
		}
		url, setting = emb.ClientURL(), "SCA_NATS_LISTEN"
	}
	// The start-up deadline (SCA_STARTUP_TIMEOUT) bounds the wait for the
	// server; later outages are waited out.
	nc, err := dialNATS(ctx, url, cfg.nats, dialOptions{setting: setting, wait: cfg.startupTimeout, waitSetting: "SCA_STARTUP_TIMEOUT", every: waitReportEvery}, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	state.nc.Store(nc)
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	if err := checkJetStream(ctx, js, setting, settings.RedactURLs(url)); err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = consumer.Provision(pctx, js, cfg.consumer)
	cancel()
	if err != nil {
		return fmt.Errorf("jetstream layout: %w", err)
	}
	if cfg.nats.URL != "" {
		if err := checkDurability(ctx, nc, js, cfg.consumer, cfg.requireDurable, log); err != nil {
			return err
		}
	}
	unbindHooks, err := bindHooks(ctx, js, hk, cfg)
	if err != nil {
		return err
	}
	defer unbindHooks() // the connection closes: hooks answer 503 until the listener stops
	closeBudget, err := shareBudget(ctx, js, cfg.consumer, cfg.mangopay.Rate, cfg.mangopay.RequestTimeout, mp.Governor(), log, true)
	if err != nil {
		return err
	}
	defer closeBudget()

	name := processName()
	stats, stopStats, err := startStats(ctx, js, cfg.statsBucket, cfg.consumer.Defaults().Replicas, name)
	if err != nil {
		return err
	}
	defer stopStats()
	hk.OnResult(stats.RecordHook) // the console's hook ingress counts
	defer hk.OnResult(nil)
	if cfg.http.AdminAddr != "" {
		con, err := newConsole(js, cfg, console.Config{Status: workerStatus(name, &state.con, mp.Governor()), Log: log})
		if err != nil {
			return err
		}
		state.console.c.Store(con)
		defer state.console.c.Store(nil)
	}

	for _, r := range checkMangopay(ctx, mp) {
		switch {
		case r.err == nil:
			log.Info("check ok", zap.String("check", r.name))
		case r.inconclusive:
			// Mangopay unreachable or down: the events wait in the stream
			// and the consumer retries them; not a reason to refuse to start.
			log.Warn("check inconclusive", zap.String("check", r.name), zap.Error(r.err))
		case r.refused:
			// Credentials Mangopay refuses will not work after a restart either.
			return newConfigError(r.err)
		default:
			return fmt.Errorf("check %s: %w", r.name, r.err)
		}
	}

	c, err := consumer.New(cfg.consumer, consumer.Deps{
		JS: js, Mangopay: mp, Pacer: mp.Governor(), Metrics: metrics, Log: log,
		Checkpoint: cfg.checkpoint, OnOutcome: stats.Record,
	})
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	state.con.Store(c)
	lctx, stopLag := context.WithCancel(ctx)
	defer stopLag()
	go lag.watch(lctx, js, cfg.consumer.Defaults(), log)
	runDone := make(chan error, 1)
	go func() { runDone <- c.Run(ctx) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for announced := false; ; {
		select {
		case err := <-runDone:
			if err != nil {
				return fmt.Errorf("consumer: %w", err)
			}
			log.Info("consumer drained")
			return nil
		case <-tick.C:
			if !announced && c.Ready() == nil {
				announced = true
				log.Info("ready", zap.String("stream", cfg.consumer.Defaults().Stream), zap.String("durable", cfg.consumer.Defaults().Durable))
				tick.Stop()
			}
		}
	}
}
