package mangosim

import "time"

// Faults are failures injected at run time with [Sim.SetFaults]. The zero value injects none.
//
// Scope: Latency, Status403, RateLimitedUntil, RevokeTokens and RejectTokens apply to every
// call, the token call included. Burst5xx, ErrorRate and HTMLErrors apply to the API calls
// after authentication, never to POST /oauth/token (so a test counting enrollment POSTs is not
// disturbed by token fetches). DropAfterCommit applies to POST …/enrollment only.
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
}
