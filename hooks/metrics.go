package hooks

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Results of a hook request, the values of the result label of scaworker_hooks_total.
const (
	// ResultStored: the trigger was written to the stream; 200.
	ResultStored = "stored"
	// ResultDuplicate: the hook was already stored (a resend); 200, nothing written.
	ResultDuplicate = "duplicate"
	// ResultIgnored: an event type scaworker does not handle; 200, nothing written.
	ResultIgnored = "ignored"
	// ResultRejected: 405, 404, 403, 414 or 400; nothing written.
	ResultRejected = "rejected"
	// ResultUnavailable: not stored within the store deadline (or JetStream not bound
	// yet); 503, Mangopay resends.
	ResultUnavailable = "unavailable"
	// ResultRateLimited: over the ingress's own rate; 429, Mangopay resends.
	ResultRateLimited = "rate_limited"
)

// Results are every result, in the order of the constants above: the labels of
// scaworker_hooks_total and what [Handler.OnResult] reports.
func Results() []string {
	return []string{ResultStored, ResultDuplicate, ResultIgnored, ResultRejected, ResultUnavailable, ResultRateLimited}
}

// Metrics are the ingress's Prometheus metrics.
type Metrics struct {
	total *prometheus.CounterVec
	store prometheus.Histogram
}

// NewMetrics registers the ingress's metrics on reg (nil: not registered):
// scaworker_hooks_total{result} and scaworker_hook_store_seconds. Every result label is
// present from the start, at 0.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scaworker_hooks_total",
			Help: "Mangopay hook requests by result: stored, duplicate, ignored, rejected, unavailable, rate_limited.",
		}, []string{"result"}),
		store: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scaworker_hook_store_seconds",
			Help:    "Time to store one hook (marker lookup, publish, marker), failures included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 1.5, 2},
		}),
	}
	for _, r := range Results() {
		m.total.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.total, m.store)
	}
	return m
}

func (m *Metrics) count(result string) {
	if m != nil {
		m.total.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) observe(seconds float64) {
	if m != nil {
		m.store.Observe(seconds)
	}
}
