//go:build browser

package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/mangosim"
)

// screenshotsEnv names a directory where TestConsoleInBrowser saves a
// screenshot of each page (the README's docs/console/*.png).
const screenshotsEnv = "SCAWORKER_SCREENSHOTS"

// TestConsoleInBrowser drives headless Chromium through the console of
// `scaworker demo --keep-running`: the overview, a trigger lookup, and a
// dead letter redriven after its dry run, until its copy has a link.
// Run it with `go test -tags browser ./cmd/scaworker -run Browser`
// (Debian's chromium package; .ci/run installs it).
func TestConsoleInBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not installed (apt-get install -y chromium): %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The demo world, kept running with its console.
	pr, pw := io.Pipe()
	demoDone := make(chan error, 1)
	go func() {
		err := demoCommand(ctx, settings.Demo{KeepRunning: true, AdminAddr: "127.0.0.1:0"}, zap.NewNop(), pw)
		_ = pw.Close()
		demoDone <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-demoDone; err != nil {
			t.Errorf("demo: %v", err)
		}
	})
	urls := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`Operator console: (http://\S+/)`)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	var base string
	select {
	case base = <-urls:
	case err := <-demoDone:
		t.Fatalf("demo ended before its console started: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("no console URL from the demo within 2 minutes")
	}
	base = strings.TrimSuffix(base, "/")

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1100, 760),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	bctx, cancelTimeout := context.WithTimeout(bctx, 3*time.Minute)
	defer cancelTimeout()

	shots := os.Getenv(screenshotsEnv)
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if shots == "" {
				return nil
			}
			png, err := chromedp.CaptureScreenshot()(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}

	// The overview: lag, outcomes of the script, the budget.
	do("overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("lag")), shot("overview"))
	if lag := text("#lag"); strings.TrimSpace(lag) != "0" {
		t.Errorf("lag = %q, want 0 after the script", lag)
	}
	overview := text("main")
	for _, want := range []string{"missing_legal_representative_email", "user_cap", "Replicas seen", "100/1s"} {
		if !strings.Contains(overview, want) {
			t.Errorf("overview lacks %q:\n%s", want, overview)
		}
	}

	// A trigger lookup by event id, through the form.
	do("lookup",
		chromedp.Navigate(base+"/trigger"),
		chromedp.SendKeys(chromedp.CSS(`input[name="q"]`), "demo-1"),
		chromedp.Submit(chromedp.CSS(`input[name="q"]`)),
		chromedp.WaitVisible(chromedp.CSS(".outcome")),
		shot("trigger"))
	found := text("main")
	for _, want := range []string{"demo-1", "link", "Send-link event", mangosim.UserOwnerNatural} {
		if !strings.Contains(found, want) {
			t.Errorf("lookup of demo-1 lacks %q:\n%s", want, found)
		}
	}
	if strings.Contains(found, "token=") || strings.Contains(found, "https://sca.") {
		t.Errorf("lookup shows a link:\n%s", found)
	}

	// The dead letter of the legal owner: its detail, the dry run, the
	// confirmation with the operator's name.
	do("dead letters",
		chromedp.Navigate(base+"/dlq?reason=missing_legal_representative_email"),
		chromedp.WaitVisible(chromedp.CSS("table")),
		shot("dlq"),
		chromedp.Click(chromedp.CSS(`td a[href^="/dlq/"]`)),
		chromedp.WaitVisible(chromedp.ID("redrive")),
		shot("dlq-detail"))
	if detail := text("main"); !strings.Contains(detail, "missing_legal_representative_email") || !strings.Contains(detail, "Original event") {
		t.Errorf("detail:\n%s", detail)
	}
	do("dry run", chromedp.Click(chromedp.ID("redrive")), chromedp.WaitVisible(chromedp.ID("confirm")), shot("redrive-dry-run"))
	if dry := text("main"); !strings.Contains(dry, "would redrive") || !strings.Contains(dry, "Nothing has changed yet") {
		t.Errorf("dry run:\n%s", dry)
	}
	do("confirm",
		chromedp.SendKeys(chromedp.ID("operator"), "demo-operator"),
		chromedp.Click(chromedp.ID("confirm")),
		chromedp.WaitVisible(chromedp.CSS(".result")),
		shot("redrive-done"))
	if result := text("main"); !strings.Contains(result, "redriven") || !strings.Contains(result, "Done by demo-operator") {
		t.Errorf("result:\n%s", result)
	}
	newID := strings.TrimSpace(text("td:nth-child(4) code"))
	if !strings.HasSuffix(newID, ".redrive-1") {
		t.Fatalf("new trigger id = %q, want <id>.redrive-1", newID)
	}

	// The copy's new outcome: a link (the representative was fixed).
	linked := regexp.MustCompile(`Outcome\s+link`)
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		do("lookup of the copy", chromedp.Navigate(base+"/trigger?q="+newID+"&source=scaworker-demo"), chromedp.WaitReady(chromedp.CSS("main")))
		outcome := text("main")
		if linked.MatchString(outcome) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the redriven copy %s has no link outcome within 30s:\n%s", newID, outcome)
		}
		<-tick.C
	}
	do("copy", shot("trigger-redriven"))

	do("audit", chromedp.Navigate(base+"/audit"), chromedp.WaitVisible(chromedp.CSS("table")), shot("audit"))
	if a := text("main"); !strings.Contains(a, "demo-operator") || !strings.Contains(a, "dlq redrive") || !strings.Contains(a, "via=console") {
		t.Errorf("audit lacks the console's redrive:\n%s", a)
	}
}
