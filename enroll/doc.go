// Package enroll is scaworker's Mangopay SCA client: it asks Mangopay for SCA
// enrollment links (POST /v2.01/{ClientId}/sca/users/{UserId}/enrollment),
// reads users and their SCA status, reads back idempotent responses and lists
// events. It knows nothing about NATS; the consumer package decides what to
// do with each outcome. The Mangopay behaviours it relies on, each with its
// public source, are listed in docs/mangopay.md.
//
// # Using it
//
// Build one [Client] per process from a [Config] (see [Config.Validate] for
// the settings) and share it between goroutines:
//
//	c, err := enroll.NewClient(enroll.Config{
//		ClientID:  "my-client",
//		APIKey:    apiKey,
//		ReturnURL: "https://example.com/sca-done",
//	}, log)
//	res, err := c.Enroll(ctx, enroll.Request{UserID: id, Trigger: trigger.Key(), Seq: seq})
//	// res.Link is ready to send; it dies at res.ExpiresAt.
//
// # SCA not required
//
// Enroll may answer 200 without a PendingUserAction.RedirectUrl: Mangopay
// opened no SCA session because the user needs none. Since February 2026
// Sandbox does this for every user whose Email (natural user) or
// LegalRepresentative.Email (legal user) contains "accept", e.g.
// ada+accept@example.com, so that platforms can test without SCA. Such an
// answer is not an error and not a broken link: [Client.Enroll] returns
// Result.NotRequired with no link, whether the 200 came directly or was
// read back after a 409, and the same holds if Production ever answers so.
// The consumer ends the trigger as a skip with reason sca_not_required.
//
// Every method takes a ctx, which bounds the whole call, waits and retries
// included; Config.RequestTimeout bounds each HTTP exchange.
//
// # Authentication
//
// The client fetches one OAuth2 token (client credentials: POST
// /v2.01/oauth/token with Basic ClientId:ApiKey) and shares it between all
// goroutines. It is refreshed 30 seconds before expires_in runs out, never per
// request; callers that find it stale wait for a single refresh. When a call
// answers 401, the token is refreshed once and the call sent once more.
// With mTLS configured (Config.TLSCert, Config.TLSKey: a file path or base64
// PEM each), every call presents the client certificate, the token call
// included, over TLS 1.2 or later.
//
// # Errors
//
// Every non-2xx answer becomes an [*APIError] (status, Mangopay's Type, Id,
// Message, errors map and Date), decoded tolerantly by [DecodeError]: an
// empty body, a proxy's HTML page or a truncated body still give a clear
// error. [Reason] maps any error to a stable reason code:
//
//	400 not_allowed_for_user_category_payer      user_not_owner
//	400 whose errors name LegalRepresentative.Email  missing_legal_representative_email
//	404                                          user_not_found
//	403 sca_proxy_missing                        forbidden
//	other 4xx                                    bad_request
//	429                                          rate_limited
//	5xx, transport errors                        unavailable
//	a link that fails the LinkBuilder's checks   link_rejected
//
// [IsRetryable] says whether another attempt may succeed: 429, 5xx,
// transport errors and timeouts, truncated or unreadable bodies. Everything
// else is permanent, and so is the end of the caller's ctx (it is not a
// verdict about the request).
//
// # Faults of the deployment
//
// Some failures are not about a user at all and would hit every user alike.
// They are returned as a [*FaultError] ([IsFault]), and the worker pauses
// instead of dead-lettering events:
//
//   - a second 401 after a token refresh (kind "unauthorized");
//   - bad credentials at the token endpoint: any 4xx there but 429
//     (kind "unauthorized"), or a 403 there (kind "forbidden");
//   - a 403 that is not user-specific: forbidden_ressource ("this endpoint is
//     not available for your account"), a 403 without a JSON body such as an
//     IP allowlist refusal, any 403 whose Type is not sca_proxy_missing
//     (kind "forbidden");
//   - a failed TLS handshake or a TLS alert from the server, e.g. a missing or
//     refused client certificate, or a server certificate we do not trust
//     (kind "tls");
//   - a 400 that refuses our Idempotency-Key as malformed: its errors name
//     the key or its Message speaks of it (kind "idempotency_key"). Every
//     key the client sends fits Mangopay's rule, so such a refusal is a bug
//     of ours or of something rewriting headers on the way, and it would
//     refuse every trigger alike: it never dead-letters one.
//
// The one user-specific 403 is sca_proxy_missing (the user has not given a
// proxy consent): an [*APIError] with reason forbidden.
//
// # Retries
//
// Each call retries in process with exponential backoff (a fresh
// backoff.ExponentialBackOff per call, between Config.InitialInterval and
// Config.MaxInterval, at most Config.MaxRetries retries, bounded by ctx),
// logging a Warn with the attempt and the wait before each retry. Longer
// outages are the consumer's business: it hands the message back to
// JetStream.
//
// # Rate limits
//
// Every request first waits on the client's [Governor] (a local budget,
// Config.Rate, Mangopay's X-RateLimit windows and, when installed with
// [Governor.Share], a [SharedBudget] drawn from by every process of the
// deployment) and every answer is reported to it; a block it sees is told
// to the other processes through the shared budget, and theirs stop it. No request is sent while a Mangopay window is spent. A 429
// is waited out through the governor and does not count as a retry; only ctx
// bounds that wait. The consumer reads [Governor.BlockedUntil] to stop
// pulling messages meanwhile.
//
// # Idempotency
//
// Mangopay does not replay answers: any reuse of an Idempotency-Key within 24
// hours answers 409 idempotent_creation_conflict, whatever the first call
// returned, and the first answer can be read back with GET
// /v2.01/{ClientId}/responses/{key}. [Client.Enroll] therefore derives keys
// from the trigger and a sequence n ([IdempotencyKey]) and walks them.
//
// Key n is the first 32 hex of the trigger's hash, "-", n while that fits
// Mangopay's 36 characters (n up to 999), and beyond 36 hex of the SHA-256
// of (trigger, n). Every key is 16–36 characters of [A-Za-z0-9-] whatever
// n, so a long outage, which spends a key per failed call, never makes a
// key Mangopay refuses; keys 1–999 keep the shape earlier versions used,
// so a call in flight across an upgrade is still read back. The walk:
//
//   - it starts at Request.Seq;
//   - a 200 gives the link (or Result.NotRequired when it has none);
//   - any other received answer (4xx, 5xx, 429, 401) spends the key;
//   - no answer (a transport error, a timeout, a truncated body) keeps the key:
//     the call may have executed, and the next try gets 409 and reads it back;
//   - a 409 reads the first answer back and judges it, as follows.
//
// A stored answer read back after a 409:
//
//   - a stored 200 whose Resource is an Enroll answer with a RedirectUrl,
//     whose link still has at least 5 minutes of its 10, gives that link
//     (Result.Recovered, MintedAt = the stored Date); with less left, or no
//     Date, the key is spent;
//   - a stored 200 whose Resource is a valid Enroll answer (a JSON object)
//     without PendingUserAction.RedirectUrl is the same as a fresh 200
//     without a link, and ends the same way; the key is not spent, as
//     spending it would open a session the first answer said was not needed;
//   - every other stored answer spends the key: a failure (any status but
//     200); a StatusCode that is not usable ("0", empty, missing, not a whole
//     number), as a call interrupted mid-flight can leave; a 200 whose
//     Resource is missing, null or not an Enroll answer. Such a record cannot
//     say what happened; the next key asks again, and a link of the first
//     call, if any, was never seen by anyone, so it is never sent;
//   - a 404 from /responses (the first call still in flight, or its record
//     lost) is read again twice, after Config.InitialInterval and then
//     twice that (at most Config.MaxInterval), then the key is spent.
//     Waiting longer could only save a Mangopay session; spending never
//     sends two links, since only answers that were read are used.
//
// So every 409 is settled within the attempt that got it — the key gives
// its answer or is spent — and is never retried endlessly. Result.NextSeq is always set, also with an error: the consumer
// stores it so that the next delivery of the trigger continues from there.
// So a redelivered trigger never mints a second link while the first is
// usable.
//
// # Secrets
//
// The API key, access tokens and the token in a link never appear in an error
// string or a log line. The link's text is only in Result.Link.
package enroll
