package hooks

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/scaworker/scaworker/events"
)

// Bounds of a hook's Date, relative to the receiver's clock (docs/events.md, "From Mangopay's webhooks").
const (
	// MaxAge is how old a hook's Date may be: Mangopay's events API keeps 45 days, so
	// webhook and backfill accept the same window.
	MaxAge = 45 * 24 * time.Hour
	// MaxSkew is how far in the future a hook's Date may be (clock skew).
	MaxSkew = 5 * time.Minute
	// maxDateDigits bounds the Date parameter (Unix seconds fit in 11 digits until 5138).
	maxDateDigits = 12
)

// Mangopay's query parameter names, spelled as Mangopay sends them.
const (
	ParamEventType  = "EventType"
	ParamResourceID = "RessourceId" // sic: Mangopay's spelling
	ParamDate       = "Date"
)

// Hook is a valid Mangopay SCA enrollment hook, ready to be stored.
type Hook struct {
	// EventType is one of the three SCA_ENROLLMENT_* types.
	EventType string
	// UserID is RessourceId, a valid Mangopay user id ([events.ValidUserID]).
	UserID string
	// Date is when the event happened at Mangopay, in UTC, whole seconds.
	Date time.Time
	// RawDate is the Date parameter as sent: canonical decimal Unix seconds (no sign, no
	// leading zero), so that it equals strconv.FormatInt(Date.Unix(), 10) and the id
	// equals the one backfill computes.
	RawDate string
}

// ID returns the stored trigger's id and Nats-Msg-Id: [events.HookID] of the hook.
func (h Hook) ID() string {
	return events.HookID(h.EventType, h.UserID, h.RawDate)
}

// Rejection is why [ParseHook] did not accept a hook's parameters.
type Rejection struct {
	// Status is the HTTP status to answer: 400 for malformed parameters, 200 for an event
	// type scaworker does not handle (ignored: Mangopay must not resend it).
	Status int
	// Reason is a short constant text naming the check that failed; it never quotes the
	// request.
	Reason string
}

// Ignored reports whether the hook is well-formed enough to be acknowledged but of a type
// scaworker does not handle.
func (r *Rejection) Ignored() bool { return r.Status == http.StatusOK }

func reject(reason string) *Rejection {
	return &Rejection{Status: http.StatusBadRequest, Reason: reason}
}

// ParseHook validates the query parameters of a Mangopay hook at time now, in the documented
// order: EventType missing (absent or empty) → 400; EventType not one of the three
// SCA_ENROLLMENT_* types → 200, ignored (the other parameters are not looked at);
// RessourceId not a valid user id → 400; Date not a Unix time in whole seconds within
// [now − MaxAge, now + MaxSkew] → 400 (both bounds inclusive, compared in whole seconds:
// now's fraction is dropped).
//
// Strictness, decided so that one Mangopay event has exactly one id:
//   - A parameter given more than once is refused (400), even with equal values: two
//     readers (a proxy, a log pipeline) could disagree on which one counts.
//   - Date is canonical decimal digits only: no sign, no leading zero, no fraction, no
//     exponent, no white space, at most 12 digits. A non-canonical spelling of the same
//     second would otherwise get a different id than backfill gives it.
//   - Names and EventType values are matched exactly (case-sensitive), as Mangopay
//     spells them; unknown parameters are ignored.
//
// It is a pure function: it does no I/O and never panics.
func ParseHook(q url.Values, now time.Time) (Hook, *Rejection) {
	et, ok := single(q, ParamEventType)
	switch {
	case !ok:
		return Hook{}, reject("EventType given more than once")
	case et == "":
		return Hook{}, reject("EventType missing")
	}
	if _, known := events.HookType(et); !known {
		return Hook{}, &Rejection{Status: http.StatusOK, Reason: "event type not handled"}
	}
	uid, ok := single(q, ParamResourceID)
	switch {
	case !ok:
		return Hook{}, reject("RessourceId given more than once")
	case uid == "":
		return Hook{}, reject("RessourceId missing")
	case !events.ValidUserID(uid):
		return Hook{}, reject("RessourceId is not a valid user id (1 to 128 of A-Z a-z 0-9 _ -)")
	}
	raw, ok := single(q, ParamDate)
	switch {
	case !ok:
		return Hook{}, reject("Date given more than once")
	case raw == "":
		return Hook{}, reject("Date missing")
	}
	sec, ok := parseUnix(raw)
	if !ok {
		return Hook{}, reject("Date is not a Unix time in whole seconds")
	}
	nowSec := now.Unix()
	switch {
	case nowSec-sec > int64(MaxAge/time.Second):
		return Hook{}, reject("Date is more than 45 days old")
	case sec-nowSec > int64(MaxSkew/time.Second):
		return Hook{}, reject("Date is more than 5 minutes ahead")
	}
	return Hook{EventType: et, UserID: uid, Date: time.Unix(sec, 0).UTC(), RawDate: raw}, nil
}

// single returns the one value of name ("" when absent) and false when it is repeated.
func single(q url.Values, name string) (string, bool) {
	switch vs := q[name]; len(vs) {
	case 0:
		return "", true
	case 1:
		return vs[0], true
	default:
		return "", false
	}
}

// parseUnix parses canonical decimal Unix seconds.
func parseUnix(s string) (int64, bool) {
	if len(s) == 0 || len(s) > maxDateDigits || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
