package mangosim

import (
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event is one item of GET /events.
type Event struct {
	ResourceID string
	EventType  string
	Date       time.Time
}

// Call is one request the simulator received.
type Call struct {
	Method         string
	Path           string // r.URL.Path
	IdempotencyKey string // "" when absent
	// Status answered; for a dropped or abandoned call that was executed, the status it
	// would have had; 0 when the client left during Latency or a hold and nothing was
	// executed.
	Status    int
	At        time.Time
	Dropped   bool // the connection was closed without an answer (DropAfterCommit)
	Abandoned bool // the client hung up during Latency or a hold (executed only with CommitAbandoned)
	// Link is the RedirectUrl an enrollment POST minted ("" for every other call), so a
	// test can tell which call a published link came from.
	Link string
}

// Sim is the simulated Mangopay API. It is an http.Handler and is safe for concurrent use.
type Sim struct {
	opts Options
	stop chan struct{}
	once sync.Once

	mu       sync.Mutex
	inflight map[*http.Request]struct{} // requests being served, Latency waits included
	held     chan struct{}              // closed to release the enrollments held by HoldEnrollments
	users    map[string]*userState
	tokens   map[string]time.Time // access token -> expiry
	issued   int
	minted   []string // every access token issued, for tests that scan logs for secrets
	keys     map[string]*stored
	pruneAt  time.Time // the next time pruneKeys looks at keys
	events   []Event
	calls    []Call
	faults   Faults
	limiter  *limiter
	rnd      *rand.Rand
}

type userState struct {
	User
	created        time.Time
	lastEnrollment time.Time
}

// stored is the first answer given for an Idempotency-Key.
type stored struct {
	at         time.Time
	requestURL string
	reply      reply
	shape      StoredShape // how GET /responses renders it
	hidden     int         // reads left that answer 404 (StoredInFlight)
}

// reply is an answer computed under the lock and written after it.
type reply struct {
	status      int
	contentType string
	body        []byte
	header      http.Header // extra headers (pagination)
	link        string      // the RedirectUrl an enrollment minted
}

// New returns a simulator configured by opts (zero fields take defaults, see [Options]).
func New(opts Options) *Sim {
	opts = opts.withDefaults()
	s := &Sim{
		opts:     opts,
		stop:     make(chan struct{}),
		users:    make(map[string]*userState),
		tokens:   make(map[string]time.Time),
		keys:     make(map[string]*stored),
		inflight: make(map[*http.Request]struct{}),
		limiter:  newLimiter(opts.Windows),
		rnd:      rand.New(rand.NewPCG(opts.Seed, 0x5ca5ca)),
	}
	for _, u := range opts.Users {
		s.AddUser(u)
	}
	return s
}

// ClientID returns the ClientId the simulator expects.
func (s *Sim) ClientID() string { return s.opts.ClientID }

// APIKey returns the API key the simulator expects.
func (s *Sim) APIKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.APIKey
}

// SetAPIKey changes the API key the simulator expects from now on, as a key rotation in
// Mangopay's Dashboard does: the token call with the old key answers 401 invalid_client.
// Tokens issued before stay valid until they expire (revoke them with
// [Faults.RevokeTokens]).
func (s *Sim) SetAPIKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.APIKey = key
}

// AddUser adds u, or replaces the user with the same ID.
func (s *Sim) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &userState{User: u, created: s.opts.Now()}
	if u.Enrolled {
		st.lastEnrollment = st.created
	}
	s.users[u.ID] = st
}

// User returns the current state of the user id.
func (s *Sim) User(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return User{}, false
	}
	return u.User, true
}

// CompleteEnrollment simulates the user finishing the SCA session: Enrolled and Triggered
// become true, UserStatus ACTIVE, LastEnrollmentDate now, and an SCA_ENROLLMENT_SUCCEEDED
// event is added. Unknown ids are ignored.
func (s *Sim) CompleteEnrollment(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return
	}
	now := s.opts.Now()
	u.Enrolled, u.Triggered, u.Status, u.lastEnrollment = true, true, StatusActive, now
	s.events = append(s.events, Event{ResourceID: id, EventType: "SCA_ENROLLMENT_SUCCEEDED", Date: now})
}

// AddEvent adds an event listed by GET /events.
func (s *Sim) AddEvent(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

// SetFaults replaces the injected faults (see [Faults] for RevokeTokens, an action).
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.RevokeTokens {
		clear(s.tokens)
		f.RevokeTokens = false
	}
	switch {
	case f.HoldEnrollments && s.held == nil:
		s.held = make(chan struct{})
	case !f.HoldEnrollments && s.held != nil:
		close(s.held) // release the held calls
		s.held = nil
	}
	s.faults = f
}

// Faults returns the faults in force (counters as decremented so far).
func (s *Sim) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Calls returns a copy of every call recorded since start or the last [Sim.ResetCalls].
func (s *Sim) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Count returns how many recorded calls have method (any when "") and a path ending with
// pathSuffix, e.g. Count("POST", "/enrollment").
func (s *Sim) Count(method, pathSuffix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if (method == "" || c.Method == method) && strings.HasSuffix(c.Path, pathSuffix) {
			n++
		}
	}
	return n
}

// InFlight returns how many requests with method (any when "") and a path ending with
// pathSuffix are being served right now (waiting out [Faults].Latency included), e.g.
// InFlight("POST", "/enrollment").
func (s *Sim) InFlight(method, pathSuffix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for r := range s.inflight {
		if (method == "" || r.Method == method) && strings.HasSuffix(r.URL.Path, pathSuffix) {
			n++
		}
	}
	return n
}

// ResetCalls forgets the recorded calls.
func (s *Sim) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// Tokens returns the number of access tokens issued so far.
func (s *Sim) Tokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// AccessTokens returns every access token issued so far, expired ones included (tests
// check that none reaches a log line).
func (s *Sim) AccessTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.minted...)
}

// shutdown ends pending Latency waits (used by [Server.Close]).
func (s *Sim) shutdown() { s.once.Do(func() { close(s.stop) }) }

// ServeHTTP answers like Mangopay's API (see the package documentation).
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, AdminPrefix) {
		s.serveAdmin(w, r)
		return
	}
	s.mu.Lock()
	s.inflight[r] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.inflight, r)
		s.mu.Unlock()
	}()
	call := Call{Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key"), At: s.opts.Now()}
	if !s.wait(r) {
		call.Abandoned = true
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.faults.CommitAbandoned {
			rp, _, _ := s.handle(r)
			call.Status, call.Link = rp.status, rp.link
		}
		s.calls = append(s.calls, call)
		return
	}

	s.mu.Lock()
	rp, rate, drop := s.handle(r)
	call.Status, call.Dropped, call.Link = rp.status, drop, rp.link
	s.calls = append(s.calls, call)
	s.mu.Unlock()

	if drop {
		dropConn(w)
		return
	}
	h := w.Header()
	addRateHeaders(h, rate)
	for k, vs := range rp.header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	h.Set("Content-Type", rp.contentType)
	h.Set("Content-Length", strconv.Itoa(len(rp.body)))
	w.WriteHeader(rp.status)
	_, _ = w.Write(rp.body)
}

// wait waits out Latency, then, for an enrollment POST, a hold (HoldEnrollments). It
// reports false when the client hung up meanwhile; the server closing ends the waits early.
func (s *Sim) wait(r *http.Request) bool {
	if d := s.Faults().Latency; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		case <-s.stop:
			return true
		}
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/enrollment") {
		return true
	}
	s.mu.Lock()
	held := s.held
	s.mu.Unlock()
	if held == nil {
		return true
	}
	select {
	case <-held:
		return true
	case <-r.Context().Done():
		return false
	case <-s.stop:
		return true
	}
}

// dropConn closes the connection without answering.
func dropConn(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // HTTP/2 and recorders: abort the stream
}

// handle decides the answer; s.mu is held. It returns the reply, the rate-limit windows to
// report and whether to drop the connection instead of answering.
func (s *Sim) handle(r *http.Request) (reply, []windowState, bool) {
	now := s.opts.Now()
	f := &s.faults

	// Edge: rate limits, 403, authentication.
	if now.Before(f.RateLimitedUntil) {
		return s.errReply(http.StatusTooManyRequests, "rate_limit", msgRateLimit, nil, now), s.limiter.spent(f.RateLimitedUntil), false
	}
	if !s.limiter.take(now) {
		return s.errReply(http.StatusTooManyRequests, "rate_limit", msgRateLimit, nil, now), s.limiter.state(now), false
	}
	rate := s.limiter.state(now)
	if f.Status403 {
		return s.errReply(http.StatusForbidden, "forbidden_ressource", msgForbidden, nil, now), rate, false
	}
	if r.URL.Path == "/v2.01/oauth/token" {
		return s.token(r, now), rate, false
	}
	if !s.authorized(r, now) {
		return s.unauthorized(now), rate, false
	}

	rt, ok := s.route(r)
	if !ok {
		return s.errReply(http.StatusNotFound, "ressource_not_found", msgNotFound, nil, now), rate, false
	}
	if rt.method != r.Method {
		return s.errReply(http.StatusMethodNotAllowed, "method_not_allowed",
			"The requested resource does not support http method '"+r.Method+"'.", nil, now), rate, false
	}

	// Idempotency (enrollment POST only).
	key, hasKey := "", false
	if rt.kind == routeEnroll {
		if vs := r.Header.Values("Idempotency-Key"); len(vs) > 0 {
			key, hasKey = vs[0], true
			if !validKey(key) {
				return s.errReply(http.StatusBadRequest, "param_error", msgParamError,
					map[string]string{"Idempotency-Key": "The Idempotency-Key must be 16 to 36 characters long and contain only alphanumeric characters or '-'."}, now), rate, false
			}
			if st, used := s.keys[key]; used && now.Sub(st.at) < IdempotencyRetention {
				return s.errReply(http.StatusConflict, "idempotent_creation_conflict", msgConflict, nil, now), rate, false
			}
		}
	}

	// Backend failures.
	var rp reply
	switch {
	case f.HTMLErrors:
		rp = reply{status: http.StatusBadGateway, contentType: "text/html", body: []byte(htmlBadGateway)}
	case f.Burst5xx > 0:
		f.Burst5xx--
		rp = s.errReply(http.StatusServiceUnavailable, "service_unavailable", msgUnavailable, nil, now)
	case f.ErrorRate > 0 && s.rnd.Float64() < f.ErrorRate:
		rp = s.errReply(http.StatusInternalServerError, "internal_server_error", msgInternal, nil, now)
	default:
		rp = s.serve(rt, r, now)
	}

	if hasKey {
		st := &stored{at: now, requestURL: requestURL(r), reply: rp}
		if len(f.StoredShapes) > 0 {
			st.shape, f.StoredShapes = f.StoredShapes[0], f.StoredShapes[1:]
			if st.shape == StoredInFlight {
				st.hidden = InFlightReads
			}
		}
		s.keys[key] = st
		s.pruneKeys(now)
	}
	drop := false
	if rt.kind == routeEnroll && f.DropAfterCommit > 0 {
		f.DropAfterCommit--
		drop = true
	}
	return rp, rate, drop
}

// pruneKeys forgets keys past IdempotencyRetention. It looks at most once a
// minute: a scan per call made every enrollment O(keys) under the lock.
func (s *Sim) pruneKeys(now time.Time) {
	if len(s.keys) < 1024 || now.Before(s.pruneAt) {
		return
	}
	s.pruneAt = now.Add(time.Minute)
	for k, st := range s.keys {
		if now.Sub(st.at) >= IdempotencyRetention {
			delete(s.keys, k)
		}
	}
}

func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

// validKey reports whether k is a valid Idempotency-Key: 16–36 of [A-Za-z0-9-].
func validKey(k string) bool {
	if len(k) < 16 || len(k) > 36 {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ---- authentication ----

func (s *Sim) token(r *http.Request, now time.Time) reply {
	if r.Method != http.MethodPost {
		return s.errReply(http.StatusMethodNotAllowed, "method_not_allowed",
			"The requested resource does not support http method '"+r.Method+"'.", nil, now)
	}
	id, key, ok := r.BasicAuth()
	if !ok || id != s.opts.ClientID || key != s.opts.APIKey {
		return oauthError(http.StatusUnauthorized, "invalid_client", "Client authentication failed")
	}
	if err := r.ParseForm(); err != nil {
		return oauthError(http.StatusBadRequest, "invalid_request", "The request body could not be read")
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		return oauthError(http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials")
	}
	tok := randHex(16)
	s.tokens[tok] = now.Add(s.opts.TokenTTL)
	s.issued++
	s.minted = append(s.minted, tok)
	for t, exp := range s.tokens {
		if !now.Before(exp) {
			delete(s.tokens, t)
		}
	}
	return jsonReply(http.StatusOK, struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}{tok, "bearer", int64(s.opts.TokenTTL / time.Second)})
}

func (s *Sim) authorized(r *http.Request, now time.Time) bool {
	if s.faults.RejectTokens {
		return false
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return false
	}
	exp, ok := s.tokens[strings.TrimSpace(tok)]
	return ok && now.Before(exp)
}

// ---- routing ----

type routeKind int

const (
	routeUser routeKind = iota + 1
	routeEnroll
	routeSCAStatus
	routeResponse
	routeEvents
)

type route struct {
	kind   routeKind
	method string
	arg    string // user id or idempotency key
}

func (s *Sim) route(r *http.Request) (route, bool) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2.01/"+s.opts.ClientID+"/")
	if !ok {
		return route{}, false
	}
	p := strings.Split(rest, "/")
	switch {
	case len(p) == 1 && p[0] == "events":
		return route{kind: routeEvents, method: http.MethodGet}, true
	case len(p) == 2 && p[0] == "responses" && p[1] != "":
		return route{kind: routeResponse, method: http.MethodGet, arg: p[1]}, true
	case len(p) >= 3 && p[0] == "sca" && p[1] == "users" && p[2] != "":
		switch {
		case len(p) == 3:
			return route{kind: routeUser, method: http.MethodGet, arg: p[2]}, true
		case len(p) == 4 && p[3] == "enrollment":
			return route{kind: routeEnroll, method: http.MethodPost, arg: p[2]}, true
		case len(p) == 4 && p[3] == "sca-status":
			return route{kind: routeSCAStatus, method: http.MethodGet, arg: p[2]}, true
		}
	}
	return route{}, false
}

func (s *Sim) serve(rt route, r *http.Request, now time.Time) reply {
	switch rt.kind {
	case routeUser:
		return s.getUser(rt.arg, now)
	case routeEnroll:
		return s.enroll(rt.arg, now)
	case routeSCAStatus:
		return s.scaStatus(rt.arg, now)
	case routeResponse:
		return s.response(rt.arg, now)
	default:
		return s.listEvents(r, now)
	}
}

// ---- endpoints ----

func (s *Sim) userNotFound(id string, now time.Time) reply {
	return s.errReply(http.StatusNotFound, "ressource_not_found", msgNotFound,
		map[string]string{"RessourceNotFound": "Cannot found the ressource User with the id=" + id}, now)
}

func (s *Sim) getUser(id string, now time.Time) reply {
	u, ok := s.users[id]
	if !ok {
		return s.userNotFound(id, now)
	}
	return jsonReply(http.StatusOK, userJSON(u))
}

func (s *Sim) enroll(id string, now time.Time) reply {
	u, ok := s.users[id]
	switch {
	case !ok:
		return s.userNotFound(id, now)
	case u.Category == CategoryPayer:
		return s.errReply(http.StatusBadRequest, "not_allowed_for_user_category_payer",
			"This endpoint is not allowed for users with UserCategory PAYER. Use the Categorize endpoints instead.", nil, now)
	case u.Category == CategoryPlatform:
		return s.errReply(http.StatusBadRequest, "not_allowed_for_user_category_platform",
			"This endpoint is not allowed for users with UserCategory PLATFORM.", nil, now)
	case u.Status == StatusClosed:
		return s.errReply(http.StatusBadRequest, "param_error", msgParamError,
			map[string]string{"UserId": "The user is closed."}, now)
	case u.PersonType == PersonLegal && u.LegalRepresentativeEmail == "":
		return s.errReply(http.StatusBadRequest, "param_error", msgParamError,
			map[string]string{"LegalRepresentative.Email": "'Email' must not be empty."}, now)
	}
	if SCABypassed(u.User) {
		// Sandbox skips SCA: no session, no link (PendingUserAction null, as the docs
		// describe it when SCA is not triggered). The user's SCA state is left as it was
		// (sim choice).
		return jsonReply(http.StatusOK, struct {
			PendingUserAction *struct{} `json:"PendingUserAction"`
		}{})
	}
	host := s.opts.LinkHost
	if s.faults.WrongHost {
		host = WrongLinkHost
	}
	u.Triggered = true
	type pending struct {
		RedirectURL string `json:"RedirectUrl"`
	}
	link := "https://" + host + "/?token=" + randHex(16)
	rp := jsonReply(http.StatusOK, struct {
		PendingUserAction pending `json:"PendingUserAction"`
	}{pending{link}})
	rp.link = link
	return rp
}

func (s *Sim) scaStatus(id string, now time.Time) reply {
	u, ok := s.users[id]
	if !ok || !(u.Triggered || u.Enrolled) {
		return s.userNotFound(id, now)
	}
	var last *int64
	if u.Enrolled && !u.lastEnrollment.IsZero() {
		v := u.lastEnrollment.Unix()
		last = &v
	}
	type scope struct {
		ContactInformationUpdate *string `json:"ContactInformationUpdate"`
		RecipientRegistration    *string `json:"RecipientRegistration"`
		Transfer                 *string `json:"Transfer"`
		ViewAccountInformation   *string `json:"ViewAccountInformation"`
	}
	return jsonReply(http.StatusOK, struct {
		UserStatus                string `json:"UserStatus"`
		IsEnrolled                bool   `json:"IsEnrolled"`
		LastEnrollmentDate        *int64 `json:"LastEnrollmentDate"`
		LastConsentCollectionDate *int64 `json:"LastConsentCollectionDate"`
		ConsentScope              scope  `json:"ConsentScope"`
	}{u.Status, u.Enrolled, last, nil, scope{}})
}

func (s *Sim) response(key string, now time.Time) reply {
	if !validKey(key) {
		return s.errReply(http.StatusBadRequest, "param_error", msgParamError,
			map[string]string{"IdempotencyKey": "The Idempotency-Key must be 16 to 36 characters long and contain only alphanumeric characters or '-'."}, now)
	}
	st, ok := s.keys[key]
	notFound := !ok || now.Sub(st.at) >= IdempotencyRetention
	if !notFound && st.hidden > 0 {
		st.hidden--
		notFound = true
	}
	if notFound || st.shape == StoredLost {
		return s.errReply(http.StatusNotFound, "ressource_not_found", msgNotFound,
			map[string]string{"RessourceNotFound": "Cannot found the ressource ApiResponse with the id=" + key}, now)
	}
	resource := json.RawMessage("null")
	switch {
	case len(st.reply.body) == 0:
	case json.Valid(st.reply.body):
		resource = st.reply.body
	default:
		resource, _ = json.Marshal(string(st.reply.body))
	}
	// Fields in Mangopay's order; a damaged shape changes or drops one.
	status := json.RawMessage(strconv.Quote(strconv.Itoa(st.reply.status)))
	switch st.shape {
	case StoredStatusZero:
		status = json.RawMessage(`"0"`)
	case StoredStatusEmpty:
		status = json.RawMessage(`""`)
	case StoredStatusMissing:
		status = nil
	case StoredStatusNonNumeric:
		status = json.RawMessage(`"OK"`)
	case StoredNoResource:
		resource = nil
	case StoredNullResource:
		resource = json.RawMessage("null")
	}
	return jsonReply(http.StatusOK, struct {
		StatusCode    json.RawMessage `json:"StatusCode,omitempty"`
		ContentLength string          `json:"ContentLength"`
		ContentType   string          `json:"ContentType"`
		Date          string          `json:"Date"`
		RequestURL    string          `json:"RequestURL"`
		Resource      json.RawMessage `json:"Resource,omitempty"`
	}{status, strconv.Itoa(len(st.reply.body)), st.reply.contentType,
		st.at.UTC().Format(http.TimeFormat), st.requestURL, resource})
}

// ---- helpers ----

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b) // never fails
	return hex.EncodeToString(b)
}

const contentTypeJSON = "application/json; charset=utf-8"

func jsonReply(status int, v any) reply {
	b, err := json.Marshal(v)
	if err != nil {
		panic("mangosim: marshal reply: " + err.Error()) // only fixed types are marshalled
	}
	return reply{status: status, contentType: contentTypeJSON, body: b}
}
