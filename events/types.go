package events

// CloudEvents types. The four trigger types arrive on the trigger subjects (see [Subjects]);
// scaworker publishes the last two.
const (
	// TypeUserCreated is published by the platform's user service when a user signs up.
	TypeUserCreated = "user.created"
	// TypeSessionExpired reports that a user's SCA enrollment session expired
	// (Mangopay's SCA_ENROLLMENT_EXPIRED hook).
	TypeSessionExpired = "sca.session.expired"
	// TypeSessionFailed reports that a user's SCA enrollment session failed
	// (Mangopay's SCA_ENROLLMENT_FAILED hook).
	TypeSessionFailed = "sca.session.failed"
	// TypeEnrollmentSucceeded reports that a user completed SCA enrollment
	// (Mangopay's SCA_ENROLLMENT_SUCCEEDED hook).
	TypeEnrollmentSucceeded = "sca.enrollment.succeeded"
	// TypeLinkSend is the send-SCA-link event scaworker publishes (see [EncodeLinkSend]).
	TypeLinkSend = "sca.link.send"
	// TypeDeadLetter is the DLQ record scaworker publishes (see [EncodeDeadLetter]).
	TypeDeadLetter = "sca.dead_letter"
)

// Outcomes of a trigger (docs/events.md). Every trigger ends with exactly one of them; a redelivered
// or replayed trigger that already has one is counted as [OutcomeDuplicate].
const (
	// OutcomeLink means a send-link event was published.
	OutcomeLink = "link"
	// OutcomeSkip means no link was needed; the reason says why.
	OutcomeSkip = "skip"
	// OutcomeDLQ means the trigger was dead-lettered; the reason says why.
	OutcomeDLQ = "dlq"
	// OutcomeState means the trigger only updated per-user state (enrollment succeeded).
	OutcomeState = "state"
	// OutcomeDuplicate counts a trigger that already had an outcome; it records none.
	OutcomeDuplicate = "duplicate"
)

// Reasons attached to [OutcomeSkip] and [OutcomeDLQ] (docs/events.md). They are stable metric
// label values.
const (
	// ReasonNotOwner (skip): the user is a PAYER or PLATFORM user.
	ReasonNotOwner = "not_owner"
	// ReasonAlreadyEnrolled (skip): Mangopay says the user is enrolled and active.
	ReasonAlreadyEnrolled = "already_enrolled"
	// ReasonUserClosed (skip): the user is CLOSED at Mangopay.
	ReasonUserClosed = "user_closed"
	// ReasonRecentLink (skip): a user.created for a user whose last link still works.
	ReasonRecentLink = "recent_link"
	// ReasonUserCap (skip): the per-user link cap is reached.
	ReasonUserCap = "user_cap"
	// ReasonStaleTrigger (skip): an expiry or failure older than the maximum age.
	ReasonStaleTrigger = "stale_trigger"
	// ReasonSCANotRequired (skip): Mangopay answered Enroll with 200 but no RedirectUrl, so
	// the user needs no SCA session (Sandbox does so for users whose e-mail, or legal
	// representative's e-mail, contains "accept"). Nothing is published, and the user is
	// remembered: later triggers for them are skipped without a call.
	ReasonSCANotRequired = "sca_not_required"
	// ReasonInvalidEvent (dlq): the event failed [Subjects.Decode].
	ReasonInvalidEvent = "invalid_event"
	// ReasonUserNotOwner (dlq): the event said OWNER but Mangopay refused a PAYER.
	ReasonUserNotOwner = "user_not_owner"
	// ReasonMissingLegalRepEmail (dlq): a legal owner without a legal representative e-mail.
	ReasonMissingLegalRepEmail = "missing_legal_representative_email"
	// ReasonUserNotFound (dlq): Mangopay does not know the user.
	ReasonUserNotFound = "user_not_found"
	// ReasonLinkRejected (dlq): Mangopay's link failed a check and was not published.
	ReasonLinkRejected = "link_rejected"
	// ReasonForbidden (dlq): a user-specific 403 from Mangopay.
	ReasonForbidden = "forbidden"
	// ReasonBadRequest (dlq): any other permanent 4xx from Mangopay.
	ReasonBadRequest = "bad_request"
	// ReasonMaxAttempts (dlq): the retry budget is exhausted; the last error is in the record.
	ReasonMaxAttempts = "max_attempts"
)

// MaxBodySize is the largest trigger body, in bytes, that [Subjects.Decode] accepts (64 KiB).
const MaxBodySize = 64 << 10

// Source is the CloudEvents source attribute of every event scaworker publishes
// (send-link events and DLQ records).
const Source = "scaworker"

// SpecVersion is the only CloudEvents specversion accepted and produced.
const SpecVersion = "1.0"

// ContentTypeJSON is the datacontenttype of the events scaworker publishes, and the only one
// accepted (besides its absence) on triggers.
const ContentTypeJSON = "application/json"

// Category values of a trigger's data, upper-cased by [Subjects.Decode].
const (
	// CategoryOwner is a Mangopay OWNER user, the only category that is enrolled.
	CategoryOwner = "OWNER"
	// CategoryPayer is a Mangopay PAYER user.
	CategoryPayer = "PAYER"
	// CategoryPlatform is a Mangopay PLATFORM user.
	CategoryPlatform = "PLATFORM"
)

// Person types of a trigger's data, upper-cased by [Subjects.Decode].
const (
	// PersonNatural is a natural person.
	PersonNatural = "NATURAL"
	// PersonLegal is a legal person (company, organisation).
	PersonLegal = "LEGAL"
)
