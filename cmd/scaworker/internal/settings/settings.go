package settings

import (
	"time"
)

// CLI is the command line of scaworker.
type CLI struct {
	Run           Run           `cmd:"" help:"Run the worker (consumer, health, readiness and metrics endpoints)."`
	Demo          Demo          `cmd:"" help:"Show the whole flow on this machine: embedded NATS in a temporary store, a simulated Mangopay, scripted triggers."`
	Check         Check         `cmd:"" help:"Check the configuration, the Mangopay credentials and API-key scopes, and the streams."`
	Replay        Replay        `cmd:"" help:"Re-process stored triggers through the live worker (skips and dead letters re-evaluated; links left alone unless --force)."`
	Dlq           Dlq           `cmd:"" name:"dlq" help:"Dead letters: list, show, redrive, purge."`
	Backfill      Backfill      `cmd:"" help:"Store Mangopay's SCA enrollment events of the last hours or days that no webhook delivered (at most 45 days back)."`
	Audit         Audit         `cmd:"" help:"Show the audit records of the operator commands that change state, newest first."`
	Bench         Bench         `cmd:"" help:"Measure the worker against the bare pipeline and raw JetStream, side by side, on embedded NATS and a simulated Mangopay."`
	Version       Version       `cmd:"" help:"Print version and build information."`
	SettingsTable SettingsTable `cmd:"" name:"settings-table" hidden:"" help:"Print the README's settings table (Markdown)."`
}

// Run holds the settings of `scaworker run`.
type Run struct {
	Mangopay Mangopay   `embed:"" group:"Mangopay"`
	NATS     NATS       `embed:"" group:"NATS"`
	Durable  Durability `embed:"" group:"NATS"`
	Embedded Embedded   `embed:"" group:"Embedded NATS"`
	HTTP     HTTP       `embed:"" group:"HTTP"`
	Hooks    Hooks      `embed:"" group:"Webhooks"`
	Consumer Consumer   `embed:"" group:"Consumer"`
	Log      Log        `embed:"" group:"Logging"`

	// StartupTimeout bounds the wait for NATS at start-up.
	StartupTimeout time.Duration `name:"startup-timeout" default:"1m" group:"NATS" help:"How long run waits at start-up for the NATS server (NATS_URL, or the embedded one) before it exits 1, saying why every few seconds meanwhile; 0 waits forever."`
}

// Check holds the settings of `scaworker check`.
type Check struct {
	Mangopay Mangopay   `embed:"" group:"Mangopay"`
	NATS     NATS       `embed:"" group:"NATS"`
	Durable  Durability `embed:"" group:"NATS"`
	Hooks    Hooks      `embed:"" group:"Webhooks"`
	Consumer Consumer   `embed:"" group:"Consumer"`
	Log      Log        `embed:"" group:"Logging"`
}

// Replay holds the settings of `scaworker replay`. Its own flags have no
// environment variable: they describe one run, not the deployment.
type Replay struct {
	From    string   `name:"from" envvar:"-" required:"" placeholder:"TIME|SEQ" help:"Start of the replay: an RFC 3339 time (when JetStream stored the message) or a stream sequence."`
	To      string   `name:"to" envvar:"-" placeholder:"TIME|SEQ" help:"End of the replay, inclusive, in the same forms; default: the last message stored when the replay started."`
	Types   []string `name:"type" envvar:"-" placeholder:"TYPE" help:"Only triggers of this CloudEvents type (repeatable): user.created, sca.session.expired, sca.session.failed, sca.enrollment.succeeded."`
	Users   []string `name:"user" envvar:"-" placeholder:"USER_ID" help:"Only triggers of this user (data.user_id; repeatable)."`
	Force   bool     `name:"force" envvar:"-" help:"Also replay triggers that produced a link, as new triggers <id>.replay-<n> that the per-user rules judge."`
	Restart bool     `name:"restart" envvar:"-" help:"Start the replay over instead of resuming its stored cursor."`
	Name    string   `name:"name" envvar:"-" help:"Name of the replay and its cursor (default: a hash of the filters, so the same command resumes)."`
	Rate    string   `name:"rate" envvar:"-" default:"50/1s" help:"Most triggers republished per duration, N/duration (the workers' Mangopay budget applies anyway)."`
	Change

	NATS     NATS     `embed:"" group:"NATS"`
	Consumer Consumer `embed:"" group:"Consumer"`
	Audit    AuditLog `embed:"" group:"Audit"`
	Log      Log      `embed:"" group:"Logging"`
}

// Change are the flags shared by the commands that change state (replay,
// dlq redrive, dlq purge, backfill).
type Change struct {
	DryRun   bool   `name:"dry-run" envvar:"-" help:"Write nothing (no publish, delete, cursor or mark); print exactly what would be done."`
	Yes      bool   `name:"yes" short:"y" envvar:"-" help:"Do not ask for confirmation (needed without a terminal, as in CI)."`
	Operator string `name:"operator" envvar:"-" placeholder:"NAME" help:"Who runs the command, for its audit record (default: $USER; one of them is required)."`
}

// Dlq holds the dead-letter commands. Like every operator command they
// connect to NATS_URL (required) and never open a data directory. Their
// own flags have no environment variable: they describe one run.
type Dlq struct {
	List    DlqList    `cmd:"" help:"List dead letters: time, seq, subject, reason, user, attempts, state."`
	Show    DlqShow    `cmd:"" help:"Show one dead letter with its original event."`
	Redrive DlqRedrive `cmd:"" help:"Publish dead-lettered events again, as new triggers <id>.redrive-<n> on their original subjects (at most 5 redrives per event)."`
	Purge   DlqPurge   `cmd:"" help:"Delete dead letters (asks unless --yes); --user erases a user's records."`

	NATS     NATS     `embed:"" group:"NATS"`
	Consumer Consumer `embed:"" group:"Consumer"`
	Audit    AuditLog `embed:"" group:"Audit"`
	Log      Log      `embed:"" group:"Logging"`
}

// DlqList holds the flags of `scaworker dlq list`.
type DlqList struct {
	Reason string `name:"reason" envvar:"-" placeholder:"REASON" help:"Only records with this reason code (e.g. missing_legal_representative_email)."`
	User   string `name:"user" envvar:"-" placeholder:"USER_ID" help:"Only records about this user: data.user_id, or the id anywhere in the original event."`
	Since  string `name:"since" envvar:"-" placeholder:"TIME|DURATION" help:"Only records dead-lettered at or after this RFC 3339 time, or this long ago (24h, 7d)."`
	Until  string `name:"until" envvar:"-" placeholder:"TIME|DURATION" help:"Only records dead-lettered before this RFC 3339 time, or this long ago."`
	Limit  int    `name:"limit" envvar:"-" default:"100" help:"Show at most the newest N matching records (0: all)."`
	Audit  bool   `name:"audit" envvar:"-" help:"Show the audit records of the commands that change state instead, newest first (the newest --limit; like scaworker audit)."`
}

// DlqShow holds the argument of `scaworker dlq show`.
type DlqShow struct {
	Seq uint64 `arg:"" name:"seq" help:"Sequence of the record in the dead-letter stream (the SEQ column of dlq list)."`
}

// DlqRedrive holds the flags of `scaworker dlq redrive`.
type DlqRedrive struct {
	Reason string   `name:"reason" envvar:"-" placeholder:"REASON" help:"Redrive the records with this reason code."`
	User   string   `name:"user" envvar:"-" placeholder:"USER_ID" help:"Redrive the records about this user."`
	Seq    []uint64 `name:"seq" envvar:"-" placeholder:"SEQ" help:"Redrive the record with this sequence (repeatable)."`
	All    bool     `name:"all" envvar:"-" help:"Redrive every record not redriven yet."`
	Limit  int      `name:"limit" envvar:"-" help:"Redrive at most the first N selected records, oldest first (0: all)."`
	Change
}

// DlqPurge holds the flags of `scaworker dlq purge`.
type DlqPurge struct {
	User      string `name:"user" envvar:"-" placeholder:"USER_ID" help:"Purge the records about this user (personal-data erasure: erased securely)."`
	Reason    string `name:"reason" envvar:"-" placeholder:"REASON" help:"Purge the records with this reason code."`
	OlderThan string `name:"older-than" envvar:"-" placeholder:"DURATION" help:"Purge the records dead-lettered longer ago than this (e.g. 720h, 30d)."`
	All       bool   `name:"all" envvar:"-" help:"Purge every record."`
	Secure    bool   `name:"secure" envvar:"-" help:"Erase securely (overwrite on disk) also when not purging by --user."`
	Limit     int    `name:"limit" envvar:"-" help:"Purge at most the first N selected records, oldest first (0: all)."`
	Change
}

// Backfill holds the settings of `scaworker backfill`. Its own flags have
// no environment variable: they describe one run.
type Backfill struct {
	Since string `name:"since" envvar:"-" placeholder:"DURATION" help:"Backfill the events of this long ago until now (24h, 7d; at most 45d)."`
	From  string `name:"from" envvar:"-" placeholder:"TIME" help:"Backfill from this RFC 3339 time (at most 45 days ago); excludes --since."`
	To    string `name:"to" envvar:"-" placeholder:"TIME" help:"Backfill until this RFC 3339 time (default: now)."`
	Rate  string `name:"rate" envvar:"-" placeholder:"N/DURATION" help:"Mangopay requests per duration for this backfill (default: half of SCA_MANGOPAY_RATE, leaving the rest to the running worker)."`
	Change

	Mangopay Mangopay `embed:"" group:"Mangopay"`
	NATS     NATS     `embed:"" group:"NATS"`
	Consumer Consumer `embed:"" group:"Consumer"`
	Audit    AuditLog `embed:"" group:"Audit"`
	Log      Log      `embed:"" group:"Logging"`
}

// Audit holds the settings of `scaworker audit`.
type Audit struct {
	Limit    int    `name:"limit" envvar:"-" default:"20" help:"Show at most N records (one page), newest first."`
	Before   uint64 `name:"before" envvar:"-" placeholder:"SEQ" help:"Show the records older than this sequence (the next page: the value the previous page printed)."`
	Command  string `name:"command" envvar:"-" placeholder:"COMMAND" help:"Only records of this command: replay, \"dlq redrive\", \"dlq purge\" or backfill."`
	Operator string `name:"operator" envvar:"-" placeholder:"NAME" help:"Only records of this operator."`

	NATS     NATS     `embed:"" group:"NATS"`
	Consumer Consumer `embed:"" group:"Consumer"`
	Audit    AuditLog `embed:"" group:"Audit"`
	Log      Log      `embed:"" group:"Logging"`
}

// AuditLog are the settings of the audit stream (audit.Config), where
// every command that changes state records who ran it and what it did.
type AuditLog struct {
	Stream        string        `name:"audit-stream" default:"SCA_AUDIT" help:"Stream of the audit records of operator commands (created when missing)."`
	SubjectPrefix string        `name:"subject-audit-prefix" default:"sca.audit." help:"Prefix of the audit records' subjects (the stream captures it followed by >)."`
	MaxAge        time.Duration `name:"audit-max-age" default:"8760h" help:"How long a created SCA_AUDIT_STREAM keeps records (1 year)."`
}

// Demo holds the settings of `scaworker demo`: everything else is chosen
// by the demo itself.
type Demo struct {
	KeepRunning bool    `name:"keep-running" envvar:"-" help:"After the script, keep the demo's world (embedded NATS, simulator, worker) running with the operator console on SCA_ADMIN_ADDR (write enabled) until Ctrl-C."`
	AdminAddr   string  `name:"admin-addr" default:"127.0.0.1:0" help:"Where the demo's console listens with --keep-running (a loopback address; port 0 picks a free one, printed)."`
	Log         DemoLog `embed:"" group:"Logging"`
}

// Bench holds the settings of `scaworker bench`. Its flags have no
// environment variable: they describe one run.
type Bench struct {
	N         int           `name:"n" short:"n" envvar:"-" default:"20000" help:"Triggers per phase."`
	InFlight  int           `name:"in-flight" envvar:"-" default:"64" help:"Triggers handled at once: the worker's SCA_CONCURRENCY and the baselines' pool."`
	Cluster   bool          `name:"cluster" envvar:"-" help:"Run a 3-node JetStream cluster (streams and buckets R3, sync always) instead of one node."`
	Latency   time.Duration `name:"latency" envvar:"-" default:"0s" help:"Simulated Mangopay latency of every call."`
	ErrorRate float64       `name:"error-rate" envvar:"-" default:"0" help:"Share of Mangopay calls the simulator answers 500 (0..1)."`
	Budget    string        `name:"budget" envvar:"-" placeholder:"N/DURATION" help:"Mangopay rate budget: the simulator's window and the worker's SCA_MANGOPAY_RATE (default: unlimited)."`
	Mix       string        `name:"mix" envvar:"-" default:"owners=1" help:"Trigger mix as weights of owners, payers, enrolled, invalid, duplicates (e.g. owners=70,payers=25,invalid=5)."`
	Rate      float64       `name:"rate" envvar:"-" help:"Publish each phase's triggers live at this many per second (trigger-to-link latency) instead of a prefilled backlog."`
	Phases    []string      `name:"phases" envvar:"-" default:"raw,bare,worker" help:"Phases to run, in order: raw (consume and ack), bare (consume, POST, publish, ack), worker."`
	Duration  time.Duration `name:"duration" envvar:"-" default:"10m" help:"Longest phase: a backlog larger than the budget ends here."`
	JSON      bool          `name:"json" envvar:"-" help:"Print the report as JSON."`
	Profile   string        `name:"profile" envvar:"-" placeholder:"DIR" help:"Write CPU, mutex and block profiles of the worker phase, and the NATS server's CPU profile, to DIR."`
	Progress  bool          `name:"progress" envvar:"-" default:"true" negatable:"" help:"Show a progress bar per phase on stderr."`
	Log       DemoLog       `embed:"" group:"Logging"`
}

// Version holds the settings of `scaworker version` (none).
type Version struct{}

// SettingsTable holds the settings of the hidden `scaworker settings-table`.
type SettingsTable struct {
	Write string `name:"write" short:"w" envvar:"-" placeholder:"FILE" help:"Rewrite the section between the settings markers of FILE (README.md) in place instead of printing."`
}

// Mangopay are the Mangopay API settings.
type Mangopay struct {
	BaseURL    string        `name:"mangopay-base-url" envvar:"MANGOPAY_BASE_URL" default:"https://api.sandbox.mangopay.com" redact:"url" help:"Mangopay API base: https://api.mangopay.com, the sandbox, or an api-mtls host; plain http only on loopback (a simulator)."`
	ClientID   string        `name:"mangopay-client-id" envvar:"MANGOPAY_CLIENT_ID" help:"Mangopay ClientId; required by run and check."`
	APIKey     string        `name:"mangopay-api-key" envvar:"MANGOPAY_API_KEY" secret:"" help:"Mangopay API key (secret, never printed); required by run and check unless MANGOPAY_API_KEY_FILE is set."`
	APIKeyFile string        `name:"mangopay-api-key-file" envvar:"MANGOPAY_API_KEY_FILE" help:"File holding the Mangopay API key (surrounding whitespace trimmed); excludes MANGOPAY_API_KEY."`
	TLSCert    string        `name:"mangopay-tls-cert" envvar:"MANGOPAY_TLS_CERT" help:"Client certificate for Mangopay mTLS: file path or base64 PEM."`
	TLSKey     string        `name:"mangopay-tls-key" envvar:"MANGOPAY_TLS_KEY" secret:"" help:"Private key of MANGOPAY_TLS_CERT: file path or base64 PEM (never printed)."`
	Rate       string        `name:"mangopay-rate" default:"1500/15m" help:"The Mangopay budget of the whole deployment, N/duration: every replica and backfill draw from it together through SCA_BUDGET_BUCKET (Mangopay's smallest window is 2300/15m for the whole API account)."`
	Timeout    time.Duration `name:"mangopay-timeout" default:"10s" help:"Timeout of one Mangopay HTTP request."`
	Retries    int           `name:"mangopay-retries" default:"3" help:"In-process retries of one Mangopay call (within SCA_ATTEMPT_TIMEOUT); longer outages are retried through JetStream."`
	ReturnURL  string        `name:"return-url" help:"Where Mangopay sends the user back after enrollment (https, appended to every link); required by run and check."`
	LinkHosts  []string      `name:"link-hosts" default:"sca.mangopay.com,sca.sandbox.mangopay.com" help:"Allowed hosts of Mangopay's SCA links, comma-separated."`
}

// NATS are the settings of the connection to an external NATS.
type NATS struct {
	URL     string `name:"nats-url" envvar:"NATS_URL" redact:"url" help:"NATS server URL(s), comma-separated; empty starts an embedded JetStream server."`
	Creds   string `name:"nats-creds" envvar:"NATS_CREDS" help:"NATS credentials (.creds) file."`
	TLSCA   string `name:"nats-tls-ca" envvar:"NATS_TLS_CA" help:"CA certificate file to verify the NATS server."`
	TLSCert string `name:"nats-tls-cert" envvar:"NATS_TLS_CERT" help:"Client certificate file for NATS TLS."`
	TLSKey  string `name:"nats-tls-key" envvar:"NATS_TLS_KEY" help:"Private key file of NATS_TLS_CERT."`
}

// Durability is the durability self-check's setting, for run and check.
type Durability struct {
	Require bool `name:"require-durable" envvar:"SCA_REQUIRE_DURABLE" help:"Refuse to run (exit 2; check: fail) instead of warning when NATS could lose acknowledged triggers or outcomes: streams with fewer than 3 replicas on a cluster, a server older than 2.12.3, a default 2-minute sync_interval, or the single-replica embedded server."`
}

// Embedded are the settings of the embedded NATS server (NATS_URL empty).
type Embedded struct {
	Listen  string `name:"nats-listen" default:"127.0.0.1:4222" help:"Where the embedded NATS server listens (host:port, port 0 picks a free one; the bound address is logged)."`
	DataDir string `name:"data-dir" default:"./data" help:"Storage of the embedded NATS server; locked while in use."`
}

// HTTP are the listener settings.
type HTTP struct {
	Addr      string `name:"http-addr" default:":8080" help:"Listener for webhooks and, unless SCA_ADMIN_ADDR is set, /healthz, /readyz and /metrics (port 0 picks a free one; the bound address is logged)."`
	AdminAddr string `name:"admin-addr" help:"When set, /healthz, /readyz and /metrics move to this listener, off the public one, and the operator console is served there (at /). A non-loopback address needs SCA_ADMIN_AUTH_FILE."`
	// AdminWrite enables the console's actions.
	AdminWrite bool `name:"admin-write" help:"Let the console redrive and purge dead letters (each after a dry run and a confirmation, audited); otherwise it is read-only."`
	// AdminAuthFile holds the console's credentials.
	AdminAuthFile string `name:"admin-auth-file" help:"File of the console's credentials, one a line: user:password (basic auth; the user names the operator in audit records) or a bearer token of 16+ characters; required when SCA_ADMIN_ADDR is not a loopback address. /healthz, /readyz and /metrics stay open."`
}

// Hooks are the settings of the Mangopay webhook ingress (hooks.Config), served on
// SCA_HTTP_ADDR at /hooks/mangopay.
type Hooks struct {
	Secret         string        `name:"hook-secret" secret:"" help:"When set, hooks are accepted only at /hooks/mangopay/<secret> (16-128 of A-Z a-z 0-9 - _ . ~; never printed); other paths answer 404."`
	AllowCIDRs     []string      `name:"hook-allow-cidrs" help:"When set, only these source addresses may send hooks (comma-separated CIDRs or addresses, IPv4/IPv6); others answer 403."`
	ClientIPHeader string        `name:"hook-client-ip-header" help:"Header set by your reverse proxy with the client address, e.g. X-Forwarded-For; read only from peers in SCA_HOOK_TRUSTED_PROXIES (its right-most entry that is not a trusted proxy is the client); empty: the TCP peer."`
	TrustedProxies []string      `name:"hook-trusted-proxies" help:"Addresses of the reverse proxies whose SCA_HOOK_CLIENT_IP_HEADER is believed (comma-separated CIDRs or addresses); required with SCA_HOOK_CLIENT_IP_HEADER."`
	Rate           string        `name:"hook-rate" default:"20/1m" help:"The deployment's rate of stored hooks, N/duration: every replica draws from it together through SCA_BUDGET_BUCKET (and each process caps itself with a token bucket of SCA_HOOK_BURST); over it hooks answer 429 and Mangopay resends."`
	SourceRate     string        `name:"hook-source-rate" default:"10/1m" help:"Most stored hooks per duration from one client address (IPv6: one /64), N/duration; over it that address gets 429 and spends nothing of SCA_HOOK_RATE."`
	Burst          int           `name:"hook-burst" default:"60" help:"Hooks stored at once before SCA_HOOK_RATE applies."`
	StoreTimeout   time.Duration `name:"hook-store-timeout" default:"1.5s" help:"Deadline to store one hook; past it the answer is 503 and Mangopay resends (under Mangopay's 2s limit)."`
}

// Consumer are the settings of the JetStream consumer (consumer.Config).
type Consumer struct {
	Stream       string `name:"stream" default:"SCA_EVENTS" help:"Stream of trigger events (created when missing)."`
	LinksStream  string `name:"links-stream" default:"SCA_LINKS" help:"Stream of send-link events (created when missing; needs per-message TTL)."`
	DLQStream    string `name:"dlq-stream" default:"SCA_DLQ" help:"Stream of dead-letter records (created when missing)."`
	Durable      string `name:"durable" default:"scaworker" help:"Durable pull consumer on SCA_STREAM."`
	LedgerBucket string `name:"ledger-bucket" default:"sca_ledger" help:"KV bucket of trigger outcomes."`
	UsersBucket  string `name:"users-bucket" default:"sca_users" help:"KV bucket of per-user state."`
	HooksBucket  string `name:"hooks-bucket" default:"sca_hooks" help:"KV bucket of the ids of stored Mangopay hooks (46 days), so resends and backfills are stored once."`
	OpsBucket    string `name:"ops-bucket" default:"sca_ops" help:"KV bucket of operator state: replay cursors and dead-letter redrive marks."`
	StatsBucket  string `name:"stats-bucket" default:"sca_stats" help:"KV bucket of the outcome counters every worker keeps for the console's overview (one key per process, kept 25 hours)."`
	BudgetBucket string `name:"budget-bucket" default:"sca_budget" help:"KV bucket of the deployment's shared Mangopay budget (SCA_MANGOPAY_RATE), drawn from by every replica and by backfill."`

	SubjectUserCreated         string `name:"subject-user-created" default:"sca.events.user.created" help:"Subject of user.created triggers."`
	SubjectSessionExpired      string `name:"subject-session-expired" default:"sca.events.session.expired" help:"Subject of sca.session.expired triggers."`
	SubjectSessionFailed       string `name:"subject-session-failed" default:"sca.events.session.failed" help:"Subject of sca.session.failed triggers."`
	SubjectEnrollmentSucceeded string `name:"subject-enrollment-succeeded" default:"sca.events.enrollment.succeeded" help:"Subject of sca.enrollment.succeeded events."`
	SubjectLinkSend            string `name:"subject-link-send" default:"sca.links.send" help:"Subject of the send-link events scaworker publishes."`
	SubjectDLQPrefix           string `name:"subject-dlq-prefix" default:"sca.dlq." help:"Prefix of dead-letter subjects (followed by the original subject)."`

	EventsMaxAge time.Duration `name:"events-max-age" default:"720h" help:"How long a created SCA_STREAM keeps events for replay (30 days)."`
	DLQMaxAge    time.Duration `name:"dlq-max-age" default:"2160h" help:"How long a created SCA_DLQ_STREAM keeps records (90 days)."`
	Replicas     int           `name:"replicas" default:"1" help:"Replicas of the streams and buckets scaworker creates (1..5)."`

	Concurrency     int           `name:"concurrency" default:"8" help:"Triggers handled at once by this process."`
	MaxAckPending   int           `name:"max-ack-pending" default:"256" help:"Unacknowledged messages across all replicas."`
	AckWait         time.Duration `name:"ack-wait" default:"30s" help:"JetStream ack deadline of a delivery."`
	AttemptTimeout  time.Duration `name:"attempt-timeout" default:"20s" help:"Bound of one delivery's work, in-process retries included; shorter than SCA_ACK_WAIT."`
	RetryBudget     time.Duration `name:"retry-budget" default:"24h" help:"How long a trigger is retried after its first attempt before it is dead-lettered (max_attempts)."`
	RetryDelayMin   time.Duration `name:"retry-delay-min" default:"5s" help:"Shortest delay before a failed trigger is delivered again."`
	RetryDelayMax   time.Duration `name:"retry-delay-max" default:"5m" help:"Longest delay before a failed trigger is delivered again."`
	FaultPause      time.Duration `name:"fault-pause" default:"15s" help:"First pause of consumption after a deployment-wide fault (doubles while it lasts)."`
	FaultPauseMax   time.Duration `name:"fault-pause-max" default:"5m" help:"Longest pause after a deployment-wide fault."`
	RecentLink      time.Duration `name:"recent-link" default:"10m" help:"How long a link counts as still usable (recent_link skips of user.created)."`
	UserCap         int           `name:"user-cap" default:"3" help:"Most links one user gets per SCA_USER_CAP_WINDOW."`
	UserCapWindow   time.Duration `name:"user-cap-window" default:"1h" help:"Sliding window of SCA_USER_CAP."`
	MaxTriggerAge   time.Duration `name:"max-trigger-age" default:"72h" help:"Expiry and failure events older than this are stale_trigger skips."`
	ShutdownTimeout time.Duration `name:"shutdown-timeout" default:"25s" help:"Bound of the drain after SIGTERM."`
}

// Log are the logging settings.
type Log struct {
	Level  string `name:"log-level" envvar:"LOG_LEVEL" default:"info" enum:"debug,info,warn,error" help:"Log level: debug, info, warn or error."`
	Format string `name:"log-format" envvar:"LOG_FORMAT" default:"json" enum:"json,console" help:"Log format: json or console."`
}

// DemoLog are the logging settings of the demo, quieter by default: the
// demo prints its own readable story on stdout.
type DemoLog struct {
	Level  string `name:"log-level" envvar:"LOG_LEVEL" default:"error" enum:"debug,info,warn,error" help:"Log level: debug, info, warn or error."`
	Format string `name:"log-format" envvar:"LOG_FORMAT" default:"console" enum:"json,console" help:"Log format: json or console."`
}

// LogSettings returns the level and format of the selected command.
func (c *CLI) LogSettings(command string) (level, format string) {
	switch command {
	case "run":
		return c.Run.Log.Level, c.Run.Log.Format
	case "check":
		return c.Check.Log.Level, c.Check.Log.Format
	case "replay":
		return c.Replay.Log.Level, c.Replay.Log.Format
	case "demo":
		return c.Demo.Log.Level, c.Demo.Log.Format
	case "bench":
		return c.Bench.Log.Level, c.Bench.Log.Format
	case "backfill":
		return c.Backfill.Log.Level, c.Backfill.Log.Format
	case "dlq list", "dlq show <seq>", "dlq redrive", "dlq purge":
		return c.Dlq.Log.Level, c.Dlq.Log.Format
	case "audit":
		return c.Audit.Log.Level, c.Audit.Log.Format
	}
	return "info", "json"
}
