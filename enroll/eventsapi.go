package enroll

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// EventsQuery filters GET /v2.01/{ClientId}/events. Zero fields are not sent.
type EventsQuery struct {
	EventType  string    // e.g. "SCA_ENROLLMENT_EXPIRED"
	AfterDate  time.Time // sent as Unix seconds
	BeforeDate time.Time
	Page       int    // from 1
	PerPage    int    // 1–100 (Mangopay's default 10)
	Sort       string // e.g. "Date:ASC"
}

// Event is one item of Mangopay's event list.
type Event struct {
	ResourceID string
	EventType  string
	Date       time.Time
}

type eventJSON struct {
	ResourceID string `json:"ResourceId"`
	EventType  string
	Date       json.RawMessage
}

// Events lists Mangopay's events (the last 45 days):
// GET /v2.01/{ClientId}/events?EventType=…&AfterDate=…&BeforeDate=…&page=…&per_page=…&Sort=….
func (c *Client) Events(ctx context.Context, q EventsQuery) ([]Event, error) {
	if q.PerPage < 0 || q.PerPage > 100 || q.Page < 0 {
		return nil, fmt.Errorf("list events: page %d, per_page %d: want page ≥ 1 and per_page 1 to 100: %w", q.Page, q.PerPage, errInvalidInput)
	}
	v := url.Values{}
	if q.EventType != "" {
		v.Set("EventType", q.EventType)
	}
	if !q.AfterDate.IsZero() {
		v.Set("AfterDate", strconv.FormatInt(q.AfterDate.Unix(), 10))
	}
	if !q.BeforeDate.IsZero() {
		v.Set("BeforeDate", strconv.FormatInt(q.BeforeDate.Unix(), 10))
	}
	if q.Page > 0 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if q.PerPage > 0 {
		v.Set("per_page", strconv.Itoa(q.PerPage))
	}
	if q.Sort != "" {
		v.Set("Sort", q.Sort)
	}
	u := c.cpath + "/events"
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	var items []eventJSON
	err := c.retry(ctx, "events", c.log, func(ctx context.Context) error {
		items = nil
		_, err := c.call(ctx, &apiRequest{method: http.MethodGet, url: u}, &items)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	out := make([]Event, 0, len(items))
	for _, it := range items {
		out = append(out, Event{ResourceID: it.ResourceID, EventType: it.EventType, Date: jsonUnixTime(it.Date)})
	}
	return out, nil
}
