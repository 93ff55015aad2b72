package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/scaworker/scaworker/cmd/scaworker/internal/natsembed"
	"github.com/scaworker/scaworker/cmd/scaworker/internal/settings"
	"github.com/scaworker/scaworker/console"
	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/hooks"
)

// mangopayConfig turns the Mangopay settings into an enroll.Config. It
// reads MANGOPAY_API_KEY_FILE. Problems are returned, each naming its
// setting; the config is usable only when there are none.
// readOnly makes a client that builds no links (operator tools), so
// SCA_RETURN_URL is not required.
func mangopayConfig(m settings.Mangopay, readOnly bool) (enroll.Config, []error) {
	var errs []error
	keyFile := m.APIKeyFile
	if err := m.ReadAPIKey(nil); err != nil {
		errs = append(errs, err)
	}
	rate, err := enroll.ParseRate(m.Rate)
	if err != nil {
		errs = append(errs, fmt.Errorf("SCA_MANGOPAY_RATE: %w", err))
	}
	if m.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("SCA_MANGOPAY_TIMEOUT: must be positive, got %s", m.Timeout))
	}
	retries := m.Retries
	switch {
	case retries < 0 || retries > 20:
		errs = append(errs, fmt.Errorf("SCA_MANGOPAY_RETRIES: must be 0..20, got %d", m.Retries))
	case retries == 0:
		retries = -1 // enroll: 0 means its default; negative means none
	}
	cfg := enroll.Config{
		BaseURL:        m.BaseURL,
		ClientID:       m.ClientID,
		APIKey:         m.APIKey,
		TLSCert:        m.TLSCert,
		TLSKey:         m.TLSKey,
		LinkHosts:      m.LinkHosts,
		ReturnURL:      m.ReturnURL,
		Rate:           rate,
		RequestTimeout: m.Timeout,
		MaxRetries:     retries,
		UserAgent:      readBuildInfo().userAgent(),
		ReadOnly:       readOnly,
		Secrets:        reloadSecrets(m, keyFile),
	}
	if cfg.Rate == (enroll.Rate{}) {
		cfg.Rate = enroll.DefaultRate() // a bad rate is reported once, above
	}
	errs = append(errs, cfg.Validate())
	return cfg, errs
}

// reloadSecrets returns what rereads the Mangopay secrets on SIGHUP and after a 401
// that survives a token refresh: MANGOPAY_API_KEY_FILE when set (MANGOPAY_API_KEY
// cannot change in a running process), and the certificate files of MANGOPAY_TLS_CERT
// and MANGOPAY_TLS_KEY (read again by enroll).
func reloadSecrets(m settings.Mangopay, keyFile string) func() (enroll.Secrets, error) {
	return func() (enroll.Secrets, error) {
		cur := m
		if keyFile != "" {
			cur.APIKey = ""
			if err := cur.ReadAPIKey(nil); err != nil {
				return enroll.Secrets{}, err
			}
		}
		return enroll.Secrets{APIKey: cur.APIKey, TLSCert: m.TLSCert, TLSKey: m.TLSKey}, nil
	}
}

// consumerConfig turns the consumer settings into a consumer.Config.
func consumerConfig(c settings.Consumer) consumer.Config {
	return consumer.Config{
		Stream:       c.Stream,
		LinksStream:  c.LinksStream,
		DLQStream:    c.DLQStream,
		Durable:      c.Durable,
		LedgerBucket: c.LedgerBucket,
		UsersBucket:  c.UsersBucket,
		HooksBucket:  c.HooksBucket,
		OpsBucket:    c.OpsBucket,
		BudgetBucket: c.BudgetBucket,
		Subjects: events.Subjects{
			UserCreated:         c.SubjectUserCreated,
			SessionExpired:      c.SubjectSessionExpired,
			SessionFailed:       c.SubjectSessionFailed,
			EnrollmentSucceeded: c.SubjectEnrollmentSucceeded,
			LinkSend:            c.SubjectLinkSend,
			DLQPrefix:           c.SubjectDLQPrefix,
		},
		EventsMaxAge:    c.EventsMaxAge,
		DLQMaxAge:       c.DLQMaxAge,
		Replicas:        c.Replicas,
		Concurrency:     c.Concurrency,
		MaxAckPending:   c.MaxAckPending,
		AckWait:         c.AckWait,
		AttemptTimeout:  c.AttemptTimeout,
		RetryBudget:     c.RetryBudget,
		RetryDelayMin:   c.RetryDelayMin,
		RetryDelayMax:   c.RetryDelayMax,
		FaultPause:      c.FaultPause,
		FaultPauseMax:   c.FaultPauseMax,
		RecentLink:      c.RecentLink,
		UserCap:         c.UserCap,
		UserCapWindow:   c.UserCapWindow,
		MaxTriggerAge:   c.MaxTriggerAge,
		ShutdownTimeout: c.ShutdownTimeout,
	}
}

// serviceConfig is what `run` and `check` need.
type serviceConfig struct {
	mangopay enroll.Config
	consumer consumer.Config
	nats     settings.NATS
	embedded settings.Embedded // run only
	http     settings.HTTP     // run only
	hooks    hooks.Config      // run only
	// startupTimeout bounds the wait for NATS at start-up (run only; 0: forever).
	startupTimeout time.Duration
	// requireDurable refuses what the durability check would warn about
	// (SCA_REQUIRE_DURABLE).
	requireDurable bool
	// adminAuth holds the console's credentials (SCA_ADMIN_AUTH_FILE); nil
	// without the file.
	adminAuth *console.Auth
	// statsBucket keeps the outcome counters of the console's overview.
	statsBucket string
	// checkpoint is the crash tests' fault injection (see crashEnv).
	checkpoint func(point string)
}

// crashEnv names the fault-injection variable of the crash tests:
// "point:n[,point:n…]" kills the process with SIGKILL the n-th time a
// handler reaches the consumer checkpoint point ("decided", "recorded",
// "published"). Only a binary built with the crashpoints tag reads it
// (crashpoint.go); the release binary ignores it. It is not a setting:
// it is not listed in -h or the README's table.
const crashEnv = "SCAWORKER_CRASH_AT"

// checkServiceConfig validates the settings shared by run and check.
func checkServiceConfig(m settings.Mangopay, n settings.NATS, c settings.Consumer) (serviceConfig, []error) {
	cfg := serviceConfig{consumer: consumerConfig(c), nats: n}
	var errs []error
	cfg.mangopay, errs = mangopayConfig(m, false)
	if err := cfg.consumer.Validate(); err != nil {
		errs = append(errs, err)
	}
	if m.Timeout > 0 && c.AttemptTimeout > 0 && m.Timeout >= c.AttemptTimeout {
		errs = append(errs, fmt.Errorf("SCA_MANGOPAY_TIMEOUT: %s must be shorter than SCA_ATTEMPT_TIMEOUT (%s): one request must fit in one attempt", m.Timeout, c.AttemptTimeout))
	}
	errs = append(errs, checkNATS(n)...)
	return cfg, errs
}

func checkNATS(n settings.NATS) []error {
	var errs []error
	for _, part := range strings.Split(n.URL, ",") {
		part = strings.TrimSpace(part)
		if n.URL == "" {
			break
		}
		if part == "" {
			errs = append(errs, errors.New("NATS_URL: empty entry in the list"))
			continue
		}
		if !strings.Contains(part, "://") {
			part = "nats://" + part
		}
		u, err := url.Parse(part)
		if err != nil || u.Host == "" {
			errs = append(errs, fmt.Errorf("NATS_URL: %q is not a server URL such as nats://host:4222", settings.RedactURLs(part)))
			continue
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			errs = append(errs, fmt.Errorf("NATS_URL: scheme %q: want nats, tls, ws or wss", u.Scheme))
		}
	}
	if (n.TLSCert == "") != (n.TLSKey == "") {
		errs = append(errs, errors.New("NATS_TLS_CERT, NATS_TLS_KEY: set both or neither"))
	}
	if n.URL == "" && (n.Creds != "" || n.TLSCA != "" || n.TLSCert != "") {
		errs = append(errs, errors.New("NATS_URL: empty (embedded server) but NATS_CREDS or NATS_TLS_* are set; set NATS_URL or drop them"))
	}
	return errs
}

// runConfig validates the settings of `run`.
func runConfig(r settings.Run) (serviceConfig, error) {
	cfg, errs := checkServiceConfig(r.Mangopay, r.NATS, r.Consumer)
	cfg.embedded, cfg.http, cfg.requireDurable, cfg.startupTimeout = r.Embedded, r.HTTP, r.Durable.Require, r.StartupTimeout
	if r.StartupTimeout < 0 {
		errs = append(errs, fmt.Errorf("SCA_STARTUP_TIMEOUT: must be 0 (wait forever) or positive, got %s", r.StartupTimeout))
	}
	var hookErrs []error
	cfg.hooks, hookErrs = hooksConfig(r.Hooks, cfg.consumer)
	errs = append(errs, hookErrs...)
	if r.NATS.URL == "" {
		if r.Durable.Require {
			errs = append(errs, errors.New("SCA_REQUIRE_DURABLE: "+embeddedSingleReplica))
		}
		if err := natsembed.ValidateListen(r.Embedded.Listen); err != nil {
			errs = append(errs, err)
		}
		if strings.TrimSpace(r.Embedded.DataDir) == "" {
			errs = append(errs, errors.New("SCA_DATA_DIR: required when NATS_URL is empty"))
		}
	}
	errs = append(errs, checkAddr("SCA_HTTP_ADDR", r.HTTP.Addr))
	if r.HTTP.AdminAddr != "" {
		errs = append(errs, checkAddr("SCA_ADMIN_ADDR", r.HTTP.AdminAddr))
		if _, port, _ := net.SplitHostPort(r.HTTP.Addr); r.HTTP.AdminAddr == r.HTTP.Addr && port != "0" {
			errs = append(errs, errors.New("SCA_ADMIN_ADDR: same as SCA_HTTP_ADDR; leave it empty to serve everything on one listener"))
		}
	}
	var err error
	cfg.adminAuth, err = adminAuth(r.HTTP)
	errs = append(errs, err)
	cfg.statsBucket = r.Consumer.StatsBucket
	return cfg, newConfigError(errs...)
}

// adminAuth reads SCA_ADMIN_AUTH_FILE, required when the console
// (SCA_ADMIN_ADDR) listens on an address other than loopback.
func adminAuth(h settings.HTTP) (*console.Auth, error) {
	if h.AdminAuthFile != "" {
		if h.AdminAddr == "" {
			return nil, errors.New("SCA_ADMIN_AUTH_FILE: set, but SCA_ADMIN_ADDR is empty: the console is served only on SCA_ADMIN_ADDR")
		}
		return console.ReadAuthFile(h.AdminAuthFile)
	}
	if h.AdminAddr != "" && !loopbackAddr(h.AdminAddr) {
		return nil, fmt.Errorf("SCA_ADMIN_AUTH_FILE: required: SCA_ADMIN_ADDR %s is not a loopback address, and the operator console it serves must not be open to the network; give a file of user:password or bearer-token lines, or listen on 127.0.0.1", h.AdminAddr)
	}
	return nil, nil
}

// loopbackAddr reports whether host:port addr listens on loopback only
// (an empty host listens everywhere).
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return strings.EqualFold(host, "localhost") || (ip != nil && ip.IsLoopback())
}

func checkAddr(setting, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: %q: want host:port, e.g. :8080 or 127.0.0.1:0", setting, addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%s: %q: port must be 0..65535", setting, addr)
	}
	return nil
}
