package dlq

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/events"
)

// Erasure is what a purge by user erases beyond the user's dead letters,
// for a personal-data erasure:
//
//   - Triggers: the user's trigger messages in SCA_STREAM (data.user_id is
//     the user; or, for an invalid one without a readable data.user_id,
//     the user appears in it as a whole token, as a dead letter is
//     matched), erased with SecureDeleteMsg, so a later replay cannot
//     republish them (they are gone) and the worker cannot decide them
//     again;
//   - Links: the user's send-link events in SCA_LINKS_STREAM (they hold
//     the link), erased the same way;
//   - LedgerEntries and UserState: what the worker keeps about the user
//     ([consumer.EraseUser]: the ledger entries whose user_id is the user,
//     and the user's entry in SCA_USERS_BUCKET);
//   - OpsEntries: operator state in SCA_OPS_BUCKET whose value names the
//     user as a whole token (a replay cursor of a `replay --user`).
//
// Kept: the ids of stored Mangopay hooks in SCA_HOOKS_BUCKET (SHA-256
// hashes, with who stored them and when), so Mangopay's resends and a
// backfill do not store the erased events again; and the audit record of
// the purge, which names the user by hash only.
type Erasure struct {
	Triggers      int
	Links         int
	LedgerEntries int
	UserState     bool
	OpsEntries    int
}

// erasurePlan is what planErasure found: the counts, and the stream
// sequences to erase (the user's messages only, a handful).
type erasurePlan struct {
	counts   Erasure
	triggers []uint64
	links    []uint64
	upTo     map[string]uint64 // per stream: the last sequence read
	ops      []string          // ops bucket keys
}

// planErasure finds what a purge by user would erase beyond the dead
// letters, writing nothing.
func (d *Tools) planErasure(ctx context.Context, user string) (*erasurePlan, error) {
	p := &erasurePlan{upTo: map[string]uint64{}}
	var err error
	if p.triggers, p.upTo[d.cfg.Stream], err = d.userMessages(ctx, d.cfg.Stream, user, 0, true); err != nil {
		return nil, err
	}
	if p.links, p.upTo[d.cfg.LinksStream], err = d.userMessages(ctx, d.cfg.LinksStream, user, 0, false); err != nil {
		return nil, err
	}
	p.counts.Triggers, p.counts.Links = len(p.triggers), len(p.links)
	worker, err := consumer.EraseUser(ctx, d.js, d.cfg, user, true)
	if err != nil {
		return nil, err
	}
	p.counts.LedgerEntries, p.counts.UserState = worker.LedgerEntries, worker.UserState
	if p.ops, err = d.opsEntriesNaming(ctx, user); err != nil {
		return nil, err
	}
	p.counts.OpsEntries = len(p.ops)
	return p, nil
}

// erase erases what p found, then what arrived since in the two streams,
// then the worker's and the operators' state.
func (d *Tools) erase(ctx context.Context, user string, p *erasurePlan) (Erasure, error) {
	var out Erasure
	for _, s := range []struct {
		stream string
		seqs   []uint64
		n      *int
		raw    bool
	}{{d.cfg.Stream, p.triggers, &out.Triggers, true}, {d.cfg.LinksStream, p.links, &out.Links, false}} {
		later, _, err := d.userMessages(ctx, s.stream, user, p.upTo[s.stream]+1, s.raw)
		if err != nil {
			return out, err
		}
		n, err := d.secureDelete(ctx, s.stream, append(s.seqs, later...))
		*s.n += n
		if err != nil {
			return out, err
		}
	}
	worker, err := consumer.EraseUser(ctx, d.js, d.cfg, user, false)
	out.LedgerEntries, out.UserState = worker.LedgerEntries, worker.UserState
	if err != nil {
		return out, err
	}
	if len(p.ops) > 0 {
		kv, err := d.opsKV(ctx, false)
		if err != nil || kv == nil {
			return out, err
		}
		for _, key := range p.ops {
			if err := kv.Purge(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				return out, fmt.Errorf("purge operator state %s: %w", key, err)
			}
			out.OpsEntries++
		}
	}
	return out, nil
}

// userMessages returns the sequences of the messages of stream, from
// startSeq on (0: the first), whose data.user_id is user — with raw, also
// those without a readable data.user_id that name user as a whole token
// (invalid triggers) —, and the last sequence it read. A missing stream
// has none.
func (d *Tools) userMessages(ctx context.Context, stream, user string, startSeq uint64, raw bool) ([]uint64, uint64, error) {
	if _, err := d.js.Stream(ctx, stream); errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, 0, nil
	}
	var seqs []uint64
	last := startSeq
	err := consumer.ReadStream(ctx, d.js, stream, consumer.ReadOptions{StartSeq: startSeq}, func(m consumer.StoredMsg) error {
		last = m.Seq
		o := events.Original{Body: m.Data, Headers: m.Header}
		switch owner := readOriginal(o).UserID; {
		case owner == user, raw && owner == "" && namesToken(o, user):
			seqs = append(seqs, m.Seq)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("find the user's messages in %s: %w", stream, err)
	}
	return seqs, last, nil
}

// secureDelete erases the messages at seqs of stream (overwritten on
// disk); those already gone are not counted.
func (d *Tools) secureDelete(ctx context.Context, stream string, seqs []uint64) (int, error) {
	if len(seqs) == 0 {
		return 0, nil
	}
	st, err := d.js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	n := 0
	for _, seq := range seqs {
		switch err := st.SecureDeleteMsg(ctx, seq); {
		case errors.Is(err, jetstream.ErrMsgNotFound):
		case err != nil:
			return n, fmt.Errorf("erase %s message %d: %w", stream, seq, err)
		default:
			n++
		}
	}
	return n, nil
}

// opsEntriesNaming returns the keys of SCA_OPS_BUCKET whose value names
// user as a whole token.
func (d *Tools) opsEntriesNaming(ctx context.Context, user string) ([]string, error) {
	kv, err := d.opsKV(ctx, false)
	if err != nil || kv == nil {
		return nil, err
	}
	keys, err := consumer.KeysWhere(ctx, kv, func(value []byte) bool { return containsToken(value, user) })
	if err != nil {
		return nil, fmt.Errorf("read operator state: %w", err)
	}
	return keys, nil
}
