package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/budget"
	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/hooks"
)

// hooksConfig turns the webhook settings into a hooks.Config; the stream, bucket and
// subjects come from the consumer's configuration. Problems are returned, each naming
// its setting.
func hooksConfig(h settings.Hooks, c consumer.Config) (hooks.Config, []error) {
	var errs []error
	rate, err := enroll.ParseRate(h.Rate)
	if err != nil {
		errs = append(errs, fmt.Errorf("SCA_HOOK_RATE: %w", err))
	}
	cidrs, err := hooks.ParseCIDRs(h.AllowCIDRs)
	if err != nil {
		errs = append(errs, fmt.Errorf("SCA_HOOK_ALLOW_CIDRS: %w", err))
	}
	trusted, err := hooks.ParseCIDRs(h.TrustedProxies)
	if err != nil {
		errs = append(errs, fmt.Errorf("SCA_HOOK_TRUSTED_PROXIES: %w", err))
	}
	sourceRate, err := enroll.ParseRate(h.SourceRate)
	if err != nil {
		errs = append(errs, fmt.Errorf("SCA_HOOK_SOURCE_RATE: %w", err))
	}
	if h.Burst < 1 {
		errs = append(errs, fmt.Errorf("SCA_HOOK_BURST: must be at least 1, got %d", h.Burst))
	}
	if h.StoreTimeout <= 0 {
		errs = append(errs, fmt.Errorf("SCA_HOOK_STORE_TIMEOUT: must be positive, got %s", h.StoreTimeout))
	}
	c = c.Defaults()
	cfg := hooks.Config{
		Secret:         h.Secret,
		AllowCIDRs:     cidrs,
		ClientIPHeader: h.ClientIPHeader,
		TrustedProxies: trusted,
		Rate:           rate,
		SourceRate:     sourceRate,
		Burst:          h.Burst,
		StoreTimeout:   h.StoreTimeout,
		Stream:         c.Stream,
		Bucket:         c.HooksBucket,
		Subjects:       c.Subjects,
	}
	if len(errs) > 0 {
		return cfg, errs // Validate would repeat them
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errs
}

// newHooks builds the webhook ingress, its metrics registered on reg. It answers 503
// until bindHooks gives it JetStream.
func newHooks(cfg hooks.Config, reg prometheus.Registerer, log *zap.Logger) (*hooks.Handler, error) {
	return hooks.New(cfg, hooks.Deps{Log: log, Metrics: hooks.NewMetrics(reg)})
}

// bindHooks binds the ingress to the trigger stream and the hooks bucket (created by
// consumer.Provision; created here too if missing), and makes it draw from the
// deployment's ingress budget (SCA_HOOK_RATE, under hooks.BudgetKey in
// SCA_BUDGET_BUCKET, shared with the other replicas). It returns what closes the budget.
func bindHooks(ctx context.Context, js jetstream.JetStream, hk *hooks.Handler, cfg serviceConfig) (func(), error) {
	hc := cfg.hooks.Defaults()
	c := cfg.consumer.Defaults()
	bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	layout := cfg.consumer
	layout.HooksBucket = hc.Bucket
	kv, err := consumer.HooksBucket(bctx, js, layout)
	if err != nil {
		return nil, fmt.Errorf("webhook ingress: %w", err)
	}
	bkv, err := budget.Bucket(bctx, js, c.BudgetBucket, c.Replicas)
	if err != nil {
		return nil, fmt.Errorf("webhook ingress: %w", err)
	}
	// No log: the budget's own warnings speak of Mangopay calls; a replica cut off from
	// NATS answers 503 to hooks anyway.
	b, err := budget.Open(bkv, budget.Config{Rate: hc.Rate, RequestTimeout: hc.StoreTimeout, Key: hooks.BudgetKey})
	if err != nil {
		return nil, fmt.Errorf("webhook ingress: SCA_HOOK_RATE: %w", err)
	}
	hk.Share(b)
	hk.Bind(hooks.NewStore(js, kv, hc.Subjects, hc.Stream, nil))
	return func() {
		hk.Bind(nil)
		hk.Share(nil)
		b.Close()
	}, nil
}
