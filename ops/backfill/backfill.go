package backfill

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/hooks"
	"github.com/scaworker/scaworker/ops"
)

// EventsWindow is how far back Mangopay lists events: 45 days (older
// dates answer 400 param_error).
const EventsWindow = 45 * 24 * time.Hour

// windowMargin keeps the backfill's start inside Mangopay's window for
// the whole run.
const windowMargin = time.Hour

// MaxPerPage is the page size of the backfill: Mangopay's largest.
const MaxPerPage = 100

// HookTypes are the Mangopay event types the backfill reads, in order.
func HookTypes() []string {
	return []string{events.HookEnrollmentExpired, events.HookEnrollmentFailed, events.HookEnrollmentSucceeded}
}

// EventLister lists Mangopay's events; *enroll.Client implements it (its
// rate governor paces every call).
type EventLister interface {
	Events(ctx context.Context, q enroll.EventsQuery) ([]enroll.Event, error)
}

// Window turns the flags of `scaworker backfill` into the time
// range [from, to]: --since (a duration such as 24h or 7d) or --from (RFC
// 3339), and --to (RFC 3339, default now). It refuses a start more than
// [EventsWindow] before now, naming the flag used, since Mangopay lists
// no older events. A --to in the future is now.
func Window(since, from, to string, now time.Time) (time.Time, time.Time, error) {
	var start, end time.Time
	var err error
	flag := "--from"
	switch {
	case since != "" && from != "":
		return start, end, errors.New("--since and --from: set one, not both")
	case since != "":
		flag = "--since"
		d, err := ops.ParseDuration(since)
		if err != nil || d <= 0 {
			return start, end, fmt.Errorf("--since: %q: want a positive duration such as 24h or 7d", since)
		}
		start = now.Add(-d)
	case from != "":
		if start, err = time.Parse(time.RFC3339, from); err != nil {
			return start, end, fmt.Errorf("--from: %q: want an RFC 3339 time such as 2026-05-01T00:00:00Z", from)
		}
	default:
		return start, end, errors.New("--since or --from: required (e.g. --since 24h)")
	}
	end = now
	if to != "" {
		if end, err = time.Parse(time.RFC3339, to); err != nil {
			return start, end, fmt.Errorf("--to: %q: want an RFC 3339 time such as 2026-05-02T00:00:00Z", to)
		}
		if end.After(now) {
			end = now
		}
	}
	if oldest := now.Add(-EventsWindow); start.Before(oldest) {
		v := since
		if flag == "--from" {
			v = from
		}
		return start, end, fmt.Errorf("%s %s: reaches back before %s; Mangopay keeps events for 45 days only, so backfill cannot go further back", flag, v, ops.FormatTime(oldest))
	}
	if !start.Before(end) {
		return start, end, fmt.Errorf("--to: %s is not after the start %s", ops.FormatTime(end), ops.FormatTime(start))
	}
	return start.UTC(), end.UTC(), nil
}

// Config is what [Run] backfills and how.
type Config struct {
	// Layout names the trigger stream, the hooks bucket and the subjects
	// (zero fields take consumer.Config's defaults).
	Layout consumer.Config
	// From and To bound the events' dates (both inclusive, as Mangopay's
	// AfterDate and BeforeDate). To is fixed for the whole run, so paging
	// is stable while new events arrive; zero means now at the start.
	From, To time.Time
	// Types are the Mangopay event types to read; default [HookTypes].
	Types []string
	// PerPage is the page size; default [MaxPerPage].
	PerPage int
	// Progress is told about every page; nil means nothing is shown.
	Progress Progress
	// Log receives a line per event that cannot be stored; nil means none.
	Log *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DryRun stores nothing and creates nothing: it lists the events and
	// counts as Stored those whose id is not in the hooks bucket (they
	// would be stored), as Delivered the others.
	DryRun bool
}

// Counts counts events.
type Counts struct {
	Found     int // listed by Mangopay
	Stored    int // published as new triggers
	Delivered int // already delivered (by a hook or an earlier backfill)
	Invalid   int // not storable (e.g. an invalid user id): the webhook would refuse them too
}

func (c *Counts) add(o Counts) {
	c.Found += o.Found
	c.Stored += o.Stored
	c.Delivered += o.Delivered
	c.Invalid += o.Invalid
}

// Result is what a backfill did.
type Result struct {
	From, To time.Time
	Pages    int
	Total    Counts
	// ByType counts per Mangopay event type, in the order read.
	ByType []TypeCounts
}

// TypeCounts are the counts of one event type.
type TypeCounts struct {
	Type string
	Counts
}

// Progress is told about the backfill's pages (cmd/scaworker shows a
// spinner on a terminal, log lines otherwise).
type Progress interface {
	// Page reports one page read and stored: its type, number and size,
	// with the totals so far.
	Page(eventType string, page, items int, total Counts)
	// Done reports the end of the backfill.
	Done(Result)
}

// Run stores Mangopay's SCA enrollment events of [o.From, o.To] that
// were not delivered by a hook yet, exactly as the webhook ingress would
// (see the package documentation). mp's governor paces the calls. It
// returns what it did so far also with an error.
func Run(ctx context.Context, js jetstream.JetStream, mp EventLister, o Config) (Result, error) {
	cfg := o.Layout.Defaults()
	now := o.Now
	if now == nil {
		now = time.Now
	}
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	start := now()
	if o.To.IsZero() || o.To.After(start) {
		o.To = start
	}
	if len(o.Types) == 0 {
		o.Types = HookTypes()
	}
	if o.PerPage <= 0 || o.PerPage > MaxPerPage {
		o.PerPage = MaxPerPage
	}
	res := Result{From: o.From.UTC(), To: o.To.UTC()}
	switch {
	case o.From.IsZero():
		return res, errors.New("backfill: no start time")
	case o.From.Before(start.Add(-EventsWindow)):
		return res, fmt.Errorf("backfill: start %s is more than 45 days ago; Mangopay keeps events for 45 days only", ops.FormatTime(o.From))
	case !o.From.Before(o.To):
		return res, fmt.Errorf("backfill: start %s is not before the end %s", ops.FormatTime(o.From), ops.FormatTime(o.To))
	}
	// Mangopay refuses an AfterDate older than 45 days at the time of each
	// call: a start at the very edge is moved inside by a margin that
	// outlasts the run, losing only events about to expire anyway.
	if edge := start.Add(-EventsWindow + windowMargin); o.From.Before(edge) {
		log.Warn("backfill: start moved inside Mangopay's 45-day window", zap.String("asked", ops.FormatTime(o.From)), zap.String("start", ops.FormatTime(edge)))
		o.From = edge
		res.From = edge.UTC()
	}
	var kv jetstream.KeyValue
	var store *hooks.Store // nil in a dry run
	var err error
	if o.DryRun {
		kv, err = js.KeyValue(ctx, cfg.HooksBucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = nil, nil // nothing delivered yet; a dry run creates nothing
		}
	} else {
		kv, err = consumer.HooksBucket(ctx, js, cfg)
	}
	if err != nil {
		return res, err
	}
	if !o.DryRun {
		store = hooks.NewStore(js, kv, cfg.Subjects, cfg.Stream, now)
	}
	for _, typ := range o.Types {
		if _, ok := events.HookType(typ); !ok {
			return res, fmt.Errorf("backfill: %q is not an SCA enrollment event type", typ)
		}
		tc := TypeCounts{Type: typ}
		for page := 1; ; page++ {
			list, err := mp.Events(ctx, enroll.EventsQuery{
				EventType: typ, AfterDate: o.From, BeforeDate: o.To,
				Page: page, PerPage: o.PerPage, Sort: "Date:ASC",
			})
			if err != nil {
				res.add(tc)
				return res, fmt.Errorf("backfill %s page %d: %w", typ, page, err)
			}
			res.Pages++
			for _, ev := range list {
				c, err := storeHook(ctx, store, kv, typ, ev, log)
				tc.add(c)
				if err != nil {
					res.add(tc)
					return res, fmt.Errorf("backfill %s page %d: %w", typ, page, err)
				}
			}
			if o.Progress != nil {
				total := res.Total
				total.add(tc.Counts)
				o.Progress.Page(typ, page, len(list), total)
			}
			if len(list) < o.PerPage {
				break
			}
		}
		res.add(tc)
	}
	if o.Progress != nil {
		o.Progress.Done(res)
	}
	return res, nil
}

func (r *Result) add(tc TypeCounts) {
	r.ByType = append(r.ByType, tc)
	r.Total.add(tc.Counts)
}

// storeHookTimeout bounds the storing of one event (the store retries a
// publish while JetStream does not answer).
const storeHookTimeout = 30 * time.Second

// storeHook stores one listed event through the webhook ingress's own
// store: skipped when its marker is in the hooks bucket, else published
// with Nats-Msg-Id = its id and marked by "backfill". Without a store (a
// dry run) it only looks its marker up in kv (nil: no bucket).
func storeHook(ctx context.Context, store *hooks.Store, kv jetstream.KeyValue, typ string, ev enroll.Event, log *zap.Logger) (Counts, error) {
	if ev.EventType != "" && ev.EventType != typ {
		// Not what was asked for: its own type's pass finds it.
		return Counts{}, nil
	}
	c := Counts{Found: 1}
	date := ev.Date.UTC().Truncate(time.Second)
	if !events.ValidUserID(ev.ResourceID) || date.Unix() <= 0 {
		c.Invalid++
		log.Warn("backfill: event not stored: invalid user id or date (the webhook would refuse it too)",
			zap.String("event_type", typ), zap.String("date", ops.FormatTime(ev.Date)))
		return c, nil
	}
	h := hooks.Hook{EventType: typ, UserID: ev.ResourceID, Date: date, RawDate: strconv.FormatInt(date.Unix(), 10)}
	ctx, cancel := context.WithTimeout(ctx, storeHookTimeout)
	defer cancel()
	if store == nil {
		known := false
		if kv != nil {
			_, err := kv.Get(ctx, h.ID())
			switch {
			case err == nil:
				known = true
			case !errors.Is(err, jetstream.ErrKeyNotFound) && !errors.Is(err, jetstream.ErrKeyDeleted):
				return c, fmt.Errorf("look up event %s: %w", h.ID(), err)
			}
		}
		if known {
			c.Delivered++
		} else {
			c.Stored++
		}
		return c, nil
	}
	st, err := store.Put(ctx, h, hooks.ByBackfill)
	if err != nil {
		return c, fmt.Errorf("store event %s: %w", h.ID(), err)
	}
	if st.MarkErr != nil {
		log.Warn("backfill: event stored, marker not written", zap.String("event_id", st.ID), zap.Error(st.MarkErr))
	}
	if st.Duplicate {
		c.Delivered++
	} else {
		c.Stored++
	}
	return c, nil
}
