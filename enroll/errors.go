package enroll

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Reason codes returned by [Reason] and [APIError.Reason]. They match the
// dead-letter reasons of docs/events.md and are stable.
const (
	ReasonUserNotOwner         = "user_not_owner"
	ReasonMissingLegalRepEmail = "missing_legal_representative_email"
	ReasonUserNotFound         = "user_not_found"
	ReasonForbidden            = "forbidden"
	ReasonBadRequest           = "bad_request"
	ReasonRateLimited          = "rate_limited"
	ReasonUnavailable          = "unavailable"
	ReasonLinkRejected         = "link_rejected"
)

// Fault kinds of a [FaultError].
const (
	FaultUnauthorized = "unauthorized"
	FaultForbidden    = "forbidden"
	FaultTLS          = "tls"
	// FaultIdempotencyKey: Mangopay refused an Idempotency-Key as
	// malformed. Every key this client sends fits Mangopay's rule, so the
	// refusal is a bug of ours or of something rewriting headers on the way,
	// never a verdict about a user.
	FaultIdempotencyKey = "idempotency_key"
)

// Mangopay error types the client acts upon.
const (
	typePayer           = "not_allowed_for_user_category_payer"
	typeProxyMissing    = "sca_proxy_missing"
	typeIdempotencyUsed = "idempotent_creation_conflict"
)

// maxMessageLen caps the Message kept from an error body, so that a proxy
// page cannot flood logs.
const maxMessageLen = 300

// APIError is a non-2xx answer from Mangopay (or from a proxy in front of it).
// It never holds credentials: only the fields of Mangopay's error report.
type APIError struct {
	StatusCode int
	Type       string            // Mangopay error type, e.g. "param_error"; "" when the body had none
	ID         string            // Mangopay error Id: quote it to Mangopay support
	Message    string            // Mangopay's message, or a description of an unreadable body
	Errors     map[string]string // field → message ("errors" in the body); nil when absent
	Date       time.Time         // Mangopay's Date; zero when absent
}

var _ error = (*APIError)(nil)

// Error returns "mangopay: status 400 param_error: message (id …) [field: msg; …]".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mangopay: status %d", e.StatusCode)
	if e.Type != "" {
		b.WriteString(" ")
		b.WriteString(e.Type)
	}
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	if msg == "" {
		msg = "no message"
	}
	b.WriteString(": ")
	b.WriteString(msg)
	if e.ID != "" {
		fmt.Fprintf(&b, " (id %s)", e.ID)
	}
	if len(e.Errors) > 0 {
		keys := make([]string, 0, len(e.Errors))
		for k := range e.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(" [")
		for i, k := range keys {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(e.Errors[k])
		}
		b.WriteString("]")
	}
	return b.String()
}

// Temporary reports whether sending the same request again may succeed:
// 429 and every 5xx.
func (e *APIError) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// Reason maps the answer to a reason code: user_not_owner (400
// not_allowed_for_user_category_payer), missing_legal_representative_email
// (400 whose errors name LegalRepresentative.Email), user_not_found (404),
// forbidden (403), rate_limited (429), unavailable (5xx) and bad_request for
// any other status.
func (e *APIError) Reason() string {
	switch {
	case e.StatusCode == http.StatusBadRequest && strings.EqualFold(e.Type, typePayer):
		return ReasonUserNotOwner
	case e.StatusCode == http.StatusBadRequest && e.namesLegalRepEmail():
		return ReasonMissingLegalRepEmail
	case e.StatusCode == http.StatusNotFound:
		return ReasonUserNotFound
	case e.StatusCode == http.StatusForbidden:
		return ReasonForbidden
	case e.StatusCode == http.StatusTooManyRequests:
		return ReasonRateLimited
	case e.StatusCode >= 500:
		return ReasonUnavailable
	default:
		return ReasonBadRequest
	}
}

// refusesIdempotencyKey reports a 400 that refuses the Idempotency-Key
// itself: its errors name the key ("Idempotency-Key", "IdempotencyKey", any
// case) or its Message speaks of it.
func (e *APIError) refusesIdempotencyKey() bool {
	if e.StatusCode != http.StatusBadRequest {
		return false
	}
	for k := range e.Errors {
		if strings.EqualFold(strings.NewReplacer("-", "", "_", "", " ", "").Replace(k), "idempotencykey") {
			return true
		}
	}
	return strings.Contains(strings.ToLower(e.Message), "idempotency")
}

func (e *APIError) namesLegalRepEmail() bool {
	for k := range e.Errors {
		if strings.EqualFold(k, "LegalRepresentative.Email") || strings.EqualFold(k, "LegalRepresentativeEmail") {
			return true
		}
	}
	return false
}

// DecodeError turns a non-2xx answer into an [*APIError]. It is tolerant: an
// empty body, an HTML page from a proxy, a truncated or malformed JSON body,
// either casing of the keys ("errors"/"Errors", "Id"/"id" …), a Date given as
// an integer, a float or a numeric string, and OAuth-style bodies
// ({"error": …, "error_description": …}) all give an error whose text says
// what was received. It never returns nil and never panics.
func DecodeError(status int, body []byte) *APIError {
	e := &APIError{StatusCode: status}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		e.Message = "empty body"
		return e
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil || fields == nil {
		e.Message = describeBody(trimmed)
		return e
	}
	for k, v := range fields {
		switch strings.ToLower(k) {
		case "type":
			e.Type = clean(jsonString(v), 100)
		case "error": // OAuth style (token endpoint)
			if e.Type == "" {
				e.Type = clean(jsonString(v), 100)
			}
		case "id":
			e.ID = clean(jsonString(v), 200)
		case "message":
			e.Message = clean(jsonString(v), maxMessageLen)
		case "error_description":
			if e.Message == "" {
				e.Message = clean(jsonString(v), maxMessageLen)
			}
		case "date":
			e.Date = jsonUnixTime(v)
		case "errors":
			e.Errors = jsonErrors(v)
		}
	}
	if e.Message == "" && e.Type == "" {
		e.Message = "JSON body without Message or Type"
	}
	return e
}

// describeBody describes a body that is not a JSON object, without quoting
// it: a proxy page carries nothing worth logging.
func describeBody(b []byte) string {
	switch {
	case b[0] == '<':
		if t := htmlTitle(b); t != "" {
			return fmt.Sprintf("HTML body %q (%d bytes)", t, len(b))
		}
		return fmt.Sprintf("HTML body (%d bytes)", len(b))
	case b[0] == '{' || b[0] == '[':
		return fmt.Sprintf("truncated or malformed JSON body (%d bytes)", len(b))
	default:
		return fmt.Sprintf("non-JSON body (%d bytes)", len(b))
	}
}

// htmlTitle returns the cleaned <title> of an HTML page, "" when none.
func htmlTitle(b []byte) string {
	s := string(b[:min(len(b), 4096)])
	i := strings.Index(asciiLower(s), "<title>")
	if i < 0 {
		return ""
	}
	s = s[i+len("<title>"):]
	j := strings.Index(asciiLower(s), "</title>")
	if j < 0 {
		return ""
	}
	return clean(s[:j], 80)
}

// asciiLower lower-cases ASCII letters only, so byte offsets stay valid
// (strings.ToLower may change the length of invalid UTF-8).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// clean keeps printable characters, collapses white space and caps the length.
func clean(s string, limit int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if b.Len()+utf8.RuneLen(r) > limit {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// jsonString reads a JSON string; other JSON values are kept as their text.
func jsonString(v json.RawMessage) string {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s
	}
	if string(v) == "null" {
		return ""
	}
	return string(v)
}

// jsonUnixTime reads Unix seconds given as an integer, a float or a numeric
// string; anything else gives the zero time.
func jsonUnixTime(v json.RawMessage) time.Time {
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return time.Time{}
		}
		if f, err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
			return time.Time{}
		}
	}
	if f <= 0 || math.IsNaN(f) || math.IsInf(f, 0) || f > 1e11 {
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// jsonErrors reads Mangopay's errors map; values that are not strings are
// kept as their JSON text. null or anything not an object gives nil.
func jsonErrors(v json.RawMessage) map[string]string {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil || len(raw) == 0 {
		return nil
	}
	out := make(map[string]string, len(raw))
	for k, val := range raw {
		out[clean(k, 100)] = clean(jsonString(val), maxMessageLen)
	}
	return out
}

// FaultError is a fault of the whole deployment, not of one user: a second
// 401 after a token refresh, a 403 that is not user-specific (e.g.
// forbidden_ressource, an IP allowlist, any 403 on the token call), bad
// credentials at the token endpoint, a failed TLS handshake (for example a
// missing or refused client certificate), or an Idempotency-Key refused as
// malformed. Retrying the same user cannot fix it: the worker pauses and
// never dead-letters an event for it.
type FaultError struct {
	Kind string // FaultUnauthorized, FaultForbidden, FaultTLS or FaultIdempotencyKey
	Err  error
}

// Error returns "mangopay fault: <kind>: <cause>"; the cause carries no
// credentials.
func (e *FaultError) Error() string {
	if e.Err == nil {
		return "mangopay fault: " + e.Kind
	}
	return "mangopay fault: " + e.Kind + ": " + e.Err.Error()
}

// Unwrap returns the cause: an [*APIError] or a transport error.
func (e *FaultError) Unwrap() error { return e.Err }

var _ error = (*FaultError)(nil)

// IsFault reports whether err is (or wraps) a [*FaultError].
func IsFault(err error) bool {
	var f *FaultError
	return errors.As(err, &f)
}

// retryError marks an error that another attempt may fix: no answer was
// received (transport failure, per-request timeout), an answer's body could
// not be read, or one attempt walked through too many spent keys.
type retryError struct {
	msg string
	err error
}

func (e *retryError) Error() string {
	if e.err == nil {
		return e.msg
	}
	return e.msg + ": " + e.err.Error()
}

func (e *retryError) Unwrap() error { return e.err }

// stoppedError is returned when the caller's ctx ended: it is not a verdict
// about the request, so it is neither retryable nor a user's fault.
type stoppedError struct {
	ctxErr error
	last   error // last error seen before ctx ended, may be nil
}

func (e *stoppedError) Error() string {
	if e.last == nil {
		return e.ctxErr.Error()
	}
	return e.ctxErr.Error() + " (last error: " + e.last.Error() + ")"
}

func (e *stoppedError) Unwrap() error { return e.ctxErr }

// IsRetryable reports whether another attempt may succeed: an [*APIError]
// that is Temporary (429, 5xx), a transport error ([net.Error], per-request
// timeout), [io.ErrUnexpectedEOF] and unreadable or truncated bodies. The
// end of the caller's ctx, a [*FaultError], a [*LinkError] and every other
// error are not retryable.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var stopped *stoppedError
	var fault *FaultError
	var link *LinkError
	if errors.As(err, &stopped) || errors.As(err, &fault) || errors.As(err, &link) {
		return false
	}
	var re *retryError
	if errors.As(err, &re) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Temporary()
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF)
}

// Reason returns the reason code for any error returned by a [Client]: the
// [APIError.Reason] of an API answer, link_rejected for a [*LinkError],
// unavailable for transport errors, faults and an ended ctx, bad_request for
// invalid input. It returns "" for nil.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var (
		stopped *stoppedError
		fault   *FaultError
		link    *LinkError
		re      *retryError
		apiErr  *APIError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &stopped), errors.As(err, &fault):
		return ReasonUnavailable
	case errors.As(err, &link):
		return ReasonLinkRejected
	case errors.As(err, &re):
		return ReasonUnavailable
	case errors.As(err, &apiErr):
		return apiErr.Reason()
	case errors.As(err, &netErr), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ReasonUnavailable
	default:
		return ReasonBadRequest
	}
}
