package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/console"
	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
)

// consoleSlot serves the operator console once NATS is connected; until
// then (and after the connection closed) it answers 503.
type consoleSlot struct {
	c atomic.Pointer[console.Console]
}

func (s *consoleSlot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := s.c.Load()
	if c == nil {
		http.Error(w, "starting: the console is served once NATS is connected", http.StatusServiceUnavailable)
		return
	}
	c.ServeHTTP(w, r)
}

// processName names this process in the stats bucket: host and pid.
func processName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "scaworker"
	}
	return host + "-" + strconv.Itoa(os.Getpid())
}

// startStats binds the stats bucket and starts this process's outcome
// counters; stop writes them a last time and waits.
func startStats(ctx context.Context, js jetstream.JetStream, bucket string, replicas int, name string) (st *console.Stats, stop func(), err error) {
	bctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	kv, err := console.StatsBucket(bctx, js, bucket, replicas)
	if err != nil {
		return nil, nil, err
	}
	st = console.NewStats(kv, name, nil)
	rctx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = st.Run(rctx)
	}()
	return st, func() { stopRun(); <-done }, nil
}

// workerStatus reports the state of this process's consumer and
// Mangopay governor for the console.
func workerStatus(name string, c *atomic.Pointer[consumer.Consumer], gov *enroll.Governor) func() console.Status {
	return func() console.Status {
		s := console.Status{Replica: name, BlockedUntil: gov.BlockedUntil(), Windows: gov.Windows()}
		if con := c.Load(); con == nil {
			s.Fault = "starting: consumer not running yet"
		} else if err := con.Ready(); err != nil {
			s.Fault = err.Error()
		}
		return s
	}
}

// newConsole builds the console of the worker's deployment.
func newConsole(js jetstream.JetStream, cfg serviceConfig, a console.Config) (*console.Console, error) {
	a.Layout, a.StatsBucket, a.Rate = cfg.consumer, cfg.statsBucket, cfg.mangopay.Rate
	a.Write, a.Auth = cfg.http.AdminWrite, cfg.adminAuth
	c, err := console.New(js, a)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return c, nil
}
