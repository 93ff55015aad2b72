package main

import (
	"context"
	"testing"
)

func TestRunStopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := run(ctx, []string{"-addr", "127.0.0.1:0", "-token-ttl", "30s"}); err != nil {
		t.Errorf("run() = %v, want nil after a clean stop", err)
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-addr", "127.0.0.1:notaport"}, {"-token-ttl", "soon"}} {
		if err := run(context.Background(), args); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}
