package events

import (
	"encoding/json"
	"fmt"
	"mime"
	"time"
	"unicode/utf8"
)

// Envelope holds the context attributes of any CloudEvent in structured JSON mode.
type Envelope struct {
	// ID is the CloudEvents id.
	ID string
	// Source is the CloudEvents source.
	Source string
	// Type is the CloudEvents type.
	Type string
	// Time is the CloudEvents time in UTC; zero when absent.
	Time time.Time
	// DataContentType is the datacontenttype attribute; "" when absent.
	DataContentType string
	// Trace is the traceparent and tracestate extension; zero when absent or malformed.
	Trace Trace
}

// DecodeEnvelope reads the context attributes of a CloudEvent of any type (for example a
// send-link event or a DLQ record when listing them). It requires specversion "1.0", id,
// source and type as non-empty strings, and time, when present, in RFC 3339; it does not
// look at data. Errors are [*InvalidError]s, with EventID set when the id could be read.
func DecodeEnvelope(body []byte) (*Envelope, error) {
	env, _, err := decodeEnvelope(body)
	return env, err
}

// decodeEnvelope is DecodeEnvelope that also returns the raw data member (nil when absent
// or null).
func decodeEnvelope(body []byte) (*Envelope, json.RawMessage, error) {
	if !utf8.Valid(body) {
		return nil, nil, &InvalidError{Reason: "body is not valid UTF-8"}
	}
	attrs, dup, err := readObject(body, "body", "specversion", "id", "source", "type", "time", "datacontenttype", "data", "traceparent", "tracestate")
	if err != nil {
		return nil, nil, &InvalidError{Reason: err.Error()}
	}
	ie := &InvalidError{}
	id, idErr := identityAttr(attrs[1], "id")
	if idErr == nil && dup != "id" {
		ie.EventID = id
	}
	fail := func(err error) (*Envelope, json.RawMessage, error) {
		ie.Reason = err.Error()
		return nil, nil, ie
	}
	if dup != "" {
		return fail(fmt.Errorf("body has member %q twice", dup))
	}
	if err := checkSpecVersion(attrs[0]); err != nil {
		return fail(err)
	}
	if idErr != nil {
		return fail(idErr)
	}
	source, err := identityAttr(attrs[2], "source")
	if err != nil {
		return fail(err)
	}
	ie.Key = KeyOf(source, id)
	env := &Envelope{ID: id, Source: source, Trace: traceOf(attrs[7], attrs[8])}
	if isNull(attrs[3]) {
		return fail(errorString("missing attribute type"))
	}
	if env.Type, err = stringValue(attrs[3], "attribute type"); err != nil {
		return fail(err)
	}
	if env.Type == "" {
		return fail(errorString("attribute type is empty"))
	}
	if !isNull(attrs[4]) {
		v, err := stringValue(attrs[4], "attribute time")
		if err != nil {
			return fail(err)
		}
		if env.Time, err = parseTime(v, "attribute time"); err != nil {
			return fail(err)
		}
	}
	if !isNull(attrs[5]) {
		if env.DataContentType, err = stringValue(attrs[5], "attribute datacontenttype"); err != nil {
			return fail(err)
		}
	}
	var data json.RawMessage
	if !isNull(attrs[6]) {
		data = attrs[6]
	}
	return env, data, nil
}

// decodeOwn decodes one of scaworker's own events: envelope of type typ, JSON data object.
func decodeOwn(body []byte, typ string) (*Envelope, json.RawMessage, error) {
	env, data, err := decodeEnvelope(body)
	if err != nil {
		return nil, nil, err
	}
	if env.Type != typ {
		return nil, nil, fmt.Errorf("type %s, want %q", quote(env.Type), typ)
	}
	if env.DataContentType != "" {
		if mt, _, err := mime.ParseMediaType(env.DataContentType); err != nil || mt != ContentTypeJSON {
			return nil, nil, fmt.Errorf("datacontenttype %s, want %q", quote(env.DataContentType), ContentTypeJSON)
		}
	}
	if len(data) == 0 || data[0] != '{' {
		return nil, nil, fmt.Errorf("data must be a JSON object, got %s", kindOf(data))
	}
	return env, data, nil
}

// header is the context attributes scaworker writes, in wire order.
type header struct {
	SpecVersion     string `json:"specversion"`
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            string `json:"type"`
	Time            string `json:"time"`
	DataContentType string `json:"datacontenttype"`
	DataSchema      string `json:"dataschema"`
	TraceParent     string `json:"traceparent,omitempty"`
	TraceState      string `json:"tracestate,omitempty"`
}

// newHeader is the header of an event scaworker publishes, carrying trace (of the
// trigger it answers; the zero Trace for none).
func newHeader(id, typ string, now time.Time, trace Trace) header {
	return header{
		SpecVersion:     SpecVersion,
		ID:              id,
		Source:          Source,
		Type:            typ,
		Time:            formatTime(now),
		DataContentType: ContentTypeJSON,
		DataSchema:      SchemaURI(typ),
		TraceParent:     trace.Parent,
		TraceState:      trace.State,
	}
}
