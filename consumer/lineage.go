package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/events"
)

// A trigger and its redrive copies ("<id>.redrive-<n>", published by
// `scaworker dlq redrive` with header Sca-Redrive-Of = <id>) are one
// lineage, with at most one link. This file owns that rule, for the worker
// and for the operator tools:
//
//   - The original's ledger entry says which copy may decide the lineage:
//     RedrivenTo. A redrive writes it with compare-and-set ([Ledger.MarkRedrive])
//     before it publishes the copy, and only while the original is still
//     dlq: an original a replay re-decided is refused.
//   - A copy is evaluated only while the original is dlq and points at it;
//     otherwise it settles as duplicate. Its outcome is then written into
//     the original's entry ([Consumer.takeOver]), only while the original
//     still points at it.
//   - A replayed copy (Sca-Replay) never reopens a redrive copy nor an
//     original that was redriven ([Reopens]); `scaworker replay` leaves
//     both alone. A forced replay ("<id>.replay-<n>") is a new trigger.

// Lineage errors of [Ledger.MarkRedrive].
var (
	// ErrNotDeadLettered means the original is no longer dlq: a replay
	// re-decided it, or a redrive copy's outcome was taken over.
	ErrNotDeadLettered = errors.New("no longer dead-lettered")
	// ErrRedrivenElsewhere means the original points at another copy.
	ErrRedrivenElsewhere = errors.New("already redriven as another copy")
)

// RedriveOf returns the id of the dead-lettered trigger that a message
// with headers h and CloudEvents id redrives (its Sca-Redrive-Of header),
// or "" when it is no redrive copy.
func RedriveOf(h nats.Header, id string) string {
	if of := h.Get(HeaderRedriveOf); of != id {
		return of
	}
	return ""
}

// Redriven reports whether a trigger belongs to a redrive: it is a copy
// (redriveOf, from [RedriveOf]) or its entry e was redriven.
func Redriven(redriveOf string, e *LedgerEntry) bool {
	return redriveOf != "" || e != nil && e.RedrivenTo != ""
}

// Reopens reports whether a replayed copy (Sca-Replay) of a trigger with
// decided entry e is evaluated again: when its outcome is one that new
// data can change (skip, dlq or state), its outcome event is published,
// and it is not part of a redrive. A link is never reopened: a replay must
// not send a second one (a forced replay, a new trigger, does that).
func Reopens(redriveOf string, e *LedgerEntry) bool {
	if e == nil || e.Pending != nil || Redriven(redriveOf, e) {
		return false
	}
	switch e.Outcome {
	case events.OutcomeSkip, events.OutcomeDLQ, events.OutcomeState:
		return true
	}
	return false
}

// reopen resets a decided entry for a replayed copy when [Reopens] allows
// it (a redelivery of the copy that reopened it does not reopen it again).
// It reports whether e was reset.
func (c *Consumer) reopen(j *job, e *LedgerEntry, now time.Time) bool {
	if j.replay == "" || e.ReplaySeq == j.streamSeq || !Reopens(j.redriveOf, e) {
		return false
	}
	*e = LedgerEntry{
		Type: e.Type, EventID: e.EventID, UserID: e.UserID, StreamSeq: e.StreamSeq,
		FirstAttemptAt: now, Seq: e.Seq, ReplaySeq: j.streamSeq,
	}
	return true
}

// lineageOpen reports whether the redrive copy j may be evaluated: its
// original is dlq and points at it. An original that is dlq and points at
// no copy yet is claimed for j (a copy published by a redrive that did
// not mark the original first).
func (c *Consumer) lineageOpen(ctx context.Context, j *job) (bool, error) {
	err := c.ledger.markRedrive(ctx, events.KeyOf(j.ev.Source, j.redriveOf), "", j.ev.ID, nil)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotDeadLettered), errors.Is(err, ErrRedrivenElsewhere):
		return false, nil
	}
	return false, err
}

// takeOver writes a redrive copy's outcome into the entry of the original
// it copies, so that entry shows what finally became of the lineage; only
// while the original points at this copy.
func (c *Consumer) takeOver(ctx context.Context, j *job, e *LedgerEntry) {
	if j.redriveOf == "" || e.Outcome == events.OutcomeDuplicate {
		return
	}
	rootKey := events.KeyOf(j.ev.Source, j.redriveOf)
	for range 5 {
		root, rev, err := c.ledger.get(ctx, rootKey)
		if err != nil || root == nil || root.RedrivenTo != j.ev.ID {
			if err != nil {
				j.log.Warn("redriven trigger's entry not updated", zap.Error(err))
			}
			return
		}
		if root.Outcome == e.Outcome && root.Reason == e.Reason && root.LinkID == e.LinkID {
			return
		}
		root.Outcome, root.Reason = e.Outcome, e.Reason
		root.LinkID, root.ExpiresAt, root.DecidedAt = e.LinkID, e.ExpiresAt, e.DecidedAt
		if _, err := c.ledger.put(ctx, rootKey, root, rev); !errors.Is(err, errConflict) {
			if err != nil {
				j.log.Warn("redriven trigger's entry not updated", zap.Error(err))
			}
			return
		}
	}
}

// MarkRedrive records in the ledger entry of the dead-lettered trigger
// (source, root) that its redrive copy copyID may decide the lineage,
// with compare-and-set; `scaworker dlq redrive` calls it before it
// publishes the copy. from is the copy the original points at now: "" for
// the original's own dead letter, the previous copy's id for a copy's.
// Marking again with the same copyID succeeds (a redrive finishing after a
// crash). It fails with [ErrNotDeadLettered] when the original is no
// longer dlq, and with [ErrRedrivenElsewhere] when it points at another
// copy. A missing entry (the ledger forgot it) is created as dlq with
// reason.
func (l *Ledger) MarkRedrive(ctx context.Context, source, root, from, copyID, reason string) error {
	if l == nil {
		return errors.New("redrive mark: no ledger bucket: is the worker provisioned?")
	}
	seed := &LedgerEntry{Outcome: events.OutcomeDLQ, Reason: reason, EventID: root}
	return l.l.markRedrive(ctx, events.KeyOf(source, root), from, copyID, seed)
}

// markRedrive points the entry at key to copyID (see [Ledger.MarkRedrive]);
// seed, when set, is written when there is no entry, else a missing entry
// is [ErrNotDeadLettered].
func (l ledger) markRedrive(ctx context.Context, key, from, copyID string, seed *LedgerEntry) error {
	for range 5 {
		e, rev, err := l.get(ctx, key)
		if err != nil {
			return err
		}
		done, err := redriveRule(e, from, copyID, seed != nil)
		if err != nil || done {
			return err
		}
		if e == nil {
			e = seed
		}
		e.RedrivenTo = copyID
		if _, err := l.put(ctx, key, e, rev); !errors.Is(err, errConflict) {
			return err
		}
	}
	return fmt.Errorf("redrive mark: %w", errConflict)
}

// CheckRedrive is [Ledger.MarkRedrive] without the write, for a dry
// run: it returns what MarkRedrive would return now.
func (l *Ledger) CheckRedrive(ctx context.Context, source, root, from, copyID, _ string) error {
	if l == nil {
		return errors.New("redrive mark: no ledger bucket: is the worker provisioned?")
	}
	e, _, err := l.l.get(ctx, events.KeyOf(source, root))
	if err != nil {
		return err
	}
	_, err = redriveRule(e, from, copyID, true)
	return err
}

// redriveRule is the lineage rule of a redrive mark: may the entry e
// (nil: none; seeded: a missing entry is created) point at copyID, its
// current copy being from? done says it already does.
func redriveRule(e *LedgerEntry, from, copyID string, seeded bool) (done bool, err error) {
	switch {
	case e == nil && !seeded:
		return false, fmt.Errorf("%w: no ledger entry", ErrNotDeadLettered)
	case e == nil:
		return false, nil
	case e.RedrivenTo == copyID:
		return true, nil
	case e.Outcome != events.OutcomeDLQ:
		return false, fmt.Errorf("%w: its ledger entry says %s", ErrNotDeadLettered, outcomeText(e))
	case e.RedrivenTo != from:
		return false, fmt.Errorf("%w: %s", ErrRedrivenElsewhere, e.RedrivenTo)
	}
	return false, nil
}

func outcomeText(e *LedgerEntry) string {
	switch {
	case e.Outcome == "":
		return "pending (being evaluated)"
	case e.Reason != "":
		return e.Outcome + "/" + e.Reason
	}
	return e.Outcome
}
