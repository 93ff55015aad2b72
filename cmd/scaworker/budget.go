package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/budget"
	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
)

// shareBudget makes gov draw from the deployment's shared Mangopay budget
// (SCA_MANGOPAY_RATE, held in SCA_BUDGET_BUCKET) and returns what closes
// it: unused tokens go back to the other processes. Without create (a
// dry run, which creates nothing) a missing bucket is not created: gov
// then keeps to its own rate.
func shareBudget(ctx context.Context, js jetstream.JetStream, c consumer.Config, deployment enroll.Rate, requestTimeout time.Duration, gov *enroll.Governor, log *zap.Logger, create bool) (func(), error) {
	c = c.Defaults()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if !create {
		if _, err := js.KeyValue(ctx, c.BudgetBucket); errors.Is(err, jetstream.ErrBucketNotFound) {
			return func() {}, nil
		}
	}
	kv, err := budget.Bucket(ctx, js, c.BudgetBucket, c.Replicas)
	if err != nil {
		return nil, err
	}
	b, err := budget.Open(kv, budget.Config{Rate: deployment, RequestTimeout: requestTimeout, Log: log})
	if err != nil {
		return nil, fmt.Errorf("shared budget: %w", err)
	}
	gov.Share(b)
	log.Info("mangopay budget shared", zap.String("rate", deployment.String()), zap.String("bucket", c.BudgetBucket))
	return b.Close, nil
}
