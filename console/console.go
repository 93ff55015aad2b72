package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/ops/audit"
	"github.com/scaworker/scaworker/ops/dlq"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// DefaultStatsBucket is the default of [Config.StatsBucket] (SCA_STATS_BUCKET).
const DefaultStatsBucket = "sca_stats"

// DefaultPageSize is the records a list shows at once.
const DefaultPageSize = 25

// Config configures the console.
type Config struct {
	// Layout names the streams, buckets and subjects (consumer defaults
	// for zero fields).
	Layout consumer.Config
	// Audit names the audit stream.
	Audit audit.Config
	// StatsBucket is the bucket of the outcome counters (SCA_STATS_BUCKET);
	// default "sca_stats".
	StatsBucket string
	// Rate is the Mangopay budget of the whole deployment (SCA_MANGOPAY_RATE).
	Rate enroll.Rate
	// Write enables the actions (SCA_ADMIN_WRITE); otherwise the console
	// is read-only and refuses them.
	Write bool
	// Auth, when set, is required on every request (SCA_ADMIN_AUTH_FILE).
	Auth *Auth
	// PageSize is the records a list shows (and loads) at once; default
	// [DefaultPageSize], at most 100.
	PageSize int
	// Status reports this process's state; nil when the console runs
	// without a worker.
	Status func() Status
	// Refresh is how often the overview reloads itself; default 10s.
	Refresh time.Duration
	// Log receives request failures; nil discards them.
	Log *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Status is the state of the worker process serving the console.
type Status struct {
	// Replica names this process (as in the budget and the stats bucket).
	Replica string
	// Fault is the deployment-wide fault that paused consumption, "" when
	// none (consumer.Consumer.Ready).
	Fault string
	// BlockedUntil is when the Mangopay rate-limit pause ends; zero when
	// not paused (enroll.Governor.BlockedUntil).
	BlockedUntil time.Time
	// Windows are Mangopay's rate-limit windows as its last answer told
	// them (enroll.Governor.Windows): Mangopay counts the whole account.
	Windows []enroll.Window
}

// Console is the operator console: an http.Handler of server-rendered
// pages on the deployment's NATS.
type Console struct {
	js    jetstream.JetStream
	cfg   Config
	tmpl  map[string]*template.Template
	csrf  *csrf
	dlq   *dlq.Tools
	audit *audit.Log
	log   *zap.Logger
	mux   *http.ServeMux
}

// New returns the console of the deployment js belongs to.
func New(js jetstream.JetStream, cfg Config) (*Console, error) {
	cfg.Layout = cfg.Layout.Defaults()
	if cfg.StatsBucket == "" {
		cfg.StatsBucket = DefaultStatsBucket
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	cfg.PageSize = min(cfg.PageSize, 100)
	if cfg.Refresh <= 0 {
		cfg.Refresh = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	al, err := audit.New(js, cfg.Audit)
	if err != nil {
		return nil, err
	}
	c := &Console{
		js: js, cfg: cfg, csrf: newCSRF(), audit: al, log: cfg.Log.Named("console"),
		dlq: dlq.New(js, dlq.Config{Layout: cfg.Layout, Log: cfg.Log.Named("audit"), Now: cfg.Now}),
	}
	if c.tmpl, err = parseTemplates(); err != nil {
		return nil, err
	}
	static, _ := fs.Sub(staticFS, "static")
	m := http.NewServeMux()
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /{$}", c.overview)
	m.HandleFunc("GET /trigger", c.trigger)
	m.HandleFunc("GET /dlq", c.dlqList)
	m.HandleFunc("GET /dlq/{seq}", c.dlqShow)
	m.HandleFunc("GET /dlq/redrive", c.redrivePreview)
	m.HandleFunc("POST /dlq/redrive", c.redrive)
	m.HandleFunc("GET /dlq/purge", c.purgePreview)
	m.HandleFunc("POST /dlq/purge", c.purge)
	m.HandleFunc("GET /audit", c.auditList)
	c.mux = m
	return c, nil
}

// ServeHTTP serves the console: authentication first (when configured),
// then the pages. No page sets a cookie or caches.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if c.cfg.Auth != nil {
		user, ok := c.cfg.Auth.check(r)
		if !ok {
			h.Set("WWW-Authenticate", `Basic realm="scaworker console", charset="UTF-8"`)
			http.Error(w, "authentication required (SCA_ADMIN_AUTH_FILE)", http.StatusUnauthorized)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), userKey{}, user))
	}
	c.mux.ServeHTTP(w, r)
}

type userKey struct{}

// authUser is the basic-auth user of r ("" without one).
func authUser(r *http.Request) string {
	u, _ := r.Context().Value(userKey{}).(string)
	return u
}

func parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.UTC().Format("2006-01-02 15:04:05Z")
		},
		"join":   strings.Join,
		"window": enroll.WindowLabel,
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return m
		},
	}
	pages, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", p)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// page is what every page template gets.
type page struct {
	Title   string
	Nav     string
	Write   bool
	Refresh int // seconds; 0: none
	CSRF    string
	Data    any
}

// render writes page name with status.
func (c *Console) render(w http.ResponseWriter, status int, name, title string, data any) {
	p := page{Title: title, Nav: name, Write: c.cfg.Write, CSRF: c.csrf.token, Data: data}
	if name == "overview" {
		p.Refresh = int(c.cfg.Refresh / time.Second)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.tmpl[name].ExecuteTemplate(w, "layout.html", p); err != nil {
		c.log.Warn("render page", zap.String("page", name), zap.Error(err))
	}
}

// fail shows an error page; err's text never holds a secret (the tools'
// errors name settings and ids only).
func (c *Console) fail(w http.ResponseWriter, status int, msg string, err error) {
	if err != nil {
		c.log.Warn("console request failed", zap.String("what", msg), zap.Error(err))
		if !errors.Is(err, context.Canceled) {
			msg += ": " + err.Error()
		}
	}
	c.render(w, status, "error", "Error", msg)
}

// ctx bounds one page's NATS work.
func (c *Console) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}
