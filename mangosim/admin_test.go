package mangosim

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// adminPost posts body to an admin path and returns the status and body.
func (h *harness) adminPost(path, body string) (int, string) {
	h.t.Helper()
	resp, err := h.srv.Client().Post(h.srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		h.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminAddsUsersAUserCanBeEnrolled(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	code, body := h.adminPost("/_sim/users", `{"id":"user_m_ada","email":"ada@example.com"}`)
	if code != http.StatusCreated || !strings.Contains(body, `"category":"OWNER"`) {
		t.Fatalf("POST /_sim/users = %d %s, want 201 with the OWNER default", code, body)
	}
	u, ok := h.srv.User("user_m_ada")
	if !ok || u.Category != CategoryOwner || u.PersonType != PersonNatural || u.Status != StatusActive || u.Email != "ada@example.com" {
		t.Errorf("added user = %+v, %v", u, ok)
	}
	resp, _ := h.call(http.MethodPost, "/sca/users/user_m_ada/enrollment", h.token(), "")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("enroll the added user = %d, want 200", resp.StatusCode)
	}
	code, body = h.adminPost("/_sim/users", `[{"id":"user_m_p","category":"payer"},{"id":"user_m_l","person_type":"LEGAL"}]`)
	if code != http.StatusCreated {
		t.Fatalf("POST a list = %d %s", code, body)
	}
	if p, _ := h.srv.User("user_m_p"); p.Category != CategoryPayer {
		t.Errorf("payer added as %+v", p)
	}
	if l, _ := h.srv.User("user_m_l"); l.LegalPersonType != "BUSINESS" || l.LegalRepresentativeEmail != "" {
		t.Errorf("legal user added as %+v", l)
	}
	for _, bad := range []string{`{"id":"../x"}`, `{"id":"u","category":"ADMIN"}`, `not json`} {
		if code, _ := h.adminPost("/_sim/users", bad); code != http.StatusBadRequest {
			t.Errorf("POST /_sim/users %s = %d, want 400", bad, code)
		}
	}
	for _, c := range h.srv.Calls() {
		if strings.HasPrefix(c.Path, AdminPrefix) {
			t.Errorf("admin call recorded: %+v (admin calls are not Mangopay calls)", c)
		}
	}
}

func TestAdminAddsEventsListedByGetEvents(t *testing.T) {
	t.Parallel()
	h := setup(t, Options{})
	at := h.clock.Now().Add(-time.Hour).Truncate(time.Second)
	code, body := h.adminPost("/_sim/events", `[{"resource_id":"user_m_owner_natural","event_type":"SCA_ENROLLMENT_FAILED","date":"`+at.Format(time.RFC3339)+`"},{"resource_id":"user_m_owner_natural_2"}]`)
	if code != http.StatusCreated {
		t.Fatalf("POST /_sim/events = %d %s", code, body)
	}
	var got []map[string]any
	resp, err := h.srv.Client().Do(h.request(http.MethodGet, "/events?per_page=100", h.token(), ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := decodeJSON(resp, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0]["EventType"] != "SCA_ENROLLMENT_FAILED" || got[0]["Date"] != float64(at.Unix()) ||
		got[1]["EventType"] != "SCA_ENROLLMENT_EXPIRED" || got[1]["ResourceId"] != "user_m_owner_natural_2" {
		t.Errorf("GET /events = %v, want the two added events (the second with the defaults)", got)
	}
	if code, _ := h.adminPost("/_sim/events", `{"event_type":"SCA_ENROLLMENT_FAILED"}`); code != http.StatusBadRequest {
		t.Errorf("an event without resource_id = %d, want 400", code)
	}
}
