package consumer

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/scaworker/scaworker/events"
)

// Config is the consumer's configuration. The zero value of every field
// means its documented default; [Config.Validate] names the setting
// (as its environment variable) in every error.
type Config struct {
	// Stream holds the trigger events (SCA_STREAM, default "SCA_EVENTS").
	Stream string
	// LinksStream holds the send-link events (SCA_LINKS_STREAM, default "SCA_LINKS").
	LinksStream string
	// DLQStream holds dead-letter records (SCA_DLQ_STREAM, default "SCA_DLQ").
	DLQStream string
	// Durable is the durable pull consumer on Stream (SCA_DURABLE, default "scaworker").
	Durable string
	// LedgerBucket is the KV bucket of outcomes (SCA_LEDGER_BUCKET, default "sca_ledger").
	LedgerBucket string
	// UsersBucket is the KV bucket of per-user state (SCA_USERS_BUCKET, default "sca_users").
	UsersBucket string
	// HooksBucket remembers the ids of stored Mangopay hooks for 46 days,
	// so resends and backfills are stored once (SCA_HOOKS_BUCKET, default "sca_hooks").
	HooksBucket string
	// OpsBucket holds operator state: replay cursors and dead-letter
	// redrive marks (SCA_OPS_BUCKET, default "sca_ops").
	OpsBucket string
	// BudgetBucket holds the deployment's shared Mangopay budget, drawn from
	// by every replica and by backfill (SCA_BUDGET_BUCKET, default
	// "sca_budget"; see package budget).
	BudgetBucket string
	// Subjects are the subjects of every event (defaults: events.DefaultSubjects).
	Subjects events.Subjects

	// EventsMaxAge is how long a created trigger stream keeps events for
	// replay (SCA_EVENTS_MAX_AGE, default 30 days). The ledger keeps
	// outcomes one day longer.
	EventsMaxAge time.Duration
	// DLQMaxAge is how long a created dead-letter stream keeps records
	// (SCA_DLQ_MAX_AGE, default 90 days).
	DLQMaxAge time.Duration
	// Replicas of the streams and buckets scaworker creates (SCA_REPLICAS, default 1).
	Replicas int

	// Concurrency is the number of triggers handled at once, and so the
	// bound on messages held by this process (SCA_CONCURRENCY, default 8).
	Concurrency int
	// MaxAckPending bounds unacknowledged messages across all replicas
	// (SCA_MAX_ACK_PENDING, default 256).
	MaxAckPending int
	// AckWait is the consumer's ack deadline (SCA_ACK_WAIT, default 30s).
	// Handlers in progress keep their message alive with InProgress.
	AckWait time.Duration
	// AttemptTimeout bounds one delivery's work, in-process retries
	// included (SCA_ATTEMPT_TIMEOUT, default 20s); it must be shorter than AckWait.
	AttemptTimeout time.Duration
	// RetryBudget is how long a trigger keeps being retried after its
	// first attempt before it is dead-lettered with max_attempts
	// (SCA_RETRY_BUDGET, default 24h).
	RetryBudget time.Duration
	// RetryDelayMin and RetryDelayMax bound the exponential, jittered delay
	// before a failed trigger is delivered again (SCA_RETRY_DELAY_MIN,
	// default 5s; SCA_RETRY_DELAY_MAX, default 5m).
	RetryDelayMin, RetryDelayMax time.Duration
	// FaultPause is the first pause after a deployment-wide fault; it
	// doubles up to FaultPauseMax while the fault lasts (SCA_FAULT_PAUSE,
	// default 15s; SCA_FAULT_PAUSE_MAX, default 5m).
	FaultPause, FaultPauseMax time.Duration

	// RecentLink is how long a link counts as still usable, for the
	// recent_link rule (SCA_RECENT_LINK, default 10m: a link's life).
	RecentLink time.Duration
	// UserCap is the most links one user gets per UserCapWindow, shared by
	// all replicas: a call in flight counts, and a minted link counts even
	// if its publish is never confirmed (SCA_USER_CAP, default 3;
	// SCA_USER_CAP_WINDOW, default 1h, sliding).
	UserCap       int
	UserCapWindow time.Duration
	// MaxTriggerAge: expiry and failure events older than this are
	// stale_trigger skips (SCA_MAX_TRIGGER_AGE, default 72h, Mangopay's
	// hook retry horizon).
	MaxTriggerAge time.Duration

	// ShutdownTimeout bounds the drain after SIGTERM (SCA_SHUTDOWN_TIMEOUT, default 25s).
	ShutdownTimeout time.Duration
}

// Defaults returns cfg with every zero field set to its default.
func (c Config) Defaults() Config {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defd := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defi := func(i *int, v int) {
		if *i == 0 {
			*i = v
		}
	}
	def(&c.Stream, "SCA_EVENTS")
	def(&c.LinksStream, "SCA_LINKS")
	def(&c.DLQStream, "SCA_DLQ")
	def(&c.Durable, "scaworker")
	def(&c.LedgerBucket, "sca_ledger")
	def(&c.UsersBucket, "sca_users")
	def(&c.HooksBucket, "sca_hooks")
	def(&c.OpsBucket, "sca_ops")
	def(&c.BudgetBucket, "sca_budget")
	if c.Subjects == (events.Subjects{}) {
		c.Subjects = events.DefaultSubjects()
	}
	defd(&c.EventsMaxAge, 30*24*time.Hour)
	defd(&c.DLQMaxAge, 90*24*time.Hour)
	defi(&c.Replicas, 1)
	defi(&c.Concurrency, 8)
	defi(&c.MaxAckPending, 256)
	defd(&c.AckWait, 30*time.Second)
	defd(&c.AttemptTimeout, 20*time.Second)
	defd(&c.RetryBudget, 24*time.Hour)
	defd(&c.RetryDelayMin, 5*time.Second)
	defd(&c.RetryDelayMax, 5*time.Minute)
	defd(&c.FaultPause, 15*time.Second)
	defd(&c.FaultPauseMax, 5*time.Minute)
	defd(&c.RecentLink, 10*time.Minute)
	defi(&c.UserCap, 3)
	defd(&c.UserCapWindow, time.Hour)
	defd(&c.MaxTriggerAge, 72*time.Hour)
	defd(&c.ShutdownTimeout, 25*time.Second)
	return c
}

// Validate reports the first setting that cannot work, by its
// environment variable name. It validates c.Defaults().
func (c Config) Validate() error {
	c = c.Defaults()
	var errs []error
	bad := func(setting, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", setting, fmt.Sprintf(format, args...)))
	}
	positive := map[string]time.Duration{
		"SCA_EVENTS_MAX_AGE": c.EventsMaxAge, "SCA_DLQ_MAX_AGE": c.DLQMaxAge,
		"SCA_ACK_WAIT": c.AckWait, "SCA_ATTEMPT_TIMEOUT": c.AttemptTimeout,
		"SCA_RETRY_BUDGET": c.RetryBudget, "SCA_RETRY_DELAY_MIN": c.RetryDelayMin,
		"SCA_RETRY_DELAY_MAX": c.RetryDelayMax, "SCA_FAULT_PAUSE": c.FaultPause,
		"SCA_FAULT_PAUSE_MAX": c.FaultPauseMax, "SCA_RECENT_LINK": c.RecentLink,
		"SCA_USER_CAP_WINDOW": c.UserCapWindow, "SCA_MAX_TRIGGER_AGE": c.MaxTriggerAge,
		"SCA_SHUTDOWN_TIMEOUT": c.ShutdownTimeout,
	}
	for _, name := range sortedKeys(positive) {
		if positive[name] < 0 {
			bad(name, "must be positive, got %s", positive[name])
		}
	}
	if c.Concurrency < 1 || c.Concurrency > 1024 {
		bad("SCA_CONCURRENCY", "must be 1..1024, got %d", c.Concurrency)
	}
	if c.MaxAckPending < c.Concurrency {
		bad("SCA_MAX_ACK_PENDING", "must be at least SCA_CONCURRENCY (%d), got %d", c.Concurrency, c.MaxAckPending)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		bad("SCA_REPLICAS", "must be 1..5, got %d", c.Replicas)
	}
	if c.AttemptTimeout >= c.AckWait {
		bad("SCA_ATTEMPT_TIMEOUT", "%s must be shorter than SCA_ACK_WAIT (%s): in-process retries must end before JetStream redelivers", c.AttemptTimeout, c.AckWait)
	}
	if c.RetryDelayMin > c.RetryDelayMax {
		bad("SCA_RETRY_DELAY_MIN", "%s is longer than SCA_RETRY_DELAY_MAX (%s)", c.RetryDelayMin, c.RetryDelayMax)
	}
	if c.FaultPause > c.FaultPauseMax {
		bad("SCA_FAULT_PAUSE", "%s is longer than SCA_FAULT_PAUSE_MAX (%s)", c.FaultPause, c.FaultPauseMax)
	}
	if c.UserCap < 1 {
		bad("SCA_USER_CAP", "must be at least 1, got %d", c.UserCap)
	}
	if err := c.Subjects.Validate(); err != nil {
		bad("SCA_SUBJECT_*", "%v", err)
	}
	names := map[string]string{"SCA_STREAM": c.Stream, "SCA_LINKS_STREAM": c.LinksStream, "SCA_DLQ_STREAM": c.DLQStream, "SCA_DURABLE": c.Durable, "SCA_LEDGER_BUCKET": c.LedgerBucket, "SCA_USERS_BUCKET": c.UsersBucket, "SCA_HOOKS_BUCKET": c.HooksBucket, "SCA_OPS_BUCKET": c.OpsBucket, "SCA_BUDGET_BUCKET": c.BudgetBucket}
	for _, setting := range sortedKeys(names) {
		if name := names[setting]; !validName(name) {
			bad(setting, "%q is not a valid JetStream name (letters, digits, '-' and '_')", name)
		}
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// validName reports whether s can name a stream, consumer or bucket.
func validName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
