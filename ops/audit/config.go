package audit

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config names the audit stream. The zero value of every field means its
// documented default; [Config.Validate] names the setting (as its
// environment variable) in every error.
type Config struct {
	// Stream holds the audit records (SCA_AUDIT_STREAM, default "SCA_AUDIT").
	Stream string
	// SubjectPrefix is the prefix of the records' subjects; it ends with a
	// dot and the stream captures SubjectPrefix + ">"
	// (SCA_SUBJECT_AUDIT_PREFIX, default "sca.audit.").
	SubjectPrefix string
	// MaxAge is how long a created stream keeps records
	// (SCA_AUDIT_MAX_AGE, default one year).
	MaxAge time.Duration
	// Replicas of a created stream (SCA_REPLICAS, default 1).
	Replicas int
}

// DefaultMaxAge is how long the audit stream keeps records by default: a year.
const DefaultMaxAge = 365 * 24 * time.Hour

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = "SCA_AUDIT"
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = "sca.audit."
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	return c
}

// Validate reports the settings that cannot work; it validates c with its
// defaults applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if !validName(c.Stream) {
		errs = append(errs, fmt.Errorf("SCA_AUDIT_STREAM: %q is not a valid JetStream name (letters, digits, '-' and '_')", c.Stream))
	}
	if !validPrefix(c.SubjectPrefix) {
		errs = append(errs, fmt.Errorf("SCA_SUBJECT_AUDIT_PREFIX: %q: want subject tokens followed by a dot, such as sca.audit. (no wildcards or spaces)", c.SubjectPrefix))
	}
	if c.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("SCA_AUDIT_MAX_AGE: must be positive, got %s", c.MaxAge))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("SCA_REPLICAS: must be 1..5, got %d", c.Replicas))
	}
	return errors.Join(errs...)
}

func validName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func validPrefix(p string) bool {
	base, ok := strings.CutSuffix(p, ".")
	if !ok || base == "" {
		return false
	}
	for _, tok := range strings.Split(base, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return false
		}
	}
	return true
}
