package replay_test

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

// category is the data of a user.created trigger that names the category.
func category(c string) map[string]any { return map[string]any{"category": c} }
