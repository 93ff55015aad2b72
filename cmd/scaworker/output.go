package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/ops"
	"github.com/scaworker/scaworker/ops/backfill"
	"github.com/scaworker/scaworker/ops/dlq"
	"github.com/scaworker/scaworker/ops/replay"
)

// What the operator commands show on a terminal: tables, prompts and
// progress bars. The tools themselves (package ops and below) return data.

// Confirmation errors of [confirmPurge].
var (
	// errNotConfirmed means the operator did not answer yes.
	errNotConfirmed = errors.New("not confirmed")
	// errNoAnswer means there was nothing to read the answer from (no
	// stdin, as in CI): pass --yes to proceed without a question.
	errNoAnswer = errors.New("no answer on stdin: pass --yes to purge without asking")
)

// confirmPurge returns a [dlq.PurgeOptions.Confirm] that asks "purge N records?
// [y/N] " on out and reads one line from in: "y" or "yes" (any case)
// proceeds, anything else is [errNotConfirmed]; a nil in, or one at its
// end before any answer, is [errNoAnswer].
func confirmPurge(in io.Reader, out io.Writer) func(n int) error {
	return func(n int) error {
		if in == nil {
			return errNoAnswer
		}
		noun := "records"
		if n == 1 {
			noun = "record"
		}
		fmt.Fprintf(out, "purge %d %s? [y/N] ", n, noun)
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && line == "" {
			fmt.Fprintln(out)
			return errNoAnswer
		}
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return nil
		}
		return errNotConfirmed
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeRecords prints records as a table: TIME SEQ SUBJECT REASON USER
// ATTEMPTS STATE (SUBJECT is the original subject), then a count; total is
// the number of matching records when recs holds only the newest of them.
func writeRecords(w io.Writer, recs []dlq.Record, total int) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSEQ\tSUBJECT\tREASON\tUSER\tATTEMPTS\tSTATE")
	for _, r := range recs {
		attempts := "-"
		subject := r.Subject
		if r.DeadLetter != nil {
			attempts = strconv.Itoa(r.DeadLetter.Attempts)
			subject = r.OriginalSubject()
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", ops.FormatTime(r.Stored), r.Seq, subject, r.Reason(),
			dash(r.Event.UserID), attempts, dash(r.StateText()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	noun := "records"
	if total == 1 {
		noun = "record"
	}
	var err error
	if total > len(recs) {
		_, err = fmt.Fprintf(w, "%d of %d %s (the newest; --limit 0 shows all)\n", len(recs), total, noun)
	} else {
		_, err = fmt.Fprintf(w, "%d %s\n", len(recs), noun)
	}
	return err
}

// writeRecord prints one record in full: the record's fields, its redrive
// state, the root trigger's ledger outcome when known (ledger may be
// nil), and the original event (headers, then the body as indented JSON,
// or base64 when it is not JSON).
func writeRecord(w io.Writer, r *dlq.Record, ledger *consumer.LedgerEntry) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("seq", strconv.FormatUint(r.Seq, 10))
	row("stored", ops.FormatTime(r.Stored))
	row("subject", r.Subject)
	row("record id", dash(r.ID))
	if r.DeadLetter == nil {
		row("error", "record cannot be decoded: "+r.DecodeError)
		return tw.Flush()
	}
	dl := r.DeadLetter
	row("event id", dash(dl.EventID))
	row("user", dash(r.Event.UserID))
	row("reason", dl.Reason)
	row("error", dash(dl.Error))
	row("attempts", strconv.Itoa(dl.Attempts))
	row("first attempt", ops.FormatTime(dl.FirstAttemptAt))
	row("last attempt", ops.FormatTime(dl.LastAttemptAt))
	row("stream seq", strconv.FormatUint(dl.StreamSequence, 10))
	switch st := r.State; {
	case st == nil:
		row("state", "not redriven")
	default:
		row("state", fmt.Sprintf("%s as %s at %s", r.StateText(), st.RedriveID, ops.FormatTime(st.RedrivenAt)))
	}
	if root, n := r.Root(); n > 0 {
		row("redrive of", fmt.Sprintf("%s (redrive %d of at most %d)", root, n, dlq.MaxRedrives))
	}
	if ledger != nil {
		v := ledger.Outcome
		if ledger.Reason != "" {
			v += " " + ledger.Reason
		}
		if ledger.RedrivenTo != "" {
			v += " (redriven to " + ledger.RedrivenTo + ")"
		}
		row("ledger", dash(v))
	}
	row("original subject", dl.Original.Subject)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "original headers:")
	if len(dl.Original.Headers) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	keys := make([]string, 0, len(dl.Original.Headers))
	for k := range dl.Original.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range dl.Original.Headers[k] {
			fmt.Fprintf(w, "  %s: %s\n", k, v)
		}
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, dl.Original.Body, "", "  ") == nil {
		fmt.Fprintln(w, "original event:")
		pretty.WriteByte('\n')
		_, err := w.Write(pretty.Bytes())
		return err
	}
	fmt.Fprintf(w, "original body (%d bytes, not JSON, base64):\n%s\n", len(dl.Original.Body), base64.StdEncoding.EncodeToString(dl.Original.Body))
	return nil
}

// writeRedriveResults prints one line per record and a summary.
func writeRedriveResults(w io.Writer, results []dlq.RedriveResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tEVENT\tREDRIVE ID\tRESULT")
	counts := map[string]int{}
	for _, r := range results {
		counts[r.Result]++
		result := r.Result
		if r.Note != "" {
			result += ": " + r.Note
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.Seq, dash(r.EventID), dash(r.RedriveID), result)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d redriven, %d skipped, %d refused, %d conflicts\n",
		counts[dlq.RedriveDone], counts[dlq.RedriveSkipped], counts[dlq.RedriveRefused], counts[dlq.RedriveConflict])
	return err
}

// writeReplaySummary prints a replay's report: a status line, then a
// table of counts by action (rows) and type (columns).
func writeReplaySummary(w io.Writer, r *replay.Report) error {
	var status string
	switch {
	case r.AlreadyDone:
		status = "already finished; nothing to do (--restart runs it again)"
	case r.FromSeq > r.ToSeq:
		status = "no message in range"
	case r.Done:
		status = "finished"
	default:
		status = fmt.Sprintf("interrupted before stream seq %d: run the same command again to resume", r.NextSeq)
	}
	if r.DryRun {
		status += " (dry run: nothing was written)"
	}
	rng := fmt.Sprintf("stream seq %d..%d", r.FromSeq, r.ToSeq)
	if r.FromSeq > r.ToSeq {
		rng = "empty range"
	}
	if _, err := fmt.Fprintf(w, "replay %s on %s, %s: %s\n", r.ReplayID, r.Stream, rng, status); err != nil {
		return err
	}
	var types []string
	for _, byType := range r.Counts {
		for typ := range byType {
			if !slices.Contains(types, typ) {
				types = append(types, typ)
			}
		}
	}
	slices.SortFunc(types, func(a, b string) int { return replayTypeRank(a) - replayTypeRank(b) })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "ACTION\tTOTAL")
	for _, typ := range types {
		fmt.Fprintf(tw, "\t%s", typ)
	}
	fmt.Fprintln(tw)
	total := map[string]int{}
	all := 0
	for _, action := range replay.Actions() {
		fmt.Fprintf(tw, "%s\t%d", action, r.Count(action))
		all += r.Count(action)
		for _, typ := range types {
			n := r.Counts[action][typ]
			total[typ] += n
			fmt.Fprintf(tw, "\t%d", n)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "total\t%d", all)
	for _, typ := range types {
		fmt.Fprintf(tw, "\t%d", total[typ])
	}
	fmt.Fprintln(tw)
	return tw.Flush()
}

// replayTypeRank orders types as the trigger subjects are listed.
func replayTypeRank(typ string) int {
	switch typ {
	case events.TypeUserCreated:
		return 0
	case events.TypeSessionExpired:
		return 1
	case events.TypeSessionFailed:
		return 2
	case events.TypeEnrollmentSucceeded:
		return 3
	}
	return 4
}

// replayLineFormat is the layout of a dry-run line.
const replayLineFormat = "%10s  %-24s  %-28s  %-40s  %s\n"

// replayDryRunLines returns a replay.Config.AfterTrigger that prints one
// dry-run line per trigger (a header first): seq, type, user, the
// ledger's outcome/reason before the replay, action. Triggers filtered
// out by --user are not printed.
func replayDryRunLines(out io.Writer) func(replay.Step) {
	header := false
	return func(s replay.Step) {
		if s.Action == replay.Filtered {
			return
		}
		if !header {
			fmt.Fprintf(out, replayLineFormat, "SEQ", "TYPE", "USER", "LEDGER", "ACTION")
			header = true
		}
		ledger := "-"
		switch {
		case s.Outcome != "" && s.Reason != "":
			ledger = s.Outcome + "/" + s.Reason
		case s.Outcome != "":
			ledger = s.Outcome
		}
		action := s.Action
		if s.NewID != "" {
			action += " as " + s.NewID
		}
		fmt.Fprintf(out, replayLineFormat, strconv.FormatUint(s.Seq, 10), s.Type, dash(s.UserID), ledger, action)
	}
}

// replayBar draws a replay's progress on a terminal: a bar with count,
// rate and ETA.
type replayBar struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (b *replayBar) Start(desc string, total int64) {
	w := b.w
	b.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("msg"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
	_ = b.bar.RenderBlank()
}

func (b *replayBar) Set(done int64) { _ = b.bar.Set64(done) }

func (b *replayBar) Finish(complete bool) {
	if complete {
		_ = b.bar.Finish()
		return
	}
	_ = b.bar.Exit()
}

// backfillProgress returns the backfill's progress display on w: a spinner
// with counts when w is a terminal, else one log line per page on log.
func backfillProgress(w io.Writer, terminal bool, log *zap.Logger) backfill.Progress {
	if log == nil {
		log = zap.NewNop()
	}
	if !terminal {
		return logProgress{log: log}
	}
	bar := progressbar.NewOptions(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("backfill"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("events"),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionClearOnFinish(),
	)
	return &barProgress{bar: bar}
}

type logProgress struct{ log *zap.Logger }

func (p logProgress) Page(typ string, page, items int, total backfill.Counts) {
	p.log.Info("backfill page", zap.String("event_type", typ), zap.Int("page", page), zap.Int("items", items),
		zap.Int("found", total.Found), zap.Int("stored", total.Stored), zap.Int("already_delivered", total.Delivered))
}

func (p logProgress) Done(backfill.Result) {}

type barProgress struct{ bar *progressbar.ProgressBar }

func (p *barProgress) Page(typ string, page, items int, total backfill.Counts) {
	p.bar.Describe(fmt.Sprintf("%s page %d: %d stored, %d already delivered", typ, page, total.Stored, total.Delivered))
	_ = p.bar.Add(items)
}

func (p *barProgress) Done(backfill.Result) { _ = p.bar.Finish() }

// writeBackfillSummary prints the range, then a table of counts by type
// with a total.
func writeBackfillSummary(w io.Writer, r backfill.Result) error {
	fmt.Fprintf(w, "backfill %s .. %s: %d pages\n", ops.FormatTime(r.From), ops.FormatTime(r.To), r.Pages)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tFOUND\tSTORED\tALREADY DELIVERED\tINVALID")
	row := func(name string, c backfill.Counts) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, strconv.Itoa(c.Found), strconv.Itoa(c.Stored), strconv.Itoa(c.Delivered), strconv.Itoa(c.Invalid))
	}
	types := slices.Clone(r.ByType)
	for _, tc := range types {
		row(tc.Type, tc.Counts)
	}
	row("total", r.Total)
	return tw.Flush()
}
