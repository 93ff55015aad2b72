// Package console is scaworker's operator console: server-rendered pages
// (html/template, embedded with the few static files they use) that the
// worker serves on SCA_ADMIN_ADDR, and `scaworker demo --keep-running`
// on a loopback port.
//
// # Pages
//
//   - Overview: the durable consumer's lag and messages in flight, the
//     outcomes of the last hour and day ([ReadStats]), the deployment's
//     Mangopay budget (budget.ReadUsage) and Mangopay's own windows, the
//     serving process's state ([Status]), dead letters and hooks stored,
//     the hook ingress's requests by result (hooks.Results) over the last
//     hour and day, the replicas seen. It reloads itself with a tiny script.
//   - Trigger lookup: the ledger entry of an event id (consumer.OpenLedger
//     and events.KeyOf, for the given source or each source the workers
//     saw), its redrive copies (dlq.RedriveID) and forced replays
//     (replay.ForcedID), or of a stream sequence (consumer.TriggerKey);
//     for a user, consumer.ReadUser and the user's newest dead letters.
//   - Dead letters: ops/dlq's Newest, Show, RedriveWith and Purge. Every
//     action shows the tools' own dry run first and acts on exactly what
//     it showed; its audit record goes through ops/audit with the
//     selection and counts ops/dlq defines for the command line.
//   - Audit: ops/audit's newest-first pages.
//
// # Rules
//
// Read-only unless [Config.Write]. With [Config.Auth] every request needs
// basic auth or a bearer token ([ParseAuth]). Every action checks a CSRF
// token derived from a per-process secret and the request's origin
// (http.CrossOriginProtection). No page shows a link, its token, a pending
// outcome's body or any credential, and none puts them in a URL. Every
// list holds one page ([Config.PageSize]).
//
// # Counters
//
// Outcome counts are not scanned from the ledger: each worker process
// keeps its own in [Stats] (5-minute slots over a day, one key per
// process in SCA_STATS_BUCKET, written every few seconds), and the
// overview sums the keys. The same slots count the process's hook
// ingress requests by result ([Stats.RecordHook], fed by
// hooks.Handler.OnResult once NATS is connected: the 503s answered
// before that are only in scaworker_hooks_total). A crashed process loses at most its last
// flush interval; its key expires 25 hours after its last write.
package console
