package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Ref identifies the trigger that caused a send-link event.
type Ref struct {
	// Type is the trigger's CloudEvents type.
	Type string
	// Source is the trigger's CloudEvents source.
	Source string
	// ID is the trigger's CloudEvents id.
	ID string
}

// LinkSend is the data of a send-SCA-link event: what the platform's notification service
// needs to get the link to the user.
type LinkSend struct {
	// UserID is the Mangopay user id.
	UserID string
	// RedirectURL is the complete enrollment link (Mangopay's RedirectUrl with returnUrl and
	// lang appended). It holds the link's secret token: never log it.
	RedirectURL string
	// ExpiresAt is when the link dies. It is written in RFC 3339 UTC truncated to whole
	// seconds (never later than the real expiry), so a decoded value has no fraction.
	ExpiresAt time.Time
	// Trigger is the trigger that caused the link.
	Trigger Ref
	// Locale is the user's BCP 47 locale when known; omitted when "".
	Locale string
	// Email is the user's e-mail when known; omitted when "".
	Email string
	// Trace is the trigger's trace context, written as the event's traceparent and
	// tracestate attributes (not in data); zero for none.
	Trace Trace
}

// LinkSendID returns the CloudEvents id (and Nats-Msg-Id) of the send-link event of the
// trigger whose identity is key ([Trigger.Key]): "link-" followed by the 64 hex digits of
// key. It is the same for every attempt and replay of the trigger, so JetStream drops a
// republished copy.
func LinkSendID(key string) string {
	return "link-" + key
}

type refJSON struct {
	Type   string `json:"type"`
	Source string `json:"source"`
	ID     string `json:"id"`
}

type linkSendData struct {
	UserID      string  `json:"user_id"`
	RedirectURL string  `json:"redirect_url"`
	ExpiresAt   string  `json:"expires_at"`
	Trigger     refJSON `json:"trigger"`
	Locale      string  `json:"locale,omitempty"`
	Email       string  `json:"email,omitempty"`
}

type linkSendEvent struct {
	header
	Data linkSendData `json:"data"`
}

// EncodeLinkSend returns the id ([LinkSendID] of key) and the JSON of the send-link event for
// l: a CloudEvent with source [Source], type [TypeLinkSend], time now (RFC 3339 UTC),
// datacontenttype application/json, dataschema [SchemaURI] of the type, l.Trace as
// traceparent and tracestate, and data {user_id, redirect_url, expires_at, trigger
// {type, source, id}, locale, email}, locale and email omitted when empty. Characters such
// as "&" are not HTML-escaped. It fails when key is not a [KeyOf] result, the user id is not
// valid, the link or a trigger field is empty, or ExpiresAt or now is zero.
func EncodeLinkSend(key string, l LinkSend, now time.Time) (id string, body []byte, err error) {
	switch {
	case !ValidKey(key):
		return "", nil, errors.New("encode send-link event: key is not 64 lowercase hex digits")
	case !ValidUserID(l.UserID):
		return "", nil, fmt.Errorf("encode send-link event: invalid user id %s", quote(l.UserID))
	case l.RedirectURL == "":
		return "", nil, errors.New("encode send-link event: empty redirect url")
	case l.ExpiresAt.IsZero():
		return "", nil, errors.New("encode send-link event: zero expiry")
	case l.Trigger.Type == "" || l.Trigger.Source == "" || l.Trigger.ID == "":
		return "", nil, errors.New("encode send-link event: incomplete trigger reference")
	case now.IsZero():
		return "", nil, errors.New("encode send-link event: zero time")
	}
	id = LinkSendID(key)
	ev := linkSendEvent{
		header: newHeader(id, TypeLinkSend, now, l.Trace),
		Data: linkSendData{
			UserID:      l.UserID,
			RedirectURL: l.RedirectURL,
			ExpiresAt:   l.ExpiresAt.UTC().Truncate(time.Second).Format(time.RFC3339),
			Trigger:     refJSON(l.Trigger),
			Locale:      l.Locale,
			Email:       l.Email,
		},
	}
	body, err = appendJSON(nil, ev)
	if err != nil {
		return "", nil, fmt.Errorf("encode send-link event: %w", err)
	}
	return id, body, nil
}

// DecodeLinkSend reads a send-link event back (tests, the demo, the platform's side). It
// checks the envelope ([DecodeEnvelope]), the type [TypeLinkSend], and that data has a valid
// user_id, a redirect_url, an RFC 3339 expires_at and a complete trigger. Unknown members
// are ignored. Use [DecodeEnvelope] for the id and time.
func DecodeLinkSend(body []byte) (*LinkSend, error) {
	env, data, err := decodeOwn(body, TypeLinkSend)
	if err != nil {
		return nil, fmt.Errorf("decode send-link event: %w", err)
	}
	var d linkSendData
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("decode send-link event: data: %w", err)
	}
	l := &LinkSend{
		UserID:      d.UserID,
		RedirectURL: d.RedirectURL,
		Trigger:     Ref(d.Trigger),
		Locale:      d.Locale,
		Email:       d.Email,
		Trace:       env.Trace,
	}
	switch {
	case !ValidUserID(d.UserID):
		return nil, fmt.Errorf("decode send-link event: invalid data.user_id %s", quote(d.UserID))
	case d.RedirectURL == "":
		return nil, errors.New("decode send-link event: missing data.redirect_url")
	case d.Trigger.Type == "" || d.Trigger.Source == "" || d.Trigger.ID == "":
		return nil, errors.New("decode send-link event: incomplete data.trigger")
	}
	if l.ExpiresAt, err = parseTime(d.ExpiresAt, "data.expires_at"); err != nil {
		return nil, fmt.Errorf("decode send-link event: %w", err)
	}
	return l, nil
}
