package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
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

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeRecords prints records as a table: TIME SEQ SUBJECT REASON USER
// ATTEMPTS STATE (SUBJECT is the original subject), then a count; more
// says recs are only the newest of the matching records.
func writeRecords(w io.Writer, recs []dlq.Record, more bool) error {
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
	var err error
	if more {
		_, err = fmt.Fprintf(w, "%s (the newest; more match: --limit 0 shows all)\n", plural(len(recs), "record"))
	} else {
		_, err = fmt.Fprintf(w, "%s\n", plural(len(recs), "record"))
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
func writeRedriveResults(w io.Writer, results []dlq.RedriveResult, dryRun bool) error {
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
	if n := counts[dlq.RedriveWould]; n > 0 || len(results) == 0 && dryRun {
		_, err := fmt.Fprintf(w, "%d would be redriven, %d skipped, %d refused (dry run: nothing was written)\n",
			n, counts[dlq.RedriveSkipped], counts[dlq.RedriveRefused])
		return err
	}
	_, err := fmt.Fprintf(w, "%d redriven, %d skipped, %d refused, %d conflicts\n",
		counts[dlq.RedriveDone], counts[dlq.RedriveSkipped], counts[dlq.RedriveRefused], counts[dlq.RedriveConflict])
	return err
}

// plural is "1 record", "3 records"; nouns ending in "y" take "ies".
func plural(n int, noun string) string {
	switch {
	case n == 1:
		return "1 " + noun
	case strings.HasSuffix(noun, "y"):
		return strconv.Itoa(n) + " " + strings.TrimSuffix(noun, "y") + "ies"
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// writePurge prints what a purge did, or in a dry run would do.
func writePurge(w io.Writer, res dlq.PurgeResult) error {
	how := ""
	if res.Secure {
		how = " (erased securely)"
	}
	if res.DryRun {
		fmt.Fprintf(w, "would purge %d selected records%s\n", res.Selected, how)
	} else {
		fmt.Fprintf(w, "purged %d of %d selected records%s\n", res.Deleted, res.Selected, how)
	}
	if e := res.Erasure; e != nil {
		verb := "erased"
		if res.DryRun {
			verb = "would erase"
		}
		fmt.Fprintf(w, "%s the user's data: %s\n", verb, erasureText(*e))
	}
	if res.DryRun {
		_, err := fmt.Fprintln(w, "dry run: nothing was deleted")
		return err
	}
	return nil
}

// erasureText lists what a purge by user erases beyond the dead letters.
func erasureText(e dlq.Erasure) string {
	state := "no user state"
	if e.UserState {
		state = "the user state"
	}
	return fmt.Sprintf("%s in the trigger stream, %s, %s, %s, %s",
		plural(e.Triggers, "trigger"), plural(e.Links, "link event"), plural(e.LedgerEntries, "ledger entry"), state, plural(e.OpsEntries, "operator entry"))
}

// purgeQuestion is the confirmation question of a purge.
func purgeQuestion(p dlq.PurgeResult) string {
	q := "purge " + plural(p.Selected, "record")
	if p.Erasure != nil {
		q += " and erase the user's data (" + erasureText(*p.Erasure) + ")"
	}
	return q + "?"
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

// replayTableBlock is how many dry-run lines are held to size the columns
// before they are printed: enough to align a screenful, bounded for a
// replay of millions.
const replayTableBlock = 256

// replayTable prints a dry run's lines — seq, type, user, the ledger's
// outcome/reason before the replay, action — in columns as wide as their
// content, so that a user id of any length (up to 128 characters) keeps the
// table aligned. Lines are sized and printed a block at a time; a column
// only widens. Triggers filtered out by --user are not printed. Call Flush
// after the last trigger.
type replayTable struct {
	out    io.Writer
	widths [5]int
	rows   [][5]string
}

func newReplayTable(out io.Writer) *replayTable {
	t := &replayTable{out: out}
	t.rows = append(t.rows, [5]string{"SEQ", "TYPE", "USER", "LEDGER", "ACTION"})
	return t
}

// Add is a replay.Config.AfterTrigger.
func (t *replayTable) Add(s replay.Step) {
	if s.Action == replay.Filtered {
		return
	}
	t.rows = append(t.rows, [5]string{strconv.FormatUint(s.Seq, 10), s.Type, dash(s.UserID), s.Ledger(), s.Did()})
	if len(t.rows) >= replayTableBlock {
		_ = t.Flush()
	}
}

// Flush prints the lines held. With no trigger at all it prints nothing.
func (t *replayTable) Flush() error {
	if len(t.rows) == 0 || len(t.rows) == 1 && t.rows[0][0] == "SEQ" {
		return nil
	}
	for _, r := range t.rows {
		for i, c := range r {
			t.widths[i] = max(t.widths[i], len(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		fmt.Fprintf(&b, "%*s  %-*s  %-*s  %-*s  %s\n", t.widths[0], r[0], t.widths[1], r[1], t.widths[2], r[2], t.widths[3], r[3], r[4])
	}
	t.rows = t.rows[:0]
	_, err := io.WriteString(t.out, b.String())
	return err
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
func writeBackfillSummary(w io.Writer, r backfill.Result, dryRun bool) error {
	stored := "STORED"
	if dryRun {
		fmt.Fprintf(w, "backfill %s .. %s: %d pages (dry run: nothing was stored)\n", ops.FormatTime(r.From), ops.FormatTime(r.To), r.Pages)
		stored = "WOULD STORE"
	} else {
		fmt.Fprintf(w, "backfill %s .. %s: %d pages\n", ops.FormatTime(r.From), ops.FormatTime(r.To), r.Pages)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tFOUND\t"+stored+"\tALREADY DELIVERED\tINVALID")
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
