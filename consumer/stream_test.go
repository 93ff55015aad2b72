package consumer_test

import (
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/internal/testworld"
)

// ReadStream reads what is stored when it starts, with filters and start
// points, headers only when asked, and returns at once when nothing
// matches.
func TestReadStream(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{NoStart: true})
	if _, err := w.JS.CreateStream(w.Context(), jetstream.StreamConfig{Name: "RS", Subjects: []string{"rs.>"}}); err != nil {
		t.Fatal(err)
	}
	read := func(o consumer.ReadOptions) []uint64 {
		t.Helper()
		var seqs []uint64
		if err := consumer.ReadStream(w.Context(), w.JS, "RS", o, func(m consumer.StoredMsg) error {
			seqs = append(seqs, m.Seq)
			return nil
		}); err != nil {
			t.Fatalf("ReadStream(%+v): %v", o, err)
		}
		return seqs
	}
	if got := read(consumer.ReadOptions{}); len(got) != 0 {
		t.Errorf("empty stream read %v", got)
	}
	for i := range 600 {
		subj := "rs.a"
		if i%2 == 1 {
			subj = "rs.b"
		}
		w.Publish(subj, []byte("x"), "")
	}
	if got := read(consumer.ReadOptions{}); len(got) != 600 || got[0] != 1 || got[599] != 600 {
		t.Errorf("read all: %d messages", len(got))
	}
	if got := read(consumer.ReadOptions{Subjects: []string{"rs.b"}}); len(got) != 300 || got[0] != 2 {
		t.Errorf("read rs.b: %d messages", len(got))
	}
	if got := read(consumer.ReadOptions{Subjects: []string{"rs.none"}}); len(got) != 0 {
		t.Errorf("read rs.none: %v", got)
	}
	if got := read(consumer.ReadOptions{StartSeq: 598}); !slices.Equal(got, []uint64{598, 599, 600}) {
		t.Errorf("read from 598: %v", got)
	}
	if got := read(consumer.ReadOptions{StartSeq: 601}); len(got) != 0 {
		t.Errorf("read from 601: %v", got)
	}
	var bodies int
	if err := consumer.ReadStream(w.Context(), w.JS, "RS", consumer.ReadOptions{StartSeq: 590, HeadersOnly: true}, func(m consumer.StoredMsg) error {
		bodies += len(m.Data)
		return nil
	}); err != nil || bodies != 0 {
		t.Errorf("headers-only read: %d body bytes, %v", bodies, err)
	}
	// What is stored during a read is not part of it.
	n := 0
	if err := consumer.ReadStream(w.Context(), w.JS, "RS", consumer.ReadOptions{StartSeq: 599}, func(consumer.StoredMsg) error {
		n++
		w.Publish("rs.a", []byte("later"), "")
		return nil
	}); err != nil || n != 2 {
		t.Errorf("read during publishes: %d messages, %v; want 2", n, err)
	}
	if got := read(consumer.ReadOptions{StartTime: time.Now().Add(time.Hour)}); len(got) != 0 {
		t.Errorf("read from the future: %v", got)
	}
}
