// Package ops holds what the operator tools of scaworker share; the tools
// themselves are its subpackages, one per command: ops/replay (`scaworker
// replay`), ops/dlq (`scaworker dlq list|show|redrive|purge`) and
// ops/backfill (`scaworker backfill`); ops/audit owns the audit records
// every command that changes state writes (`scaworker audit` reads them).
// Each takes one Config (its Layout
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
// # Contracts shared with the worker
//
// What the tools and the worker must agree on has one owner, the consumer
// package, and the tools call it: stream reads (consumer.ReadStream, an
// ordered consumer bounded by the last message stored when it starts, so
// listing dead letters or replaying history never creates or moves a
// durable consumer), bucket creation (consumer.OpsBucket,
// consumer.HooksBucket: as Provision would), ledger reads
// (consumer.OpenLedger) and keys (consumer.TriggerKey), the headers and
// ids of republished triggers (consumer.RepublishHeader,
// consumer.RewriteID), and the redrive lineage (consumer.Reopens,
// consumer.Ledger.MarkRedrive).
//
// # Operator state
//
// The KV bucket SCA_OPS_BUCKET (default "sca_ops", no TTL) holds what the
// tools must remember between runs: `dlq.<DLQ stream sequence>` is the
// redrive mark of a dead letter (see ops/dlq) and `replay.<name>` a
// replay cursor. consumer.OpsBucket binds it and creates it when it is
// missing, so the tools work against a deployment whose worker predates
// the bucket.
//
// # Time flags
//
// [ParseTime] and [ParseDuration] read the time flags of every tool
// (RFC 3339 times, durations with whole days such as "7d");
// [FormatTime] writes times for operators.
package ops
