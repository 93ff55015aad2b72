// Package hooks is scaworker's Mangopay webhook ingress: it receives Mangopay's hooks for
// the three SCA enrollment event types and stores each one, once, as a trigger in the
// trigger stream (docs/events.md). It runs inside `scaworker run`, on the public listener
// (SCA_HTTP_ADDR).
//
// # The request
//
// Mangopay calls GET /hooks/mangopay?EventType=…&RessourceId=…&Date=… (its spelling;
// RessourceId is the user id, Date Unix seconds), with no body, and counts anything but a
// 200 within 2 seconds as a failure to be resent (every 10 minutes for an hour, then every
// 8 hours for 3 days). The [Handler] checks, in this order, and answers:
//
//  1. method other than GET (HEAD included) → 405, with Allow: GET;
//  2. request target over [MaxURILen] (2 KiB) → 414 (a transport bound, checked before
//     the path so that an oversized request reveals nothing about the secret);
//  3. path: without SCA_HOOK_SECRET exactly /hooks/mangopay; with it exactly
//     /hooks/mangopay/<secret>, compared in constant time — anything else → 404;
//  4. SCA_HOOK_ALLOW_CIDRS set and the client address in none of them → 403 (see Client
//     address below; an unreadable address is refused too);
//  5. a query that does not parse (bad %-escape, ';') → 400; then [ParseHook]:
//     EventType missing or empty → 400; EventType not SCA_ENROLLMENT_EXPIRED, _FAILED or
//     _SUCCEEDED → 200 "ignored" (counted, nothing stored); RessourceId not a valid user id
//     (1 to 128 of A-Z a-z 0-9 _ -) → 400; Date not canonical decimal Unix seconds within
//     the last 45 days and at most 5 minutes ahead (bounds inclusive, whole seconds) → 400.
//     A repeated EventType, RessourceId or Date is refused with 400 at its own step, even
//     with equal values; unknown parameters are ignored;
//  6. over a rate limit → 429 with Retry-After. Three budgets, checked in this order, a
//     token spent from all of them or from none: the client address's own
//     (SCA_HOOK_SOURCE_RATE, IPv6 counted by /64), so forged hooks from one address cannot
//     keep Mangopay's on 429; this process's token bucket (SCA_HOOK_RATE, SCA_HOOK_BURST);
//     and, once bound to NATS, the deployment's (SCA_HOOK_RATE again, drawn from by every
//     replica together through the budget package, under [BudgetKey] of SCA_BUDGET_BUCKET:
//     N replicas behind one load balancer admit the rate once, not N times).
//     The limits sit after every check above, so none of their status codes depends on
//     load, and before any JetStream work: forged hooks cannot be stored faster than the
//     limits, hence cannot spend the Mangopay quota faster either. Only hooks that would be
//     stored spend a token;
//  7. storing ([Store.Put]) within SCA_HOOK_STORE_TIMEOUT (default 1.5 s, inside
//     Mangopay's 2 s) → 200; not stored in time, or JetStream not connected yet → 503, and
//     Mangopay resends.
//
// Answers are short constant texts that never echo the request; 200 is "ok" whether the
// hook was new or a resend.
//
// # Stored triggers and exactly-once
//
// A hook becomes a CloudEvent ([events.EncodeHookEvent]): source "mangopay", id
// [events.HookID] (hex SHA-256 of "EventType|RessourceId|Date"), type
// sca.session.expired, sca.session.failed or sca.enrollment.succeeded, data {user_id,
// occurred_at}, published on that type's subject with Nats-Msg-Id = id. Backfill from
// Mangopay's events API writes the very same ids through the same [Store].
//
// Mangopay resends for three days, far beyond JetStream's 2-minute duplicate window, so
// the store keeps a marker per hook id in the KV bucket sca_hooks (SCA_HOOKS_BUCKET, TTL
// 46 days: the 45-day acceptance window plus a margin). A hook whose marker exists is
// answered 200 without writing. Otherwise the trigger is published first and the marker
// created second: a crash between the two leaves a stored trigger without a marker, and the
// next resend is published again — dropped by the message id within the duplicate window,
// recorded as a duplicate outcome by the consumer's ledger past it. Marking first could
// mark a hook that was never stored, and every resend would then be dropped: a lost hook.
// Concurrent copies of one hook are published with the same message id (JetStream keeps
// one) and race to create the marker (one wins; the others find it).
//
// # Hooks are unsigned
//
// Mangopay does not sign hooks, so anyone who knows the URL can send one. Nothing a hook
// says is trusted on its own: the consumer asks Mangopay's sca-status before minting a
// link for an expiry or a failure (an enrolled user is skipped) and before recording a user
// as enrolled on SCA_ENROLLMENT_SUCCEEDED (an unconfirmed one is a skip, not_confirmed);
// the per-user link cap bounds links per user; and the rate limit bounds what a flood can
// cost. The secret path segment and the source allowlist keep most forgeries out at the
// door.
//
// # Client address
//
// With SCA_HOOK_CLIENT_IP_HEADER empty, the allowlist and the per-source limit use the
// TCP peer. Behind a reverse proxy or load balancer, set it to the header the proxy writes
// (e.g. X-Forwarded-For) and SCA_HOOK_TRUSTED_PROXIES to the proxies' addresses (required
// with the header: without it the configuration is refused, exit 2). The header is read
// only from a TCP peer in SCA_HOOK_TRUSTED_PROXIES; a request from any other peer is judged
// by that peer's address, so a client that reaches the listener directly cannot claim an
// allowed address by writing the header itself. From a trusted proxy, the header's entries
// are read from the right, skipping trusted proxies (a chain of them); the first other
// entry is the client. Entries further left come from the client or from proxies nobody
// trusts and are ignored. A trusted proxy's request without the header, or with an
// unparseable entry where the client should be, is refused (403).
//
// With neither SCA_HOOK_SECRET nor SCA_HOOK_ALLOW_CIDRS, anyone who can reach the listener
// can store hooks: `run` warns at start-up and `check` prints a warning ([OpenWarning]).
//
// # Operator guide
//
// Register one hook per event type with Mangopay (Dashboard > Developers > Webhooks, or
// POST /v2.01/{ClientId}/hooks with {"EventType": "SCA_ENROLLMENT_EXPIRED", "Url":
// "https://hooks.example.com/hooks/mangopay/<secret>"}, then the same for
// SCA_ENROLLMENT_FAILED and SCA_ENROLLMENT_SUCCEEDED; Url at most 255 characters,
// https with a trusted certificate, TLS 1.2+ — terminate TLS in front of scaworker).
// Mangopay allows one hook per event type per client.
//
// Settings: SCA_HOOK_SECRET (16–128 of A-Z a-z 0-9 - _ . ~; e.g. `openssl rand -hex 24`;
// never logged: paths are redacted with [RedactPath]), SCA_HOOK_ALLOW_CIDRS (Mangopay's
// source ranges, asked from Mangopay support; comma-separated, IPv4 and IPv6),
// SCA_HOOK_CLIENT_IP_HEADER and SCA_HOOK_TRUSTED_PROXIES, SCA_HOOK_RATE (default 20/1m, the
// deployment's) and SCA_HOOK_BURST (default 60, per process), SCA_HOOK_SOURCE_RATE (default
// 10/1m per address), SCA_HOOK_STORE_TIMEOUT (default 1.5s). Size the rate so that twice
// the hook rate stays well under SCA_MANGOPAY_RATE: each stored expiry or failure costs up
// to two Mangopay calls.
// A 429 counts as a failed delivery at Mangopay; 100 consecutive failures of one event type
// make Mangopay mark the hook INVALID (reset it with PUT …/hooks/{HookId}
// {"Validity":"VALID"}), so do not set the rate below your real peak.
//
// Metrics: scaworker_hooks_total{result} with result stored, duplicate, ignored,
// rejected, unavailable or rate_limited ([Results]; [Handler.OnResult] reports the same
// results, for the console's overview), and scaworker_hook_store_seconds. Logs: one Info
// "hook stored" per stored hook (event_id, user_id, event_type, stream_seq), a Warn per
// 503, Debug for everything else. After an outage longer than Mangopay's retries, run
// `scaworker backfill`: it stores the same ids, so nothing doubles.
package hooks
