// Package ops holds the operator tools of scaworker: the dead-letter tools
// (`scaworker dlq list|show|redrive|purge`), the backfill of Mangopay's
// events (`scaworker backfill`) and the replay of stored triggers
// (`scaworker replay`). The commands in cmd/scaworker only parse flags and
// print; the work is done here, against a JetStream connection to a
// running deployment (operator tools always connect to NATS by URL, also
// for an embedded deployment, through its SCA_NATS_LISTEN address, and
// never open a data directory). Operator tools never write the ledger:
// they publish triggers, and the worker decides them.
//
// # Reading streams
//
// [ReadStream] reads a stream with an ordered consumer (ephemeral, no
// acks, headers and data) up to the last message stored when it started:
// listing the dead letters or replaying history never creates or moves a
// durable consumer.
//
// # Operator state
//
// The KV bucket SCA_OPS_BUCKET (default "sca_ops", no TTL) holds what the
// tools must remember between runs: `dlq.<DLQ stream sequence>` is the
// redrive mark of a dead letter (see [RedriveState]) and `replay.<name>`
// a replay cursor. [OpsKV] binds it and creates it when it is missing, as
// the worker's Provision would, so the tools work against a deployment
// whose worker predates the bucket.
//
// # Dead letters
//
// [DLQ.List] reads the dead-letter stream (filters: reason, user, time);
// [DLQ.Show] returns one record with its original event. [DLQ.Redrive]
// publishes the original event again, to its original subject, as a new
// trigger: CloudEvent id "<root id>.redrive-<n>" (the root id is the id of
// the first dead-lettered trigger of a chain of redrives; n counts the
// redrives of that root), extension "scaredriveof" = root id, headers
// Sca-Redrive-Of (root id) and Sca-Redrive-Count (n), Nats-Msg-Id = the
// new id, so JetStream's duplicate window does not swallow it. The worker
// writes the new outcome into the root trigger's ledger entry as well
// ("redriven_to"). A record is marked redriven in SCA_OPS_BUCKET with
// compare-and-set BEFORE its event is published: a crash in between
// leaves a mark with "pending": true, and the next redrive finishes it
// with the very same id, so nothing is ever redriven twice. A record
// already redriven is skipped by later redrives; if its redrive failed
// again, the worker wrote a NEW dead letter (with the redrive headers),
// and that is the record to redrive next. A root is redriven at most
// [MaxRedrives] times; the next redrive is refused, so nothing loops.
//
// An original body that is not a CloudEvent (not JSON, or missing
// specversion, id, source or type) is redriven byte for byte with the
// redrive headers. Its redrive is allowed but pointless unless its
// publisher or the stream configuration was fixed: it dead-letters again,
// with a new record, and the redrive output says so for each such record.
//
// [DLQ.Purge] deletes records (by user, reason, age or all). Selecting by
// user serves personal-data erasure: a record matches when the original
// event's data.user_id is the user, or when the id appears as a whole
// token anywhere in the original body or headers, which finds invalid
// events whose user could only be read from the raw body; such records
// are erased with SecureDeleteMsg (overwritten on disk), and their marks
// in SCA_OPS_BUCKET are purged. Each redrive and each purge logs one audit
// line ("dlq redrive", "dlq purge") with the operator's name; a purge by
// user logs a hash of the user id, never the id.
//
// # Backfill
//
// [Backfill] reads Mangopay's event list (GET /v2.01/{ClientId}/events)
// for the three SCA_ENROLLMENT_* types, with a fixed BeforeDate and sort
// "Date:ASC" so paging is stable while new events arrive, 100 per page
// until a short page, within the 45 days Mangopay keeps (a start at the
// very edge is moved an hour inside, so no page is refused while the
// backfill runs). Each event goes through the webhook ingress's own store
// (hooks.Store: events.EncodeHookEvent, same id, same body apart from its
// time): when its id is in the hooks bucket (SCA_HOOKS_BUCKET) it was
// already delivered and is skipped; otherwise it is published with
// Nats-Msg-Id = its id and then marked {"by": "backfill"}. Hooks and
// backfill never double: a race between them is caught by JetStream's
// duplicate window and, past it, by the worker's ledger. Every Mangopay
// call waits for the client's rate governor; `scaworker backfill` gives
// it half of SCA_MANGOPAY_RATE unless --rate says otherwise, leaving the
// rest to the running worker.
package ops
