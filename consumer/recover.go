package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// dedupeMargin keeps a republish clear of the edge of a duplicate window.
const dedupeMargin = 5 * time.Second

// dedupes reports whether JetStream still remembers p's message id, so a
// republish of p is dropped if the first publish went through. A NATS
// restart rebuilds that memory from stored messages, and p, if stored, is
// still there: links live until they expire, dead letters for months.
func (c *Consumer) dedupes(p *PendingEvent) bool {
	return c.now().Sub(p.RecordedAt) < c.dupWindow[p.Stream]-dedupeMargin
}

// published looks in p's stream, from when p was recorded, for a message
// with p's id. It is used only to finish an outcome recorded longer ago
// than the stream's duplicate window, e.g. after a long outage.
func (c *Consumer) published(ctx context.Context, p *PendingEvent) (bool, error) {
	errFound := errors.New("found")
	o := ReadOptions{Subjects: []string{p.Subject}, StartTime: p.RecordedAt.Add(-time.Second), HeadersOnly: true}
	err := ReadStream(ctx, c.js, p.Stream, o, func(m StoredMsg) error {
		if m.Header.Get(jetstream.MsgIDHeader) == p.MsgID {
			return errFound
		}
		return nil
	})
	switch {
	case errors.Is(err, errFound):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("look for published %s: %w", p.MsgID, err)
	}
	return false, nil
}
