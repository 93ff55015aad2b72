package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func TestHookID(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte("SCA_ENROLLMENT_EXPIRED|user_m_01JQVHDG0S0TJP5KFX029211BF|1743627006"))
	want := hex.EncodeToString(sum[:])
	if got := HookID("SCA_ENROLLMENT_EXPIRED", "user_m_01JQVHDG0S0TJP5KFX029211BF", "1743627006"); got != want {
		t.Errorf("HookID() = %s, want %s", got, want)
	}
	// Pinned value: backfill and webhook must agree across versions.
	if got, want := HookID("SCA_ENROLLMENT_FAILED", "146476890", "1743627006"), "ce5c145906607647bcc770b9e33fb0fea0f0a96ef3a232e58cc64f7dcffba8f0"; got != want {
		t.Errorf("HookID() = %s, want the pinned %s", got, want)
	}
	if HookID("SCA_ENROLLMENT_FAILED", "u", "1") == HookID("SCA_ENROLLMENT_EXPIRED", "u", "1") {
		t.Error("HookID() equal for different event types")
	}
}

func TestHookType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"SCA_ENROLLMENT_EXPIRED", TypeSessionExpired, true},
		{"SCA_ENROLLMENT_FAILED", TypeSessionFailed, true},
		{"SCA_ENROLLMENT_SUCCEEDED", TypeEnrollmentSucceeded, true},
		{"sca_enrollment_expired", "", false},
		{"USER_ACCOUNT_ACTIVATED", "", false},
		{"", "", false},
	} {
		got, ok := HookType(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("HookType(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestEncodeHookEventGolden(t *testing.T) {
	t.Parallel()
	date := time.Unix(1743627006, 0)
	typ, id, body, err := EncodeHookEvent(HookEnrollmentExpired, "user_m_01JQVHDG0S0TJP5KFX029211BF", date, testNow)
	if err != nil {
		t.Fatalf("EncodeHookEvent() error = %v", err)
	}
	if typ != TypeSessionExpired {
		t.Errorf("EncodeHookEvent() type = %q, want %q", typ, TypeSessionExpired)
	}
	if want := HookID(HookEnrollmentExpired, "user_m_01JQVHDG0S0TJP5KFX029211BF", "1743627006"); id != want {
		t.Errorf("EncodeHookEvent() id = %q, want %q", id, want)
	}
	checkGolden(t, "hook_expired", body)
}

func TestEncodeHookEventDecodes(t *testing.T) {
	t.Parallel()
	s := DefaultSubjects()
	date := time.Date(2025, 11, 24, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	for _, et := range []string{HookEnrollmentExpired, HookEnrollmentFailed, HookEnrollmentSucceeded} {
		typ, id, body, err := EncodeHookEvent(et, "146476890", date, testNow)
		if err != nil {
			t.Fatalf("EncodeHookEvent(%s) error = %v", et, err)
		}
		subject, ok := s.SubjectFor(typ)
		if !ok {
			t.Fatalf("SubjectFor(%q) not ok", typ)
		}
		tr, err := s.Decode(subject, body)
		if err != nil {
			t.Fatalf("Decode(EncodeHookEvent(%s)) error = %v", et, err)
		}
		if tr.ID != id || tr.Source != HookSource || tr.Type != typ || tr.UserID != "146476890" {
			t.Errorf("decoded = %+v, want id %s, source mangopay, type %s, user 146476890", tr, id, typ)
		}
		if !tr.OccurredAt.Equal(date) || !tr.Time.Equal(testNow) {
			t.Errorf("decoded occurred_at %v time %v, want %v and %v", tr.OccurredAt, tr.Time, date, testNow)
		}
	}
}

func TestEncodeHookEventStableApartFromTime(t *testing.T) {
	t.Parallel()
	date := time.Unix(1743627006, 0)
	_, id1, b1, err1 := EncodeHookEvent(HookEnrollmentFailed, "u1", date, testNow)
	_, id2, b2, err2 := EncodeHookEvent(HookEnrollmentFailed, "u1", date.Add(999*time.Millisecond), testNow.Add(time.Hour))
	if err1 != nil || err2 != nil {
		t.Fatalf("EncodeHookEvent() errors %v, %v", err1, err2)
	}
	if id1 != id2 {
		t.Errorf("ids differ: %s, %s (date fraction must be truncated)", id1, id2)
	}
	strip := func(b []byte) []byte {
		i := bytes.Index(b, []byte(`"time":"`))
		j := bytes.Index(b[i+8:], []byte(`"`))
		return append(append([]byte{}, b[:i]...), b[i+8+j:]...)
	}
	if !bytes.Equal(strip(b1), strip(b2)) {
		t.Errorf("bodies differ apart from time:\n%s\n%s", b1, b2)
	}
}

func TestEncodeHookEventRefuses(t *testing.T) {
	t.Parallel()
	date := time.Unix(1743627006, 0)
	for _, tc := range []struct {
		name, et, uid string
		date, now     time.Time
		want          string
	}{
		{"unknown type", "USER_ACCOUNT_ACTIVATED", "u", date, testNow, "not an SCA enrollment type"},
		{"bad user", HookEnrollmentFailed, "u/1", date, testNow, "invalid user id"},
		{"empty user", HookEnrollmentFailed, "", date, testNow, "invalid user id"},
		{"zero date", HookEnrollmentFailed, "u", time.Time{}, testNow, "zero date"},
		{"zero now", HookEnrollmentFailed, "u", date, time.Time{}, "zero time"},
	} {
		_, _, _, err := EncodeHookEvent(tc.et, tc.uid, tc.date, tc.now)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: EncodeHookEvent() error = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
