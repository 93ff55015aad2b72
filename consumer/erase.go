package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Erased counts what [EraseUser] erased (or, in a dry run, would erase).
type Erased struct {
	// LedgerEntries are the ledger entries whose user_id is the user.
	LedgerEntries int
	// UserState says the user's entry in the users bucket existed.
	UserState bool
}

// EraseUser erases what the worker keeps about userID, for a
// personal-data erasure: the user's entry in cfg.UsersBucket (keyed by
// the user id: its link marks, enrolment and closure) and every entry of
// cfg.LedgerBucket whose user_id is userID. Each key is purged from the
// bucket's stream with its history, so not even a delete marker keeps
// it. Missing buckets erase nothing.
// With dryRun it only counts.
//
// The ledger is read entry by entry (one watcher, only the keys to erase
// kept), so the memory it needs does not grow with the ledger. A trigger
// of the user the worker decides while the erasure runs may write its
// entry again: erase the user's triggers from the trigger stream first.
func EraseUser(ctx context.Context, js jetstream.JetStream, cfg Config, userID string, dryRun bool) (Erased, error) {
	cfg = cfg.Defaults()
	var out Erased
	if userID == "" {
		return out, errors.New("erase user: no user id")
	}
	ledgerKV, err := bucketIfAny(ctx, js, cfg.LedgerBucket, "SCA_LEDGER_BUCKET")
	if err != nil {
		return out, err
	}
	if ledgerKV != nil {
		keys, err := ledgerKeysOf(ctx, ledgerKV, userID)
		if err != nil {
			return out, err
		}
		for _, key := range keys {
			erased, err := eraseKey(ctx, js, ledgerKV, key, dryRun)
			if err != nil {
				return out, fmt.Errorf("erase ledger entry %s: %w", key, err)
			}
			if erased {
				out.LedgerEntries++
			}
		}
	}
	usersKV, err := bucketIfAny(ctx, js, cfg.UsersBucket, "SCA_USERS_BUCKET")
	if err != nil || usersKV == nil {
		return out, err
	}
	// The users bucket is keyed by user id (see users.get).
	if out.UserState, err = eraseKey(ctx, js, usersKV, userID, dryRun); err != nil {
		return out, fmt.Errorf("erase user state: %w", err)
	}
	return out, nil
}

func bucketIfAny(ctx context.Context, js jetstream.JetStream, name, setting string) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: look up bucket %s: %w", setting, name, err)
	}
	return kv, nil
}

// ledgerKeysOf returns the keys of the ledger entries of userID.
func ledgerKeysOf(ctx context.Context, kv jetstream.KeyValue, userID string) ([]string, error) {
	keys, err := KeysWhere(ctx, kv, func(value []byte) bool {
		var le struct {
			UserID string `json:"user_id"`
		}
		return json.Unmarshal(value, &le) == nil && le.UserID == userID
	})
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	return keys, nil
}

// KeysWhere returns the keys of kv whose current value match reports,
// reading every entry once (a scan for erasures, not for hot paths).
func KeysWhere(ctx context.Context, kv jetstream.KeyValue, match func(value []byte) bool) ([]string, error) {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer func() { _ = w.Stop() }()
	var keys []string
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e := <-w.Updates():
			if e == nil {
				return keys, nil
			}
			if match(e.Value()) {
				keys = append(keys, e.Key())
			}
		}
	}
}

// eraseKey removes key and its history from kv: the stream of a bucket
// denies deleting single messages, so every message of the key's subject
// is purged from it, which leaves no marker behind (a KV purge would
// leave one that names the key). It reports whether there was a value.
func eraseKey(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, key string, dryRun bool) (bool, error) {
	_, err := kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
		return false, nil
	case err != nil:
		return false, err
	case dryRun:
		return true, nil
	}
	status, err := kv.Status(ctx)
	if err != nil {
		return true, err
	}
	bs, ok := status.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return true, fmt.Errorf("bucket %s: no stream information", kv.Bucket())
	}
	st, err := js.Stream(ctx, bs.StreamInfo().Config.Name)
	if err != nil {
		return true, err
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject("$KV."+kv.Bucket()+"."+key)); err != nil {
		return true, err
	}
	return true, nil
}
