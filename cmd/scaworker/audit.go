package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/ops/audit"
)

// auditCommand is `scaworker audit`: one page of audit records, newest first.
func auditCommand(ctx context.Context, p *settings.Parsed, log *zap.Logger, stdout io.Writer) error {
	a := p.CLI.Audit
	cfg, errs := operatorConfig(p.Command, a.NATS, a.Consumer)
	acfg := auditConfig(a.Audit, cfg.Defaults().Replicas)
	errs = append(errs, acfg.Validate())
	if a.Limit < 1 {
		errs = append(errs, fmt.Errorf("--limit: must be at least 1, got %d", a.Limit))
	}
	switch a.Command {
	case "", audit.CommandReplay, audit.CommandDLQRedrive, audit.CommandDLQPurge, audit.CommandBackfill:
	default:
		errs = append(errs, fmt.Errorf("--command: %q: want replay, \"dlq redrive\", \"dlq purge\" or backfill", a.Command))
	}
	if err := newConfigError(errs...); err != nil {
		return err
	}
	nc, js, err := operatorConnect(ctx, a.NATS, log)
	if err != nil {
		return err
	}
	defer closeOperatorConn(nc)
	l, err := audit.New(js, acfg)
	if err != nil {
		return newConfigError(err)
	}
	page, err := l.Read(ctx, audit.Query{Limit: a.Limit, Before: a.Before, Command: a.Command, Operator: a.Operator})
	if err != nil {
		return err
	}
	return writeAudit(stdout, page)
}

// writeAudit prints a page of audit records as a table (TIME SEQ OPERATOR
// COMMAND DRY-RUN RESULT SELECTION COUNTS), then how to read the next page.
func writeAudit(w io.Writer, page audit.Page) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSEQ\tOPERATOR\tCOMMAND\tDRY-RUN\tRESULT\tSELECTION\tCOUNTS")
	for _, r := range page.Records {
		dry := "-"
		if r.DryRun {
			dry = "yes"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.UTC().Format(time.RFC3339), r.Seq, r.Operator, r.Command,
			dry, r.Result, pairs(r.Selection, func(v string) string { return v }), pairs(r.Counts, strconv.Itoa))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	noun := "records"
	if len(page.Records) == 1 {
		noun = "record"
	}
	var err error
	if page.Next != 0 {
		_, err = fmt.Fprintf(w, "%d %s (newest first; older: --before %d)\n", len(page.Records), noun, page.Next)
	} else {
		_, err = fmt.Fprintf(w, "%d %s (newest first)\n", len(page.Records), noun)
	}
	return err
}

// pairs prints a map as "k=v k=v", keys sorted; "-" when empty.
func pairs[V any](m map[string]V, format func(V) string) string {
	if len(m) == 0 {
		return "-"
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + format(m[k]))
	}
	return b.String()
}
