package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/ops/audit"
	"github.com/scaworker/scaworker/ops/backfill"
)

// backfillCommand is `scaworker backfill`.
func backfillCommand(ctx context.Context, p *settings.Parsed, env settings.LookupEnv, log *zap.Logger, stdin io.Reader, stdout, stderr io.Writer) error {
	b := p.CLI.Backfill
	cfg, errs := operatorConfig("backfill", b.NATS, b.Consumer)
	chg, cerrs := newChange(audit.CommandBackfill, b.Change, env, stdin, stderr)
	acfg := auditConfig(b.Audit, cfg.Defaults().Replicas)
	errs = append(append(errs, cerrs...), acfg.Validate())
	from, to, err := backfill.Window(b.Since, b.From, b.To, time.Now())
	errs = append(errs, err)

	m := b.Mangopay
	deployment, err := enroll.ParseRate(m.Rate)
	if err != nil {
		errs = append(errs, fmt.Errorf("SCA_MANGOPAY_RATE: %w", err))
	}
	switch share, err := backfillRate(b.Rate, m.Rate); {
	case err != nil:
		errs = append(errs, err)
	default:
		m.Rate = share.String()
	}
	mcfg, merrs := mangopayConfig(m, true) // backfill lists events and builds no link
	errs = append(errs, merrs...)
	if err := newConfigError(errs...); err != nil {
		return err
	}

	nc, js, err := operatorConnect(ctx, b.NATS, log)
	if err != nil {
		return err
	}
	defer closeOperatorConn(nc)
	mp, err := enroll.NewClient(mcfg, log)
	if err != nil {
		return newConfigError(err)
	}
	if err := chg.open(ctx, js, acfg); err != nil {
		return err
	}
	if err := chg.confirm(fmt.Sprintf("backfill Mangopay's SCA enrollment events of %s .. %s into %s?",
		from.Format(time.RFC3339), to.Format(time.RFC3339), cfg.Defaults().Stream)); err != nil {
		if errors.Is(err, errCancelled) {
			return chg.cancelled(stdout)
		}
		return err
	}
	// The deployment's budget is drawn from with the workers; --rate caps this
	// backfill's part of it.
	closeBudget, err := shareBudget(ctx, js, cfg, deployment, mcfg.RequestTimeout, mp.Governor(), log, !b.DryRun)
	if err != nil {
		return err
	}
	defer closeBudget()
	log.Debug("backfill", zap.String("from", from.Format(time.RFC3339)), zap.String("to", to.Format(time.RFC3339)), zap.String("rate", mcfg.Rate.String()))
	res, err := backfill.Run(ctx, js, mp, backfill.Config{
		Layout: cfg, From: from, To: to, Log: log, DryRun: b.DryRun,
		Progress: backfillProgress(stderr, isTerminal(stderr), log),
	})
	sel := map[string]string{"from": from.Format(time.RFC3339), "to": to.Format(time.RFC3339), "rate": mcfg.Rate.String()}
	counts := map[string]int{"pages": res.Pages, "found": res.Total.Found, "stored": res.Total.Stored,
		"already_delivered": res.Total.Delivered, "invalid": res.Total.Invalid}
	err = chg.record(ctx, sel, counts, err)
	if werr := writeBackfillSummary(stdout, res, b.DryRun); err == nil {
		err = werr
	}
	return err
}

// backfillRate is --rate, or half of SCA_MANGOPAY_RATE (at least 1 per its
// duration) so the backfill leaves the rest to the running worker.
func backfillRate(flag, deployment string) (enroll.Rate, error) {
	if flag != "" {
		r, err := enroll.ParseRate(flag)
		if err != nil {
			return r, fmt.Errorf("--rate: %w", err)
		}
		return r, nil
	}
	r, err := enroll.ParseRate(deployment)
	if err != nil {
		return r, fmt.Errorf("SCA_MANGOPAY_RATE: %w", err)
	}
	r.N = max(1, r.N/2)
	return r, nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
