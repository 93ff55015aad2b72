package events

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testDeadLetter(body []byte) DeadLetter {
	return DeadLetter{
		EventID:        "0b9d3c1e-6f7a-4c55-9a51-2f7c1d8e4b20",
		Reason:         ReasonMaxAttempts,
		Error:          "mangopay: status 503 <unavailable> & retry",
		Attempts:       12,
		FirstAttemptAt: time.Date(2025, 11, 25, 8, 0, 0, 0, time.UTC),
		LastAttemptAt:  time.Date(2025, 11, 26, 8, 0, 0, 250_000_000, time.UTC),
		StreamSequence: 4242,
		Original: Original{
			Subject: "sca.events.user.created",
			Headers: map[string][]string{"Nats-Msg-Id": {"0b9d3c1e-6f7a-4c55-9a51-2f7c1d8e4b20"}, "X-Multi": {"a", "b"}, "X-Empty": nil},
			Body:    body,
		},
		Trace: testTrace,
	}
}

func TestEncodeDeadLetterGolden(t *testing.T) {
	t.Parallel()
	key := KeyOf("https://users.example.com/v1", "0b9d3c1e-6f7a-4c55-9a51-2f7c1d8e4b20")
	id := DeadLetterID(key, 4242)
	tests := []struct {
		golden string
		body   []byte
		member string // the member that must carry the body
	}{
		// Valid JSON, with the white space a publisher left in: embedded untouched.
		{"deadletter_event", []byte("{\"specversion\":\"1.0\", \"id\":\"0b9d3c1e-6f7a-4c55-9a51-2f7c1d8e4b20\",\n  \"type\":\"user.created\",\"data\":{\"user_id\":\"a/b\"}}\n"), `"event":`},
		// Not JSON: base64.
		{"deadletter_base64", []byte("not json \xff\x00"), `"body_base64":`},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			t.Parallel()
			body, err := EncodeDeadLetter(id, testDeadLetter(tt.body), testNow)
			if err != nil {
				t.Fatalf("EncodeDeadLetter() error = %v", err)
			}
			checkGolden(t, tt.golden, body)
			if !json.Valid(body) {
				t.Errorf("EncodeDeadLetter() = %s, not valid JSON", body)
			}
			if !bytes.Contains(body, []byte(tt.member)) {
				t.Errorf("EncodeDeadLetter() = %s, want member %s", body, tt.member)
			}
		})
	}
}

func TestDeadLetterRoundTrip(t *testing.T) {
	t.Parallel()
	bodies := map[string][]byte{
		"compact event":            []byte(typicalUserCreated),
		"event with white space":   []byte(" \t\r\n{ \"a\" : [ 1 , 2 ] }\n\n"),
		"scalar JSON":              []byte("42"),
		"number then newline":      []byte("-1.5e3\n"),
		"JSON string":              []byte(`"hi"`),
		"JSON null":                []byte("null"),
		"HTML characters":          []byte(`{"x":"<a href='&'>"}`),
		"escaped unicode":          []byte(`{"x":"\u2028\ud83d\ude00é"}`),
		"empty body":               {},
		"nil body":                 nil,
		"not JSON":                 []byte("hello"),
		"truncated JSON":           []byte(`{"a":`),
		"two JSON values":          []byte(`{} {}`),
		"invalid UTF-8 in JSON":    []byte("{\"a\":\"\xff\"}"),
		"binary":                   {0, 1, 2, 0xfe, 0xff},
		"whitespace only":          []byte("  \n"),
		"over 64 KiB":              bytes.Repeat([]byte("x"), MaxBodySize+1),
		"JSON with trailing comma": []byte(`{"a":1,}`),
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := testDeadLetter(body)
			enc, err := EncodeDeadLetter(DeadLetterID(KeyOf("s", "i"), 7), d, testNow)
			if err != nil {
				t.Fatalf("EncodeDeadLetter() error = %v", err)
			}
			if !json.Valid(enc) {
				t.Fatalf("EncodeDeadLetter() = %q, not valid JSON", enc)
			}
			got, err := DecodeDeadLetter(enc)
			if err != nil {
				t.Fatalf("DecodeDeadLetter() error = %v", err)
			}
			if !bytes.Equal(got.Original.Body, body) {
				t.Errorf("DecodeDeadLetter() body = %q, want %q", got.Original.Body, body)
			}
			want := d
			want.Original.Headers = map[string][]string{"Nats-Msg-Id": {"0b9d3c1e-6f7a-4c55-9a51-2f7c1d8e4b20"}, "X-Multi": {"a", "b"}, "X-Empty": {}}
			got.Original.Body, want.Original.Body = nil, nil
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("DecodeDeadLetter() = %+v, want %+v", *got, want)
			}
		})
	}
}

func TestDeadLetterMinimal(t *testing.T) {
	t.Parallel()
	d := DeadLetter{Reason: ReasonInvalidEvent, Original: Original{Subject: "sca.events.user.created", Body: []byte("x")}}
	enc, err := EncodeDeadLetter(DeadLetterID("", 1), d, testNow)
	if err != nil {
		t.Fatalf("EncodeDeadLetter() error = %v", err)
	}
	for _, absent := range []string{`"event_id"`, `"first_attempt_at"`, `"last_attempt_at"`} {
		if bytes.Contains(enc, []byte(absent)) {
			t.Errorf("EncodeDeadLetter() = %s, want no %s", enc, absent)
		}
	}
	if !bytes.Contains(enc, []byte(`"headers":{}`)) {
		t.Errorf("EncodeDeadLetter() = %s, want empty headers object", enc)
	}
	got, err := DecodeDeadLetter(enc)
	if err != nil {
		t.Fatalf("DecodeDeadLetter() error = %v", err)
	}
	if !reflect.DeepEqual(*got, d) {
		t.Errorf("DecodeDeadLetter() = %+v, want %+v", *got, d)
	}
	env, err := DecodeEnvelope(enc)
	if err != nil {
		t.Fatalf("DecodeEnvelope() error = %v", err)
	}
	if env.ID != "dlq-1" || env.Type != TypeDeadLetter || env.Source != Source {
		t.Errorf("DecodeEnvelope() = %+v, want id dlq-1, type %s, source %s", *env, TypeDeadLetter, Source)
	}
}

func TestDeadLetterID(t *testing.T) {
	t.Parallel()
	key := KeyOf("s", "i")
	if got, want := DeadLetterID(key, 42), "dlq-"+key+"-42"; got != want {
		t.Errorf("DeadLetterID(key, 42) = %q, want %q", got, want)
	}
	if got, want := DeadLetterID("", 42), "dlq-42"; got != want {
		t.Errorf("DeadLetterID(\"\", 42) = %q, want %q", got, want)
	}
	if DeadLetterID(key, 42) == DeadLetterID(key, 43) {
		t.Errorf("DeadLetterID() equal for two stream sequences (redrives must differ)")
	}
	odd := DeadLetterID("not a key\n", 1)
	if strings.ContainsAny(odd, " \n") || !strings.HasPrefix(odd, "dlq-") || len(odd) != len("dlq-")+64+len("-1") {
		t.Errorf("DeadLetterID(non-key) = %q, want dlq-<64 hex>-1", odd)
	}
}

func TestEncodeDeadLetterErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		id     string
		modify func(*DeadLetter)
		now    time.Time
		want   string
	}{
		{"empty id", "", func(*DeadLetter) {}, testNow, "id"},
		{"id with newline", "a\nb", func(*DeadLetter) {}, testNow, "id"},
		{"no reason", "x", func(d *DeadLetter) { d.Reason = "" }, testNow, "reason"},
		{"no subject", "x", func(d *DeadLetter) { d.Original.Subject = "" }, testNow, "subject"},
		{"negative attempts", "x", func(d *DeadLetter) { d.Attempts = -1 }, testNow, "attempts"},
		{"zero now", "x", func(*DeadLetter) {}, time.Time{}, "time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := testDeadLetter([]byte("{}"))
			tt.modify(&d)
			_, err := EncodeDeadLetter(tt.id, d, tt.now)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("EncodeDeadLetter() error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestDecodeDeadLetterErrors(t *testing.T) {
	t.Parallel()
	const head = `{"specversion":"1.0","id":"dlq-1","source":"scaworker","type":"sca.dead_letter","data":`
	tests := []struct {
		name string
		body string
		want string
	}{
		{"not JSON", `x`, "not valid JSON"},
		{"wrong type", `{"specversion":"1.0","id":"x","source":"s","type":"sca.link.send","data":{}}`, "type"},
		{"no reason", head + `{"original":{"subject":"a","event":{}}}}`, "reason"},
		{"no original", head + `{"reason":"x"}}`, "original"},
		{"neither body", head + `{"reason":"x","original":{"subject":"a"}}}`, "neither"},
		{"both bodies", head + `{"reason":"x","original":{"subject":"a","event":{},"body_base64":""}}}`, "both"},
		{"bad base64", head + `{"reason":"x","original":{"subject":"a","body_base64":"!!"}}}`, "body_base64"},
		{"bad time", head + `{"reason":"x","first_attempt_at":"yesterday","original":{"subject":"a","event":1}}}`, "first_attempt_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeDeadLetter([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("DecodeDeadLetter() error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
