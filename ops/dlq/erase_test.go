package dlq_test

import (
	"bytes"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
	"github.com/scaworker/scaworker/ops/dlq"
	"github.com/scaworker/scaworker/ops/replay"
)

// messagesNaming counts the messages of stream that name user.
func (w *world) messagesNaming(stream, user string) int {
	w.T.Helper()
	n := 0
	err := consumer.ReadStream(w.Context(), w.JS, stream, consumer.ReadOptions{}, func(m consumer.StoredMsg) error {
		if bytes.Contains(m.Data, []byte(`"`+user+`"`)) {
			n++
		}
		return nil
	})
	if err != nil {
		w.T.Fatal(err)
	}
	return n
}

// TestPurgeUserErases: a purge by user erases the user's dead letters,
// triggers, links, ledger entries (an invalid trigger's entry holds no
// user id), user state and replay cursor; a dry
// run before counts all of it and changes nothing; a replay afterwards,
// even forced, re-creates nothing for the user, while another user's data
// stays.
func TestPurgeUserErases(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	ctx := w.Context()
	cfg := w.Config.Defaults()
	gone, kept := mangosim.UserOwnerNatural, mangosim.UserOwnerNatural2
	w.UserCreated("g-link", gone, category("OWNER"))
	w.OutcomeFor("g-link")
	w.Publish(cfg.Subjects.SessionExpired, testworld.CloudEvent("sca.session.expired", "mangopay", "g-bad",
		map[string]any{"user_id": gone, "occurred_at": "not a time"}), "g-bad") // dead-lettered: invalid
	w.waitRecords(1)
	w.UserCreated("k-link", kept, category("OWNER"))
	w.OutcomeFor("k-link")
	w.Settled()
	// A replay cursor that names the user.
	if _, err := replay.Run(ctx, w.JS, replay.Config{Layout: w.Config, From: "1", Users: []string{gone}, Name: "only-gone"}); err != nil {
		t.Fatal(err)
	}
	w.Settled()
	if w.messagesNaming(cfg.Stream, gone) < 2 || w.messagesNaming(cfg.LinksStream, gone) != 1 {
		t.Fatalf("the user has %d triggers and %d links, want at least 2 and 1", w.messagesNaming(cfg.Stream, gone), w.messagesNaming(cfg.LinksStream, gone))
	}

	d := w.dlq()
	dry, err := d.Purge(ctx, dlq.Filter{User: gone}, dlq.PurgeOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	e := dry.Erasure
	if dry.Selected != 1 || dry.Deleted != 0 || e == nil || e.Triggers < 2 || e.Links != 1 || e.LedgerEntries != 1 || !e.UserState || e.OpsEntries != 1 {
		t.Fatalf("dry run = %+v, erasure %+v", dry, e)
	}
	if len(w.records()) != 1 || w.messagesNaming(cfg.Stream, gone) < 2 || w.ledger("/users", "g-link") == nil {
		t.Fatalf("the dry run erased something")
	}

	res, err := d.Purge(ctx, dlq.Filter{User: gone}, dlq.PurgeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 1 || !res.Secure || *res.Erasure != *dry.Erasure {
		t.Errorf("purge = %+v, erasure %+v; the dry run said %+v", res, res.Erasure, dry.Erasure)
	}
	for _, stream := range []string{cfg.Stream, cfg.LinksStream, cfg.DLQStream} {
		if n := w.messagesNaming(stream, gone); n != 0 {
			t.Errorf("%s still holds %d messages of the user", stream, n)
		}
	}
	if w.ledger("/users", "g-link") != nil {
		t.Errorf("the user's ledger entries survived")
	}
	ops, err := w.JS.KeyValue(ctx, cfg.OpsBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ops.Get(ctx, "replay.only-gone"); err != jetstream.ErrKeyNotFound {
		t.Errorf("the replay cursor naming the user: %v, want it purged", err)
	}
	if w.ledger("/users", "k-link") == nil || w.messagesNaming(cfg.LinksStream, kept) != 1 {
		t.Errorf("another user's data was erased")
	}

	// A later replay, even forced, has nothing of the user to republish.
	links := len(w.Links())
	rep, err := replay.Run(ctx, w.JS, replay.Config{Layout: w.Config, From: "1", Force: true, Name: "after"})
	if err != nil {
		t.Fatal(err)
	}
	w.Settled()
	if n := w.messagesNaming(cfg.Stream, gone); n != 0 {
		t.Errorf("the replay republished %d triggers of the erased user", n)
	}
	if n := w.messagesNaming(cfg.LinksStream, gone); n != 0 {
		t.Errorf("the replay got the erased user %d links", n)
	}
	if w.ledger("/users", "g-link") != nil {
		t.Errorf("the replay re-created the user's ledger entry")
	}
	t.Logf("replay after the erasure: %+v; links %d -> %d", rep.Counts, links, len(w.Links()))
	var le consumer.LedgerEntry
	if !w.LedgerEntry("/users", "k-link", &le) {
		t.Errorf("another user's ledger entry is gone")
	}
}

// TestPurgeUserErasesRawTriggers: an invalid trigger whose user can only
// be read from its raw body is the user's dead letter (it names the user
// as a whole token), and so its copy in the trigger stream is the user's
// trigger too: a purge by user erases both, not the record alone.
func TestPurgeUserErasesRawTriggers(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testworld.Options{})
	ctx := w.Context()
	cfg := w.Config.Defaults()
	gone, kept := "user_raw_gone", "user_raw_kept"
	for _, u := range []string{gone, kept} {
		w.Publish(cfg.Subjects.SessionExpired, []byte("not a cloud event; user_id="+u+"; email="+u+"@example.com"), "raw-"+u)
	}
	w.waitRecords(2)
	w.Settled()

	res, err := w.dlq().Purge(ctx, dlq.Filter{User: gone}, dlq.PurgeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 1 || res.Erasure == nil || res.Erasure.Triggers != 1 {
		t.Errorf("purge = %+v, erasure %+v; want its dead letter and its trigger erased", res, res.Erasure)
	}
	count := func(stream, user string) int {
		n := 0
		err := consumer.ReadStream(ctx, w.JS, stream, consumer.ReadOptions{}, func(m consumer.StoredMsg) error {
			if bytes.Contains(m.Data, []byte(user)) {
				n++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, stream := range []string{cfg.Stream, cfg.DLQStream} {
		if n := count(stream, gone); n != 0 {
			t.Errorf("%s still holds %d messages naming the erased user", stream, n)
		}
		if n := count(stream, kept); n != 1 {
			t.Errorf("%s holds %d messages of another user, want 1", stream, n)
		}
	}
}
