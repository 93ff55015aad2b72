package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	testNow    = time.Date(2025, 11, 25, 20, 26, 1, 123_000_000, time.FixedZone("CET", 3600))
	testMinted = time.Date(2025, 11, 25, 19, 26, 0, 987_000_000, time.UTC)
)

func testLinkSend() LinkSend {
	return LinkSend{
		UserID:      "user_m_01HZX3K9Q2",
		RedirectURL: "https://sca.sandbox.mangopay.com/?token=0123456789abcdef0123456789abcdef&returnUrl=https%3A%2F%2Fapp.example.com%2Fsca%3Fa%3D1%26b%3D%3C2%3E&lang=fr",
		ExpiresAt:   testMinted.Add(10 * time.Minute),
		Trigger:     Ref{Type: TypeUserCreated, Source: "https://users.example.com/v1", ID: "0b9d3c1e-6f7a-4c55-9a51-2f7c1d8e4b20"},
		Locale:      "fr-FR",
		Email:       "ada@example.com",
		Trace:       testTrace,
	}
}

// testTrace is the W3C specification's example trace context.
var testTrace = Trace{Parent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", State: "congo=t61rcWkgMzE"}

func TestEncodeLinkSendGolden(t *testing.T) {
	t.Parallel()
	l := testLinkSend()
	key := KeyOf(l.Trigger.Source, l.Trigger.ID)
	id, body, err := EncodeLinkSend(key, l, testNow)
	if err != nil {
		t.Fatalf("EncodeLinkSend() error = %v", err)
	}
	if want := "link-" + key; id != want {
		t.Errorf("EncodeLinkSend() id = %q, want %q", id, want)
	}
	checkGolden(t, "linksend", body)

	l.Locale, l.Email = "", ""
	_, body, err = EncodeLinkSend(key, l, testNow)
	if err != nil {
		t.Fatalf("EncodeLinkSend() error = %v", err)
	}
	checkGolden(t, "linksend_minimal", body)
	if strings.Contains(string(body), `"email"`) || strings.Contains(string(body), `"locale"`) {
		t.Errorf("EncodeLinkSend() = %s, want email and locale omitted when empty", body)
	}
}

func TestEncodeLinkSendRoundTrip(t *testing.T) {
	t.Parallel()
	l := testLinkSend()
	key := KeyOf(l.Trigger.Source, l.Trigger.ID)
	id, body, err := EncodeLinkSend(key, l, testNow)
	if err != nil {
		t.Fatalf("EncodeLinkSend() error = %v", err)
	}
	if !json.Valid(body) {
		t.Fatalf("EncodeLinkSend() = %s, not valid JSON", body)
	}
	env, err := DecodeEnvelope(body)
	if err != nil {
		t.Fatalf("DecodeEnvelope() error = %v", err)
	}
	wantEnv := Envelope{ID: id, Source: Source, Type: TypeLinkSend, Time: testNow.UTC(), DataContentType: ContentTypeJSON, Trace: l.Trace}
	if *env != wantEnv {
		t.Errorf("DecodeEnvelope() = %+v, want %+v", *env, wantEnv)
	}
	got, err := DecodeLinkSend(body)
	if err != nil {
		t.Fatalf("DecodeLinkSend() error = %v", err)
	}
	want := l
	want.ExpiresAt = l.ExpiresAt.Truncate(time.Second) // whole seconds on the wire, never later
	if !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("DecodeLinkSend() ExpiresAt = %v, want %v", got.ExpiresAt, want.ExpiresAt)
	}
	got.ExpiresAt = want.ExpiresAt
	if *got != want {
		t.Errorf("DecodeLinkSend() = %+v, want %+v", *got, want)
	}
	// Same trigger, later attempt: same id (JetStream dedupe).
	id2, _, err := EncodeLinkSend(key, l, testNow.Add(time.Hour))
	if err != nil || id2 != id {
		t.Errorf("EncodeLinkSend() later id = %q, %v, want %q, nil", id2, err, id)
	}
}

func TestEncodeLinkSendErrors(t *testing.T) {
	t.Parallel()
	key := KeyOf("s", "i")
	tests := []struct {
		name   string
		key    string
		modify func(*LinkSend)
		now    time.Time
		want   string
	}{
		{"short key", key[:32], func(*LinkSend) {}, testNow, "key"},
		{"upper-case key", strings.ToUpper(key), func(*LinkSend) {}, testNow, "key"},
		{"bad user id", key, func(l *LinkSend) { l.UserID = "a/b" }, testNow, "user id"},
		{"empty link", key, func(l *LinkSend) { l.RedirectURL = "" }, testNow, "redirect url"},
		{"zero expiry", key, func(l *LinkSend) { l.ExpiresAt = time.Time{} }, testNow, "expiry"},
		{"no trigger id", key, func(l *LinkSend) { l.Trigger.ID = "" }, testNow, "trigger"},
		{"zero now", key, func(*LinkSend) {}, time.Time{}, "time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := testLinkSend()
			tt.modify(&l)
			_, _, err := EncodeLinkSend(tt.key, l, tt.now)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("EncodeLinkSend() error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestDecodeLinkSendErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string
	}{
		{"not JSON", `nope`, "not valid JSON"},
		{"wrong type", `{"specversion":"1.0","id":"x","source":"scaworker","type":"user.created","data":{}}`, "type"},
		{"data array", `{"specversion":"1.0","id":"x","source":"scaworker","type":"sca.link.send","data":[]}`, "object"},
		{"bad user id", `{"specversion":"1.0","id":"x","source":"scaworker","type":"sca.link.send","data":{"user_id":"a b","redirect_url":"https://x","expires_at":"2025-11-25T20:00:00Z","trigger":{"type":"t","source":"s","id":"i"}}}`, "user_id"},
		{"no link", `{"specversion":"1.0","id":"x","source":"scaworker","type":"sca.link.send","data":{"user_id":"u","expires_at":"2025-11-25T20:00:00Z","trigger":{"type":"t","source":"s","id":"i"}}}`, "redirect_url"},
		{"bad expiry", `{"specversion":"1.0","id":"x","source":"scaworker","type":"sca.link.send","data":{"user_id":"u","redirect_url":"https://x","expires_at":"soon","trigger":{"type":"t","source":"s","id":"i"}}}`, "expires_at"},
		{"no trigger", `{"specversion":"1.0","id":"x","source":"scaworker","type":"sca.link.send","data":{"user_id":"u","redirect_url":"https://x","expires_at":"2025-11-25T20:00:00Z"}}`, "trigger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeLinkSend([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("DecodeLinkSend() error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	_, err := DecodeLinkSend([]byte(`{"specversion":"1.0","id":"x\n","source":"scaworker","type":"sca.link.send","data":{}}`))
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Errorf("DecodeLinkSend(bad envelope) error = %v, want it to wrap *InvalidError", err)
	}
}
