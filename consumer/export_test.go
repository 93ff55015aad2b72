package consumer

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrConflict is errConflict, for the tests of package consumer_test.
var ErrConflict = errConflict

// TestBucket is a bucket as the worker writes it, for tests.
type TestBucket struct {
	b bucket
	// Lean says the writes go straight to the key's subject.
	Lean bool
}

// NewTestBucket binds kv of js as [Consumer.Run] does; its requests end
// with the test.
func NewTestBucket(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, cleanup func(func())) TestBucket {
	req := newRequests(js.Conn(), js.Options().DefaultTimeout, 4)
	cleanup(req.close)
	b := leanWrites(ctx, js, kv, req)
	return TestBucket{b: b, Lean: b.req != nil}
}

// Write is the worker's compare-and-set write (rev 0: create).
func (b TestBucket) Write(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	return b.b.write(ctx, key, value, rev)
}

// TestRequests are the worker's requests on nc, for tests.
type TestRequests struct{ q *requests }

// NewTestRequests returns requests on nc that keep one replier, giving up
// after timeout when the ctx has no deadline.
func NewTestRequests(nc *nats.Conn, timeout time.Duration, cleanup func(func())) TestRequests {
	q := newRequests(nc, timeout, 1)
	cleanup(q.close)
	return TestRequests{q: q}
}

// Write sends a compare-and-set write of value to subject and returns the answer.
func (r TestRequests) Write(ctx context.Context, subject string, value []byte, last uint64) ([]byte, error) {
	return r.q.write(ctx, subject, value, last)
}

// TestAcks confirms acks as the worker does, for tests.
type TestAcks struct{ a *acks }

// NewTestAcks starts confirming acks on nc for up to size handlers at once.
func NewTestAcks(nc *nats.Conn, size int, cleanup func(func())) TestAcks {
	q := newRequests(nc, 5*time.Second, size)
	a := startAcks(context.Background(), q, size)
	cleanup(q.close)
	cleanup(a.stop) // runs first
	return TestAcks{a: a}
}

// Ack acknowledges msg and waits for JetStream's confirmation.
func (a TestAcks) Ack(ctx context.Context, msg jetstream.Msg) error {
	return a.a.ack(ctx, msg)
}

// AckTogether acknowledges msgs as one group of the worker's acks on nc
// (plain acks, then one double ack whose answer confirms them all) and
// returns each ack's error. between runs once the group is on its way and
// holds the double ack back until it returns: it must itself wait until
// the plain acks were written.
func AckTogether(ctx context.Context, nc *nats.Conn, msgs []jetstream.Msg, between func()) []error {
	q := newRequests(nc, 5*time.Second, 1)
	defer q.close()
	a := &acks{q: q, in: make(chan ackRequest, len(msgs)), done: make(chan struct{})}
	errcs := make([]chan error, len(msgs))
	for i, m := range msgs {
		errcs[i] = make(chan error, 1)
		a.in <- ackRequest{msg: m, err: errcs[i]}
	}
	// No replier is free yet: the double ack makes one under q.mu, so
	// holding it holds the double ack back.
	q.mu.Lock()
	go a.run(ctx, len(msgs))
	between()
	q.mu.Unlock()
	errs := make([]error, len(msgs))
	for i, c := range errcs {
		errs[i] = <-c
	}
	close(a.in)
	<-a.done
	return errs
}
