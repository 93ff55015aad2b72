package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/ops/backfill"
)

// backfillCommand is `scaworker backfill`.
func backfillCommand(ctx context.Context, p *settings.Parsed, log *zap.Logger, stdout, stderr io.Writer) error {
	b := p.CLI.Backfill
	cfg, errs := operatorConfig("backfill", b.NATS, b.Consumer)
	from, to, err := backfill.Window(b.Since, b.From, b.To, time.Now())
	errs = append(errs, err)

	m := b.Mangopay
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
	log.Info("backfill", zap.String("from", from.Format(time.RFC3339)), zap.String("to", to.Format(time.RFC3339)), zap.String("rate", mcfg.Rate.String()))
	res, err := backfill.Run(ctx, js, mp, backfill.Config{
		Layout: cfg, From: from, To: to, Log: log,
		Progress: backfillProgress(stderr, isTerminal(stderr), log),
	})
	if werr := writeBackfillSummary(stdout, res); err == nil {
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
