package console

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/ops/dlq"
	"github.com/scaworker/scaworker/ops/replay"
)

// maxLineage bounds the copies a lookup looks for: redrives (at most
// dlq.MaxRedrives) and forced replays.
const maxForced = 10

// entryView is a ledger entry as the console shows it: never the pending
// event's body (it may hold a link's token), never the link itself.
type entryView struct {
	Role      string // "trigger", "redrive copy", "forced replay"
	Source    string
	EventID   string
	Type      string
	UserID    string
	Outcome   string
	Reason    string
	Attempts  int
	First     time.Time
	Last      time.Time
	Decided   time.Time
	StreamSeq uint64
	LastError string
	Pending   bool
	LinkID    string
	LinkTTL   time.Time
	Redriven  string
	Key       string
}

func viewOf(role, source string, e *consumer.LedgerEntry, key string) entryView {
	return entryView{
		Role: role, Source: source, EventID: e.EventID, Type: e.Type, UserID: e.UserID,
		Outcome: e.Outcome, Reason: e.Reason, Attempts: e.Attempts,
		First: e.FirstAttemptAt, Last: e.LastAttemptAt, Decided: e.DecidedAt, StreamSeq: e.StreamSeq,
		LastError: e.LastError, Pending: e.Pending != nil, LinkID: e.LinkID, LinkTTL: e.ExpiresAt,
		Redriven: e.RedrivenTo, Key: key,
	}
}

type triggerData struct {
	Query, Source string
	Searched      bool
	Sources       []string
	Entries       []entryView
	User          *consumer.UserView
	UserLinks     []entryView
	UserID        string
	DeadLetters   []dlq.Record
	MoreDead      bool
	Err           string
}

// trigger looks a trigger up by event id (with its source, or each
// source the workers saw), by trigger-stream sequence ("#123"), or a
// user by id.
func (c *Console) trigger(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d := triggerData{Query: q, Source: strings.TrimSpace(r.URL.Query().Get("source")), Searched: q != ""}
	if kv, err := c.bucket(ctx, c.cfg.StatsBucket); err == nil && kv != nil {
		if ov, err := ReadStats(ctx, kv, c.cfg.Now()); err == nil {
			d.Sources = ov.Sources
		}
	}
	if q == "" {
		c.render(w, http.StatusOK, "trigger", "Trigger lookup", d)
		return
	}
	if len(q) > events.MaxIdentityLen || len(d.Source) > events.MaxIdentityLen {
		d.Err = "too long for an event id or source"
		c.render(w, http.StatusBadRequest, "trigger", "Trigger lookup", d)
		return
	}
	l, err := consumer.OpenLedger(ctx, c.js, c.cfg.Layout)
	if err != nil {
		c.fail(w, http.StatusBadGateway, "ledger", err)
		return
	}
	if seq, ok := strings.CutPrefix(q, "#"); ok {
		n, err := strconv.ParseUint(seq, 10, 64)
		if err != nil {
			d.Err = "#SEQ wants a stream sequence number"
			c.render(w, http.StatusBadRequest, "trigger", "Trigger lookup", d)
			return
		}
		if err := c.bySeq(ctx, l, n, &d); err != nil {
			c.fail(w, http.StatusBadGateway, "trigger stream", err)
			return
		}
		c.render(w, http.StatusOK, "trigger", "Trigger lookup", d)
		return
	}
	sources := d.Sources
	if d.Source != "" {
		sources = []string{d.Source}
	}
	for _, src := range sources {
		if err := c.lineage(ctx, l, src, q, &d); err != nil {
			c.fail(w, http.StatusBadGateway, "ledger", err)
			return
		}
	}
	if events.ValidUserID(q) {
		if err := c.byUser(ctx, l, q, &d); err != nil {
			c.fail(w, http.StatusBadGateway, "user", err)
			return
		}
	}
	c.render(w, http.StatusOK, "trigger", "Trigger lookup", d)
}

// lineage adds the entry of (source, id) and its copies: the redrive
// copies of its root and its forced replays, each found by the id rules
// of ops/dlq and ops/replay (a page at most).
func (c *Console) lineage(ctx context.Context, l *consumer.Ledger, source, id string, d *triggerData) error {
	e, err := l.Entry(ctx, events.KeyOf(source, id))
	if err != nil || e == nil {
		return err
	}
	d.Entries = append(d.Entries, viewOf("trigger", source, e, events.KeyOf(source, id)))
	for n := 1; n <= dlq.MaxRedrives; n++ {
		cid := dlq.RedriveID(id, n)
		ce, err := l.Entry(ctx, events.KeyOf(source, cid))
		if err != nil {
			return err
		}
		if ce == nil {
			break
		}
		d.Entries = append(d.Entries, viewOf("redrive copy", source, ce, events.KeyOf(source, cid)))
	}
	for n := 1; n <= maxForced; n++ {
		fid := replay.ForcedID(id, n)
		fe, err := l.Entry(ctx, events.KeyOf(source, fid))
		if err != nil {
			return err
		}
		if fe == nil {
			break
		}
		d.Entries = append(d.Entries, viewOf("forced replay", source, fe, events.KeyOf(source, fid)))
	}
	return nil
}

// bySeq finds the trigger stored at seq of the trigger stream.
func (c *Console) bySeq(ctx context.Context, l *consumer.Ledger, seq uint64, d *triggerData) error {
	st, err := c.js.Stream(ctx, c.cfg.Layout.Stream)
	if err != nil {
		return err
	}
	m, err := st.GetMsg(ctx, seq)
	if err != nil {
		d.Err = "no trigger at this sequence: " + err.Error()
		return nil
	}
	ev, decErr := c.cfg.Layout.Subjects.Decode(m.Subject, m.Data)
	key, id := consumer.TriggerKey(c.cfg.Layout.Stream, seq, ev, decErr)
	if ev != nil && decErr == nil {
		return c.lineage(ctx, l, ev.Source, id, d)
	}
	e, err := l.Entry(ctx, key)
	if err != nil || e == nil {
		return err
	}
	d.Entries = append(d.Entries, viewOf("trigger (invalid event)", "", e, key))
	return nil
}

// byUser adds what the worker remembers of user, the triggers that
// claimed a link in the cap window, and the user's newest dead letters.
func (c *Console) byUser(ctx context.Context, l *consumer.Ledger, user string, d *triggerData) error {
	d.UserID = user
	u, err := consumer.ReadUser(ctx, c.js, c.cfg.Layout, user)
	if err != nil {
		return err
	}
	d.User = u
	if u != nil {
		for _, m := range u.Links {
			e, err := l.Entry(ctx, m.Key)
			if err != nil {
				return err
			}
			if e != nil {
				d.UserLinks = append(d.UserLinks, viewOf("trigger", "", e, m.Key))
			}
		}
	}
	d.DeadLetters, d.MoreDead, err = c.dlq.Newest(ctx, dlq.Filter{User: user}, c.cfg.PageSize)
	return err
}
