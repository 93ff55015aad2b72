package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
)

// connectNATS connects to url (an embedded server's or NATS_URL) and
// reconnects forever; disconnects are logged. It waits until the first
// connection is up or ctx ends.
func connectNATS(ctx context.Context, url string, n settings.NATS, log *zap.Logger) (*nats.Conn, error) {
	log = log.Named("nats")
	shown := settings.RedactURLs(url)
	opts := []nats.Option{
		nats.Name("scaworker"),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected", zap.Error(err))
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
		return nil, fmt.Errorf("connect to NATS_URL %s: %w", shown, err)
	}
	if nc.IsConnected() {
		return nc, nil
	}
	log.Warn("waiting for nats", zap.String("url", shown))
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !nc.IsConnected() {
		select {
		case <-ctx.Done():
			nc.Close()
			return nil, ctx.Err()
		case <-tick.C:
		}
		if nc.IsClosed() {
			return nil, fmt.Errorf("connect to NATS_URL %s: connection closed", shown)
		}
	}
	return nc, nil
}
