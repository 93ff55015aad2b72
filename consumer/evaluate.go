package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
)

// ReasonNotConfirmed is the skip reason of an sca.enrollment.succeeded
// trigger that Mangopay's sca-status does not confirm (hooks are
// unsigned, so the user is not recorded as enrolled).
const ReasonNotConfirmed = "not_confirmed"

// evaluate applies the rules of docs/events.md to a valid trigger, making only the
// Mangopay calls they allow, and mints a link when one is due.
func (c *Consumer) evaluate(stop, work context.Context, j *job, e *LedgerEntry) verdict {
	ev := j.ev
	now := c.now()
	if !j.newEntry && ev.Type != events.TypeEnrollmentSucceeded {
		// An earlier delivery may have taken this trigger's mark: know it, so
		// a trigger that ends without a link drops it (see dropMark). A new
		// entry means no earlier delivery got as far as a mark.
		us, err := c.userState(work, j)
		if err != nil {
			return verdict{kind: retry, err: err}
		}
		j.marked = j.marked || us.holds(j.key)
	}
	switch ev.Type {
	case events.TypeEnrollmentSucceeded:
		st, err := c.scaStatus(stop, work, j)
		if err != nil {
			return c.failed(work, err)
		}
		if !st.Enrolled() {
			return outcomeOf(events.OutcomeSkip, ReasonNotConfirmed)
		}
		if err := c.users.setEnrolled(work, ev.UserID, now); err != nil {
			return verdict{kind: retry, err: err}
		}
		return outcomeOf(events.OutcomeState, "")

	case events.TypeSessionExpired, events.TypeSessionFailed:
		at := ev.OccurredAt
		if at.IsZero() {
			at = ev.Time
		}
		if !at.IsZero() && now.Sub(at) > c.cfg.MaxTriggerAge {
			return outcomeOf(events.OutcomeSkip, events.ReasonStaleTrigger)
		}
		us, err := c.userState(work, j)
		if err != nil {
			return verdict{kind: retry, err: err}
		}
		if us.Enrolled {
			return outcomeOf(events.OutcomeSkip, events.ReasonAlreadyEnrolled)
		}
		if us.Closed {
			return outcomeOf(events.OutcomeSkip, events.ReasonUserClosed)
		}
		if us.SCANotRequired {
			return outcomeOf(events.OutcomeSkip, events.ReasonSCANotRequired)
		}
		// An expiry or a failure proves the last link is dead; but hooks
		// are unsigned, so Mangopay confirms the user still needs one.
		st, err := c.scaStatus(stop, work, j)
		if err != nil {
			return c.failed(work, err)
		}
		if st.Enrolled() {
			if err := c.users.setEnrolled(work, ev.UserID, now); err != nil {
				return verdict{kind: retry, err: err}
			}
			return outcomeOf(events.OutcomeSkip, events.ReasonAlreadyEnrolled)
		}
		if st.UserStatus == "CLOSED" {
			if err := c.users.setClosed(work, ev.UserID); err != nil {
				return verdict{kind: retry, err: err}
			}
			return outcomeOf(events.OutcomeSkip, events.ReasonUserClosed)
		}
		return c.mint(stop, work, j, e, ev.Email, ev.Locale)

	default: // events.TypeUserCreated
		if ev.Category == events.CategoryPayer || ev.Category == events.CategoryPlatform {
			return outcomeOf(events.OutcomeSkip, events.ReasonNotOwner)
		}
		if ev.Category == events.CategoryOwner && j.newEntry && j.us == nil {
			// A first delivery of a signup that needs no Mangopay call before
			// its session: most such owners have no entry yet, so mint's claim
			// creates it without reading it first; the claim applies every
			// per-user rule, and an entry that exists after all is read then.
			j.us, j.usRev = &userState{}, 0
			v := c.mint(stop, work, j, e, ev.Email, ev.Locale)
			if j.usRev == 0 {
				// No claim was written: the presumed state was never read, so
				// it must not stand for the entry if the delivery goes on (a
				// ledger conflict restarts it: the trigger is not new after
				// all, and it reads the user's entry then).
				j.us = nil
			}
			return v
		}
		us, err := c.userState(work, j)
		if err != nil {
			return verdict{kind: retry, err: err}
		}
		if us.Enrolled {
			return outcomeOf(events.OutcomeSkip, events.ReasonAlreadyEnrolled)
		}
		if us.Closed {
			return outcomeOf(events.OutcomeSkip, events.ReasonUserClosed)
		}
		if us.SCANotRequired {
			return outcomeOf(events.OutcomeSkip, events.ReasonSCANotRequired)
		}
		// A recent link or another trigger's call in flight, seen before any
		// call: neither can change for the better before mint's claim.
		// (On a copy: the state read stays as stored, for mint's claim to start from.)
		probe := *us
		probe.Links = slices.Clone(us.Links)
		if d, _ := probe.decide(c.claimOf(j, now)); d == recentLink || d == inFlight {
			return c.perUser(d)
		}
		email := ev.Email
		if ev.Category == "" {
			var u *enroll.User
			err := c.call(stop, work, j, "get_user", func(ctx context.Context) (err error) {
				u, err = c.mp.GetUser(ctx, ev.UserID)
				return err
			})
			if err != nil {
				return c.failed(work, err)
			}
			if u.Status == "CLOSED" {
				if err := c.users.setClosed(work, ev.UserID); err != nil {
					return verdict{kind: retry, err: err}
				}
				return outcomeOf(events.OutcomeSkip, events.ReasonUserClosed)
			}
			if u.Category != events.CategoryOwner {
				return outcomeOf(events.OutcomeSkip, events.ReasonNotOwner)
			}
			legal := u.PersonType == events.PersonLegal
			if legal && u.LegalRepresentativeEmail == "" {
				return verdict{kind: final, outcome: events.OutcomeDLQ, reason: events.ReasonMissingLegalRepEmail,
					err: errors.New("mangopay user is a legal owner without LegalRepresentative.Email; fix the user, then redrive")}
			}
			if email == "" {
				email = u.Email
				if legal {
					email = u.LegalRepresentativeEmail // the person who does SCA
				}
			}
		}
		return c.mint(stop, work, j, e, email, ev.Locale)
	}
}

// mint requests a session and builds the link. The per-user rules are
// decided in the user's KV entry, in one compare-and-set step, right
// before each POST (a claim: a mark for the call in flight) and again
// when Mangopay answered (the mark becomes a link), so two triggers for
// one user on any replicas never both send one where the rules allow one.
func (c *Consumer) mint(stop, work context.Context, j *job, e *LedgerEntry, email, locale string) verdict {
	userID := j.ev.UserID
	var res enroll.Result
	err := c.callAfter(stop, work, j, "enroll", func() error {
		return c.claim(work, j, time.Time{})
	}, func(ctx context.Context) (err error) {
		res, err = c.mp.Enroll(ctx, enroll.Request{UserID: userID, Trigger: j.key, Seq: e.Seq, Locale: locale})
		if res.NextSeq > e.Seq {
			e.Seq = res.NextSeq
		}
		return err
	})
	if err == nil && !res.NotRequired { // a 200 without a link minted nothing: its mark is released below
		err = c.claim(work, j, res.ExpiresAt.Add(-enroll.LinkTTL))
		if errors.As(err, new(*deniedError)) {
			// The mark lapsed during a slow call and another trigger took
			// the user: this session is not sent.
			j.log.Info("link minted but not sent: the user's mark went to another trigger")
		}
	}
	var denied *deniedError
	switch {
	case errors.As(err, &denied):
		return c.perUser(denied.d)
	case errors.Is(err, errUsers) && work.Err() == nil:
		return verdict{kind: retry, err: err}
	case err != nil: // a failed call (a final one drops the mark: see conclude), or shutdown
		return c.failed(work, err)
	}
	if res.NotRequired { // a 200 without a link: the user needs no SCA session
		c.dropMark(work, j)
		if err := c.users.setSCANotRequired(work, userID); err != nil {
			return verdict{kind: retry, err: err}
		}
		return outcomeOf(events.OutcomeSkip, events.ReasonSCANotRequired)
	}
	return verdict{kind: final, outcome: events.OutcomeLink, link: res, email: email, locale: locale}
}

// userState returns the user's state, read once per delivery.
func (c *Consumer) userState(ctx context.Context, j *job) (*userState, error) {
	if j.us == nil {
		us, rev, err := c.users.get(ctx, j.ev.UserID)
		if err != nil {
			return nil, err
		}
		j.us, j.usRev = us, rev
	}
	return j.us, nil
}

// claimOf is trigger j's claim at now.
func (c *Consumer) claimOf(j *job, now time.Time) claim {
	return claim{
		Key: j.key, ProvesDead: j.ev.Type != events.TypeUserCreated, Now: now,
		RecentLink: c.cfg.RecentLink, Cap: c.cfg.UserCap, Window: c.cfg.UserCapWindow,
		Lease: c.markLease(),
	}
}

// markLease is how long a mark of a call in flight holds without its
// holder claiming again: AckWait + RetryDelayMax. A live holder claims at
// every POST, and a crashed one is redelivered within AckWait, a retried
// one within RetryDelayMax; a mark older than that is presumed dead, so a
// killed holder never blocks its user for longer.
func (c *Consumer) markLease() time.Duration {
	return c.cfg.AckWait + c.cfg.RetryDelayMax
}

// errUsers marks a failure to read or write the per-user state.
var errUsers = errors.New("per-user state unavailable")

// deniedError is a claim the per-user rules did not grant.
type deniedError struct{ d decision }

func (e *deniedError) Error() string { return "per-user rules: not granted" }

// claim decides trigger j's claim in the user's entry; linked is when its
// link was minted, or zero before the call. It returns a *deniedError
// when the rules refuse, an error wrapping errUsers when the state cannot
// be reached.
func (c *Consumer) claim(ctx context.Context, j *job, linked time.Time) error {
	cl := c.claimOf(j, c.now())
	cl.Linked = linked
	d, us, rev, err := c.users.claim(ctx, j.ev.UserID, cl, j.us, j.usRev)
	j.us, j.usRev = us, rev // nil after an error: read again next time
	if err != nil {
		return fmt.Errorf("%w: %w", errUsers, err)
	}
	if d != granted {
		return &deniedError{d: d}
	}
	j.marked = linked.IsZero() // a granted link is published: never dropped
	return nil
}

// dropMark releases trigger j's mark of a call in flight, if it may hold
// one, when j ends without a link.
func (c *Consumer) dropMark(ctx context.Context, j *job) {
	if !j.marked {
		return
	}
	if err := c.users.release(ctx, j.ev.UserID, j.key); err != nil {
		j.log.Warn("link mark not released; it lapses with its lease", zap.Error(err))
		return
	}
	j.marked = false
}

// perUser is the verdict of a refused claim.
func (c *Consumer) perUser(d decision) verdict {
	switch d {
	case recentLink:
		return outcomeOf(events.OutcomeSkip, events.ReasonRecentLink)
	case userCap:
		return outcomeOf(events.OutcomeSkip, events.ReasonUserCap)
	case enrolled:
		return outcomeOf(events.OutcomeSkip, events.ReasonAlreadyEnrolled)
	case closed:
		return outcomeOf(events.OutcomeSkip, events.ReasonUserClosed)
	case notRequired:
		return outcomeOf(events.OutcomeSkip, events.ReasonSCANotRequired)
	default: // inFlight
		return verdict{kind: wait, err: errors.New("another trigger's link for this user is in flight")}
	}
}

func (c *Consumer) scaStatus(stop, work context.Context, j *job) (*enroll.SCAStatus, error) {
	var st *enroll.SCAStatus
	err := c.call(stop, work, j, "sca_status", func(ctx context.Context) (err error) {
		st, err = c.mp.SCAStatus(ctx, j.ev.UserID)
		return err
	})
	return st, err
}

// call runs one Mangopay call with the attempt timeout. It first waits out
// any spent rate-limit window (the heartbeat keeps the message alive, and
// waiting spends no attempt); a call that timed out because a window
// closed during it waits and runs again.
func (c *Consumer) call(stop, work context.Context, j *job, name string, fn func(ctx context.Context) error) error {
	return c.callAfter(stop, work, j, name, nil, fn)
}

// callAfter is call with before, when not nil, run before each attempt
// once the rate-limit wait is over; its error ends the call unattempted.
// The delivery's attempt is recorded in the ledger before its first call.
func (c *Consumer) callAfter(stop, work context.Context, j *job, name string, before func() error, fn func(ctx context.Context) error) error {
	for {
		if err := c.waitPacer(stop); err != nil {
			return err
		}
		if err := c.recordAttempt(work, j); err != nil {
			return err
		}
		if before != nil {
			if err := before(); err != nil {
				return err
			}
		}
		ctx, cancel := context.WithTimeout(work, c.cfg.AttemptTimeout)
		start := time.Now()
		err := fn(ctx)
		cancel()
		result := "ok"
		if err != nil {
			result = enroll.Reason(err)
		}
		c.m.call(name, result, time.Since(start).Seconds())
		if err == nil {
			c.clearFault()
			return nil
		}
		spent := errors.Is(err, context.DeadlineExceeded) || enroll.Reason(err) == enroll.ReasonRateLimited
		if spent && work.Err() == nil && c.blocked() {
			j.log.Debug("rate-limit window spent during the call; waiting for its reset")
			continue
		}
		return err
	}
}

func (c *Consumer) blocked() bool {
	return c.pacer != nil && c.pacer.BlockedUntil().After(c.now())
}

// waitPacer waits while a Mangopay window is spent; it gives up with
// errStopping when the worker stops, so the message is handed back.
func (c *Consumer) waitPacer(stop context.Context) error {
	for c.blocked() {
		if stop.Err() != nil {
			return errStopping
		}
		sleepCtx(stop, min(c.pacer.BlockedUntil().Sub(c.now()), time.Second))
	}
	if stop.Err() != nil {
		return errStopping
	}
	return nil
}

// failed classifies a failed call.
func (c *Consumer) failed(work context.Context, err error) verdict {
	switch {
	case errors.Is(err, errStopping) || work.Err() != nil:
		return verdict{kind: stopping, err: err}
	case errors.Is(err, errConflict):
		return verdict{kind: restart, err: err}
	case errors.Is(err, errLedger):
		return verdict{kind: retry, err: err}
	case enroll.IsFault(err):
		return verdict{kind: fault, err: err}
	case enroll.IsRetryable(err) || errors.Is(err, context.DeadlineExceeded):
		return verdict{kind: retry, err: err}
	default:
		return verdict{kind: final, outcome: events.OutcomeDLQ, reason: enroll.Reason(err), err: err}
	}
}
