package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.uber.org/zap"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/bench"
	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
)

func main() {
	if role := os.Getenv(bench.ChildEnv); role != "" {
		os.Exit(bench.Child(role)) // a process of `scaworker bench`
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runWithInput(ctx, os.Args[1:], os.LookupEnv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes (README, "Running it").
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// configError is a configuration error: exit code 2, each problem on its
// own line, each naming its setting.
type configError struct {
	errs    []error
	printed bool // already shown (by `check`, on stdout)
}

func (e *configError) Error() string {
	lines := make([]string, len(e.errs))
	for i, err := range e.errs {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "; ")
}

// newConfigError flattens joined errors and drops repeats; nil when none.
func newConfigError(errs ...error) error {
	var flat []error
	seen := map[string]bool{}
	var add func(err error)
	add = func(err error) {
		if err == nil {
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				add(e)
			}
			return
		}
		if !seen[err.Error()] {
			seen[err.Error()] = true
			flat = append(flat, err)
		}
	}
	for _, err := range errs {
		add(err)
	}
	if len(flat) == 0 {
		return nil
	}
	return &configError{errs: flat}
}

// run is the whole program: it parses args and env, runs the command, and
// returns the exit code. Command output goes to stdout, logs to stderr.
// Every error surfaces once: a usage or configuration error as text on
// stderr, a runtime failure as one error log line. It has no stdin: a
// command that asks (dlq purge) refuses without --yes.
func run(ctx context.Context, args []string, env settings.LookupEnv, stdout, stderr io.Writer) int {
	return runWithInput(ctx, args, env, nil, stdout, stderr)
}

// runWithInput is run with stdin, where a command may read an answer
// (nil: none).
func runWithInput(ctx context.Context, args []string, env settings.LookupEnv, stdin io.Reader, stdout, stderr io.Writer) int {
	p, err := settings.Parse(args, env, stdout, stderr)
	var usage *settings.UsageError
	switch {
	case errors.As(err, new(settings.HelpShown)):
		return exitOK
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "scaworker: %v\n", err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "scaworker: %v\n", err)
		return exitFailure
	}

	switch p.Command {
	case "version":
		fmt.Fprint(stdout, readBuildInfo().String())
		return exitOK
	case "settings-table":
		if err := settingsTable(p.CLI.SettingsTable.Write, stdout); err != nil {
			fmt.Fprintf(stderr, "scaworker: %v\n", err)
			return exitFailure
		}
		return exitOK
	}

	level, format := p.CLI.LogSettings(p.Command)
	log, err := newLogger(level, format, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "scaworker: %v\n", err)
		return exitUsage
	}
	defer func() { _ = log.Sync() }()

	switch p.Command {
	case "run":
		err = runCommand(ctx, p, env, log)
	case "check":
		err = checkCommand(ctx, p, log, stdout)
	case "replay":
		err = replayCommand(ctx, p, env, log, stdin, stdout, stderr)
	case "demo":
		err = demoCommand(ctx, p.CLI.Demo, log, stdout)
	case "bench":
		err = benchCommand(ctx, p, stdout, stderr)
	case "dlq list", "dlq show <seq>", "dlq redrive", "dlq purge":
		err = dlqCommand(ctx, p, env, log, stdin, stdout, stderr)
	case "backfill":
		err = backfillCommand(ctx, p, env, log, stdin, stdout, stderr)
	case "audit":
		err = auditCommand(ctx, p, log, stdout)
	default:
		err = fmt.Errorf("unknown command %q", p.Command)
	}
	var cfgErr *configError
	var failed *checksFailed
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &cfgErr) && cfgErr.printed:
		return exitUsage
	case errors.As(err, &cfgErr):
		fmt.Fprintln(stderr, "scaworker: configuration error:")
		for _, e := range cfgErr.errs {
			fmt.Fprintf(stderr, "  %v\n", e)
		}
		return exitUsage
	case errors.As(err, &failed):
		// `check` already printed every failure on stdout.
		return exitFailure
	case errors.As(err, new(*shownError)):
		// An operator command already said what went wrong (refusals, a cancelled purge).
		return exitFailure
	default:
		log.Error("scaworker failed", zap.String("command", p.Command), zap.Error(err))
		return exitFailure
	}
}
