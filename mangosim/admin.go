package mangosim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AdminPrefix is the path prefix of the simulator's own endpoints, which
// Mangopay does not have. They need no token, are not rate-limited and
// are not recorded as calls:
//
//   - GET /_sim/users lists the users (see [AdminUser]).
//   - POST /_sim/users adds or replaces users: one [AdminUser] object or a
//     list of them → 201 with the users as stored. Defaults: category
//     OWNER, person_type NATURAL, status ACTIVE.
//   - POST /_sim/events adds items of GET /events: one [AdminEvent] or a
//     list → 201. Defaults: event_type SCA_ENROLLMENT_EXPIRED, date now.
//
// So that `scaworker backfill` can be tried by hand against cmd/mangosim:
//
//	curl -X POST localhost:8099/_sim/users  -d '{"id":"user_m_ada","email":"ada@example.com"}'
//	curl -X POST localhost:8099/_sim/events -d '{"resource_id":"user_m_ada","event_type":"SCA_ENROLLMENT_FAILED"}'
const AdminPrefix = "/_sim/"

// AdminUser is a user as the admin endpoints read and write it.
type AdminUser struct {
	ID                       string `json:"id"`
	Category                 string `json:"category,omitempty"`    // OWNER (default), PAYER, PLATFORM
	PersonType               string `json:"person_type,omitempty"` // NATURAL (default), LEGAL
	LegalPersonType          string `json:"legal_person_type,omitempty"`
	Status                   string `json:"status,omitempty"` // ACTIVE (default), PENDING_USER_ACTION, CLOSED
	Email                    string `json:"email,omitempty"`
	LegalRepresentativeEmail string `json:"legal_representative_email,omitempty"`
	Enrolled                 bool   `json:"enrolled"`
	Triggered                bool   `json:"triggered"`
}

// AdminEvent is an item of GET /events as POST /_sim/events reads it.
type AdminEvent struct {
	ResourceID string `json:"resource_id"`
	EventType  string `json:"event_type,omitempty"` // default SCA_ENROLLMENT_EXPIRED
	// Date is RFC 3339 or Unix seconds (a JSON string or number); default now.
	Date json.RawMessage `json:"date,omitempty"`
}

// maxAdminBody bounds an admin request body.
const maxAdminBody = 1 << 20

// serveAdmin answers the endpoints under [AdminPrefix].
func (s *Sim) serveAdmin(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimPrefix(r.URL.Path, AdminPrefix) {
	case "users":
		switch r.Method {
		case http.MethodGet:
			writeAdmin(w, http.StatusOK, s.adminUsers())
		case http.MethodPost:
			var in []AdminUser
			if err := readAdmin(r, &in); err != nil {
				adminError(w, http.StatusBadRequest, err)
				return
			}
			out := make([]AdminUser, 0, len(in))
			for _, a := range in {
				u, err := a.user()
				if err != nil {
					adminError(w, http.StatusBadRequest, err)
					return
				}
				out = append(out, adminUserOf(u))
			}
			for _, a := range out {
				u, _ := a.user()
				s.AddUser(u)
			}
			writeAdmin(w, http.StatusCreated, out)
		default:
			adminError(w, http.StatusMethodNotAllowed, fmt.Errorf("%s: use GET or POST", r.Method))
		}
	case "events":
		if r.Method != http.MethodPost {
			adminError(w, http.StatusMethodNotAllowed, fmt.Errorf("%s: use POST", r.Method))
			return
		}
		var in []AdminEvent
		if err := readAdmin(r, &in); err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		evs := make([]Event, 0, len(in))
		for _, a := range in {
			e, err := a.event(s.opts.Now())
			if err != nil {
				adminError(w, http.StatusBadRequest, err)
				return
			}
			evs = append(evs, e)
		}
		out := make([]map[string]any, 0, len(evs))
		for _, e := range evs {
			s.AddEvent(e)
			out = append(out, map[string]any{"ResourceId": e.ResourceID, "EventType": e.EventType, "Date": e.Date.Unix()})
		}
		writeAdmin(w, http.StatusCreated, out)
	default:
		adminError(w, http.StatusNotFound, fmt.Errorf("%s: unknown; the simulator has %susers and %sevents", r.URL.Path, AdminPrefix, AdminPrefix))
	}
}

func (s *Sim) adminUsers() []AdminUser {
	s.mu.Lock()
	out := make([]AdminUser, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, adminUserOf(u.User))
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b AdminUser) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func adminUserOf(u User) AdminUser {
	return AdminUser{ID: u.ID, Category: u.Category, PersonType: u.PersonType, LegalPersonType: u.LegalPersonType,
		Status: u.Status, Email: u.Email, LegalRepresentativeEmail: u.LegalRepresentativeEmail,
		Enrolled: u.Enrolled, Triggered: u.Triggered}
}

// user checks a and fills in the defaults.
func (a AdminUser) user() (User, error) {
	u := User{ID: a.ID, Category: strings.ToUpper(a.Category), PersonType: strings.ToUpper(a.PersonType),
		LegalPersonType: strings.ToUpper(a.LegalPersonType), Status: strings.ToUpper(a.Status), Email: a.Email,
		LegalRepresentativeEmail: a.LegalRepresentativeEmail, Enrolled: a.Enrolled, Triggered: a.Triggered || a.Enrolled}
	if !validAdminID(u.ID) {
		return User{}, fmt.Errorf("id %q: want 1-128 of A-Z a-z 0-9 _ -", a.ID)
	}
	def := func(v *string, d string, allowed ...string) error {
		if *v == "" {
			*v = d
		}
		if !slices.Contains(allowed, *v) {
			return fmt.Errorf("user %s: %q: want one of %s", u.ID, *v, strings.Join(allowed, ", "))
		}
		return nil
	}
	if err := def(&u.Category, CategoryOwner, CategoryOwner, CategoryPayer, CategoryPlatform); err != nil {
		return User{}, err
	}
	if err := def(&u.PersonType, PersonNatural, PersonNatural, PersonLegal); err != nil {
		return User{}, err
	}
	if err := def(&u.Status, StatusActive, StatusActive, StatusPendingUserAction, StatusClosed); err != nil {
		return User{}, err
	}
	if u.PersonType == PersonLegal && u.LegalPersonType == "" {
		u.LegalPersonType = "BUSINESS"
	}
	return u, nil
}

func validAdminID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// event checks a and fills in the defaults.
func (a AdminEvent) event(now time.Time) (Event, error) {
	e := Event{ResourceID: a.ResourceID, EventType: a.EventType, Date: now.Truncate(time.Second)}
	if e.ResourceID == "" {
		return Event{}, fmt.Errorf("resource_id: required")
	}
	if e.EventType == "" {
		e.EventType = "SCA_ENROLLMENT_EXPIRED"
	}
	if len(a.Date) == 0 || string(a.Date) == "null" {
		return e, nil
	}
	var text string
	if err := json.Unmarshal(a.Date, &text); err != nil {
		text = string(a.Date) // a number
	}
	if sec, err := strconv.ParseInt(text, 10, 64); err == nil {
		e.Date = time.Unix(sec, 0).UTC()
		return e, nil
	}
	d, err := time.Parse(time.RFC3339, text)
	if err != nil {
		return Event{}, fmt.Errorf("date %s: want RFC 3339 or Unix seconds", a.Date)
	}
	e.Date = d.UTC()
	return e, nil
}

// readAdmin decodes one object or a list of them into out.
func readAdmin[T any](r *http.Request, out *[]T) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	trimmed := strings.TrimSpace(string(body))
	if strings.HasPrefix(trimmed, "[") {
		err = json.Unmarshal(body, out)
	} else {
		var one T
		err = json.Unmarshal(body, &one)
		*out = []T{one}
	}
	if err != nil {
		return fmt.Errorf("body: %w", err)
	}
	return nil
}

func writeAdmin(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func adminError(w http.ResponseWriter, status int, err error) {
	writeAdmin(w, status, map[string]string{"error": err.Error()})
}
