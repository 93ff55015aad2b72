// Package httpserver serves scaworker's HTTP endpoints: /healthz, /readyz
// and /metrics (the operations endpoints), on the public listener or on a
// separate admin listener, and gives the public listener a mux that later
// features (the webhook ingress) register on.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Ops are what the operations endpoints report.
type Ops struct {
	// Ready returns nil when the worker is ready, else why not (a short
	// text, shown with 503).
	Ready func() error
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
}

// RegisterOps adds /healthz, /readyz and /metrics to mux.
func RegisterOps(mux *http.ServeMux, ops Ops) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := ops.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(ops.Gatherer, promhttp.HandlerOpts{}))
}

// NewServer returns an http.Server for h with timeouts suited to small
// requests (webhooks, probes, scrapes).
func NewServer(h http.Handler, log *zap.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
}

// Serve serves srv on ln until ctx ends, then shuts it down within
// grace. It returns nil after a shutdown caused by ctx.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("http %s shutdown: %w", ln.Addr(), err)
	}
	return nil
}
