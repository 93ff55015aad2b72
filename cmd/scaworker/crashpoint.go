//go:build crashpoints

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"go.uber.org/zap"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
)

// crashCheckpoint returns the consumer checkpoint func that
// SCAWORKER_CRASH_AT asks for, or nil when it is unset. This file is built
// only with the crashpoints tag, by the crash tests; the release binary
// has the version in crashpoint_release.go, which ignores the variable.
func crashCheckpoint(env settings.LookupEnv, log *zap.Logger) (func(point string), error) {
	spec, ok := env(crashEnv)
	if !ok || spec == "" {
		return nil, nil
	}
	return crashAt(spec, log)
}

// crashAt returns the consumer checkpoint func that spec asks for.
func crashAt(spec string, log *zap.Logger) (func(point string), error) {
	want := map[string]int{}
	for _, part := range strings.Split(spec, ",") {
		point, n, ok := strings.Cut(strings.TrimSpace(part), ":")
		count, err := strconv.Atoi(n)
		if !ok || err != nil || count < 1 {
			return nil, fmt.Errorf("%s: %q is not point:n", crashEnv, part)
		}
		want[point] = count
	}
	var mu sync.Mutex
	seen := map[string]int{}
	return func(point string) {
		mu.Lock()
		defer mu.Unlock()
		seen[point]++
		if n, ok := want[point]; ok && seen[point] == n {
			log.Warn("crash point reached: killing the process", zap.String("point", point))
			_ = log.Sync()
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}, nil
}
