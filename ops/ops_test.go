package ops_test

import (
	"strings"
	"testing"
	"time"

	"github.com/scaworker/scaworker/ops"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{in: "24h", want: now.Add(-24 * time.Hour)},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "7d", want: now.Add(-7 * 24 * time.Hour)},
		{in: "1d12h", want: now.Add(-36 * time.Hour)},
		{in: "2026-05-01T10:00:00+02:00", want: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)},
		{in: "", wantErr: "--since: empty"},
		{in: "yesterday", wantErr: `--since: "yesterday": want an RFC 3339 time`},
		{in: "-1h", wantErr: "must not be negative"},
		{in: "xd", wantErr: `--since: "xd"`},
	} {
		got, err := ops.ParseTime("--since", tc.in, now)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseTime(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}
