package testworld

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	natsserver "github.com/nats-io/nats-server/v2/test"
)

// ServerWithoutJetStream starts an embedded NATS server on any free port
// with JetStream off, as `nats-server` runs without -js, for tests of what
// the worker says about it.
func ServerWithoutJetStream(t testing.TB) *server.Server {
	t.Helper()
	opts := natsserver.DefaultTestOptions
	opts.Port, opts.JetStream = -1, false
	srv := StartServer(t, &opts)
	t.Cleanup(srv.Shutdown)
	return srv
}
