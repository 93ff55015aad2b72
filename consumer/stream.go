package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StoredMsg is one message read from a stream.
type StoredMsg struct {
	Seq     uint64
	Subject string
	Time    time.Time // when the stream stored it
	Header  nats.Header
	Data    []byte // nil when read with HeadersOnly
}

// ReadOptions selects what [ReadStream] reads.
type ReadOptions struct {
	// Subjects filters by subject (wildcards allowed); empty reads all.
	Subjects []string
	// StartSeq, when set, starts at this stream sequence.
	StartSeq uint64
	// StartTime, when set (and StartSeq is not), starts at the first
	// message stored at or after it.
	StartTime time.Time
	// HeadersOnly reads headers without bodies.
	HeadersOnly bool
	// EndSeq, when set, ends the read after this stream sequence (when
	// it is before the last message stored when the read started); no
	// message past it is fetched.
	EndSeq uint64
}

// readBatch bounds the messages [ReadStream] holds at once.
const readBatch = 256

// ReadStream calls fn for every message of stream selected by o, in
// stream order, up to the last message stored when it started (or
// o.EndSeq): the read
// is bounded, whatever is stored meanwhile. It reads with an ordered
// consumer (ephemeral, no acks), never a durable, so it changes nothing
// on the stream, and holds at most a batch of messages at a time. fn
// returning an error stops the read with that error. The worker (looking
// for an outcome it published long ago) and the operator tools read
// streams only through it.
func ReadStream(ctx context.Context, js jetstream.JetStream, stream string, o ReadOptions, fn func(StoredMsg) error) error {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	last := info.State.LastSeq
	if o.EndSeq != 0 && o.EndSeq < last {
		last = o.EndSeq
	}
	if info.State.Msgs == 0 || (o.StartSeq != 0 && o.StartSeq > last) {
		return nil
	}
	occ := jetstream.OrderedConsumerConfig{FilterSubjects: o.Subjects, HeadersOnly: o.HeadersOnly, InactiveThreshold: time.Minute}
	switch {
	case o.StartSeq != 0:
		occ.DeliverPolicy, occ.OptStartSeq = jetstream.DeliverByStartSequencePolicy, o.StartSeq
	case !o.StartTime.IsZero():
		t := o.StartTime
		occ.DeliverPolicy, occ.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	cons, err := st.OrderedConsumer(ctx, occ)
	if err != nil {
		return fmt.Errorf("read stream %s: %w", stream, err)
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("read stream %s: %w", stream, err)
	}
	// The matching messages stored when the consumer was created; those
	// stored after last are not read.
	left := ci.NumPending
	next := o.StartSeq // the next sequence wanted; 0: not known yet
	for left > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		want := min(left, readBatch)
		if next != 0 && next <= last {
			want = min(want, last-next+1) // nothing past last is fetched
		}
		batch, err := cons.Fetch(int(want), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("read stream %s: %w", stream, err)
		}
		n := uint64(0)
		for msg := range batch.Messages() {
			n++
			meta, err := msg.Metadata()
			if err != nil {
				return fmt.Errorf("read stream %s: %w", stream, err)
			}
			seq := meta.Sequence.Stream
			if seq > last {
				return nil
			}
			next = seq + 1
			if err := fn(StoredMsg{Seq: seq, Subject: msg.Subject(), Time: meta.Timestamp, Header: msg.Headers(), Data: msg.Data()}); err != nil {
				return err
			}
			if seq == last {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("read stream %s: %w", stream, err)
		}
		left -= min(n, left)
		if n < want {
			// Messages deleted or expired meanwhile shorten the read: ask
			// what is really left.
			if err := ctx.Err(); err != nil {
				return err
			}
			ci, err := cons.Info(ctx)
			if err != nil {
				return fmt.Errorf("read stream %s: %w", stream, err)
			}
			if n == 0 && ci.NumPending > 0 {
				return fmt.Errorf("read stream %s: the stream stopped delivering with %d messages left", stream, ci.NumPending)
			}
			left = ci.NumPending
		}
	}
	return nil
}
