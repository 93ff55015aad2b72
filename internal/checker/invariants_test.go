package checker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/mangosim"
)

// Invariant names, as printed with a violation.
const (
	invOutcome    = "one-outcome"   // every trigger has exactly one current outcome
	invLineage    = "one-link"      // at most one link per lineage (a trigger and its redrive copies)
	invUserRules  = "user-rules"    // recent_link window and per-user cap
	invProvenance = "provenance"    // every link came from a Mangopay answer for its trigger
	invKeys       = "idempotency"   // every Idempotency-Key sent was 16–36 of [A-Za-z0-9-]
	invSecrets    = "secrets"       // no secret in a log line
	invOutage     = "outage-dlq"    // an outage alone never dead-letters
	invDryRun     = "dry-run"       // a dry run writes nothing
	invSettle     = "settled"       // the worker ends with nothing in hand
	timeSlack     = 2 * time.Second // the precision of a mint time as the checker reads it
	maxKeySeq     = 5000            // idempotency sequences tried when tracing a key to its trigger
	linkTTL       = enroll.LinkTTL  // a link's life: its mint time is expires_at minus this
)

// violation is one broken invariant.
type violation struct {
	Inv  string
	Text string
}

func (v violation) String() string { return v.Inv + ": " + v.Text }

func (r *run) violate(inv, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.viols = append(r.viols, violation{inv, fmt.Sprintf(format, args...)})
}

// trigger is one valid trigger stored in the trigger stream.
type trigger struct {
	seq   uint64
	ev    *events.Trigger
	key   string
	root  string // lineage: the key of the trigger a redrive copy copies, else key
	entry *consumer.LedgerEntry
}

// finish heals the world, waits until every trigger has its outcome, stops
// the replicas and checks every invariant.
func (r *run) finish() []violation {
	r.w.Sim.SetFaults(mangosim.Faults{})
	r.logf("healed; waiting for every outcome")
	r.mu.Lock()
	clear(r.crashes)
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout+30*time.Second)
	defer cancel()
	deadline := time.Now().Add(settleTimeout)
	var trs []*trigger
	var err error
	for {
		trs, err = r.triggers(ctx)
		undecided := 0
		for _, tr := range trs {
			if tr.entry == nil || tr.entry.Outcome == "" || tr.entry.Pending != nil {
				undecided++
			}
		}
		if err == nil && undecided == 0 && r.quiet(0) == nil {
			break
		}
		if time.Now().After(deadline) {
			if err != nil {
				r.violate(invSettle, "cannot read the triggers after %s: %v", settleTimeout, err)
			}
			if qerr := r.quiet(0); qerr != nil {
				r.violate(invSettle, "%v", qerr)
			}
			calls := r.w.Sim.Calls()
			for _, c := range calls[max(len(calls)-8, 0):] {
				r.logf("  last Mangopay calls: %s %s key=%q → %d", c.Method, c.Path, c.IdempotencyKey, c.Status)
			}
			break
		}
		waitCtx(ctx, 50*time.Millisecond)
	}
	r.stopAll()
	if err != nil {
		return r.viols
	}
	r.checkOutcomes(ctx, trs)
	r.checkLinks(ctx, trs)
	r.checkCalls()
	r.checkSecrets()
	return r.viols
}

// triggers reads every valid trigger of the trigger stream with its ledger
// entry and lineage.
func (r *run) triggers(ctx context.Context) ([]*trigger, error) {
	ledger, err := r.js.KeyValue(ctx, r.cfg.LedgerBucket)
	if err != nil {
		return nil, err
	}
	seen := map[string]*trigger{}
	var out []*trigger
	err = consumer.ReadStream(ctx, r.js, r.cfg.Stream, consumer.ReadOptions{}, func(m consumer.StoredMsg) error {
		ev, err := r.cfg.Subjects.Decode(m.Subject, m.Data)
		if err != nil {
			return fmt.Errorf("stream seq %d: a trigger the checker cannot read: %w", m.Seq, err)
		}
		key := ev.Key()
		if seen[key] != nil {
			return nil
		}
		tr := &trigger{seq: m.Seq, ev: ev, key: key, root: key}
		if of := m.Header.Get(consumer.HeaderRedriveOf); of != "" {
			tr.root = events.KeyOf(ev.Source, of)
		}
		kve, err := ledger.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return err
		default:
			tr.entry = &consumer.LedgerEntry{}
			if err := json.Unmarshal(kve.Value(), tr.entry); err != nil {
				return fmt.Errorf("ledger entry of %s: %w", ev.ID, err)
			}
		}
		seen[key] = tr
		out = append(out, tr)
		return nil
	})
	return out, err
}

// links reads every send-link event, in stream order.
func (r *run) links(ctx context.Context) ([]linkMsg, error) {
	var out []linkMsg
	err := consumer.ReadStream(ctx, r.js, r.cfg.LinksStream, consumer.ReadOptions{}, func(m consumer.StoredMsg) error {
		l, err := events.DecodeLinkSend(m.Data)
		if err != nil {
			return fmt.Errorf("links stream seq %d: %w", m.Seq, err)
		}
		out = append(out, linkMsg{LinkSend: *l, id: m.Header.Get(jetstream.MsgIDHeader)})
		return nil
	})
	return out, err
}

type linkMsg struct {
	events.LinkSend
	id string
	// decided is when the worker decided the link (its ledger entry's
	// DecidedAt; zero when unknown). A link read back from Mangopay's
	// stored answer keeps that answer's mint time, which can be older than
	// links decided before it: a signup's link is held against an earlier
	// link only when it was also decided after it. (Decisions are not
	// ordered by the user's compare-and-set either, so links minted in
	// the same second keep the order that is allowed.)
	decided time.Time
}

func (l linkMsg) mint() time.Time { return l.ExpiresAt.Add(-linkTTL) }

// checkOutcomes: every trigger has exactly one current outcome, consistent
// with what was published, and no outage dead-lettered anything.
func (r *run) checkOutcomes(ctx context.Context, trs []*trigger) {
	dead := map[string]bool{}
	err := consumer.ReadStream(ctx, r.js, r.cfg.DLQStream, consumer.ReadOptions{}, func(m consumer.StoredMsg) error {
		d, err := events.DecodeDeadLetter(m.Data)
		if err != nil {
			return fmt.Errorf("dead-letter stream seq %d: %w", m.Seq, err)
		}
		dead[d.EventID] = true
		if d.Reason == events.ReasonMaxAttempts || d.Reason == events.ReasonBadRequest {
			r.violate(invOutage, "trigger %s dead-lettered with %s: %s", d.EventID, d.Reason, d.Error)
		}
		return nil
	})
	if err != nil {
		r.violate(invOutcome, "cannot read the dead letters: %v", err)
	}
	for _, tr := range trs {
		e := tr.entry
		switch {
		case e == nil:
			r.violate(invOutcome, "trigger %s (%s, %s, seq %d) has no ledger entry", tr.ev.ID, tr.ev.Type, tr.ev.UserID, tr.seq)
		case e.Outcome == "":
			r.violate(invOutcome, "trigger %s (%s, %s) has no outcome after %d attempts; last error %q", tr.ev.ID, tr.ev.Type, tr.ev.UserID, e.Attempts, e.LastError)
		case e.Pending != nil:
			r.violate(invOutcome, "trigger %s: outcome %s recorded but its event %s never confirmed", tr.ev.ID, e.Outcome, e.Pending.MsgID)
		case e.Outcome == events.OutcomeDLQ && !dead[tr.ev.ID] && !dead[e.RedrivenTo]:
			r.violate(invOutcome, "trigger %s: outcome dlq/%s but no dead-letter record", tr.ev.ID, e.Reason)
		}
	}
}

// checkLinks: one link per lineage, each link backed by its trigger's
// ledger entry and by a Mangopay answer for that trigger, and the per-user
// rules.
func (r *run) checkLinks(ctx context.Context, trs []*trigger) {
	links, err := r.links(ctx)
	if err != nil {
		r.violate(invLineage, "cannot read the links: %v", err)
		return
	}
	byKey := map[string]*trigger{}
	for _, tr := range trs {
		byKey[tr.key] = tr
	}
	minted := map[string]mangosim.Call{} // link → the enrollment call that minted it
	for _, c := range r.w.Sim.Calls() {
		if c.Link != "" {
			minted[c.Link] = c
		}
	}
	perLineage := map[string][]string{}
	usedAnswer := map[string]string{}
	for i, l := range links {
		key := events.KeyOf(l.Trigger.Source, l.Trigger.ID)
		tr := byKey[key]
		if tr == nil {
			r.violate(invProvenance, "link %s for trigger %s, which is not in the trigger stream", l.id, l.Trigger.ID)
			continue
		}
		perLineage[tr.root] = append(perLineage[tr.root], l.Trigger.ID)
		if tr.entry != nil {
			links[i].decided = tr.entry.DecidedAt
		}
		if e := tr.entry; e != nil && e.Outcome != "" && (e.Outcome != events.OutcomeLink || e.LinkID != l.id) {
			r.violate(invOutcome, "trigger %s: a link %s was published but its ledger says %s/%s (link %q)", tr.ev.ID, l.id, e.Outcome, e.Reason, e.LinkID)
		}
		// Provenance: the link is the RedirectUrl of an enrollment POST for
		// this user, sent with one of this trigger's Idempotency-Keys.
		base := mintedPart(l.RedirectURL)
		c, ok := minted[base]
		switch {
		case !ok:
			r.violate(invProvenance, "link of trigger %s: no Mangopay answer minted it", l.Trigger.ID)
		case !strings.HasSuffix(c.Path, "/sca/users/"+l.UserID+"/enrollment"):
			r.violate(invProvenance, "link of trigger %s (user %s) was minted for %s", l.Trigger.ID, l.UserID, c.Path)
		case !keyOfTrigger(c.IdempotencyKey, key):
			r.violate(invProvenance, "link of trigger %s was minted by a call with key %q, not one of the trigger's keys", l.Trigger.ID, c.IdempotencyKey)
		}
		if prev, ok := usedAnswer[base]; ok {
			r.violate(invProvenance, "triggers %s and %s published the same Mangopay answer", prev, l.Trigger.ID)
		}
		usedAnswer[base] = l.Trigger.ID
	}
	// A link recorded in the ledger is published: the ledger no longer
	// keeps the event (the token stays out of it), so a record whose
	// publish was lost would show only here. A link whose life has ended
	// may have left the stream by its TTL, or legitimately never been
	// published (a worker down until it died).
	published := map[string]bool{}
	for _, l := range links {
		published[l.id] = true
	}
	for _, tr := range trs {
		if e := tr.entry; e != nil && e.Outcome == events.OutcomeLink && e.ExpiresAt.After(time.Now().Add(5*time.Second)) && !published[e.LinkID] {
			r.violate(invOutcome, "trigger %s: link %s recorded but never published", tr.ev.ID, e.LinkID)
		}
	}
	for root, ids := range perLineage {
		if len(ids) > 1 {
			name := root
			if tr := byKey[root]; tr != nil {
				name = tr.ev.ID
			}
			r.violate(invLineage, "lineage of %s got %d links: %v", name, len(ids), ids)
		}
	}
	r.checkUserRules(links)
}

// mintedPart is the part of a published link that Mangopay returned: the
// link without the returnUrl and lang scaworker appends.
func mintedPart(link string) string {
	for _, sep := range []string{"&returnUrl=", "?returnUrl="} {
		if i := strings.Index(link, sep); i >= 0 {
			return link[:i]
		}
	}
	return link
}

// keyOfTrigger reports whether k is one of the Idempotency-Keys of the
// trigger whose ledger key is key.
func keyOfTrigger(k, key string) bool {
	for n := 1; n <= maxKeySeq; n++ {
		if enroll.IdempotencyKey(key, n) == k {
			return true
		}
	}
	return false
}

// checkUserRules: within the recent-link window only an expiry or a
// failure may follow a user's link, and no user gets more than the cap in
// any cap window. Mint times have whole seconds (expires_at), and the
// worker times a link from its own claim, a call's length earlier: links
// minted in the same second are taken in the order that is allowed when
// there is one, and the windows are shortened by timeSlack.
func (r *run) checkUserRules(links []linkMsg) {
	byUser := map[string][]linkMsg{}
	for _, l := range links {
		byUser[l.UserID] = append(byUser[l.UserID], l)
	}
	for user, ls := range byUser {
		sort.SliceStable(ls, func(i, j int) bool {
			if !ls[i].mint().Equal(ls[j].mint()) {
				return ls[i].mint().Before(ls[j].mint())
			}
			return ls[i].Trigger.Type == events.TypeUserCreated && ls[j].Trigger.Type != events.TypeUserCreated
		})
		for i := 1; i < len(ls); i++ {
			prev, cur := ls[i-1], ls[i]
			// The worker may have decided the later-minted link first (a link
			// read back from a stored answer keeps its old mint time): then
			// the signup's link came first, and the expiry's followed it.
			decidedFirst := !cur.decided.IsZero() && !prev.decided.IsZero() && cur.decided.Before(prev.decided)
			if cur.mint().Sub(prev.mint()) < r.cfg.RecentLink-timeSlack && cur.Trigger.Type == events.TypeUserCreated && !decidedFirst {
				r.violate(invUserRules, "user %s: link of %s %s minted %s after the link of %s %s, inside the recent-link window",
					user, cur.Trigger.Type, cur.Trigger.ID, cur.mint().Sub(prev.mint()), prev.Trigger.Type, prev.Trigger.ID)
			}
		}
		for i := range ls {
			in := 0
			for j := i; j < len(ls) && ls[j].mint().Sub(ls[i].mint()) < r.cfg.UserCapWindow-timeSlack; j++ {
				in++
			}
			if in > r.cfg.UserCap {
				r.violate(invUserRules, "user %s: %d links inside one cap window (cap %d)", user, in, r.cfg.UserCap)
				break
			}
		}
	}
}

// checkCalls: every Idempotency-Key sent was 16–36 of [A-Za-z0-9-].
func (r *run) checkCalls() {
	for _, c := range r.w.Sim.Calls() {
		if c.Method == "POST" && strings.HasSuffix(c.Path, "/enrollment") && !validKey(c.IdempotencyKey) {
			r.violate(invKeys, "enrollment POST %s sent Idempotency-Key %q (%d characters)", c.Path, c.IdempotencyKey, len(c.IdempotencyKey))
		}
	}
}

func validKey(k string) bool {
	if len(k) < 16 || len(k) > 36 {
		return false
	}
	return !strings.ContainsFunc(k, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-')
	})
}

// checkSecrets: no log line carries the API key, an access token or the
// token of any link Mangopay minted (published or not).
func (r *run) checkSecrets() {
	secrets := append([]string{r.w.Sim.APIKey()}, r.w.Sim.AccessTokens()...)
	for _, c := range r.w.Sim.Calls() {
		if c.Link == "" {
			continue
		}
		if u, err := url.Parse(c.Link); err == nil {
			if tok := u.Query().Get("token"); tok != "" {
				secrets = append(secrets, tok)
			}
		}
	}
	secrets = slices.DeleteFunc(secrets, func(s string) bool { return s == "" })
	for _, e := range r.w.Logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += fmt.Sprintf(" %s=%v", k, v)
		}
		for _, s := range secrets {
			if strings.Contains(line, s) {
				r.violate(invSecrets, "log line %q carries a secret", e.Message)
				break
			}
		}
	}
}
