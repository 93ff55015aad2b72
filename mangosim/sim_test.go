package mangosim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const linkPattern = `^https://sca\.sandbox\.mangopay\.com/\?token=[0-9a-f]{32}$`

func matchLink(s string) bool { return regexp.MustCompile(linkPattern).MatchString(s) }

func redirectURL(t *testing.T, body map[string]any) string {
	t.Helper()
	pua, _ := body["PendingUserAction"].(map[string]any)
	u, _ := pua["RedirectUrl"].(string)
	if u == "" {
		t.Fatalf("no PendingUserAction.RedirectUrl in %v", body)
	}
	return u
}

func TestDefaultUsers(t *testing.T) {
	t.Parallel()
	idRE := regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	seen := map[string]bool{}
	var payer, norep, platform, enrolled, closed, accept bool
	for _, u := range DefaultUsers() {
		if !idRE.MatchString(u.ID) {
			t.Errorf("user id %q does not match %s", u.ID, idRE)
		}
		if seen[u.ID] {
			t.Errorf("duplicate user id %q", u.ID)
		}
		seen[u.ID] = true
		payer = payer || u.Category == CategoryPayer
		norep = norep || u.Category == CategoryOwner && u.PersonType == PersonLegal && u.LegalRepresentativeEmail == ""
		platform = platform || u.Category == CategoryPlatform
		enrolled = enrolled || u.Category == CategoryOwner && u.Enrolled && u.Status == StatusActive
		closed = closed || u.Category == CategoryOwner && u.Status == StatusClosed
		accept = accept || u.Category == CategoryOwner && SCABypassed(u)
	}
	if !payer || !norep || !platform || !enrolled || !closed || !accept {
		t.Errorf("seeds payer=%v norep=%v platform=%v enrolled=%v closed=%v accept=%v, want all true", payer, norep, platform, enrolled, closed, accept)
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{TokenTTL: 20 * time.Minute})

	resp, body := h.fetchToken(h.srv.ClientID(), h.srv.APIKey())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token status = %d, want 200", resp.StatusCode)
	}
	if got := body["token_type"]; got != "bearer" {
		t.Errorf("token_type = %v, want bearer", got)
	}
	if got := body["expires_in"]; got != float64(1200) {
		t.Errorf("expires_in = %v, want 1200", got)
	}
	if tok, _ := body["access_token"].(string); len(tok) < 16 {
		t.Errorf("access_token = %q, want a long token", tok)
	}

	for _, tc := range []struct{ name, id, key string }{
		{"wrong key", h.srv.ClientID(), "nope"},
		{"wrong client", "other", h.srv.APIKey()},
	} {
		resp, body := h.fetchToken(tc.id, tc.key)
		if resp.StatusCode != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Errorf("%s: status %d body %v, want 401 invalid_client", tc.name, resp.StatusCode, body)
		}
	}

	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/v2.01/oauth/token", strings.NewReader("grant_type=password"))
	req.SetBasicAuth(h.srv.ClientID(), h.srv.APIKey())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, body := h.send(req); resp.StatusCode != http.StatusBadRequest || body["error"] != "unsupported_grant_type" {
		t.Errorf("grant_type=password: status %d body %v, want 400 unsupported_grant_type", resp.StatusCode, body)
	}
	if got := h.srv.Tokens(); got != 1 {
		t.Errorf("Tokens() = %d, want 1", got)
	}
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{TokenTTL: 10 * time.Second})
	tok := h.token()

	h.clock.Advance(9 * time.Second)
	if resp, body := h.call("GET", "/sca/users/"+UserOwnerNatural, tok, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("before expiry: status %d body %v, want 200", resp.StatusCode, body)
	}
	h.clock.Advance(time.Second)
	resp, body := h.call("GET", "/sca/users/"+UserOwnerNatural, tok, "")
	wantError(t, resp, body, http.StatusUnauthorized, "invalid_credentials")
	if got := body["Message"]; got != "The authorization credentials are not valid" {
		t.Errorf("Message = %v", got)
	}
	for _, k := range []string{"Id", "errors"} {
		if _, ok := body[k]; ok {
			t.Errorf("401 body has %q, want the documented {Message, Type, Date}", k)
		}
	}

	for _, auth := range []string{"", "Bearer unknown", "Basic " + tok, tok} {
		req := h.request("GET", "/sca/users/"+UserOwnerNatural, "", "")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if resp, _ := h.send(req); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, resp.StatusCode)
		}
	}
}

func TestGetUser(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token()

	resp, natural := h.call("GET", "/sca/users/"+UserOwnerNatural, tok, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	for k, want := range map[string]any{"Id": UserOwnerNatural, "UserCategory": "OWNER", "PersonType": "NATURAL",
		"UserStatus": "ACTIVE", "Email": "owner@example.com", "PendingUserAction": nil} {
		if got, ok := natural[k]; !ok || got != want {
			t.Errorf("natural %s = %v, want %v", k, got, want)
		}
	}
	if _, ok := natural["LegalRepresentative"]; ok {
		t.Errorf("natural user has LegalRepresentative")
	}

	_, legal := h.call("GET", "/sca/users/"+UserOwnerLegal, tok, "")
	rep, _ := legal["LegalRepresentative"].(map[string]any)
	if got := rep["Email"]; got != "rep@example.com" {
		t.Errorf("LegalRepresentative.Email = %v, want rep@example.com", got)
	}
	if got := legal["LegalPersonType"]; got != "BUSINESS" {
		t.Errorf("LegalPersonType = %v, want BUSINESS", got)
	}

	_, norep := h.call("GET", "/sca/users/"+UserOwnerLegalNoRep, tok, "")
	rep, _ = norep["LegalRepresentative"].(map[string]any)
	if got, ok := rep["Email"]; !ok || got != nil {
		t.Errorf("no-rep LegalRepresentative.Email = %v (present %v), want null", got, ok)
	}

	resp, body := h.call("GET", "/sca/users/user_m_nobody", tok, "")
	wantError(t, resp, body, http.StatusNotFound, "ressource_not_found")
}

func TestEnrollOwner(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token()

	resp, body := h.call("GET", "/sca/users/"+UserOwnerNatural+"/sca-status", tok, "")
	wantError(t, resp, body, http.StatusNotFound, "ressource_not_found")

	resp, body = h.call("POST", "/sca/users/"+UserOwnerNatural+"/enrollment", tok, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("enroll status %d body %v, want 200", resp.StatusCode, body)
	}
	if len(body) != 1 || !matchLink(redirectURL(t, body)) {
		t.Errorf("enroll body = %v, want only PendingUserAction.RedirectUrl matching %s", body, linkPattern)
	}
	if u, _ := h.srv.User(UserOwnerNatural); !u.Triggered || u.Enrolled || u.Status != StatusActive {
		t.Errorf("user after enroll = %+v, want Triggered, not Enrolled, ACTIVE", u)
	}

	resp, status := h.call("GET", "/sca/users/"+UserOwnerNatural+"/sca-status", tok, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sca-status %d, want 200", resp.StatusCode)
	}
	for k, want := range map[string]any{"UserStatus": "ACTIVE", "IsEnrolled": false, "LastEnrollmentDate": nil, "LastConsentCollectionDate": nil} {
		if got, ok := status[k]; !ok || got != want {
			t.Errorf("sca-status %s = %v, want %v", k, got, want)
		}
	}
	if _, ok := status["ConsentScope"].(map[string]any); !ok {
		t.Errorf("sca-status ConsentScope = %v, want an object", status["ConsentScope"])
	}

	h.clock.Advance(time.Minute)
	h.srv.CompleteEnrollment(UserOwnerNatural)
	_, status = h.call("GET", "/sca/users/"+UserOwnerNatural+"/sca-status", tok, "")
	if status["IsEnrolled"] != true || status["LastEnrollmentDate"] != float64(h.clock.Now().Unix()) {
		t.Errorf("sca-status after CompleteEnrollment = %v, want IsEnrolled true, LastEnrollmentDate now", status)
	}

	// Each call opens a new session: a second link differs.
	_, b1 := h.call("POST", "/sca/users/"+UserOwnerLegal+"/enrollment", tok, "")
	_, b2 := h.call("POST", "/sca/users/"+UserOwnerLegal+"/enrollment", tok, "")
	if redirectURL(t, b1) == redirectURL(t, b2) {
		t.Errorf("two enrollments gave the same link")
	}

	resp, enrolled := h.call("GET", "/sca/users/"+UserOwnerEnrolled+"/sca-status", tok, "")
	if resp.StatusCode != http.StatusOK || enrolled["IsEnrolled"] != true {
		t.Errorf("enrolled seed sca-status %d %v, want 200 IsEnrolled true", resp.StatusCode, enrolled)
	}
}

// TestEnrollSCABypass: Sandbox skips SCA when the e-mail of the person who does SCA contains
// "accept" — Email for a natural user, LegalRepresentative.Email for a legal one — and Enroll
// answers 200 with PendingUserAction null.
func TestEnrollSCABypass(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token()
	h.srv.AddUser(User{ID: "user_m_upper", Category: CategoryOwner, PersonType: PersonNatural, Status: StatusActive, Email: "Bob.ACCEPT@example.com"})
	h.srv.AddUser(User{ID: "user_m_entity_accept", Category: CategoryOwner, PersonType: PersonLegal, LegalPersonType: "BUSINESS",
		Status: StatusActive, Email: "accept@example.com", LegalRepresentativeEmail: "rep@example.com"})
	for i, tc := range []struct {
		user   string
		bypass bool
	}{
		{UserOwnerAccept, true},
		{UserOwnerLegalAccept, true},
		{"user_m_upper", true},
		{"user_m_entity_accept", false}, // the entity's e-mail does not count
		{UserOwnerNatural, false},
	} {
		key := fmt.Sprintf("bypass-test-key-%03d", i)
		resp, body := h.call("POST", "/sca/users/"+tc.user+"/enrollment", tok, key)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: enroll status %d body %v, want 200", tc.user, resp.StatusCode, body)
			continue
		}
		if !tc.bypass {
			if !matchLink(redirectURL(t, body)) {
				t.Errorf("%s: enroll body = %v, want a link", tc.user, body)
			}
			continue
		}
		if v, ok := body["PendingUserAction"]; len(body) != 1 || !ok || v != nil {
			t.Errorf("%s: enroll body = %v, want {\"PendingUserAction\":null}", tc.user, body)
		}
		if u, _ := h.srv.User(tc.user); u.Triggered {
			t.Errorf("%s: bypassed enrollment marked the user Triggered", tc.user)
		}
		resp, stored := h.call("GET", "/responses/"+key, tok, "")
		if res, _ := stored["Resource"].(map[string]any); resp.StatusCode != http.StatusOK || stored["StatusCode"] != "200" || len(res) != 1 || res["PendingUserAction"] != nil {
			t.Errorf("%s: stored response %d %v, want StatusCode 200 and Resource {PendingUserAction: null}", tc.user, resp.StatusCode, stored)
		}
	}
}

func TestEnrollErrors(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token()
	for _, tc := range []struct {
		user, typ  string
		status     int
		errorsWant map[string]any
	}{
		{UserPayer, "not_allowed_for_user_category_payer", 400, nil},
		{UserPayerLegal, "not_allowed_for_user_category_payer", 400, nil},
		{UserOwnerLegalNoRep, "param_error", 400, map[string]any{"LegalRepresentative.Email": "'Email' must not be empty."}},
		{UserPlatform, "not_allowed_for_user_category_platform", 400, nil},
		{UserOwnerClosed, "param_error", 400, map[string]any{"UserId": "The user is closed."}},
		{"user_m_nobody", "ressource_not_found", 404, map[string]any{"RessourceNotFound": "Cannot found the ressource User with the id=user_m_nobody"}},
	} {
		t.Run(tc.user, func(t *testing.T) {
			resp, body := h.call("POST", "/sca/users/"+tc.user+"/enrollment", tok, "")
			wantError(t, resp, body, tc.status, tc.typ)
			got, _ := body["errors"].(map[string]any)
			if fmt.Sprint(got) != fmt.Sprint(tc.errorsWant) || (tc.errorsWant == nil && body["errors"] != nil) {
				t.Errorf("errors = %v, want %v", body["errors"], tc.errorsWant)
			}
			if u, ok := h.srv.User(tc.user); ok && u.Triggered {
				t.Errorf("failed enrollment marked %s Triggered", tc.user)
			}
		})
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token()

	req := h.request("GET", "", tok, "")
	req.URL.Path = "/v2.01/other-client/sca/users/" + UserOwnerNatural
	resp, body := h.send(req)
	wantError(t, resp, body, http.StatusNotFound, "ressource_not_found")

	resp, body = h.call("GET", "/sca/users/"+UserOwnerNatural+"/enrollment", tok, "")
	wantError(t, resp, body, http.StatusMethodNotAllowed, "method_not_allowed")
	resp, body = h.call("GET", "/nowhere", tok, "")
	wantError(t, resp, body, http.StatusNotFound, "ressource_not_found")
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token()
	const key = "0123456789abcdef0123456789abcdef-1"
	enroll := "/sca/users/" + UserOwnerNatural + "/enrollment"

	resp, first := h.call("POST", enroll, tok, key)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first call %d, want 200", resp.StatusCode)
	}
	firstBody := bodyString(resp)
	mintedAt := h.clock.Now()

	h.clock.Advance(3 * time.Minute)
	resp, body := h.call("POST", enroll, tok, key)
	wantError(t, resp, body, http.StatusConflict, "idempotent_creation_conflict")
	if got := body["Message"]; got != "A resource has already been created with this Idempotency Key" {
		t.Errorf("409 Message = %v", got)
	}
	// A reused key on another user is a conflict too, and executes nothing.
	resp, _ = h.call("POST", "/sca/users/"+UserOwnerNatural2+"/enrollment", tok, key)
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("key on another user: status %d, want 409", resp.StatusCode)
	}
	if u, _ := h.srv.User(UserOwnerNatural2); u.Triggered {
		t.Errorf("a 409 executed the enrollment")
	}

	resp, stored := h.call("GET", "/responses/"+key, tok, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /responses %d, want 200", resp.StatusCode)
	}
	if got := stored["StatusCode"]; got != "200" {
		t.Errorf("StatusCode = %#v, want string \"200\"", got)
	}
	if got := stored["ContentLength"]; got != fmt.Sprint(len(firstBody)) {
		t.Errorf("ContentLength = %#v, want %q", got, fmt.Sprint(len(firstBody)))
	}
	if got := stored["ContentType"]; got != "application/json; charset=utf-8" {
		t.Errorf("ContentType = %v", got)
	}
	date, err := http.ParseTime(fmt.Sprint(stored["Date"]))
	if err != nil || !date.Equal(mintedAt) {
		t.Errorf("Date = %v (%v), want HTTP-date of %v", stored["Date"], err, mintedAt)
	}
	if got := stored["RequestURL"]; got != h.api(enroll) {
		t.Errorf("RequestURL = %v, want %v", got, h.api(enroll))
	}
	res, _ := stored["Resource"].(map[string]any)
	if redirectURL(t, res) != redirectURL(t, first) {
		t.Errorf("Resource = %v, want the first answer %v", res, first)
	}

	// After 24 h the key is free again and /responses forgets it.
	h.clock.Advance(IdempotencyRetention)
	tok = h.token()
	resp, _ = h.call("GET", "/responses/"+key, tok, "")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/responses after 24h: %d, want 404", resp.StatusCode)
	}
	if resp, _ := h.call("POST", enroll, tok, key); resp.StatusCode != http.StatusOK {
		t.Errorf("key reuse after 24h: %d, want 200", resp.StatusCode)
	}
}

// TestIdempotencyFailuresSpendKey: the first answer is stored whatever it was.
func TestIdempotencyFailuresSpendKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		user   string
		faults Faults
		status string
		typ    string
	}{
		{"payer 400", UserPayer, Faults{}, "400", "not_allowed_for_user_category_payer"},
		{"unknown 404", "user_m_nobody", Faults{}, "404", "ressource_not_found"},
		{"burst 503", UserOwnerNatural, Faults{Burst5xx: 1}, "503", "service_unavailable"},
		{"error rate 500", UserOwnerNatural, Faults{ErrorRate: 1}, "500", "internal_server_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t, Options{})
			tok := h.token()
			const key = "spent-key-0000000000000001"
			h.srv.SetFaults(tc.faults)
			resp, _ := h.call("POST", "/sca/users/"+tc.user+"/enrollment", tok, key)
			if got := fmt.Sprint(resp.StatusCode); got != tc.status {
				t.Fatalf("first status %s, want %s", got, tc.status)
			}
			h.srv.SetFaults(Faults{})
			resp, body := h.call("POST", "/sca/users/"+tc.user+"/enrollment", tok, key)
			wantError(t, resp, body, http.StatusConflict, "idempotent_creation_conflict")
			_, stored := h.call("GET", "/responses/"+key, tok, "")
			res, _ := stored["Resource"].(map[string]any)
			if stored["StatusCode"] != tc.status || res["Type"] != tc.typ {
				t.Errorf("stored = %v, want StatusCode %s with Type %s", stored, tc.status, tc.typ)
			}
		})
	}
}

func TestIdempotencyKeyFormat(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token()
	for _, tc := range []struct {
		key  string
		want int
	}{
		{strings.Repeat("a", 15), 400},
		{strings.Repeat("a", 16), 200},
		{strings.Repeat("B", 35) + "-", 200},
		{strings.Repeat("a", 37), 400},
		{"abcdefgh_ijklmnopq", 400},
		{"abcdefgh ijklmnopq", 400},
		{"abcdéfghijklmnopq", 400},
	} {
		req := h.request("POST", "/sca/users/"+UserOwnerNatural+"/enrollment", tok, "")
		req.Header.Set("Idempotency-Key", tc.key)
		resp, body := h.send(req)
		if resp.StatusCode != tc.want {
			t.Errorf("key %q: status %d, want %d", tc.key, resp.StatusCode, tc.want)
		}
		if tc.want == 400 {
			wantError(t, resp, body, 400, "param_error")
			resp, body := h.call("GET", "/responses/"+strings.ReplaceAll(tc.key, " ", "%20"), tok, "")
			if resp.StatusCode != 400 && resp.StatusCode != 404 {
				t.Errorf("/responses/%q: status %d body %v, want 400", tc.key, resp.StatusCode, body)
			}
		}
	}
	resp, body := h.call("GET", "/responses/"+strings.Repeat("z", 20), tok, "")
	wantError(t, resp, body, http.StatusNotFound, "ressource_not_found")
}

func TestIdempotencyConcurrent(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token()
	const n = 20
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req := h.request("POST", "/sca/users/"+UserOwnerNatural+"/enrollment", tok, "concurrent-key-000000001")
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Errorf("do: %v", err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[200] != 1 || count[409] != n-1 {
		t.Errorf("statuses = %v, want one 200 and %d 409", count, n-1)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{Windows: []Limit{{N: 3, Per: time.Minute}, {N: 5, Per: time.Hour}}})
	start := h.clock.Now()
	tok := h.token() // call 1

	check := func(resp *http.Response, used, remaining []string, reset []int64) {
		t.Helper()
		var resetS []string
		for _, r := range reset {
			resetS = append(resetS, fmt.Sprint(r))
		}
		for name, want := range map[string][]string{"X-RateLimit": used, "X-RateLimit-Remaining": remaining, "X-RateLimit-Reset": resetS} {
			if got := resp.Header.Values(name); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("%s = %q, want %q (one header line per window)", name, got, want)
			}
		}
	}

	h.clock.Advance(10 * time.Second)
	resp, _ := h.call("GET", "/sca/users/"+UserOwnerNatural, tok, "") // call 2
	check(resp, []string{"2", "2"}, []string{"1", "3"}, []int64{start.Add(time.Minute).Unix(), start.Add(time.Hour).Unix()})

	resp, _ = h.call("GET", "/sca/users/"+UserOwnerNatural, tok, "") // call 3
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("call 3: %d, want 200", resp.StatusCode)
	}
	resp, body := h.call("GET", "/sca/users/"+UserOwnerNatural, tok, "") // refused
	wantError(t, resp, body, http.StatusTooManyRequests, "rate_limit")
	check(resp, []string{"3", "3"}, []string{"0", "2"}, []int64{start.Add(time.Minute).Unix(), start.Add(time.Hour).Unix()})

	// Sliding: at start+1m the token call leaves the minute window, one call fits.
	h.clock.Advance(50 * time.Second)
	resp, _ = h.call("GET", "/sca/users/"+UserOwnerNatural, tok, "") // call 4
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the oldest call left: %d, want 200", resp.StatusCode)
	}
	check(resp, []string{"3", "4"}, []string{"0", "1"}, []int64{start.Add(70 * time.Second).Unix(), start.Add(time.Hour).Unix()})

	h.clock.Advance(time.Minute)
	resp, _ = h.call("GET", "/sca/users/"+UserOwnerNatural, tok, "") // call 5: hour window now full
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("call 5: %d, want 200", resp.StatusCode)
	}
	h.clock.Advance(2 * time.Minute)
	resp, _ = h.call("GET", "/sca/users/"+UserOwnerNatural, tok, "")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("hour window spent: %d, want 429", resp.StatusCode)
	}
	if got := h.srv.Count("GET", "/sca/users/"+UserOwnerNatural); got != 6 {
		t.Errorf("Count = %d, want 6 (429s are recorded too)", got)
	}
}

func TestDefaultRateHeaders(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	resp, _ := h.fetchToken(h.srv.ClientID(), h.srv.APIKey())
	if got := resp.Header.Values("X-RateLimit-Remaining"); strings.Join(got, ",") != "2299,4499,8799,105599" {
		t.Errorf("X-RateLimit-Remaining = %q, want 2299,4499,8799,105599", got)
	}
	resp, _ = h.call("GET", "/sca/users/x", "", "") // 401 still carries the headers
	if got := resp.Header.Values("X-RateLimit"); strings.Join(got, ",") != "2,2,2,2" {
		t.Errorf("X-RateLimit on 401 = %q, want 2,2,2,2", got)
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token()
	now := h.clock.Now()
	for i := range 25 {
		typ := "SCA_ENROLLMENT_EXPIRED"
		if i%5 == 0 {
			typ = "SCA_ENROLLMENT_FAILED"
		}
		h.srv.AddEvent(Event{ResourceID: fmt.Sprintf("user_%02d", i), EventType: typ, Date: now.Add(-time.Duration(25-i) * time.Hour)})
	}
	h.srv.AddEvent(Event{ResourceID: "too_old", EventType: "SCA_ENROLLMENT_EXPIRED", Date: now.Add(-EventsWindow - time.Hour)})

	list := func(q string) (*http.Response, []any) {
		t.Helper()
		resp, err := h.srv.Client().Do(h.request("GET", "/events?"+q, tok, ""))
		if err != nil {
			t.Fatalf("GET /events: %v", err)
		}
		defer resp.Body.Close()
		var items []any
		if resp.StatusCode == http.StatusOK {
			if err := decodeJSON(resp, &items); err != nil {
				t.Fatalf("decode: %v", err)
			}
		}
		return resp, items
	}

	resp, items := list("")
	if resp.StatusCode != http.StatusOK || len(items) != 10 {
		t.Fatalf("default page: %d, %d items, want 200 and 10 (per_page default)", resp.StatusCode, len(items))
	}
	if got := resp.Header.Get("X-Number-Of-Items"); got != "25" {
		t.Errorf("X-Number-Of-Items = %q, want 25 (the too-old event excluded)", got)
	}
	if got := resp.Header.Get("X-Number-Of-Pages"); got != "3" {
		t.Errorf("X-Number-Of-Pages = %q, want 3", got)
	}
	first, _ := items[0].(map[string]any)
	if first["ResourceId"] != "user_00" || first["Date"] != float64(now.Add(-25*time.Hour).Unix()) {
		t.Errorf("first item = %v, want user_00 (ascending)", first)
	}

	_, items = list("EventType=SCA_ENROLLMENT_FAILED&Sort=Date:DESC&per_page=100")
	if len(items) != 5 || items[0].(map[string]any)["ResourceId"] != "user_20" {
		t.Errorf("FAILED desc = %v, want 5 items starting with user_20", items)
	}
	_, items = list(fmt.Sprintf("AfterDate=%d&BeforeDate=%d&page=2&per_page=2", now.Add(-10*time.Hour).Unix(), now.Unix()))
	if len(items) != 2 || items[0].(map[string]any)["ResourceId"] != "user_17" {
		t.Errorf("window page 2 = %v, want user_17, user_18", items)
	}
	_, items = list("page=9")
	if len(items) != 0 {
		t.Errorf("page past the end = %v, want []", items)
	}

	for _, q := range []string{
		"per_page=0", "per_page=101", "page=0", "per_page=x", "Sort=Name:ASC",
		fmt.Sprintf("AfterDate=%d", now.Add(-EventsWindow-time.Second).Unix()),
		fmt.Sprintf("BeforeDate=%d", now.Add(-EventsWindow-time.Second).Unix()),
		fmt.Sprintf("AfterDate=%d&BeforeDate=%d", now.Unix(), now.Add(-time.Hour).Unix()),
	} {
		resp, err := h.srv.Client().Do(h.request("GET", "/events?"+q, tok, ""))
		if err != nil {
			t.Fatalf("GET /events?%s: %v", q, err)
		}
		var body map[string]any
		_ = decodeJSON(resp, &body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || body["Type"] != "param_error" {
			t.Errorf("/events?%s: %d %v, want 400 param_error", q, resp.StatusCode, body)
		}
	}

	h.srv.CompleteEnrollment(UserOwnerNatural)
	_, items = list("EventType=SCA_ENROLLMENT_SUCCEEDED")
	if len(items) != 1 || items[0].(map[string]any)["ResourceId"] != UserOwnerNatural {
		t.Errorf("after CompleteEnrollment = %v, want one SCA_ENROLLMENT_SUCCEEDED", items)
	}
}

func TestCalls(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token()
	h.call("POST", "/sca/users/"+UserOwnerNatural+"/enrollment", tok, "calls-key-000000000001")
	h.call("POST", "/sca/users/"+UserPayer+"/enrollment", tok, "")
	h.call("GET", "/sca/users/"+UserOwnerNatural, tok, "")

	calls := h.srv.Calls()
	if len(calls) != 4 {
		t.Fatalf("Calls() = %d calls, want 4", len(calls))
	}
	if !strings.HasPrefix(calls[1].Link, "https://"+DefaultLinkHost+"/?token=") {
		t.Errorf("Calls()[1].Link = %q, want the link the enrollment minted", calls[1].Link)
	}
	want := Call{Method: "POST", Path: "/v2.01/sim-client/sca/users/" + UserOwnerNatural + "/enrollment",
		IdempotencyKey: "calls-key-000000000001", Status: 200, At: h.clock.Now(), Link: calls[1].Link}
	if calls[1] != want {
		t.Errorf("Calls()[1] = %+v, want %+v", calls[1], want)
	}
	if got := calls[2].Status; got != 400 || calls[2].Link != "" {
		t.Errorf("payer call status = %d, link %q; want 400 and no link", got, calls[2].Link)
	}
	if n := len(h.srv.AccessTokens()); n != 1 || h.srv.AccessTokens()[0] != tok {
		t.Errorf("AccessTokens() = %d tokens, want the one issued", n)
	}
	for _, tc := range []struct {
		method, suffix string
		want           int
	}{{"POST", "/enrollment", 2}, {"", "/enrollment", 2}, {"GET", "/enrollment", 0}, {"", "", 4}, {"POST", "/oauth/token", 1}} {
		if got := h.srv.Count(tc.method, tc.suffix); got != tc.want {
			t.Errorf("Count(%q, %q) = %d, want %d", tc.method, tc.suffix, got, tc.want)
		}
	}
	h.srv.ResetCalls()
	if got := len(h.srv.Calls()); got != 0 {
		t.Errorf("after ResetCalls: %d calls, want 0", got)
	}
	if got := h.srv.Tokens(); got != 1 {
		t.Errorf("Tokens() = %d, want 1", got)
	}
}

func TestAddUser(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{Users: []User{}})
	tok := h.token()
	if resp, _ := h.call("GET", "/sca/users/"+UserOwnerNatural, tok, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("empty Users: seed answered %d, want 404", resp.StatusCode)
	}
	h.srv.AddUser(User{ID: "user_m_custom", Category: CategoryOwner, PersonType: PersonNatural, Status: StatusActive, Email: "c@example.com"})
	if resp, _ := h.call("POST", "/sca/users/user_m_custom/enrollment", tok, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("added user enroll = %d, want 200", resp.StatusCode)
	}
	if _, ok := h.srv.User("nobody"); ok {
		t.Errorf("User(nobody) found")
	}
}

func TestCloseDuringLatency(t *testing.T) {
	t.Parallel()
	srv := Start(Options{})
	srv.SetFaults(Faults{Latency: time.Hour})
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := srv.Client().Post(srv.URL+"/v2.01/oauth/token", "application/x-www-form-urlencoded", nil)
		if err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, "request in flight", func() bool { return srv.InFlight("", "") == 1 })
	srv.Close() // must end the wait, not block for an hour
	<-done
}

func TestClientGoneDuringLatency(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	h.srv.SetFaults(Faults{Latency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	req := h.request("GET", "/sca/users/"+UserOwnerNatural, "", "").WithContext(ctx)
	errc := make(chan error, 1)
	go func() {
		resp, err := h.srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitFor(t, "request in flight", func() bool { return h.srv.InFlight("", "") == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Do() = %v, want context.Canceled", err)
	}
	waitFor(t, "call recorded", func() bool { return len(h.srv.Calls()) == 1 })
	if c := h.srv.Calls()[0]; c.Status != 0 {
		t.Errorf("abandoned call status = %d, want 0", c.Status)
	}
}

// TestConcurrentUse drives requests, fault changes and inspection at once (run with -race).
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				key := fmt.Sprintf("concurrent-use-%02d-%04d", i, j)
				resp, err := h.srv.Client().Do(h.request("POST", "/sca/users/"+UserOwnerNatural+"/enrollment", tok, key))
				if err != nil {
					continue // DropAfterCommit may close the connection
				}
				resp.Body.Close()
			}
		})
	}
	wg.Go(func() {
		for j := range 50 {
			h.srv.SetFaults(Faults{Burst5xx: j % 3, DropAfterCommit: j % 2, ErrorRate: 0.1})
			_ = h.srv.Calls()
			_ = h.srv.Count("POST", "/enrollment")
			h.srv.AddEvent(Event{ResourceID: "u", EventType: "SCA_ENROLLMENT_EXPIRED", Date: h.clock.Now()})
			h.srv.CompleteEnrollment(UserOwnerNatural2)
			h.clock.Advance(time.Millisecond)
		}
	})
	wg.Wait()
	if got := h.srv.Count("POST", "/enrollment"); got < 160 {
		t.Errorf("Count = %d, want at least 160 enrollment POSTs", got)
	}
}
