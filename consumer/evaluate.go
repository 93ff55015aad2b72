package consumer

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
)

// ReasonNotConfirmed is the skip reason of an sca.enrollment.succeeded
// trigger that Mangopay's sca-status does not confirm (hooks are
// unsigned, so the user is not recorded as enrolled).
const ReasonNotConfirmed = "not_confirmed"

// evaluate applies SPEC §3's rules to a valid trigger, making only the
// Mangopay calls they allow, and mints a link when one is due.
func (c *Consumer) evaluate(stop, work context.Context, j *job, e *LedgerEntry) verdict {
	ev := j.ev
	now := c.now()
	us, _, err := c.users.get(work, ev.UserID)
	if err != nil {
		return verdict{kind: retry, err: err}
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
		if ev.Category == "PAYER" || ev.Category == "PLATFORM" {
			return outcomeOf(events.OutcomeSkip, events.ReasonNotOwner)
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
		if last := us.lastPublished(); !last.IsZero() && now.Sub(last) < c.cfg.RecentLink {
			return outcomeOf(events.OutcomeSkip, events.ReasonRecentLink)
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
			if u.Category != "OWNER" {
				return outcomeOf(events.OutcomeSkip, events.ReasonNotOwner)
			}
			legal := u.PersonType == "LEGAL"
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

// mint requests a session within the per-user cap and builds the link.
func (c *Consumer) mint(stop, work context.Context, j *job, e *LedgerEntry, email, locale string) verdict {
	userID := j.ev.UserID
	ok, err := c.users.reserve(work, userID, j.key, c.now(), c.cfg.UserCap, c.cfg.UserCapWindow)
	if err != nil {
		return verdict{kind: retry, err: err}
	}
	if !ok {
		return outcomeOf(events.OutcomeSkip, events.ReasonUserCap)
	}
	var res enroll.Result
	err = c.call(stop, work, j, "enroll", func(ctx context.Context) (err error) {
		res, err = c.mp.Enroll(ctx, enroll.Request{UserID: userID, Trigger: j.key, Seq: e.Seq, Locale: locale})
		if res.NextSeq > e.Seq {
			e.Seq = res.NextSeq
		}
		return err
	})
	if err != nil {
		v := c.failed(work, err)
		if v.kind == final {
			if err := c.users.release(work, userID, j.key); err != nil {
				j.log.Warn("link mark not released; it counts until the cap window ends", zap.Error(err))
			}
		}
		return v
	}
	if res.NotRequired { // a 200 without a link: the user needs no SCA session
		if err := c.users.release(work, userID, j.key); err != nil {
			j.log.Warn("link mark not released; it counts until the cap window ends", zap.Error(err))
		}
		if err := c.users.setSCANotRequired(work, userID); err != nil {
			return verdict{kind: retry, err: err}
		}
		return outcomeOf(events.OutcomeSkip, events.ReasonSCANotRequired)
	}
	return verdict{kind: final, outcome: events.OutcomeLink, link: res, email: email, locale: locale}
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
	for {
		if err := c.waitPacer(stop); err != nil {
			return err
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
		return verdict{kind: handBack, err: err}
	case enroll.IsFault(err):
		return verdict{kind: fault, err: err}
	case enroll.IsRetryable(err) || errors.Is(err, context.DeadlineExceeded):
		return verdict{kind: retry, err: err}
	default:
		return verdict{kind: final, outcome: events.OutcomeDLQ, reason: enroll.Reason(err), err: err}
	}
}
