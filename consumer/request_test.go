package consumer_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/internal/testworld"
)

// TestAcksConfirmed: acks sent together are confirmed together, and an
// ack returns only once JetStream processed it: the moment the last
// returns, the server holds none of the messages.
func TestAcksConfirmed(t *testing.T) {
	t.Parallel()
	const n, handlers = 600, 32
	js := testworld.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ACKS", Subjects: []string{"acks.>"}})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "w", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: n})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := js.Publish(ctx, "acks."+strconv.Itoa(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	a := consumer.NewTestAcks(js.Conn(), handlers, t.Cleanup)
	for round := 0; round < n/(2*handlers); round++ {
		batch, err := cons.Fetch(2*handlers, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(msgs))
		for h := range handlers {
			wg.Go(func() {
				for i := h; i < len(msgs); i += handlers {
					errs <- a.Ack(ctx, msgs[i])
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("ack: %v", err)
			}
		}
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumAckPending != 0 {
			t.Fatalf("round %d: %d messages held once their acks returned, want 0", round, info.NumAckPending)
		}
	}
}

// TestRequestAnswers: a request that gave up does not take the answer
// of the next one on the same replier; a request nobody listens to ends
// at once; one nobody answers ends after the timeout.
func TestRequestAnswers(t *testing.T) {
	t.Parallel()
	js := testworld.JetStream(t)
	nc := js.Conn()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q := consumer.NewTestRequests(nc, 200*time.Millisecond, t.Cleanup)

	if _, err := q.Write(ctx, "nobody.listens", []byte("x"), 0); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request to no one: %v, want %v", err, nats.ErrNoResponders)
	}

	sub, err := nc.SubscribeSync("service")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// Unanswered: with no deadline of its own, it ends after the timeout.
	if _, err := q.Write(context.Background(), "service", []byte("first"), 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered request: %v, want %v", err, context.DeadlineExceeded)
	}
	first, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := first.Header.Get(jetstream.ExpectedLastSubjSeqHeader); got != "0" {
		t.Fatalf("expected last sequence header = %q, want 0", got)
	}
	answer := make(chan []byte, 1)
	go func() {
		got, err := q.Write(ctx, "service", []byte("second"), 7)
		if err != nil {
			got = []byte(err.Error())
		}
		answer <- got
	}()
	second, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := second.Header.Get(jetstream.ExpectedLastSubjSeqHeader); got != "7" {
		t.Fatalf("expected last sequence header = %q, want 7", got)
	}
	// The late answer to the first request comes first.
	if err := first.Respond([]byte("late")); err != nil {
		t.Fatal(err)
	}
	if err := second.Respond([]byte("on time")); err != nil {
		t.Fatal(err)
	}
	if got := string(<-answer); got != "on time" {
		t.Fatalf("second request answered %q, want %q", got, "on time")
	}
}

// lossyDialer dials NATS connections whose writes can be lost in transit:
// while losing, what the client writes to the current connection is
// swallowed (kept in lost) as a connection that is dying swallows it,
// until cut closes that connection. The client's next one is sound.
type lossyDialer struct {
	mu     sync.Mutex
	conn   net.Conn
	losing bool
	lost   []byte
}

func (d *lossyDialer) Dial(network, address string) (net.Conn, error) {
	c, err := net.Dial(network, address)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.conn = c
	d.mu.Unlock()
	return lossyConn{Conn: c, d: d}, nil
}

func (d *lossyDialer) lose() {
	d.mu.Lock()
	d.losing, d.lost = true, nil
	d.mu.Unlock()
}

func (d *lossyDialer) lostCount(what string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return bytes.Count(d.lost, []byte(what))
}

func (d *lossyDialer) cut() {
	d.mu.Lock()
	d.losing = false
	_ = d.conn.Close()
	d.mu.Unlock()
}

type lossyConn struct {
	net.Conn
	d *lossyDialer
}

func (c lossyConn) Write(b []byte) (int, error) {
	c.d.mu.Lock()
	if c.d.losing && c.d.conn == c.Conn {
		c.d.lost = append(c.d.lost, b...)
		c.d.mu.Unlock()
		return len(b), nil
	}
	c.d.mu.Unlock()
	return c.Conn.Write(b)
}

// TestAcksAcrossReconnect: plain acks written to a connection that dies
// never reach the server, and the group's double ack, sent once the client
// reconnected, is answered; an ack that returns nil must still be one the
// server processed (the message is no longer held).
func TestAcksAcrossReconnect(t *testing.T) {
	t.Parallel()
	const n = 3
	srv, js := testworld.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "RECONNECT", Subjects: []string{"reconnect.>"}})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "w", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := js.Publish(ctx, "reconnect."+strconv.Itoa(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != n {
		t.Fatalf("fetched %d messages, want %d", len(msgs), n)
	}

	d := &lossyDialer{}
	nc, err := nats.Connect(srv.ClientURL(), nats.SetCustomDialer(d), nats.MaxReconnects(-1), nats.ReconnectWait(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	d.lose()
	errs := consumer.AckTogether(ctx, nc, msgs, func() {
		testworld.WaitFor(t, "the plain acks written", 10*time.Second, func() bool { return d.lostCount("+ACK") == n-1 })
		d.cut()
		testworld.WaitFor(t, "the client reconnected", 10*time.Second, func() bool { return nc.Stats().Reconnects > 0 && nc.IsConnected() })
	})
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending > failed {
		t.Fatalf("%d messages held once their acks returned (errors: %v), want at most the %d that failed", info.NumAckPending, errs, failed)
	}
}

// TestSecondAnswerIsNotTheNextOne: an answer to a request that was
// already answered (a stream leader elected before it applied its
// predecessor's last writes may answer a write again) is not taken for
// the answer to the next request on the same replier.
func TestSecondAnswerIsNotTheNextOne(t *testing.T) {
	t.Parallel()
	js := testworld.JetStream(t)
	nc := js.Conn()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q := consumer.NewTestRequests(nc, 10*time.Second, t.Cleanup)
	sub, err := nc.SubscribeSync("service")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ask := func(body string) chan string {
		answer := make(chan string, 1)
		go func() {
			got, err := q.Write(ctx, "service", []byte(body), 0)
			if err != nil {
				got = []byte(err.Error())
			}
			answer <- string(got)
		}()
		return answer
	}
	first := ask("first")
	req1, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := req1.Respond([]byte("one")); err != nil {
		t.Fatal(err)
	}
	if got := <-first; got != "one" {
		t.Fatalf("first request answered %q, want %q", got, "one")
	}
	// The first request is answered a second time before the next is sent.
	if err := req1.Respond([]byte("one, again")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	second := ask("second")
	req2, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := req2.Respond([]byte("two")); err != nil {
		t.Fatal(err)
	}
	if got := <-second; got != "two" {
		t.Fatalf("second request answered %q, want %q", got, "two")
	}
}
