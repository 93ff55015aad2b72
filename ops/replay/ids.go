package replay

import "strconv"

// ForcedID is the id of the n-th forced replay of the trigger id (n from
// 1): "<id>.replay-<n>", a new trigger the per-user rules judge.
func ForcedID(id string, n int) string { return id + ".replay-" + strconv.Itoa(n) }
