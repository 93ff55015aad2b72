package consumer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
)

// Metrics are the consumer's Prometheus collectors. Labels never carry a
// user id, an event id or anything secret.
type Metrics struct {
	events     *prometheus.CounterVec
	dlq        *prometheus.CounterVec
	enroll     *prometheus.HistogramVec
	attempts   *prometheus.HistogramVec
	inflight   prometheus.Gauge
	paused     *prometheus.GaugeVec
	remaining  *prometheus.GaugeVec
	deliveries *prometheus.CounterVec
	linkTTL    prometheus.Histogram
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scaworker_events_total",
			Help: "Triggers settled, by type, outcome (link, skip, dlq, state, duplicate) and reason.",
		}, []string{"type", "outcome", "reason"}),
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scaworker_dlq_total",
			Help: "Dead-letter records published, by reason.",
		}, []string{"reason"}),
		enroll: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scaworker_mangopay_call_seconds",
			Help:    "Latency of Mangopay calls made for triggers (in-process retries included), by call and result.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10),
		}, []string{"call", "result"}),
		attempts: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scaworker_attempts",
			Help:    "Deliveries that did work on a trigger before its outcome, by outcome.",
			Buckets: []float64{1, 2, 3, 5, 10, 20, 50, 100, 200},
		}, []string{"outcome"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scaworker_inflight",
			Help: "Trigger messages held by this process.",
		}),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scaworker_paused",
			Help: "1 while consumption is paused, by cause: rate_limit (a Mangopay window is spent) or fault (a deployment-wide fault).",
		}, []string{"cause"}),
		remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scaworker_mangopay_ratelimit_remaining",
			Help: "Calls left in each Mangopay rate-limit window, as last reported, by window length: 15m, 30m, 1h, 24h.",
		}, []string{"window"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scaworker_deliveries_total",
			Help: "Trigger deliveries handed back to JetStream, by why: retry, wait, fault, shutdown, conflict.",
		}, []string{"why"}),
		linkTTL: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scaworker_link_remaining_seconds",
			Help:    "Time left before a link's expiry when its send-link event is published (or found already expired: 0 or less); a link lives 10 minutes.",
			Buckets: []float64{0, 30, 60, 120, 240, 360, 480, 540, 570, 600},
		}),
	}
	reg.MustRegister(m.events, m.dlq, m.enroll, m.attempts, m.inflight, m.paused, m.remaining, m.deliveries, m.linkTTL)
	m.paused.WithLabelValues("rate_limit").Set(0)
	m.paused.WithLabelValues("fault").Set(0)
	return m
}

// The methods below accept a nil *Metrics, so metrics stay optional.

func (m *Metrics) outcome(typ, outcome, reason string, attempts int) {
	if m == nil {
		return
	}
	m.events.WithLabelValues(typ, outcome, reason).Inc()
	if outcome == events.OutcomeDLQ {
		m.dlq.WithLabelValues(reason).Inc()
	}
	if outcome != events.OutcomeDuplicate && attempts > 0 {
		m.attempts.WithLabelValues(outcome).Observe(float64(attempts))
	}
}

func (m *Metrics) call(call, result string, seconds float64) {
	if m != nil {
		m.enroll.WithLabelValues(call, result).Observe(seconds)
	}
}

func (m *Metrics) linkLeft(seconds float64) {
	if m != nil {
		m.linkTTL.Observe(seconds)
	}
}

func (m *Metrics) addInflight(d float64) {
	if m != nil {
		m.inflight.Add(d)
	}
}

func (m *Metrics) setPaused(cause string, on bool) {
	if m == nil {
		return
	}
	v := 0.0
	if on {
		v = 1
	}
	m.paused.WithLabelValues(cause).Set(v)
}

func (m *Metrics) setRemaining(windows []enroll.Window) {
	if m == nil {
		return
	}
	for i, w := range windows {
		m.remaining.WithLabelValues(enroll.WindowLabel(i)).Set(float64(w.Remaining))
	}
}

func (m *Metrics) handedBack(why string) {
	if m != nil {
		m.deliveries.WithLabelValues(why).Inc()
	}
}
