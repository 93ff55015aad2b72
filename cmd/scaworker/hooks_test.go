package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/hooks"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
)

const testHookSecret = "hook-secret-not-for-logs-0123456789"

// TestHookSettingDefaultsMatchPackage pins the flag defaults to hooks.Config's.
func TestHookSettingDefaultsMatchPackage(t *testing.T) {
	t.Parallel()
	p, err := settings.Parse([]string{"run"}, nil, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got, errs := hooksConfig(p.CLI.Run.Hooks, consumerConfig(p.CLI.Run.Consumer))
	if len(errs) != 0 {
		t.Fatalf("hooksConfig(defaults) errors: %v", errs)
	}
	want := hooks.Config{}.Defaults()
	if got.Rate != want.Rate || got.Burst != want.Burst || got.StoreTimeout != want.StoreTimeout ||
		got.Stream != want.Stream || got.Bucket != want.Bucket || got.Subjects != want.Subjects ||
		got.Secret != "" || len(got.AllowCIDRs) != 0 || got.ClientIPHeader != "" {
		t.Errorf("hook settings defaults = %+v, want hooks.Config defaults %+v", got, want)
	}
}

func TestHookConfigErrorsNameTheirSetting(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ key, value string }{
		"bad rate":      {"SCA_HOOK_RATE", "fast"},
		"bad cidr":      {"SCA_HOOK_ALLOW_CIDRS", "10.0.0.0/8,example.com"},
		"short secret":  {"SCA_HOOK_SECRET", "short"},
		"slow store":    {"SCA_HOOK_STORE_TIMEOUT", "3s"},
		"zero burst":    {"SCA_HOOK_BURST", "-1"},
		"bad ip header": {"SCA_HOOK_CLIENT_IP_HEADER", "X Forwarded For"},
		"bad proxies":   {"SCA_HOOK_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local"},
		"bad src rate":  {"SCA_HOOK_SOURCE_RATE", "0/1m"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{
				"MANGOPAY_CLIENT_ID": "client", "MANGOPAY_API_KEY": testAPIKey,
				"SCA_RETURN_URL": "https://platform.example/done", "SCA_HTTP_ADDR": "127.0.0.1:0",
				tc.key: tc.value,
			}
			code, out, errOut := runSync(t, []string{"run"}, env)
			if code != exitUsage || !strings.Contains(out+errOut, tc.key) {
				t.Errorf("run with %s=%q = %d, want 2 naming it; stdout %q stderr %q", tc.key, tc.value, code, out, errOut)
			}
			if tc.key == "SCA_HOOK_SECRET" && strings.Contains(out+errOut, tc.value) {
				t.Errorf("output carries the secret: %s%s", out, errOut)
			}
		})
	}
}

// TestRunHooks: `run` serves the ingress on the public listener: a hook on the secret
// path is stored and its link published; the secret never shows in logs.
func TestRunHooks(t *testing.T) {
	t.Parallel()
	sim := startSim(t)
	env := workerEnv(t, sim)
	env["SCA_HOOK_SECRET"] = testHookSecret
	env["SCA_HOOK_ALLOW_CIDRS"] = "127.0.0.0/8,::1"
	env["SCA_ADMIN_ADDR"] = "127.0.0.1:0"
	w := startWorker(t, env)
	public := "http://" + waitLog(t, w.stderr, w.done, "http listening", map[string]string{"setting": "SCA_HTTP_ADDR"})["addr"].(string)
	admin := "http://" + waitLog(t, w.stderr, w.done, "http listening", map[string]string{"setting": "SCA_ADMIN_ADDR"})["addr"].(string)
	waitLog(t, w.stderr, w.done, "ready", nil)

	q := "?EventType=SCA_ENROLLMENT_EXPIRED&RessourceId=" + mangosim.UserOwnerNatural + "&Date=" + strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
	if code, _ := get(t, public+hooks.Path+q); code != http.StatusNotFound {
		t.Errorf("hook without the secret = %d, want 404", code)
	}
	for i := range 3 { // Mangopay's resends: stored once
		if code, body := get(t, public+hooks.Path+"/"+testHookSecret+q); code != http.StatusOK {
			t.Fatalf("hook %d = %d %q, want 200", i, code, body)
		}
	}
	stored := waitLog(t, w.stderr, w.done, "hook stored", nil)
	if stored["user_id"] != mangosim.UserOwnerNatural || stored["event_id"] == "" {
		t.Errorf("hook stored log = %v, want user_id and event_id", stored)
	}
	waitLog(t, w.stderr, w.done, "trigger settled", map[string]string{"outcome": "link", "event_id": stored["event_id"].(string)})
	_, metrics := get(t, admin+"/metrics")
	for _, want := range []string{`scaworker_hooks_total{result="stored"} 1`, `scaworker_hooks_total{result="duplicate"} 2`, `scaworker_hooks_total{result="rejected"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The console's overview counts them too, from the stats bucket (written every 5 s).
	testworld.WaitFor(t, "the overview's hook ingress counts", 20*time.Second, func() bool {
		_, overview := get(t, admin+"/")
		return strings.Contains(overview, `<tr><td>stored</td><td class="n">1</td>`) &&
			strings.Contains(overview, `<tr><td>duplicate</td><td class="n">2</td>`) &&
			strings.Contains(overview, `<tr><td>rejected</td><td class="n">1</td>`)
	})
	if n := strings.Count(w.stderr.String(), `"msg":"hook stored"`); n != 1 {
		t.Errorf("hook stored log lines = %d, want 1", n)
	}
	cfg := waitLog(t, w.stderr, w.done, "config", nil)
	if cfg["SCA_HOOK_SECRET"] != settings.Redacted {
		t.Errorf("config line SCA_HOOK_SECRET = %v, want %s", cfg["SCA_HOOK_SECRET"], settings.Redacted)
	}
	if code := w.stop(t); code != exitOK {
		t.Errorf("exit = %d, want 0", code)
	}
	if strings.Contains(w.stderr.String(), testHookSecret) || strings.Contains(metrics, testHookSecret) {
		t.Errorf("logs or metrics carry the hook secret")
	}
}

// TestClientIPHeaderNeedsTrustedProxies: SCA_HOOK_CLIENT_IP_HEADER without
// SCA_HOOK_TRUSTED_PROXIES would let any client write the header and pass the allowlist:
// run and check refuse it (exit 2, naming SCA_HOOK_TRUSTED_PROXIES).
func TestClientIPHeaderNeedsTrustedProxies(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"MANGOPAY_CLIENT_ID": "client", "MANGOPAY_API_KEY": testAPIKey,
		"SCA_RETURN_URL": "https://platform.example/done", "SCA_HTTP_ADDR": "127.0.0.1:0",
		"SCA_HOOK_ALLOW_CIDRS": "203.0.113.0/24", "SCA_HOOK_CLIENT_IP_HEADER": "X-Forwarded-For",
	}
	for _, cmd := range []string{"run", "check"} {
		code, out, errOut := runSync(t, []string{cmd}, env)
		if code != exitUsage || !strings.Contains(out+errOut, "SCA_HOOK_TRUSTED_PROXIES") {
			t.Errorf("%s with the header and no trusted proxies = %d, want 2 naming SCA_HOOK_TRUSTED_PROXIES; stdout %q stderr %q", cmd, code, out, errOut)
		}
	}
}

// TestRunWarnsOpenIngress: without SCA_HOOK_SECRET and SCA_HOOK_ALLOW_CIDRS, run says at
// start-up that anyone may store hooks; with either it does not.
func TestRunWarnsOpenIngress(t *testing.T) {
	t.Parallel()
	sim := startSim(t)
	env := workerEnv(t, sim)
	w := startWorker(t, env)
	warn := waitLog(t, w.stderr, w.done, hooks.OpenWarning, nil)
	if warn["level"] != "warn" {
		t.Errorf("open ingress log = %v, want level warn", warn)
	}
	waitLog(t, w.stderr, w.done, "ready", nil)
	if code := w.stop(t); code != exitOK {
		t.Errorf("exit = %d, want 0", code)
	}

	env = workerEnv(t, sim)
	env["SCA_HOOK_SECRET"] = testHookSecret
	w = startWorker(t, env)
	waitLog(t, w.stderr, w.done, "ready", nil)
	if code := w.stop(t); code != exitOK {
		t.Errorf("exit = %d, want 0", code)
	}
	if strings.Contains(w.stderr.String(), "open to the world") {
		t.Errorf("run with SCA_HOOK_SECRET warns of an open ingress")
	}
}
