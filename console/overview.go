package console

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/budget"
	"github.com/scaworker/scaworker/enroll"
)

// overviewData is the overview page. Each part says its own error, so one
// missing bucket does not hide the rest.
type overviewData struct {
	Now time.Time

	Consumer    *jetstream.ConsumerInfo
	ConsumerErr string

	Stats    Overall
	StatsErr string

	Rate      enroll.Rate
	Budget    budget.Usage
	BudgetErr string

	Status *Status

	HooksStored int
	HooksErr    string

	DLQRecords uint64
	DLQErr     string
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	now := c.cfg.Now()
	d := overviewData{Now: now, Rate: c.cfg.Rate}
	l := c.cfg.Layout
	if cons, err := c.js.Consumer(ctx, l.Stream, l.Durable); err != nil {
		d.ConsumerErr = err.Error()
	} else if info, err := cons.Info(ctx); err != nil {
		d.ConsumerErr = err.Error()
	} else {
		d.Consumer = info
	}
	if kv, err := c.bucket(ctx, c.cfg.StatsBucket); err != nil {
		d.StatsErr = err.Error()
	} else if kv != nil {
		if d.Stats, err = ReadStats(ctx, kv, now); err != nil {
			d.StatsErr = err.Error()
		}
	}
	if kv, err := c.bucket(ctx, l.BudgetBucket); err != nil {
		d.BudgetErr = err.Error()
	} else if kv != nil {
		if d.Budget, err = budget.ReadUsage(ctx, kv, now); err != nil {
			d.BudgetErr = err.Error()
		}
	}
	if c.cfg.Status != nil {
		st := c.cfg.Status()
		d.Status = &st
	}
	if kv, err := c.bucket(ctx, l.HooksBucket); err != nil {
		d.HooksErr = err.Error()
	} else if kv != nil {
		if st, err := kv.Status(ctx); err != nil {
			d.HooksErr = err.Error()
		} else {
			d.HooksStored = int(st.Values())
		}
	}
	if st, err := c.js.Stream(ctx, l.DLQStream); err != nil {
		d.DLQErr = err.Error()
	} else if info, err := st.Info(ctx); err != nil {
		d.DLQErr = err.Error()
	} else {
		d.DLQRecords = info.State.Msgs
	}
	c.render(w, http.StatusOK, "overview", "Overview", d)
}

// bucket binds a KV bucket; a missing one is (nil, nil): nothing written yet.
func (c *Console) bucket(ctx context.Context, name string) (jetstream.KeyValue, error) {
	kv, err := c.js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	return kv, err
}
