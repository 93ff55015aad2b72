package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/hooks"
)

// checkUserID is a user id that cannot exist at Mangopay (ids are numeric
// or prefixed "user_m_"): asking for it proves the token and the Users
// scope through a 404.
const checkUserID = "scaworker-check"

// checkResult is one line of `scaworker check`.
type checkResult struct {
	name         string
	err          error
	inconclusive bool     // Mangopay unreachable or unavailable: neither ok nor refused
	refused      bool     // Mangopay refused the credentials (401): a configuration error
	warnings     []string // not failures: printed instead of "ok"
}

// checksFailed reports that `check` printed at least one failure.
type checksFailed struct{ n int }

func (e *checksFailed) Error() string { return fmt.Sprintf("%d checks failed", e.n) }

// checkMangopay proves the credentials and the API-key scopes with two
// reads that must answer 404: a user that cannot exist (token, Users
// scope) and a stored response under a random key (Client.Developers
// scope, for reading back idempotent answers).
func checkMangopay(ctx context.Context, mp *enroll.Client) []checkResult {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out []checkResult
	_, err := mp.GetUser(ctx, checkUserID)
	out = append(out, expect404("mangopay token and Users scope", "Users", err))
	if r := out[0]; r.err != nil && !r.inconclusive && enroll.IsFault(r.err) {
		return out // a bad token fails every other call the same way
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	_, err = mp.Response(ctx, hex.EncodeToString(b[:])+"-1")
	out = append(out, expect404("mangopay Client.Developers scope (responses)", "Client.Developers", err))
	return out
}

// expect404 judges a read that must answer 404.
func expect404(name, scope string, err error) checkResult {
	r := checkResult{name: name}
	var apiErr *enroll.APIError
	var fault *enroll.FaultError
	switch {
	case err == nil:
		// Found: odd but it proves access.
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound:
		// Expected.
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusForbidden,
		errors.As(err, &fault) && fault.Kind == "forbidden":
		r.err = fmt.Errorf("forbidden: the API key lacks the %s scope or this host is not on the IP allowlist: %w", scope, err)
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusUnauthorized,
		errors.As(err, &fault) && fault.Kind == "unauthorized":
		r.err, r.refused = fmt.Errorf("MANGOPAY_CLIENT_ID, MANGOPAY_API_KEY: Mangopay refused the credentials (unauthorized): check both, and MANGOPAY_BASE_URL (sandbox keys do not work in production): %w", err), true
	case errors.As(err, &fault):
		r.err = err // TLS
	case enroll.IsRetryable(err):
		r.err, r.inconclusive = err, true
	default:
		r.err = err
	}
	return r
}

// checkCommand is `scaworker check`: one line per check on stdout.
func checkCommand(ctx context.Context, p *settings.Parsed, log *zap.Logger, stdout io.Writer) error {
	c := p.CLI.Check
	cfg, errs := checkServiceConfig(c.Mangopay, c.NATS, c.Consumer)
	var hookErrs []error
	cfg.hooks, hookErrs = hooksConfig(c.Hooks, cfg.consumer)
	errs = append(errs, hookErrs...)
	if err := newConfigError(errs...); err != nil {
		return printConfigFailure(stdout, err)
	}
	log.Info("config", p.LogFields()...)
	fmt.Fprintln(stdout, "config: ok")
	failed := 0
	report := func(r checkResult) {
		switch {
		case r.err == nil && len(r.warnings) > 0:
			for _, w := range r.warnings {
				fmt.Fprintf(stdout, "%s: WARNING: %s\n", r.name, w)
			}
		case r.err == nil:
			fmt.Fprintf(stdout, "%s: ok\n", r.name)
		case r.inconclusive:
			failed++
			fmt.Fprintf(stdout, "%s: FAILED: Mangopay unavailable, try again: %v\n", r.name, r.err)
		default:
			failed++
			fmt.Fprintf(stdout, "%s: FAILED: %v\n", r.name, r.err)
		}
	}

	mp, err := enroll.NewClient(cfg.mangopay, log)
	if err != nil {
		return printConfigFailure(stdout, newConfigError(err))
	}
	report(webhookResult(cfg.hooks))
	for _, r := range checkMangopay(ctx, mp) {
		report(r)
	}

	if cfg.nats.URL == "" {
		fmt.Fprintln(stdout, "streams: skipped (NATS_URL is empty: the embedded server's streams are checked at start-up of run)")
		report(durabilityResult(c.Durable.Require, []string{embeddedSingleReplica}, nil, stdout))
	} else {
		report(checkStreams(ctx, cfg, log, c.Durable.Require, stdout))
	}
	if failed > 0 {
		return &checksFailed{n: failed}
	}
	return nil
}

// webhookResult is the webhook ingress's line of `check`: a warning when it is open to
// the world (see hooks.Config.Open).
func webhookResult(h hooks.Config) checkResult {
	r := checkResult{name: "webhooks"}
	if h.Open() {
		r.warnings = []string{hooks.OpenWarning}
	}
	return r
}

// printConfigFailure prints the config line of `check` for a
// configuration error, one problem per line, and marks it shown.
func printConfigFailure(stdout io.Writer, err error) error {
	var cfgErr *configError
	if !errors.As(err, &cfgErr) {
		fmt.Fprintf(stdout, "config: FAILED: %v\n", err)
		return err
	}
	fmt.Fprintln(stdout, "config: FAILED:")
	for _, e := range cfgErr.errs {
		fmt.Fprintf(stdout, "  %v\n", e)
	}
	cfgErr.printed = true
	return cfgErr
}

// checkNATSWait bounds the wait of `check` for NATS_URL.
const checkNATSWait = 10 * time.Second

// checkStreams connects to NATS_URL and checks the JetStream layout
// without creating anything.
// With NATS reachable, it also prints the durability check's findings:
// warnings, or failures with SCA_REQUIRE_DURABLE (see durabilityResult).
func checkStreams(ctx context.Context, cfg serviceConfig, log *zap.Logger, requireDurable bool, stdout io.Writer) checkResult {
	r := checkResult{name: "nats and streams"}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	nc, err := dialNATS(ctx, cfg.nats.URL, cfg.nats, dialOptions{setting: "NATS_URL", wait: checkNATSWait, every: waitReportEvery}, log)
	if err != nil {
		r.err = err
		return r
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		r.err = err
		return r
	}
	if r.err = checkJetStream(ctx, js, "NATS_URL", settings.RedactURLs(cfg.nats.URL)); r.err != nil {
		return r
	}
	r.err = consumer.Check(ctx, js, cfg.consumer)
	if r.err == nil {
		fmt.Fprintf(stdout, "%s: ok\n", r.name)
		problems, notes := durabilityProblems(ctx, nc, js, cfg.consumer)
		return durabilityResult(requireDurable, problems, notes, stdout)
	}
	return r
}

// durabilityResult prints the durability findings of `check`: notes and
// warnings as lines of their own; with SCA_REQUIRE_DURABLE the problems are
// the check's failure.
func durabilityResult(require bool, problems, notes []string, stdout io.Writer) checkResult {
	r := checkResult{name: "durability"}
	for _, n := range notes {
		fmt.Fprintf(stdout, "durability: note: %s\n", n)
	}
	if require && len(problems) > 0 {
		r.err = fmt.Errorf("SCA_REQUIRE_DURABLE: %s", strings.Join(problems, "; "))
		return r
	}
	r.warnings = problems
	return r
}
