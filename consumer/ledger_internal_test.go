package consumer

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/scaworker/scaworker/events"
)

func typicalEntry() *LedgerEntry {
	now := time.Date(2026, 12, 5, 12, 0, 0, 123456789, time.UTC)
	return &LedgerEntry{
		Outcome: events.OutcomeLink, Type: events.TypeUserCreated, EventID: "evt-01HZX3K9Q2", UserID: "user_m_01HZX3K9Q2",
		StreamSeq: 123456, Attempts: 1, FirstAttemptAt: now, LastAttemptAt: now, Seq: 2,
		Pending: &PendingEvent{Stream: "SCA_LINKS", Subject: "sca.links.send", MsgID: "link-0123456789abcdef", RecordedAt: now,
			Body: bytes.Repeat([]byte("x"), 900), ExpiresAt: now.Add(10 * time.Minute)},
		LinkID: "link-0123456789abcdef", ExpiresAt: now.Add(10 * time.Minute), DecidedAt: now,
	}
}

// TestEncodeEntryIsMarshal: the pooled encoding writes what json.Marshal
// writes, so readers of the ledger see the same bytes.
func TestEncodeEntryIsMarshal(t *testing.T) {
	t.Parallel()
	for _, e := range []*LedgerEntry{{}, typicalEntry(), {LastError: "a <b> & c", Reason: "user_cap"}} {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		enc := encoders.Get().(*entryEncoder)
		enc.buf.WriteString("left over from the last write")
		got, err := enc.encode(e)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("encode = %s, %v; json.Marshal = %s", got, err, want)
		}
		encoders.Put(enc)
	}
}

func BenchmarkLedgerEncode(b *testing.B) {
	e := typicalEntry()
	b.ReportAllocs()
	for b.Loop() {
		enc := encoders.Get().(*entryEncoder)
		if _, err := enc.encode(e); err != nil {
			b.Fatal(err)
		}
		encoders.Put(enc)
	}
}

func BenchmarkLedgerMarshal(b *testing.B) {
	e := typicalEntry()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(e); err != nil {
			b.Fatal(err)
		}
	}
}
