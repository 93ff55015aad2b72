// Package dlq holds the dead-letter tools of scaworker (`scaworker dlq
// list|show|redrive|purge`): they return data; cmd/scaworker prints it.
//
// [Tools.List] reads the dead-letter stream (filters: reason, user, time);
// [Tools.Show] returns one record with its original event. [Tools.Redrive]
// publishes the original event again, to its original subject, as a new
// trigger: CloudEvent id "<root id>.redrive-<n>" (the root id is the id of
// the first dead-lettered trigger of a chain of redrives; n counts the
// redrives of that root), extension "scaredriveof" = root id, headers
// Sca-Redrive-Of (root id) and Sca-Redrive-Count (n), Nats-Msg-Id = the
// new id, so JetStream's duplicate window does not swallow it.
//
// A root and its copies are one lineage with at most one link (the rule
// is the consumer's, see consumer.Ledger.MarkRedrive): before anything is
// published, the root's ledger entry is marked with compare-and-set as
// redriven to the new id ("redriven_to"); a root that is no longer dlq (a
// replay re-decided it) or that points at another copy is refused. The
// worker evaluates only the copy the root points at and writes its
// outcome into the root's entry as well. Then the record is marked
// redriven in SCA_OPS_BUCKET with
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
// [Tools.Purge] deletes records (by user, reason, age or all). Selecting by
// user serves personal-data erasure: a record matches when the original
// event's data.user_id is the user, or when the id appears as a whole
// token anywhere in the original body or headers, which finds invalid
// events whose user could only be read from the raw body; such records
// are erased with SecureDeleteMsg (overwritten on disk), and their marks
// in SCA_OPS_BUCKET are purged. A purge by user erases the user's data
// beyond the dead letters too: triggers, links, ledger entries, user
// state and operator state that names the user ([Erasure] says what is
// erased and what is kept). Each redrive and each purge logs one audit
// line ("dlq redrive", "dlq purge") with the operator's name; a purge by
// user logs a hash of the user id, never the id. (The audit record in
// the audit stream is written by the command, through ops/audit.)
//
// # Bounded reads, dry runs, confirmation
//
// No tool loads the dead-letter stream: [Tools.Newest] reads it backwards
// from its end in small windows and stops once it has the newest limit
// records; [Tools.RedriveWith] and [Tools.Purge] read it one record at a
// time, once to count the selection (for the confirmation question) and
// once, up to the same last sequence, to act, stopping at their Limit.
// With DryRun they decide each record exactly as they would (the redrive
// asks the ledger's lineage rule through consumer.Ledger.CheckRedrive)
// and write nothing: no mark, no ledger, no publish, no delete, no bucket.
package dlq
