package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"
)

// DeadLetter is the data of a DLQ record: why a message was given up on, and the message
// itself, untouched, so that it can be inspected and redriven.
type DeadLetter struct {
	// EventID is the original CloudEvents id when it could be read; omitted when "".
	EventID string
	// Reason is the DLQ reason code (docs/events.md), e.g. [ReasonInvalidEvent]. Required.
	Reason string
	// Error is human text about the last error. It must carry no secret.
	Error string
	// Attempts is the number of deliveries.
	Attempts int
	// FirstAttemptAt is when the first delivery was handled; omitted when zero.
	FirstAttemptAt time.Time
	// LastAttemptAt is when the last delivery was handled; omitted when zero.
	LastAttemptAt time.Time
	// StreamSequence is the original message's sequence in its stream.
	StreamSequence uint64
	// Original is the message as received.
	Original Original
	// Trace is the trigger's trace context, written as the record's traceparent and
	// tracestate attributes; zero for none.
	Trace Trace
}

// Original is a message as received from JetStream.
type Original struct {
	// Subject is the subject the message was received on. Required.
	Subject string
	// Headers are the message headers ({name: [values]}); nil when there are none. A nil
	// value slice is written as an empty list.
	Headers map[string][]string
	// Body is the message body, byte for byte.
	Body []byte
}

// DeadLetterID returns the CloudEvents id (and Nats-Msg-Id) of the DLQ record of the
// message with stream sequence streamSeq whose trigger identity is key: "dlq-" + key + "-" +
// decimal streamSeq. It is deterministic, so a record published twice for one delivery (a
// crash between publish and Term) is dropped by JetStream, and unique per delivery: a
// redriven message gets a new stream sequence, hence a new record id.
//
// key is [Trigger.Key] or, for an invalid event, [InvalidError.Key]. When that is "" (id or
// source unreadable) the id is "dlq-" + decimal streamSeq; any other string that is not a
// key is replaced by its hex SHA-256, so the id is always printable ASCII.
func DeadLetterID(key string, streamSeq uint64) string {
	seq := strconv.FormatUint(streamSeq, 10)
	switch {
	case key == "":
		return "dlq-" + seq
	case !ValidKey(key):
		sum := sha256.Sum256([]byte(key))
		key = hex.EncodeToString(sum[:])
	}
	return "dlq-" + key + "-" + seq
}

type deadLetterData struct {
	EventID        string `json:"event_id,omitempty"`
	Reason         string `json:"reason"`
	Error          string `json:"error"`
	Attempts       int    `json:"attempts"`
	FirstAttemptAt string `json:"first_attempt_at,omitempty"`
	LastAttemptAt  string `json:"last_attempt_at,omitempty"`
	StreamSequence uint64 `json:"stream_sequence"`
}

type originalHead struct {
	Subject string              `json:"subject"`
	Headers map[string][]string `json:"headers"`
}

// EncodeDeadLetter returns the JSON of the DLQ record d: a CloudEvent with the given id
// (see [DeadLetterID]), source [Source], type [TypeDeadLetter], time now (RFC 3339 UTC),
// datacontenttype application/json, dataschema [SchemaURI] of the type, d.Trace as
// traceparent and tracestate, and data {event_id, reason, error, attempts,
// first_attempt_at, last_attempt_at, stream_sequence, original {subject, headers, event |
// body_base64}}.
//
// The original body is embedded byte for byte as "event" when it is valid UTF-8 JSON (any
// value, white space included), else it is written as "body_base64" (standard encoding with
// padding). Either way [DecodeDeadLetter] gives the exact bytes back. It fails when id is
// empty or holds a control character, Reason or Original.Subject is empty, Attempts is
// negative, or now is zero.
func EncodeDeadLetter(id string, d DeadLetter, now time.Time) ([]byte, error) {
	if err := checkIdentity(id, "id"); err != nil {
		return nil, fmt.Errorf("encode dead letter: invalid id %s", quote(id))
	}
	switch {
	case d.Reason == "":
		return nil, errors.New("encode dead letter: empty reason")
	case d.Original.Subject == "":
		return nil, errors.New("encode dead letter: empty original subject")
	case d.Attempts < 0:
		return nil, fmt.Errorf("encode dead letter: negative attempts %d", d.Attempts)
	case now.IsZero():
		return nil, errors.New("encode dead letter: zero time")
	}
	data := deadLetterData{
		EventID:        d.EventID,
		Reason:         d.Reason,
		Error:          d.Error,
		Attempts:       d.Attempts,
		StreamSequence: d.StreamSequence,
	}
	if !d.FirstAttemptAt.IsZero() {
		data.FirstAttemptAt = formatTime(d.FirstAttemptAt)
	}
	if !d.LastAttemptAt.IsZero() {
		data.LastAttemptAt = formatTime(d.LastAttemptAt)
	}
	headers := make(map[string][]string, len(d.Original.Headers))
	for k, v := range d.Original.Headers {
		if v == nil {
			v = []string{}
		}
		headers[k] = v
	}

	// Each part is a JSON object; its closing brace is dropped so that the next member can
	// be spliced in. encoding/json would compact an embedded json.RawMessage, and the
	// original body must stay untouched, so the record is assembled here.
	buf := make([]byte, 0, 512+len(d.Original.Body)*4/3)
	var err error
	for _, part := range []struct {
		v    any
		next string
	}{
		{newHeader(id, TypeDeadLetter, now, d.Trace), `,"data":`},
		{data, `,"original":`},
		{originalHead{Subject: d.Original.Subject, Headers: headers}, ""},
	} {
		if buf, err = appendJSON(buf, part.v); err != nil {
			return nil, fmt.Errorf("encode dead letter: %w", err)
		}
		buf = append(buf[:len(buf)-1], part.next...)
	}
	if utf8.Valid(d.Original.Body) && json.Valid(d.Original.Body) {
		buf = append(buf, `,"event":`...)
		buf = append(buf, d.Original.Body...)
	} else {
		buf = append(buf, `,"body_base64":"`...)
		buf = base64.StdEncoding.AppendEncode(buf, d.Original.Body)
		buf = append(buf, '"')
	}
	return append(buf, "}}}"...), nil
}

// DecodeDeadLetter reads a DLQ record written by [EncodeDeadLetter]. Original.Body is the
// exact original bytes whether they were embedded as "event" or as "body_base64" (exactly
// one of the two must be present); Original.Headers is nil when empty.
func DecodeDeadLetter(body []byte) (*DeadLetter, error) {
	env, data, err := decodeOwn(body, TypeDeadLetter)
	if err != nil {
		return nil, fmt.Errorf("decode dead letter: %w", err)
	}
	var d struct {
		deadLetterData
		Original *struct {
			originalHead
			BodyBase64 *string `json:"body_base64"`
		} `json:"original"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("decode dead letter: data: %w", err)
	}
	if d.Reason == "" {
		return nil, errors.New("decode dead letter: missing data.reason")
	}
	if d.Original == nil || d.Original.Subject == "" {
		return nil, errors.New("decode dead letter: missing data.original.subject")
	}
	dl := &DeadLetter{
		EventID:        d.EventID,
		Reason:         d.Reason,
		Error:          d.Error,
		Attempts:       d.Attempts,
		StreamSequence: d.StreamSequence,
		Original:       Original{Subject: d.Original.Subject},
		Trace:          env.Trace,
	}
	if len(d.Original.Headers) > 0 {
		dl.Original.Headers = d.Original.Headers
	}
	if d.FirstAttemptAt != "" {
		if dl.FirstAttemptAt, err = parseTime(d.FirstAttemptAt, "data.first_attempt_at"); err != nil {
			return nil, fmt.Errorf("decode dead letter: %w", err)
		}
	}
	if d.LastAttemptAt != "" {
		if dl.LastAttemptAt, err = parseTime(d.LastAttemptAt, "data.last_attempt_at"); err != nil {
			return nil, fmt.Errorf("decode dead letter: %w", err)
		}
	}
	event, found, err := memberSpan(body, "data", "original", "event")
	if err != nil {
		return nil, fmt.Errorf("decode dead letter: %w", err)
	}
	switch {
	case found && d.Original.BodyBase64 != nil:
		return nil, errors.New("decode dead letter: data.original has both event and body_base64")
	case found:
		dl.Original.Body = event
	case d.Original.BodyBase64 != nil:
		if dl.Original.Body, err = base64.StdEncoding.DecodeString(*d.Original.BodyBase64); err != nil {
			return nil, fmt.Errorf("decode dead letter: data.original.body_base64: %w", err)
		}
	default:
		return nil, errors.New("decode dead letter: data.original has neither event nor body_base64")
	}
	return dl, nil
}

// memberSpan finds the member at path (nested object member names, case-sensitive, first
// occurrence) in the JSON object doc and returns a copy of the exact bytes of its value,
// including the white space around it: everything between the colon and the following
// comma or closing brace.
func memberSpan(doc []byte, path ...string) ([]byte, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	for depth, name := range path {
		tok, err := dec.Token()
		if err != nil {
			return nil, false, err
		}
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return nil, false, nil
		}
		for {
			if !dec.More() {
				return nil, false, nil
			}
			tok, err := dec.Token()
			if err != nil {
				return nil, false, err
			}
			if tok != name {
				if err := dec.Decode(new(skipValue)); err != nil {
					return nil, false, err
				}
				continue
			}
			if depth < len(path)-1 {
				break // descend into this member's value
			}
			start := int(dec.InputOffset()) // just after the name's closing quote
			for start < len(doc) && isJSONSpace(doc[start]) {
				start++
			}
			if start >= len(doc) || doc[start] != ':' {
				return nil, false, io.ErrUnexpectedEOF
			}
			start++
			if err := dec.Decode(new(skipValue)); err != nil {
				return nil, false, err
			}
			end := int(dec.InputOffset())
			for end < len(doc) && isJSONSpace(doc[end]) {
				end++
			}
			return bytes.Clone(doc[start:end]), true, nil
		}
	}
	return nil, false, nil
}
