package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/internal/testworld"
)

func TestOlderThan(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{
		"2.12.1": true, "2.12.2": true, "v2.12.3-RC.1": true, "2.11.9": true, "1.99.99": true,
		"2.12.3": false, "2.12.4": false, "2.13.0": false, "3.0.0": false, "v2.15.2": false,
		"": false, "garbage": false, "2.x.1": false,
	} {
		if got := olderThan(v, minDurableServer); got != want {
			t.Errorf("olderThan(%q, 2.12.3) = %v, want %v", v, got, want)
		}
	}
}

func TestOpenListenProblem(t *testing.T) {
	t.Parallel()
	for addr, open := range map[string]bool{
		"127.0.0.1:4222": false, "[::1]:4222": false, "localhost:4222": false, "127.0.0.2:0": false,
		"0.0.0.0:4222": true, "[::]:4222": true, "10.1.2.3:4222": true, ":4222": true,
	} {
		got := openListenProblem(addr)
		if (got != "") != open {
			t.Errorf("openListenProblem(%q) = %q, want a warning: %v", addr, got, open)
		}
		if open && !strings.Contains(got, "SCA_NATS_LISTEN") {
			t.Errorf("openListenProblem(%q) = %q, want it to name SCA_NATS_LISTEN", addr, got)
		}
	}
}

// systemServer starts a JetStream server with a system account user, so a client can see
// the servers' configuration; it returns the system user's connection.
func systemServer(t *testing.T, syncAlways bool) *nats.Conn {
	t.Helper()
	sys := server.NewAccount("SYS")
	opts := natsserver.DefaultTestOptions
	opts.Port, opts.JetStream, opts.StoreDir = -1, true, t.TempDir()
	opts.SyncAlways = syncAlways
	opts.Accounts = []*server.Account{sys}
	opts.SystemAccount = "SYS"
	opts.Users = []*server.User{{Username: "sys", Password: "sys-pass", Account: sys}}
	srv := testworld.StartServer(t, &opts)
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo("sys", "sys-pass"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestDurabilitySeesTheSyncInterval: a client allowed to see the servers' configuration is
// told about the default 2-minute sync_interval, and not about sync_interval: always.
func TestDurabilitySeesTheSyncInterval(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, always := range []bool{false, true} {
		nc := systemServer(t, always)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		problems, notes := durabilityProblems(ctx, nc, js, consumer.Config{})
		synced := false
		for _, p := range problems {
			synced = synced || strings.Contains(p, "sync_interval: always")
		}
		if synced == always || len(notes) > 0 {
			t.Errorf("sync_always %v: problems %q, notes %q; want the 2-minute default reported, and only it", always, problems, notes)
		}
	}
}

// TestDurabilityOnAPlainServer: an ordinary client of a recent single server has nothing
// to fix, and is told the sync interval is not visible to it.
func TestDurabilityOnAPlainServer(t *testing.T) {
	t.Parallel()
	srv, js := testworld.Server(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	problems, notes := durabilityProblems(t.Context(), nc, js, consumer.Config{})
	if len(problems) != 0 {
		t.Errorf("problems = %q, want none", problems)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "sync_interval") {
		t.Errorf("notes = %q, want the one saying sync_interval is not visible", notes)
	}
}
