package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/ops"
	"github.com/scaworker/scaworker/ops/audit"
	"github.com/scaworker/scaworker/ops/dlq"
)

// shownError is a failure an operator command already reported on its
// output (refused redrives, a cancelled purge): exit code 1, no log line.
type shownError struct{ msg string }

func (e *shownError) Error() string { return e.msg }

// operatorConnectTimeout bounds the connection of an operator command: it
// works against a running deployment and gives up rather than waiting.
const operatorConnectTimeout = 15 * time.Second

// operatorConfig checks the settings every operator command needs: NATS_URL
// (required: operator commands never open a data directory, also for an
// embedded deployment) and the layout names.
func operatorConfig(command string, n settings.NATS, c settings.Consumer) (consumer.Config, []error) {
	var errs []error
	if n.URL == "" {
		errs = append(errs, fmt.Errorf("NATS_URL: required by `scaworker %s`: operator commands connect to the deployment's NATS by URL (for an embedded server, its SCA_NATS_LISTEN address, e.g. nats://127.0.0.1:4222) and never open SCA_DATA_DIR", command))
	}
	errs = append(errs, checkNATS(n)...)
	cfg := consumerConfig(c)
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errs
}

// closeOperatorConn closes an operator command's connection without the
// "nats disconnected" warning a worker logs.
func closeOperatorConn(nc *nats.Conn) {
	nc.SetDisconnectErrHandler(nil)
	nc.Close()
}

// operatorConnect connects to NATS_URL for an operator command; close the
// connection with closeOperatorConn.
func operatorConnect(ctx context.Context, n settings.NATS, log *zap.Logger) (*nats.Conn, jetstream.JetStream, error) {
	cctx, cancel := context.WithTimeout(ctx, operatorConnectTimeout)
	defer cancel()
	nc, err := connectNATS(cctx, n.URL, n, log)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("connect to NATS_URL %s: not reachable within %s", settings.RedactURLs(n.URL), operatorConnectTimeout)
		}
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		closeOperatorConn(nc)
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// dlqCommand is `scaworker dlq list|show|redrive|purge`.
func dlqCommand(ctx context.Context, p *settings.Parsed, env settings.LookupEnv, log *zap.Logger, stdin io.Reader, stdout, stderr io.Writer) error {
	d := p.CLI.Dlq
	cfg, errs := operatorConfig(p.Command, d.NATS, d.Consumer)
	now := time.Now()
	var f dlq.Filter
	var purge dlq.PurgeOptions
	var redrive dlq.RedriveOptions
	var chg *change
	acfg := auditConfig(d.Audit, cfg.Defaults().Replicas)
	timeFlag := func(flag, v string) time.Time {
		if v == "" {
			return time.Time{}
		}
		t, err := ops.ParseTime(flag, v, now)
		errs = append(errs, err)
		return t
	}
	userFlag := func(u string) string {
		if u != "" && !events.ValidUserID(u) {
			errs = append(errs, fmt.Errorf("--user: %q is not a Mangopay user id (1 to 128 of A-Z a-z 0-9 _ -)", u))
		}
		return u
	}
	switch p.Command {
	case "dlq list":
		l := d.List
		f = dlq.Filter{Reason: l.Reason, User: userFlag(l.User), Since: timeFlag("--since", l.Since), Until: timeFlag("--until", l.Until)}
		if l.Limit < 0 {
			errs = append(errs, fmt.Errorf("--limit: must not be negative, got %d", l.Limit))
		}
		if l.Audit {
			errs = append(errs, acfg.Validate())
			if !f.Empty() {
				errs = append(errs, errors.New("--audit: shows the audit records; drop the record filters (--reason, --user, --since, --until)"))
			}
		}
	case "dlq redrive":
		r := d.Redrive
		f = dlq.Filter{Reason: r.Reason, User: userFlag(r.User), Seqs: r.Seq, All: r.All}
		if f.Empty() {
			errs = append(errs, errors.New("dlq redrive: select records with --reason, --user, --seq or --all"))
		}
		if r.Limit < 0 {
			errs = append(errs, fmt.Errorf("--limit: must not be negative, got %d", r.Limit))
		}
		redrive = dlq.RedriveOptions{Limit: r.Limit, DryRun: r.DryRun}
		var cerrs []error
		chg, cerrs = newChange(audit.CommandDLQRedrive, r.Change, env, stdin, stderr)
		errs = append(append(errs, cerrs...), acfg.Validate())
	case "dlq purge":
		pg := d.Purge
		f = dlq.Filter{Reason: pg.Reason, User: userFlag(pg.User), All: pg.All}
		if pg.OlderThan != "" {
			age, err := ops.ParseDuration(pg.OlderThan)
			if err != nil || age <= 0 {
				errs = append(errs, fmt.Errorf("--older-than: %q: want a positive duration such as 720h or 30d", pg.OlderThan))
			}
			f.Until, purge.OlderThan = now.Add(-age), age
		}
		if f.Empty() {
			errs = append(errs, errors.New("dlq purge: select records with --user, --reason, --older-than or --all"))
		}
		purge.Secure, purge.Limit, purge.DryRun = pg.Secure, pg.Limit, pg.DryRun
		switch {
		case pg.Limit < 0:
			errs = append(errs, fmt.Errorf("--limit: must not be negative, got %d", pg.Limit))
		case pg.Limit > 0 && pg.User != "":
			errs = append(errs, errors.New("--limit: an erasure (--user) takes all the user's records; drop --limit"))
		}
		var cerrs []error
		chg, cerrs = newChange(audit.CommandDLQPurge, pg.Change, env, stdin, stderr)
		errs = append(append(errs, cerrs...), acfg.Validate())
	}
	if err := newConfigError(errs...); err != nil {
		return err
	}

	nc, js, err := operatorConnect(ctx, d.NATS, log)
	if err != nil {
		return err
	}
	defer closeOperatorConn(nc)
	operator := ""
	if chg != nil {
		if err := chg.open(ctx, js, acfg); err != nil {
			return err
		}
		operator = chg.operator
		purge.Confirm = func(p dlq.PurgeResult) error { return chg.confirm(purgeQuestion(p)) }
		redrive.Confirm = func(n int) error { return chg.confirm("redrive " + plural(n, "record") + "?") }
	}
	tools := dlq.New(js, dlq.Config{Layout: cfg, Log: log.Named("audit"), Operator: operator})

	switch p.Command {
	case "dlq list":
		if d.List.Audit {
			l, err := audit.New(js, acfg)
			if err != nil {
				return newConfigError(err)
			}
			limit := d.List.Limit
			if limit <= 0 {
				limit = 1000
			}
			page, err := l.Read(ctx, audit.Query{Limit: limit})
			if err != nil {
				return err
			}
			return writeAudit(stdout, page)
		}
		recs, more, err := tools.Newest(ctx, f, d.List.Limit)
		if err != nil {
			return err
		}
		return writeRecords(stdout, recs, more)
	case "dlq show <seq>":
		rec, ledger, err := tools.Show(ctx, d.Show.Seq)
		if errors.Is(err, dlq.ErrNoRecord) {
			fmt.Fprintf(stdout, "dead letter %d: %v\n", d.Show.Seq, dlq.ErrNoRecord)
			return &shownError{msg: err.Error()}
		}
		if err != nil {
			return err
		}
		return writeRecord(stdout, rec, ledger)
	case "dlq redrive":
		results, err := tools.RedriveWith(ctx, f, redrive)
		if errors.Is(err, errCancelled) {
			return chg.cancelled(stdout)
		}
		if errors.As(err, new(*configError)) {
			return err
		}
		if werr := writeRedriveResults(stdout, results, redrive.DryRun); err == nil {
			err = werr
		}
		if err := chg.record(ctx, dlq.AuditSelection(f, 0, d.Redrive.Limit), dlq.RedriveCounts(results), err); err != nil {
			return err
		}
		refused := 0
		for _, r := range results {
			if r.Result == dlq.RedriveRefused || r.Result == dlq.RedriveConflict {
				refused++
			}
		}
		if refused > 0 {
			return &shownError{msg: fmt.Sprintf("%d records not redriven", refused)}
		}
		return nil
	case "dlq purge":
		res, err := tools.Purge(ctx, f, purge)
		switch {
		case errors.Is(err, errCancelled):
			return chg.cancelled(stdout)
		case errors.As(err, new(*configError)):
			return err
		}
		if err := chg.record(ctx, dlq.AuditSelection(f, purge.OlderThan, purge.Limit), dlq.PurgeCounts(res), err); err != nil {
			return err
		}
		return writePurge(stdout, res)
	}
	return fmt.Errorf("unknown command %q", p.Command)
}
