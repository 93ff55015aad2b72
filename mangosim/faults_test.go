package mangosim

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFaultBurst5xx(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	h.srv.SetFaults(Faults{Burst5xx: 2})
	tok := h.token() // the token call is not part of the burst
	enroll := "/sca/users/" + UserOwnerNatural + "/enrollment"
	for i := range 2 {
		resp, body := h.call("POST", enroll, tok, "")
		wantError(t, resp, body, http.StatusServiceUnavailable, "service_unavailable")
		if got := h.srv.Faults().Burst5xx; got != 1-i {
			t.Errorf("Burst5xx left = %d, want %d", got, 1-i)
		}
	}
	if resp, _ := h.call("POST", enroll, tok, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("after the burst: %d, want 200", resp.StatusCode)
	}
	if got := h.srv.Count("POST", "/enrollment"); got != 3 {
		t.Errorf("Count = %d, want 3", got)
	}
}

func TestFaultErrorRate(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) string {
		h := setup(t, Options{Seed: seed})
		tok := h.token()
		h.srv.SetFaults(Faults{ErrorRate: 0.5})
		var b strings.Builder
		for range 40 {
			resp, _ := h.call("GET", "/sca/users/"+UserOwnerNatural, tok, "")
			switch resp.StatusCode {
			case http.StatusOK:
				b.WriteByte('.')
			case http.StatusInternalServerError:
				b.WriteByte('x')
			default:
				t.Fatalf("status %d, want 200 or 500", resp.StatusCode)
			}
		}
		return b.String()
	}
	a, b := run(7), run(7)
	if a != b {
		t.Errorf("same seed, different outcomes:\n%s\n%s", a, b)
	}
	if n := strings.Count(a, "x"); n < 8 || n > 32 {
		t.Errorf("%d failures of 40 at rate 0.5 (%s), want about 20", n, a)
	}

	h := setup(t, Options{})
	tok := h.token()
	h.srv.SetFaults(Faults{ErrorRate: 1})
	resp, body := h.call("GET", "/sca/users/"+UserOwnerNatural, tok, "")
	wantError(t, resp, body, http.StatusInternalServerError, "internal_server_error")
}

func TestFaultRateLimitedUntil(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token()
	until := h.clock.Now().Add(90*time.Second + 300*time.Millisecond)
	h.srv.SetFaults(Faults{RateLimitedUntil: until})

	_, tb := h.fetchToken(h.srv.ClientID(), h.srv.APIKey())
	if tb["Type"] != "rate_limit" {
		t.Errorf("token call during the 429 window: %v, want rate_limit", tb)
	}
	resp, body := h.call("GET", "/sca/users/"+UserOwnerNatural, tok, "")
	wantError(t, resp, body, http.StatusTooManyRequests, "rate_limit")
	if got := strings.Join(resp.Header.Values("X-RateLimit-Remaining"), ","); got != "0,0,0,0" {
		t.Errorf("X-RateLimit-Remaining = %s, want 0,0,0,0", got)
	}
	wantReset := until.Unix() + 1 // rounded up
	for _, v := range resp.Header.Values("X-RateLimit-Reset") {
		if v != strconv.FormatInt(wantReset, 10) {
			t.Errorf("X-RateLimit-Reset = %s, want %d", v, wantReset)
		}
	}
	h.clock.Advance(91 * time.Second)
	if resp, _ := h.call("GET", "/sca/users/"+UserOwnerNatural, tok, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("after the window: %d, want 200", resp.StatusCode)
	}
}

func TestFaultWrongHost(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token()
	h.srv.SetFaults(Faults{WrongHost: true})
	_, body := h.call("POST", "/sca/users/"+UserOwnerNatural+"/enrollment", tok, "")
	u, err := url.Parse(redirectURL(t, body))
	if err != nil || u.Host != WrongLinkHost || len(u.Query().Get("token")) != 32 {
		t.Errorf("link %v (%v), want host %s with a token", u, err, WrongLinkHost)
	}
}

func TestFaultHTMLErrors(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token()
	h.srv.SetFaults(Faults{HTMLErrors: true})
	resp, body := h.call("POST", "/sca/users/"+UserOwnerNatural+"/enrollment", tok, "html-key-0000000000001")
	if resp.StatusCode != http.StatusBadGateway || body != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("status %d, content type %q, JSON %v; want 502 text/html", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if s := bodyString(resp); !strings.Contains(s, "<html>") {
		t.Errorf("body = %q, want an HTML page", s)
	}
	h.srv.SetFaults(Faults{})
	_, stored := h.call("GET", "/responses/html-key-0000000000001", tok, "")
	if res, _ := stored["Resource"].(string); stored["StatusCode"] != "502" || !strings.Contains(res, "<html>") {
		t.Errorf("stored = %v, want StatusCode 502 with the HTML as a JSON string", stored)
	}
}

func TestFaultStatus403(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token()
	h.srv.SetFaults(Faults{Status403: true})
	resp, body := h.fetchToken(h.srv.ClientID(), h.srv.APIKey())
	wantError(t, resp, body, http.StatusForbidden, "forbidden_ressource")
	resp, body = h.call("GET", "/sca/users/"+UserOwnerNatural, tok, "")
	wantError(t, resp, body, http.StatusForbidden, "forbidden_ressource")
}

func TestFaultRevokeTokens(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	old := h.token()
	h.srv.SetFaults(Faults{RevokeTokens: true})
	if h.srv.Faults().RevokeTokens {
		t.Errorf("RevokeTokens still set after SetFaults; it is an action")
	}
	resp, body := h.call("GET", "/sca/users/"+UserOwnerNatural, old, "")
	wantError(t, resp, body, http.StatusUnauthorized, "invalid_credentials")
	fresh := h.token()
	if resp, _ := h.call("GET", "/sca/users/"+UserOwnerNatural, fresh, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("fresh token after revocation: %d, want 200", resp.StatusCode)
	}
	if got := h.srv.Tokens(); got != 2 {
		t.Errorf("Tokens() = %d, want 2", got)
	}

	h.srv.SetFaults(Faults{RejectTokens: true})
	newer := h.token()
	resp, body = h.call("GET", "/sca/users/"+UserOwnerNatural, newer, "")
	wantError(t, resp, body, http.StatusUnauthorized, "invalid_credentials")
	h.srv.SetFaults(Faults{})
	if resp, _ := h.call("GET", "/sca/users/"+UserOwnerNatural, newer, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("after RejectTokens cleared: %d, want 200", resp.StatusCode)
	}
}

func TestFaultDropAfterCommit(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token()
	h.srv.SetFaults(Faults{DropAfterCommit: 1})
	const key = "dropped-key-00000000000001"
	enroll := "/sca/users/" + UserOwnerNatural + "/enrollment"

	// GETs are not dropped.
	if resp, _ := h.call("GET", "/sca/users/"+UserOwnerNatural, tok, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET during DropAfterCommit: %d, want 200", resp.StatusCode)
	}
	// A fresh connection: Go's Transport replays a request carrying an Idempotency-Key when a
	// reused connection dies before the answer (see TestFaultDropAfterCommitReplay).
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := fresh.Do(h.request("POST", enroll, tok, key))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("dropped POST answered %d, want a transport error", resp.StatusCode)
	}
	if got := h.srv.Faults().DropAfterCommit; got != 0 {
		t.Errorf("DropAfterCommit left = %d, want 0", got)
	}
	if u, _ := h.srv.User(UserOwnerNatural); !u.Triggered {
		t.Errorf("dropped enrollment was not executed")
	}
	calls := h.srv.Calls()
	if last := calls[len(calls)-1]; !last.Dropped || last.Status != 200 || last.IdempotencyKey != key {
		t.Errorf("last call = %+v, want Dropped, Status 200, key %s", last, key)
	}

	// The key was used: retry → 409, and /responses holds the link.
	r2, body := h.call("POST", enroll, tok, key)
	wantError(t, r2, body, http.StatusConflict, "idempotent_creation_conflict")
	_, stored := h.call("GET", "/responses/"+key, tok, "")
	res, _ := stored["Resource"].(map[string]any)
	if stored["StatusCode"] != "200" || !matchLink(redirectURL(t, res)) {
		t.Errorf("stored = %v, want the 200 with a link", stored)
	}
	if resp, _ := h.call("POST", enroll, tok, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("next POST after the drop: %d, want 200", resp.StatusCode)
	}
}

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	h.srv.SetFaults(Faults{Latency: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req := h.request("GET", "/sca/users/"+UserOwnerNatural, "", "").WithContext(ctx)
	resp, err := h.srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("answered %d within a 20ms deadline despite 1h latency", resp.StatusCode)
	}
	h.srv.SetFaults(Faults{})
	if resp, _ := h.call("GET", "/sca/users/"+UserOwnerNatural, "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after clearing Latency: %d, want 401", resp.StatusCode)
	}
}

// TestFaultDropAfterCommitReplay pins a property of net/http that clients of the simulator
// (and of Mangopay) meet: on a reused keep-alive connection, Transport silently replays a POST
// that carries an Idempotency-Key header when the connection dies before the answer, so the
// caller sees the 409 of the replay instead of a transport error.
func TestFaultDropAfterCommitReplay(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token() // leaves an idle keep-alive connection in the client's pool
	h.srv.SetFaults(Faults{DropAfterCommit: 1})
	resp, body := h.call("POST", "/sca/users/"+UserOwnerNatural+"/enrollment", tok, "replayed-key-000000000001")
	wantError(t, resp, body, http.StatusConflict, "idempotent_creation_conflict")
	if got := h.srv.Count("POST", "/enrollment"); got != 2 {
		t.Errorf("Count = %d, want 2 (the dropped call and the Transport's replay)", got)
	}
}

// TestFaultStoredShapes: each damaged shape renders the record of one key,
// in turn; the POST's own answer is untouched, and keys after the list are
// intact.
func TestFaultStoredShapes(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token()
	shapes := StoredShapes()
	h.srv.SetFaults(Faults{StoredShapes: shapes})
	enroll := "/sca/users/" + UserOwnerNatural + "/enrollment"
	keyOf := func(i int) string { return "stored-shape-key-" + strconv.Itoa(100+i) }
	for i := range len(shapes) + 1 {
		if resp, _ := h.call("POST", enroll, tok, keyOf(i)); resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %d: status %d, want 200 (the answer itself is not damaged)", i, resp.StatusCode)
		}
	}
	if left := h.srv.Faults().StoredShapes; len(left) != 0 {
		t.Errorf("StoredShapes left = %v, want none (one per key)", left)
	}
	read := func(key string) (*http.Response, map[string]any) { return h.call("GET", "/responses/"+key, tok, "") }
	for i, shape := range append(shapes, StoredIntact) {
		t.Run(shape.String(), func(t *testing.T) {
			key := keyOf(i)
			if shape == StoredInFlight || shape == StoredLost {
				for range InFlightReads {
					resp, body := read(key)
					wantError(t, resp, body, http.StatusNotFound, "ressource_not_found")
				}
				if resp, _ := h.call("POST", enroll, tok, key); resp.StatusCode != http.StatusConflict {
					t.Errorf("POST again while unreadable: status %d, want 409", resp.StatusCode)
				}
			}
			resp, body := read(key)
			if shape == StoredLost {
				wantError(t, resp, body, http.StatusNotFound, "ressource_not_found")
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /responses: status %d, want 200", resp.StatusCode)
			}
			status, hasStatus := body["StatusCode"]
			res, hasRes := body["Resource"]
			want := map[StoredShape]any{StoredStatusZero: "0", StoredStatusEmpty: "", StoredStatusNonNumeric: "OK"}[shape]
			switch shape {
			case StoredStatusMissing:
				if hasStatus {
					t.Errorf("StatusCode = %#v, want no field", status)
				}
			case StoredStatusZero, StoredStatusEmpty, StoredStatusNonNumeric:
				if status != want {
					t.Errorf("StatusCode = %#v, want %#v", status, want)
				}
			default:
				if status != "200" {
					t.Errorf("StatusCode = %#v, want \"200\"", status)
				}
			}
			switch shape {
			case StoredNoResource:
				if hasRes {
					t.Errorf("Resource = %v, want no field", res)
				}
			case StoredNullResource:
				if !hasRes || res != nil {
					t.Errorf("Resource = %v (present %v), want null", res, hasRes)
				}
			default:
				m, _ := res.(map[string]any)
				if redirectURL(t, m) == "" {
					t.Errorf("Resource = %v, want the first answer", res)
				}
			}
		})
	}
}

// TestFaultCommitAbandoned: a worker killed mid-call leaves a call that
// Mangopay still executes: the key is used and its answer stored. Without
// the knob, nothing is executed.
func TestFaultCommitAbandoned(t *testing.T) {
	t.Parallel()
	for _, commit := range []bool{true, false} {
		t.Run(strconv.FormatBool(commit), func(t *testing.T) {
			t.Parallel()
			h := setup(t, Options{})
			tok := h.token()
			h.srv.ResetCalls()
			// A long Latency, or a hold: both are "in flight".
			f := Faults{Latency: time.Hour, CommitAbandoned: commit, StoredShapes: []StoredShape{StoredStatusZero}}
			if commit {
				f.Latency, f.HoldEnrollments = 0, true
			}
			h.srv.SetFaults(f)
			const key = "abandoned-call-key-0001"
			enroll := "/sca/users/" + UserOwnerNatural + "/enrollment"
			ctx, cancel := context.WithCancel(context.Background())
			req := h.request("POST", enroll, tok, key).WithContext(ctx)
			errc := make(chan error, 1)
			go func() {
				resp, err := h.srv.Client().Do(req)
				if err == nil {
					resp.Body.Close()
				}
				errc <- err
			}()
			waitFor(t, "the POST in flight", func() bool { return h.srv.InFlight("POST", "/enrollment") == 1 })
			if n := h.srv.InFlight("GET", ""); n != 0 {
				t.Errorf("InFlight(GET) = %d, want 0", n)
			}
			cancel()
			if err := <-errc; err == nil {
				t.Fatal("Do() = nil error, want the client's cancellation")
			}
			waitFor(t, "the call recorded", func() bool { return len(h.srv.Calls()) == 1 })
			c := h.srv.Calls()[0]
			u, _ := h.srv.User(UserOwnerNatural)
			h.srv.SetFaults(Faults{})
			resp, body := h.call("POST", enroll, tok, key)
			if !commit {
				if c.Status != 0 || !c.Abandoned || u.Triggered || resp.StatusCode != http.StatusOK {
					t.Errorf("not committed: call %+v, triggered %v, POST again %d; want status 0, abandoned, nothing executed, 200", c, u.Triggered, resp.StatusCode)
				}
				return
			}
			if c.Status != http.StatusOK || !c.Abandoned || c.IdempotencyKey != key || !u.Triggered {
				t.Errorf("committed: call %+v, triggered %v; want status 200, abandoned, the key, user triggered", c, u.Triggered)
			}
			wantError(t, resp, body, http.StatusConflict, "idempotent_creation_conflict")
			_, stored := h.call("GET", "/responses/"+key, tok, "")
			if stored["StatusCode"] != "0" {
				t.Errorf("stored StatusCode = %#v, want the damaged \"0\"", stored["StatusCode"])
			}
		})
	}
}

// TestFaultHoldEnrollments: enrollment POSTs stay in flight until released;
// other calls are not held.
func TestFaultHoldEnrollments(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	tok := h.token()
	h.srv.SetFaults(Faults{HoldEnrollments: true})
	enroll := "/sca/users/" + UserOwnerNatural + "/enrollment"
	status := make(chan int, 2)
	for _, key := range []string{"held-call-key-000001", "held-call-key-000002"} {
		go func() {
			resp, err := h.srv.Client().Do(h.request("POST", enroll, tok, key))
			if err != nil {
				status <- 0
				return
			}
			resp.Body.Close()
			status <- resp.StatusCode
		}()
	}
	waitFor(t, "both POSTs held", func() bool { return h.srv.InFlight("POST", "/enrollment") == 2 })
	if resp, _ := h.call("GET", "/sca/users/"+UserOwnerNatural, tok, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("GET user during the hold: %d, want 200 (not held)", resp.StatusCode)
	}
	h.srv.SetFaults(Faults{HoldEnrollments: true}) // still held: the same hold
	if got := h.srv.Count("POST", "/enrollment"); got != 0 {
		t.Fatalf("POSTs answered during the hold = %d, want 0", got)
	}
	h.srv.SetFaults(Faults{})
	for range 2 {
		if s := <-status; s != http.StatusOK {
			t.Errorf("released POST: status %d, want 200", s)
		}
	}
}
