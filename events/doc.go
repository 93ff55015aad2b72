// Package events defines scaworker's wire contract: the CloudEvents it consumes (triggers)
// and publishes (send-link events and DLQ records), the NATS subjects they travel on, and
// their validation and encoding. It does no I/O. The contract it implements is written
// out in docs/events.md, with a JSON Schema per event in docs/schemas.
//
// # Event format
//
// Every event is a CloudEvents 1.0 event in structured JSON mode
// (application/cloudevents+json): one JSON object holding the context attributes
// (specversion "1.0", id, source, type, optional time) and the payload in data, a JSON
// object.
//
// # Triggers
//
// Four trigger types arrive on four subjects ([DefaultSubjects]; all configurable):
//
//	sca.events.user.created          user.created              user_id, category, person_type, email, locale
//	sca.events.session.expired       sca.session.expired       user_id, occurred_at
//	sca.events.session.failed        sca.session.failed        user_id, occurred_at
//	sca.events.enrollment.succeeded  sca.enrollment.succeeded  user_id, occurred_at
//
// [Subjects.Decode] is strict where a mistake would cause harm and tolerant elsewhere:
//
//   - Refused (an [*InvalidError], sent to the DLQ with reason [ReasonInvalidEvent]): a body
//     over 64 KiB, not UTF-8, not a single JSON object; specversion other than the string
//     "1.0" (the number 1.0 is refused); id or source missing, not a string, empty, or
//     holding a control character; an unknown type, or a type that is not the one of the
//     subject it arrived on; a time or data.occurred_at that is not RFC 3339; a
//     datacontenttype other than application/json; data_base64; data missing, null or not
//     an object; data.user_id missing or not 1 to 128 of [A-Za-z0-9_-]; a category other
//     than OWNER, PAYER, PLATFORM or a person_type other than NATURAL, LEGAL (ASCII
//     case-insensitive; normalised to upper case); an id or source over [MaxIdentityLen]
//     (256) bytes; a data.email that is not a bare e-mail address (net/mail.ParseAddress
//     without a display name, comment or angle brackets; at most [MaxEmailLen] bytes); a
//     data.locale that is not a BCP 47 language tag (golang.org/x/text/language.Parse:
//     well-formed, registered subtags).
//   - Duplicate JSON member names are refused for every member Decode reads (the top-level
//     attributes above and the data members), since two parsers could disagree on which
//     one counts; a duplicate of a member Decode ignores is ignored too. Member names are
//     matched exactly: "ID" is an unknown extension, not the id.
//   - Tolerated: unknown attributes and extensions; unknown data members; JSON null for any
//     optional attribute or data member (CloudEvents: null means absent), and the empty
//     string for an optional data member.
//
// The error's Reason names what was wrong; EventID and Key are filled when the id (and
// source) could be read, for the DLQ record. An over-long id still gives the Key (a hash), and
// an EventID cut to its first 64 bytes and "…", so log lines stay small.
//
// # Identity
//
// A trigger's identity is the pair (source, id), as CloudEvents defines it. [KeyOf] hashes it
// with SHA-256 over a length-prefixed framing into 64 hex digits ([Trigger.Key]). The
// ledger entry, Mangopay's Idempotency-Key and the ids of the events published for the
// trigger all derive from that key, never from a field that may be empty.
//
// # Published events
//
// [EncodeLinkSend] writes the send-link event (type [TypeLinkSend], source [Source], id
// [LinkSendID]: "link-" + key), on [Subjects.LinkSend]. [EncodeDeadLetter] writes the DLQ
// record (type [TypeDeadLetter], id [DeadLetterID]: "dlq-" + key + "-" + stream sequence) on
// [Subjects.DLQSubject] of the original subject; it carries the original message untouched
// (embedded as JSON when it is valid JSON, else base64), so that [DecodeDeadLetter] gives
// back the exact bytes for a redrive. Both ids are deterministic and are meant to be used
// as the Nats-Msg-Id too, so JetStream drops a republished copy.
//
// # Contract with the consumer
//
// Decode errors are permanent: the consumer dead-letters the message at once and
// terminates it; it never redelivers it. The outcome and reason constants ([OutcomeLink],
// [ReasonNotOwner] …) are the stable label values of scaworker_events_total and of DLQ
// records.
//
// # Reasons
//
// Skips: [ReasonNotOwner] (not_owner), [ReasonAlreadyEnrolled] (already_enrolled),
// [ReasonUserClosed] (user_closed), [ReasonRecentLink] (recent_link), [ReasonUserCap]
// (user_cap), [ReasonStaleTrigger] (stale_trigger) and [ReasonSCANotRequired]
// (sca_not_required: Enroll answered 200 without a RedirectUrl, which Sandbox does since
// February 2026 for users whose e-mail, or legal representative's e-mail, contains
// "accept"). Dead letters: [ReasonInvalidEvent], [ReasonUserNotOwner],
// [ReasonMissingLegalRepEmail], [ReasonUserNotFound], [ReasonLinkRejected],
// [ReasonForbidden], [ReasonBadRequest] and [ReasonMaxAttempts].
package events
