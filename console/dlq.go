package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/ops"
	"github.com/scaworker/scaworker/ops/audit"
	"github.com/scaworker/scaworker/ops/dlq"
)

// selection is a dead-letter selection as the console's forms carry it.
type selection struct {
	Reason string
	User   string
	Age    string   // "older than", e.g. 24h or 7d
	Until  string   // RFC 3339: records stored before (the next page, a pinned purge)
	Seqs   []uint64 // records by sequence
	All    bool     // every record (a redrive takes the first page of them)
}

// readSelection reads and checks the selection of r's form or query.
func readSelection(r *http.Request, now time.Time) (selection, dlq.Filter, string) {
	s := selection{
		Reason: strings.TrimSpace(r.FormValue("reason")),
		User:   strings.TrimSpace(r.FormValue("user")),
		Age:    strings.TrimSpace(r.FormValue("age")),
		Until:  strings.TrimSpace(r.FormValue("until")),
		All:    r.FormValue("all") == "true",
	}
	f := dlq.Filter{Reason: s.Reason, User: s.User, All: s.All}
	if s.User != "" && !events.ValidUserID(s.User) {
		return s, f, "user: not a Mangopay user id (1 to 128 of A-Z a-z 0-9 _ -)"
	}
	if len(s.Reason) > 64 {
		return s, f, "reason: too long"
	}
	if s.Age != "" {
		d, err := ops.ParseDuration(s.Age)
		if err != nil || d <= 0 {
			return s, f, "age: want a positive duration such as 24h or 7d"
		}
		f.Until = now.Add(-d)
	}
	if s.Until != "" {
		t, err := time.Parse(time.RFC3339Nano, s.Until)
		if err != nil {
			return s, f, "until: want an RFC 3339 time"
		}
		if f.Until.IsZero() || t.Before(f.Until) {
			f.Until = t
		}
	}
	for _, v := range r.Form["seq"] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return s, f, "seq: want a stream sequence"
		}
		s.Seqs = append(s.Seqs, n)
	}
	if len(s.Seqs) > 100 {
		return s, f, "seq: at most 100 records at once"
	}
	f.Seqs = s.Seqs
	return s, f, ""
}

// query is the selection as URL parameters (without until).
func (s selection) query() url.Values {
	v := url.Values{}
	for k, x := range map[string]string{"reason": s.Reason, "user": s.User, "age": s.Age} {
		if x != "" {
			v.Set(k, x)
		}
	}
	for _, n := range s.Seqs {
		v.Add("seq", strconv.FormatUint(n, 10))
	}
	if s.All {
		v.Set("all", "true")
	}
	return v
}

type dlqListData struct {
	Sel     selection
	Records []dlq.Record
	Next    string // URL of the next (older) page; "" when none
	Filter  string // the selection as a query string, for the actions
	Err     string
}

func (c *Console) dlqList(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	_ = r.ParseForm()
	sel, f, bad := readSelection(r, c.cfg.Now())
	d := dlqListData{Sel: sel, Filter: sel.query().Encode()}
	if bad != "" {
		d.Err = bad
		c.render(w, http.StatusBadRequest, "dlq", "Dead letters", d)
		return
	}
	recs, more, err := c.dlq.Newest(ctx, f, c.cfg.PageSize)
	if err != nil {
		c.fail(w, http.StatusBadGateway, "dead letters", err)
		return
	}
	// Newest returns oldest first: the console shows newest first.
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i]
	}
	d.Records = recs
	if more && len(recs) > 0 {
		q := sel.query()
		q.Set("until", recs[len(recs)-1].Stored.UTC().Format(time.RFC3339Nano))
		d.Next = "/dlq?" + q.Encode()
	}
	c.render(w, http.StatusOK, "dlq", "Dead letters", d)
}

type dlqShowData struct {
	Rec    *dlq.Record
	Entry  *entryView
	Body   string
	Header []string
}

func (c *Console) dlqShow(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		c.fail(w, http.StatusBadRequest, "not a dead-letter sequence", nil)
		return
	}
	rec, le, err := c.dlq.Show(ctx, seq)
	if errors.Is(err, dlq.ErrNoRecord) {
		c.fail(w, http.StatusNotFound, "dead letter "+strconv.FormatUint(seq, 10)+": "+dlq.ErrNoRecord.Error(), nil)
		return
	}
	if err != nil {
		c.fail(w, http.StatusBadGateway, "dead letter", err)
		return
	}
	d := dlqShowData{Rec: rec}
	if le != nil {
		v := viewOf("trigger", rec.Event.Source, le, "")
		d.Entry = &v
	}
	if rec.DeadLetter != nil {
		d.Body = string(rec.DeadLetter.Original.Body)
		for k, vs := range rec.DeadLetter.Original.Headers {
			for _, v := range vs {
				d.Header = append(d.Header, k+": "+v)
			}
		}
	}
	c.render(w, http.StatusOK, "dlqshow", "Dead letter "+strconv.FormatUint(seq, 10), d)
}

// actionData is a confirmation page (the dry run) or a result page.
type actionData struct {
	Action   string // "redrive" or "purge"
	Sel      selection
	Done     bool
	Redrives []dlq.RedriveResult
	Purge    dlq.PurgeResult
	AsOf     string // RFC 3339: the purge is pinned to records stored before it
	Operator string // from authentication; "" asks for a name
	Err      string
	Audit    uint64 // the audit record's sequence
}

// writable refuses actions on a read-only console (nil when allowed).
func (c *Console) writable(w http.ResponseWriter) bool {
	if !c.cfg.Write {
		c.fail(w, http.StatusForbidden, "read-only console: redrive and purge need SCA_ADMIN_WRITE=true", nil)
		return false
	}
	return true
}

// redriveLimit is the most records one console redrive takes: the page
// its confirmation shows.
func (c *Console) redriveLimit() int { return c.cfg.PageSize }

func (c *Console) redrivePreview(w http.ResponseWriter, r *http.Request) {
	if !c.writable(w) {
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	_ = r.ParseForm()
	sel, f, bad := readSelection(r, c.cfg.Now())
	d := actionData{Action: "redrive", Sel: sel, Operator: authUser(r)}
	if bad == "" && f.Empty() {
		bad = "select records by reason, user, age, sequence, or all"
	}
	if bad != "" {
		d.Err = bad
		c.render(w, http.StatusBadRequest, "confirm", "Redrive", d)
		return
	}
	res, err := c.dlq.RedriveWith(ctx, f, dlq.RedriveOptions{Limit: c.redriveLimit(), DryRun: true})
	if err != nil {
		c.fail(w, http.StatusBadGateway, "redrive dry run", err)
		return
	}
	// The confirmation redrives exactly the records shown.
	d.Redrives = res
	d.Sel.Seqs = nil
	for _, x := range res {
		d.Sel.Seqs = append(d.Sel.Seqs, x.Seq)
	}
	c.render(w, http.StatusOK, "confirm", "Redrive", d)
}

func (c *Console) redrive(w http.ResponseWriter, r *http.Request) {
	c.confirmed(w, r, "redrive", "Redrive", audit.CommandDLQRedrive, func(_ selection, f dlq.Filter) string {
		if len(f.Seqs) == 0 {
			return "nothing to redrive: confirm from the dry-run page"
		}
		return ""
	}, func(ctx context.Context, tools *dlq.Tools, op string, sel selection, f dlq.Filter) (actionData, map[string]string, map[string]int, error) {
		res, err := tools.RedriveWith(ctx, f, dlq.RedriveOptions{Limit: c.redriveLimit()})
		done := actionData{Action: "redrive", Sel: sel, Done: true, Redrives: res, Operator: op}
		return done, dlq.AuditSelection(f, 0, c.redriveLimit()), dlq.RedriveCounts(res), err
	})
}

func (c *Console) purgePreview(w http.ResponseWriter, r *http.Request) {
	if !c.writable(w) {
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	_ = r.ParseForm()
	now := c.cfg.Now()
	sel, f, bad := readSelection(r, now)
	d := actionData{Action: "purge", Sel: sel, Operator: authUser(r)}
	if bad == "" && f.Empty() {
		bad = "select records by reason, user, age, sequence, or all"
	}
	if bad != "" {
		d.Err = bad
		c.render(w, http.StatusBadRequest, "confirm", "Purge", d)
		return
	}
	// The purge is pinned to the records stored before this dry run.
	if f.Until.IsZero() || now.Before(f.Until) {
		f.Until = now
	}
	d.AsOf = f.Until.UTC().Format(time.RFC3339Nano)
	res, err := c.dlq.Purge(ctx, f, dlq.PurgeOptions{DryRun: true})
	if err != nil {
		c.fail(w, http.StatusBadGateway, "purge dry run", err)
		return
	}
	d.Purge = res
	c.render(w, http.StatusOK, "confirm", "Purge", d)
}

func (c *Console) purge(w http.ResponseWriter, r *http.Request) {
	c.confirmed(w, r, "purge", "Purge", audit.CommandDLQPurge, func(sel selection, f dlq.Filter) string {
		if f.Empty() || sel.Until == "" {
			return "nothing to purge: confirm from the dry-run page"
		}
		return ""
	}, func(ctx context.Context, tools *dlq.Tools, op string, sel selection, f dlq.Filter) (actionData, map[string]string, map[string]int, error) {
		var age time.Duration
		if sel.Age != "" {
			age, _ = ops.ParseDuration(sel.Age)
		}
		res, err := tools.Purge(ctx, f, dlq.PurgeOptions{OlderThan: age})
		done := actionData{Action: "purge", Sel: sel, Done: true, Purge: res, Operator: op}
		return done, dlq.AuditSelection(f, age, 0), dlq.PurgeCounts(res), err
	})
}

// confirmed carries out a confirmed redrive or purge, the one way both go: the request is
// checked (write enabled, CSRF, the operator, the selection, and missing's complaint about
// it), the audit stream made ready before anything changes, the change done by do with the
// operator's tools, its audit record written, and the result or the failure rendered.
func (c *Console) confirmed(w http.ResponseWriter, r *http.Request, action, title, command string,
	missing func(selection, dlq.Filter) string,
	do func(ctx context.Context, tools *dlq.Tools, op string, sel selection, f dlq.Filter) (done actionData, auditSel map[string]string, counts map[string]int, err error),
) {
	if !c.action(w, r) {
		return
	}
	op, bad := operator(r)
	sel, f, bad2 := readSelection(r, c.cfg.Now())
	if bad == "" {
		bad = bad2
	}
	if bad == "" {
		bad = missing(sel, f)
	}
	if bad != "" {
		c.render(w, http.StatusBadRequest, "confirm", title, actionData{Action: action, Sel: sel, Operator: authUser(r), Err: bad})
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	if err := c.audit.Ensure(ctx); err != nil {
		c.fail(w, http.StatusBadGateway, "audit stream (nothing was changed)", err)
		return
	}
	tools := dlq.New(c.js, dlq.Config{Layout: c.cfg.Layout, Log: c.cfg.Log.Named("audit"), Now: c.cfg.Now, Operator: op})
	done, auditSel, counts, err := do(ctx, tools, op, sel, f)
	seq, aerr := c.record(ctx, op, command, auditSel, counts, err)
	if err != nil {
		c.fail(w, http.StatusBadGateway, action, err)
		return
	}
	if aerr != nil {
		c.fail(w, http.StatusBadGateway, action+" done, but its audit record was not written", aerr)
		return
	}
	done.Audit = seq
	c.render(w, http.StatusOK, "confirm", title, done)
}

// action checks a state-changing request: write enabled, CSRF.
func (c *Console) action(w http.ResponseWriter, r *http.Request) bool {
	if !c.writable(w) {
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		c.fail(w, http.StatusBadRequest, "unreadable form", nil)
		return false
	}
	if why := c.csrf.check(r); why != "" {
		c.fail(w, http.StatusForbidden, why, nil)
		return false
	}
	return true
}

// operator is who acts: the basic-auth user, else the form's operator
// field (the rule of ops/audit: never empty).
func operator(r *http.Request) (string, string) {
	op := authUser(r)
	if op == "" {
		op = strings.TrimSpace(r.PostFormValue("operator"))
	}
	if err := audit.CheckOperator(op); err != nil {
		return "", "operator: " + err.Error()
	}
	return op, ""
}

// record writes the action's audit record through ops/audit, as the
// command line does; "via": "console" tells them apart. Its write has
// its own deadline, so a request that ended still leaves its record.
func (c *Console) record(ctx context.Context, op, command string, sel map[string]string, counts map[string]int, err error) (uint64, error) {
	res := audit.ResultDone
	switch {
	case err != nil && ctx.Err() != nil:
		res = audit.ResultInterrupted
	case err != nil:
		res = audit.ResultFailed
	}
	sel["via"] = "console"
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return c.audit.Write(wctx, audit.Record{Operator: op, Command: command, Selection: sel, Counts: counts, Result: res})
}
