// Command scaworker turns trigger events on NATS JetStream into Mangopay SCA
// enrollment links, published as send-link events (see the README).
//
// Subcommands:
//
//	scaworker run       the worker, with /healthz, /readyz, /metrics and, on
//	                    SCA_ADMIN_ADDR, the operator console
//	scaworker demo      the whole flow on this machine, with a simulated Mangopay
//	                    (--keep-running: then the console on the demo's world)
//	scaworker check     configuration, Mangopay credentials and scopes, streams, durability
//	scaworker replay    re-process stored triggers through the live worker
//	scaworker dlq       dead letters: list, show, redrive, purge
//	scaworker backfill  store Mangopay events no webhook delivered
//	scaworker audit     the audit records of the commands that change state
//	scaworker version   version and build information
//
// The commands that change state (replay, dlq redrive, dlq purge,
// backfill) share one set of rules (change.go): --dry-run, confirmation
// on a terminal or --yes, and an audit record naming the operator.
//
// Every setting is a flag and an environment variable; `scaworker <cmd> -h`
// lists them with their defaults. Exit codes: 0 after SIGTERM/SIGINT or a
// finished command, 1 for a runtime failure, 2 for a usage or configuration
// error (the message names the setting).
package main
