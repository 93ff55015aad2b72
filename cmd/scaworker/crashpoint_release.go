//go:build !crashpoints

package main

import (
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
)

// crashCheckpoint is the release build's: no fault injection, whatever
// SCAWORKER_CRASH_AT says. The crash tests build the binary with the
// crashpoints tag, which swaps in crashpoint.go.
func crashCheckpoint(settings.LookupEnv, *zap.Logger) (func(point string), error) {
	return nil, nil
}
