package consumer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/internal/testworld"
)

// TestBucketWrites: the worker's compare-and-set writes to a bucket
// Provision created go straight to the key's subject and keep jetstream's
// KV rules: a create fails on an entry, succeeds over a delete or purge
// marker (dlq purge erases entries), and an update needs the revision.
func TestBucketWrites(t *testing.T) {
	t.Parallel()
	js := testworld.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := consumer.Config{}.Defaults()
	if err := consumer.Provision(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, cfg.LedgerBucket)
	if err != nil {
		t.Fatal(err)
	}
	b := consumer.NewTestBucket(ctx, js, kv, t.Cleanup)
	if !b.Lean {
		t.Fatal("writes to a provisioned bucket go through jetstream's KV, want them straight to the subject")
	}
	stored := func(key, want string, rev uint64) {
		t.Helper()
		e, err := kv.Get(ctx, key)
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		if string(e.Value()) != want || e.Revision() != rev {
			t.Fatalf("%s = %q at revision %d, want %q at %d", key, e.Value(), e.Revision(), want, rev)
		}
	}
	const key = "0123456789abcdef"
	r1, err := b.Write(ctx, key, []byte("one"), 0)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	stored(key, "one", r1)
	if _, err := b.Write(ctx, key, []byte("two"), 0); !errors.Is(err, consumer.ErrConflict) {
		t.Fatalf("create over an entry: %v, want the conflict", err)
	}
	if _, err := b.Write(ctx, key, []byte("two"), r1+100); !errors.Is(err, consumer.ErrConflict) {
		t.Fatalf("update at a wrong revision: %v, want the conflict", err)
	}
	r2, err := b.Write(ctx, key, []byte("two"), r1)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	stored(key, "two", r2)
	if _, err := b.Write(ctx, key, []byte("three"), r1); !errors.Is(err, consumer.ErrConflict) {
		t.Fatalf("update at a revision passed: %v, want the conflict", err)
	}

	if err := kv.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	r3, err := b.Write(ctx, key, []byte("after delete"), 0)
	if err != nil {
		t.Fatalf("create over a delete marker: %v", err)
	}
	stored(key, "after delete", r3)
	if err := kv.Purge(ctx, key); err != nil {
		t.Fatal(err)
	}
	r4, err := b.Write(ctx, key, []byte("after purge"), 0)
	if err != nil {
		t.Fatalf("create over a purge marker: %v", err)
	}
	stored(key, "after purge", r4)
}

// TestBucketWritesToMirror: a bucket that mirrors another is written
// through jetstream's KV, which knows where its writes go.
func TestBucketWritesToMirror(t *testing.T) {
	t.Parallel()
	js := testworld.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	origin, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "origin"})
	if err != nil {
		t.Fatal(err)
	}
	mirror, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "mirror", Mirror: &jetstream.StreamSource{Name: "origin"}})
	if err != nil {
		t.Fatal(err)
	}
	b := consumer.NewTestBucket(ctx, js, mirror, t.Cleanup)
	if b.Lean {
		t.Fatal("writes to a mirror go straight to its own subjects")
	}
	rev, err := b.Write(ctx, "k", []byte("v"), 0)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	e, err := origin.Get(ctx, "k")
	if err != nil || string(e.Value()) != "v" || e.Revision() != rev {
		t.Fatalf("origin holds %v, %v; want v at revision %d", e, err, rev)
	}
}
