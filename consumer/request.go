package consumer

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// requests sends the worker's hot requests to JetStream (the ledger's and
// the user entries' compare-and-set writes, and the acks that wait for
// JetStream's confirmation) and waits for each answer on a reply
// subscription of its own. A request through jetstream and nats.Conn
// costs a fresh reply inbox, a map entry and a channel under the
// connection's lock, a context with a timer, and a hop through the
// connection's reply goroutine; here a replier is taken from a free list
// (one per request in flight), its answer is handed over by the
// connection's read loop, and its timer is reused. Each request has a
// reply subject of its own under its replier's (<root>.<replier>.<n>): an
// answer to an earlier request — a late one, or a second one, which a
// stream leader elected before it applied its predecessor's last writes
// can send — is recognised and dropped, never taken for the answer to the
// next request. A replier whose request gave up before its answer came is
// dropped too.
//
// A request answers what nats.Conn's would: the reply, nats.ErrNoResponders
// when no stream listens, ctx's error when ctx ends, and
// context.DeadlineExceeded after the jetstream default timeout when ctx
// has no deadline (jetstream's own requests give up then too).
type requests struct {
	nc      *nats.Conn
	timeout time.Duration
	root    string // reply subjects are <root>.<replier>
	free    chan *replier

	mu     sync.Mutex
	n      int // repliers made
	all    []*replier
	closed bool
}

// replier is one request in flight at a time.
type replier struct {
	sub   *nats.Subscription
	ch    chan *nats.Msg
	inbox string // <root>.<replier>.
	n     uint64 // requests sent: the last one's reply subject is inbox+n
	reply []byte
	timer *time.Timer
	// spoiled: a request gave up before its answer came; the replier is
	// dropped, since the answer may still come.
	spoiled bool
	msg     nats.Msg
	// expect is the header of a compare-and-set write.
	expect nats.Header
}

// newRequests returns the requests of a worker on nc; each waits at most
// timeout when its ctx has no deadline. about is how many are in flight
// at most, usually: more are served, their repliers are not kept.
func newRequests(nc *nats.Conn, timeout time.Duration, about int) *requests {
	if timeout <= 0 {
		timeout = 5 * time.Second // jetstream's own default
	}
	return &requests{nc: nc, timeout: timeout, root: nc.NewInbox(), free: make(chan *replier, about)}
}

// close ends the reply subscriptions; no request may be in flight.
func (q *requests) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	for _, r := range q.all {
		_ = r.sub.Unsubscribe()
		r.timer.Stop()
	}
	q.all = nil
}

func (q *requests) get() (*replier, error) {
	select {
	case r := <-q.free:
		return r, nil
	default:
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, nats.ErrConnectionClosed
	}
	q.n++
	r := &replier{
		ch:     make(chan *nats.Msg, replierBuffer),
		inbox:  q.root + "." + strconv.Itoa(q.n) + ".",
		timer:  time.NewTimer(time.Hour),
		expect: nats.Header{jetstream.ExpectedLastSubjSeqHeader: []string{""}},
	}
	r.timer.Stop()
	sub, err := q.nc.ChanSubscribe(r.inbox+"*", r.ch)
	if err != nil {
		return nil, err
	}
	r.sub = sub
	q.all = append(q.all, r)
	return r, nil
}

func (q *requests) put(r *replier) {
	r.msg = nats.Msg{}
	if !r.spoiled {
		select {
		case q.free <- r:
			return
		default: // more were in flight than usual: keep the usual number
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	_ = r.sub.Unsubscribe()
	r.timer.Stop()
	if i := slices.Index(q.all, r); i >= 0 {
		q.all = slices.Delete(q.all, i, i+1)
	}
}

// write publishes value to subject, to be stored only if the subject's
// last message in its stream is at sequence last (0: it has none), and
// returns JetStream's answer (a PubAck or an API error, see parsePubAck).
func (q *requests) write(ctx context.Context, subject string, value []byte, last uint64) ([]byte, error) {
	r, err := q.get()
	if err != nil {
		return nil, err
	}
	defer q.put(r)
	r.expect[jetstream.ExpectedLastSubjSeqHeader][0] = strconv.FormatUint(last, 10)
	r.msg = nats.Msg{Subject: subject, Header: r.expect, Data: value}
	m, err := q.roundTrip(ctx, r)
	if err != nil {
		return nil, err
	}
	return m.Data, nil
}

// ackBody is what DoubleAck sends.
var ackBody = []byte("+ACK")

// doubleAck acknowledges msg and waits for JetStream to confirm it, as
// jetstream.Msg's DoubleAck does.
func (q *requests) doubleAck(ctx context.Context, msg jetstream.Msg) error {
	subject := msg.Reply()
	if subject == "" {
		return jetstream.ErrMsgNoReply
	}
	r, err := q.get()
	if err != nil {
		return err
	}
	defer q.put(r)
	r.msg = nats.Msg{Subject: subject, Data: ackBody}
	_, err = q.roundTrip(ctx, r)
	return err
}

// roundTrip sends r.msg with r's reply subject and waits for the answer.
func (q *requests) roundTrip(ctx context.Context, r *replier) (*nats.Msg, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.n++
	r.reply = strconv.AppendUint(append(r.reply[:0], r.inbox...), r.n, 10)
	r.msg.Reply = string(r.reply)
	var expired <-chan time.Time
	if _, ok := ctx.Deadline(); !ok {
		r.timer.Reset(q.timeout)
		defer r.timer.Stop()
		expired = r.timer.C
	}
	if err := q.nc.PublishMsg(&r.msg); err != nil {
		// Written in part, it may still be answered.
		r.spoiled = true
		return nil, err
	}
	for {
		select {
		case m := <-r.ch:
			if m.Subject != r.msg.Reply {
				continue // an answer to an earlier request
			}
			if len(m.Data) == 0 && m.Header.Get("Status") == noResponders {
				return nil, nats.ErrNoResponders
			}
			return m, nil
		case <-ctx.Done():
			r.spoiled = true
			return nil, ctx.Err()
		case <-expired:
			r.spoiled = true
			return nil, context.DeadlineExceeded
		}
	}
}

// replierBuffer is how many answers a replier's subscription holds: one
// is expected; the rest leave room for a stray answer to an earlier
// request, which would otherwise push the expected one out (a channel
// subscription drops what does not fit).
const replierBuffer = 4

// noResponders is the status of the answer the server gives for a
// request nobody listens to.
const noResponders = "503"
