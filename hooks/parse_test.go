package hooks

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scaworker/scaworker/events"
)

// parseNow has a fraction of a second, so the whole-second boundaries are exercised.
var parseNow = time.Date(2025, 11, 25, 12, 0, 0, 600_000_000, time.UTC)

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func TestParseHook(t *testing.T) {
	t.Parallel()
	now := parseNow
	okDate := unix(now.Add(-time.Hour))
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	valid := func(et, uid, date string) url.Values {
		return q("EventType", et, "RessourceId", uid, "Date", date)
	}
	long := strings.Repeat("a", 128)
	for _, tc := range []struct {
		name   string
		q      url.Values
		status int // 0: accepted
	}{
		{"expired", valid("SCA_ENROLLMENT_EXPIRED", "user_m_01JQVHDG0S0TJP5KFX029211BF", okDate), 0},
		{"failed", valid("SCA_ENROLLMENT_FAILED", "146476890", okDate), 0},
		{"succeeded", valid("SCA_ENROLLMENT_SUCCEEDED", "u-_9", okDate), 0},
		{"unknown params ignored", q("EventType", "SCA_ENROLLMENT_FAILED", "RessourceId", "u", "Date", okDate, "Extra", "x"), 0},
		{"128-char id", valid("SCA_ENROLLMENT_FAILED", long, okDate), 0},
		{"exactly 45 days old", valid("SCA_ENROLLMENT_FAILED", "u", strconv.FormatInt(now.Unix()-45*86400, 10)), 0},
		{"exactly 5 minutes ahead", valid("SCA_ENROLLMENT_FAILED", "u", strconv.FormatInt(now.Unix()+300, 10)), 0},
		{"now", valid("SCA_ENROLLMENT_FAILED", "u", unix(now)), 0},

		{"no params", url.Values{}, 400},
		{"EventType empty", valid("", "u", okDate), 400},
		{"EventType repeated", q("EventType", "SCA_ENROLLMENT_FAILED", "EventType", "SCA_ENROLLMENT_FAILED", "RessourceId", "u", "Date", okDate), 400},
		{"EventType wrong case name", q("eventtype", "SCA_ENROLLMENT_FAILED", "RessourceId", "u", "Date", okDate), 400},

		{"unknown type ignored", valid("USER_ACCOUNT_ACTIVATED", "u", okDate), 200},
		{"lower-case type ignored", valid("sca_enrollment_failed", "u", okDate), 200},
		{"unknown type, bad rest still ignored", q("EventType", "KYC_SUCCEEDED", "RessourceId", "../x"), 200},

		{"RessourceId missing", q("EventType", "SCA_ENROLLMENT_FAILED", "Date", okDate), 400},
		{"ResourceId single s is not RessourceId", q("EventType", "SCA_ENROLLMENT_FAILED", "ResourceId", "u", "Date", okDate), 400},
		{"RessourceId empty", valid("SCA_ENROLLMENT_FAILED", "", okDate), 400},
		{"RessourceId 129 chars", valid("SCA_ENROLLMENT_FAILED", long+"a", okDate), 400},
		{"RessourceId slash", valid("SCA_ENROLLMENT_FAILED", "u/../x", okDate), 400},
		{"RessourceId space", valid("SCA_ENROLLMENT_FAILED", "u 1", okDate), 400},
		{"RessourceId dot", valid("SCA_ENROLLMENT_FAILED", "u.1", okDate), 400},
		{"RessourceId non-ASCII", valid("SCA_ENROLLMENT_FAILED", "usér", okDate), 400},
		{"RessourceId repeated", q("EventType", "SCA_ENROLLMENT_FAILED", "RessourceId", "u", "RessourceId", "u", "Date", okDate), 400},

		{"Date missing", q("EventType", "SCA_ENROLLMENT_FAILED", "RessourceId", "u"), 400},
		{"Date empty", valid("SCA_ENROLLMENT_FAILED", "u", ""), 400},
		{"Date repeated", q("EventType", "SCA_ENROLLMENT_FAILED", "RessourceId", "u", "Date", okDate, "Date", okDate), 400},
		{"Date non-numeric", valid("SCA_ENROLLMENT_FAILED", "u", "yesterday"), 400},
		{"Date RFC 3339", valid("SCA_ENROLLMENT_FAILED", "u", now.Format(time.RFC3339)), 400},
		{"Date fractional", valid("SCA_ENROLLMENT_FAILED", "u", okDate+".5"), 400},
		{"Date exponent", valid("SCA_ENROLLMENT_FAILED", "u", "1.7e9"), 400},
		{"Date negative", valid("SCA_ENROLLMENT_FAILED", "u", "-"+okDate), 400},
		{"Date plus sign", valid("SCA_ENROLLMENT_FAILED", "u", "+"+okDate), 400},
		{"Date leading zero", valid("SCA_ENROLLMENT_FAILED", "u", "0"+okDate), 400},
		{"Date space", valid("SCA_ENROLLMENT_FAILED", "u", " "+okDate), 400},
		{"Date milliseconds", valid("SCA_ENROLLMENT_FAILED", "u", unix(now)+"000"), 400},
		{"Date overflow", valid("SCA_ENROLLMENT_FAILED", "u", "999999999999999999999"), 400},
		{"Date zero", valid("SCA_ENROLLMENT_FAILED", "u", "0"), 400},
		{"45 days and 1 second old", valid("SCA_ENROLLMENT_FAILED", "u", strconv.FormatInt(now.Unix()-45*86400-1, 10)), 400},
		{"5 minutes and 1 second ahead", valid("SCA_ENROLLMENT_FAILED", "u", strconv.FormatInt(now.Unix()+301, 10)), 400},
	} {
		h, rej := ParseHook(tc.q, now)
		switch {
		case tc.status == 0 && rej != nil:
			t.Errorf("%s: ParseHook() rejected %d %q, want accepted", tc.name, rej.Status, rej.Reason)
		case tc.status == 0:
			if h.EventType != tc.q.Get("EventType") || h.UserID != tc.q.Get("RessourceId") || h.RawDate != tc.q.Get("Date") || unix(h.Date) != h.RawDate {
				t.Errorf("%s: ParseHook() = %+v, want the parameters back", tc.name, h)
			}
		case rej == nil:
			t.Errorf("%s: ParseHook() accepted %+v, want %d", tc.name, h, tc.status)
		case rej.Status != tc.status || rej.Reason == "":
			t.Errorf("%s: ParseHook() = %d %q, want %d with a reason", tc.name, rej.Status, rej.Reason, tc.status)
		}
	}
}

func TestHookIDMatchesEncodeHookEvent(t *testing.T) {
	t.Parallel()
	h, rej := ParseHook(url.Values{"EventType": {"SCA_ENROLLMENT_SUCCEEDED"}, "RessourceId": {"146476890"}, "Date": {unix(parseNow)}}, parseNow)
	if rej != nil {
		t.Fatal(rej.Reason)
	}
	// Backfill encodes from a time.Time (the events API's Date): same id.
	_, id, _, err := events.EncodeHookEvent(h.EventType, h.UserID, time.Unix(parseNow.Unix(), 0), parseNow)
	if err != nil {
		t.Fatal(err)
	}
	if h.ID() != id {
		t.Errorf("Hook.ID() = %s, EncodeHookEvent id = %s; want equal", h.ID(), id)
	}
}

// FuzzParseHook checks the parser's contract on any query string: it never panics; an
// accepted hook has a valid user id, a known type, a canonical date inside the window; a
// refusal is 400, or 200 exactly when EventType is a single non-empty unknown type.
func FuzzParseHook(f *testing.F) {
	ok := unix(parseNow.Add(-time.Minute))
	f.Add("EventType=SCA_ENROLLMENT_EXPIRED&RessourceId=user_m_01JQVHDG0S0TJP5KFX029211BF&Date="+ok, int64(0))
	f.Add("EventType=SCA_ENROLLMENT_FAILED&RessourceId=146476890&Date="+ok, int64(0))
	f.Add("EventType=SCA_ENROLLMENT_SUCCEEDED&RessourceId=u&Date="+ok+"&Date="+ok, int64(0))
	f.Add("EventType=USER_ACCOUNT_ACTIVATED&RessourceId=u&Date="+ok, int64(0))
	f.Add("EventType=SCA_ENROLLMENT_FAILED&RessourceId=u%2F..&Date="+ok, int64(0))
	f.Add("EventType=SCA_ENROLLMENT_FAILED&RessourceId=u&Date=01743627006", int64(0))
	f.Add("EventType=SCA_ENROLLMENT_FAILED&RessourceId=u&Date=1743627006.5", int64(-86400*46))
	f.Add("EventType=&RessourceId=&Date=", int64(0))
	f.Add("", int64(0))
	f.Fuzz(func(t *testing.T, rawQuery string, offset int64) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return // the handler answers 400 before ParseHook
		}
		now := parseNow.Add(time.Duration(offset%(100*86400)) * time.Second)
		h, rej := ParseHook(q, now)
		if rej != nil {
			if rej.Reason == "" {
				t.Fatalf("ParseHook(%q) rejected without a reason", rawQuery)
			}
			et := q["EventType"]
			_, known := events.HookType(firstOr(et))
			wantIgnored := len(et) == 1 && et[0] != "" && !known
			switch {
			case rej.Status == http.StatusOK && !wantIgnored:
				t.Fatalf("ParseHook(%q) = 200 ignored, but EventType %q is a single known type or missing", rawQuery, et)
			case rej.Status == http.StatusBadRequest && wantIgnored:
				t.Fatalf("ParseHook(%q) = 400, want 200 ignored for unknown type %q", rawQuery, et[0])
			case rej.Status != http.StatusOK && rej.Status != http.StatusBadRequest:
				t.Fatalf("ParseHook(%q) status = %d, want 200 or 400", rawQuery, rej.Status)
			}
			return
		}
		if _, known := events.HookType(h.EventType); !known {
			t.Fatalf("ParseHook(%q) accepted unknown type %q", rawQuery, h.EventType)
		}
		if !events.ValidUserID(h.UserID) {
			t.Fatalf("ParseHook(%q) accepted invalid user id %q", rawQuery, h.UserID)
		}
		if age := now.Unix() - h.Date.Unix(); age > 45*86400 || age < -300 {
			t.Fatalf("ParseHook(%q) accepted date %v, %ds from now", rawQuery, h.Date, age)
		}
		if unix(h.Date) != h.RawDate || h.Date.Location() != time.UTC {
			t.Fatalf("ParseHook(%q) date %v raw %q: not canonical", rawQuery, h.Date, h.RawDate)
		}
		if len(q["EventType"]) != 1 || len(q["RessourceId"]) != 1 || len(q["Date"]) != 1 {
			t.Fatalf("ParseHook(%q) accepted a repeated or missing parameter", rawQuery)
		}
		if !events.ValidKey(h.ID()) {
			t.Fatalf("Hook.ID() = %q, not 64 hex", h.ID())
		}
	})
}

func firstOr(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
