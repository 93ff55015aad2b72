package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// skipValue swallows a JSON value without copying it.
type skipValue struct{}

func (*skipValue) UnmarshalJSON([]byte) error { return nil }

// readObject parses raw as exactly one JSON object (nothing but white space after it) and
// returns the raw values of the members listed in names, in that order (nil when absent).
// Member names match exactly (case-sensitive), unlike encoding/json's struct decoding.
// Other members are skipped, duplicates included. A listed name that occurs twice is
// reported in dup (the first such name) with err nil; vals then hold first occurrences, so
// that the caller can still read other members (the id, for the error). what names the
// object in error messages ("body", "data").
func readObject(raw []byte, what string, names ...string) (vals []json.RawMessage, dup string, err error) {
	if json.Valid(raw) {
		if i := skipSpace(raw, 0); raw[i] == '{' {
			vals, dup = scanObject(raw, i, names)
			return vals, dup, nil
		}
	}
	// Not an object, or not valid JSON: the decoder says precisely what is wrong.
	return decodeObject(raw, what, names)
}

// readValidObject is readObject for raw already known to be valid JSON (a
// member's value in an object readObject read): it is not validated again.
func readValidObject(raw []byte, what string, names ...string) (vals []json.RawMessage, dup string, err error) {
	if i := skipSpace(raw, 0); i < len(raw) && raw[i] == '{' {
		vals, dup = scanObject(raw, i, names)
		return vals, dup, nil
	}
	return decodeObject(raw, what, names)
}

// scanObject is readObject for raw that json.Valid accepted, with its
// object starting at raw[i]: a walk over the bytes, without the
// decoder's allocations. The values are slices of raw.
func scanObject(raw []byte, i int, names []string) (vals []json.RawMessage, dup string) {
	vals = make([]json.RawMessage, len(names))
	i++ // '{'
	for {
		i = skipSpace(raw, i)
		switch raw[i] {
		case '}':
			return vals, dup
		case ',':
			i = skipSpace(raw, i+1)
		}
		end := endOfString(raw, i)
		key := raw[i+1 : end-1]
		i = skipSpace(raw, end) + 1 // ':'
		i = skipSpace(raw, i)
		vend := endOfValue(raw, i)
		if idx := nameIndex(key, names); idx >= 0 {
			switch {
			case vals[idx] == nil:
				vals[idx] = raw[i:vend:vend]
			case dup == "":
				dup = names[idx]
			}
		}
		i = vend
	}
}

// nameIndex is the index in names of the member name key (its raw
// bytes, escapes undone when it has any), or -1.
func nameIndex(key []byte, names []string) int {
	name := string(key) // no allocation: only compared
	if bytes.IndexByte(key, '\\') >= 0 {
		var s string
		if json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &s) != nil {
			return -1
		}
		name = s
	}
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

func skipSpace(raw []byte, i int) int {
	for i < len(raw) && isJSONSpace(raw[i]) {
		i++
	}
	return i
}

// endOfString returns the index just after the string starting at raw[i].
func endOfString(raw []byte, i int) int {
	for i++; raw[i] != '"'; i++ {
		if raw[i] == '\\' {
			i++
		}
	}
	return i + 1
}

// endOfValue returns the index just after the (valid) value starting at raw[i].
func endOfValue(raw []byte, i int) int {
	switch raw[i] {
	case '"':
		return endOfString(raw, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch raw[i] {
			case '"':
				i = endOfString(raw, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(raw) && raw[i] != ',' && raw[i] != '}' && raw[i] != ']' && !isJSONSpace(raw[i]) {
		i++
	}
	return i
}

// decodeObject is readObject with encoding/json's decoder, whose errors
// say what is wrong with raw.
func decodeObject(raw []byte, what string, names []string) (vals []json.RawMessage, dup string, err error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err == io.EOF {
		return nil, "", fmt.Errorf("%s is empty", what)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%s is not valid JSON: %v", what, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, "", fmt.Errorf("%s must be a JSON object, got %s", what, tokenKind(tok))
	}
	vals = make([]json.RawMessage, len(names))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, "", fmt.Errorf("%s is not valid JSON: %v", what, err)
		}
		name, _ := tok.(string) // inside an object, the decoder only yields string keys
		idx := -1
		for i, n := range names {
			if n == name {
				idx = i
				break
			}
		}
		if idx < 0 {
			if err := dec.Decode(new(skipValue)); err != nil {
				return nil, "", fmt.Errorf("%s is not valid JSON: %v", what, err)
			}
			continue
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, "", fmt.Errorf("%s is not valid JSON: %v", what, err)
		}
		if vals[idx] == nil {
			vals[idx] = v
		} else if dup == "" {
			dup = name
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, "", fmt.Errorf("%s is not valid JSON: %v", what, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "", fmt.Errorf("%s has data after its JSON object", what)
	}
	return vals, dup, nil
}

// tokenKind names the JSON kind of a decoder token.
func tokenKind(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return "an object"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "something else"
}

// kindOf names the JSON kind of a raw (valid, trimmed) JSON value.
func kindOf(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	n := string(raw)
	if len(n) > maxQuoted {
		n = n[:maxQuoted] + "…"
	}
	return "a number " + n
}

// isNull reports whether a member is absent or JSON null (CloudEvents JSON format: a null
// attribute is the same as an absent one).
func isNull(raw json.RawMessage) bool {
	return raw == nil || string(raw) == "null"
}

// stringValue decodes a raw JSON string. name is used in the error ("attribute id", "data.email").
func stringValue(raw json.RawMessage, name string) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", fmt.Errorf("%s must be a string, got %s", name, kindOf(raw))
	}
	if in := raw[1 : len(raw)-1]; bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		// Nothing to undo: encoding/json would return the same. The values
		// most events carry are returned as the constants, not copied.
		switch string(in) {
		case SpecVersion:
			return SpecVersion, nil
		case ContentTypeJSON:
			return ContentTypeJSON, nil
		case TypeUserCreated:
			return TypeUserCreated, nil
		case TypeSessionExpired:
			return TypeSessionExpired, nil
		case TypeSessionFailed:
			return TypeSessionFailed, nil
		case TypeEnrollmentSucceeded:
			return TypeEnrollmentSucceeded, nil
		case CategoryOwner:
			return CategoryOwner, nil
		case CategoryPayer:
			return CategoryPayer, nil
		case CategoryPlatform:
			return CategoryPlatform, nil
		case PersonNatural:
			return PersonNatural, nil
		case PersonLegal:
			return PersonLegal, nil
		}
		return string(in), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s: %v", name, err)
	}
	return s, nil
}

// maxQuoted bounds how much of an offending value is quoted in an error reason.
const maxQuoted = 64

// quote renders a value for an error reason: Go-quoted, at most maxQuoted bytes of it.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return fmt.Sprintf("%q", s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…", s[:cut])
}

// appendJSON appends the compact JSON encoding of v without HTML escaping ("&", "<", ">"
// stay as they are, so links read naturally).
func appendJSON(dst []byte, v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, err
	}
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...), nil
}

// formatTime renders t in RFC 3339 UTC with as many fractional digits as needed.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// parseTime parses an RFC 3339 timestamp and returns it in UTC.
func parseTime(s, name string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %s is not an RFC 3339 timestamp", name, quote(s))
	}
	return t.UTC(), nil
}

// isJSONSpace reports whether c is JSON white space.
func isJSONSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}
