package testworld

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
)

// callTimeout bounds one call to the server made by a helper.
const callTimeout = 5 * time.Second

// WaitFor polls cond every 5ms until it holds, and fails t when timeout
// passes first.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// CloudEvent returns the JSON of a CloudEvent with the given type, source,
// id and data.
func CloudEvent(typ, source, id string, data map[string]any) []byte {
	ev := map[string]any{"specversion": "1.0", "id": id, "source": source, "type": typ, "data": data}
	out, _ := json.Marshal(ev)
	return out
}

// Publish stores body on subject, with Nats-Msg-Id msgID when it is not
// empty, and returns its stream sequence.
func (w *World) Publish(subject string, body []byte, msgID string) uint64 {
	w.T.Helper()
	msg := &nats.Msg{Subject: subject, Data: body}
	if msgID != "" {
		msg.Header = nats.Header{nats.MsgIdHdr: {msgID}}
	}
	return w.PublishMsg(msg).Sequence
}

// PublishMsg stores msg, headers included, and returns JetStream's answer.
func (w *World) PublishMsg(msg *nats.Msg) *jetstream.PubAck {
	w.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	ack, err := w.JS.PublishMsg(ctx, msg)
	if err != nil {
		w.T.Fatalf("publish %s: %v", msg.Subject, err)
	}
	return ack
}

// UserCreated stores a user.created trigger with id as its id and
// Nats-Msg-Id; data (which may be nil) gets user_id. It returns the stream
// sequence.
func (w *World) UserCreated(id, userID string, data map[string]any) uint64 {
	w.T.Helper()
	d := maps.Clone(data)
	if d == nil {
		d = map[string]any{}
	}
	d["user_id"] = userID
	return w.Publish(events.DefaultSubjects().UserCreated, CloudEvent(events.TypeUserCreated, "/users", id, d), id)
}

// Hook stores a trigger of one of Mangopay's hook types (events.Type*),
// with source "mangopay" and occurred_at unless occurred is zero. It
// returns the stream sequence.
func (w *World) Hook(typ, id, userID string, occurred time.Time) uint64 {
	w.T.Helper()
	subject, _ := events.DefaultSubjects().SubjectFor(typ)
	data := map[string]any{"user_id": userID}
	if !occurred.IsZero() {
		data["occurred_at"] = occurred.UTC().Format(time.RFC3339)
	}
	return w.Publish(subject, CloudEvent(typ, "mangopay", id, data), id)
}

// Outcomes returns the outcomes recorded so far, in the order they came.
func (w *World) Outcomes() []consumer.Outcome {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]consumer.Outcome(nil), w.outcomes...)
}

// WaitOutcome waits up to [Timeout] for the first outcome that match
// accepts, and returns it.
func (w *World) WaitOutcome(what string, match func(consumer.Outcome) bool) consumer.Outcome {
	w.T.Helper()
	var got consumer.Outcome
	WaitFor(w.T, what, Timeout, func() bool {
		for _, o := range w.Outcomes() {
			if match(o) {
				got = o
				return true
			}
		}
		return false
	})
	return got
}

// OutcomeFor waits for the first outcome of the trigger id that is not a
// duplicate.
func (w *World) OutcomeFor(id string) consumer.Outcome {
	w.T.Helper()
	return w.WaitOutcome("outcome of "+id, func(o consumer.Outcome) bool {
		return o.EventID == id && o.Outcome != events.OutcomeDuplicate
	})
}

// OutcomeAt waits for the first outcome of the message at stream sequence
// seq that is not a duplicate.
func (w *World) OutcomeAt(seq uint64) consumer.Outcome {
	w.T.Helper()
	return w.WaitOutcome(fmt.Sprintf("outcome of stream seq %d", seq), func(o consumer.Outcome) bool {
		return o.StreamSeq == seq && o.Outcome != events.OutcomeDuplicate
	})
}

// Links reads every send-link event in the links stream.
func (w *World) Links() []events.LinkSend {
	w.T.Helper()
	return readAll(w, w.Config.Defaults().LinksStream, func(m *jetstream.RawStreamMsg) (events.LinkSend, error) {
		l, err := events.DecodeLinkSend(m.Data)
		if err != nil {
			return events.LinkSend{}, err
		}
		return *l, nil
	})
}

// DeadLetters reads every record in the dead-letter stream.
func (w *World) DeadLetters() []events.DeadLetter {
	w.T.Helper()
	return readAll(w, w.Config.Defaults().DLQStream, func(m *jetstream.RawStreamMsg) (events.DeadLetter, error) {
		d, err := events.DecodeDeadLetter(m.Data)
		if err != nil {
			return events.DeadLetter{}, err
		}
		return *d, nil
	})
}

// readAll decodes every message stored in stream.
func readAll[T any](w *World, stream string, decode func(*jetstream.RawStreamMsg) (T, error)) []T {
	w.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	st, info := w.stream(ctx, stream)
	var out []T
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			w.T.Fatalf("get %s/%d: %v", stream, seq, err)
		}
		v, err := decode(m)
		if err != nil {
			w.T.Fatalf("decode %s/%d: %v", stream, seq, err)
		}
		out = append(out, v)
	}
	return out
}

// StreamMsgs returns the number of messages stored in stream.
func (w *World) StreamMsgs(stream string) uint64 {
	w.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, info := w.stream(ctx, stream)
	return info.State.Msgs
}

// stream looks stream up and returns it with its current state.
func (w *World) stream(ctx context.Context, name string) (jetstream.Stream, *jetstream.StreamInfo) {
	w.T.Helper()
	st, err := w.JS.Stream(ctx, name)
	if err != nil {
		w.T.Fatalf("stream %s: %v", name, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		w.T.Fatalf("stream %s info: %v", name, err)
	}
	return st, info
}

// ConsumerInfo returns the durable consumer's state.
func (w *World) ConsumerInfo() *jetstream.ConsumerInfo {
	w.T.Helper()
	info, err := w.consumerInfo()
	if err != nil {
		w.T.Fatalf("%v", err)
	}
	return info
}

func (w *World) consumerInfo() (*jetstream.ConsumerInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	cfg := w.Config.Defaults()
	c, err := w.JS.Consumer(ctx, cfg.Stream, cfg.Durable)
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("consumer info: %w", err)
	}
	return info, nil
}

// Settled waits up to [Timeout] until the durable consumer has nothing
// pending or unacknowledged. A failed lookup (JetStream coming back, say)
// is tried again.
func (w *World) Settled() {
	w.T.Helper()
	WaitFor(w.T, "consumer to settle", Timeout, func() bool {
		info, err := w.consumerInfo()
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
}

// LedgerEntry decodes the ledger entry of the trigger (source, id) into v,
// as operators read it. It reports false when there is none.
func (w *World) LedgerEntry(source, id string, v any) bool {
	w.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	kv, err := w.JS.KeyValue(ctx, w.Config.Defaults().LedgerBucket)
	if err != nil {
		w.T.Fatalf("ledger bucket: %v", err)
	}
	e, err := kv.Get(ctx, events.KeyOf(source, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false
	}
	if err != nil {
		w.T.Fatalf("ledger entry %s: %v", id, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		w.T.Fatalf("ledger entry %s: %v", id, err)
	}
	return true
}

// MaxInWindow returns the most of times that fall in any span of length per (a sliding
// window, the way Mangopay counts calls). It sorts times.
func MaxInWindow(times []time.Time, per time.Duration) int {
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	most, j := 0, 0
	for i := range times {
		for times[i].Sub(times[j]) >= per {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}
