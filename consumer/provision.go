package consumer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
)

// linksDuplicates is the duplicate window of a links stream scaworker
// creates: longer than a link's life, so a link republished after a crash
// is recognised by JetStream itself (past the window, the consumer looks
// for it in the stream instead).
const linksDuplicates = 15 * time.Minute

// HooksTTL is how long the id of a stored Mangopay hook is remembered.
const HooksTTL = events.HookIDRetention

// Provision creates what is missing of the JetStream layout (docs/events.md, "JetStream layout") and
// checks what exists. It never modifies an existing stream, consumer or
// bucket: an incompatible one is an error that says what to change.
func Provision(ctx context.Context, js jetstream.JetStream, cfg Config) error {
	return layout(ctx, js, cfg.Defaults(), true)
}

// Check checks the JetStream layout without creating anything; what is
// missing is not an error, since [Provision] would create it.
func Check(ctx context.Context, js jetstream.JetStream, cfg Config) error {
	return layout(ctx, js, cfg.Defaults(), false)
}

func layout(ctx context.Context, js jetstream.JetStream, cfg Config, create bool) error {
	var errs []error
	eventsMaxAge := cfg.EventsMaxAge
	for _, want := range wantStreams(cfg) {
		info, err := ensureStream(ctx, js, want, create)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if info != nil && want.Name == cfg.Stream {
			eventsMaxAge = info.Config.MaxAge
		}
	}
	if err := ensureConsumer(ctx, js, cfg, create); err != nil {
		errs = append(errs, err)
	}
	// The ledger must outlive every trigger still stored for replay.
	ledgerTTL := time.Duration(0)
	if eventsMaxAge > 0 {
		ledgerTTL = eventsMaxAge + 24*time.Hour
	}
	for _, b := range bucketSpecs(cfg, ledgerTTL) {
		if _, err := ensureBucket(ctx, js, cfg, b, create); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// streamWant is a stream scaworker needs and the subjects it must capture.
type streamWant struct {
	Setting  string
	Name     string
	Subjects []string // subjects that must be captured
	Create   jetstream.StreamConfig
	Check    func(jetstream.StreamConfig) []string // problems, each with its fix
}

func wantStreams(cfg Config) []streamWant {
	s := cfg.Subjects
	limitsOnly := func(name string) func(jetstream.StreamConfig) []string {
		return func(c jetstream.StreamConfig) []string {
			if c.Retention != jetstream.LimitsPolicy {
				return []string{fmt.Sprintf("uses %s retention; it needs limits retention so triggers stay for replay after they are acknowledged (create a new stream with --retention limits and source %s into it)", c.Retention, name)}
			}
			return nil
		}
	}
	return []streamWant{{
		Setting:  "SCA_STREAM",
		Name:     cfg.Stream,
		Subjects: s.Triggers(),
		Create: jetstream.StreamConfig{
			Name: cfg.Stream, Subjects: []string{subjectRoot(s.Triggers())},
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			MaxAge: cfg.EventsMaxAge, Replicas: cfg.Replicas, Duplicates: 2 * time.Minute,
			Description: "scaworker triggers: kept for replay",
		},
		Check: limitsOnly(cfg.Stream),
	}, {
		Setting:  "SCA_LINKS_STREAM",
		Name:     cfg.LinksStream,
		Subjects: []string{s.LinkSend},
		Create: jetstream.StreamConfig{
			Name: cfg.LinksStream, Subjects: []string{subjectRoot([]string{s.LinkSend})},
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			AllowMsgTTL: true, MaxAge: time.Hour, Duplicates: linksDuplicates, Replicas: cfg.Replicas,
			Description: "scaworker send-link events: each lives until its link expires",
		},
		Check: checkLinks,
	}, {
		Setting:  "SCA_DLQ_STREAM",
		Name:     cfg.DLQStream,
		Subjects: []string{s.DLQSubject(s.UserCreated)},
		Create: jetstream.StreamConfig{
			Name: cfg.DLQStream, Subjects: []string{s.DLQFilter()},
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			MaxAge: cfg.DLQMaxAge, Replicas: cfg.Replicas, Duplicates: 2 * time.Minute,
			Description: "scaworker dead letters: they hold personal data",
		},
		Check: limitsOnly(cfg.DLQStream),
	}}
}

// checkLinks lists what keeps a links stream from holding every link
// exactly until it expires: the worker finds a link it published before
// a crash by looking in the stream (past the duplicate window), so a link
// that left early is published twice, and one that cannot be stored dies
// unsent.
func checkLinks(c jetstream.StreamConfig) []string {
	var p []string
	if !c.AllowMsgTTL {
		p = append(p, fmt.Sprintf("does not allow per-message TTL, so links would outlive their expiry: enable it (nats stream edit %s --allow-msg-ttl)", c.Name))
	}
	if c.Retention != jetstream.LimitsPolicy {
		p = append(p, fmt.Sprintf("uses %s retention; it needs limits retention: a link acknowledged by its reader leaves the stream, so after a crash the worker cannot find it and publishes it again (create a new stream with --retention limits --allow-msg-ttl and point SCA_LINKS_STREAM at it)", c.Retention))
	}
	if c.MaxAge > 0 && c.MaxAge < enroll.LinkTTL {
		p = append(p, fmt.Sprintf("keeps messages only %s, less than a link's life (%s), so a live link could vanish and be published again: raise it (nats stream edit %s --max-age 1h)", c.MaxAge, enroll.LinkTTL, c.Name))
	}
	full := "evict live links when full (discard old)"
	if c.Discard == jetstream.DiscardNew {
		full = "refuse new links when full (discard new), and a link that waits too long dies unsent"
	}
	for _, l := range []struct {
		n    int64
		what string
		flag string
	}{
		{c.MaxMsgs, "messages", "--max-msgs=-1"},
		{c.MaxBytes, "bytes", "--max-bytes=-1"},
		{c.MaxMsgsPerSubject, "messages per subject", "--max-msgs-per-subject=-1"},
	} {
		if l.n > 0 {
			p = append(p, fmt.Sprintf("is limited to %d %s, so it would %s: remove the limit, links leave by their own TTL (nats stream edit %s %s)", l.n, l.what, full, c.Name, l.flag))
		}
	}
	return p
}

// subjectRoot is the wildcard that captures subjects: "sca.events.>" for
// the trigger subjects, the subject itself when there is one.
func subjectRoot(subjects []string) string {
	if len(subjects) == 1 {
		parts := strings.Split(subjects[0], ".")
		if len(parts) > 1 {
			return strings.Join(parts[:len(parts)-1], ".") + ".>"
		}
		return subjects[0]
	}
	common := strings.Split(subjects[0], ".")
	for _, s := range subjects[1:] {
		parts := strings.Split(s, ".")
		n := 0
		for n < len(common) && n < len(parts) && common[n] == parts[n] {
			n++
		}
		common = common[:n]
	}
	if len(common) == 0 {
		return ">"
	}
	return strings.Join(common, ".") + ".>"
}

func ensureStream(ctx context.Context, js jetstream.JetStream, want streamWant, create bool) (*jetstream.StreamInfo, error) {
	st, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if !create {
			return nil, nil
		}
		st, err = js.CreateStream(ctx, want.Create)
		if err != nil {
			return nil, fmt.Errorf("%s: create stream %s: %w", want.Setting, want.Name, err)
		}
		return st.CachedInfo(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: look up stream %s: %w", want.Setting, want.Name, err)
	}
	info := st.CachedInfo()
	var problems []string
	for _, subj := range want.Subjects {
		if !captures(info.Config.Subjects, subj) {
			problems = append(problems, fmt.Sprintf("does not capture subject %s (its subjects: %s): add it, or point %s at a stream that does", subj, strings.Join(info.Config.Subjects, ", "), want.Setting))
		}
	}
	if info.Config.Storage != jetstream.FileStorage {
		// A restart of NATS empties it: triggers not yet decided, dead
		// letters, links not yet sent and the copies the worker looks up
		// so as not to publish a link twice.
		problems = append(problems, fmt.Sprintf("keeps its messages in memory, so a NATS restart loses them; it needs file storage (create a new stream with --storage file and point %s at it)", want.Setting))
	}
	problems = append(problems, want.Check(info.Config)...)
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s: existing stream %s cannot be used; scaworker never modifies it: it %s", want.Setting, want.Name, strings.Join(problems, "; it "))
	}
	return info, nil
}

// captures reports whether one of the stream subjects matches subj.
func captures(streamSubjects []string, subj string) bool {
	for _, pattern := range streamSubjects {
		if subjectMatches(pattern, subj) {
			return true
		}
	}
	return false
}

func subjectMatches(pattern, subj string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subj, ".")
	for i, tok := range p {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(p) == len(s)
}

func ensureConsumer(ctx context.Context, js jetstream.JetStream, cfg Config, create bool) error {
	st, err := js.Stream(ctx, cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) && !create {
		return nil
	}
	if err != nil {
		return fmt.Errorf("SCA_DURABLE: look up stream %s: %w", cfg.Stream, err)
	}
	c, err := st.Consumer(ctx, cfg.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		if !create {
			return nil
		}
		_, err = st.CreateConsumer(ctx, consumerConfig(cfg, st.CachedInfo().Config.Subjects))
		if err != nil {
			return fmt.Errorf("SCA_DURABLE: create consumer %s on %s: %w", cfg.Durable, cfg.Stream, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("SCA_DURABLE: look up consumer %s: %w", cfg.Durable, err)
	}
	cc := c.CachedInfo().Config
	var problems []string
	if cc.AckPolicy != jetstream.AckExplicitPolicy {
		problems = append(problems, fmt.Sprintf("has ack policy %s, not explicit", cc.AckPolicy))
	}
	if cc.DeliverSubject != "" {
		problems = append(problems, "is a push consumer, not a pull consumer")
	}
	if cc.MaxDeliver > 0 {
		problems = append(problems, fmt.Sprintf("gives up after %d deliveries, which would strand triggers: scaworker counts attempts itself and needs unlimited deliveries", cc.MaxDeliver))
	}
	filters := cc.FilterSubjects
	if cc.FilterSubject != "" {
		filters = append(filters, cc.FilterSubject)
	}
	if len(filters) > 0 {
		for _, subj := range cfg.Subjects.Triggers() {
			if !captures(filters, subj) {
				problems = append(problems, fmt.Sprintf("does not deliver subject %s", subj))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("SCA_DURABLE: existing consumer %s on %s cannot be used; scaworker never modifies it: it %s (delete it to let scaworker create it, or name another with SCA_DURABLE)", cfg.Durable, cfg.Stream, strings.Join(problems, "; it "))
	}
	return nil
}

// TriggerFilters returns the subjects the durable consumer delivers from a
// stream with streamSubjects. On a stream that captures exactly the root
// of the trigger subjects (the stream scaworker creates: "sca.events.>"),
// every message is meant for scaworker, so the consumer takes the whole
// root: a trigger on a subject scaworker does not handle (a typo such as
// sca.events.user.create) is dead-lettered as invalid_event instead of
// sitting unseen. On a stream shared with other events, only the four
// trigger subjects. A durable consumer that exists is never changed: one
// created with the four subjects keeps them (see [Consumer.Run]).
func TriggerFilters(cfg Config, streamSubjects []string) []string {
	triggers := cfg.Defaults().Subjects.Triggers()
	if root := subjectRoot(triggers); root != ">" && len(streamSubjects) == 1 && streamSubjects[0] == root {
		return []string{root}
	}
	return triggers
}

func consumerConfig(cfg Config, streamSubjects []string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        cfg.Durable,
		Description:    "scaworker: trigger events to SCA links",
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        cfg.AckWait,
		MaxDeliver:     -1,
		MaxAckPending:  cfg.MaxAckPending,
		FilterSubjects: TriggerFilters(cfg, streamSubjects),
		Replicas:       cfg.Replicas,
	}
}

// bucketSpec is a KV bucket scaworker needs.
type bucketSpec struct {
	name, setting, purpose string
	ttl                    time.Duration
	// keep says what a shorter TTL would break.
	keep string
}

// bucketSpecs are the deployment's buckets; ledgerTTL is the ledger's and
// the users bucket's TTL (0: none).
func bucketSpecs(cfg Config, ledgerTTL time.Duration) []bucketSpec {
	return []bucketSpec{
		{cfg.LedgerBucket, "SCA_LEDGER_BUCKET", "outcome ledger", ledgerTTL, "before the triggers in " + cfg.Stream + " expire"},
		{cfg.UsersBucket, "SCA_USERS_BUCKET", "per-user state", ledgerTTL, "before the triggers in " + cfg.Stream + " expire"},
		hooksSpec(cfg),
		opsSpec(cfg),
	}
}

func hooksSpec(cfg Config) bucketSpec {
	return bucketSpec{cfg.HooksBucket, "SCA_HOOKS_BUCKET", "ids of stored Mangopay hooks", HooksTTL,
		"while Mangopay (45 days) or a backfill can still deliver the same event"}
}

func opsSpec(cfg Config) bucketSpec {
	return bucketSpec{cfg.OpsBucket, "SCA_OPS_BUCKET", "operator state: replay cursors, redrive marks", 0,
		"while replays and redrives still need them"}
}

// OpsBucket binds the operator-state bucket cfg.OpsBucket (replay cursors,
// redrive marks), creating it exactly as [Provision] would when it is
// missing, so the operator tools work against a deployment whose worker
// predates the bucket.
func OpsBucket(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.KeyValue, error) {
	cfg = cfg.Defaults()
	return ensureBucket(ctx, js, cfg, opsSpec(cfg), true)
}

// HooksBucket binds the bucket of stored Mangopay hook ids cfg.HooksBucket
// (the webhook ingress's and backfill's markers), creating it exactly as
// [Provision] would when it is missing (TTL [HooksTTL]); an existing one
// that forgets markers sooner is refused.
func HooksBucket(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.KeyValue, error) {
	cfg = cfg.Defaults()
	return ensureBucket(ctx, js, cfg, hooksSpec(cfg), true)
}

// ensureBucket binds bucket b, creating it when it is missing and create
// is set (a missing bucket is (nil, nil) otherwise), and checks that an
// existing one keeps entries long enough.
func ensureBucket(ctx context.Context, js jetstream.JetStream, cfg Config, b bucketSpec, create bool) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, b.name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		if !create {
			return nil, nil
		}
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: b.name, Description: "scaworker " + b.purpose,
			History: 1, TTL: b.ttl, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, b.name) // created concurrently
		}
		if err != nil {
			return nil, fmt.Errorf("%s: create bucket %s: %w", b.setting, b.name, err)
		}
		return kv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: look up bucket %s: %w", b.setting, b.name, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: read bucket %s: %w", b.setting, b.name, err)
	}
	if got := st.TTL(); got != 0 && (b.ttl == 0 || got < b.ttl) {
		return nil, fmt.Errorf("%s: existing bucket %s forgets entries after %s, %s (%s needed); scaworker never modifies it: recreate it with a longer TTL or name another bucket", b.setting, b.name, got, b.keep, ttlText(b.ttl))
	}
	return kv, nil
}

func ttlText(d time.Duration) string {
	if d == 0 {
		return "no expiry"
	}
	return d.String()
}
