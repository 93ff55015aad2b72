package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/term"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/ops/audit"
)

// change is the one set of rules of the commands that change state
// (replay, dlq redrive, dlq purge, backfill):
//
//   - --dry-run prints exactly what would be done and changes nothing;
//   - otherwise the command asks for confirmation on a terminal, and
//     without a terminal it needs --yes (-y): exit 2 naming --yes;
//   - each run that may change state writes one audit record (ops/audit)
//     naming the operator (--operator, else $USER; exit 2 when neither is
//     set). A dry run writes nothing at all, not even an audit record: it
//     changed nothing, and "writes nothing" is what --dry-run promises.
//
// Its checks run before the command connects anywhere.
type change struct {
	command  string
	dryRun   bool
	yes      bool
	operator string
	in       io.Reader // where answers are read; a terminal
	prompt   io.Writer // where questions are asked (stderr)
	log      *audit.Log
}

// newChange checks the flags of a command that changes state; problems
// are returned, each naming its flag.
func newChange(command string, f settings.Change, env settings.LookupEnv, stdin io.Reader, stderr io.Writer) (*change, []error) {
	c := &change{command: command, dryRun: f.DryRun, yes: f.Yes, in: stdin, prompt: stderr}
	var errs []error
	op := strings.TrimSpace(f.Operator)
	if op == "" && env != nil {
		op, _ = env("USER")
		op = strings.TrimSpace(op)
	}
	switch {
	case op == "" && f.DryRun:
		// A dry run changes nothing: it runs, unrecorded (see record).
	case op == "":
		errs = append(errs, fmt.Errorf("--operator: `scaworker %s` records who ran it: pass --operator NAME or set $USER", command))
	default:
		if err := audit.CheckOperator(op); err != nil {
			errs = append(errs, fmt.Errorf("--operator: %w", err))
		}
	}
	c.operator = op
	if !c.dryRun && !c.yes && !isTerminalInput(stdin) {
		errs = append(errs, fmt.Errorf("--yes: `scaworker %s` changes state and asks for confirmation, but stdin is not a terminal (as in CI): pass --yes (-y) to proceed without asking, or --dry-run to see what it would do", command))
	}
	return c, errs
}

// open binds the audit stream (creating it when missing) before the
// command changes anything.
func (c *change) open(ctx context.Context, js jetstream.JetStream, cfg audit.Config) error {
	if c.dryRun || c.operator == "" {
		return nil // a dry run: nothing to record, nothing to create
	}
	l, err := audit.New(js, cfg)
	if err != nil {
		return newConfigError(err)
	}
	if err := l.Ensure(ctx); err != nil {
		return err
	}
	c.log = l
	return nil
}

// errCancelled is a confirmation answered with anything but yes.
var errCancelled = errors.New("not confirmed")

// confirm asks question (e.g. "purge 3 records?") on the terminal unless
// --yes or --dry-run. A "y" or "yes" proceeds; anything else is
// errCancelled; stdin ending without an answer is a configuration error
// naming --yes.
func (c *change) confirm(question string) error {
	if c.yes || c.dryRun {
		return nil
	}
	if c.in == nil {
		return newConfigError(errors.New("--yes: no terminal to answer on: pass --yes (-y) to proceed without asking"))
	}
	fmt.Fprintf(c.prompt, "%s [y/N] ", question)
	line, err := bufio.NewReader(c.in).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(c.prompt)
		return newConfigError(errors.New("--yes: no answer on stdin: pass --yes (-y) to proceed without asking"))
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errCancelled
}

// cancelled reports a refused confirmation on stdout: exit code 1, and
// no audit record since nothing was done.
func (c *change) cancelled(stdout io.Writer) error {
	words := strings.Fields(c.command)
	verb := words[len(words)-1] // "purge", "redrive", "replay", "backfill"
	fmt.Fprintf(stdout, "%s cancelled: nothing changed\n", verb)
	return &shownError{msg: verb + " cancelled"}
}

// record writes the command's audit record: selection and counts as
// given, the result from err (nil: done). ctx may have ended (an
// interrupted command still leaves its record), so the write has its own
// deadline. A failed write is returned unless err already is.
func (c *change) record(ctx context.Context, selection map[string]string, counts map[string]int, err error) error {
	if c.log == nil {
		return err
	}
	res := audit.ResultDone
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		res = audit.ResultInterrupted
	case err != nil:
		res = audit.ResultFailed
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, werr := c.log.Write(wctx, audit.Record{
		Operator: c.operator, Command: c.command, DryRun: c.dryRun,
		Selection: selection, Counts: counts, Result: res,
	})
	if err != nil {
		return err
	}
	return werr
}

// auditConfig turns the audit settings into an audit.Config.
func auditConfig(a settings.AuditLog, replicas int) audit.Config {
	return audit.Config{Stream: a.Stream, SubjectPrefix: a.SubjectPrefix, MaxAge: a.MaxAge, Replicas: replicas}
}

// terminalInput is stdin that says itself whether it is a terminal (tests
// stand in for one with it).
type terminalInput interface {
	io.Reader
	Terminal() bool
}

// isTerminalInput reports whether r is a terminal an operator can answer on.
func isTerminalInput(r io.Reader) bool {
	switch in := r.(type) {
	case terminalInput:
		return in.Terminal()
	case *os.File:
		return in != nil && term.IsTerminal(int(in.Fd()))
	}
	return false
}
