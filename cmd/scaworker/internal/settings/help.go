package settings

import "github.com/alecthomas/kong"

// workerOnly are the flags of the worker's tuning: operator commands
// (replay, dlq, backfill, audit) accept them, since they share the deployment's
// settings, but do not use them, so their help leaves them out.
var workerOnly = map[string]bool{
	"events-max-age": true, "dlq-max-age": true,
	"concurrency": true, "max-ack-pending": true, "ack-wait": true, "attempt-timeout": true,
	"retry-budget": true, "retry-delay-min": true, "retry-delay-max": true,
	"fault-pause": true, "fault-pause-max": true, "recent-link": true,
	"user-cap": true, "user-cap-window": true, "max-trigger-age": true, "shutdown-timeout": true,
	// backfill's Mangopay client is read-only: it builds no link.
	"return-url": true, "link-hosts": true,
}

// natsURLHelp is what --nats-url means for each command that has it.
var natsURLHelp = map[string]string{
	"run":      "NATS server URL(s), comma-separated; empty starts an embedded JetStream server (SCA_NATS_LISTEN, SCA_DATA_DIR).",
	"check":    "NATS server URL(s) whose streams and buckets to check, comma-separated; empty skips that check (an embedded server is checked by run at start-up).",
	"replay":   "NATS server URL(s) of the deployment whose triggers to replay; required (for an embedded deployment: nats://<its SCA_NATS_LISTEN>, e.g. nats://127.0.0.1:4222).",
	"dlq":      "NATS server URL(s) of the deployment whose dead letters to read or change; required (for an embedded deployment: nats://<its SCA_NATS_LISTEN>, e.g. nats://127.0.0.1:4222).",
	"backfill": "NATS server URL(s) of the deployment to store the backfilled events in; required (for an embedded deployment: nats://<its SCA_NATS_LISTEN>, e.g. nats://127.0.0.1:4222).",
	"audit":    "NATS server URL(s) of the deployment whose audit records to show; required (for an embedded deployment: nats://<its SCA_NATS_LISTEN>, e.g. nats://127.0.0.1:4222).",
}

// printHelp is kong's help, fitted to the command: an operator command
// lists the NATS connection and its own flags, not the worker's tuning,
// and --nats-url says what it means for the command.
func printHelp(options kong.HelpOptions, ctx *kong.Context) error {
	if n := ctx.Selected(); n != nil {
		top := n
		for top.Parent != nil && top.Parent.Type != kong.ApplicationNode {
			top = top.Parent
		}
		operator := top.Name == "replay" || top.Name == "dlq" || top.Name == "backfill" || top.Name == "audit"
		for _, group := range n.AllFlags(false) {
			for _, f := range group {
				if operator && workerOnly[f.Name] {
					f.Hidden = true
				}
				if f.Name == "nats-url" {
					if h, ok := natsURLHelp[top.Name]; ok {
						f.Help = h
					}
				}
			}
		}
	}
	return kong.DefaultHelpPrinter(options, ctx)
}
