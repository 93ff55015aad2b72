// Package audit owns the audit records of scaworker's operator commands:
// every command that changes state (`replay`, `dlq redrive`, `dlq purge`,
// `backfill`) writes one record into a JetStream stream of its own, and
// `scaworker audit` reads them back. A web console reads them through
// this package too: it is the one writer and the one reader.
//
// # The stream
//
// SCA_AUDIT_STREAM (default "SCA_AUDIT") captures SCA_SUBJECT_AUDIT_PREFIX
// + ">" (default "sca.audit.>"); a record of `dlq purge` is published on
// "sca.audit.dlq.purge". [Log.Ensure] creates the stream when it is
// missing (limits retention, kept SCA_AUDIT_MAX_AGE, default a year, file
// storage, SCA_REPLICAS), as the other streams are; a command ensures it
// before it changes anything, so a change is never made whose record
// could not be written. An existing stream is left as it is, but it must
// capture the audit subjects.
//
// # A record
//
// A [Record] is JSON: who (the operator, from --operator or $USER; never
// empty), when, the command, whether it was a dry run, its selection
// (filters and flags by name) and its counts, and how it ended
// ([ResultDone], [ResultFailed], [ResultInterrupted]). It carries no
// secret, no link and no token, and never a user id in the clear: a user
// is named by [UserHash], so a record survives the erasure of that user's
// data and still matches a known erasure request. The command-line
// tools write no record for a dry run (it writes nothing at all); the
// DryRun field exists for writers that want to record one.
//
// # Reading
//
// [Log.Read] returns a page of records, newest first, reading backwards
// one record at a time from the end of the stream (or from
// [Query.Before], the [Page.Next] of the previous page): it never holds
// more than one page.
package audit
