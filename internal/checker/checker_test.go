package checker

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/mangosim"
)

var (
	seedFlag      = flag.Uint64("seed", 0, "run the schedule of this seed (with -schedules N: seeds seed..seed+N-1)")
	schedulesFlag = flag.Int("schedules", 0, "number of schedules to run (default: the CI set)")
	stepsFlag     = flag.String("steps", "", "keep only these steps of the seed's schedule (comma-separated indexes, as a failure prints them)")
	shrinkFlag    = flag.Bool("shrink", true, "on a failure, look for a smaller schedule that still fails")
)

// ciSchedules is how many schedules plain `go test ./...` runs: a fixed
// set (seeds 1..ciSchedules), small enough for well under a minute on 2
// cores.
const ciSchedules = 4

// maxPrinted is how many violations a failure prints.
const maxPrinted = 20

// shrinkBudget bounds the search for a minimal failing schedule.
const (
	shrinkRuns = 24
	shrinkTime = 4 * time.Minute
)

// TestChecker runs random schedules against the whole system and checks
// its invariants after each; see the package documentation.
func TestChecker(t *testing.T) {
	t.Parallel()
	first, n := uint64(1), ciSchedules
	if *seedFlag != 0 {
		first, n = *seedFlag, 1
	}
	if *schedulesFlag > 0 {
		n = *schedulesFlag
	}
	var keep []int
	if *stepsFlag != "" {
		for _, f := range strings.Split(*stepsFlag, ",") {
			i, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				t.Fatalf("-steps %q: %v", *stepsFlag, err)
			}
			keep = append(keep, i)
		}
	}
	for seed := first; seed < first+uint64(n); seed++ {
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			t.Parallel()
			s := generate(seed)
			t.Logf("schedule of seed %d:\n%s", seed, s)
			idx := allSteps(s)
			if keep != nil {
				idx = slices.DeleteFunc(slices.Clone(keep), func(i int) bool { return i < 0 || i >= len(s.Steps) })
			}
			viols, trace := execute(t, "run", s.subset(idx))
			if len(viols) == 0 {
				return
			}
			if *shrinkFlag && keep == nil {
				idx, viols, trace = shrink(t, s, idx, viols, trace)
			}
			t.Errorf("%s", report(s, idx, viols, trace))
		})
	}
}

func allSteps(s schedule) []int {
	idx := make([]int, len(s.Steps))
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// execute runs schedule s in a world of its own (a subtest, so that the
// world is torn down before the next run) and returns the broken
// invariants and the run's trace.
func execute(t *testing.T, name string, s schedule) (viols []violation, trace []string) {
	t.Run(name, func(t *testing.T) {
		r := newRun(t, s)
		for _, st := range s.Steps {
			r.exec(st)
		}
		viols = r.finish()
		r.mu.Lock()
		trace = slices.Clone(r.trace)
		r.mu.Unlock()
	})
	return viols, trace
}

// shrink drops steps — halves, then quarters, down to single steps — while
// the schedule still breaks one of the invariants it first broke. Runs are
// not deterministic (replicas race), so a candidate that happens to pass
// is kept out; the result is small, not always the smallest.
func shrink(t *testing.T, s schedule, idx []int, viols []violation, trace []string) ([]int, []violation, []string) {
	broke := map[string]bool{}
	for _, v := range viols {
		broke[v.Inv] = true
	}
	deadline := time.Now().Add(shrinkTime)
	runs := 0
	for chunk := len(idx) / 2; chunk >= 1; chunk /= 2 {
		for start := 0; start < len(idx) && runs < shrinkRuns && time.Now().Before(deadline); {
			cand := slices.Concat(idx[:start], idx[min(start+chunk, len(idx)):])
			if len(cand) == 0 {
				break
			}
			runs++
			v, tr := execute(t, fmt.Sprintf("shrink-%d", runs), s.subset(cand))
			if slices.ContainsFunc(v, func(x violation) bool { return broke[x.Inv] }) {
				idx, viols, trace = cand, v, tr
				continue // the same start now holds the next chunk
			}
			start += chunk
		}
	}
	return idx, viols, trace
}

// report is what a failure prints: the seed, the broken invariants, the
// minimal schedule, how to replay it and what happened.
func report(s schedule, idx []int, viols []violation, trace []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d broke %d invariant(s):\n", s.Seed, len(viols))
	for i, v := range viols {
		if i == maxPrinted {
			fmt.Fprintf(&b, "  … and %d more\n", len(viols)-i)
			break
		}
		fmt.Fprintf(&b, "  %s\n", v)
	}
	steps := make([]string, len(idx))
	for i, x := range idx {
		steps[i] = strconv.Itoa(x)
	}
	fmt.Fprintf(&b, "minimal schedule (%d of %d steps):\n", len(idx), len(s.Steps))
	if s.Short {
		fmt.Fprintf(&b, "  (short windows: recent link %s, cap window %s)\n", shortRecentLink, shortCapWindow)
	}
	for _, i := range idx {
		fmt.Fprintf(&b, "  %2d. %s\n", i, s.Steps[i])
	}
	fmt.Fprintf(&b, "replay: go test ./internal/checker -run 'TestChecker/seed-%d$' -seed %d -steps %s\n", s.Seed, s.Seed, strings.Join(steps, ","))
	fmt.Fprintf(&b, "trace of the last failing run:\n  %s\n", strings.Join(trace, "\n  "))
	return b.String()
}

// TestLongOutage is a fixed schedule the random ones cannot reach in
// seconds: an outage long enough to spend a thousand Idempotency-Keys per
// trigger (each failed call spends one), after which the triggers must
// still get their links with keys Mangopay accepts — an outage alone never
// dead-letters.
func TestLongOutage(t *testing.T) {
	t.Parallel()
	s := schedule{Seed: 0, Steps: []step{
		{Index: 0, Kind: kPublish, Type: events.TypeUserCreated, User: mangosim.UserOwnerNatural, ID: "outage-0", Category: "OWNER"},
		{Index: 1, Kind: kPublish, Type: events.TypeUserCreated, User: mangosim.UserOwnerNatural2, ID: "outage-1", Category: "OWNER"},
		{Index: 2, Kind: kOutage, N: 1050},
	}}
	viols, trace := execute(t, "run", s)
	if len(viols) > 0 {
		t.Errorf("%s", report(s, allSteps(s), viols, trace))
	}
}
