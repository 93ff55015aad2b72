package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
)

// waitReportEvery is how often a start-up that waits for NATS says why.
const waitReportEvery = 5 * time.Second

// dialOptions say how long to wait for the first connection and how to
// name what is waited for.
type dialOptions struct {
	// setting chose the URL: NATS_URL, or SCA_NATS_LISTEN for the embedded server.
	setting string
	// wait gives up after this long (0: only when ctx ends).
	wait time.Duration
	// waitSetting is the setting of wait, named when it passes.
	waitSetting string
	// every is how often to log why the connection is not up yet.
	every time.Duration
}

// natsUnreachableError is a first connection that did not come up in time.
type natsUnreachableError struct {
	setting, url string
	waited       time.Duration
	waitSetting  string
	last         error // the last connection error, nil when none was reported
	cause        error // context.DeadlineExceeded
}

func (e *natsUnreachableError) Error() string {
	limit := ""
	if e.waitSetting != "" {
		limit = " (" + e.waitSetting + ")"
	}
	last := "no answer"
	if e.last != nil {
		last = e.last.Error()
	}
	return fmt.Sprintf("%s %s: no NATS server answered within %s%s: %s; check %s, that the server runs and that this host can reach it",
		e.setting, e.url, e.waited.Round(time.Millisecond), limit, last, e.setting)
}

func (e *natsUnreachableError) Unwrap() error { return e.cause }

// connectNATS connects to NATS_URL and reconnects forever; disconnects
// are logged. It waits until the first connection is up or ctx ends.
func connectNATS(ctx context.Context, url string, n settings.NATS, log *zap.Logger) (*nats.Conn, error) {
	return dialNATS(ctx, url, n, dialOptions{setting: "NATS_URL", every: waitReportEvery}, log)
}

// dialNATS connects to url and reconnects forever; disconnects are
// logged. It waits until the first connection is up, ctx ends, or
// o.wait passes; while it waits it says every o.every why (the setting,
// the URL and the last connection error).
func dialNATS(ctx context.Context, url string, n settings.NATS, o dialOptions, log *zap.Logger) (*nats.Conn, error) {
	log = log.Named("nats")
	shown := settings.RedactURLs(url)
	var lastErr atomic.Pointer[error]
	opts := []nats.Option{
		nats.Name("scaworker"),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err == nil {
				return // a Close of ours, not a lost connection
			}
			log.Warn("nats disconnected", zap.Error(err))
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			// ErrNoServers says nothing the setting and URL do not; keep the dial's reason.
			if err != nil && (!errors.Is(err, nats.ErrNoServers) || lastErr.Load() == nil) {
				lastErr.Store(&err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", zap.String("server", settings.RedactURLs(c.ConnectedUrlRedacted())))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("nats error", zap.String("subject", subject), zap.Error(err))
		}),
	}
	if n.Creds != "" {
		opts = append(opts, nats.UserCredentials(n.Creds))
	}
	if n.TLSCA != "" {
		opts = append(opts, nats.RootCAs(n.TLSCA))
	}
	if n.TLSCert != "" {
		opts = append(opts, nats.ClientCert(n.TLSCert, n.TLSKey))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s %s: %w", o.setting, shown, err)
	}
	if nc.IsConnected() {
		return nc, nil
	}
	start := time.Now()
	last := func() error {
		if p := lastErr.Load(); p != nil {
			return *p
		}
		return nil
	}
	say := func() {
		fields := []zap.Field{zap.String("url", shown), zap.String("setting", o.setting),
			zap.Duration("waited", time.Since(start).Round(time.Second))}
		if err := last(); err != nil {
			fields = append(fields, zap.NamedError("last_error", err))
		}
		if o.wait > 0 {
			fields = append(fields, zap.Duration("gives_up_in", (o.wait-time.Since(start)).Round(time.Second)))
		}
		log.Warn("waiting for nats", fields...)
	}
	said := false // the first line waits up to a second for the first error, to say why
	if o.wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.wait)
		defer cancel()
	}
	every := o.every
	if every <= 0 {
		every = waitReportEvery
	}
	report := time.NewTicker(every)
	defer report.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !nc.IsConnected() {
		select {
		case <-ctx.Done():
			nc.Close()
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, ctx.Err()
			}
			e := &natsUnreachableError{setting: o.setting, url: shown, waited: time.Since(start), last: last(), cause: ctx.Err()}
			if o.wait > 0 {
				e.waited, e.waitSetting = o.wait, o.waitSetting
			}
			return nil, e
		case <-report.C:
			say()
			said = true
		case <-tick.C:
			if err := last(); !said && (err != nil && !errors.Is(err, nats.ErrNoServers) || time.Since(start) >= 1500*time.Millisecond) {
				say()
				said = true
			}
		}
		if nc.IsClosed() {
			return nil, fmt.Errorf("connect to %s %s: connection closed", o.setting, shown)
		}
	}
	return nc, nil
}

// checkJetStream tells a server without JetStream from other failures,
// so that the answer says what to fix instead of "no responders".
func checkJetStream(ctx context.Context, js jetstream.JetStream, setting, shownURL string) error {
	_, err := js.AccountInfo(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return fmt.Errorf("JetStream is not enabled for this account on the server at %s %s: enable it for the account in the server's configuration, or use NATS_CREDS of an account that has it", setting, shownURL)
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return fmt.Errorf("JetStream is not enabled on the server at %s (start nats-server with -js): %s is %s", setting, setting, shownURL)
	}
	return fmt.Errorf("%s %s: jetstream: %w", setting, shownURL, err)
}
