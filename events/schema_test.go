package events

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaDir holds the JSON Schemas of the events (docs/schemas).
const schemaDir = "../docs/schemas"

// schemaTypes are the types that have a schema: every type scaworker
// accepts or publishes.
var schemaTypes = []string{TypeUserCreated, TypeSessionExpired, TypeSessionFailed, TypeEnrollmentSucceeded, TypeLinkSend, TypeDeadLetter}

// loadSchemas compiles docs/schemas, keyed by event type, with format
// assertions on (date-time, uri).
func loadSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	out := map[string]*jsonschema.Schema{}
	for _, typ := range schemaTypes {
		path := filepath.Join(schemaDir, typ+".json")
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if id, _ := doc.(map[string]any)["$id"].(string); id != SchemaURI(typ) {
			t.Errorf("%s: $id %q, want SchemaURI(%q) = %q", path, id, typ, SchemaURI(typ))
		}
		if err := c.AddResource(SchemaURI(typ), doc); err != nil {
			t.Fatal(err)
		}
		if out[typ], err = c.Compile(SchemaURI(typ)); err != nil {
			t.Fatalf("compile %s: %v", path, err)
		}
	}
	return out
}

// validateAs validates body against the schema of its own type.
func validateAs(t *testing.T, schemas map[string]*jsonschema.Schema, body []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return err
	}
	typ, _ := inst.(map[string]any)["type"].(string)
	s, ok := schemas[typ]
	if !ok {
		t.Fatalf("no schema for type %q of %s", typ, body)
	}
	return s.Validate(inst)
}

// TestGoldenEventsMatchSchemas: every event the encoders write, golden
// files included, is valid against its schema.
func TestGoldenEventsMatchSchemas(t *testing.T) {
	t.Parallel()
	schemas := loadSchemas(t)
	goldens, err := filepath.Glob("testdata/*.golden")
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, path := range goldens {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := validateAs(t, schemas, body); err != nil {
			t.Errorf("%s does not match its schema: %v", path, err)
		}
	}
	// A dead letter too large to carry its body, and one without trace.
	d := testDeadLetter(nil)
	d.Trace = Trace{}
	body, err := EncodeDeadLetter(DeadLetterID("", 7), d, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := validateAs(t, schemas, body); err != nil {
		t.Errorf("dead letter without body: %v\n%s", err, body)
	}
	// The schemas are strict where they should be.
	l := testLinkSend()
	_, body, _ = EncodeLinkSend(KeyOf(l.Trigger.Source, l.Trigger.ID), l, testNow)
	for name, bad := range map[string]string{
		"http link":       strings.Replace(string(body), `"redirect_url":"https://`, `"redirect_url":"http://`, 1),
		"unknown member":  strings.Replace(string(body), `"user_id":`, `"extra":1,"user_id":`, 1),
		"bad traceparent": strings.Replace(string(body), testTrace.Parent, "00-00000000000000000000000000000000-00f067aa0ba902b7-01", 1),
	} {
		if err := validateAs(t, schemas, []byte(bad)); err == nil {
			t.Errorf("%s: a send-link event with %s matches the schema", name, name)
		}
	}
}

// TestDocumentedExamplesMatchSchemas: the JSON examples of the README and
// docs/events.md are valid events of their type.
func TestDocumentedExamplesMatchSchemas(t *testing.T) {
	t.Parallel()
	schemas := loadSchemas(t)
	block := regexp.MustCompile("(?s)```json\n(.*?)```")
	n := 0
	for _, doc := range []string{"../README.md", "../docs/events.md"} {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllSubmatch(text, -1) {
			n++
			if err := validateAs(t, schemas, m[1]); err != nil {
				t.Errorf("%s: example does not match its schema: %v\n%s", doc, err, m[1])
			}
		}
	}
	if n < 3 {
		t.Errorf("found %d JSON examples, want the trigger and send-link examples of both documents", n)
	}
}

// TestDecoderAgreesWithSchemas runs the decoder's test tables and fuzz
// corpus through the trigger schemas: an event the decoder accepts matches
// the schema of its subject's type, and one it refuses does not — except
// for what a JSON Schema cannot say (docs/events.md, "Invalid events").
func TestDecoderAgreesWithSchemas(t *testing.T) {
	t.Parallel()
	schemas := loadSchemas(t)
	s := DefaultSubjects()
	type input struct{ name, subject, body string }
	var inputs []input
	for _, c := range validDecodeCases() {
		inputs = append(inputs, input{"valid/" + c.name, c.subject, c.body})
	}
	for _, c := range invalidDecodeCases() {
		inputs = append(inputs, input{"invalid/" + c.name, c.subject, c.body})
	}
	corpus, _ := filepath.Glob("testdata/fuzz/FuzzDecode/*")
	for _, path := range corpus {
		subject, body, ok := readFuzzInput(t, path)
		if ok {
			inputs = append(inputs, input{"corpus/" + filepath.Base(path), subject, body})
		}
	}
	compared := 0
	for _, in := range inputs {
		typ, ok := s.TypeFor(in.subject)
		if !ok {
			continue // the subject decides, not the body: nothing for a schema to say
		}
		_, decErr := s.Decode(in.subject, []byte(in.body))
		if decErr != nil && beyondSchema(decErr.Error()) {
			continue
		}
		var schemaErr error
		if !utf8.ValidString(in.body) || !json.Valid([]byte(in.body)) {
			schemaErr = errNotJSON
		} else {
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(in.body))
			if err != nil {
				schemaErr = err
			} else {
				schemaErr = schemas[typ].Validate(inst)
			}
		}
		compared++
		switch {
		case decErr == nil && schemaErr != nil:
			t.Errorf("%s: the decoder accepts it but schema %s refuses it: %v\n%s", in.name, typ, schemaErr, in.body)
		case decErr != nil && schemaErr == nil:
			t.Errorf("%s: the decoder refuses it (%v) but schema %s accepts it\n%s", in.name, decErr, typ, in.body)
		}
	}
	if compared < 50 {
		t.Errorf("compared %d inputs, want the whole decode table", compared)
	}
}

var errNotJSON = jsonError("not one JSON value")

type jsonError string

func (e jsonError) Error() string { return string(e) }

// beyondSchema reports the decoder's refusals that a JSON Schema cannot
// express: the body's size bound, a member given twice (a schema sees one
// value), and a locale made of unregistered subtags (the schema checks the
// syntax only). The subject's type is expressed (each schema's type const).
func beyondSchema(reason string) bool {
	return strings.Contains(reason, "body is") && strings.Contains(reason, "-byte limit") ||
		strings.Contains(reason, "twice") ||
		strings.Contains(reason, "data.locale") && strings.Contains(reason, "BCP 47")
}

// readFuzzInput reads a "go test fuzz v1" corpus file of FuzzDecode
// (subject string, body []byte).
func readFuzzInput(t *testing.T, path string) (subject, body string, ok bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(strings.TrimRight(string(b), "\n"), "\n", 3)
	if len(lines) != 3 || lines[0] != "go test fuzz v1" {
		return "", "", false
	}
	sub, err1 := unquoteGo(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"))
	bod, err2 := unquoteGo(strings.TrimSuffix(strings.TrimPrefix(lines[2], "[]byte("), ")"))
	if err1 != nil || err2 != nil {
		return "", "", false
	}
	return sub, bod, true
}

// unquoteGo unquotes a Go string literal as the fuzz corpus writes it.
func unquoteGo(s string) (string, error) {
	return strconv.Unquote(s)
}
