package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// bucket is a KV bucket the worker writes with compare-and-set: the
// ledger or the users bucket.
type bucket struct {
	kv jetstream.KeyValue
	// req, when set, writes straight to the key's subject, put+key, with
	// the expected last sequence of the subject, as jetstream's KV does
	// (see leanWrites); nil: every write goes through kv.
	req *requests
	put string
}

// leanWrites returns the bucket kv of js with its writes sent by req,
// when the subject of a key's write is known for sure: the bucket is no
// mirror and js uses the default API prefix (the layout [Provision]
// creates). Otherwise, and when the bucket cannot be read, its writes go
// through jetstream's KV.
func leanWrites(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, req *requests) bucket {
	b := bucket{kv: kv}
	if o := js.Options(); o.APIPrefix != "" || o.Domain != "" || o.ClientTrace != nil {
		return b
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return b
	}
	s, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || s.StreamInfo() == nil || s.StreamInfo().Config.Mirror != nil {
		return b
	}
	b.req, b.put = req, "$KV."+kv.Bucket()+"."
	return b
}

// write stores value at key if the key's entry is at revision rev (0: if
// the key has no entry, or was deleted or purged), and returns the new
// revision, or errConflict when the key is at another revision. key is
// a ledger key or a user id, valid KV keys.
func (b bucket) write(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if b.req == nil {
		return b.jsWrite(ctx, key, value, rev)
	}
	ack, err := b.req.write(ctx, b.put+key, value, rev)
	if errors.Is(err, nats.ErrNoResponders) {
		// No stream leader for now: jetstream's publish waits a moment for one.
		return b.jsWrite(ctx, key, value, rev)
	}
	if err != nil {
		return 0, err
	}
	seq, err := parsePubAck(ack)
	if err != nil && isWrongLastSeq(err) {
		if rev != 0 {
			return 0, errConflict
		}
		// The key has an entry (the common conflict: one read tells, as
		// jetstream's Create would read), or a delete or purge marker, which
		// jetstream's Create writes over.
		if e, err := b.kv.Get(ctx, key); err == nil {
			return 0, &foundError{value: e.Value(), rev: e.Revision()}
		}
		return b.jsWrite(ctx, key, value, 0)
	}
	return seq, err
}

// foundError is errConflict from a create that found the key's entry; it
// carries that entry as read, so the writer can start over from it
// without reading it again.
type foundError struct {
	value []byte
	rev   uint64
}

func (e *foundError) Error() string { return errConflict.Error() }
func (e *foundError) Unwrap() error { return errConflict }

// jsWrite is write through jetstream's KV.
func (b bucket) jsWrite(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	var err error
	if rev == 0 {
		rev, err = b.kv.Create(ctx, key, value)
	} else {
		rev, err = b.kv.Update(ctx, key, value, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, errConflict
	}
	return rev, err
}

// isWrongLastSeq reports whether err is JetStream's refusal of a write
// whose expected last sequence is not the subject's (10071; 10164 on a
// replicated stream).
func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

var (
	pubAckError  = []byte(`"error"`)
	pubAckStream = []byte(`"stream":"`)
	pubAckSeq    = []byte(`"seq":`)
)

// parsePubAck reads JetStream's answer to a publish as jetstream does: the
// stored message's sequence, or the API error (wrapped as jetstream wraps
// it). The common answer, {"stream":"KV_x","seq":7}, is read without
// decoding JSON; anything else is decoded.
func parsePubAck(b []byte) (uint64, error) {
	if !bytes.Contains(b, pubAckError) {
		// A quote inside a JSON string is escaped, so the keys below cannot
		// be found inside a value.
		if i := bytes.Index(b, pubAckStream); i >= 0 && len(b) > i+len(pubAckStream) && b[i+len(pubAckStream)] != '"' {
			if j := bytes.Index(b, pubAckSeq); j >= 0 {
				digits := b[j+len(pubAckSeq):]
				n := 0
				for n < len(digits) && digits[n] >= '0' && digits[n] <= '9' {
					n++
				}
				if n > 0 && n < 20 && n < len(digits) && (digits[n] == ',' || digits[n] == '}') {
					var seq uint64
					for _, d := range digits[:n] {
						seq = seq*10 + uint64(d-'0')
					}
					return seq, nil
				}
			}
		}
	}
	var resp struct {
		Error  *jetstream.APIError `json:"error,omitempty"`
		Stream string              `json:"stream"`
		Seq    uint64              `json:"seq"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return 0, jetstream.ErrInvalidJSAck
	}
	if resp.Error != nil {
		return 0, fmt.Errorf("nats: %w", resp.Error)
	}
	if resp.Stream == "" {
		return 0, jetstream.ErrInvalidJSAck
	}
	return resp.Seq, nil
}
