package consumer_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
)

// The durable consumer on the stream scaworker creates delivers the whole
// subject root, so that a trigger on a mistyped subject reaches the
// worker; on a stream shared with other events, only the trigger subjects.
func TestTriggerFilters(t *testing.T) {
	t.Parallel()
	cfg := consumer.Config{}.Defaults()
	if got := consumer.TriggerFilters(cfg, []string{"sca.events.>"}); !slices.Equal(got, []string{"sca.events.>"}) {
		t.Errorf("TriggerFilters(own stream) = %v, want [sca.events.>]", got)
	}
	shared := []string{"sca.events.>", "platform.users.>"}
	if got := consumer.TriggerFilters(cfg, shared); !slices.Equal(got, cfg.Subjects.Triggers()) {
		t.Errorf("TriggerFilters(shared stream) = %v, want the four trigger subjects", got)
	}

	js := testworld.JetStream(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := consumer.Provision(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	cons, err := js.Consumer(ctx, cfg.Stream, cfg.Durable)
	if err != nil {
		t.Fatal(err)
	}
	if got := cons.CachedInfo().Config.FilterSubjects; !slices.Equal(got, []string{"sca.events.>"}) {
		t.Errorf("provisioned consumer filters %v, want [sca.events.>]", got)
	}
}

// A durable consumer created before (with the four trigger subjects) is
// left as it is, and the worker says at start what it misses and how to
// widen it.
func TestNarrowDurableIsKeptAndWarned(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{NoStart: true})
	cfg := w.Config.Defaults()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := w.JS.DeleteConsumer(ctx, cfg.Stream, cfg.Durable); err != nil {
		t.Fatal(err)
	}
	if _, err := w.JS.CreateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
		Durable: cfg.Durable, AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: -1,
		AckWait: cfg.AckWait, FilterSubjects: cfg.Subjects.Triggers(),
	}); err != nil {
		t.Fatal(err)
	}
	if err := consumer.Provision(ctx, w.JS, w.Config); err != nil {
		t.Fatalf("Provision() with a narrow existing durable = %v, want nil (it still works)", err)
	}
	w.Start()
	w.UserCreated("narrow-1", "user_m_owner_natural", map[string]any{"category": "OWNER"})
	w.WaitOutcome("the trigger handled", func(o consumer.Outcome) bool { return o.EventID == "narrow-1" && o.Outcome == events.OutcomeLink })
	logs := w.LogText()
	for _, want := range []string{"does not deliver every subject", "nats consumer edit SCA_EVENTS scaworker --filter sca.events.>"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs do not say %q:\n%s", want, logs)
		}
	}
	cons, err := w.JS.Consumer(ctx, cfg.Stream, cfg.Durable)
	if err != nil {
		t.Fatal(err)
	}
	if got := cons.CachedInfo().Config.FilterSubjects; !slices.Equal(got, cfg.Subjects.Triggers()) {
		t.Errorf("existing consumer filters changed to %v", got)
	}
}
