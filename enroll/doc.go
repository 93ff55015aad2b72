// Package enroll is scaworker's Mangopay SCA client: it asks Mangopay for SCA
// enrollment links (POST /v2.01/{ClientId}/sca/users/{UserId}/enrollment),
// reads users and their SCA status, reads back idempotent responses and lists
// events. It knows nothing about NATS; the consumer package decides what to
// do with each outcome.
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
//     (kind "tls").
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
// from the trigger ([IdempotencyKey]: 32 hex of the trigger's hash, "-",
// a sequence) and walks them:
//
//   - it starts at Request.Seq;
//   - a 200 gives the link;
//   - a 409 reads the first answer back: a stored 200 whose link still has at
//     least 5 minutes of its 10 gives that link (Result.Recovered, MintedAt =
//     the stored Date); a stored failure or a stale link spends the key and
//     Enroll posts again with the next one;
//   - any other received answer (4xx, 5xx, 429, 401) spends the key;
//   - no answer (a transport error, a timeout, a truncated body) keeps the key:
//     the call may have executed, and the next try gets 409 and reads it back.
//
// Result.NextSeq is always set, also with an error: the consumer stores it
// so that the next delivery of the trigger continues from there. So a
// redelivered trigger never mints a second link while the first is usable.
//
// # Secrets
//
// The API key, access tokens and the token in a link never appear in an error
// string or a log line. The link's text is only in Result.Link.
package enroll
