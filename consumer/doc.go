// Package consumer wires JetStream to Mangopay: it pulls trigger events,
// applies the rules of docs/events.md, asks Mangopay for enrollment sessions and
// ends every trigger with exactly one outcome — a send-SCA-link event, a
// skip with its reason, a state change, or a dead-letter record.
//
// # Layout
//
// [Provision] creates what is missing: the trigger stream (limits
// retention, kept for replay), the links stream (per-message TTL: a link
// message lives until its expires_at; a 15-minute duplicate window, longer
// than a link's life), the dead-letter stream, a durable pull consumer
// with explicit acks and unlimited deliveries, and two KV buckets: the
// ledger of outcomes and the per-user state. An existing links stream must
// hold every link until it expires: limits retention, a MaxAge of at least
// a link's life, no message, byte or per-subject limit; and no stream is
// kept in memory (a NATS restart would empty it). An existing stream, consumer
// or bucket is never modified; one that cannot work stops start-up with
// an error that says what to change. [Check] does the same checks without
// creating anything.
//
// # One delivery
//
// Run pulls with Fetch, only as many messages as there are free handlers
// (Config.Concurrency), so nothing waits in a client buffer and a pause
// stops the pulling itself. One heartbeat goroutine keeps every message in
// hand alive with InProgress while its handler works. A handler:
//
//  1. decodes the event; an invalid one is dead-lettered (invalid_event) at once;
//  2. reads the ledger (KV, keyed by the hash of the CloudEvents source and
//     id) — except at the first delivery, where no entry is expected: its
//     first write creates the entry, and a conflict reads it and starts
//     over. A decided trigger is a duplicate: acknowledged, nothing else.
//     A decided trigger whose event may not have been published is
//     finished: a dead letter's record is published again with the same
//     message id; a link, on a redelivery of the message that decided it,
//     is looked for in the links stream and, if missing while the link
//     lives, read back from Mangopay and published with the same id;
//  3. records the attempt with compare-and-set before its first Mangopay
//     call (the retry budget is counted here, by the worker, not by the
//     server's MaxDeliver, so a worker killed during the last allowed
//     delivery still dead-letters the trigger at the next one). The first
//     delivery, which no budget can end, only reads the ledger there (an
//     entry found starts the delivery over from it); its entry is created
//     by the write that decides the trigger or saves a retry's progress. A
//     verdict reached without a call is recorded once, by the write that
//     decides it;
//  4. applies the eligibility rules in the documented order, with only the
//     Mangopay calls they allow, reading the user's state only for the rules
//     that need it;
//  5. enrolls, with the Idempotency-Key sequence kept in the ledger, so a
//     redelivery after a crash reads Mangopay's first answer back (409 rule).
//     A 200 without a link (SCA not required, e.g. Sandbox's bypass for
//     e-mails containing "accept") is a skip with reason sca_not_required:
//     the link mark is released and the user remembered, so later triggers
//     and replays skip without a call;
//  6. records the outcome and the event it publishes, publishes it with a
//     deterministic message id, and acknowledges (an ack JetStream
//     confirmed; Term for dead letters). A link is recorded without the
//     link itself ([SentLink]: the token never enters the ledger), so that
//     one write is all; a dead letter's record is kept in the entry until
//     it is published, then removed.
//
// A compare-and-set conflict means another replica or delivery wrote
// first; the handler starts over from what it wrote.
//
// The ledger and user-state writes and the acks' confirmations are the
// worker's hot requests: they are published straight to the key's subject
// with the expected last sequence (bucket.write) and wait on reply
// subscriptions the worker keeps, each request with a reply subject of its
// own (requests), instead of jetstream's generic path (a key regexp, a
// context, an inbox map entry and a JSON decoder per call). A mirrored
// bucket, a JetStream domain or API prefix, and a create over a delete or
// purge marker go through jetstream's KV, as do all reads.
//
// # Acks and retries
//
// Evaluating a trigger gives a verdict (an outcome, a retryable failure, a
// fault, a wait for another trigger's call, a shutdown); each path of a
// delivery ends in one settlement — ack (confirmed, as DoubleAck confirms
// it: the handlers that finish together send plain acks and one double ack,
// whose answer confirms them all), term (TermWithReason,
// once the dead-letter record is published) or nak with a delay — and one
// function acts on it and reports the outcome.
//
//   - Retryable failures (network, timeouts, 5xx, 429) are retried in
//     process by the enroll client (well inside the ack wait), then handed
//     back with NakWithDelay: exponential from Config.RetryDelayMin,
//     capped at Config.RetryDelayMax, jittered. When Config.RetryBudget has
//     passed since the first attempt, the next delivery dead-letters the
//     trigger with reason max_attempts and the last error.
//   - A spent Mangopay rate-limit window stops the pulling; messages in hand
//     wait for the reset with their heartbeat running: no attempt is spent
//     and no delivery count grows.
//   - A deployment-wide fault (second 401, a 403 that is not about one user,
//     a TLS failure) pauses consumption with a doubling pause, turns
//     [Consumer.Ready] false, logs one error, and hands messages back. It
//     never dead-letters and never spends the retry budget.
//   - A user.created that finds another trigger's call for the same user in
//     flight is handed back with the retry delay until that call ends.
//   - On shutdown, pulling stops at once; messages in hand finish or are
//     handed back within Config.ShutdownTimeout.
//
// # Guarantees and their one limit
//
// The ledger is what guarantees one outcome per trigger: a redelivery, a
// replay or a second replica finds the decided entry. JetStream's
// Nats-Msg-Id dedupe is the second line for the outcome events. One
// residual case is decided in favour of "no double send": if the worker
// dies after recording a link and before JetStream confirmed its publish,
// and stays down until the link has expired (10 minutes), the link is not
// published again (it would be dead) and no second one is minted (the
// first may have been sent). Within the link's life the republish is exact:
// the same link, read back from Mangopay's stored answer to the same
// Idempotency-Key (GET /responses/{key}, one call, on this crash path
// only), in the same event with the same message id. While Mangopay cannot
// answer that read, the message is handed back until the link's life ends
// (a link that dies while it is read, e.g. in a rate-limit window, is not
// published); no other link is ever minted for the trigger.
//
// # Redrive lineage
//
// A trigger and its redrive copies (`scaworker dlq redrive`) are one
// lineage with at most one link; lineage.go owns that rule for the worker
// and the operator tools ([RedriveOf], [Reopens], [Ledger.MarkRedrive]):
// the original's entry names the one copy that may decide (RedrivenTo,
// written before the copy is published), any other copy settles as
// duplicate, and a replay never reopens a copy or a redriven original.
// The operator tools read the ledger through [OpenLedger] and key
// triggers with [TriggerKey], the worker's own rules; they also read
// streams with [ReadStream] (bounded, ordered consumer, as the worker
// does to find an outcome published long ago), bind buckets with
// [OpsBucket] and [HooksBucket] (as [Provision] creates them), and build
// republished triggers with [RepublishHeader] and [RewriteID].
// `dlq purge --user` erases what the worker keeps about a user through
// [EraseUser] (the user's ledger entries and user state; no marker keeps
// the id), since the layout of both buckets is this package's.
// The operator console reads what the worker remembers of a user through
// [ReadUser], for the same reason.
//
// # One user, many triggers
//
// The per-user rules — recent link, cap, calls in flight — are one
// compare-and-set step on the user's KV entry, shared by all replicas.
// Right before each POST a trigger claims a mark there; when Mangopay
// answers it claims again and the mark becomes a link (before the link is
// recorded, so it counts even if its publish is never confirmed); a
// trigger that ends without a link drops its mark. A user.created yields
// to a link newer than Config.RecentLink (recent_link) and to another
// trigger's call in flight (handed back until that call ends); expiries
// and failures prove the last link dead and are limited by the cap only.
// A mark of a call in flight carries its trigger's key and a lease of
// AckWait + RetryDelayMax, renewed at every claim: a live holder claims
// again within it, a crashed one is redelivered within it, and a mark
// whose lease ended is dropped by the next claim, so a dead holder never
// blocks its user for longer. A holder that lost its mark that way claims
// afresh, and a link minted after another trigger's won is not sent.
package consumer
