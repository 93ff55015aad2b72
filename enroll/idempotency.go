package enroll

import (
	"fmt"
	"strconv"
)

// Mangopay's Idempotency-Key format: 16 to 36 characters of [A-Za-z0-9-].
const (
	minKeyLen = 16
	maxKeyLen = 36
	// keyHashLen is how much of the trigger's hash goes into a key: 32 hex
	// characters leave room for "-" and a sequence of up to 3 digits.
	keyHashLen = 32
)

// IdempotencyKey returns the Idempotency-Key of attempt seq for a trigger:
// the first 32 characters of trigger (the hex SHA-256 from the events
// package) + "-" + seq, e.g. "0f3a…9c-1". The same (trigger, seq) always
// gives the same key, so a redelivered trigger can read back the answer of a
// call it lost. A trigger shorter than 32 characters is used whole; the
// result must still fit Mangopay's rule (16–36 characters of [A-Za-z0-9-]),
// which [Client.Enroll] checks before any request.
func IdempotencyKey(trigger string, seq int) string {
	if len(trigger) > keyHashLen {
		trigger = trigger[:keyHashLen]
	}
	return trigger + "-" + strconv.Itoa(seq)
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
