package ops

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/hooks"
)

// OpsKV binds the operator-state bucket cfg.OpsBucket (SCA_OPS_BUCKET,
// default "sca_ops": replay cursors and dead-letter redrive marks) and
// creates it when it is missing, exactly as [consumer.Provision] would
// (no TTL, history 1, file storage, cfg.Replicas): a deployment whose
// worker predates the bucket can still be operated, and the worker accepts
// the bucket later.
func OpsKV(ctx context.Context, js jetstream.JetStream, cfg consumer.Config) (jetstream.KeyValue, error) {
	cfg = cfg.Defaults()
	return bindBucket(ctx, js, cfg, cfg.OpsBucket, "SCA_OPS_BUCKET", "operator state: replay cursors, redrive marks", 0)
}

// HooksKV binds the bucket of stored Mangopay hook ids cfg.HooksBucket
// (SCA_HOOKS_BUCKET, default "sca_hooks"; key = hook id, value a
// [hooks.Marker]) and creates it when it is missing, as the webhook
// ingress does ([hooks.Bucket]: TTL [hooks.MarkerTTL]).
func HooksKV(ctx context.Context, js jetstream.JetStream, cfg consumer.Config) (jetstream.KeyValue, error) {
	cfg = cfg.Defaults()
	return hooks.Bucket(ctx, js, cfg.HooksBucket, cfg.Replicas)
}

func bindBucket(ctx context.Context, js jetstream.JetStream, cfg consumer.Config, name, setting, purpose string, ttl time.Duration) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, name)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("%s: look up bucket %s: %w", setting, name, err)
	}
	kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: name, Description: "scaworker " + purpose,
		History: 1, TTL: ttl, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, name) // created concurrently
	}
	if err != nil {
		return nil, fmt.Errorf("%s: create bucket %s: %w", setting, name, err)
	}
	return kv, nil
}

// ParseTime reads a time flag: an RFC 3339 time, or a duration that many
// ago from now ("24h", "90m", and whole days such as "7d" or "1d12h").
// Errors name flag (e.g. "--since").
func ParseTime(flag, value string, now time.Time) (time.Time, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return time.Time{}, fmt.Errorf("%s: empty: want an RFC 3339 time (2026-05-01T00:00:00Z) or a duration such as 24h", flag)
	}
	if t, err := time.Parse(time.RFC3339, value); err == nil {
		return t, nil
	}
	d, err := ParseDuration(value)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q: want an RFC 3339 time (2026-05-01T00:00:00Z) or a duration such as 24h or 7d", flag, value)
	}
	if d < 0 {
		return time.Time{}, fmt.Errorf("%s: %q: a duration means that long ago and must not be negative", flag, value)
	}
	return now.Add(-d), nil
}

// ParseDuration is [time.ParseDuration] that also accepts whole days as a
// leading "<n>d" ("7d", "1d12h").
func ParseDuration(s string) (time.Duration, error) {
	days := time.Duration(0)
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > 36500 {
			return 0, fmt.Errorf("duration %q: bad day count", s)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	return days + d, nil
}

// StoredMsg is one message read from a stream.
type StoredMsg struct {
	Seq     uint64
	Subject string
	Time    time.Time // when the stream stored it
	Header  nats.Header
	Data    []byte
}

// ReadOptions selects what [ReadStream] reads.
type ReadOptions struct {
	// Subjects filters by subject (wildcards allowed); empty reads all.
	Subjects []string
	// StartSeq, when set, starts at this stream sequence.
	StartSeq uint64
	// StartTime, when set (and StartSeq is not), starts at the first
	// message stored at or after it.
	StartTime time.Time
	// EndSeq, when set, ends the read after this stream sequence (when
	// it is before the last message stored when the read started). No
	// message past it is fetched.
	EndSeq uint64
}

// ReadStream calls fn for every message of stream selected by o, in
// stream order, up to the last message stored when it started (or
// o.EndSeq). It fetches at most 256 messages ahead of fn, so its memory is
// bounded whatever the stream holds. It reads
// with an ordered consumer (ephemeral, no acks, headers and data), never
// a durable, so it changes nothing on the stream. fn returning an error
// stops the read with that error.
func ReadStream(ctx context.Context, js jetstream.JetStream, stream string, o ReadOptions, fn func(StoredMsg) error) error {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	last := info.State.LastSeq
	if o.EndSeq != 0 && o.EndSeq < last {
		last = o.EndSeq
	}
	if info.State.Msgs == 0 || (o.StartSeq != 0 && o.StartSeq > last) {
		return nil
	}
	occ := jetstream.OrderedConsumerConfig{FilterSubjects: o.Subjects, InactiveThreshold: time.Minute}
	switch {
	case o.StartSeq != 0:
		occ.DeliverPolicy, occ.OptStartSeq = jetstream.DeliverByStartSequencePolicy, o.StartSeq
	case !o.StartTime.IsZero():
		t := o.StartTime
		occ.DeliverPolicy, occ.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	cons, err := st.OrderedConsumer(ctx, occ)
	if err != nil {
		return fmt.Errorf("read stream %s: %w", stream, err)
	}
	next := o.StartSeq // the next sequence wanted; 0: not known yet
	for {
		want := 256
		if next != 0 && last-next+1 < uint64(want) {
			want = int(last - next + 1)
		}
		batch, err := cons.FetchNoWait(want)
		if err != nil {
			return fmt.Errorf("read stream %s: %w", stream, err)
		}
		n := 0
		done := false
		for msg := range batch.Messages() {
			n++
			meta, err := msg.Metadata()
			if err != nil {
				return fmt.Errorf("read stream %s: %w", stream, err)
			}
			seq := meta.Sequence.Stream
			if seq > last {
				done = true
				continue
			}
			next = seq + 1
			if err := fn(StoredMsg{Seq: seq, Subject: msg.Subject(), Time: meta.Timestamp, Header: msg.Headers(), Data: msg.Data()}); err != nil {
				return err
			}
			if seq == last || meta.NumPending == 0 {
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("read stream %s: %w", stream, err)
		}
		if done || n == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// FormatTime formats a time for operators: RFC 3339 in UTC, "-" for the
// zero time.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
