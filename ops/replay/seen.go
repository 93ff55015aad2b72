package replay

// DefaultSeenMax is how many triggers a replay remembers to recognise a
// repeat inside its range (16 bytes each, a few MB at most).
const DefaultSeenMax = 1 << 16

// seenSet remembers the keys of the triggers a replay considered, up to
// max of them: past that, the oldest is forgotten first, so a replay of
// any length holds a bounded set. Forgetting is safe: a repeat the set no
// longer knows is still recognised by its ledger entry when that entry
// was written by an earlier message of the range, and otherwise it is
// republished once more, which the worker's ledger settles as the
// duplicate it is.
type seenSet struct {
	max  int
	set  map[[16]byte]struct{}
	ring [][16]byte // insertion order; ring[next] is the oldest once full
	next int
}

func newSeenSet(max int) *seenSet {
	return &seenSet{max: max, set: make(map[[16]byte]struct{}, min(max, 1024))}
}

// has reports whether k is remembered.
func (s *seenSet) has(k [16]byte) bool {
	_, ok := s.set[k]
	return ok
}

// add remembers k, forgetting the oldest key when the set is full.
func (s *seenSet) add(k [16]byte) {
	if _, ok := s.set[k]; ok {
		return
	}
	if len(s.ring) < s.max {
		s.ring = append(s.ring, k)
	} else {
		delete(s.set, s.ring[s.next])
		s.ring[s.next] = k
		s.next = (s.next + 1) % s.max
	}
	s.set[k] = struct{}{}
}

// len is the number of keys remembered.
func (s *seenSet) len() int { return len(s.set) }
