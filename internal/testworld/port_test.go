package testworld_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/scaworker/scaworker/internal/testworld"
)

// A reserved port refuses connections, lets a server listen on it and
// holds it again once that server stopped.
func TestReservePortRefusesThenServesThenHolds(t *testing.T) {
	t.Parallel()
	addr := fmt.Sprintf("127.0.0.1:%d", testworld.ReservePort(t))
	if _, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s = %v, want connection refused", addr, err)
	}
	for range 2 { // a restart on the same port
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen on the reserved %s: %v", addr, err)
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %s while served: %v", addr, err)
		}
		c.Close()
		ln.Close()
		if _, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial %s after the server stopped = %v, want connection refused", addr, err)
		}
	}
}

// No listener asking for any free port and no local end of a connection
// gets a reserved port. With 500 of the machine's ~28000 ephemeral ports
// reserved, 500 listeners and 500 connections would land on about 18 of
// them if the ports were not held.
func TestReservedPortsAreNotHandedOut(t *testing.T) {
	t.Parallel()
	reserved := map[int]bool{}
	for range 500 {
		reserved[testworld.ReservePort(t)] = true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	for range 500 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		if p := l.Addr().(*net.TCPAddr).Port; reserved[p] {
			t.Errorf("a listener on any free port got the reserved port %d", p)
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if p := c.LocalAddr().(*net.TCPAddr).Port; reserved[p] {
			t.Errorf("a connection's local end got the reserved port %d", p)
		}
	}
}

// A world's server comes back on its port, which stays reserved while it
// is down, and the world's client reconnects to it.
func TestRestartServerKeepsItsPort(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{NoStart: true})
	addr := w.Server.Addr().String()
	w.RestartServer()
	if got := w.Server.Addr().String(); got != addr {
		t.Fatalf("restarted server on %s, want %s", got, addr)
	}
	testworld.WaitFor(t, "the client to reconnect and read the layout", testworld.Timeout, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := w.JS.Stream(ctx, w.Config.Defaults().Stream)
		return err == nil
	})
}
