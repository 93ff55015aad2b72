package consumer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/internal/testworld"
)

// TestProvisionCreatesTheLayout: everything docs/events.md names is created once,
// and a second start finds it compatible and changes nothing.
func TestProvisionCreatesTheLayout(t *testing.T) {
	t.Parallel()
	js := testworld.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := consumer.Config{}.Defaults()
	if err := consumer.Check(ctx, js, cfg); err != nil {
		t.Fatalf("Check() on an empty server = %v, want nil (missing parts are created later)", err)
	}
	if err := consumer.Provision(ctx, js, cfg); err != nil {
		t.Fatalf("Provision() = %v", err)
	}
	links, err := js.Stream(ctx, cfg.LinksStream)
	if err != nil {
		t.Fatalf("links stream: %v", err)
	}
	if c := links.CachedInfo().Config; !c.AllowMsgTTL {
		t.Errorf("links stream AllowMsgTTL = false, want true")
	}
	events, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		t.Fatalf("events stream: %v", err)
	}
	if c := events.CachedInfo().Config; c.MaxAge != 30*24*time.Hour || c.Retention != jetstream.LimitsPolicy || c.Storage != jetstream.FileStorage {
		t.Errorf("events stream max age %s, retention %s, storage %s", c.MaxAge, c.Retention, c.Storage)
	}
	dlq, err := js.Stream(ctx, cfg.DLQStream)
	if err != nil {
		t.Fatalf("dlq stream: %v", err)
	}
	if got := dlq.CachedInfo().Config.MaxAge; got != 90*24*time.Hour {
		t.Errorf("dlq max age = %s, want 90 days", got)
	}
	cons, err := js.Consumer(ctx, cfg.Stream, cfg.Durable)
	if err != nil {
		t.Fatalf("durable consumer: %v", err)
	}
	if c := cons.CachedInfo().Config; c.AckPolicy != jetstream.AckExplicitPolicy || c.MaxDeliver != -1 || c.AckWait != cfg.AckWait {
		t.Errorf("consumer ack %s, max deliver %d, ack wait %s", c.AckPolicy, c.MaxDeliver, c.AckWait)
	}
	kv, err := js.KeyValue(ctx, cfg.LedgerBucket)
	if err != nil {
		t.Fatalf("ledger bucket: %v", err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatalf("ledger status: %v", err)
	}
	if st.TTL() < 30*24*time.Hour {
		t.Errorf("ledger TTL = %s, want at least the events stream's 30 days", st.TTL())
	}
	// A second start leaves everything as it is.
	if err := consumer.Provision(ctx, js, cfg); err != nil {
		t.Fatalf("second Provision() = %v", err)
	}
	info, err := events.Info(ctx)
	if err != nil {
		t.Fatalf("events info: %v", err)
	}
	if !info.Created.Equal(events.CachedInfo().Created) {
		t.Errorf("events stream was recreated")
	}
}

// TestProvisionRefusesIncompatibleStreams: an existing stream that cannot
// work stops start-up with the setting and the fix, and is not modified.
func TestProvisionRefusesIncompatibleStreams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		stream jetstream.StreamConfig
		want   []string
	}{
		{"links without per-message TTL",
			jetstream.StreamConfig{Name: "SCA_LINKS", Subjects: []string{"sca.links.>"}},
			[]string{"SCA_LINKS_STREAM", "per-message TTL", "--allow-msg-ttl"}},
		{"links stream with interest retention: a delivered link leaves, a crash republishes it",
			linksStream(func(c *jetstream.StreamConfig) { c.Retention = jetstream.InterestPolicy }),
			[]string{"SCA_LINKS_STREAM", "Interest retention", "limits retention"}},
		{"links stream with work-queue retention: the recovery lookup fails",
			linksStream(func(c *jetstream.StreamConfig) { c.Retention = jetstream.WorkQueuePolicy }),
			[]string{"SCA_LINKS_STREAM", "WorkQueue retention", "limits retention"}},
		{"links stream that drops links before they expire",
			linksStream(func(c *jetstream.StreamConfig) { c.MaxAge = 5 * time.Minute }),
			[]string{"SCA_LINKS_STREAM", "5m0s", "--max-age"}},
		{"links stream with a message limit that evicts",
			linksStream(func(c *jetstream.StreamConfig) { c.MaxMsgs = 1000 }),
			[]string{"SCA_LINKS_STREAM", "1000 messages", "evict", "--max-msgs=-1"}},
		{"links stream with a message limit that refuses",
			linksStream(func(c *jetstream.StreamConfig) { c.MaxMsgs, c.Discard = 1000, jetstream.DiscardNew }),
			[]string{"SCA_LINKS_STREAM", "1000 messages", "refuse", "--max-msgs=-1"}},
		{"links stream with a byte limit",
			linksStream(func(c *jetstream.StreamConfig) { c.MaxBytes = 1 << 20 }),
			[]string{"SCA_LINKS_STREAM", "1048576 bytes", "--max-bytes=-1"}},
		{"links stream with a per-subject limit",
			linksStream(func(c *jetstream.StreamConfig) { c.MaxMsgsPerSubject = 100 }),
			[]string{"SCA_LINKS_STREAM", "100 messages per subject", "--max-msgs-per-subject=-1"}},
		{"links stream in memory: a NATS restart loses unsent links and what was published",
			linksStream(func(c *jetstream.StreamConfig) { c.Storage = jetstream.MemoryStorage }),
			[]string{"SCA_LINKS_STREAM", "memory", "file storage"}},
		{"events stream in memory: a NATS restart loses triggers",
			jetstream.StreamConfig{Name: "SCA_EVENTS", Subjects: []string{"sca.events.>"}, Storage: jetstream.MemoryStorage},
			[]string{"SCA_STREAM", "memory", "file storage"}},
		{"events stream that forgets acknowledged triggers",
			jetstream.StreamConfig{Name: "SCA_EVENTS", Subjects: []string{"sca.events.>"}, Retention: jetstream.WorkQueuePolicy},
			[]string{"SCA_STREAM", "limits retention"}},
		{"events stream missing a subject",
			jetstream.StreamConfig{Name: "SCA_EVENTS", Subjects: []string{"sca.events.user.created"}},
			[]string{"SCA_STREAM", "sca.events.session.expired"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			js := testworld.JetStream(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := js.CreateStream(ctx, tt.stream); err != nil {
				t.Fatalf("create %s: %v", tt.stream.Name, err)
			}
			for name, fn := range map[string]func(context.Context, jetstream.JetStream, consumer.Config) error{
				"Provision": consumer.Provision, "Check": consumer.Check,
			} {
				err := fn(ctx, js, consumer.Config{})
				if err == nil {
					t.Fatalf("%s() = nil, want an error", name)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s() = %q, want it to mention %q", name, err, w)
					}
				}
			}
			st, err := js.Stream(ctx, tt.stream.Name)
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			if got := st.CachedInfo().Config; got.AllowMsgTTL != tt.stream.AllowMsgTTL || got.Retention != tt.stream.Retention || len(got.Subjects) != len(tt.stream.Subjects) {
				t.Errorf("stream was modified: %+v", got)
			}
		})
	}
}

// linksStream is a links stream scaworker accepts, changed by edit.
func linksStream(edit func(*jetstream.StreamConfig)) jetstream.StreamConfig {
	c := jetstream.StreamConfig{Name: "SCA_LINKS", Subjects: []string{"sca.links.>"}, AllowMsgTTL: true}
	edit(&c)
	return c
}

// TestProvisionAcceptsASafeLinksStream: limits retention, no message or
// byte limit, and a MaxAge of at least a link's life keep every link until
// it expires.
func TestProvisionAcceptsASafeLinksStream(t *testing.T) {
	t.Parallel()
	js := testworld.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, linksStream(func(c *jetstream.StreamConfig) { c.MaxAge, c.Discard = 10*time.Minute, jetstream.DiscardNew })); err != nil {
		t.Fatalf("create links stream: %v", err)
	}
	if err := consumer.Provision(ctx, js, consumer.Config{}); err != nil {
		t.Errorf("Provision() = %v, want nil", err)
	}
}

// TestConfigValidateNamesTheSetting: a configuration that cannot work
// names its environment variable.
func TestConfigValidateNamesTheSetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  consumer.Config
		want string
	}{
		{"attempt longer than ack wait", consumer.Config{AckWait: 10 * time.Second, AttemptTimeout: 10 * time.Second}, "SCA_ATTEMPT_TIMEOUT"},
		{"concurrency", consumer.Config{Concurrency: -1}, "SCA_CONCURRENCY"},
		{"bad stream name", consumer.Config{Stream: "a.b"}, "SCA_STREAM"},
		{"delays upside down", consumer.Config{RetryDelayMin: time.Minute, RetryDelayMax: time.Second}, "SCA_RETRY_DELAY_MIN"},
		{"ack pending below concurrency", consumer.Config{Concurrency: 10, MaxAckPending: 5}, "SCA_MAX_ACK_PENDING"},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want an error naming %s", tt.name, err, tt.want)
		}
	}
	if err := (consumer.Config{}).Validate(); err != nil {
		t.Errorf("defaults: Validate() = %v, want nil", err)
	}
}

// OpsBucket creates the bucket when it is missing, without a TTL, and binds it after.
func TestOpsBucketCreatesBucket(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{NoStart: true})
	cfg := w.Config
	cfg.OpsBucket = "ops_fresh"
	kv, err := consumer.OpsBucket(w.Context(), w.JS, cfg)
	if err != nil {
		t.Fatalf("OpsBucket: %v", err)
	}
	st, err := kv.Status(w.Context())
	if err != nil || st.Bucket() != "ops_fresh" || st.TTL() != 0 {
		t.Errorf("bucket = %v, %v; want ops_fresh without TTL", st, err)
	}
	if _, err := consumer.OpsBucket(w.Context(), w.JS, cfg); err != nil {
		t.Errorf("second OpsBucket: %v", err)
	}
}

// HooksBucket creates the bucket with the markers' TTL, and refuses an
// existing one that would forget markers while Mangopay can still deliver.
func TestHooksBucket(t *testing.T) {
	t.Parallel()
	js := testworld.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := consumer.HooksBucket(ctx, js, consumer.Config{HooksBucket: "hooks_fresh"})
	if err != nil {
		t.Fatalf("HooksBucket: %v", err)
	}
	if st, err := kv.Status(ctx); err != nil || st.TTL() != consumer.HooksTTL {
		t.Errorf("bucket TTL = %v (%v), want %s", st.TTL(), err, consumer.HooksTTL)
	}
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "hooks_short", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	_, err = consumer.HooksBucket(ctx, js, consumer.Config{HooksBucket: "hooks_short"})
	if err == nil || !strings.Contains(err.Error(), "SCA_HOOKS_BUCKET: existing bucket hooks_short forgets entries after 1h0m0s, while Mangopay") {
		t.Errorf("HooksBucket(1h TTL) = %v, want a refusal naming SCA_HOOKS_BUCKET", err)
	}
}
