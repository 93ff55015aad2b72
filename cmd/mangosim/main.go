// Command mangosim serves the Mangopay simulator (package mangosim) on a TCP address until
// SIGINT or SIGTERM. It prints "mangosim listening addr=<host:port>" on stdout once it
// accepts connections (use -addr 127.0.0.1:0 to get a free port and read it from there),
// then the settings that point scaworker at it and its admin endpoints (POST /_sim/users,
// POST /_sim/events: see mangosim.AdminPrefix).
//
//	mangosim -addr 127.0.0.1:8099 -client-id sim-client -api-key sim-api-key -token-ttl 1199s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/scaworker/scaworker/mangosim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mangosim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mangosim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8099", "listen address (port 0: any free port)")
	clientID := fs.String("client-id", mangosim.DefaultClientID, "ClientId expected in paths and token calls")
	apiKey := fs.String("api-key", mangosim.DefaultAPIKey, "API key expected by the token call")
	ttl := fs.Duration("token-ttl", mangosim.DefaultTokenTTL, "access token lifetime (expires_in)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           mangosim.New(mangosim.Options{ClientID: *clientID, APIKey: *apiKey, TokenTTL: *ttl}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Printf("mangosim listening addr=%s\n", ln.Addr())
	fmt.Printf("for scaworker: MANGOPAY_BASE_URL=http://%s MANGOPAY_CLIENT_ID=%s MANGOPAY_API_KEY=%s\n", ln.Addr(), *clientID, *apiKey)
	fmt.Printf("users: GET http://%[1]s%[2]susers; add users: POST http://%[1]s%[2]susers; add events for backfill: POST http://%[1]s%[2]sevents\n", ln.Addr(), mangosim.AdminPrefix)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
