package ops

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTime reads a time flag: an RFC 3339 time, or a duration that many
// ago from now ("24h", "90m", and whole days such as "7d" or "1d12h").
// Errors name flag (e.g. "--since").
func ParseTime(flag, value string, now time.Time) (time.Time, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return time.Time{}, fmt.Errorf("%s: empty: want an RFC 3339 time (2026-05-01T00:00:00Z) or a duration such as 24h", flag)
	}
	if t, err := time.Parse(time.RFC3339, value); err == nil {
		return t, nil
	}
	d, err := ParseDuration(value)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q: want an RFC 3339 time (2026-05-01T00:00:00Z) or a duration such as 24h or 7d", flag, value)
	}
	if d < 0 {
		return time.Time{}, fmt.Errorf("%s: %q: a duration means that long ago and must not be negative", flag, value)
	}
	return now.Add(-d), nil
}

// ParseDuration is [time.ParseDuration] that also accepts whole days as a
// leading "<n>d" ("7d", "1d12h").
func ParseDuration(s string) (time.Duration, error) {
	days := time.Duration(0)
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > 36500 {
			return 0, fmt.Errorf("duration %q: bad day count", s)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	return days + d, nil
}

// FormatTime formats a time for operators: RFC 3339 in UTC, "-" for the
// zero time.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
