// Package replay is `scaworker replay`: it re-processes stored triggers
// through the live worker (see [Run]). It reads the trigger stream with
// an ordered consumer, reads each trigger's ledger entry, and republishes
// what new data could decide differently; its cursor in SCA_OPS_BUCKET
// ("replay.<name>") lets an interrupted replay resume. It returns a
// [Report] and tells [Config.AfterTrigger] and [Config.Progress] about
// each trigger; cmd/scaworker prints the dry-run lines, the progress bar
// and the summary.
package replay
