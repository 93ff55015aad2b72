package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"strings"
	"time"
	"unicode/utf8"
)

// Trigger is a validated trigger event: a CloudEvent of one of the four trigger types,
// received on the subject of its type. See [Subjects.Decode].
type Trigger struct {
	// ID is the CloudEvents id. 1 to [MaxIdentityLen] bytes, no control characters.
	ID string
	// Source is the CloudEvents source. 1 to [MaxIdentityLen] bytes, no control characters.
	Source string
	// Type is the CloudEvents type, one of the four trigger types.
	Type string
	// Time is the CloudEvents time, in UTC; zero when absent.
	Time time.Time

	// UserID is data.user_id, a valid Mangopay user id (see [ValidUserID]).
	UserID string
	// Category is data.category upper-cased ([CategoryOwner], [CategoryPayer] or
	// [CategoryPlatform]); "" when absent.
	Category string
	// PersonType is data.person_type upper-cased ([PersonNatural] or [PersonLegal]);
	// "" when absent.
	PersonType string
	// Email is data.email as sent: a bare e-mail address of at most [MaxEmailLen] bytes;
	// "" when absent.
	Email string
	// Locale is data.locale as sent: a BCP 47 language tag; "" when absent.
	Locale string
	// OccurredAt is data.occurred_at, in UTC; zero when absent.
	OccurredAt time.Time
	// Trace is the traceparent and tracestate extension ([Trace]); zero when absent or
	// malformed (a malformed one does not make the event invalid).
	Trace Trace
}

// Key returns the trigger's identity, [KeyOf](t.Source, t.ID): everything that must be
// unique per trigger (ledger entry, Idempotency-Key, outgoing message ids) derives from it.
func (t *Trigger) Key() string {
	return KeyOf(t.Source, t.ID)
}

// Ref returns the reference to this trigger carried by its send-link event.
func (t *Trigger) Ref() Ref {
	return Ref{Type: t.Type, Source: t.Source, ID: t.ID}
}

// KeyOf returns the identity key of the CloudEvent (source, id): 64 lowercase hex digits of
//
//	SHA-256( uint64be(len(source)) || source || uint64be(len(id)) || id )
//
// where lengths are byte counts. The length prefixes make the framing unambiguous: no two
// distinct pairs share an input.
func KeyOf(source, id string) string {
	var sum [sha256.Size]byte
	if n := 16 + len(source) + len(id); n <= keyInputMax {
		// The common case, hashed from the stack: a valid id and source fit.
		var in [keyInputMax]byte
		binary.BigEndian.PutUint64(in[:], uint64(len(source)))
		copy(in[8:], source)
		binary.BigEndian.PutUint64(in[8+len(source):], uint64(len(id)))
		copy(in[16+len(source):], id)
		sum = sha256.Sum256(in[:n])
	} else {
		h := sha256.New()
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(source)))
		h.Write(n[:])
		h.Write([]byte(source))
		binary.BigEndian.PutUint64(n[:], uint64(len(id)))
		h.Write(n[:])
		h.Write([]byte(id))
		h.Sum(sum[:0])
	}
	var key [2 * sha256.Size]byte
	hex.Encode(key[:], sum[:])
	return string(key[:])
}

// keyInputMax is the longest input KeyOf hashes from the stack: the
// framing of an id and a source of MaxIdentityLen bytes each.
const keyInputMax = 16 + 2*MaxIdentityLen

// ValidKey reports whether key looks like a [KeyOf] result: 64 lowercase hex digits.
func ValidKey(key string) bool {
	if len(key) != sha256.Size*2 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// MaxUserIDLen is the longest valid Mangopay user id.
const MaxUserIDLen = 128

// ValidUserID reports whether id is a valid Mangopay user id: 1 to 128 characters of
// [A-Za-z0-9_-]. Anything else must never reach a URL path.
func ValidUserID(id string) bool {
	if len(id) == 0 || len(id) > MaxUserIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// InvalidError is why [Subjects.Decode] refused an event. Such an event is dead-lettered
// at once with reason [ReasonInvalidEvent]; redelivery cannot fix it.
type InvalidError struct {
	// Reason is human text naming what was wrong, e.g. "missing attribute id" or
	// `type "user.created" does not match subject "sca.events.session.failed"`. It quotes at
	// most 64 bytes of an offending value and never quotes data.email.
	Reason string
	// EventID is the event's id when it could be read (a non-empty string without control
	// characters), else "". An id over [MaxIdentityLen] bytes is cut to its first 64 bytes
	// followed by "…", so that log lines stay small. The DLQ record carries it as event_id.
	EventID string
	// Key is KeyOf(source, id) when both could be read (even when one is too long), else "".
	// Use it with [DeadLetterID].
	Key string
	// Trace is the event's trace context when it could be read, for its dead-letter record.
	Trace Trace
}

// Error returns "invalid event: " followed by the reason.
func (e *InvalidError) Error() string {
	return "invalid event: " + e.Reason
}

// Top-level members Decode reads, in this order.
const (
	attrSpecVersion = iota
	attrID
	attrSource
	attrType
	attrTime
	attrDataContentType
	attrData
	attrDataBase64
	attrTraceParent
	attrTraceState
)

// Members of data Decode reads, in this order.
const (
	fieldUserID = iota
	fieldCategory
	fieldPersonType
	fieldEmail
	fieldLocale
	fieldOccurredAt
)

// Decode validates a CloudEvent in structured JSON mode received on subject and returns the
// trigger it carries. Any error is an [*InvalidError].
//
// Refused: bodies over [MaxBodySize] bytes, not UTF-8, not exactly one JSON object, or with
// a member that Decode reads given twice; specversion other than the string "1.0"; id or
// source missing, not a string, empty, over [MaxIdentityLen] bytes, or holding a control
// character or U+FFFD; type missing, not a trigger type, or not the type of subject
// ([Subjects.TypeFor]); subject not a trigger subject ("unknown subject"); time not an
// RFC 3339 string; datacontenttype other than application/json (parameters allowed);
// data_base64; data missing or not an object; data.user_id missing or not valid
// ([ValidUserID]); data.category not OWNER, PAYER or PLATFORM (ASCII case-insensitive);
// data.person_type not NATURAL or LEGAL (likewise); data.occurred_at not RFC 3339; data.email
// not a bare e-mail address ([net/mail.ParseAddress] with no display name, at most
// [MaxEmailLen] bytes); data.locale not a BCP 47 language tag
// ([golang.org/x/text/language.Parse]).
//
// Tolerated: unknown attributes and extensions, unknown data members (duplicates of those
// included); JSON null for an optional attribute or data member, and "" for an optional data
// member, both meaning absent (a null required attribute is missing).
func (s Subjects) Decode(subject string, body []byte) (*Trigger, error) {
	if len(body) > MaxBodySize {
		return nil, &InvalidError{Reason: fmt.Sprintf("body is %d bytes, over the %d-byte limit", len(body), MaxBodySize)}
	}
	if !utf8.Valid(body) {
		return nil, &InvalidError{Reason: "body is not valid UTF-8"}
	}
	attrs, dup, err := readObject(body, "body",
		"specversion", "id", "source", "type", "time", "datacontenttype", "data", "data_base64",
		"traceparent", "tracestate")
	if err != nil {
		return nil, &InvalidError{Reason: err.Error()}
	}
	// ie is copied to the heap only when the event is invalid.
	ie := InvalidError{Trace: traceOf(attrs[attrTraceParent], attrs[attrTraceState])}
	invalid := func(format string, args ...any) (*Trigger, error) {
		e := ie
		e.Reason = fmt.Sprintf(format, args...)
		return nil, &e
	}
	id, idErr := identityAttr(attrs[attrID], "id")
	if idErr == nil && dup != "id" {
		ie.EventID = shownID(id)
	}
	source, sourceErr := identityAttr(attrs[attrSource], "source")
	if idErr == nil && sourceErr == nil && dup != "id" && dup != "source" {
		ie.Key = KeyOf(source, id) // also for an over-long id or source: the key is a hash
	}
	if dup != "" {
		return invalid("body has member %q twice", dup)
	}
	want, ok := s.TypeFor(subject)
	if !ok {
		return invalid("unknown subject %s: not a trigger subject (triggers go on %s)", quote(subject), strings.Join(s.Triggers(), ", "))
	}

	if err := checkSpecVersion(attrs[attrSpecVersion]); err != nil {
		return invalid("%v", err)
	}
	if idErr != nil {
		return invalid("%v", idErr)
	}
	if err := checkIdentityLen(id, "id"); err != nil {
		return invalid("%v", err)
	}
	if sourceErr != nil {
		return invalid("%v", sourceErr)
	}
	if err := checkIdentityLen(source, "source"); err != nil {
		return invalid("%v", err)
	}
	t := &Trigger{ID: id, Source: source, Trace: ie.Trace}

	if isNull(attrs[attrType]) {
		return invalid("missing attribute type")
	}
	typ, err := stringValue(attrs[attrType], "attribute type")
	if err != nil {
		return invalid("%v", err)
	}
	if !isTriggerType(typ) {
		return invalid("unknown type %s: not a trigger type", quote(typ))
	}
	if typ != want {
		return invalid("type %s does not match subject %s (which carries %q)", quote(typ), quote(subject), want)
	}
	t.Type = typ

	if !isNull(attrs[attrTime]) {
		v, err := stringValue(attrs[attrTime], "attribute time")
		if err != nil {
			return invalid("%v", err)
		}
		if t.Time, err = parseTime(v, "attribute time"); err != nil {
			return invalid("%v", err)
		}
	}
	if !isNull(attrs[attrDataContentType]) {
		v, err := stringValue(attrs[attrDataContentType], "attribute datacontenttype")
		if err != nil {
			return invalid("%v", err)
		}
		if v != ContentTypeJSON { // the common value needs no parsing (nor its map)
			if mt, _, err := mime.ParseMediaType(v); err != nil || mt != ContentTypeJSON {
				return invalid("attribute datacontenttype %s is not %s", quote(v), ContentTypeJSON)
			}
		}
	}
	if !isNull(attrs[attrDataBase64]) {
		return invalid("attribute data_base64 is not supported: data must be a JSON object")
	}
	if isNull(attrs[attrData]) {
		return invalid("missing attribute data")
	}
	if attrs[attrData][0] != '{' {
		return invalid("attribute data must be a JSON object, got %s", kindOf(attrs[attrData]))
	}
	// data is a member of the body, which readObject found valid JSON.
	fields, dup, err := readValidObject(attrs[attrData], "data",
		"user_id", "category", "person_type", "email", "locale", "occurred_at")
	if err != nil {
		return invalid("%v", err)
	}
	if dup != "" {
		return invalid("data has member %q twice", dup)
	}
	if err := t.readData(fields); err != nil {
		return invalid("%v", err)
	}
	return t, nil
}

// readData validates and copies the members of data.
func (t *Trigger) readData(fields []json.RawMessage) error {
	if isNull(fields[fieldUserID]) {
		return errorString("missing data.user_id")
	}
	uid, err := stringValue(fields[fieldUserID], "data.user_id")
	if err != nil {
		return err
	}
	if !ValidUserID(uid) {
		return fmt.Errorf("data.user_id %s is not a valid user id (1 to 128 of A-Z a-z 0-9 _ -)", quote(uid))
	}
	t.UserID = uid

	opt := func(i int, name string) (string, error) {
		if isNull(fields[i]) {
			return "", nil
		}
		return stringValue(fields[i], name)
	}
	cat, err := opt(fieldCategory, "data.category")
	if err != nil {
		return err
	}
	if cat != "" {
		if t.Category = oneOf(cat, CategoryOwner, CategoryPayer, CategoryPlatform); t.Category == "" {
			return fmt.Errorf("data.category %s is not OWNER, PAYER or PLATFORM", quote(cat))
		}
	}
	pt, err := opt(fieldPersonType, "data.person_type")
	if err != nil {
		return err
	}
	if pt != "" {
		if t.PersonType = oneOf(pt, PersonNatural, PersonLegal); t.PersonType == "" {
			return fmt.Errorf("data.person_type %s is not NATURAL or LEGAL", quote(pt))
		}
	}
	if t.Email, err = opt(fieldEmail, "data.email"); err != nil {
		return err
	}
	if t.Email != "" {
		if err := checkEmail(t.Email); err != nil {
			return err
		}
	}
	if t.Locale, err = opt(fieldLocale, "data.locale"); err != nil {
		return err
	}
	if t.Locale != "" {
		if err := checkLocale(t.Locale); err != nil {
			return err
		}
	}
	occ, err := opt(fieldOccurredAt, "data.occurred_at")
	if err != nil {
		return err
	}
	if occ != "" {
		if t.OccurredAt, err = parseTime(occ, "data.occurred_at"); err != nil {
			return err
		}
	}
	return nil
}

// errorString is a constant error text.
type errorString string

func (e errorString) Error() string { return string(e) }

// oneOf returns the value among allowed that v equals ignoring ASCII case, or "".
// Unicode case folding is deliberately not used (the Kelvin sign must not match "K").
func oneOf(v string, allowed ...string) string {
	for _, a := range allowed {
		if len(a) != len(v) {
			continue
		}
		match := true
		for i := 0; i < len(v); i++ {
			c := v[i]
			if c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			if c != a[i] {
				match = false
				break
			}
		}
		if match {
			return a
		}
	}
	return ""
}

// isTriggerType reports whether typ is one of the four trigger types.
func isTriggerType(typ string) bool {
	switch typ {
	case TypeUserCreated, TypeSessionExpired, TypeSessionFailed, TypeEnrollmentSucceeded:
		return true
	}
	return false
}

// checkSpecVersion requires the string "1.0".
func checkSpecVersion(raw json.RawMessage) error {
	if isNull(raw) {
		return errorString("missing attribute specversion")
	}
	v, err := stringValue(raw, "attribute specversion")
	if err != nil {
		return fmt.Errorf("attribute specversion must be the string %q, got %s", SpecVersion, kindOf(raw))
	}
	if v != SpecVersion {
		return fmt.Errorf("unsupported specversion %s, want %q", quote(v), SpecVersion)
	}
	return nil
}

// identityAttr reads id or source: a non-empty string with no control character (C0, DEL,
// C1) and no U+FFFD (what a lone surrogate escape decodes to, which would merge distinct
// identities).
func identityAttr(raw json.RawMessage, name string) (string, error) {
	if isNull(raw) {
		return "", fmt.Errorf("missing attribute %s", name)
	}
	var label string
	switch name { // constant labels: no concatenation per event
	case "id":
		label = "attribute id"
	case "source":
		label = "attribute source"
	default:
		label = "attribute " + name
	}
	v, err := stringValue(raw, label)
	if err != nil {
		return "", err
	}
	if err := checkIdentity(v, name); err != nil {
		return "", err
	}
	return v, nil
}

// checkIdentity rejects an empty id or source, or one holding a control character (C0,
// DEL, C1) or U+FFFD.
func checkIdentity(v, name string) error {
	if v == "" {
		return fmt.Errorf("attribute %s is empty", name)
	}
	for _, r := range v {
		switch {
		case r < 0x20 || (r >= 0x7f && r <= 0x9f):
			return fmt.Errorf("attribute %s %s holds control character %U", name, quote(v), r)
		case r == utf8.RuneError:
			return fmt.Errorf("attribute %s %s holds U+FFFD (a lone surrogate or replacement character)", name, quote(v))
		}
	}
	return nil
}
