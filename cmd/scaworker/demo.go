package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/httpserver"
	"github.com/scaworker/scaworker/cmd/scaworker/internal/natsembed"
	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/console"
	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/mangosim"
)

// demoReturnURL is the platform page Mangopay sends demo users back to.
const demoReturnURL = "https://platform.example/sca/done"

// demoRate is the demo's Mangopay budget.
func demoRate() enroll.Rate { return enroll.Rate{N: 100, Per: time.Second} }

// demoStepTimeout bounds the wait for one step's outcomes.
const demoStepTimeout = 10 * time.Second

// demoTrigger is one event the demo publishes.
type demoTrigger struct {
	subject string
	body    []byte
	msgID   string // Nats-Msg-Id; "" for none
	label   string
}

// demoStep is one scene of the demo: faults to set, triggers to publish,
// and the outcomes they must end with ("outcome/reason" -> count).
type demoStep struct {
	title    string
	note     string // an explanation printed under the title; "" for none
	setup    func(sim *mangosim.Server)
	triggers []demoTrigger
	want     map[string]int
}

// demoCommand is `scaworker demo`: embedded NATS in a fresh temporary
// store, a simulated Mangopay, the real consumer, and scripted triggers.
func demoCommand(ctx context.Context, d settings.Demo, log *zap.Logger, out io.Writer) error {
	if d.KeepRunning {
		if err := checkAddr("SCA_ADMIN_ADDR", d.AdminAddr); err != nil {
			return newConfigError(err)
		}
		if !loopbackAddr(d.AdminAddr) {
			return newConfigError(fmt.Errorf("SCA_ADMIN_ADDR: %s is not a loopback address: the demo's console has write enabled and no credentials, so it listens on loopback only (e.g. 127.0.0.1:0)", d.AdminAddr))
		}
	}
	err := runDemo(ctx, d, log, out)
	if err != nil && ctx.Err() != nil {
		fmt.Fprintln(out, "\ninterrupted")
		return nil
	}
	return err
}

func runDemo(ctx context.Context, d settings.Demo, log *zap.Logger, out io.Writer) error {
	start := time.Now()
	dir, err := os.MkdirTemp("", "scaworker-demo-*")
	if err != nil {
		return fmt.Errorf("demo store: %w", err)
	}
	defer os.RemoveAll(dir)

	emb, err := natsembed.Start(natsembed.Options{Listen: "127.0.0.1:0", DataDir: dir, Log: log})
	if err != nil {
		return err
	}
	defer emb.Shutdown()
	sim := mangosim.Start(mangosim.Options{})
	defer sim.Close()
	fmt.Fprintf(out, "scaworker demo\n  NATS (embedded, JetStream)  %s  store %s\n  Mangopay (simulated)        %s\n  return URL                  %s\n", emb.Addr(), dir, sim.URL, demoReturnURL)

	nc, err := nats.Connect(emb.ClientURL(), nats.Name("scaworker-demo"))
	if err != nil {
		return fmt.Errorf("connect to the embedded nats: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	ccfg := consumer.Config{
		Concurrency:     4,
		AckWait:         10 * time.Second,
		AttemptTimeout:  5 * time.Second,
		RetryDelayMin:   200 * time.Millisecond,
		RetryDelayMax:   time.Second,
		FaultPause:      200 * time.Millisecond,
		FaultPauseMax:   time.Second,
		ShutdownTimeout: 5 * time.Second,
	}
	if err := consumer.Provision(ctx, js, ccfg); err != nil {
		return fmt.Errorf("jetstream layout: %w", err)
	}
	mp, err := enroll.NewClient(enroll.Config{
		BaseURL:         sim.URL,
		ClientID:        sim.ClientID(),
		APIKey:          sim.APIKey(),
		ReturnURL:       demoReturnURL,
		Rate:            demoRate(),
		RequestTimeout:  2 * time.Second,
		MaxRetries:      2,
		InitialInterval: 20 * time.Millisecond,
		MaxInterval:     100 * time.Millisecond,
		UserAgent:       readBuildInfo().userAgent(),
	}, log)
	if err != nil {
		return err
	}

	outcomes := make(chan consumer.Outcome, 64)
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	name := "demo-" + processName()
	stats, stopStats, err := startStats(ctx, js, console.DefaultStatsBucket, 1, name)
	if err != nil {
		return err
	}
	defer stopStats()
	c, err := consumer.New(ccfg, consumer.Deps{
		JS: js, Mangopay: mp, Pacer: mp.Governor(), Log: log,
		OnOutcome: func(o consumer.Outcome) {
			stats.Record(o)
			select {
			case outcomes <- o:
			case <-runCtx.Done():
			}
		},
	})
	if err != nil {
		return err
	}
	runDone := make(chan error, 1)
	go func() { runDone <- c.Run(runCtx) }()
	stopped := false
	stop := func() error { // stops the consumer once and waits for its drain
		if stopped {
			return nil
		}
		stopped = true
		stopRun()
		return <-runDone
	}
	defer func() { _ = stop() }()

	counts := map[string]int{}
	var failures []string
	for i, step := range demoSteps(time.Now()) {
		fmt.Fprintf(out, "\n%d. %s\n", i+1, step.title)
		if step.note != "" {
			fmt.Fprintf(out, "   %s\n", strings.ReplaceAll(step.note, "\n", "\n   "))
		}
		printUsers(out, sim, step)
		if step.setup != nil {
			step.setup(sim)
		}
		got, err := playStep(ctx, js, step, outcomes, out)
		for k, n := range got {
			counts[k] += n
		}
		if err != nil {
			return err
		}
		if !sameCounts(got, step.want) {
			failures = append(failures, fmt.Sprintf("step %d (%s): got %s, want %s", i+1, step.title, countsText(got), countsText(step.want)))
		}
		sim.SetFaults(mangosim.Faults{})
	}
	if !d.KeepRunning {
		if err := stop(); err != nil {
			return fmt.Errorf("consumer: %w", err)
		}
	}

	fmt.Fprintf(out, "\nSummary (%d triggers in %.1fs)\n", total(counts), time.Since(start).Seconds())
	printSummary(out, counts)
	printCalls(out, sim)
	fmt.Fprint(out, demoNext)
	if len(failures) > 0 {
		return fmt.Errorf("demo outcomes differ from the script: %s", strings.Join(failures, "; "))
	}
	if !d.KeepRunning {
		return nil
	}
	// The console's overview reads the stats bucket: write the script's
	// outcomes there now rather than at the next periodic write.
	fctx, cancelFlush := context.WithTimeout(ctx, 5*time.Second)
	err = stats.Flush(fctx)
	cancelFlush()
	if err != nil {
		return fmt.Errorf("console stats: %w", err)
	}
	var live atomic.Pointer[consumer.Consumer]
	live.Store(c)
	return keepRunning(ctx, js, d.AdminAddr, ccfg, mp, sim, outcomes, workerStatus(name, &live, mp.Governor()), log, out)
}

// keepRunning is the end of `demo --keep-running`: the world stays up
// with the console on addr, write enabled, until ctx ends (Ctrl-C).
func keepRunning(ctx context.Context, js jetstream.JetStream, addr string, ccfg consumer.Config, mp *enroll.Client, sim *mangosim.Server,
	outcomes <-chan consumer.Outcome, status func() console.Status, log *zap.Logger, out io.Writer) error {
	// Outcomes from now on are the console's (its counters); the script
	// no longer waits for them.
	go func() {
		for {
			select {
			case <-outcomes:
			case <-ctx.Done():
				return
			}
		}
	}()
	// The platform fixes the legal owner's missing representative e-mail:
	// its dead letter can now be redriven to a link from the console.
	if u, ok := sim.User(mangosim.UserOwnerLegalNoRep); ok {
		u.LegalRepresentativeEmail = "rep@legacy-company.example"
		sim.AddUser(u)
	}
	con, err := console.New(js, console.Config{
		Layout: ccfg, Rate: demoRate(), Write: true, Status: status, Refresh: 5 * time.Second, Log: log,
	})
	if err != nil {
		return err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("SCA_ADMIN_ADDR: listen on %s: %w", addr, err)
	}
	fmt.Fprintf(out, "\nThe demo keeps running. Operator console: http://%s/\n", ln.Addr())
	fmt.Fprintf(out, "  Write is enabled for the demo (SCA_ADMIN_WRITE=true): redrive and purge work, each after a dry run.\n")
	fmt.Fprintf(out, "  Try: the dead letter of %s (its representative e-mail is fixed now) → Redrive… → Confirm.\n", mangosim.UserOwnerLegalNoRep)
	fmt.Fprintln(out, "  Press Ctrl-C to stop.")
	err = httpserver.Serve(ctx, httpserver.NewServer(con, log), ln, httpGrace)
	fmt.Fprintln(out, "\nstopped")
	return err
}

// playStep publishes the step's triggers and prints their outcomes as
// they arrive, until every trigger has one.
func playStep(ctx context.Context, js jetstream.JetStream, step demoStep, outcomes <-chan consumer.Outcome, out io.Writer) (map[string]int, error) {
	pending := map[uint64]string{}
	for _, t := range step.triggers {
		var opts []jetstream.PublishOpt
		if t.msgID != "" {
			opts = append(opts, jetstream.WithMsgID(t.msgID))
		}
		ack, err := js.Publish(ctx, t.subject, t.body, opts...)
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", t.subject, err)
		}
		pending[ack.Sequence] = t.label
		fmt.Fprintf(out, "   → %-28s %s\n", t.subject, t.label)
	}
	got := map[string]int{}
	deadline := time.NewTimer(demoStepTimeout)
	defer deadline.Stop()
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-deadline.C:
			return got, fmt.Errorf("step %q: %d triggers without an outcome after %s", step.title, len(pending), demoStepTimeout)
		case o := <-outcomes:
			if _, ok := pending[o.StreamSeq]; !ok {
				continue // not this step's (cannot happen: steps run one after the other)
			}
			delete(pending, o.StreamSeq)
			got[key(o.Outcome, o.Reason)]++
			fmt.Fprintf(out, "     %s\n", describe(o))
		}
	}
	return got, nil
}

// describe is one readable outcome line.
func describe(o consumer.Outcome) string {
	user := o.UserID
	if user == "" {
		user = "(unreadable)"
	}
	attempts := ""
	if o.Attempts > 1 {
		attempts = fmt.Sprintf(" after %d attempts", o.Attempts)
	}
	switch o.Outcome {
	case events.OutcomeLink:
		return fmt.Sprintf("✓ link       %s: send-link event %s published%s", user, short(o.LinkID), attempts)
	case events.OutcomeSkip:
		return fmt.Sprintf("· skip       %s: %s", user, o.Reason)
	case events.OutcomeDLQ:
		msg := o.Error
		if len(msg) > 100 {
			msg = msg[:100] + "…"
		}
		return fmt.Sprintf("✗ dead-letter %s: %s%s (%s)", user, o.Reason, attempts, msg)
	case events.OutcomeState:
		return fmt.Sprintf("● state      %s: recorded as enrolled", user)
	case events.OutcomeDuplicate:
		return fmt.Sprintf("= duplicate  %s: already has an outcome, nothing sent again", user)
	}
	return fmt.Sprintf("? %s %s: %s", o.Outcome, o.Reason, user)
}

// short abbreviates a long id for display.
func short(id string) string {
	if len(id) > 17 {
		return id[:17] + "…"
	}
	return id
}

func key(outcome, reason string) string {
	if reason == "" {
		return outcome
	}
	return outcome + "/" + reason
}

func sameCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, n := range a {
		if b[k] != n {
			return false
		}
	}
	return true
}

func countsText(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func printSummary(out io.Writer, counts map[string]int) {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	order := map[string]int{events.OutcomeLink: 0, events.OutcomeSkip: 1, events.OutcomeDLQ: 2, events.OutcomeState: 3, events.OutcomeDuplicate: 4}
	sort.Slice(keys, func(i, j int) bool {
		oi, _, _ := strings.Cut(keys[i], "/")
		oj, _, _ := strings.Cut(keys[j], "/")
		if order[oi] != order[oj] {
			return order[oi] < order[oj]
		}
		return keys[i] < keys[j]
	})
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  outcome\treason\tcount")
	for _, k := range keys {
		o, r, _ := strings.Cut(k, "/")
		if r == "" {
			r = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\n", o, r, counts[k])
	}
	_ = tw.Flush()
}

func printCalls(out io.Writer, sim *mangosim.Server) {
	calls := sim.Calls()
	byStatus := map[int]int{}
	for _, c := range calls {
		byStatus[c.Status]++
	}
	statuses := make([]int, 0, len(byStatus))
	for s := range byStatus {
		statuses = append(statuses, s)
	}
	sort.Ints(statuses)
	parts := make([]string, len(statuses))
	for i, s := range statuses {
		parts[i] = fmt.Sprintf("%d×%d", byStatus[s], s)
	}
	fmt.Fprintf(out, "Mangopay calls: %d (%s), tokens issued: %d\n", len(calls), strings.Join(parts, ", "), sim.Tokens())
}

// triggerEvent is a structured-mode CloudEvent (docs/events.md).
func triggerEvent(id, typ string, data map[string]any, now time.Time) []byte {
	b, err := json.Marshal(map[string]any{
		"specversion":     "1.0",
		"id":              id,
		"source":          "scaworker-demo",
		"type":            typ,
		"time":            now.UTC().Format(time.RFC3339),
		"datacontenttype": "application/json",
		"data":            data,
	})
	if err != nil {
		panic(err) // maps of strings always marshal
	}
	return b
}

// demoSteps is the script. Every trigger's expected outcome follows docs/events.md.
func demoSteps(now time.Time) []demoStep {
	s := events.DefaultSubjects()
	n := 0
	created := func(user string, data map[string]any, label string) demoTrigger {
		n++
		id := fmt.Sprintf("demo-%d", n)
		if data == nil {
			data = map[string]any{}
		}
		data["user_id"] = user
		return demoTrigger{subject: s.UserCreated, body: triggerEvent(id, events.TypeUserCreated, data, now), msgID: id, label: label}
	}
	hook := func(subject, typ, user, label string) demoTrigger {
		n++
		id := fmt.Sprintf("demo-%d", n)
		data := map[string]any{"user_id": user, "occurred_at": now.UTC().Format(time.RFC3339)}
		return demoTrigger{subject: subject, body: triggerEvent(id, typ, data, now), msgID: id, label: label}
	}
	first := created(mangosim.UserOwnerNatural, map[string]any{"category": "OWNER", "person_type": "NATURAL", "email": "owner@example.com", "locale": "fr-FR"}, "natural owner "+mangosim.UserOwnerNatural+" (category OWNER, locale fr-FR)")
	replay := first
	replay.msgID = "" // a replay, past JetStream's duplicate window: only the ledger recognises it
	replay.label = "the same user.created again (a replay)"

	flood := make([]demoTrigger, 5)
	for i := range flood {
		flood[i] = hook(s.SessionExpired, events.TypeSessionExpired, mangosim.UserOwnerSoletrader, fmt.Sprintf("expiry %d/5 for %s", i+1, mangosim.UserOwnerSoletrader))
	}
	return []demoStep{
		{title: "Owners sign up: one link each", triggers: []demoTrigger{
			first,
			created(mangosim.UserOwnerLegal, map[string]any{"category": "owner", "person_type": "LEGAL", "locale": "sv-SE"}, "legal owner "+mangosim.UserOwnerLegal+" (category owner, locale sv-SE)"),
		}, want: map[string]int{"link": 2}},
		{title: "A payer signs up: skipped without any API call", triggers: []demoTrigger{
			created(mangosim.UserPayer, map[string]any{"category": "PAYER"}, "payer "+mangosim.UserPayer+" (category PAYER)"),
		}, want: map[string]int{"skip/not_owner": 1}},
		{title: "No category in the event: Mangopay is asked", triggers: []demoTrigger{
			created(mangosim.UserPayerLegal, nil, mangosim.UserPayerLegal+" (no category; Mangopay says PAYER)"),
			created(mangosim.UserOwnerClosed, nil, mangosim.UserOwnerClosed+" (no category; Mangopay says CLOSED)"),
		}, want: map[string]int{"skip/not_owner": 1, "skip/user_closed": 1}},
		{title: "Events that can never succeed go to the dead-letter stream", triggers: []demoTrigger{
			{subject: s.UserCreated, body: []byte(`{"specversion":"1.0","id":"demo-broken","type":"user.created"`), label: "truncated JSON (invalid event)"},
			created(mangosim.UserOwnerLegalNoRep, map[string]any{"category": "OWNER", "person_type": "LEGAL"}, "legal owner "+mangosim.UserOwnerLegalNoRep+" without a representative e-mail"),
		}, want: map[string]int{"dlq/invalid_event": 1, "dlq/missing_legal_representative_email": 1}},
		{title: "A session expired: a new link", triggers: []demoTrigger{
			hook(s.SessionExpired, events.TypeSessionExpired, mangosim.UserOwnerNatural2, "expiry for "+mangosim.UserOwnerNatural2),
		}, want: map[string]int{"link": 1}},
		{title: "A flood of expiries for one user: at most 3 links an hour", triggers: flood,
			want: map[string]int{"link": 3, "skip/user_cap": 2}},
		{title: "Mangopay answers 503 six times: retried with backoff, then a link", setup: func(sim *mangosim.Server) {
			sim.SetFaults(mangosim.Faults{Burst5xx: 6})
		}, triggers: []demoTrigger{
			created(mangosim.UserOwnerNaturalPending, map[string]any{"category": "OWNER"}, "owner "+mangosim.UserOwnerNaturalPending),
		}, want: map[string]int{"link": 1}},
		{title: "Mangopay's rate limit is spent for 2 s: the worker stops pulling, then goes on", setup: func(sim *mangosim.Server) {
			sim.SetFaults(mangosim.Faults{RateLimitedUntil: time.Now().Add(2 * time.Second)})
		}, triggers: []demoTrigger{
			created(mangosim.UserOwnerLegacyNumeric, map[string]any{"category": "OWNER"}, "owner "+mangosim.UserOwnerLegacyNumeric),
		}, want: map[string]int{"link": 1}},
		{title: "The user completes enrollment; the hook is confirmed with sca-status", setup: func(sim *mangosim.Server) {
			sim.CompleteEnrollment(mangosim.UserOwnerNatural)
		}, triggers: []demoTrigger{
			hook(s.EnrollmentSucceeded, events.TypeEnrollmentSucceeded, mangosim.UserOwnerNatural, "enrollment succeeded for "+mangosim.UserOwnerNatural),
		}, want: map[string]int{"state": 1}},
		{title: "Sandbox skips SCA for e-mails containing \"accept\": no link needed, nothing sent",
			note: "Since February 2026 Mangopay's Sandbox opens no SCA session for a user whose e-mail (natural)\n" +
				"or legal representative's e-mail (legal) contains \"accept\": Enroll answers 200 without a RedirectUrl.\n" +
				"That is not a broken link: the trigger is skipped (sca_not_required), nothing is published,\n" +
				"and the user is remembered, so a replay makes no call.",
			triggers: []demoTrigger{
				created(mangosim.UserOwnerAccept, map[string]any{"category": "OWNER", "email": "ada+accept@example.com", "locale": "en-GB"}, "natural owner "+mangosim.UserOwnerAccept+" (ada+accept@example.com)"),
				created(mangosim.UserOwnerLegalAccept, nil, "legal owner "+mangosim.UserOwnerLegalAccept+" (no category; representative rep+accept@example.com)"),
			}, want: map[string]int{"skip/sca_not_required": 2}},
		{title: "Replay: a trigger that already has an outcome sends nothing twice", triggers: []demoTrigger{replay},
			want: map[string]int{"duplicate": 1}},
	}
}

// printUsers says who the step's users are at the (simulated) Mangopay
// before the step: what the worker will find when it asks.
func printUsers(out io.Writer, sim *mangosim.Server, step demoStep) {
	seen := map[string]bool{}
	for _, t := range step.triggers {
		var ev struct {
			Data struct {
				UserID string `json:"user_id"`
			} `json:"data"`
		}
		if json.Unmarshal(t.body, &ev) != nil || ev.Data.UserID == "" || seen[ev.Data.UserID] {
			continue
		}
		seen[ev.Data.UserID] = true
		if u, ok := sim.User(ev.Data.UserID); ok {
			fmt.Fprintf(out, "   user %s at Mangopay: %s\n", u.ID, userText(u))
		} else {
			fmt.Fprintf(out, "   user %s: unknown to Mangopay\n", ev.Data.UserID)
		}
	}
}

// userText describes a simulated Mangopay user.
func userText(u mangosim.User) string {
	parts := []string{u.Category, u.PersonType}
	if u.LegalPersonType != "" {
		parts = append(parts, u.LegalPersonType)
	}
	parts = append(parts, u.Status)
	switch {
	case u.Enrolled:
		parts = append(parts, "enrolled in SCA")
	case u.Triggered:
		parts = append(parts, "enrollment started, not finished")
	default:
		parts = append(parts, "not enrolled")
	}
	if u.PersonType == mangosim.PersonLegal {
		if u.LegalRepresentativeEmail == "" {
			parts = append(parts, "no legal representative e-mail")
		} else {
			parts = append(parts, "legal representative "+u.LegalRepresentativeEmail)
		}
	}
	return strings.Join(parts, ", ")
}

// demoNext ends the demo: what to run next, for real.
const demoNext = `
What next
  That was the real worker, on an embedded NATS, against a simulated Mangopay.
  Try the same by hand against the simulator: README.md, "Trying it by hand against the simulator".
  Explore its data in the operator console: scaworker demo --keep-running.
  In production, with your Mangopay credentials and your NATS:
    go build -o scaworker ./cmd/scaworker
    export MANGOPAY_BASE_URL=https://api.mangopay.com MANGOPAY_CLIENT_ID=... MANGOPAY_API_KEY_FILE=/run/secrets/mangopay
    export SCA_RETURN_URL=https://app.example.com/sca/done NATS_URL=nats://nats:4222
    ./scaworker check     # configuration, credentials, API-key scopes, streams
    ./scaworker run       # the worker and the webhook ingress
  Settings: ./scaworker run -h. The event contract: docs/events.md. Deployment: deploy/README.md.
`
