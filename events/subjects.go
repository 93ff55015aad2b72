package events

import (
	"errors"
	"fmt"
	"strings"
)

// Subjects holds the NATS subjects scaworker reads and writes. All are configurable; the zero
// value is not usable: start from [DefaultSubjects] and check changes with [Subjects.Validate].
type Subjects struct {
	// UserCreated carries [TypeUserCreated] triggers. Default "sca.events.user.created".
	UserCreated string
	// SessionExpired carries [TypeSessionExpired] triggers. Default "sca.events.session.expired".
	SessionExpired string
	// SessionFailed carries [TypeSessionFailed] triggers. Default "sca.events.session.failed".
	SessionFailed string
	// EnrollmentSucceeded carries [TypeEnrollmentSucceeded] triggers.
	// Default "sca.events.enrollment.succeeded".
	EnrollmentSucceeded string
	// LinkSend is where send-link events are published. Default "sca.links.send".
	LinkSend string
	// DLQPrefix is prepended to a trigger's subject to form its DLQ subject. It ends with a
	// dot. Default "sca.dlq.", so a dead user.created lands on "sca.dlq.sca.events.user.created".
	DLQPrefix string
}

// DefaultSubjects returns the default subjects (docs/events.md).
func DefaultSubjects() Subjects {
	return Subjects{
		UserCreated:         "sca.events.user.created",
		SessionExpired:      "sca.events.session.expired",
		SessionFailed:       "sca.events.session.failed",
		EnrollmentSucceeded: "sca.events.enrollment.succeeded",
		LinkSend:            "sca.links.send",
		DLQPrefix:           "sca.dlq.",
	}
}

// TypeFor returns the CloudEvents type that a trigger received on subject must have. It
// reports false for any subject that is not one of the four trigger subjects (including the
// empty subject).
func (s Subjects) TypeFor(subject string) (string, bool) {
	if subject == "" {
		return "", false
	}
	switch subject {
	case s.UserCreated:
		return TypeUserCreated, true
	case s.SessionExpired:
		return TypeSessionExpired, true
	case s.SessionFailed:
		return TypeSessionFailed, true
	case s.EnrollmentSucceeded:
		return TypeEnrollmentSucceeded, true
	}
	return "", false
}

// SubjectFor returns the trigger subject that carries the CloudEvents type typ, and false
// when typ is not a trigger type. It is the inverse of [Subjects.TypeFor] (publishers and
// the webhook ingress use it).
func (s Subjects) SubjectFor(typ string) (string, bool) {
	switch typ {
	case TypeUserCreated:
		return s.UserCreated, s.UserCreated != ""
	case TypeSessionExpired:
		return s.SessionExpired, s.SessionExpired != ""
	case TypeSessionFailed:
		return s.SessionFailed, s.SessionFailed != ""
	case TypeEnrollmentSucceeded:
		return s.EnrollmentSucceeded, s.EnrollmentSucceeded != ""
	}
	return "", false
}

// Triggers returns the four trigger subjects, in the order user created, session expired,
// session failed, enrollment succeeded. The slice is new on every call.
func (s Subjects) Triggers() []string {
	return []string{s.UserCreated, s.SessionExpired, s.SessionFailed, s.EnrollmentSucceeded}
}

// DLQSubject returns the subject of the DLQ record of a message received on original:
// DLQPrefix + original.
func (s Subjects) DLQSubject(original string) string {
	return s.DLQPrefix + original
}

// DLQFilter returns the wildcard subject that matches every DLQ subject (DLQPrefix + ">"),
// for the DLQ stream's configuration.
func (s Subjects) DLQFilter() string {
	return s.DLQPrefix + ">"
}

// OriginalSubject is the inverse of [Subjects.DLQSubject]: it strips DLQPrefix from a DLQ
// subject and reports false when dlq does not start with it or nothing follows it.
func (s Subjects) OriginalSubject(dlq string) (string, bool) {
	if s.DLQPrefix == "" {
		return "", false
	}
	orig, ok := strings.CutPrefix(dlq, s.DLQPrefix)
	if !ok || orig == "" {
		return "", false
	}
	return orig, true
}

// Validate checks that every subject is set, is a literal NATS subject (dot-separated
// non-empty tokens of printable ASCII other than "*" and ">", hence no wildcards and no
// white space), and that they are distinct. DLQPrefix must be such a subject followed by a
// dot, no trigger or link subject may lie under it, and no trigger's DLQ subject may equal
// another subject. Errors name the field.
func (s Subjects) Validate() error {
	fields := []struct{ name, value string }{
		{"UserCreated", s.UserCreated},
		{"SessionExpired", s.SessionExpired},
		{"SessionFailed", s.SessionFailed},
		{"EnrollmentSucceeded", s.EnrollmentSucceeded},
		{"LinkSend", s.LinkSend},
	}
	var errs []error
	seen := make(map[string]string, len(fields))
	for _, f := range fields {
		if err := checkSubject(f.value); err != nil {
			errs = append(errs, fmt.Errorf("subject %s %q: %w", f.name, f.value, err))
			continue
		}
		if other, dup := seen[f.value]; dup {
			errs = append(errs, fmt.Errorf("subject %s %q: same as %s", f.name, f.value, other))
			continue
		}
		seen[f.value] = f.name
	}
	prefix, ok := strings.CutSuffix(s.DLQPrefix, ".")
	switch {
	case s.DLQPrefix == "":
		errs = append(errs, errors.New("subject DLQPrefix: empty"))
	case !ok:
		errs = append(errs, fmt.Errorf("subject DLQPrefix %q: must end with a dot", s.DLQPrefix))
	default:
		if err := checkSubject(prefix); err != nil {
			errs = append(errs, fmt.Errorf("subject DLQPrefix %q: %w", s.DLQPrefix, err))
			break
		}
		for _, f := range fields {
			if f.value != "" && strings.HasPrefix(f.value, s.DLQPrefix) {
				errs = append(errs, fmt.Errorf("subject %s %q: lies under DLQPrefix %q", f.name, f.value, s.DLQPrefix))
			}
		}
		for _, f := range fields[:4] {
			if other, dup := seen[s.DLQSubject(f.value)]; dup && f.value != "" {
				errs = append(errs, fmt.Errorf("subject DLQPrefix %q: DLQ subject of %s is %s's subject", s.DLQPrefix, f.name, other))
			}
		}
	}
	return errors.Join(errs...)
}

// checkSubject reports why s is not a literal NATS subject, or nil.
func checkSubject(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" {
			return errors.New("empty token (leading, trailing or double dot)")
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			switch {
			case c == '*' || c == '>':
				return errors.New("wildcards are not allowed")
			case c <= ' ' || c >= 0x7f:
				return fmt.Errorf("character %q not allowed (printable ASCII only, no white space)", c)
			}
		}
	}
	return nil
}
