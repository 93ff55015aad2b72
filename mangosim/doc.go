// Package mangosim is an in-memory simulator of the parts of Mangopay's API that the SCA
// enrollment worker uses, faithful enough that the official Node SDK
// (mangopay4-nodejs-sdk, see scripts/nodesdk) cannot tell it from the sandbox. Tests start it
// with [Start] (an httptest server on 127.0.0.1) and point a client's base URL at
// [Server].URL; cmd/mangosim serves it on a fixed port for manual runs and benchmarks.
//
// The Mangopay behaviours it reproduces, with their sources, are in docs/mangopay.md of this
// repository; choices the simulator makes where Mangopay's documentation is silent are marked
// "sim choice" below.
//
// # Endpoints
//
//   - POST /v2.01/oauth/token — Basic base64(ClientId:ApiKey), form
//     grant_type=client_credentials → 200 {"access_token","token_type":"bearer","expires_in"}.
//     Tokens expire after [Options].TokenTTL. Bad credentials → 401 {"error":"invalid_client",
//     "error_description"} (OAuth style; the status is a sim choice); another grant_type → 400
//     unsupported_grant_type.
//   - POST /v2.01/{ClientId}/sca/users/{UserId}/enrollment (no body needed) →
//     200 {"PendingUserAction":{"RedirectUrl":"https://<LinkHost>/?token=<32 hex>"}} and the
//     user becomes Triggered. PAYER → 400 not_allowed_for_user_category_payer; LEGAL without
//     LegalRepresentative.Email → 400 param_error with errors
//     {"LegalRepresentative.Email":"'Email' must not be empty."}; unknown → 404
//     ressource_not_found; PLATFORM → 400 not_allowed_for_user_category_platform (sim choice);
//     CLOSED → 400 param_error errors {"UserId":"The user is closed."} (sim choice). An
//     already enrolled owner gets a new link (sim choice: each call opens a new session).
//     Sandbox's SCA bypass (since February 2026): when the e-mail of the person who does SCA
//     — Email for a natural user, LegalRepresentative.Email for a legal one — contains
//     "accept" (case-insensitive, sim choice), e.g. ada+accept@example.com, the answer is 200
//     {"PendingUserAction":null}: no session, no link, and the user's SCA state is left as
//     it was (sim choice). See [SCABypassed].
//   - GET /v2.01/{ClientId}/sca/users/{UserId} → the SCA user object: Id, Tag, CreationDate,
//     UserCategory, PersonType, UserStatus, KYCLevel, Email, …, for LEGAL also Name,
//     LegalPersonType and a nested LegalRepresentative{FirstName, LastName, Email (null when
//     missing), …}; PendingUserAction is always null.
//   - GET /v2.01/{ClientId}/sca/users/{UserId}/sca-status → {UserStatus, IsEnrolled,
//     LastEnrollmentDate (unix or null), LastConsentCollectionDate (null), ConsentScope{…
//     null}}; 404 ressource_not_found while the user never triggered an enrollment.
//   - GET /v2.01/{ClientId}/responses/{IdempotencyKey} → the first answer given for the key:
//     {"StatusCode":"200","ContentLength":"…","ContentType":"…","Date":"<HTTP-date>",
//     "RequestURL":"…","Resource":<original body as JSON>} (a non-JSON body, e.g. the HTML 502,
//     becomes a JSON string); 404 when unknown or older than 24 h.
//   - GET /v2.01/{ClientId}/events?EventType=&AfterDate=&BeforeDate=&page=&per_page=&Sort=
//     → [{"ResourceId","EventType","Date"}] with X-Number-Of-Pages / X-Number-Of-Items headers.
//     per_page 1–100 (default 10), page ≥ 1, Sort Date:ASC or Date:DESC (default ascending,
//     sim choice); a date before now−45 days → 400 param_error. Events come from
//     [Sim.AddEvent] and [Sim.CompleteEnrollment].
//
// API calls need "Authorization: Bearer <token>" (the scheme is matched case-insensitively;
// the SDKs send "bearer"); an unknown, expired or revoked token → 401
// {"Message":"The authorization credentials are not valid","Type":"invalid_credentials","Date"}.
// A path with another ClientId or an unknown route → 404 ressource_not_found; a wrong method
// → 405.
//
// Errors are Mangopay error reports: {"Message","Type","Id":"<uuid>#<unix>","Date":<unix>,
// "errors":{…} or null}.
//
// # Idempotency
//
// POST …/enrollment honours the Idempotency-Key header. A key must be 16–36 characters of
// [A-Za-z0-9-] (Mangopay's documented format), else 400 param_error with errors
// {"Idempotency-Key": …} and the key is not used; GET /responses/{key} refuses such a key
// the same way (the error bodies are a sim choice). The first call with a key stores its answer, whatever
// it is — 200, 400, 404 or an injected 5xx — and any reuse of the key within 24 h answers
// 409 idempotent_creation_conflict without executing anything; the first answer is read back
// with GET /responses/{key}. Calls refused at the edge (429 rate limit, 403, 401) do not use
// the key (sim choice). Concurrent calls with one key: exactly one executes.
//
// # Rate limits
//
// Every answer carries X-RateLimit (calls made), X-RateLimit-Remaining and X-RateLimit-Reset
// (unix seconds, when the oldest call of the window leaves it) once per window of
// [Options].Windows, as separate header lines in window order. Budgets are real sliding
// windows over accepted calls (token calls included), kept at whole seconds so a reset is
// never more than the window's length ahead (the SDKs classify windows by reset−now); a call
// that would exceed a window is answered 429 {"Type":"rate_limit",…} and does not count.
//
// # Seeded users
//
// [DefaultUsers] (ids are also constants, e.g. [UserOwnerNatural]):
//
//	Id                             Category  Person  Status               Notes
//	user_m_owner_natural           OWNER     NATURAL ACTIVE               not enrolled, never triggered (sca-status 404)
//	user_m_owner_natural_2         OWNER     NATURAL ACTIVE               same, a second one
//	user_m_owner_natural_pending   OWNER     NATURAL PENDING_USER_ACTION  not enrolled, never triggered
//	146476890                      OWNER     NATURAL ACTIVE               legacy numeric id
//	user_m_owner_legal             OWNER     LEGAL   ACTIVE               BUSINESS, LegalRepresentative.Email rep@example.com
//	user_m_owner_soletrader        OWNER     LEGAL   ACTIVE               SOLETRADER, rep email sole@example.com
//	user_m_owner_legal_norep       OWNER     LEGAL   ACTIVE               BUSINESS, no rep email: Enroll → 400 param_error
//	user_m_payer                   PAYER     NATURAL ACTIVE               Enroll → 400 not_allowed_for_user_category_payer
//	user_m_payer_legal             PAYER     LEGAL   ACTIVE               ORGANIZATION; Enroll → 400 (payer)
//	user_m_platform                PLATFORM  LEGAL   ACTIVE               Enroll → 400 not_allowed_for_user_category_platform
//	user_m_owner_enrolled          OWNER     NATURAL ACTIVE               IsEnrolled true (sca-status 200)
//	user_m_owner_triggered         OWNER     NATURAL ACTIVE               triggered, not enrolled (sca-status 200, IsEnrolled false)
//	user_m_owner_closed            OWNER     NATURAL CLOSED               Enroll → 400 param_error
//	user_m_owner_accept            OWNER     NATURAL ACTIVE               Email ada+accept@example.com: Enroll → 200, no RedirectUrl
//	user_m_owner_legal_accept      OWNER     LEGAL   ACTIVE               BUSINESS, rep email rep+accept@example.com: Enroll → 200, no RedirectUrl
//
// Tests add their own users with [Sim.AddUser] (or [Options].Users) and finish a session
// with [Sim.CompleteEnrollment]. A running simulator (cmd/mangosim) takes users and events
// over HTTP at POST /_sim/users and POST /_sim/events ([AdminPrefix]); the default
// credentials are ClientId "sim-client" and API key "sim-api-key" ([DefaultClientID],
// [DefaultAPIKey]).
//
// # Faults
//
// [Sim.SetFaults] injects failures at run time; see [Faults] for the knobs: Latency,
// ErrorRate (500, seeded generator), Burst5xx (next N calls 503), RateLimitedUntil (429 with
// spent windows), WrongHost (links on [WrongLinkHost]), HTMLErrors (502 text/html),
// Status403 (403 forbidden_ressource everywhere), RevokeTokens (one-shot revocation),
// RejectTokens (every bearer refused) and DropAfterCommit (the next N enrollment POSTs are
// executed and their answer stored under the key, then the connection is closed unanswered:
// the client sees a transport error while the key is used). Beware: net/http's Transport
// silently replays a request that carries an Idempotency-Key header when a reused keep-alive
// connection dies before the answer, so a Go client on a warm connection sees the replay's
// 409 rather than the transport error (TestFaultDropAfterCommitReplay pins this).
//
// A worker killed mid-call is reproduced with three more knobs. HoldEnrollments keeps every
// enrollment POST in flight (after Latency) until a SetFaults without it. CommitAbandoned: a
// call whose client hangs up during Latency or a hold is executed anyway (without it, nothing
// is executed and the key stays unused; [Call].Abandoned marks such calls either way).
// StoredShapes: the records
// of the next keys stored by enrollment POSTs read back from GET /responses/{key} damaged,
// one [StoredShape] per key in turn: [StoredStatusZero] ("StatusCode":"0"),
// [StoredStatusEmpty] (""), [StoredStatusMissing] (no field), [StoredStatusNonNumeric]
// ("OK"), [StoredNoResource] (no field), [StoredNullResource] (null), [StoredInFlight] (404
// for the first [InFlightReads] reads, as while the first call still runs, then intact) and
// [StoredLost] (404 for good while the key keeps answering 409); [StoredShapes] lists them
// all. For example, from a Go test:
//
//	sim.SetFaults(mangosim.Faults{
//		Latency:         300 * time.Millisecond,
//		HoldEnrollments: true,
//		CommitAbandoned: true,
//		StoredShapes:    mangosim.StoredShapes(), // the next 8 keys, one shape each
//	})
//	// … wait for sim.InFlight("POST", "/enrollment"), kill the worker …
//	sim.SetFaults(mangosim.Faults{Latency: 300 * time.Millisecond}) // release, heal
//
// # Recording
//
// Every call is recorded ([Call]: method, path, Idempotency-Key, status, time, dropped,
// abandoned, and the link an enrollment minted); tests read them with [Sim.Calls],
// [Sim.Count] and [Sim.ResetCalls], the requests being served right now with [Sim.InFlight],
// the number of issued tokens with [Sim.Tokens] and the tokens themselves with
// [Sim.AccessTokens]. The clock is [Options].Now, so expiry, windows and
// retention are tested without sleeping.
package mangosim
