package mangosim

import (
	"strconv"
	"time"
)

// Faults are failures injected at run time with [Sim.SetFaults]. The zero value injects none.
//
// Scope: Latency, Status403, RateLimitedUntil, RevokeTokens, RejectTokens and CommitAbandoned
// apply to every call, the token call included. Burst5xx, ErrorRate and HTMLErrors apply to the
// API calls after authentication, never to POST /oauth/token (so a test counting enrollment
// POSTs is not disturbed by token fetches). DropAfterCommit, HoldEnrollments and StoredShapes
// apply to POST …/enrollment only.
type Faults struct {
	// Latency delays every answer (the wait ends early when the client goes away).
	Latency time.Duration
	// ErrorRate is the share (0..1) of API calls answered 500 internal_server_error, drawn
	// from a generator seeded with [Options].Seed.
	ErrorRate float64
	// Burst5xx: the next N API calls answer 503; decremented per call.
	Burst5xx int
	// RateLimitedUntil: until then every call answers 429 rate_limit with every window
	// reported spent (remaining 0, reset = this time rounded up to the second).
	RateLimitedUntil time.Time
	// WrongHost mints links on [WrongLinkHost] instead of [Options].LinkHost.
	WrongHost bool
	// HTMLErrors: every API call answers 502 with an HTML body (a gateway error page).
	HTMLErrors bool
	// Status403: every call answers 403 forbidden_ressource (IP allowlist, disabled key …).
	Status403 bool
	// RevokeTokens is an action: SetFaults revokes every token issued so far (their bearers
	// then get 401 invalid_credentials) and clears the flag; new tokens work.
	RevokeTokens bool
	// RejectTokens: while set, every bearer, fresh ones included, gets 401 invalid_credentials.
	RejectTokens bool
	// DropAfterCommit: the next N enrollment POSTs are executed (the answer is stored under
	// the Idempotency-Key, the user is marked Triggered) but the connection is closed without
	// an answer; decremented per dropped call.
	DropAfterCommit int
	// HoldEnrollments: enrollment POSTs wait, after Latency and before anything is decided,
	// until a SetFaults without it releases them (or their client hangs up, or the server
	// closes): calls kept in flight for as long as a test needs, e.g. to kill a worker
	// mid-call.
	HoldEnrollments bool
	// CommitAbandoned: a call whose client hangs up during Latency or a hold (a worker killed mid-call)
	// is still executed, as Mangopay does not notice a client that left: a keyed enrollment
	// POST uses its key, stores its answer and mints its session; the answer goes nowhere.
	// Without it such a call is not executed at all and its key stays unused.
	CommitAbandoned bool
	// StoredShapes damages the records GET /responses/{key} reads back: the answers stored
	// for the next len(StoredShapes) enrollment POSTs that use a fresh Idempotency-Key take
	// these shapes in turn, one per key (the first shape for the first key …); consumed per
	// key. The answer of the POST itself is not changed.
	StoredShapes []StoredShape
}

// StoredShape is how GET /responses/{key} renders the record of a key: intact, or damaged in
// one of the ways a record of a call interrupted mid-flight has been seen to be.
type StoredShape int

// The shapes of a stored record.
const (
	StoredIntact           StoredShape = iota // the first answer, as given
	StoredStatusZero                          // "StatusCode":"0"
	StoredStatusEmpty                         // "StatusCode":""
	StoredStatusMissing                       // no StatusCode field
	StoredStatusNonNumeric                    // "StatusCode":"OK"
	StoredNoResource                          // no Resource field
	StoredNullResource                        // "Resource":null
	// StoredInFlight: the first [InFlightReads] reads answer 404 ressource_not_found, as
	// while the first call is still running, then the intact record.
	StoredInFlight
	// StoredLost: every read answers 404 ressource_not_found, while the key keeps
	// answering 409 (the first call's record is lost, or it never finishes).
	StoredLost
)

// InFlightReads is how many reads of a [StoredInFlight] record answer 404.
const InFlightReads = 2

// StoredShapes returns every damaged shape (all but [StoredIntact]), e.g. to cycle through.
func StoredShapes() []StoredShape {
	return []StoredShape{StoredStatusZero, StoredStatusEmpty, StoredStatusMissing, StoredStatusNonNumeric,
		StoredNoResource, StoredNullResource, StoredInFlight, StoredLost}
}

var shapeNames = [...]string{"intact", "status_zero", "status_empty", "status_missing", "status_non_numeric",
	"no_resource", "null_resource", "in_flight", "lost"}

// String returns a short name, e.g. "status_zero".
func (s StoredShape) String() string {
	if s >= 0 && int(s) < len(shapeNames) {
		return shapeNames[s]
	}
	return "StoredShape(" + strconv.Itoa(int(s)) + ")"
}
