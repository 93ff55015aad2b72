// Package settings defines every setting of the scaworker binary, once, with
// kong: its flag, its environment variable, its meaning and its default.
//
// The same definitions produce the command line (`scaworker <cmd> -h`), the
// environment lookup, the redacted "config" log line and the README's table
// ([Table]), so the four cannot drift apart.
//
// # Names
//
// A flag --some-setting is read from the environment variable
// SCA_SOME_SETTING, except the Mangopay, NATS and log settings, whose
// variables carry the names operators already use (MANGOPAY_API_KEY,
// NATS_URL, LOG_LEVEL …): those flags declare theirs with an `envvar` tag.
// A flag given on the command line wins over the environment; an empty
// variable counts as unset.
//
// # Secrets
//
// Fields tagged `secret:""` (the API key, an inline TLS key) are never
// printed; fields tagged `redact:"url"` have the password of their URLs
// removed before they are logged.
package settings
