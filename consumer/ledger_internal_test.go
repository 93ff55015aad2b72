package consumer

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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
// writes, so readers of the ledger see the same bytes: for every field
// set (a field added to LedgerEntry but not to the encoder fails here),
// for strings that need escaping, and for times in other zones or that
// json.Marshal refuses.
func TestEncodeEntryIsMarshal(t *testing.T) {
	t.Parallel()
	paris := time.FixedZone("Paris", 3600)
	odd := time.FixedZone("LMT", 561) // an offset with seconds: MarshalJSON refuses it
	skip := &LedgerEntry{Outcome: events.OutcomeSkip, Reason: events.ReasonNotOwner, Type: events.TypeUserCreated,
		EventID: "evt-1", UserID: "user-1", StreamSeq: 7, Attempts: 1,
		FirstAttemptAt: time.Date(2026, 12, 5, 12, 0, 0, 120000000, paris), LastAttemptAt: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC),
		DecidedAt: time.Date(2026, 12, 5, 12, 0, 1, 1, time.Local)}
	entries := []*LedgerEntry{{}, typicalEntry(), skip, filled(),
		{LastError: "a <b> & c \"quoted\" \\ \n\r\t\b\f \x01\x1f\x7f é \u2028\u2029 \xff\xfe end", Reason: "user_cap"},
		{FirstAttemptAt: time.Date(2026, 1, 2, 3, 4, 5, 0, odd)},
		{DecidedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Attempts: -3, Seq: -1}}
	for _, e := range entries {
		want, wantErr := json.Marshal(e)
		enc := encoders.Get().(*entryEncoder)
		enc.buf.WriteString("left over from the last write")
		enc.out = append(enc.out[:0], "left over"...)
		got, err := enc.encode(e)
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Errorf("encode = %s, %v; json.Marshal = %s, %v", got, err, want, wantErr)
		}
		encoders.Put(enc)
	}
}

// filled returns an entry with every field set, by reflection, so a field
// added to LedgerEntry is set too.
func filled() *LedgerEntry {
	e := new(LedgerEntry)
	fill(reflect.ValueOf(e).Elem())
	return e
}

func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 5, 12, 0, 0, 5, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.String:
		v.SetString(v.Type().Name() + " <&> value")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(42)
	case reflect.Uint64:
		v.SetUint(43)
	case reflect.Slice:
		v.Set(reflect.ValueOf([]byte("body")).Convert(v.Type()))
	default:
		panic("fill: a ledger field of kind " + v.Kind().String())
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

// BenchmarkLedgerEncodeSkip: a skip's entry, the most written one.
func BenchmarkLedgerEncodeSkip(b *testing.B) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 123456789, time.UTC)
	e := &LedgerEntry{Outcome: events.OutcomeSkip, Reason: events.ReasonNotOwner, Type: events.TypeUserCreated,
		EventID: "evt-01HZX3K9Q2", UserID: "user_m_01HZX3K9Q2", StreamSeq: 123456, Attempts: 1,
		FirstAttemptAt: now, LastAttemptAt: now, Seq: 1, DecidedAt: now}
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

// TestParsePubAck: JetStream's answers to a write read as jetstream reads
// them, the common one without decoding JSON.
func TestParsePubAck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ack        string
		seq        uint64
		wrongLast  bool
		invalidAck bool
	}{
		{ack: `{"stream":"KV_sca_ledger","seq":7}`, seq: 7},
		{ack: `{"stream":"KV_sca_ledger","domain":"hub","seq":18446744073709551615,"duplicate":true}`, seq: 18446744073709551615},
		{ack: `{"stream":"KV_a", "seq": 12}`, seq: 12},
		{ack: `{"seq":3,"stream":"KV_a"}`, seq: 3},
		{ack: `{"stream":"KV_\"seq\":9","seq":4}`, seq: 4},
		{ack: `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"},"stream":"KV_a","seq":0}`, wrongLast: true},
		{ack: `{"error":{"code":400,"err_code":10164,"description":"wrong last sequence"}}`, wrongLast: true},
		{ack: `{"stream":"","seq":1}`, invalidAck: true},
		{ack: `{"seq":1}`, invalidAck: true},
		{ack: `not json`, invalidAck: true},
	}
	for _, tt := range tests {
		seq, err := parsePubAck([]byte(tt.ack))
		switch {
		case tt.wrongLast:
			if !isWrongLastSeq(err) {
				t.Errorf("parsePubAck(%s) = %d, %v; want the wrong-last-sequence error", tt.ack, seq, err)
			}
		case tt.invalidAck:
			if !errors.Is(err, jetstream.ErrInvalidJSAck) {
				t.Errorf("parsePubAck(%s) = %d, %v; want %v", tt.ack, seq, err, jetstream.ErrInvalidJSAck)
			}
		default:
			if err != nil || seq != tt.seq {
				t.Errorf("parsePubAck(%s) = %d, %v; want %d", tt.ack, seq, err, tt.seq)
			}
		}
	}
	// An API error that is no conflict stays one, as jetstream reports it.
	_, err := parsePubAck([]byte(`{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}`))
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10077 || isWrongLastSeq(err) {
		t.Errorf("parsePubAck(an API error) = %v, want that API error", err)
	}
}

func BenchmarkParsePubAck(b *testing.B) {
	ack := []byte(`{"stream":"KV_sca_ledger","seq":123456}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parsePubAck(ack); err != nil {
			b.Fatal(err)
		}
	}
}
