package ops_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/ops"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{in: "24h", want: now.Add(-24 * time.Hour)},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "7d", want: now.Add(-7 * 24 * time.Hour)},
		{in: "1d12h", want: now.Add(-36 * time.Hour)},
		{in: "2026-05-01T10:00:00+02:00", want: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)},
		{in: "", wantErr: "--since: empty"},
		{in: "yesterday", wantErr: `--since: "yesterday": want an RFC 3339 time`},
		{in: "-1h", wantErr: "must not be negative"},
		{in: "xd", wantErr: `--since: "xd"`},
	} {
		got, err := ops.ParseTime("--since", tc.in, now)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseTime(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

// ReadStream reads what is stored when it starts, with filters and start
// points, and returns at once when nothing matches.
func TestReadStream(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{NoStart: true})
	if _, err := w.JS.CreateStream(w.Context(), jetstream.StreamConfig{Name: "RS", Subjects: []string{"rs.>"}}); err != nil {
		t.Fatal(err)
	}
	read := func(o ops.ReadOptions) []uint64 {
		t.Helper()
		var seqs []uint64
		if err := ops.ReadStream(w.Context(), w.JS, "RS", o, func(m ops.StoredMsg) error {
			seqs = append(seqs, m.Seq)
			return nil
		}); err != nil {
			t.Fatalf("ReadStream(%+v): %v", o, err)
		}
		return seqs
	}
	if got := read(ops.ReadOptions{}); len(got) != 0 {
		t.Errorf("empty stream read %v", got)
	}
	for i := range 600 {
		subj := "rs.a"
		if i%2 == 1 {
			subj = "rs.b"
		}
		w.Publish(subj, []byte("x"), "")
	}
	if got := read(ops.ReadOptions{}); len(got) != 600 || got[0] != 1 || got[599] != 600 {
		t.Errorf("read all: %d messages", len(got))
	}
	if got := read(ops.ReadOptions{Subjects: []string{"rs.b"}}); len(got) != 300 || got[0] != 2 {
		t.Errorf("read rs.b: %d messages", len(got))
	}
	if got := read(ops.ReadOptions{Subjects: []string{"rs.none"}}); len(got) != 0 {
		t.Errorf("read rs.none: %v", got)
	}
	if got := read(ops.ReadOptions{StartSeq: 598}); !slices.Equal(got, []uint64{598, 599, 600}) {
		t.Errorf("read from 598: %v", got)
	}
	if got := read(ops.ReadOptions{StartSeq: 601}); len(got) != 0 {
		t.Errorf("read from 601: %v", got)
	}
	if got := read(ops.ReadOptions{StartTime: time.Now().Add(time.Hour)}); len(got) != 0 {
		t.Errorf("read from the future: %v", got)
	}
}

// OpsKV creates the bucket when it is missing, without a TTL, and binds it after.
func TestOpsKVCreatesBucket(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{NoStart: true})
	cfg := w.Config
	cfg.OpsBucket = "ops_fresh"
	kv, err := ops.OpsKV(w.Context(), w.JS, cfg)
	if err != nil {
		t.Fatalf("OpsKV: %v", err)
	}
	st, err := kv.Status(w.Context())
	if err != nil || st.Bucket() != "ops_fresh" || st.TTL() != 0 {
		t.Errorf("bucket = %v, %v; want ops_fresh without TTL", st, err)
	}
	if _, err := ops.OpsKV(w.Context(), w.JS, cfg); err != nil {
		t.Errorf("second OpsKV: %v", err)
	}
}
