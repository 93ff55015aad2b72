package events

import (
	"bytes"
	"errors"
	"net/mail"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/language"
)

func FuzzDecode(f *testing.F) {
	s := DefaultSubjects()
	for _, subject := range s.Triggers() {
		f.Add(subject, []byte(typicalUserCreated))
	}
	f.Add(subjUserCreated, []byte(`{"specversion":"1.0","id":"1","source":"s","type":"user.created","data":{"user_id":"u","category":"pLaTfOrM"}}`))
	f.Add("sca.events.session.expired", []byte(`{"specversion":"1.0","id":"1","source":"s","type":"sca.session.expired","data":{"user_id":"u","occurred_at":"2025-01-01T00:00:00Z"}}`))
	f.Add(subjUserCreated, []byte(`{"specversion":1.0,"id":"1","source":"s","type":"user.created","data":null}`))
	f.Add(subjUserCreated, []byte(`{"specversion":"1.0","id":"1","id":"2","source":"s","type":"user.created","data":{"user_id":"u"}}`))
	f.Add(subjUserCreated, []byte(`{"specversion":"1.0","id":"`+strings.Repeat("i", MaxIdentityLen+1)+`","source":"s","type":"user.created","data":{"user_id":"u"}}`))
	f.Add(subjUserCreated, []byte(`{"specversion":"1.0","id":"1","source":"s","type":"user.created","data":{"user_id":"u","email":"ada+accept@example.com","locale":"zh-Hant-TW"}}`))
	f.Add(subjUserCreated, []byte(`{"specversion":"1.0","id":"1","source":"s","type":"user.created","data":{"user_id":"u","email":"Ada <ada@example.com>","locale":"en US"}}`))
	f.Add(subjUserCreated, []byte(`[]`))
	f.Add("", []byte(``))
	f.Fuzz(func(t *testing.T, subject string, body []byte) {
		tr, err := s.Decode(subject, body)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.Reason == "" {
				t.Fatalf("Decode() error = %#v, want *InvalidError with a reason", err)
			}
			if tr != nil {
				t.Fatalf("Decode() = %+v with error %v", tr, err)
			}
			if ie.Key != "" && !ValidKey(ie.Key) {
				t.Fatalf("InvalidError.Key = %q, want a key or empty", ie.Key)
			}
			if len(ie.EventID) > MaxIdentityLen || !utf8.ValidString(ie.EventID) {
				t.Fatalf("InvalidError.EventID is %d bytes (valid UTF-8: %v), want at most %d", len(ie.EventID), utf8.ValidString(ie.EventID), MaxIdentityLen)
			}
			return
		}
		if !ValidUserID(tr.UserID) {
			t.Fatalf("Decode() accepted user id %q", tr.UserID)
		}
		if want, ok := s.TypeFor(subject); !ok || tr.Type != want {
			t.Fatalf("Decode() type %q on subject %q, want %q (%v)", tr.Type, subject, want, ok)
		}
		if len(body) > MaxBodySize || !utf8.Valid(body) {
			t.Fatalf("Decode() accepted a %d-byte body (valid UTF-8: %v)", len(body), utf8.Valid(body))
		}
		if tr.ID == "" || tr.Source == "" || checkIdentity(tr.ID, "id") != nil || checkIdentity(tr.Source, "source") != nil {
			t.Fatalf("Decode() accepted id %q, source %q", tr.ID, tr.Source)
		}
		if len(tr.ID) > MaxIdentityLen || len(tr.Source) > MaxIdentityLen {
			t.Fatalf("Decode() accepted a %d-byte id and a %d-byte source", len(tr.ID), len(tr.Source))
		}
		if tr.Email != "" {
			if a, err := mail.ParseAddress(tr.Email); err != nil || a.Name != "" || a.Address != tr.Email || len(tr.Email) > MaxEmailLen {
				t.Fatalf("Decode() accepted email %q", tr.Email)
			}
		}
		if tr.Locale != "" {
			if _, err := language.Parse(tr.Locale); err != nil {
				t.Fatalf("Decode() accepted locale %q: %v", tr.Locale, err)
			}
		}
		switch tr.Category {
		case "", CategoryOwner, CategoryPayer, CategoryPlatform:
		default:
			t.Fatalf("Decode() category %q", tr.Category)
		}
		switch tr.PersonType {
		case "", PersonNatural, PersonLegal:
		default:
			t.Fatalf("Decode() person type %q", tr.PersonType)
		}
		if !ValidKey(tr.Key()) {
			t.Fatalf("Key() = %q", tr.Key())
		}
	})
}

// FuzzDeadLetter checks that any body survives a DLQ record byte for byte.
func FuzzDeadLetter(f *testing.F) {
	f.Add([]byte(typicalUserCreated))
	f.Add([]byte(" {\"a\" : 1}\n"))
	f.Add([]byte("1 "))
	f.Add([]byte("\xff"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		d := DeadLetter{Reason: ReasonInvalidEvent, Original: Original{Subject: "a.b", Body: body}}
		enc, err := EncodeDeadLetter("dlq-1", d, testNow)
		if err != nil {
			t.Fatalf("EncodeDeadLetter() error = %v", err)
		}
		got, err := DecodeDeadLetter(enc)
		if err != nil {
			t.Fatalf("DecodeDeadLetter(%q) error = %v", enc, err)
		}
		if !bytes.Equal(got.Original.Body, body) {
			t.Fatalf("DecodeDeadLetter() body = %q, want %q", got.Original.Body, body)
		}
	})
}
