package events

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Mangopay webhook event types that scaworker stores as triggers (docs/mangopay.md, "Webhooks and events").
const (
	// HookEnrollmentExpired is Mangopay's SCA_ENROLLMENT_EXPIRED, stored as [TypeSessionExpired].
	HookEnrollmentExpired = "SCA_ENROLLMENT_EXPIRED"
	// HookEnrollmentFailed is Mangopay's SCA_ENROLLMENT_FAILED, stored as [TypeSessionFailed].
	HookEnrollmentFailed = "SCA_ENROLLMENT_FAILED"
	// HookEnrollmentSucceeded is Mangopay's SCA_ENROLLMENT_SUCCEEDED, stored as
	// [TypeEnrollmentSucceeded].
	HookEnrollmentSucceeded = "SCA_ENROLLMENT_SUCCEEDED"
)

// HookSource is the CloudEvents source of the triggers stored from Mangopay's webhooks
// and from the backfill of Mangopay's events: both use the same source and ids
// ([HookID]), so one Mangopay event is stored once whichever way it arrived.
const HookSource = "mangopay"

// HookIDRetention is how long the id of a stored hook is remembered, so
// that Mangopay's resends and backfills store it once: Mangopay keeps
// events for 45 days (the backfill horizon, and the ingress's window),
// plus a day.
const HookIDRetention = 46 * 24 * time.Hour

// HookID returns the CloudEvents id (and Nats-Msg-Id) of the trigger stored for a Mangopay
// event: 64 lowercase hex digits of SHA-256("EventType|RessourceId|Date"), where unixDate
// is the decimal Unix time in seconds as Mangopay sent it (the webhook's Date parameter, or
// strconv.FormatInt of the events API's Date). The framing is unambiguous for the values
// that reach it: known event types and valid user ids hold no '|', and a date is digits.
func HookID(eventType, resourceID, unixDate string) string {
	sum := sha256.Sum256([]byte(eventType + "|" + resourceID + "|" + unixDate))
	return hex.EncodeToString(sum[:])
}

// HookType maps a Mangopay event type to the trigger type it is stored as:
// SCA_ENROLLMENT_EXPIRED → sca.session.expired, SCA_ENROLLMENT_FAILED → sca.session.failed,
// SCA_ENROLLMENT_SUCCEEDED → sca.enrollment.succeeded. It reports false for any other
// type (matched exactly, case-sensitive, as Mangopay spells them).
func HookType(eventType string) (string, bool) {
	switch eventType {
	case HookEnrollmentExpired:
		return TypeSessionExpired, true
	case HookEnrollmentFailed:
		return TypeSessionFailed, true
	case HookEnrollmentSucceeded:
		return TypeEnrollmentSucceeded, true
	}
	return "", false
}

type hookData struct {
	UserID     string `json:"user_id"`
	OccurredAt string `json:"occurred_at"`
}

type hookEvent struct {
	header
	Data hookData `json:"data"`
}

// EncodeHookEvent builds the trigger stored for a Mangopay event: a CloudEvent with source
// [HookSource], id [HookID](eventType, resourceID, decimal Unix seconds of date), type
// [HookType](eventType), time now (RFC 3339 UTC), datacontenttype application/json and data
// {user_id, occurred_at}, occurred_at being date in RFC 3339 UTC. date is truncated to whole
// seconds (Mangopay's dates are whole seconds). subjectType is the trigger type: publish
// the body on [Subjects.SubjectFor] of it, with Nats-Msg-Id = id. Two calls for the same
// event differ only in time. It fails when eventType is not one of the three SCA
// enrollment types, resourceID is not a valid user id ([ValidUserID]), or date or now is
// zero.
func EncodeHookEvent(eventType, resourceID string, date time.Time, now time.Time) (subjectType, id string, body []byte, err error) {
	typ, ok := HookType(eventType)
	switch {
	case !ok:
		return "", "", nil, fmt.Errorf("encode hook event: event type %s is not an SCA enrollment type", quote(eventType))
	case !ValidUserID(resourceID):
		return "", "", nil, fmt.Errorf("encode hook event: invalid user id %s", quote(resourceID))
	case date.IsZero():
		return "", "", nil, errors.New("encode hook event: zero date")
	case now.IsZero():
		return "", "", nil, errors.New("encode hook event: zero time")
	}
	date = date.UTC().Truncate(time.Second)
	id = HookID(eventType, resourceID, strconv.FormatInt(date.Unix(), 10))
	h := newHeader(id, typ, now, Trace{})
	h.Source = HookSource
	body, err = appendJSON(nil, hookEvent{
		header: h,
		Data:   hookData{UserID: resourceID, OccurredAt: date.Format(time.RFC3339)},
	})
	if err != nil {
		return "", "", nil, fmt.Errorf("encode hook event: %w", err)
	}
	return typ, id, body, nil
}
