package events

import (
	"fmt"
	"net/mail"
	"unicode/utf8"

	"golang.org/x/text/language"
)

// MaxIdentityLen is the longest id or source, in bytes, that [Subjects.Decode] accepts. The
// id is repeated in every log line about a trigger and in its dead-letter record.
const MaxIdentityLen = 256

// MaxEmailLen is the longest data.email, in bytes, that [Subjects.Decode] accepts: RFC 5321's
// 256-byte path less its angle brackets.
const MaxEmailLen = 254

// checkIdentityLen refuses an id or source over MaxIdentityLen bytes. The reason quotes at
// most maxQuoted bytes of it.
func checkIdentityLen(v, name string) error {
	if len(v) > MaxIdentityLen {
		return fmt.Errorf("attribute %s is too long: %d bytes, over the %d-byte limit (starts %s)", name, len(v), MaxIdentityLen, quote(v))
	}
	return nil
}

// shownID is the id an [InvalidError] carries for an event whose id is readable: the id
// itself, or, when it is over MaxIdentityLen bytes, its first maxQuoted bytes (cut on a rune
// boundary) and "…", so that logs and dead-letter records stay small.
func shownID(id string) string {
	if len(id) <= MaxIdentityLen {
		return id
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(id[cut]) {
		cut--
	}
	return id[:cut] + "…"
}

// checkEmail requires a bare e-mail address: what [mail.ParseAddress] reads as an address
// and nothing else (no display name, comment, angle brackets or surrounding space), at most
// MaxEmailLen bytes. The reason never quotes the address: it is personal data.
func checkEmail(s string) error {
	if len(s) > MaxEmailLen {
		return fmt.Errorf("data.email is too long: %d bytes, over the %d-byte limit", len(s), MaxEmailLen)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return errorString("data.email is not a valid e-mail address: want a bare address such as name@example.com, without a display name or angle brackets")
	}
	return nil
}

// checkLocale requires a BCP 47 language tag as [language.Parse] reads it: well-formed
// (RFC 5646 syntax; '_' is taken for '-', as that parser does) and made of registered
// subtags.
func checkLocale(s string) error {
	if _, err := language.Parse(s); err != nil {
		return fmt.Errorf("data.locale %s is not a valid BCP 47 language tag such as fr-FR (%v)", quote(s), err)
	}
	return nil
}
