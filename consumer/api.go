package consumer

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/enroll"
)

// Mangopay is what the consumer asks of Mangopay; *enroll.Client
// implements it. Each method is one of the calls docs/events.md allows.
type Mangopay interface {
	GetUser(ctx context.Context, userID string) (*enroll.User, error)
	SCAStatus(ctx context.Context, userID string) (*enroll.SCAStatus, error)
	Enroll(ctx context.Context, req enroll.Request) (enroll.Result, error)
	// ReadLink reads a minted link back (GET /responses/{key}); only to
	// publish again a recorded link whose publish was not confirmed.
	ReadLink(ctx context.Context, userID, trigger string, seq int, locale string) (string, error)
}

// Pacer says until when no Mangopay request may be sent; the consumer
// stops pulling until then. *enroll.Governor implements it.
type Pacer interface {
	BlockedUntil() time.Time
}

// Outcome is what happened to one delivery of a trigger. It is passed to
// [Deps.OnOutcome] after the outcome is durable (ledger written, event
// published, message acknowledged).
type Outcome struct {
	Key       string // hash of (source, id): the ledger key
	EventID   string // the trigger's id, when it could be read
	Source    string // the trigger's CloudEvents source, when it could be read
	Type      string // the trigger's type, or "unknown"
	UserID    string
	Outcome   string // events.Outcome*: link, skip, dlq, state, duplicate
	Reason    string // events.Reason*; empty for link
	Error     string // the last error's text for dlq outcomes (no secrets)
	Attempts  int    // deliveries that did work on this trigger
	StreamSeq uint64 // the trigger's sequence in its stream
	LinkID    string // id of the published send-link event
}

// Deps are the consumer's collaborators.
type Deps struct {
	JS       jetstream.JetStream
	Mangopay Mangopay
	Pacer    Pacer    // nil: never paused for rate limits
	Metrics  *Metrics // nil: metrics are not recorded
	Log      *zap.Logger
	// OnOutcome, when set, is called once per settled delivery (the
	// console's counters, the demo, tests). It must not block.
	OnOutcome func(Outcome)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Checkpoint, when set, is called at the steps where a crash is most
	// telling: "decided" (Mangopay answered, nothing recorded yet),
	// "recorded" (outcome in the ledger, not yet published) and
	// "published" (published, not yet acknowledged). The crash tests kill
	// the process there (cmd/scaworker built with the crashpoints tag);
	// production leaves it nil.
	Checkpoint func(point string)
}
