package replay

import (
	"encoding/binary"
	"testing"
)

// TestSeenSetIsBounded: a replay of a million distinct triggers holds at
// most max keys, and remembers the newest of them.
func TestSeenSetIsBounded(t *testing.T) {
	t.Parallel()
	const max = 1000
	s := newSeenSet(max)
	key := func(i int) [16]byte {
		var k [16]byte
		binary.BigEndian.PutUint64(k[:], uint64(i))
		return k
	}
	for i := range 1_000_000 {
		s.add(key(i))
		if s.len() > max || len(s.ring) > max {
			t.Fatalf("after %d keys the set holds %d (ring %d), want at most %d", i+1, s.len(), len(s.ring), max)
		}
	}
	for i := 1_000_000 - max; i < 1_000_000; i++ {
		if !s.has(key(i)) {
			t.Fatalf("key %d of the newest %d was forgotten", i, max)
		}
	}
	if s.has(key(1_000_000 - max - 1)) {
		t.Errorf("the oldest keys are still remembered")
	}
	s.add(key(999_999)) // again: nothing forgotten
	if !s.has(key(1_000_000 - max)) {
		t.Errorf("adding a known key forgot another")
	}
}
