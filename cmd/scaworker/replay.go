package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.uber.org/zap"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/ops/audit"
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
func replayCommand(ctx context.Context, p *settings.Parsed, env settings.LookupEnv, log *zap.Logger, stdin io.Reader, stdout, stderr io.Writer) error {
	r := p.CLI.Replay
	cfg, err := replayConfig(r)
	chg, errs := newChange(audit.CommandReplay, r.Change, env, stdin, stderr)
	acfg := auditConfig(r.Audit, cfg.Layout.Defaults().Replicas)
	errs = append(errs, acfg.Validate())
	if cfgErr := (*configError)(nil); errors.As(err, &cfgErr) {
		errs = append(cfgErr.errs, errs...)
	}
	if err := newConfigError(errs...); err != nil {
		return err
	}
	log.Debug("config", p.LogFields()...)
	nc, js, err := operatorConnect(ctx, r.NATS, log)
	if err != nil {
		return err
	}
	defer closeOperatorConn(nc)
	if err := chg.open(ctx, js, acfg); err != nil {
		return err
	}
	cfg.Log = log.Named("replay")
	table := newReplayTable(stdout)
	cfg.Confirm = func(rep *replay.Report) error {
		q := fmt.Sprintf("replay %s: stream seq %d..%d of %s?", rep.ReplayID, rep.FromSeq, rep.ToSeq, rep.Stream)
		if rep.Resumed {
			q = fmt.Sprintf("resume replay %s: stream seq %d..%d of %s?", rep.ReplayID, rep.NextSeq, rep.ToSeq, rep.Stream)
		}
		return chg.confirm(q)
	}
	if cfg.DryRun {
		cfg.AfterTrigger = table.Add
	}
	if isTerminal(stderr) {
		cfg.Progress = &replayBar{w: stderr}
	}
	rep, err := replay.Run(ctx, js, cfg)
	if errors.Is(err, errCancelled) {
		return chg.cancelled(stdout)
	}
	var cfgErr *configError
	if errors.As(err, &cfgErr) {
		return err
	}
	if rep != nil || err != nil {
		err = chg.record(ctx, replaySelection(r), replayCounts(rep), err)
	}
	if rep != nil {
		if cfg.DryRun {
			_ = table.Flush()
			fmt.Fprintln(stdout) // after the per-trigger lines
		}
		if werr := writeReplaySummary(stdout, rep); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		// SIGINT/SIGTERM: the cursor holds the progress; exit 0.
		if rep != nil {
			log.Warn("replay interrupted; run the same command again to resume",
				zap.String("replay", rep.ReplayID), zap.Uint64("next_seq", rep.NextSeq))
		}
		return nil
	}
	return err
}

// replaySelection is the selection of a replay for its audit record:
// users by hash.
func replaySelection(r settings.Replay) map[string]string {
	sel := map[string]string{"from": r.From}
	if r.To != "" {
		sel["to"] = r.To
	}
	if len(r.Types) > 0 {
		sel["type"] = strings.Join(r.Types, ",")
	}
	if len(r.Users) > 0 {
		hashes := make([]string, len(r.Users))
		for i, u := range r.Users {
			hashes[i] = audit.UserHash(u)
		}
		sel["user_sha256"] = strings.Join(hashes, ",")
	}
	if r.Force {
		sel["force"] = "true"
	}
	if r.Restart {
		sel["restart"] = "true"
	}
	if r.Name != "" {
		sel["name"] = r.Name
	}
	return sel
}

// replayCounts are the counts of a replay for its audit record: per
// action, and what this session published.
func replayCounts(rep *replay.Report) map[string]int {
	if rep == nil {
		return nil
	}
	counts := map[string]int{"published": rep.Published, "from_seq": int(rep.FromSeq), "to_seq": int(rep.ToSeq)}
	for _, a := range replay.Actions() {
		if n := rep.Count(a); n > 0 {
			counts[a] = n
		}
	}
	return counts
}
