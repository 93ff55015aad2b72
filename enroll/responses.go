package enroll

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// StoredResponse is the first answer Mangopay gave to a request sent with an
// Idempotency-Key, as read back from GET /v2.01/{ClientId}/responses/{key}
// (kept 24 hours).
type StoredResponse struct {
	// StatusCode is the first answer's HTTP status; 0 when the record has no
	// usable one (missing, empty, "0", not a whole number from 100 to 599),
	// as seen for calls whose client went away mid-flight. Such a record
	// cannot say what happened.
	StatusCode int
	Date       time.Time       // when it was answered; zero when absent
	Body       json.RawMessage // its body ("Resource"); nil when missing or null; may hold a link token: never log it
}

type storedJSON struct {
	StatusCode json.RawMessage
	Date       json.RawMessage
	Resource   json.RawMessage
}

// Response reads back the first answer to the request sent with key:
// GET /v2.01/{ClientId}/responses/{key}, with retries. A key Mangopay does
// not know gives an [*APIError] with status 404.
func (c *Client) Response(ctx context.Context, key string) (*StoredResponse, error) {
	if err := validKey(key); err != nil {
		return nil, fmt.Errorf("get stored response: %v: %w", err, errInvalidInput)
	}
	var out *StoredResponse
	err := c.retry(ctx, "response", c.log.With(zap.String("idempotency_key", key)), func(ctx context.Context) error {
		var err error
		out, err = c.response(ctx, key)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get stored response %s: %w", key, err)
	}
	return out, nil
}

// response makes one attempt of Response.
func (c *Client) response(ctx context.Context, key string) (*StoredResponse, error) {
	var s storedJSON
	_, err := c.call(ctx, &apiRequest{method: http.MethodGet, url: c.cpath + "/responses/" + url.PathEscape(key)}, &s)
	if err != nil {
		return nil, err
	}
	out := &StoredResponse{StatusCode: storedStatus(s.StatusCode), Date: storedDate(s.Date)}
	if len(s.Resource) > 0 && string(s.Resource) != "null" {
		out.Body = s.Resource
	}
	return out, nil
}

// storedStatus reads the stored StatusCode: a whole number from 100 to 599,
// as a string (documented) or a number; anything else gives 0.
func storedStatus(v json.RawMessage) int {
	var s string
	if json.Unmarshal(v, &s) != nil {
		s = string(v)
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 100 || n > 599 {
		return 0
	}
	return n
}

// storedDate reads the stored Date: an HTTP-date string (documented), or
// Unix seconds as a number or numeric string.
func storedDate(v json.RawMessage) time.Time {
	var s string
	if json.Unmarshal(v, &s) == nil {
		s = strings.TrimSpace(s)
		if t, err := http.ParseTime(s); err == nil {
			return t.UTC()
		}
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t.UTC()
		}
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return time.Time{}
		}
	}
	return jsonUnixTime(v)
}
