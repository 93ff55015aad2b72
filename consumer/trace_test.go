package consumer_test

import (
	"testing"

	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
)

// A trigger's W3C trace context travels to its send-link event and to its
// dead-letter record, and shows on the log lines about it.
func TestTraceContextIsCarried(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{})
	const (
		linked = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		dead   = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
	)
	subject := events.DefaultSubjects().UserCreated
	w.Publish(subject, []byte(`{"specversion":"1.0","id":"traced-1","source":"/users","type":"user.created",`+
		`"traceparent":"`+linked+`","tracestate":"congo=t61rcWkgMzE","data":{"user_id":"user_m_owner_natural","category":"OWNER"}}`), "traced-1")
	w.Publish(subject, []byte(`{"specversion":"1.0","id":"traced-2","source":"/users","type":"user.created",`+
		`"traceparent":"`+dead+`","data":{"user_id":"not/valid"}}`), "traced-2")
	if o := w.OutcomeFor("traced-1"); o.Outcome != events.OutcomeLink {
		t.Fatalf("traced-1 = %+v, want a link", o)
	}
	if o := w.OutcomeFor("traced-2"); o.Reason != events.ReasonInvalidEvent {
		t.Fatalf("traced-2 = %+v, want invalid_event", o)
	}
	links := w.Links()
	if len(links) != 1 || links[0].Trace != (events.Trace{Parent: linked, State: "congo=t61rcWkgMzE"}) {
		t.Errorf("send-link events = %+v, want one carrying the trigger's traceparent and tracestate", links)
	}
	dls := w.DeadLetters()
	if len(dls) != 1 || dls[0].Trace.Parent != dead {
		t.Errorf("dead letters = %+v, want one carrying the trigger's traceparent", dls)
	}
	for id, parent := range map[string]string{"traced-1": linked, "traced-2": dead} {
		lines := 0
		for _, e := range w.Logs.All() {
			if e.ContextMap()["event_id"] != id {
				continue
			}
			lines++
			if e.ContextMap()["traceparent"] != parent {
				t.Errorf("log line %q about %s has traceparent %v, want %s", e.Message, id, e.ContextMap()["traceparent"], parent)
			}
		}
		if lines == 0 {
			t.Errorf("no log line about %s", id)
		}
	}
}
