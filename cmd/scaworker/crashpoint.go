package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"go.uber.org/zap"
)

// crashEnv names the fault-injection variable of the crash tests:
// "point:n[,point:n…]" kills the process with SIGKILL the n-th time a
// handler reaches the consumer checkpoint point ("decided", "recorded",
// "published"). It is not a setting: nothing else reads it, and it is
// not listed in -h or the README's table.
const crashEnv = "SCAWORKER_CRASH_AT"

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
