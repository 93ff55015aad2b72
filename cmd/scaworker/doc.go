// Command scaworker turns trigger events on NATS JetStream into Mangopay SCA
// enrollment links, published as send-link events (see the README).
//
// Subcommands:
//
//	scaworker run       the worker, with /healthz, /readyz and /metrics
//	scaworker demo      the whole flow on this machine, with a simulated Mangopay
//	scaworker check     configuration, Mangopay credentials and scopes, streams, durability
//	scaworker version   version and build information
//
// Every setting is a flag and an environment variable; `scaworker <cmd> -h`
// lists them with their defaults. Exit codes: 0 after SIGTERM/SIGINT or a
// finished command, 1 for a runtime failure, 2 for a usage or configuration
// error (the message names the setting).
package main
