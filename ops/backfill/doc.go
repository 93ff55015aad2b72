// Package backfill is `scaworker backfill`: it stores the Mangopay events
// the webhook ingress missed. It returns counts and tells a [Progress];
// cmd/scaworker prints them.
//
// [Run] reads Mangopay's event list (GET /v2.01/{ClientId}/events)
// for the three SCA_ENROLLMENT_* types, with a fixed BeforeDate and sort
// "Date:ASC" so paging is stable while new events arrive, 100 per page
// until a short page, within the 45 days Mangopay keeps (a start at the
// very edge is moved an hour inside, so no page is refused while the
// backfill runs). Each event goes through the webhook ingress's own store
// (hooks.Store: events.EncodeHookEvent, same id, same body apart from its
// time): when its id is in the hooks bucket (SCA_HOOKS_BUCKET) it was
// already delivered and is skipped; otherwise it is published with
// Nats-Msg-Id = its id and then marked {"by": "backfill"}. Hooks and
// backfill never double: a race between them is caught by JetStream's
// duplicate window and, past it, by the worker's ledger. Every Mangopay
// call waits for the client's rate governor; `scaworker backfill` gives
// it half of SCA_MANGOPAY_RATE unless --rate says otherwise, leaving the
// rest to the running worker.
//
// With [Config.DryRun] it lists the same events and looks each id up in
// the hooks bucket, counting as Stored those it would store, and writes
// nothing (no publish, no marker, no bucket).
package backfill
