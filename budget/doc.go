// Package budget shares one Mangopay request budget between every process of a
// deployment — the worker's replicas and the operator commands that call Mangopay
// (backfill) — through a NATS KV bucket (SCA_BUDGET_BUCKET, default "sca_budget").
// [*Budget] implements [enroll.SharedBudget]; install it with [enroll.Governor.Share].
//
// It lives here, not in enroll (which knows nothing of NATS) nor in consumer (the operator
// commands need it as well and have no consumer).
//
// # Grants
//
// Mangopay counts calls in sliding windows, so the budget is a sliding log of grants, kept
// under one key ("grants") and changed only with compare-and-set. A process that needs to
// call takes a grant of tokens — as many as it has callers waiting or used during its
// previous lease (twice that when it ran out before the lease ended), at most
// [Config.MaxLease] — when the tokens of the live grants leave room for them within
// [Config.Rate]. Its tokens may start requests during [Config.Lease] after the grant; a
// grant counts against the budget until Lease + RequestTimeout + Rate.Per after it was
// taken, because Mangopay may count a request as late as RequestTimeout after it was sent
// and keeps it in its window for Rate.Per. So in every sliding window of Rate.Per, Mangopay
// sees at most Rate.N calls from all processes together: at any moment, the live grants
// hold at most Rate.N tokens.
//
// Tokens left unused when a lease ends are handed back at once (the grant is lowered to
// what was used). Settled grants are merged into one entry per hundredth of the window, so
// the stored value stays small whatever the budget. A process that dies holds at most one grant, at most MaxLease tokens,
// which count until the grant expires (Rate.Per and some seconds); nothing else of the
// budget is ever assigned to a process, so there is no share to recover.
//
// One bucket holds several budgets under different keys ([Config.Key]): the Mangopay budget
// under [DefaultKey], and the webhook ingress's (SCA_HOOK_RATE, package hooks) under
// hooks.BudgetKey. The ingress never calls Block.
//
// # Blocks
//
// A spent Mangopay window or a 429 seen by any process is published under the key "block"
// (the latest reset wins, compare-and-set); every process watches the bucket and pauses
// until that reset, as if it had seen the answer itself.
//
// # Failure modes
//
//   - A process that cannot reach NATS gets no grant: its callers wait (bounded by their
//     context) instead of spending a budget nobody accounts for. A lease already in hand
//     may still be used until it ends (a second at most by default).
//   - Clocks: grants carry the times of the process that took them. Replicas' clocks must
//     agree (NTP); a clock ahead by e frees grants e early.
//   - All processes must be configured with the same SCA_MANGOPAY_RATE: each one checks the
//     room against its own rate.
//   - A lost bucket (deleted, or a single-replica NATS that lost its disk) forgets the live
//     grants: for one window the deployment could spend twice its budget; Mangopay's own
//     headers still stop it at Mangopay's limits.
package budget
