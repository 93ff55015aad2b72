package dlq_test

import (
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/ops/dlq"
)

// TestListAndPurgeStopAtLimit stores 1,000 dead letters and proves that
// listing the newest 10 reads about 10 of them, not the stream: the tools
// run on a connection of their own, whose count of received messages
// (stream messages and API answers together) stays far below 1,000. A
// purge with a limit deletes exactly that many, oldest first.
func TestListAndPurgeStopAtLimit(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{NoStart: true})
	const n = 1000
	for i := range n {
		w.Publish("sca.dlq.sca.events.user.created", fmt.Appendf(nil, `{"record":%d,"padding":"%0512d"}`, i, 0), "")
	}
	nc, err := nats.Connect(w.Server.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	tools := dlq.New(js, dlq.Config{Layout: w.Config, Operator: "alice"})

	before := nc.Stats()
	recs, more, err := tools.Newest(w.Context(), dlq.Filter{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	read := nc.Stats().InMsgs - before.InMsgs
	if len(recs) != 10 || !more || recs[0].Seq != n-9 || recs[9].Seq != n {
		t.Fatalf("Newest(10) = %d records (first %d), more %t; want seq %d..%d and more", len(recs), recs[0].Seq, more, n-9, n)
	}
	if read > 60 {
		t.Errorf("listing the newest 10 of %d records received %d messages, want about 10 (plus the API's answers)", n, read)
	}
	t.Logf("Newest(10) of %d records: %d messages received", n, read)

	res, err := tools.Purge(w.Context(), dlq.Filter{All: true}, dlq.PurgeOptions{Limit: 5})
	if err != nil || res.Selected != 5 || res.Deleted != 5 {
		t.Fatalf("Purge(limit 5) = %+v, %v; want 5 selected and deleted", res, err)
	}
	if got := w.StreamMsgs(w.Config.Defaults().DLQStream); got != n-5 {
		t.Errorf("records left = %d, want %d", got, n-5)
	}
	all, err := tools.List(w.Context(), dlq.Filter{}, 0)
	if err != nil || len(all) != n-5 || all[0].Seq != 6 {
		t.Errorf("List(all) after the purge = %d records, first %d, %v; want %d from seq 6", len(all), all[0].Seq, err, n-5)
	}
}
