// Package ops holds what the operator tools of scaworker share; the tools
// themselves are its subpackages, one per command: ops/replay (`scaworker
// replay`), ops/dlq (`scaworker dlq list|show|redrive|purge`) and
// ops/backfill (`scaworker backfill`). Each takes one Config (its Layout
// names the deployment's streams, buckets and subjects) and returns data;
// the commands in cmd/scaworker parse flags and print (tables, prompts,
// progress bars). The tools work against a JetStream connection to a
// running deployment (operator tools always connect to NATS by URL, also
// for an embedded deployment, through its SCA_NATS_LISTEN address, and
// never open a data directory). Operator tools decide no trigger: they
// publish triggers, and the worker decides them; they read the ledger
// through consumer.OpenLedger, and `dlq redrive` writes only the redrive
// mark of an original, through the consumer's own lineage rule
// (consumer.Ledger.MarkRedrive).
//
// # Reading streams
//
// [ReadStream] reads a stream with an ordered consumer (ephemeral, no
// acks, headers and data) up to the last message stored when it started
// (or [ReadOptions.EndSeq]), fetching at most 256 messages ahead: listing
// the dead letters or replaying history never creates or moves a durable
// consumer, and never holds a stream in memory.
//
// # Operator state
//
// The KV bucket SCA_OPS_BUCKET (default "sca_ops", no TTL) holds what the
// tools must remember between runs: `dlq.<DLQ stream sequence>` is the
// redrive mark of a dead letter (see ops/dlq) and `replay.<name>`
// a replay cursor. [OpsKV] binds it and creates it when it is missing, as
// the worker's Provision would, so the tools work against a deployment
// whose worker predates the bucket.
//
// # Time flags
//
// [ParseTime] and [ParseDuration] read the time flags of every tool
// (RFC 3339 times, durations with whole days such as "7d");
// [FormatTime] writes times for operators.
package ops
