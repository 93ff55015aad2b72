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
	start := p.RecordedAt.Add(-time.Second)
	oc, err := c.js.OrderedConsumer(ctx, p.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{p.Subject},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &start,
		HeadersOnly:    true,
	})
	if err != nil {
		return false, fmt.Errorf("look for published %s: %w", p.MsgID, err)
	}
	info, err := oc.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("look for published %s: %w", p.MsgID, err)
	}
	left := info.NumPending
	for left > 0 {
		batch, err := oc.Fetch(int(min(left, 256)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return false, fmt.Errorf("look for published %s: %w", p.MsgID, err)
		}
		n := uint64(0)
		for msg := range batch.Messages() {
			n++
			if msg.Headers().Get(jetstream.MsgIDHeader) == p.MsgID {
				return true, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return false, fmt.Errorf("look for published %s: %w", p.MsgID, err)
		}
		if n == 0 {
			return false, fmt.Errorf("look for published %s: stream stopped delivering with %d messages left", p.MsgID, left)
		}
		left -= min(n, left)
	}
	return false, nil
}
