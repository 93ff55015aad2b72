package console_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scaworker/scaworker/console"
	"github.com/scaworker/scaworker/consumer"
	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/hooks"
	"github.com/scaworker/scaworker/internal/testworld"
	"github.com/scaworker/scaworker/mangosim"
	"github.com/scaworker/scaworker/ops/audit"
)

// hostile is a user id a producer may send: it must show as text.
const hostile = `<script>alert("x")</script>`

// bundle is a world with a few decided triggers and its console.
type bundle struct {
	w     *testworld.World
	c     *console.Console
	stats *console.Stats
	// linked is a trigger with a link, dead a dead-lettered one (its DLQ
	// seq in deadSeq), and bad an invalid one with a hostile user id.
	deadSeq, badSeq uint64
}

func setup(t *testing.T, cfg console.Config) *bundle {
	t.Helper()
	w := testworld.New(t, testworld.Options{})
	w.UserCreated("e-link", mangosim.UserOwnerNatural, map[string]any{"category": "OWNER"})
	w.UserCreated("e-dead", mangosim.UserOwnerLegalNoRep, map[string]any{"category": "OWNER", "person_type": "LEGAL"})
	w.Publish(events.DefaultSubjects().UserCreated,
		testworld.CloudEvent(events.TypeUserCreated, "/users", "e-bad", map[string]any{"user_id": hostile}), "e-bad")
	for _, id := range []string{"e-link", "e-dead"} {
		w.OutcomeFor(id)
	}
	w.WaitOutcome("the invalid event", func(o consumer.Outcome) bool { return o.Reason == events.ReasonInvalidEvent })
	w.Settled()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := console.StatsBucket(ctx, w.JS, "sca_stats", 1)
	if err != nil {
		t.Fatal(err)
	}
	st := console.NewStats(kv, "replica-a", nil)
	for _, o := range w.Outcomes() {
		st.Record(o)
	}
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.Layout = w.Config
	if cfg.Rate.N == 0 {
		cfg.Rate = enroll.Rate{N: 1500, Per: 15 * time.Minute}
	}
	c, err := console.New(w.JS, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{w: w, c: c, stats: st}
	for i, d := range w.DeadLetters() {
		if d.EventID == "e-dead" {
			b.deadSeq = uint64(i + 1)
		}
		if d.EventID == "e-bad" {
			b.badSeq = uint64(i + 1)
		}
	}
	if b.deadSeq == 0 || b.badSeq == 0 {
		t.Fatalf("dead letters = %+v, want e-dead and e-bad", w.DeadLetters())
	}
	return b
}

// get requests path and returns status and body.
func (b *bundle) get(t *testing.T, path string, mod ...func(*http.Request)) (int, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for _, m := range mod {
		m(r)
	}
	rec := httptest.NewRecorder()
	b.c.ServeHTTP(rec, r)
	return rec.Code, rec.Body.String()
}

// post sends form to path as the console's own page would.
func (b *bundle) post(t *testing.T, path string, form url.Values, mod ...func(*http.Request)) (int, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", "http://"+r.Host)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	for _, m := range mod {
		m(r)
	}
	rec := httptest.NewRecorder()
	b.c.ServeHTTP(rec, r)
	return rec.Code, rec.Body.String()
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf is the token of a confirmation page.
func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	return m[1]
}

func want(t *testing.T, what, body string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(body, p) {
			t.Errorf("%s lacks %q", what, p)
		}
	}
}

func wantNot(t *testing.T, what, body string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if strings.Contains(body, p) {
			t.Errorf("%s contains %q", what, p)
		}
	}
}

// noSecrets checks a page for the link, its token and the API key.
func (b *bundle) noSecrets(t *testing.T, what, body string) {
	t.Helper()
	for _, l := range b.w.Links() {
		u, err := url.Parse(l.RedirectURL)
		if err != nil {
			t.Fatal(err)
		}
		wantNot(t, what, body, l.RedirectURL, u.RawQuery)
		if tok := u.Query().Get("token"); tok != "" {
			wantNot(t, what, body, tok)
		}
	}
	wantNot(t, what, body, b.w.Sim.APIKey())
}

func TestOverview(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{Status: func() console.Status {
		return console.Status{Replica: "replica-a", Fault: "nats: <b>down</b>", Windows: []enroll.Window{{Used: 7, Remaining: 2293, Reset: time.Now().Add(time.Minute)}}}
	}})
	code, body := b.get(t, "/")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	want(t, "overview", body,
		`id="lag">0<`, "faulted", "nats: &lt;b&gt;down&lt;/b&gt;", "replica-a",
		"1500/15m", "2293 remaining", "Last hour", "Last 24 hours",
		"<td>user.created</td><td>link</td><td></td><td class=\"n\">1</td>",
		"<td>missing_legal_representative_email</td>", `data-refresh="10"`, "/static/refresh.js", "read-only")
	wantNot(t, "overview", body, "<b>down</b>")
	b.noSecrets(t, "overview", body)
}

// TestOverviewHookIngress: the webhook requests by result, summed over the
// processes' keys, for the last hour and day; a result no ingress writes
// (a hostile key) shows as text.
func TestOverviewHookIngress(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := console.StatsBucket(ctx, b.w.JS, "sca_stats", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{hooks.ResultStored, hooks.ResultStored, hooks.ResultDuplicate, hostile} {
		b.stats.RecordHook(r)
	}
	clock := time.Now().Add(-3 * time.Hour)
	other := console.NewStats(kv, "replica-b", func() time.Time { return clock })
	for _, r := range []string{hooks.ResultStored, hooks.ResultStored, hooks.ResultStored, hooks.ResultStored, hooks.ResultStored, hooks.ResultRateLimited} {
		other.RecordHook(r)
	}
	clock = time.Now()
	for _, r := range []string{hooks.ResultStored, hooks.ResultRejected, hooks.ResultRejected, hooks.ResultRejected, hooks.ResultRejected} {
		other.RecordHook(r)
	}
	for _, s := range []*console.Stats{b.stats, other} {
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	code, body := b.get(t, "/")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	row := func(result string, hour, day int) string {
		return "<tr><td>" + result + `</td><td class="n">` + strconv.Itoa(hour) + `</td><td class="n">` + strconv.Itoa(day) + "</td></tr>"
	}
	want(t, "overview", body, "Mangopay hook ingress",
		row(hooks.ResultStored, 3, 8), row(hooks.ResultDuplicate, 1, 1), row(hooks.ResultIgnored, 0, 0),
		row(hooks.ResultRejected, 4, 4), row(hooks.ResultUnavailable, 0, 0), row(hooks.ResultRateLimited, 0, 1),
		row(html.EscapeString(hostile), 1, 1), "replica-a, replica-b")
	wantNot(t, "overview", body, "<script>alert")
}

func TestTriggerLookupByEventID(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{})
	var e consumer.LedgerEntry
	if !b.w.LedgerEntry("/users", "e-link", &e) {
		t.Fatal("no ledger entry for e-link")
	}
	// The source comes from the sources the workers saw.
	code, body := b.get(t, "/trigger?q=e-link")
	if code != http.StatusOK {
		t.Fatalf("lookup = %d", code)
	}
	want(t, "lookup", body, "<b>e-link</b>", "<b>link</b>", e.LinkID, mangosim.UserOwnerNatural,
		"Stream sequence</dt><dd>"+strconv.FormatUint(e.StreamSeq, 10))
	b.noSecrets(t, "lookup", body)

	code, body = b.get(t, "/trigger?q=e-dead&source=%2Fusers")
	if code != http.StatusOK {
		t.Fatalf("lookup = %d", code)
	}
	want(t, "lookup of a dead letter", body, "<b>dlq</b> / missing_legal_representative_email")

	code, body = b.get(t, "/trigger?q=no-such-id")
	if code != http.StatusOK {
		t.Fatalf("lookup = %d", code)
	}
	want(t, "lookup of nothing", body, "No trigger with this id")
}

func TestTriggerLookupByUser(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{})
	code, body := b.get(t, "/trigger?q="+mangosim.UserOwnerLegalNoRep)
	if code != http.StatusOK {
		t.Fatalf("lookup = %d", code)
	}
	want(t, "user lookup", body, "User "+mangosim.UserOwnerLegalNoRep, "Dead letters of this user",
		`href="/dlq/`+strconv.FormatUint(b.deadSeq, 10)+`"`)

	code, body = b.get(t, "/trigger?q="+mangosim.UserOwnerNatural)
	if code != http.StatusOK {
		t.Fatalf("lookup = %d", code)
	}
	want(t, "user with a link", body, "Triggers that claimed a link", "<b>e-link</b>")
	b.noSecrets(t, "user lookup", body)
}

func TestHostileFieldsAreEscaped(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{Write: true})
	escaped := "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
	for _, path := range []string{"/dlq", "/dlq/" + strconv.FormatUint(b.badSeq, 10), "/dlq/purge?seq=" + strconv.FormatUint(b.badSeq, 10)} {
		code, body := b.get(t, path)
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d", path, code)
		}
		wantNot(t, path, body, "<script>alert")
		if path != "/dlq/purge?seq="+strconv.FormatUint(b.badSeq, 10) {
			want(t, path, body, escaped)
		}
	}
	// A query echoed back is escaped too.
	code, body := b.get(t, "/trigger?q="+url.QueryEscape(hostile))
	if code != http.StatusOK {
		t.Fatalf("lookup = %d", code)
	}
	wantNot(t, "lookup", body, "<script>alert")
	want(t, "lookup", body, escaped)
}

func TestDeadLetters(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{PageSize: 1})
	code, body := b.get(t, "/dlq")
	if code != http.StatusOK {
		t.Fatalf("GET /dlq = %d", code)
	}
	// A page of one: the newest record, and a link to the older one.
	newest, oldest := strconv.FormatUint(max(b.deadSeq, b.badSeq), 10), strconv.FormatUint(min(b.deadSeq, b.badSeq), 10)
	want(t, "first page", body, `href="/dlq/`+newest+`"`, "Older records")
	wantNot(t, "first page", body, `href="/dlq/`+oldest+`"`, "Redrive the selection")
	next := regexp.MustCompile(`href="(/dlq\?[^"]*until=[^"]*)"`).FindStringSubmatch(body)
	if next == nil {
		t.Fatalf("no next page link:\n%s", body)
	}
	code, body = b.get(t, strings.ReplaceAll(next[1], "&amp;", "&"))
	if code != http.StatusOK {
		t.Fatalf("next page = %d", code)
	}
	want(t, "second page", body, `href="/dlq/`+oldest+`"`)
	wantNot(t, "second page", body, `href="/dlq/`+newest+`"`)

	code, body = b.get(t, "/dlq?reason=missing_legal_representative_email")
	if code != http.StatusOK {
		t.Fatalf("filter = %d", code)
	}
	want(t, "filtered", body, `href="/dlq/`+strconv.FormatUint(b.deadSeq, 10)+`"`)
	code, body = b.get(t, "/dlq?user=bad%20user")
	if code != http.StatusBadRequest {
		t.Errorf("bad user filter = %d, want 400", code)
	}
	want(t, "bad filter", body, "not a Mangopay user id")

	code, body = b.get(t, "/dlq/"+strconv.FormatUint(b.deadSeq, 10))
	if code != http.StatusOK {
		t.Fatalf("show = %d", code)
	}
	want(t, "detail", body, "missing_legal_representative_email", "e-dead", "Attempts", "Original event", `&#34;person_type&#34;:&#34;LEGAL&#34;`)
	wantNot(t, "read-only detail", body, "Redrive…")
	if code, _ := b.get(t, "/dlq/999"); code != http.StatusNotFound {
		t.Errorf("show of a missing record = %d, want 404", code)
	}
}

func TestReadOnlyRefusesActions(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{})
	seq := strconv.FormatUint(b.deadSeq, 10)
	for _, path := range []string{"/dlq/redrive?seq=" + seq, "/dlq/purge?seq=" + seq} {
		code, body := b.get(t, path)
		if code != http.StatusForbidden {
			t.Errorf("GET %s = %d, want 403", path, code)
		}
		want(t, path, body, "SCA_ADMIN_WRITE=true")
	}
	for _, path := range []string{"/dlq/redrive", "/dlq/purge"} {
		code, _ := b.post(t, path, url.Values{"seq": {seq}, "operator": {"ada"}, "until": {time.Now().Format(time.RFC3339)}})
		if code != http.StatusForbidden {
			t.Errorf("POST %s = %d, want 403", path, code)
		}
	}
	if n := b.w.StreamMsgs(b.w.Config.Defaults().DLQStream); n != 2 {
		t.Errorf("dead letters = %d, want 2 (nothing purged)", n)
	}
}

func TestRedriveAfterConfirmation(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{Write: true})
	seq := strconv.FormatUint(b.deadSeq, 10)
	code, body := b.get(t, "/dlq/redrive?seq="+seq)
	if code != http.StatusOK {
		t.Fatalf("dry run = %d:\n%s", code, body)
	}
	want(t, "dry run", body, "Nothing has changed yet", "would redrive", "e-dead.redrive-1", `name="seq" value="`+seq+`"`)
	token := csrfOf(t, body)
	// The dry run published nothing.
	if _, ok := lookupEntry(b, "e-dead.redrive-1"); ok {
		t.Fatal("the dry run redrove")
	}

	form := url.Values{"seq": {seq}, "operator": {"ada"}}
	if code, body := b.post(t, "/dlq/redrive", form); code != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Errorf("POST without token = %d, want 403 naming CSRF", code)
	}
	form.Set("csrf", "forged")
	if code, _ := b.post(t, "/dlq/redrive", form); code != http.StatusForbidden {
		t.Errorf("POST with a wrong token = %d, want 403", code)
	}
	form.Set("csrf", token)
	if code, _ := b.post(t, "/dlq/redrive", form, func(r *http.Request) {
		r.Header.Set("Origin", "https://evil.example")
		r.Header.Set("Sec-Fetch-Site", "cross-site")
	}); code != http.StatusForbidden {
		t.Errorf("cross-origin POST = %d, want 403", code)
	}
	form.Del("operator")
	if code, body := b.post(t, "/dlq/redrive", form); code != http.StatusBadRequest || !strings.Contains(body, "operator") {
		t.Errorf("POST without operator = %d, want 400 naming the operator", code)
	}
	if _, ok := lookupEntry(b, "e-dead.redrive-1"); ok {
		t.Fatal("a refused POST redrove")
	}

	form.Set("operator", "ada")
	code, body = b.post(t, "/dlq/redrive", form)
	if code != http.StatusOK {
		t.Fatalf("redrive = %d:\n%s", code, body)
	}
	want(t, "result", body, "Redriven", "redriven", "e-dead.redrive-1", "Done by <b>ada</b>")
	// The worker decides the copy (the simulator still refuses the user).
	b.w.OutcomeFor("e-dead.redrive-1")

	code, body = b.get(t, "/audit")
	if code != http.StatusOK {
		t.Fatalf("audit = %d", code)
	}
	want(t, "audit", body, "<td>ada</td><td>dlq redrive</td>", "via=console", "seq="+seq, "redriven=1")
	code, body = b.get(t, "/dlq/"+seq)
	if code != http.StatusOK {
		t.Fatalf("show = %d", code)
	}
	want(t, "detail after", body, "redriven 1", "e-dead.redrive-1")
}

func lookupEntry(b *bundle, id string) (consumer.LedgerEntry, bool) {
	var e consumer.LedgerEntry
	ok := b.w.LedgerEntry("/users", id, &e)
	return e, ok
}

func TestPurgeAfterConfirmation(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{Write: true})
	// Without a filter the list offers the actions on every record.
	_, body := b.get(t, "/dlq")
	want(t, "list", body, `href="/dlq/purge?all=true"`, `href="/dlq/redrive?all=true"`)
	code, body := b.get(t, "/dlq/purge?all=true")
	if code != http.StatusOK {
		t.Fatalf("dry run of all = %d:\n%s", code, body)
	}
	want(t, "dry run of all", body, "2 selected", `name="all" value="true"`)

	code, body = b.get(t, "/dlq/purge?reason=invalid_event")
	if code != http.StatusOK {
		t.Fatalf("dry run = %d:\n%s", code, body)
	}
	want(t, "dry run", body, "Nothing has changed yet", "1 selected", `name="until"`)
	if n := b.w.StreamMsgs(b.w.Config.Defaults().DLQStream); n != 2 {
		t.Fatalf("dead letters after the dry run = %d, want 2", n)
	}
	until := regexp.MustCompile(`name="until" value="([^"]+)"`).FindStringSubmatch(body)[1]
	form := url.Values{"reason": {"invalid_event"}, "until": {until}, "operator": {"grace"}, "csrf": {csrfOf(t, body)}}
	code, body = b.post(t, "/dlq/purge", form)
	if code != http.StatusOK {
		t.Fatalf("purge = %d:\n%s", code, body)
	}
	want(t, "result", body, "Purged", "1 deleted", "Done by <b>grace</b>")
	if n := b.w.StreamMsgs(b.w.Config.Defaults().DLQStream); n != 1 {
		t.Errorf("dead letters after the purge = %d, want 1", n)
	}
	_, body = b.get(t, "/audit?command=dlq+purge")
	want(t, "audit", body, "<td>grace</td><td>dlq purge</td>", "reason=invalid_event", "deleted=1")
}

func TestAuth(t *testing.T) {
	t.Parallel()
	auth, err := console.ParseAuth([]byte("# operators\nada:s3cret-pass\n0123456789abcdef0123\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, console.Config{Write: true, Auth: auth})
	basic := func(u, p string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(u, p) }
	}
	for name, mod := range map[string]func(*http.Request){
		"none":         func(*http.Request) {},
		"wrong":        basic("ada", "nope"),
		"unknown user": basic("bob", "s3cret-pass"),
		"wrong bearer": func(r *http.Request) { r.Header.Set("Authorization", "Bearer 0123456789abcdef0124") },
	} {
		code, body := b.get(t, "/", mod)
		if code != http.StatusUnauthorized {
			t.Errorf("%s: GET / = %d, want 401", name, code)
		}
		wantNot(t, name, body, "Overview")
	}
	if code, _ := b.get(t, "/static/console.css"); code != http.StatusUnauthorized {
		t.Errorf("static without credentials = %d, want 401", code)
	}
	if code, _ := b.get(t, "/", func(r *http.Request) { r.Header.Set("Authorization", "Bearer 0123456789abcdef0123") }); code != http.StatusOK {
		t.Errorf("bearer: GET / = %d, want 200", code)
	}
	// With basic auth the operator is the user: the form asks no name.
	seq := strconv.FormatUint(b.deadSeq, 10)
	code, body := b.get(t, "/dlq/purge?seq="+seq, basic("ada", "s3cret-pass"))
	if code != http.StatusOK {
		t.Fatalf("dry run = %d", code)
	}
	want(t, "dry run", body, "Operator: <b>ada</b>")
	wantNot(t, "dry run", body, `name="operator"`)
	until := regexp.MustCompile(`name="until" value="([^"]+)"`).FindStringSubmatch(body)[1]
	form := url.Values{"seq": {seq}, "until": {until}, "operator": {"mallory"}, "csrf": {csrfOf(t, body)}}
	code, _ = b.post(t, "/dlq/purge", form, basic("ada", "s3cret-pass"))
	if code != http.StatusOK {
		t.Fatalf("purge = %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := audit.New(b.w.JS, audit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	page, err := l.Read(ctx, audit.Query{Limit: 1})
	if err != nil || len(page.Records) != 1 {
		t.Fatalf("audit = %+v, %v", page, err)
	}
	if got := page.Records[0].Operator; got != "ada" {
		t.Errorf("audit operator = %q, want the authenticated ada", got)
	}
}

func TestParseAuth(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "# only a comment\n", "ada:\n", ":pw\n", "short-token\n"} {
		_, err := console.ParseAuth([]byte(bad))
		if err == nil {
			t.Errorf("ParseAuth(%q) = nil, want an error", bad)
			continue
		}
		if !strings.Contains(err.Error(), "SCA_ADMIN_AUTH_FILE") || (strings.TrimSpace(bad) != "" && strings.Contains(err.Error(), strings.TrimSpace(bad))) {
			t.Errorf("ParseAuth(%q) = %v: want the setting named and the content left out", bad, err)
		}
	}
}

func TestAuditPages(t *testing.T) {
	t.Parallel()
	js := testworld.JetStream(t)
	l, err := audit.New(js, audit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 7 {
		if _, err := l.Write(ctx, audit.Record{Operator: "op" + strconv.Itoa(i), Command: audit.CommandDLQPurge, Selection: map[string]string{"reason": "<i>x</i>"}}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := console.New(js, console.Config{PageSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	defer srv.Close()
	get := func(path string) string {
		res, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", path, res.StatusCode)
		}
		return string(b)
	}
	body := get("/audit")
	want(t, "page 1", body, "<td>op6</td>", "<td>op2</td>", `href="/audit?before=3"`, "reason=&lt;i&gt;x&lt;/i&gt;")
	wantNot(t, "page 1", body, "<td>op1</td>", "<i>x</i>")
	body = get("/audit?before=3")
	want(t, "page 2", body, "<td>op1</td>", "<td>op0</td>")
	wantNot(t, "page 2", body, "Older records", "<td>op2</td>")
	// The overview of a deployment without a worker still answers.
	body = get("/")
	want(t, "overview", body, "no worker in this process")
	css := get("/static/console.css")
	want(t, "css", css, "--acc")

	// A worker paused for Mangopay's rate limit says until when.
	until := time.Date(2026, 12, 5, 16, 30, 0, 0, time.UTC)
	paused, err := console.New(js, console.Config{Status: func() console.Status {
		return console.Status{Replica: "r1", BlockedUntil: until}
	}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	paused.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	want(t, "paused overview", rec.Body.String(), "paused", "Mangopay rate limit until 2026-12-05 16:30:00Z")
}

func TestStatsSumsReplicasAndForgetsOldSlots(t *testing.T) {
	t.Parallel()
	js := testworld.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := console.StatsBucket(ctx, js, "sca_stats", 1)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	clock := now.Add(-3 * time.Hour)
	a := console.NewStats(kv, "host-a.1", func() time.Time { return clock })
	a.Record(consumer.Outcome{Type: events.TypeUserCreated, Outcome: events.OutcomeLink, Source: "/users"})
	clock = now.Add(-10 * time.Minute)
	a.Record(consumer.Outcome{Type: events.TypeUserCreated, Outcome: events.OutcomeLink, Source: "/users"})
	a.Record(consumer.Outcome{Type: events.TypeSessionExpired, Outcome: events.OutcomeSkip, Reason: events.ReasonUserCap, Source: "mangopay"})
	b := console.NewStats(kv, "host-b", func() time.Time { return clock })
	b.Record(consumer.Outcome{Type: events.TypeUserCreated, Outcome: events.OutcomeLink})
	clock = now.Add(-5 * time.Second) // the flush is the heartbeat
	for _, s := range []*console.Stats{a, b} {
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ov, err := console.ReadStats(ctx, kv, now)
	if err != nil {
		t.Fatal(err)
	}
	if ov.Hour.Total != 3 || ov.Day.Total != 4 {
		t.Errorf("hour, day = %d, %d, want 3, 4", ov.Hour.Total, ov.Day.Total)
	}
	if got := strings.Join(ov.Replicas, ","); got != "host-a.1,host-b" {
		t.Errorf("replicas = %s, want both", got)
	}
	if got := strings.Join(ov.Sources, ","); got != "/users,mangopay" {
		t.Errorf("sources = %s", got)
	}
	// A day later only what was written since counts.
	ov, err = console.ReadStats(ctx, kv, now.Add(25*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if ov.Day.Total != 0 || len(ov.Replicas) != 0 {
		t.Errorf("a day later: day = %d, replicas = %v, want none", ov.Day.Total, ov.Replicas)
	}
}
