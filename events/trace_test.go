package events

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeTrace(t *testing.T) {
	t.Parallel()
	s := DefaultSubjects()
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ev := func(ext string) string {
		return `{"specversion":"1.0","id":"e-1","source":"svc","type":"user.created",` + ext + `"data":{"user_id":"u"}}`
	}
	tests := []struct {
		name string
		ext  string
		want Trace
	}{
		{"none", ``, Trace{}},
		{"parent", `"traceparent":"` + parent + `",`, Trace{Parent: parent}},
		{"parent and state", `"traceparent":"` + parent + `","tracestate":"congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",`, Trace{Parent: parent, State: "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"}},
		{"state without parent", `"tracestate":"congo=t61rcWkgMzE",`, Trace{}},
		{"state too long", `"traceparent":"` + parent + `","tracestate":"` + strings.Repeat("a", 513) + `",`, Trace{Parent: parent}},
		{"upper case", `"traceparent":"` + strings.ToUpper(parent) + `",`, Trace{}},
		{"version ff", `"traceparent":"ff` + parent[2:] + `",`, Trace{}},
		{"zero trace id", `"traceparent":"00-00000000000000000000000000000000-00f067aa0ba902b7-01",`, Trace{}},
		{"zero parent id", `"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",`, Trace{}},
		{"short", `"traceparent":"00-4bf92f35-00f067aa-01",`, Trace{}},
		{"not a string", `"traceparent":42,`, Trace{}},
		{"null", `"traceparent":null,`, Trace{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr, err := s.Decode(subjUserCreated, []byte(ev(tt.ext)))
			if err != nil {
				t.Fatalf("Decode() error = %v: a trace never makes an event invalid", err)
			}
			if tr.Trace != tt.want {
				t.Errorf("Decode() Trace = %+v, want %+v", tr.Trace, tt.want)
			}
		})
	}
	// An invalid event keeps its trace for its dead-letter record.
	_, err := s.Decode(subjUserCreated, []byte(`{"specversion":"1.0","id":"e-1","source":"svc","type":"user.created","traceparent":"`+parent+`","data":{"user_id":"a/b"}}`))
	var ie *InvalidError
	if !errors.As(err, &ie) || ie.Trace.Parent != parent {
		t.Errorf("Decode() of an invalid event = %v, want an InvalidError with the trace", err)
	}
}

func TestEncodedEventsCarryTraceAndSchema(t *testing.T) {
	t.Parallel()
	l := testLinkSend()
	_, body, err := EncodeLinkSend(KeyOf(l.Trigger.Source, l.Trigger.ID), l, testNow)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeLinkSend(body)
	if err != nil || got.Trace != testTrace {
		t.Errorf("DecodeLinkSend() Trace = %+v, %v; want %+v", got, err, testTrace)
	}
	if !strings.Contains(string(body), `"dataschema":"`+SchemaURI(TypeLinkSend)+`"`) {
		t.Errorf("send-link event has no dataschema: %s", body)
	}
	d := testDeadLetter([]byte(`{}`))
	body, err = EncodeDeadLetter(DeadLetterID(KeyOf("s", "i"), 1), d, testNow)
	if err != nil {
		t.Fatal(err)
	}
	dl, err := DecodeDeadLetter(body)
	if err != nil || dl.Trace != testTrace {
		t.Errorf("DecodeDeadLetter() Trace = %+v, %v; want %+v", dl, err, testTrace)
	}
	if !strings.Contains(string(body), `"dataschema":"`+SchemaURI(TypeDeadLetter)+`"`) {
		t.Errorf("dead-letter record has no dataschema: %s", body)
	}
	l.Trace = Trace{}
	_, body, _ = EncodeLinkSend(KeyOf(l.Trigger.Source, l.Trigger.ID), l, testNow)
	if strings.Contains(string(body), "traceparent") {
		t.Errorf("an event without trace writes a traceparent: %s", body)
	}
}
