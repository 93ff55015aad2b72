package enroll

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
)

// Mangopay's Idempotency-Key format: 16 to 36 characters of [A-Za-z0-9-].
const (
	minKeyLen = 16
	maxKeyLen = 36
	// keyHashLen is how much of the trigger's hash goes into a plain key: 32
	// hex characters leave room for "-" and a sequence of up to 3 digits.
	keyHashLen = 32
)

// IdempotencyKey returns the Idempotency-Key of attempt seq for a trigger.
// The same (trigger, seq) always gives the same key, so a redelivered
// trigger can read back the answer of a call it lost, and two sequences
// never share a key. It has two shapes:
//
//   - while it fits 36 characters, the first 32 characters of trigger (the
//     hex SHA-256 from the events package; a shorter trigger is used whole)
//   - "-" + seq, e.g. "0f3a…9c-1" up to "0f3a…9c-999";
//   - beyond (seq 1000 and up for a 64-hex trigger, after a long outage has
//     spent a key per failed call), 36 hex characters of the SHA-256 of the
//     length-prefixed pair (trigger, seq). It has no "-", so it never equals
//     a key of the first shape.
//
// So the key of any seq fits Mangopay's rule (16–36 characters of
// [A-Za-z0-9-]) whenever the key of seq 1 does, which [Client.Enroll]
// checks before any request.
func IdempotencyKey(trigger string, seq int) string {
	prefix := trigger
	if len(prefix) > keyHashLen {
		prefix = prefix[:keyHashLen]
	}
	n := strconv.Itoa(seq)
	if len(prefix)+1+len(n) <= maxKeyLen {
		return prefix + "-" + n
	}
	sum := sha256.Sum256([]byte(strconv.Itoa(len(trigger)) + ":" + trigger + ":" + n))
	return hex.EncodeToString(sum[:])[:maxKeyLen]
}

// validKey reports whether key fits Mangopay's rule: 16–36 characters of
// [A-Za-z0-9-].
func validKey(key string) error {
	if len(key) < minKeyLen || len(key) > maxKeyLen {
		return fmt.Errorf("idempotency key has %d characters, want %d to %d", len(key), minKeyLen, maxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if !isAlnum(key[i]) && key[i] != '-' {
			return fmt.Errorf("idempotency key has a character outside [A-Za-z0-9-] at %d", i)
		}
	}
	return nil
}

// validTrigger reports whether trigger can name idempotency keys: its key
// of seq 1 fits Mangopay's rule (and then so does every other key).
func validTrigger(trigger string) error {
	return validKey(IdempotencyKey(trigger, 1))
}

// validUserID reports whether id is a plausible Mangopay user id: 1–128 of
// [A-Za-z0-9_-] (the same rule as events.ValidUserID).
func validUserID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isAlnum(id[i]) && id[i] != '_' && id[i] != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
