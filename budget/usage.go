package budget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Usage is what the shared budget holds at one moment, for a reader that
// draws nothing from it (the operator console).
type Usage struct {
	// Used is the tokens of the live grants: the calls the deployment may
	// have made (or may still start) within the current window.
	Used int
	// NextFree is when the oldest live grant stops counting (tokens come
	// back); zero when none is live.
	NextFree time.Time
	// Processes are the names of the processes holding live grants
	// ([Config.Name]), sorted.
	Processes []string
	// BlockUntil is when a block published by a process (a spent Mangopay
	// window or a 429) ends; zero when none is in force at now.
	BlockUntil time.Time
	BlockBy    string
}

// ReadUsage reads the budget held in kv (see [Bucket]) as it stands at
// now: one read of its key (the Mangopay budget's, [DefaultKey]). A missing key reads as
// an idle budget.
func ReadUsage(ctx context.Context, kv jetstream.KeyValue, now time.Time) (Usage, error) {
	var u Usage
	e, err := kv.Get(ctx, DefaultKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return u, nil
	}
	if err != nil {
		return u, fmt.Errorf("SCA_BUDGET_BUCKET: read budget: %w", err)
	}
	var st state
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return u, fmt.Errorf("budget: stored state unreadable: %w", err)
	}
	ms := now.UnixMilli()
	for _, g := range st.Grants {
		if g.Until <= ms {
			continue
		}
		u.Used += g.N
		if t := time.UnixMilli(g.Until); u.NextFree.IsZero() || t.Before(u.NextFree) {
			u.NextFree = t
		}
		if !slices.Contains(u.Processes, g.By) {
			u.Processes = append(u.Processes, g.By)
		}
	}
	slices.Sort(u.Processes)
	if st.BlockUntil > ms {
		u.BlockUntil, u.BlockBy = time.UnixMilli(st.BlockUntil), st.BlockBy
	}
	return u, nil
}
