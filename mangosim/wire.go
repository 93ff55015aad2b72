package mangosim

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Messages of Mangopay's error reports (docs/mangopay.md, "Errors").
const (
	msgParamError   = "One or several required parameters are missing or incorrect. An incorrect resource ID also raises this kind of error."
	msgNotFound     = "The ressource does not exist"
	msgForbidden    = "This endpoint is not available for your account"
	msgConflict     = "A resource has already been created with this Idempotency Key"
	msgRateLimit    = "Rate limit exceeded. Please contact support if you need a higher limit."
	msgUnauthorized = "The authorization credentials are not valid"
	msgUnavailable  = "The service is temporarily unavailable. Please retry later."
	msgInternal     = "An internal error occurred. Please retry later or contact support."
)

const htmlBadGateway = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>openresty</center>\r\n</body>\r\n</html>\r\n"

// errorReport is Mangopay's error body: Message, Type, Id, Date (unix seconds), errors.
type errorReport struct {
	Message string            `json:"Message"`
	Type    string            `json:"Type"`
	ID      string            `json:"Id"`
	Date    int64             `json:"Date"`
	Errors  map[string]string `json:"errors"` // null when none
}

// errReply builds an error report. Its Id is "<uuid>#<unix>", like Mangopay's.
func (s *Sim) errReply(status int, typ, msg string, errs map[string]string, now time.Time) reply {
	id := fmt.Sprintf("%s#%d", newUUID(), now.Unix())
	return jsonReply(status, errorReport{Message: msg, Type: typ, ID: id, Date: now.Unix(), Errors: errs})
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// unauthorized is the 401 of an expired or unknown bearer: the documented body has no Id and
// no errors.
func (s *Sim) unauthorized(now time.Time) reply {
	return jsonReply(http.StatusUnauthorized, struct {
		Message string `json:"Message"`
		Type    string `json:"Type"`
		Date    int64  `json:"Date"`
	}{msgUnauthorized, "invalid_credentials", now.Unix()})
}

// oauthError is the OAuth-style body of the token endpoint ({"error", "error_description"}).
func oauthError(status int, code, desc string) reply {
	return jsonReply(status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, desc})
}

// ---- user objects (GET /sca/users/{id}) ----

type naturalUser struct {
	ID                            string    `json:"Id"`
	Tag                           *string   `json:"Tag"`
	CreationDate                  int64     `json:"CreationDate"`
	UserCategory                  string    `json:"UserCategory"`
	PersonType                    string    `json:"PersonType"`
	UserStatus                    string    `json:"UserStatus"`
	KYCLevel                      string    `json:"KYCLevel"`
	TermsAndConditionsAccepted    bool      `json:"TermsAndConditionsAccepted"`
	TermsAndConditionsAcceptedDat *int64    `json:"TermsAndConditionsAcceptedDate"`
	Email                         string    `json:"Email"`
	FirstName                     string    `json:"FirstName"`
	LastName                      string    `json:"LastName"`
	PhoneNumber                   *string   `json:"PhoneNumber"`
	PhoneNumberCountry            *string   `json:"PhoneNumberCountry"`
	Nationality                   string    `json:"Nationality"`
	CountryOfResidence            string    `json:"CountryOfResidence"`
	PendingUserAction             *struct{} `json:"PendingUserAction"`
}

type legalRepresentative struct {
	FirstName          string  `json:"FirstName"`
	LastName           string  `json:"LastName"`
	Email              *string `json:"Email"`
	PhoneNumber        *string `json:"PhoneNumber"`
	PhoneNumberCountry *string `json:"PhoneNumberCountry"`
	Nationality        string  `json:"Nationality"`
	CountryOfResidence string  `json:"CountryOfResidence"`
}

type legalUser struct {
	ID                            string              `json:"Id"`
	Tag                           *string             `json:"Tag"`
	CreationDate                  int64               `json:"CreationDate"`
	UserCategory                  string              `json:"UserCategory"`
	PersonType                    string              `json:"PersonType"`
	UserStatus                    string              `json:"UserStatus"`
	KYCLevel                      string              `json:"KYCLevel"`
	TermsAndConditionsAccepted    bool                `json:"TermsAndConditionsAccepted"`
	TermsAndConditionsAcceptedDat *int64              `json:"TermsAndConditionsAcceptedDate"`
	Email                         string              `json:"Email"`
	Name                          string              `json:"Name"`
	LegalPersonType               string              `json:"LegalPersonType"`
	CompanyNumber                 *string             `json:"CompanyNumber"`
	LegalRepresentative           legalRepresentative `json:"LegalRepresentative"`
	PendingUserAction             *struct{}           `json:"PendingUserAction"`
}

func userJSON(u *userState) any {
	created := u.created.Unix()
	if u.PersonType == PersonLegal {
		var rep *string
		if u.LegalRepresentativeEmail != "" {
			e := u.LegalRepresentativeEmail
			rep = &e
		}
		return legalUser{
			ID: u.ID, CreationDate: created, UserCategory: u.Category, PersonType: u.PersonType,
			UserStatus: u.Status, KYCLevel: "LIGHT", TermsAndConditionsAccepted: true,
			TermsAndConditionsAcceptedDat: &created, Email: u.Email, Name: "Company " + u.ID,
			LegalPersonType: u.LegalPersonType,
			LegalRepresentative: legalRepresentative{FirstName: "Rep", LastName: "Resentative", Email: rep,
				Nationality: "FR", CountryOfResidence: "FR"},
		}
	}
	return naturalUser{
		ID: u.ID, CreationDate: created, UserCategory: u.Category, PersonType: u.PersonType,
		UserStatus: u.Status, KYCLevel: "LIGHT", TermsAndConditionsAccepted: true,
		TermsAndConditionsAcceptedDat: &created, Email: u.Email, FirstName: "Sim", LastName: "User",
		Nationality: "FR", CountryOfResidence: "FR",
	}
}

// ---- GET /events ----

type eventJSON struct {
	ResourceID string `json:"ResourceId"`
	EventType  string `json:"EventType"`
	Date       int64  `json:"Date"`
}

// query returns the first value of the query parameter name, matched case-insensitively.
func query(r *http.Request, name string) (string, bool) {
	for k, vs := range r.URL.Query() {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0], true
		}
	}
	return "", false
}

func (s *Sim) listEvents(r *http.Request, now time.Time) reply {
	bad := func(field, msg string) reply {
		return s.errReply(http.StatusBadRequest, "param_error", msgParamError, map[string]string{field: msg}, now)
	}
	oldest := now.Add(-EventsWindow)
	intParam := func(name string, def, lo, hi int64) (int64, *reply) {
		v, ok := query(r, name)
		if !ok {
			return def, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			rp := bad(name, fmt.Sprintf("The field %s must be an integer between %d and %d.", name, lo, hi))
			return 0, &rp
		}
		return n, nil
	}
	page, rp := intParam("page", 1, 1, 1<<31-1)
	if rp != nil {
		return *rp
	}
	perPage, rp := intParam("per_page", 10, 1, 100)
	if rp != nil {
		return *rp
	}
	after, rp := intParam("AfterDate", oldest.Unix(), 0, 1<<62)
	if rp != nil {
		return *rp
	}
	before, rp := intParam("BeforeDate", now.Unix(), 0, 1<<62)
	if rp != nil {
		return *rp
	}
	if after < oldest.Unix() {
		return bad("AfterDate", "Events can only be listed for the last 45 days.")
	}
	if before < oldest.Unix() {
		return bad("BeforeDate", "Events can only be listed for the last 45 days.")
	}
	if after > before {
		return bad("AfterDate", "AfterDate must be before BeforeDate.")
	}
	desc := false
	if v, ok := query(r, "Sort"); ok {
		switch strings.ToUpper(v) {
		case "DATE:ASC", "CREATIONDATE:ASC":
		case "DATE:DESC", "CREATIONDATE:DESC":
			desc = true
		default:
			return bad("Sort", "Sort must be Date:ASC or Date:DESC.")
		}
	}
	eventType, _ := query(r, "EventType")

	var out []Event
	for _, e := range s.events {
		d := e.Date.Unix()
		if d < oldest.Unix() || d < after || d > before {
			continue
		}
		if eventType != "" && !matchType(eventType, e.EventType) {
			continue
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if desc {
			return out[i].Date.After(out[j].Date)
		}
		return out[i].Date.Before(out[j].Date)
	})
	total := int64(len(out))
	pages := (total + perPage - 1) / perPage
	items := make([]eventJSON, 0, perPage)
	for i := (page - 1) * perPage; i < total && i < page*perPage; i++ {
		items = append(items, eventJSON{out[i].ResourceID, out[i].EventType, out[i].Date.Unix()})
	}
	rep := jsonReply(http.StatusOK, items)
	rep.header = http.Header{}
	rep.header.Set("X-Number-Of-Pages", strconv.FormatInt(pages, 10))
	rep.header.Set("X-Number-Of-Items", strconv.FormatInt(total, 10))
	return rep
}

// matchType matches EventType filters, which may list several types separated by commas.
func matchType(filter, t string) bool {
	for f := range strings.SplitSeq(filter, ",") {
		if strings.TrimSpace(f) == t {
			return true
		}
	}
	return false
}
