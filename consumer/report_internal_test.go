package consumer

import (
	"bytes"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scaworker/scaworker/events"
)

// TestSettledLine: the line report writes for a settled trigger is the
// one the delivery's logger would write, context first, with or without a
// traceparent.
func TestSettledLine(t *testing.T) {
	t.Parallel()
	cfg := zap.NewProductionEncoderConfig()
	cfg.TimeKey = "" // the two lines are written at different times
	for _, parent := range []string{"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"} {
		var got, want bytes.Buffer
		logger := func(w *bytes.Buffer) *zap.Logger {
			return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(cfg), zapcore.AddSync(w), zap.InfoLevel)).Named("consumer")
		}
		j := &job{eventID: "evt-1", userID: "user-1", streamSeq: 7, delivered: 2, typ: events.TypeUserCreated,
			trace: events.Trace{Parent: parent}}
		out := &Outcome{Outcome: events.OutcomeSkip, Reason: events.ReasonNotOwner, Attempts: 1}

		c := &Consumer{log: logger(&got)}
		j.log = c.log.WithLazy(j.logContext(nil)...)
		c.report(j, settlement{verb: ack, out: out, decided: true})

		eager := logger(&want).With(zap.String("event_id", "evt-1"), zap.String("user_id", "user-1"),
			zap.Uint64("stream_seq", 7), zap.Uint64("attempt", 2))
		if parent != "" {
			eager = eager.With(zap.String("traceparent", parent))
		}
		eager.Info("trigger settled", zap.String("outcome", out.Outcome), zap.String("reason", out.Reason), zap.Int("attempts", out.Attempts))
		if got.String() != want.String() || got.Len() == 0 {
			t.Errorf("settled line:\n%s\nwant:\n%s", got.String(), want.String())
		}
	}
}
