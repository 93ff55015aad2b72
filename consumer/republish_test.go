package consumer_test

import (
	"encoding/json"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
)

// A republished copy keeps the publisher's headers and none of
// JetStream's, replay's or redrive's; its body changes only in id and
// lineage extension.
func TestRepublish(t *testing.T) {
	t.Parallel()
	h := consumer.RepublishHeader(map[string][]string{
		"Nats-Msg-Id": {"e1"}, "nats-expected-stream": {"S"}, "Traceparent": {"00-ab"}, "X-Tenant": {"a", "b"},
		consumer.HeaderReplay: {"r-1"}, consumer.HeaderReplayOf: {"e0"},
		consumer.HeaderRedriveOf: {"e0"}, consumer.HeaderRedriveCount: {"2"},
	})
	want := nats.Header{"Traceparent": {"00-ab"}, "X-Tenant": {"a", "b"}}
	if len(h) != len(want) || h.Get("Traceparent") != "00-ab" || len(h.Values("X-Tenant")) != 2 {
		t.Errorf("RepublishHeader() = %v, want %v", h, want)
	}

	body := []byte(`{"specversion":"1.0","id":"e1","source":"/users","type":"user.created","data":{"user_id":"u<1>&"}}`)
	out, err := consumer.RewriteID(body, "e1.redrive-1", consumer.ExtRedriveOf, "e1")
	if err != nil {
		t.Fatalf("RewriteID: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got["id"] != "e1.redrive-1" || got[consumer.ExtRedriveOf] != "e1" || got["source"] != "/users" ||
		got["data"].(map[string]any)["user_id"] != "u<1>&" || len(got) != 6 {
		t.Errorf("RewriteID() = %s", out)
	}
	for _, bad := range []string{"not json", "[1]", "null"} {
		if _, err := consumer.RewriteID([]byte(bad), "x", consumer.ExtReplayOf, "y"); err == nil {
			t.Errorf("RewriteID(%q) succeeded, want an error", bad)
		}
	}
}

// The lineage rule: only plain triggers reopen; copies and redriven
// originals never do, nor links or unpublished outcomes.
func TestReopens(t *testing.T) {
	t.Parallel()
	if got := consumer.RedriveOf(nats.Header{consumer.HeaderRedriveOf: {"e1"}}, "e1.redrive-1"); got != "e1" {
		t.Errorf("RedriveOf(copy) = %q, want e1", got)
	}
	if got := consumer.RedriveOf(nats.Header{consumer.HeaderRedriveOf: {"e1"}}, "e1"); got != "" {
		t.Errorf("RedriveOf(itself) = %q, want none", got)
	}
	for _, tc := range []struct {
		name      string
		redriveOf string
		e         *consumer.LedgerEntry
		want      bool
	}{
		{"skip", "", &consumer.LedgerEntry{Outcome: events.OutcomeSkip}, true},
		{"dlq", "", &consumer.LedgerEntry{Outcome: events.OutcomeDLQ}, true},
		{"state", "", &consumer.LedgerEntry{Outcome: events.OutcomeState}, true},
		{"link", "", &consumer.LedgerEntry{Outcome: events.OutcomeLink}, false},
		{"duplicate copy", "", &consumer.LedgerEntry{Outcome: events.OutcomeDuplicate}, false},
		{"dlq not published", "", &consumer.LedgerEntry{Outcome: events.OutcomeDLQ, Pending: &consumer.PendingEvent{}}, false},
		{"redriven original", "", &consumer.LedgerEntry{Outcome: events.OutcomeDLQ, RedrivenTo: "e.redrive-1"}, false},
		{"redrive copy", "e", &consumer.LedgerEntry{Outcome: events.OutcomeDLQ}, false},
		{"no entry", "", nil, false},
	} {
		if got := consumer.Reopens(tc.redriveOf, tc.e); got != tc.want {
			t.Errorf("%s: Reopens() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
