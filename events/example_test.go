package events_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/scaworker/scaworker/events"
)

func ExampleSubjects_Decode() {
	s := events.DefaultSubjects()
	body := []byte(`{
		"specversion": "1.0",
		"id": "7f1c",
		"source": "https://users.example.com",
		"type": "user.created",
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"data": {"user_id": "user_42", "category": "owner", "locale": "sv-SE"}
	}`)
	tr, err := s.Decode("sca.events.user.created", body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tr.Type, tr.UserID, tr.Category, tr.Locale)
	fmt.Println(len(tr.Key()), tr.Key() == events.KeyOf("https://users.example.com", "7f1c"))

	// The same event on another trigger subject is refused.
	_, err = s.Decode("sca.events.session.failed", body)
	var invalid *events.InvalidError
	if errors.As(err, &invalid) {
		fmt.Println(invalid.EventID, "-", invalid.Reason)
	}
	// Output:
	// user.created user_42 OWNER sv-SE
	// 64 true
	// 7f1c - type "user.created" does not match subject "sca.events.session.failed" (which carries "sca.session.failed")
}

func ExampleEncodeLinkSend() {
	key := events.KeyOf("mangopay", "abc")
	id, body, err := events.EncodeLinkSend(key, events.LinkSend{
		UserID:      "user_42",
		RedirectURL: "https://sca.mangopay.com/?token=T&returnUrl=https%3A%2F%2Fapp.example.com&lang=se",
		ExpiresAt:   time.Date(2025, 11, 25, 20, 36, 0, 0, time.UTC),
		Trigger:     events.Ref{Type: events.TypeSessionExpired, Source: "mangopay", ID: "abc"},
	}, time.Date(2025, 11, 25, 20, 26, 0, 0, time.UTC))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(id)
	fmt.Println(string(body))
	// Output:
	// link-7ff13d4201e174dba129b4658c6614b61bffb92d4063b88d58c3344564fd3287
	// {"specversion":"1.0","id":"link-7ff13d4201e174dba129b4658c6614b61bffb92d4063b88d58c3344564fd3287","source":"scaworker","type":"sca.link.send","time":"2025-11-25T20:26:00Z","datacontenttype":"application/json","dataschema":"https://raw.githubusercontent.com/scaworker/scaworker/main/docs/schemas/sca.link.send.json","data":{"user_id":"user_42","redirect_url":"https://sca.mangopay.com/?token=T&returnUrl=https%3A%2F%2Fapp.example.com&lang=se","expires_at":"2025-11-25T20:36:00Z","trigger":{"type":"sca.session.expired","source":"mangopay","id":"abc"}}}
}
