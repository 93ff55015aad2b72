// Package checker is scaworker's randomized, seed-driven test of the whole
// system, in the spirit of Jepsen's checkers. It has no product code: the
// checker is its test, TestChecker.
//
// # A run
//
// Each seed generates a schedule of 8 to 24 steps, executed one after the
// other against a world of its own: an embedded NATS server with JetStream
// (internal/testworld), the Mangopay simulator (mangosim), the webhook
// ingress (hooks) and TWO consumer replicas, in process, each with its own
// NATS connection and Mangopay client. A few users — two natural owners, a
// legal owner without a representative e-mail and a payer — make triggers
// collide. Steps are:
//
//   - triggers of every type (user.created with, without and with a wrong
//     category; expiries; failures; enrollment successes) and duplicate
//     publishes of them under another Nats-Msg-Id;
//   - Mangopay hooks through the ingress, and resends of the same hook;
//   - crashes at the consumer's checkpoints ("decided", "recorded",
//     "published"): the handler ends there without an ack, as a killed
//     process would (runtime.Goexit), so JetStream redelivers it; for a
//     whole-replica crash the replica's connection is closed and a fresh
//     replica starts; and kills of a replica from outside at any moment
//     (its NATS connection closes and its Mangopay calls in flight are
//     cut);
//   - Mangopay faults (mangosim.Faults): 503 bursts, a 500 rate, 429
//     windows, timeouts, calls the client abandoned that still execute,
//     connections cut after the call executed, stored answers damaged or
//     missing when read back, HTML 502s; and their healing;
//   - the data fix of the legal owner, and a user finishing enrollment;
//   - `replay --from 1` (plain, --force, --dry-run) and `dlq redrive --all`
//     through package ops; a restart of the NATS server; waits for the
//     worker to go quiet.
//
// After the last step the faults are healed and the checker waits until
// every trigger has its outcome, then stops the replicas and checks:
//
//   - one-outcome: every trigger in the trigger stream has exactly one
//     current outcome (a decided ledger entry whose event was confirmed),
//     consistent with what was published (a link in the ledger is the
//     link in the links stream; a dead letter has its record);
//   - one-link: at most one link per lineage (a trigger and its redrive
//     copies; a forced replay is a new trigger);
//   - user-rules: within the recent-link window only an expiry or failure
//     follows a user's link, and no user gets more than the cap per cap
//     window;
//   - provenance: every published link is the RedirectUrl of an enrollment
//     POST for that user, sent with one of that trigger's
//     Idempotency-Keys, and no answer is published twice;
//   - idempotency: every Idempotency-Key sent was 16–36 of [A-Za-z0-9-];
//   - secrets: no log line carries the API key, an access token or a
//     link's token;
//   - outage-dlq: nothing is dead-lettered with max_attempts or
//     bad_request (the retry budget is a day; an outage never ends it);
//   - dry-run: `replay --dry-run` stored nothing in the trigger stream;
//   - settled: the worker ends with nothing pending or unacknowledged.
//
// TestLongOutage runs one fixed schedule the random ones cannot reach in
// seconds: every API call fails until each of two triggers has spent over a
// thousand Idempotency-Keys; the same invariants must hold after it.
//
// # Failures and replays
//
// A failure prints the seed, the broken invariants, the smallest schedule
// found that still breaks one of them (steps are dropped, halves first,
// while it fails), the command that replays it and the trace of the run.
// Runs are not deterministic — replicas race, as in production — so a
// replay may need a few tries.
//
//	go test ./internal/checker                          # the CI set: seeds 1..4
//	go test ./internal/checker -seed 123                # one seed
//	go test ./internal/checker -seed 123 -steps 0,3,5   # a shrunk schedule of it
//	go test ./internal/checker -seed 1000 -schedules 100 -timeout 20m   # seeds 1000..1099
//
// Two schedules in three keep the per-user windows' defaults (10 minutes
// for the recent link, an hour for the cap): a schedule runs in seconds,
// inside both windows, so every rule they imply is in force throughout.
// The third runs with short windows (3 s and 6 s, through consumer.Config)
// and its settle steps also let the recent-link window pass, so links
// follow each other across the windows' edges. Mint times are read from
// expires_at (whole seconds) while the worker times a link from its own
// claim, so the user-rules check shortens both windows by 2 s.
package checker
