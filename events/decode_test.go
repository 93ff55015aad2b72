package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const subjUserCreated = "sca.events.user.created"

// typicalUserCreated is a realistic ~300-byte user.created event.
const typicalUserCreated = `{"specversion":"1.0","id":"0b9d3c1e-6f7a-4c55-9a51-2f7c1d8e4b20",` +
	`"source":"https://users.example.com/v1","type":"user.created","time":"2025-11-25T20:26:00Z",` +
	`"datacontenttype":"application/json","data":{"user_id":"user_m_01HZX3K9Q2","category":"OWNER",` +
	`"person_type":"NATURAL","email":"ada@example.com","locale":"fr-FR"}}`

// validCase is an event Decode accepts, and what it gives.
type validCase struct {
	name    string
	subject string
	body    string
	want    Trigger
}

// validDecodeCases are the accepted events of TestDecodeValid; the schema
// tests run them through the schemas too.
func validDecodeCases() []validCase {
	return []validCase{
		{
			name:    "typical user.created",
			subject: subjUserCreated,
			body:    typicalUserCreated,
			want: Trigger{
				ID: "0b9d3c1e-6f7a-4c55-9a51-2f7c1d8e4b20", Source: "https://users.example.com/v1",
				Type: TypeUserCreated, Time: time.Date(2025, 11, 25, 20, 26, 0, 0, time.UTC),
				UserID: "user_m_01HZX3K9Q2", Category: CategoryOwner, PersonType: PersonNatural,
				Email: "ada@example.com", Locale: "fr-FR",
			},
		},
		{
			name:    "minimal, optional fields missing",
			subject: subjUserCreated,
			body:    `{"specversion":"1.0","id":"1","source":"s","type":"user.created","data":{"user_id":"u1"}}`,
			want:    Trigger{ID: "1", Source: "s", Type: TypeUserCreated, UserID: "u1"},
		},
		{
			name:    "mixed-case category and person type are normalised",
			subject: subjUserCreated,
			body:    `{"specversion":"1.0","id":"1","source":"s","type":"user.created","data":{"user_id":"u1","category":"pAyEr","person_type":"legal"}}`,
			want:    Trigger{ID: "1", Source: "s", Type: TypeUserCreated, UserID: "u1", Category: CategoryPayer, PersonType: PersonLegal},
		},
		{
			name:    "platform category",
			subject: subjUserCreated,
			body:    `{"specversion":"1.0","id":"1","source":"s","type":"user.created","data":{"user_id":"u1","category":"platform"}}`,
			want:    Trigger{ID: "1", Source: "s", Type: TypeUserCreated, UserID: "u1", Category: CategoryPlatform},
		},
		{
			name:    "extensions, unknown attributes and unknown data members are ignored",
			subject: subjUserCreated,
			body: `{"specversion":"1.0","id":"1","source":"s","type":"user.created","subject":"x","dataschema":"https://x",` +
				`"traceparent":"00-abc","partitionkey":7,"ID":"other","Type":"nope","ext":{"a":[1,2]},"ext":null,` +
				`"data":{"user_id":"u1","extra":{"nested":true},"extra":1,"User_ID":"bad id"}}`,
			want: Trigger{ID: "1", Source: "s", Type: TypeUserCreated, UserID: "u1"},
		},
		{
			name:    "null and empty optional members mean absent",
			subject: subjUserCreated,
			body: `{"specversion":"1.0","id":"1","source":"s","type":"user.created","time":null,"datacontenttype":null,"data_base64":null,` +
				`"data":{"user_id":"u1","category":"","person_type":null,"email":null,"locale":"","occurred_at":""}}`,
			want: Trigger{ID: "1", Source: "s", Type: TypeUserCreated, UserID: "u1"},
		},
		{
			name:    "datacontenttype with parameters",
			subject: subjUserCreated,
			body:    `{"specversion":"1.0","id":"1","source":"s","type":"user.created","datacontenttype":"Application/JSON; charset=utf-8","data":{"user_id":"u1"}}`,
			want:    Trigger{ID: "1", Source: "s", Type: TypeUserCreated, UserID: "u1"},
		},
		{
			name:    "session expired with occurred_at and offset time",
			subject: "sca.events.session.expired",
			body: `{"specversion":"1.0","id":"abc","source":"mangopay","type":"sca.session.expired","time":"2025-11-25T21:00:00.5+01:00",` +
				`"data":{"user_id":"12345","occurred_at":"2025-11-25T19:59:00Z"}}`,
			want: Trigger{
				ID: "abc", Source: "mangopay", Type: TypeSessionExpired,
				Time:   time.Date(2025, 11, 25, 20, 0, 0, 500_000_000, time.UTC),
				UserID: "12345", OccurredAt: time.Date(2025, 11, 25, 19, 59, 0, 0, time.UTC),
			},
		},
		{
			name:    "session failed",
			subject: "sca.events.session.failed",
			body:    `{"specversion":"1.0","id":"abc","source":"mangopay","type":"sca.session.failed","data":{"user_id":"u-1_A"}}`,
			want:    Trigger{ID: "abc", Source: "mangopay", Type: TypeSessionFailed, UserID: "u-1_A"},
		},
		{
			name:    "enrollment succeeded",
			subject: "sca.events.enrollment.succeeded",
			body:    `{"specversion":"1.0","id":"abc","source":"mangopay","type":"sca.enrollment.succeeded","data":{"user_id":"u"}}`,
			want:    Trigger{ID: "abc", Source: "mangopay", Type: TypeEnrollmentSucceeded, UserID: "u"},
		},
		{
			name:    "white space around the object, 128-char user id, unicode id",
			subject: subjUserCreated,
			body:    " \n\t{\"specversion\":\"1.0\",\"id\":\"évènement 1\",\"source\":\"s\",\"type\":\"user.created\",\"data\":{\"user_id\":\"" + strings.Repeat("a", 128) + "\"}}\r\n",
			want:    Trigger{ID: "évènement 1", Source: "s", Type: TypeUserCreated, UserID: strings.Repeat("a", 128)},
		},
	}
}

func TestDecodeValid(t *testing.T) {
	t.Parallel()
	s := DefaultSubjects()
	for _, tt := range validDecodeCases() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.Decode(tt.subject, []byte(tt.body))
			if err != nil {
				t.Fatalf("Decode() error = %v, want nil", err)
			}
			if !got.Time.Equal(tt.want.Time) || !got.OccurredAt.Equal(tt.want.OccurredAt) {
				t.Errorf("Decode() times = %v, %v, want %v, %v", got.Time, got.OccurredAt, tt.want.Time, tt.want.OccurredAt)
			}
			got.Time, got.OccurredAt = tt.want.Time, tt.want.OccurredAt
			if *got != tt.want {
				t.Errorf("Decode() = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

// invalidCase is an event Decode refuses, and what it must say.
type invalidCase struct {
	name    string
	subject string
	body    string
	reason  []string // all must appear in the reason
	eventID string   // expected EventID
}

// invalidDecodeCases are the refused events of TestDecodeInvalid; the
// schema tests run them through the schemas too.
func invalidDecodeCases() []invalidCase {
	// ev builds a user.created event with the given extra top-level members and data.
	ev := func(attrs, data string) string {
		return `{"specversion":"1.0","type":"user.created",` + attrs + `"data":` + data + `}`
	}
	const idSrc = `"id":"e-1","source":"svc",`
	return []invalidCase{
		{"over 64 KiB", subjUserCreated, ev(idSrc+`"pad":"`+strings.Repeat("x", MaxBodySize)+`",`, `{"user_id":"u"}`), []string{"65", "limit"}, ""},
		{"empty body", subjUserCreated, ``, []string{"empty"}, ""},
		{"not JSON", subjUserCreated, `hello`, []string{"not valid JSON"}, ""},
		{"truncated JSON", subjUserCreated, `{"specversion":"1.0","id":"e-1"`, []string{"not valid JSON"}, ""},
		{"not UTF-8", subjUserCreated, "{\"specversion\":\"1.0\",\"id\":\"\xff\"}", []string{"UTF-8"}, ""},
		{"JSON array", subjUserCreated, `[{"specversion":"1.0"}]`, []string{"object", "array"}, ""},
		{"JSON string", subjUserCreated, `"x"`, []string{"object", "string"}, ""},
		{"JSON null", subjUserCreated, `null`, []string{"object", "null"}, ""},
		{"two objects", subjUserCreated, ev(idSrc, `{"user_id":"u"}`) + `{}`, []string{"after"}, ""},
		{"missing specversion", subjUserCreated, `{"id":"e-1","source":"svc","type":"user.created","data":{"user_id":"u"}}`, []string{"missing", "specversion"}, "e-1"},
		{"specversion number 1.0", subjUserCreated, `{"specversion":1.0,"id":"e-1","source":"svc","type":"user.created","data":{"user_id":"u"}}`, []string{"specversion", "string", "number 1.0"}, "e-1"},
		{"specversion 0.3", subjUserCreated, `{"specversion":"0.3","id":"e-1","source":"svc","type":"user.created","data":{"user_id":"u"}}`, []string{"specversion", `"0.3"`}, "e-1"},
		{"specversion null", subjUserCreated, `{"specversion":null,"id":"e-1","source":"svc","type":"user.created","data":{"user_id":"u"}}`, []string{"missing", "specversion"}, "e-1"},
		{"duplicate specversion", subjUserCreated, `{"specversion":"1.0","specversion":"0.3","id":"e-1","source":"svc","type":"user.created","data":{"user_id":"u"}}`, []string{"specversion", "twice"}, "e-1"},
		{"missing id", subjUserCreated, ev(`"source":"svc",`, `{"user_id":"u"}`), []string{"missing attribute id"}, ""},
		{"null id", subjUserCreated, ev(`"id":null,"source":"svc",`, `{"user_id":"u"}`), []string{"missing attribute id"}, ""},
		{"empty id", subjUserCreated, ev(`"id":"","source":"svc",`, `{"user_id":"u"}`), []string{"id", "empty"}, ""},
		{"numeric id", subjUserCreated, ev(`"id":42,"source":"svc",`, `{"user_id":"u"}`), []string{"id", "string", "number"}, ""},
		{"id with newline", subjUserCreated, ev(`"id":"a\nb","source":"svc",`, `{"user_id":"u"}`), []string{"id", "control", "U+000A"}, ""},
		{"id with C1 control", subjUserCreated, ev(`"id":"a\u0085b","source":"svc",`, `{"user_id":"u"}`), []string{"id", "control"}, ""},
		{"id with lone surrogate", subjUserCreated, ev(`"id":"a\ud800","source":"svc",`, `{"user_id":"u"}`), []string{"id", "U+FFFD"}, ""},
		{"duplicate id", subjUserCreated, ev(`"id":"a","id":"b","source":"svc",`, `{"user_id":"u"}`), []string{"id", "twice"}, ""},
		{"missing source", subjUserCreated, ev(`"id":"e-1",`, `{"user_id":"u"}`), []string{"missing attribute source"}, "e-1"},
		{"empty source", subjUserCreated, ev(`"id":"e-1","source":"",`, `{"user_id":"u"}`), []string{"source", "empty"}, "e-1"},
		{"source object", subjUserCreated, ev(`"id":"e-1","source":{},`, `{"user_id":"u"}`), []string{"source", "string", "object"}, "e-1"},
		{"source with tab", subjUserCreated, ev(`"id":"e-1","source":"a\tb",`, `{"user_id":"u"}`), []string{"source", "control"}, "e-1"},
		{"missing type", subjUserCreated, `{"specversion":"1.0",` + idSrc + `"data":{"user_id":"u"}}`, []string{"missing attribute type"}, "e-1"},
		{"type not a string", subjUserCreated, `{"specversion":"1.0",` + idSrc + `"type":["user.created"],"data":{"user_id":"u"}}`, []string{"type", "string", "array"}, "e-1"},
		{"unknown type", subjUserCreated, `{"specversion":"1.0",` + idSrc + `"type":"user.deleted","data":{"user_id":"u"}}`, []string{"unknown type", "user.deleted"}, "e-1"},
		{"our own type on a trigger subject", subjUserCreated, `{"specversion":"1.0",` + idSrc + `"type":"sca.link.send","data":{"user_id":"u"}}`, []string{"unknown type", "sca.link.send"}, "e-1"},
		{"type case differs", subjUserCreated, `{"specversion":"1.0",` + idSrc + `"type":"User.Created","data":{"user_id":"u"}}`, []string{"unknown type"}, "e-1"},
		{"type does not match subject", "sca.events.session.failed", ev(idSrc, `{"user_id":"u"}`), []string{"user.created", "does not match", "sca.events.session.failed", "sca.session.failed"}, "e-1"},
		{"not a trigger subject", "sca.links.send", ev(idSrc, `{"user_id":"u"}`), []string{"unknown subject", "sca.links.send", "not a trigger subject"}, "e-1"},
		{"mistyped subject", "sca.events.user.create", ev(idSrc, `{"user_id":"u"}`), []string{"unknown subject", "sca.events.user.create", "sca.events.user.created"}, "e-1"},
		{"time not RFC 3339", subjUserCreated, ev(idSrc+`"time":"25/11/2025",`, `{"user_id":"u"}`), []string{"time", "RFC 3339"}, "e-1"},
		{"time number", subjUserCreated, ev(idSrc+`"time":1732560000,`, `{"user_id":"u"}`), []string{"time", "string"}, "e-1"},
		{"datacontenttype xml", subjUserCreated, ev(idSrc+`"datacontenttype":"application/xml",`, `{"user_id":"u"}`), []string{"datacontenttype", "application/xml"}, "e-1"},
		{"data_base64", subjUserCreated, `{"specversion":"1.0","type":"user.created",` + idSrc + `"data_base64":"e30="}`, []string{"data_base64"}, "e-1"},
		{"missing data", subjUserCreated, `{"specversion":"1.0","type":"user.created",` + idSrc[:len(idSrc)-1] + `}`, []string{"missing attribute data"}, "e-1"},
		{"data null", subjUserCreated, ev(idSrc, `null`), []string{"missing attribute data"}, "e-1"},
		{"data string", subjUserCreated, ev(idSrc, `"{\"user_id\":\"u\"}"`), []string{"data", "object", "string"}, "e-1"},
		{"data array", subjUserCreated, ev(idSrc, `[{"user_id":"u"}]`), []string{"data", "object", "array"}, "e-1"},
		{"data number", subjUserCreated, ev(idSrc, `7`), []string{"data", "object", "number"}, "e-1"},
		{"duplicate data", subjUserCreated, ev(idSrc+`"data":{"user_id":"a"},`, `{"user_id":"u"}`), []string{"data", "twice"}, "e-1"},
		{"missing user_id", subjUserCreated, ev(idSrc, `{"category":"OWNER"}`), []string{"missing data.user_id"}, "e-1"},
		{"null user_id", subjUserCreated, ev(idSrc, `{"user_id":null}`), []string{"missing data.user_id"}, "e-1"},
		{"numeric user_id", subjUserCreated, ev(idSrc, `{"user_id":12345}`), []string{"data.user_id", "string", "number"}, "e-1"},
		{"empty user_id", subjUserCreated, ev(idSrc, `{"user_id":""}`), []string{"data.user_id", "not a valid user id"}, "e-1"},
		{"user_id with slash", subjUserCreated, ev(idSrc, `{"user_id":"../admin"}`), []string{"data.user_id", `"../admin"`, "not a valid user id"}, "e-1"},
		{"user_id with space", subjUserCreated, ev(idSrc, `{"user_id":"a b"}`), []string{"data.user_id", "not a valid user id"}, "e-1"},
		{"user_id non-ASCII", subjUserCreated, ev(idSrc, `{"user_id":"é"}`), []string{"data.user_id", "not a valid user id"}, "e-1"},
		{"user_id 129 chars", subjUserCreated, ev(idSrc, `{"user_id":"`+strings.Repeat("a", 129)+`"}`), []string{"data.user_id", "not a valid user id"}, "e-1"},
		{"duplicate user_id", subjUserCreated, ev(idSrc, `{"user_id":"a","user_id":"b"}`), []string{"user_id", "twice"}, "e-1"},
		{"category unknown", subjUserCreated, ev(idSrc, `{"user_id":"u","category":"ADMIN"}`), []string{"data.category", "ADMIN"}, "e-1"},
		{"category padded", subjUserCreated, ev(idSrc, `{"user_id":"u","category":" OWNER"}`), []string{"data.category"}, "e-1"},
		{"category with Kelvin-like fold", subjUserCreated, ev(idSrc, `{"user_id":"u","category":"ſ"}`), []string{"data.category"}, "e-1"},
		{"category number", subjUserCreated, ev(idSrc, `{"user_id":"u","category":1}`), []string{"data.category", "string"}, "e-1"},
		{"person_type unknown", subjUserCreated, ev(idSrc, `{"user_id":"u","person_type":"ROBOT"}`), []string{"data.person_type", "ROBOT"}, "e-1"},
		{"occurred_at not RFC 3339", "sca.events.session.expired",
			`{"specversion":"1.0","type":"sca.session.expired",` + idSrc + `"data":{"user_id":"u","occurred_at":"1732560000"}}`,
			[]string{"data.occurred_at", "RFC 3339"}, "e-1"},
		{"email not a string", subjUserCreated, ev(idSrc, `{"user_id":"u","email":["a@b"]}`), []string{"data.email", "string"}, "e-1"},
		{"locale not a string", subjUserCreated, ev(idSrc, `{"user_id":"u","locale":true}`), []string{"data.locale", "string", "boolean"}, "e-1"},
		{"id of 257 bytes", subjUserCreated, ev(`"id":"`+strings.Repeat("i", 257)+`","source":"svc",`, `{"user_id":"u"}`),
			[]string{"attribute id", "257 bytes", "256-byte limit"}, strings.Repeat("i", 64) + "…"},
		{"id of 60 KiB", subjUserCreated, ev(`"id":"`+strings.Repeat("i", 60<<10)+`","source":"svc",`, `{"user_id":"u"}`),
			[]string{"attribute id", "61440 bytes", "256-byte limit"}, strings.Repeat("i", 64) + "…"},
		{"source of 60 KiB", subjUserCreated, ev(`"id":"e-1","source":"`+strings.Repeat("s", 60<<10)+`",`, `{"user_id":"u"}`),
			[]string{"attribute source", "61440 bytes", "256-byte limit"}, "e-1"},
		{"email of 60 KiB", subjUserCreated, ev(idSrc, `{"user_id":"u","email":"`+strings.Repeat("a", 60<<10)+`@example.com"}`),
			[]string{"data.email", "61452 bytes", "254-byte limit"}, "e-1"},
		{"email without @", subjUserCreated, ev(idSrc, `{"user_id":"u","email":"ada.example.com"}`), []string{"data.email", "not a valid e-mail address"}, "e-1"},
		{"email with a display name", subjUserCreated, ev(idSrc, `{"user_id":"u","email":"Ada <ada@example.com>"}`), []string{"data.email", "not a valid e-mail address"}, "e-1"},
		{"email in angle brackets", subjUserCreated, ev(idSrc, `{"user_id":"u","email":"<ada@example.com>"}`), []string{"data.email", "not a valid e-mail address"}, "e-1"},
		{"email with a comment", subjUserCreated, ev(idSrc, `{"user_id":"u","email":"ada@example.com (Ada)"}`), []string{"data.email", "not a valid e-mail address"}, "e-1"},
		{"email with spaces around", subjUserCreated, ev(idSrc, `{"user_id":"u","email":" ada@example.com"}`), []string{"data.email", "not a valid e-mail address"}, "e-1"},
		{"two emails", subjUserCreated, ev(idSrc, `{"user_id":"u","email":"ada@example.com, bob@example.com"}`), []string{"data.email", "not a valid e-mail address"}, "e-1"},
		{"locale not a tag", subjUserCreated, ev(idSrc, `{"user_id":"u","locale":"not a locale"}`), []string{"data.locale", `"not a locale"`, "BCP 47"}, "e-1"},
		{"locale with a charset", subjUserCreated, ev(idSrc, `{"user_id":"u","locale":"pt_BR.UTF-8"}`), []string{"data.locale", "BCP 47"}, "e-1"},
		{"locale with an unknown language", subjUserCreated, ev(idSrc, `{"user_id":"u","locale":"xx-YY"}`), []string{"data.locale", `"xx-YY"`, "BCP 47", "unknown"}, "e-1"},
		{"locale of 60 KiB", subjUserCreated, ev(idSrc, `{"user_id":"u","locale":"`+strings.Repeat("en-", 20<<10)+`"}`), []string{"data.locale", "BCP 47"}, "e-1"},
	}
}

func TestDecodeInvalid(t *testing.T) {
	t.Parallel()
	s := DefaultSubjects()
	for _, tt := range invalidDecodeCases() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.Decode(tt.subject, []byte(tt.body))
			if err == nil {
				t.Fatalf("Decode() = %+v, want error", got)
			}
			if got != nil {
				t.Errorf("Decode() trigger = %+v, want nil with an error", got)
			}
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("Decode() error = %T %v, want *InvalidError", err, err)
			}
			for _, want := range tt.reason {
				if !strings.Contains(ie.Reason, want) {
					t.Errorf("Decode() reason = %q, want it to mention %q", ie.Reason, want)
				}
			}
			if ie.EventID != tt.eventID {
				t.Errorf("Decode() EventID = %q, want %q", ie.EventID, tt.eventID)
			}
			if got, want := err.Error(), "invalid event: "+ie.Reason; got != want {
				t.Errorf("Error() = %q, want %q", got, want)
			}
			if len(ie.Reason) > 300 {
				t.Errorf("Decode() reason is %d bytes, want a bounded reason", len(ie.Reason))
			}
		})
	}
}

func TestDecodeBoundedFields(t *testing.T) {
	t.Parallel()
	s := DefaultSubjects()
	body := func(id, source, data string) []byte {
		return []byte(`{"specversion":"1.0","id":"` + id + `","source":"` + source + `","type":"user.created","data":{"user_id":"u"` + data + `}}`)
	}
	// At the limits, and the values a platform sends: accepted as sent.
	max := strings.Repeat("i", MaxIdentityLen)
	email := strings.Repeat("a", 64) + "@" + strings.Repeat("d", MaxEmailLen-64-1-4) + ".com"
	for _, tc := range []struct{ name, id, source, data, email, locale string }{
		{name: "id and source at 256 bytes", id: max, source: max},
		{name: "email at 254 bytes", id: "1", source: "s", data: `,"email":"` + email + `"`, email: email},
		{name: "plus address", id: "1", source: "s", data: `,"email":"ada+accept@example.com"`, email: "ada+accept@example.com"},
		{name: "international address", id: "1", source: "s", data: `,"email":"élise@exemple.fr"`, email: "élise@exemple.fr"},
		{name: "locale with script and region", id: "1", source: "s", data: `,"locale":"zh-Hant-TW"`, locale: "zh-Hant-TW"},
		{name: "locale with a UN M.49 region", id: "1", source: "s", data: `,"locale":"es-419"`, locale: "es-419"},
		{name: "locale in upper case", id: "1", source: "s", data: `,"locale":"EN"`, locale: "EN"},
		{name: "locale with an extension", id: "1", source: "s", data: `,"locale":"de-DE-u-co-phonebk"`, locale: "de-DE-u-co-phonebk"},
	} {
		got, err := s.Decode(subjUserCreated, body(tc.id, tc.source, tc.data))
		if err != nil {
			t.Errorf("%s: Decode() error = %v, want nil", tc.name, err)
			continue
		}
		if got.ID != tc.id || got.Source != tc.source || got.Email != tc.email || got.Locale != tc.locale {
			t.Errorf("%s: Decode() = %+v, want id, source, email, locale as sent", tc.name, *got)
		}
	}

	// A 60 KiB id: refused, but the dead-letter record and the ledger still get a
	// usable identity, and nothing that is logged carries the whole id.
	long := strings.Repeat("x", 60<<10)
	_, err := s.Decode(subjUserCreated, body(long, "svc", ""))
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("Decode(60 KiB id) error = %v, want *InvalidError", err)
	}
	if got, want := ie.Key, KeyOf("svc", long); got != want {
		t.Errorf("InvalidError.Key = %q, want KeyOf(source, id) %q", got, want)
	}
	if !strings.HasPrefix(long, strings.TrimSuffix(ie.EventID, "…")) || !strings.HasSuffix(ie.EventID, "…") || len(ie.EventID) > 80 {
		t.Errorf("InvalidError.EventID = %q (%d bytes), want the id's start and an ellipsis", ie.EventID, len(ie.EventID))
	}
	if len(ie.Reason) > 300 {
		t.Errorf("InvalidError.Reason is %d bytes, want it bounded", len(ie.Reason))
	}
	// A cut never splits a character.
	_, err = s.Decode(subjUserCreated, body("a"+strings.Repeat("é", 200), "svc", ""))
	if !errors.As(err, &ie) || !utf8.ValidString(ie.EventID) {
		t.Errorf("Decode(long non-ASCII id) EventID = %q, err = %v, want valid UTF-8", ie.EventID, err)
	}
	// The reason never quotes an e-mail address (personal data).
	_, err = s.Decode(subjUserCreated, body("1", "s", `,"email":"Grace Hopper <grace@navy.example>"`))
	if !errors.As(err, &ie) || strings.Contains(ie.Reason, "grace") || strings.Contains(ie.Reason, "Hopper") {
		t.Errorf("Decode(bad email) reason = %q (err %v), want it without the address", ie.Reason, err)
	}
}

func TestDecodeInvalidErrorKey(t *testing.T) {
	t.Parallel()
	s := DefaultSubjects()
	body := `{"specversion":"1.0","id":"e-1","source":"svc","type":"user.created","data":{"user_id":"bad/id"}}`
	_, err := s.Decode(subjUserCreated, []byte(body))
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("Decode() error = %v, want *InvalidError", err)
	}
	if got, want := ie.Key, KeyOf("svc", "e-1"); got != want {
		t.Errorf("InvalidError.Key = %q, want %q", got, want)
	}
	_, err = s.Decode(subjUserCreated, []byte(`{"specversion":"1.0","id":"e-1","type":"user.created","data":{"user_id":"u"}}`))
	if !errors.As(err, &ie) {
		t.Fatalf("Decode() error = %v, want *InvalidError", err)
	}
	if ie.Key != "" {
		t.Errorf("InvalidError.Key = %q without a source, want empty", ie.Key)
	}
}

func TestDecodeCustomSubjects(t *testing.T) {
	t.Parallel()
	s := DefaultSubjects()
	s.UserCreated = "platform.users.created"
	body := []byte(`{"specversion":"1.0","id":"1","source":"s","type":"user.created","data":{"user_id":"u"}}`)
	if _, err := s.Decode("platform.users.created", body); err != nil {
		t.Errorf("Decode(custom subject) error = %v, want nil", err)
	}
	if _, err := s.Decode(subjUserCreated, body); err == nil {
		t.Errorf("Decode(default subject after reconfiguration) error = nil, want mismatch")
	}
}

func TestDecodeBodyLimit(t *testing.T) {
	t.Parallel()
	s := DefaultSubjects()
	head := `{"specversion":"1.0","id":"1","source":"s","type":"user.created","data":{"user_id":"u"},"pad":"`
	tail := `"}`
	exact := head + strings.Repeat("x", MaxBodySize-len(head)-len(tail)) + tail
	if len(exact) != MaxBodySize {
		t.Fatalf("test body is %d bytes, want %d", len(exact), MaxBodySize)
	}
	if _, err := s.Decode(subjUserCreated, []byte(exact)); err != nil {
		t.Errorf("Decode(%d bytes) error = %v, want nil", len(exact), err)
	}
	over := exact[:len(exact)-len(tail)] + "x" + tail
	if _, err := s.Decode(subjUserCreated, []byte(over)); err == nil {
		t.Errorf("Decode(%d bytes) error = nil, want invalid", len(over))
	}
}

func TestKeyOf(t *testing.T) {
	t.Parallel()
	k := KeyOf("source", "id")
	if !ValidKey(k) {
		t.Errorf("KeyOf() = %q, want 64 lowercase hex", k)
	}
	if got := KeyOf("source", "id"); got != k {
		t.Errorf("KeyOf() not deterministic: %q then %q", k, got)
	}
	// Pairs that a naive concatenation would confuse must differ.
	pairs := [][2]string{{"ab", "c"}, {"a", "bc"}, {"abc", ""}, {"", "abc"}, {"a|b", "c"}, {"a", "b|c"}, {"a\x00", "b"}, {"a", "\x00b"}}
	seen := map[string][2]string{}
	for _, p := range pairs {
		key := KeyOf(p[0], p[1])
		if other, dup := seen[key]; dup {
			t.Errorf("KeyOf(%q, %q) = KeyOf(%q, %q)", p[0], p[1], other[0], other[1])
		}
		seen[key] = p
	}
	// Pin the framing: other implementations (and stored ledgers) depend on it. The value
	// was computed independently: sha256(pack(">Q", 8) + b"mangopay" + pack(">Q", 3) + b"abc").
	if got, want := KeyOf("mangopay", "abc"), "7ff13d4201e174dba129b4658c6614b61bffb92d4063b88d58c3344564fd3287"; got != want {
		t.Errorf("KeyOf(%q, %q) = %q, want %q", "mangopay", "abc", got, want)
	}
	// The framing holds on either side of the longest input hashed from the
	// stack (an id and a source of MaxIdentityLen bytes each).
	for _, n := range []int{MaxIdentityLen - 1, MaxIdentityLen, MaxIdentityLen + 1, 4 * MaxIdentityLen} {
		source, id := strings.Repeat("s", MaxIdentityLen), strings.Repeat("i", n)
		h := sha256.New()
		for _, part := range []string{source, id} {
			_ = binary.Write(h, binary.BigEndian, uint64(len(part)))
			h.Write([]byte(part))
		}
		if got, want := KeyOf(source, id), hex.EncodeToString(h.Sum(nil)); got != want {
			t.Errorf("KeyOf(%d-byte source, %d-byte id) = %s, want %s", len(source), n, got, want)
		}
	}
	tr := &Trigger{Source: "s", ID: "i"}
	if got, want := tr.Key(), KeyOf("s", "i"); got != want {
		t.Errorf("Trigger.Key() = %q, want %q", got, want)
	}
}

func TestValidUserID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id   string
		want bool
	}{
		{"u", true}, {"user_m_01HZX3K9Q2", true}, {"A-z_0-9", true}, {strings.Repeat("9", 128), true},
		{"", false}, {strings.Repeat("9", 129), false}, {"a b", false}, {"a/b", false}, {"a.b", false},
		{"a%2F", false}, {"é", false}, {"a\x00", false}, {"a\n", false},
	}
	for _, tt := range tests {
		if got := ValidUserID(tt.id); got != tt.want {
			t.Errorf("ValidUserID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func BenchmarkKeyOf(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		KeyOf("https://users.example.com/v1", "0b9d3c1e-6f7a-4c55-9a51-2f7c1d8e4b20")
	}
}

func BenchmarkDecode(b *testing.B) {
	s := DefaultSubjects()
	body := []byte(typicalUserCreated)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Decode(subjUserCreated, body); err != nil {
			b.Fatal(err)
		}
	}
}
