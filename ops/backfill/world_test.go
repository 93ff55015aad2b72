package backfill_test

import (
	"testing"

	"github.com/scaworker/scaworker/internal/testworld"
)

// world is one test's deployment (testworld).
type world struct{ *testworld.World }

func newWorld(t testing.TB, o testworld.Options) *world {
	t.Helper()
	return &world{testworld.New(t, o)}
}
