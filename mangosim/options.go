package mangosim

import (
	"time"
)

// Default values used by [Options] when a field is left zero.
const (
	DefaultClientID = "sim-client"
	DefaultAPIKey   = "sim-api-key"
	DefaultTokenTTL = 1199 * time.Second
	DefaultLinkHost = "sca.sandbox.mangopay.com"
	// WrongLinkHost is the host of the links minted while [Faults].WrongHost is set.
	WrongLinkHost = "sca.mangopay.com.evil.example"
	// IdempotencyRetention is how long a used Idempotency-Key blocks reuse and its first answer
	// can be read back with GET /responses/{key} (24 h, like Mangopay).
	IdempotencyRetention = 24 * time.Hour
	// EventsWindow is how far back GET /events may look (45 days, like Mangopay).
	EventsWindow = 45 * 24 * time.Hour
)

// Limit is one sliding rate-limit window: at most N accepted calls in any span of Per.
type Limit struct {
	N   int
	Per time.Duration
}

// DefaultWindows returns Mangopay's documented ceilings, in the order the X-RateLimit headers
// list them: 2300/15m, 4500/30m, 8800/1h, 105600/24h.
func DefaultWindows() []Limit {
	return []Limit{
		{N: 2300, Per: 15 * time.Minute},
		{N: 4500, Per: 30 * time.Minute},
		{N: 8800, Per: time.Hour},
		{N: 105600, Per: 24 * time.Hour},
	}
}

// Options configures a [Sim]. Every field is optional.
type Options struct {
	// ClientID is the API account id expected in paths and in the token call's Basic auth.
	// Default [DefaultClientID].
	ClientID string
	// APIKey is the secret expected in the token call's Basic auth. Default [DefaultAPIKey].
	APIKey string
	// TokenTTL is the lifetime of issued access tokens (expires_in). Default [DefaultTokenTTL].
	TokenTTL time.Duration
	// Windows are the sliding rate-limit windows, one X-RateLimit* header line each.
	// Default [DefaultWindows].
	Windows []Limit
	// LinkHost is the host of minted RedirectUrls. Default [DefaultLinkHost].
	LinkHost string
	// Now is the clock (token expiry, rate windows, idempotency retention, events window).
	// Default time.Now.
	Now func() time.Time
	// Users are the users known at start. Default [DefaultUsers]; pass an empty non-nil
	// slice for none.
	Users []User
	// Seed seeds the generator that decides [Faults].ErrorRate. Default 1.
	Seed uint64
}

func (o Options) withDefaults() Options {
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.APIKey == "" {
		o.APIKey = DefaultAPIKey
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if len(o.Windows) == 0 {
		o.Windows = DefaultWindows()
	}
	o.Windows = append([]Limit(nil), o.Windows...)
	if o.LinkHost == "" {
		o.LinkHost = DefaultLinkHost
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Users == nil {
		o.Users = DefaultUsers()
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}
