// Package replay is `scaworker replay`: it re-processes stored triggers
// through the live worker (see [Run]). It reads the trigger stream with
// an ordered consumer, reads each trigger's ledger entry, and republishes
// what new data could decide differently; its cursor in SCA_OPS_BUCKET
// ("replay.<name>") lets an interrupted replay resume. It returns a
// [Report] and tells [Config.AfterTrigger] and [Config.Progress] about
// each trigger; cmd/scaworker prints the dry-run lines, the progress bar
// and the summary, and answers [Config.Confirm], asked once the range is
// known and before the first write (a dry run writes nothing at all, not
// even its cursor). To recognise a trigger repeated in its range it
// remembers at most [Config.SeenMax] triggers (default [DefaultSeenMax]),
// forgetting the oldest first: past that bound the ledger recognises the
// repeat, or the worker settles the copy as a duplicate.
package replay
