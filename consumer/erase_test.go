package consumer_test

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

// TestEraseUser: a user who got a link has ledger entries and a user
// state; EraseUser removes both, without a marker that keeps the id, and
// leaves another user's data alone. A dry run only counts.
func TestEraseUser(t *testing.T) {
	t.Parallel()
	w := testworld.New(t, testworld.Options{})
	ctx := w.Context()
	owner := map[string]any{"category": "OWNER"}
	w.UserCreated("gone-1", mangosim.UserOwnerNatural, owner)
	w.UserCreated("gone-2", mangosim.UserOwnerNatural, owner)
	w.UserCreated("kept-1", mangosim.UserOwnerNatural2, owner)
	for _, id := range []string{"gone-1", "gone-2", "kept-1"} {
		w.OutcomeFor(id)
	}
	w.Settled()
	cfg := w.Config.Defaults()

	dry, err := consumer.EraseUser(ctx, w.JS, w.Config, mangosim.UserOwnerNatural, true)
	if err != nil {
		t.Fatal(err)
	}
	if dry.LedgerEntries != 2 || !dry.UserState {
		t.Errorf("dry run = %+v, want 2 ledger entries and the user state", dry)
	}
	var le consumer.LedgerEntry
	if !w.LedgerEntry("/users", "gone-1", &le) {
		t.Fatalf("a dry run erased a ledger entry")
	}

	got, err := consumer.EraseUser(ctx, w.JS, w.Config, mangosim.UserOwnerNatural, false)
	if err != nil {
		t.Fatal(err)
	}
	if got != dry {
		t.Errorf("erased %+v, the dry run said %+v", got, dry)
	}
	for _, id := range []string{"gone-1", "gone-2"} {
		if w.LedgerEntry("/users", id, &le) {
			t.Errorf("ledger entry of %s survived the erasure", id)
		}
	}
	if !w.LedgerEntry("/users", "kept-1", &le) || le.UserID != mangosim.UserOwnerNatural2 {
		t.Errorf("another user's ledger entry was erased")
	}
	users, err := w.JS.KeyValue(ctx, cfg.UsersBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := users.Get(ctx, mangosim.UserOwnerNatural); err != jetstream.ErrKeyNotFound {
		t.Errorf("user state after erasure: %v, want not found", err)
	}
	if _, err := users.Get(ctx, mangosim.UserOwnerNatural2); err != nil {
		t.Errorf("another user's state: %v", err)
	}
	// No stored message of either bucket names the user any more, not
	// even a delete marker.
	for _, bucket := range []string{cfg.UsersBucket, cfg.LedgerBucket} {
		st, err := w.JS.Stream(ctx, "KV_"+bucket)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if err != nil {
				continue // deleted
			}
			if strings.Contains(m.Subject+string(m.Data), mangosim.UserOwnerNatural+`"`) || strings.HasSuffix(m.Subject, "."+mangosim.UserOwnerNatural) {
				t.Errorf("%s seq %d still names the user: %s %s", bucket, seq, m.Subject, m.Data)
			}
		}
	}
	again, err := consumer.EraseUser(ctx, w.JS, w.Config, mangosim.UserOwnerNatural, false)
	if err != nil || again != (consumer.Erased{}) {
		t.Errorf("a second erasure = %+v, %v; want nothing left", again, err)
	}
}
