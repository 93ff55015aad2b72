package main

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/bench"
	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
)

// benchCommand is `scaworker bench`. The worker under test logs as
// `scaworker run` does (JSON, info), into nothing: the encoding is part of
// its cost, the output is not.
func benchCommand(ctx context.Context, p *settings.Parsed, stdout, stderr io.Writer) error {
	b := p.CLI.Bench
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	workerLog, err := newLogger("info", "json", io.Discard)
	if err != nil {
		return err
	}
	o := bench.Options{
		N: b.N, InFlight: b.InFlight, Cluster: b.Cluster, Latency: b.Latency, ErrorRate: b.ErrorRate,
		Budget: b.Budget, Mix: b.Mix, Rate: b.Rate, Phases: b.Phases, Duration: b.Duration,
		Profile: b.Profile, Exe: exe, Log: workerLog,
		ShareBudget: func(ctx context.Context, js jetstream.JetStream, c consumer.Config, rate enroll.Rate, requestTimeout time.Duration, gov *enroll.Governor) (func(), error) {
			return shareBudget(ctx, js, c, rate, requestTimeout, gov, workerLog, true)
		},
	}
	if b.Progress {
		o.Progress = stderr
	}
	rep, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	if b.JSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteText(stdout)
}
