package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/budget"
	"github.com/scaworker/scaworker/console"
	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/internal/testworld"
)

var update = flag.Bool("update", false, "rewrite deploy/nats/jetstream from what scaworker provisions")

// statsBucket is SCA_STATS_BUCKET's default (the operator console's counters).
const statsBucket = "sca_stats"

// definitionReplicas is the replicas of every definition in deploy/nats/jetstream: the
// three servers of deploy/nats/values.yaml.
const definitionReplicas = 3

// provisioned provisions the default layout (as `scaworker run` does: consumer.Provision,
// the hooks bucket and the budget bucket) on a fresh JetStream and returns the streams and
// the consumer as the server holds them.
func provisioned(t *testing.T) (map[string]jetstream.StreamConfig, jetstream.ConsumerConfig) {
	t.Helper()
	// A bare server: testworld would provision its own (test-sized) layout first.
	srv := testworld.StartServer(t, &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	w := struct{ JS jetstream.JetStream }{js}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := consumer.Config{}.Defaults()
	if err := consumer.Provision(ctx, w.JS, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := consumer.HooksBucket(ctx, w.JS, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := budget.Bucket(ctx, w.JS, cfg.BudgetBucket, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := console.StatsBucket(ctx, w.JS, statsBucket, 1); err != nil {
		t.Fatal(err)
	}
	streams := map[string]jetstream.StreamConfig{}
	for _, name := range []string{cfg.Stream, cfg.LinksStream, cfg.DLQStream, "KV_" + cfg.LedgerBucket, "KV_" + cfg.UsersBucket,
		"KV_" + cfg.HooksBucket, "KV_" + cfg.OpsBucket, "KV_" + cfg.BudgetBucket, "KV_" + statsBucket} {
		s, err := w.JS.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		streams[name] = normalizeStream(s.CachedInfo().Config)
	}
	c, err := w.JS.Consumer(ctx, cfg.Stream, cfg.Durable)
	if err != nil {
		t.Fatal(err)
	}
	cc := c.CachedInfo().Config
	cc.Metadata = stripServerMetadata(cc.Metadata)
	return streams, cc
}

// stripServerMetadata drops the metadata the server adds itself (_nats.*).
func stripServerMetadata(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !strings.HasPrefix(k, "_nats") {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func normalizeStream(c jetstream.StreamConfig) jetstream.StreamConfig {
	c.Metadata = stripServerMetadata(c.Metadata)
	return c
}

// decodeStrict decodes JSON refusing unknown fields (a misspelt field would be dropped by
// `nats stream add --config` as well).
func decodeStrict(t *testing.T, path string, out any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestJetStreamDefinitions: deploy/nats/jetstream holds, for teams whose applications may
// not create streams, exactly what scaworker provisions with the default settings (at 3
// replicas): one file per stream (`nats stream add --config`), KV buckets included as
// their KV_ streams, and the durable consumer (`nats consumer add SCA_EVENTS --config`).
// Regenerate with: go test ./deploy -run TestJetStreamDefinitions -update
func TestJetStreamDefinitions(t *testing.T) {
	t.Parallel()
	streams, cons := provisioned(t)
	dir := "nats/jetstream"
	if *update {
		for name, c := range streams {
			c.Replicas = definitionReplicas
			writeJSON(t, filepath.Join(dir, "stream-"+name+".json"), c)
		}
		cons.Replicas = definitionReplicas
		writeJSON(t, filepath.Join(dir, "consumer-"+cons.Durable+".json"), cons)
		cons.Replicas = 1
	}
	files, err := filepath.Glob(filepath.Join(dir, "stream-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(streams) {
		t.Errorf("%d stream definitions, want %d (one per stream and bucket scaworker provisions)", len(files), len(streams))
	}
	for _, f := range files {
		var got jetstream.StreamConfig
		decodeStrict(t, f, &got)
		want, ok := streams[got.Name]
		if !ok {
			t.Errorf("%s defines %s, which scaworker does not provision", f, got.Name)
			continue
		}
		if got.Replicas != definitionReplicas {
			t.Errorf("%s: replicas %d, want %d", f, got.Replicas, definitionReplicas)
		}
		got.Replicas = want.Replicas
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s differs from what scaworker provisions:\n got  %+v\n want %+v", f, got, want)
		}
	}
	var got jetstream.ConsumerConfig
	decodeStrict(t, filepath.Join(dir, "consumer-"+cons.Durable+".json"), &got)
	if got.Replicas != definitionReplicas {
		t.Errorf("consumer replicas %d, want %d", got.Replicas, definitionReplicas)
	}
	got.Replicas = cons.Replicas
	if !reflect.DeepEqual(got, cons) {
		t.Errorf("the consumer definition differs from what scaworker provisions:\n got  %+v\n want %+v", got, cons)
	}
}
