package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/ops/replay"
)

// replayConfig validates the settings of `scaworker replay`.
func replayConfig(r settings.Replay) (replay.Config, error) {
	var errs []error
	if strings.TrimSpace(r.NATS.URL) == "" {
		errs = append(errs, errors.New("NATS_URL: required by replay: operator commands connect to the deployment's NATS by URL (for an embedded deployment, its SCA_NATS_LISTEN address) and never open a data directory"))
	}
	errs = append(errs, checkNATS(r.NATS)...)
	layout := consumerConfig(r.Consumer)
	errs = append(errs, layout.Validate())
	rate, err := enroll.ParseRate(r.Rate)
	if err != nil {
		errs = append(errs, fmt.Errorf("--rate: %w", err))
	}
	cfg := replay.Config{
		Layout: layout, From: r.From, To: r.To, Types: r.Types, Users: r.Users,
		DryRun: r.DryRun, Force: r.Force, Restart: r.Restart, Name: r.Name, Rate: rate,
	}
	errs = append(errs, replay.Validate(cfg))
	return cfg, newConfigError(errs...)
}

// replayCommand is `scaworker replay`: the dry-run lines and the summary
// on stdout; the progress bar (on a terminal) or progress log lines on stderr.
func replayCommand(ctx context.Context, p *settings.Parsed, log *zap.Logger, stdout, stderr io.Writer) error {
	r := p.CLI.Replay
	cfg, err := replayConfig(r)
	if err != nil {
		return err
	}
	log.Debug("config", p.LogFields()...)
	connectCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	nc, err := connectNATS(connectCtx, r.NATS.URL, r.NATS, log)
	cancel()
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	cfg.Log = log.Named("replay")
	if cfg.DryRun {
		cfg.AfterTrigger = replayDryRunLines(stdout)
	}
	if isTerminal(stderr) {
		cfg.Progress = &replayBar{w: stderr}
	}
	rep, err := replay.Run(ctx, js, cfg)
	if rep != nil {
		if cfg.DryRun {
			fmt.Fprintln(stdout) // after the per-trigger lines
		}
		if werr := writeReplaySummary(stdout, rep); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		// SIGINT/SIGTERM: the cursor holds the progress; exit 0 (SPEC §6).
		if rep != nil {
			log.Warn("replay interrupted; run the same command again to resume",
				zap.String("replay", rep.ReplayID), zap.Uint64("next_seq", rep.NextSeq))
		}
		return nil
	}
	return err
}
