package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/hooks"
)

// Outcome counters: every worker process keeps its own counts in 5-minute
// slots over the last day and writes them, with a heartbeat, under one
// key of its own in the stats bucket (SCA_STATS_BUCKET). The overview
// sums the keys: one read per process, whatever the traffic.
const (
	slotLen     = 5 * time.Minute
	statsKeep   = 24 * time.Hour
	statsTTL    = statsKeep + time.Hour
	flushEvery  = 5 * time.Second
	seenWithin  = time.Minute
	maxSources  = 32
	maxStatKeys = 256 // a page: the processes read at most
)

// statsValue is one process's key.
type statsValue struct {
	Name    string      `json:"name"`
	Seen    time.Time   `json:"seen"`
	Slots   []statsSlot `json:"slots"`
	Sources []string    `json:"sources,omitempty"`
}

type statsSlot struct {
	Start  time.Time      `json:"start"`
	Counts map[string]int `json:"counts"`          // "type outcome reason" -> n
	Hooks  map[string]int `json:"hooks,omitempty"` // hook ingress result -> n
}

// Stats counts this process's outcomes for the console's overview. Pass
// [Stats.Record] as consumer.Deps.OnOutcome, [Stats.RecordHook] to
// hooks.Handler.OnResult, and run [Stats.Run].
type Stats struct {
	kv   jetstream.KeyValue
	name string
	now  func() time.Time

	mu  sync.Mutex
	val statsValue
}

// StatsBucket binds the stats bucket name and creates it when missing
// (history 1, entries kept 25 hours after their last write, file storage).
func StatsBucket(ctx context.Context, js jetstream.JetStream, name string, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: name, Description: "scaworker outcome counters of the console's overview",
			History: 1, TTL: statsTTL, Storage: jetstream.FileStorage, Replicas: max(replicas, 1),
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("SCA_STATS_BUCKET: bucket %s: %w", name, err)
	}
	return kv, nil
}

// NewStats returns the counters of the process name (unique per process,
// e.g. the budget's name) kept in kv (see [StatsBucket]).
func NewStats(kv jetstream.KeyValue, name string, now func() time.Time) *Stats {
	if now == nil {
		now = time.Now
	}
	return &Stats{kv: kv, name: statsKey(name), now: now, val: statsValue{Name: name}}
}

// statsKey makes a process name a valid KV key.
func statsKey(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, name)
}

// Record counts one settled delivery.
func (s *Stats) Record(o consumer.Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slot().Counts[o.Type+" "+o.Outcome+" "+o.Reason]++
	// The sources seen let the console find a trigger by its id alone.
	if src := o.Source; src != "" && !slices.Contains(s.val.Sources, src) && len(s.val.Sources) < maxSources {
		s.val.Sources = append(s.val.Sources, src)
	}
}

// RecordHook counts one webhook request by its result (hooks.Results).
func (s *Stats) RecordHook(result string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.slot()
	if sl.Hooks == nil {
		sl.Hooks = map[string]int{}
	}
	sl.Hooks[result]++
}

// slot is the slot of now, appended when new; s.mu is held.
func (s *Stats) slot() *statsSlot {
	start := s.now().UTC().Truncate(slotLen)
	n := len(s.val.Slots)
	if n == 0 || !s.val.Slots[n-1].Start.Equal(start) {
		s.val.Slots = append(s.val.Slots, statsSlot{Start: start, Counts: map[string]int{}})
		n++
	}
	return &s.val.Slots[n-1]
}

// Run writes the counters every few seconds until ctx ends, then once
// more. Write errors are retried at the next tick.
func (s *Stats) Run(ctx context.Context) error {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		_ = s.Flush(ctx)
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_ = s.Flush(fctx)
			return nil
		case <-t.C:
		}
	}
}

// Flush writes the counters now (slots older than a day are dropped).
func (s *Stats) Flush(ctx context.Context) error {
	s.mu.Lock()
	now := s.now().UTC()
	keep := s.val.Slots[:0]
	for _, sl := range s.val.Slots {
		if now.Sub(sl.Start) < statsKeep {
			keep = append(keep, sl)
		}
	}
	s.val.Slots, s.val.Seen = keep, now
	b, err := json.Marshal(s.val)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	_, err = s.kv.Put(ctx, s.name, b)
	return err
}

// Counts are outcomes by type, outcome and reason.
type Counts struct {
	Rows  []CountRow
	Total int
}

// CountRow is one line of [Counts].
type CountRow struct {
	Type, Outcome, Reason string
	N                     int
}

// HookRow is the webhook requests of one result over the last hour and day.
type HookRow struct {
	Result    string
	Hour, Day int
}

// Overall is what the stats bucket says of the whole deployment.
type Overall struct {
	Hour, Day Counts
	// Hooks are the webhook ingress's requests by result: every one of
	// hooks.Results in its order, then any other result written.
	Hooks []HookRow
	// Replicas are the processes that wrote within the last minute.
	Replicas []string
	// Sources are the CloudEvents sources the processes saw.
	Sources []string
	// Truncated says more processes wrote than were read.
	Truncated bool
}

// ReadStats sums every process's counters in kv at now. It reads at most
// maxStatKeys keys (the bucket holds one per process of the last day).
func ReadStats(ctx context.Context, kv jetstream.KeyValue, now time.Time) (Overall, error) {
	var ov Overall
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return ov, fmt.Errorf("SCA_STATS_BUCKET: read: %w", err)
	}
	defer func() { _ = w.Stop() }()
	hour, day := map[string]int{}, map[string]int{}
	hooksHour, hooksDay := map[string]int{}, map[string]int{}
	read := 0
	for {
		var e jetstream.KeyValueEntry
		select {
		case e = <-w.Updates():
		case <-ctx.Done():
			return ov, ctx.Err()
		}
		if e == nil {
			break
		}
		if read++; read > maxStatKeys {
			ov.Truncated = true
			break
		}
		var v statsValue
		if json.Unmarshal(e.Value(), &v) != nil {
			continue
		}
		if now.Sub(v.Seen) < seenWithin {
			ov.Replicas = append(ov.Replicas, v.Name)
		}
		for _, src := range v.Sources {
			if !slices.Contains(ov.Sources, src) {
				ov.Sources = append(ov.Sources, src)
			}
		}
		for _, sl := range v.Slots {
			age := now.Sub(sl.Start)
			for k, n := range sl.Counts {
				if age < statsKeep {
					day[k] += n
				}
				if age < time.Hour {
					hour[k] += n
				}
			}
			for r, n := range sl.Hooks {
				if age < statsKeep {
					hooksDay[r] += n
				}
				if age < time.Hour {
					hooksHour[r] += n
				}
			}
		}
	}
	slices.Sort(ov.Replicas)
	ov.Hour, ov.Day = countsOf(hour), countsOf(day)
	ov.Hooks = hookRows(hooksHour, hooksDay)
	return ov, nil
}

func hookRows(hour, day map[string]int) []HookRow {
	results := hooks.Results()
	for _, r := range slices.Sorted(maps.Keys(day)) {
		if !slices.Contains(results, r) {
			results = append(results, r)
		}
	}
	rows := make([]HookRow, 0, len(results))
	for _, r := range results {
		rows = append(rows, HookRow{Result: r, Hour: hour[r], Day: day[r]})
	}
	return rows
}

func countsOf(m map[string]int) Counts {
	var c Counts
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts := strings.SplitN(k, " ", 3)
		for len(parts) < 3 {
			parts = append(parts, "")
		}
		c.Rows = append(c.Rows, CountRow{Type: parts[0], Outcome: parts[1], Reason: parts[2], N: m[k]})
		c.Total += m[k]
	}
	return c
}
