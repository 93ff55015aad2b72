package checker

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/mangosim"
)

// kind is what one step of a schedule does.
type kind int

const (
	kPublish     kind = iota // a trigger, Nats-Msg-Id = its id
	kDuplicate               // a trigger again, under another Nats-Msg-Id (JetStream keeps it)
	kHook                    // a Mangopay hook through the webhook ingress
	kCrash                   // arm a crash of a replica (or only its handler) at a checkpoint
	kKill                    // kill a replica from outside; a fresh one starts
	kFault                   // Mangopay faults
	kHeal                    // faults cleared
	kFix                     // the legal owner without a representative e-mail gets one
	kEnrolled                // a user finishes enrollment at Mangopay
	kReplay                  // `replay --from 1`, plain, --force or --dry-run
	kRedrive                 // `dlq redrive --all`
	kRestartNATS             // the NATS server restarts
	kSettle                  // wait until the worker has nothing in hand
	// Kinds below are never drawn at random; fixed schedules use them.
	kOutage // every API call answers 500 until each user's enrollment POSTs reach N
)

// Fault kinds of a kFault step.
const (
	fBurst5xx  = "503-burst"
	fErrors    = "500-rate"
	fRateLimit = "429-window"
	fTimeout   = "timeouts"
	fDrop      = "cut-after-commit"
	fHTML      = "html-502"
	fAbandoned = "abandoned-calls"  // timeouts, and the calls the client left still execute
	fDamaged   = "damaged-readback" // answers cut after commit, their stored records damaged
)

// step is one operation of a schedule. Only the fields of its kind are set.
type step struct {
	Index    int // place in the seed's full schedule
	Kind     kind
	Type     string // trigger type (kPublish, kDuplicate, kHook)
	User     string
	ID       string                 // trigger id (kPublish, kDuplicate)
	Category string                 // data.category of a user.created: "", OWNER or PAYER
	Ago      int                    // kHook: Date is the run's start minus Ago seconds (a resend repeats it)
	Replica  int                    // kCrash, kKill
	Point    string                 // kCrash: the checkpoint
	Whole    bool                   // kCrash: the whole replica dies, not only the handler
	Fault    string                 // kFault
	N        int                    // kFault: size (count, or milliseconds)
	Shapes   []mangosim.StoredShape // kFault fDamaged: how the stored records read back
	Mode     string                 // kReplay: plain, force or dry-run
}

func (s step) String() string {
	switch s.Kind {
	case kPublish, kDuplicate:
		verb := "publish"
		if s.Kind == kDuplicate {
			verb = "duplicate"
		}
		cat := ""
		if s.Category != "" {
			cat = " category=" + s.Category
		}
		return fmt.Sprintf("%s %s %s user=%s%s", verb, s.Type, s.ID, s.User, cat)
	case kHook:
		return fmt.Sprintf("hook %s user=%s date=start-%ds", s.Type, s.User, s.Ago)
	case kCrash:
		what := "handler"
		if s.Whole {
			what = "replica"
		}
		return fmt.Sprintf("crash %s %d at %q", what, s.Replica, s.Point)
	case kKill:
		return fmt.Sprintf("kill replica %d", s.Replica)
	case kFault:
		if len(s.Shapes) > 0 {
			return fmt.Sprintf("fault %s %d %v", s.Fault, s.N, s.Shapes)
		}
		return fmt.Sprintf("fault %s %d", s.Fault, s.N)
	case kHeal:
		return "heal faults"
	case kFix:
		return "fix " + s.User + " (representative e-mail set)"
	case kEnrolled:
		return "enrolled " + s.User
	case kReplay:
		return "replay --from 1 (" + s.Mode + ")"
	case kRedrive:
		return "dlq redrive --all"
	case kRestartNATS:
		return "restart NATS"
	case kSettle:
		return "settle"
	case kOutage:
		return fmt.Sprintf("outage until each user's enrollment POSTs reach %d", s.N)
	}
	return fmt.Sprintf("step kind %d", s.Kind)
}

// schedule is a seed's list of steps.
type schedule struct {
	Seed  uint64
	Steps []step
	// Short runs the schedule with short per-user windows (see
	// shortWindows): its settle steps then also let the recent-link window
	// pass, so links follow each other across the windows' edges.
	Short bool
}

// shortWindows are the per-user windows of a Short schedule: the recent-link
// window and the cap window, instead of 10 minutes and an hour.
const (
	shortRecentLink = 3 * time.Second
	shortCapWindow  = 6 * time.Second
)

func (s schedule) String() string {
	var b strings.Builder
	if s.Short {
		fmt.Fprintf(&b, "  (short windows: recent link %s, cap window %s)\n", shortRecentLink, shortCapWindow)
	}
	for i, st := range s.Steps {
		fmt.Fprintf(&b, "  %2d. %s\n", i, st)
	}
	return b.String()
}

// subset returns the schedule with only the steps at idx.
func (s schedule) subset(idx []int) schedule {
	out := schedule{Seed: s.Seed, Short: s.Short}
	for _, i := range idx {
		out.Steps = append(out.Steps, s.Steps[i])
	}
	return out
}

// users are the users a schedule's triggers are about: few, so triggers
// collide. The legal owner without a representative e-mail dead-letters
// until it is fixed (replay and redrive then have work); the payer
// dead-letters when a trigger claims it is an OWNER.
var users = []string{
	mangosim.UserOwnerNatural, mangosim.UserOwnerNatural, mangosim.UserOwnerNatural2,
	mangosim.UserOwnerLegalNoRep, mangosim.UserOwnerLegalNoRep, mangosim.UserPayer,
}

// checkpoints are the consumer's crash points ([consumer.Deps.Checkpoint]).
var checkpoints = []string{"decided", "recorded", "published"}

// weighted picks from a table of weights.
type weighted[T any] struct {
	w int
	v T
}

func pick[T any](r *rand.Rand, table []weighted[T]) T {
	total := 0
	for _, e := range table {
		total += e.w
	}
	n := r.IntN(total)
	for _, e := range table {
		if n < e.w {
			return e.v
		}
		n -= e.w
	}
	return table[len(table)-1].v
}

// generate returns the schedule of seed: 8 to 24 steps, most of them
// triggers, the rest faults, crashes, operator commands and restarts.
func generate(seed uint64) schedule {
	r := rand.New(rand.NewPCG(seed, 0xc4ec6e7))
	s := schedule{Seed: seed}
	n := 8 + r.IntN(17)
	var published []step
	var hooks []step
	kinds := []weighted[kind]{
		{30, kPublish}, {6, kDuplicate}, {8, kHook}, {7, kCrash}, {3, kKill},
		{6, kFault}, {2, kHeal}, {3, kFix}, {2, kEnrolled}, {5, kReplay},
		{5, kRedrive}, {2, kRestartNATS}, {10, kSettle},
	}
	for i := range n {
		st := step{Kind: pick(r, kinds)}
		switch st.Kind {
		case kPublish:
			st.Type = pick(r, []weighted[string]{
				{5, events.TypeUserCreated}, {3, events.TypeSessionExpired},
				{2, events.TypeSessionFailed}, {1, events.TypeEnrollmentSucceeded},
			})
			st.User = users[r.IntN(len(users))]
			st.ID = fmt.Sprintf("s%d-t%d", seed, i)
			if st.Type == events.TypeUserCreated {
				st.Category = pick(r, []weighted[string]{{3, "OWNER"}, {2, ""}, {1, "PAYER"}})
			}
			published = append(published, st)
		case kDuplicate:
			if len(published) == 0 {
				st = step{Kind: kSettle}
				break
			}
			st = published[r.IntN(len(published))]
			st.Kind = kDuplicate
		case kHook:
			if len(hooks) > 0 && r.IntN(3) == 0 { // a resend: the very same hook
				st = hooks[r.IntN(len(hooks))]
				break
			}
			st.Type = pick(r, []weighted[string]{{4, "SCA_ENROLLMENT_EXPIRED"}, {2, "SCA_ENROLLMENT_FAILED"}, {1, "SCA_ENROLLMENT_SUCCEEDED"}})
			st.User = users[r.IntN(len(users))]
			st.Ago = r.IntN(3600)
			hooks = append(hooks, st)
		case kCrash:
			st.Replica, st.Point, st.Whole = r.IntN(replicas), checkpoints[r.IntN(len(checkpoints))], r.IntN(2) == 0
		case kKill:
			st.Replica = r.IntN(replicas)
		case kFault:
			st.Fault = pick(r, []weighted[string]{{3, fBurst5xx}, {2, fErrors}, {2, fRateLimit}, {2, fTimeout}, {3, fDrop}, {1, fHTML}, {2, fAbandoned}, {3, fDamaged}})
			switch st.Fault {
			case fBurst5xx:
				st.N = 1 + r.IntN(10)
			case fErrors:
				st.N = 20 + r.IntN(60) // percent
			case fRateLimit:
				st.N = 200 + r.IntN(1300) // milliseconds
			case fDrop:
				st.N = 1 + r.IntN(3)
			case fDamaged:
				st.N = 1 + r.IntN(3)
				all := mangosim.StoredShapes()
				for range st.N {
					st.Shapes = append(st.Shapes, all[r.IntN(len(all))])
				}
			}
		case kFix:
			st.User = mangosim.UserOwnerLegalNoRep
		case kEnrolled:
			st.User = users[r.IntN(len(users))]
		case kReplay:
			st.Mode = pick(r, []weighted[string]{{3, "plain"}, {2, "force"}, {1, "dry-run"}})
		}
		st.Index = i
		s.Steps = append(s.Steps, st)
	}
	s.Short = r.IntN(3) == 0 // drawn last: the steps of a seed do not depend on it
	return s
}

// hookDate is the Date of a hook step in a run that started at start.
func hookDate(start time.Time, st step) time.Time {
	return start.Truncate(time.Second).Add(-time.Duration(st.Ago) * time.Second)
}
