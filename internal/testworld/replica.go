package testworld

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/consumer"
)

// StartReplica runs a second consumer on the world's layout, as another
// replica would: its own NATS connection, the same settings and Mangopay
// client, its outcomes recorded with the world's. It is stopped at the
// test's cleanup, before the world's own consumer, and must return nil
// within 15s.
func (w *World) StartReplica() *consumer.Consumer {
	w.T.Helper()
	nc, err := nats.Connect(w.Server.ClientURL(), nats.MaxReconnects(-1))
	if err != nil {
		w.T.Fatalf("replica connect: %v", err)
	}
	w.T.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		w.T.Fatalf("replica jetstream.New: %v", err)
	}
	c, err := consumer.New(w.Config, consumer.Deps{
		JS: js, Mangopay: w.Client, Pacer: w.Client.Governor(), Log: w.Log.Named("replica"),
		OnOutcome: w.record,
	})
	if err != nil {
		w.T.Fatalf("replica consumer.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	w.T.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				w.T.Errorf("replica Run() = %v, want nil after cancel", err)
			}
		case <-time.After(stopTimeout):
			w.T.Errorf("replica Run() did not return within %s of cancel", stopTimeout)
		}
	})
	return c
}
