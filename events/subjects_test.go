package events

import (
	"slices"
	"strings"
	"testing"
)

func TestDefaultSubjects(t *testing.T) {
	t.Parallel()
	s := DefaultSubjects()
	if err := s.Validate(); err != nil {
		t.Fatalf("DefaultSubjects().Validate() = %v, want nil", err)
	}
	wantTriggers := []string{"sca.events.user.created", "sca.events.session.expired", "sca.events.session.failed", "sca.events.enrollment.succeeded"}
	if got := s.Triggers(); !slices.Equal(got, wantTriggers) {
		t.Errorf("Triggers() = %v, want %v", got, wantTriggers)
	}
	if got, want := s.LinkSend, "sca.links.send"; got != want {
		t.Errorf("LinkSend = %q, want %q", got, want)
	}
	if got, want := s.DLQSubject("sca.events.user.created"), "sca.dlq.sca.events.user.created"; got != want {
		t.Errorf("DLQSubject() = %q, want %q", got, want)
	}
	if got, want := s.DLQFilter(), "sca.dlq.>"; got != want {
		t.Errorf("DLQFilter() = %q, want %q", got, want)
	}
}

func TestSubjectsTypeFor(t *testing.T) {
	t.Parallel()
	s := DefaultSubjects()
	want := map[string]string{
		"sca.events.user.created":         TypeUserCreated,
		"sca.events.session.expired":      TypeSessionExpired,
		"sca.events.session.failed":       TypeSessionFailed,
		"sca.events.enrollment.succeeded": TypeEnrollmentSucceeded,
	}
	for subject, typ := range want {
		got, ok := s.TypeFor(subject)
		if !ok || got != typ {
			t.Errorf("TypeFor(%q) = %q, %v, want %q, true", subject, got, ok, typ)
		}
		back, ok := s.SubjectFor(typ)
		if !ok || back != subject {
			t.Errorf("SubjectFor(%q) = %q, %v, want %q, true", typ, back, ok, subject)
		}
	}
	for _, subject := range []string{"", "sca.links.send", "sca.dlq.sca.events.user.created", "sca.events.>", "SCA.EVENTS.USER.CREATED"} {
		if got, ok := s.TypeFor(subject); ok {
			t.Errorf("TypeFor(%q) = %q, true, want false", subject, got)
		}
	}
	for _, typ := range []string{"", TypeLinkSend, TypeDeadLetter, "User.Created"} {
		if got, ok := s.SubjectFor(typ); ok {
			t.Errorf("SubjectFor(%q) = %q, true, want false", typ, got)
		}
	}
	if got, ok := (Subjects{}).TypeFor(""); ok {
		t.Errorf("Subjects{}.TypeFor(\"\") = %q, true, want false", got)
	}
}

func TestSubjectsOriginalSubject(t *testing.T) {
	t.Parallel()
	s := DefaultSubjects()
	tests := []struct {
		dlq    string
		want   string
		wantOK bool
	}{
		{"sca.dlq.sca.events.user.created", "sca.events.user.created", true},
		{"sca.dlq.", "", false},
		{"sca.events.user.created", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := s.OriginalSubject(tt.dlq)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("OriginalSubject(%q) = %q, %v, want %q, %v", tt.dlq, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestSubjectsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(*Subjects)
		want   []string // each must appear in the error
	}{
		{"empty user created", func(s *Subjects) { s.UserCreated = "" }, []string{"UserCreated", "empty"}},
		{"empty link send", func(s *Subjects) { s.LinkSend = "" }, []string{"LinkSend", "empty"}},
		{"star wildcard", func(s *Subjects) { s.SessionExpired = "sca.events.*" }, []string{"SessionExpired", "wildcard"}},
		{"gt wildcard", func(s *Subjects) { s.SessionFailed = "sca.>" }, []string{"SessionFailed", "wildcard"}},
		{"space", func(s *Subjects) { s.EnrollmentSucceeded = "sca.events.enrollment succeeded" }, []string{"EnrollmentSucceeded", "not allowed"}},
		{"tab", func(s *Subjects) { s.UserCreated = "a\tb" }, []string{"UserCreated", "not allowed"}},
		{"non-ASCII", func(s *Subjects) { s.UserCreated = "café" }, []string{"UserCreated", "not allowed"}},
		{"leading dot", func(s *Subjects) { s.UserCreated = ".sca.x" }, []string{"UserCreated", "empty token"}},
		{"double dot", func(s *Subjects) { s.UserCreated = "sca..x" }, []string{"UserCreated", "empty token"}},
		{"trailing dot", func(s *Subjects) { s.LinkSend = "sca.links." }, []string{"LinkSend", "empty token"}},
		{"duplicate trigger", func(s *Subjects) { s.SessionFailed = s.SessionExpired }, []string{"SessionFailed", "same as SessionExpired"}},
		{"link equals trigger", func(s *Subjects) { s.LinkSend = s.UserCreated }, []string{"LinkSend", "same as UserCreated"}},
		{"empty DLQ prefix", func(s *Subjects) { s.DLQPrefix = "" }, []string{"DLQPrefix", "empty"}},
		{"DLQ prefix without dot", func(s *Subjects) { s.DLQPrefix = "sca.dlq" }, []string{"DLQPrefix", "dot"}},
		{"DLQ prefix wildcard", func(s *Subjects) { s.DLQPrefix = "sca.*." }, []string{"DLQPrefix", "wildcard"}},
		{"DLQ prefix just a dot", func(s *Subjects) { s.DLQPrefix = "." }, []string{"DLQPrefix", "empty"}},
		{"trigger under DLQ prefix", func(s *Subjects) { s.DLQPrefix = "sca.events." }, []string{"lies under DLQPrefix"}},
		{"DLQ subject collides", func(s *Subjects) { s.DLQPrefix = "x."; s.UserCreated = "a.b"; s.SessionExpired = "x.a.b" }, []string{"DLQ subject of UserCreated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := DefaultSubjects()
			tt.modify(&s)
			err := s.Validate()
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want error", s)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %q, want it to mention %q", err, want)
				}
			}
		})
	}
	custom := Subjects{UserCreated: "p.users.created", SessionExpired: "p.sca.expired", SessionFailed: "p.sca.failed",
		EnrollmentSucceeded: "p.sca.ok", LinkSend: "p.links", DLQPrefix: "dead-letters."}
	if err := custom.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v, want nil", custom, err)
	}
}
