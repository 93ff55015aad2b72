package enroll

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
)

// freshLinkMin is how much lifetime a link recovered from GET
// /responses/{key} must have left to be used (docs/events.md).
const freshLinkMin = 5 * time.Minute

// maxKeyStepsPerAttempt bounds how many keys one attempt walks through when
// each of them turns out to be spent.
const maxKeyStepsPerAttempt = 8

// User is what the worker needs from GET /v2.01/{ClientId}/sca/users/{UserId}.
type User struct {
	ID         string
	Category   string // UserCategory: OWNER, PAYER, PLATFORM
	PersonType string // NATURAL or LEGAL
	Status     string // UserStatus: ACTIVE, PENDING_USER_ACTION, CLOSED
	Email      string
	// LegalRepresentativeEmail is LegalRepresentative.Email of a legal user
	// (or the legacy flat LegalRepresentativeEmail); "" when absent.
	LegalRepresentativeEmail string
}

type userJSON struct {
	ID                  string `json:"Id"`
	UserCategory        string
	PersonType          string
	UserStatus          string
	Email               string
	LegalRepresentative *struct {
		Email string
	}
	LegalRepresentativeEmail string
}

// GetUser reads a user: GET /v2.01/{ClientId}/sca/users/{UserId}. An unknown
// user is an [*APIError] with reason user_not_found.
func (c *Client) GetUser(ctx context.Context, userID string) (*User, error) {
	if err := checkUserID(userID); err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	var u userJSON
	r := &apiRequest{method: http.MethodGet, url: c.userURL(userID, "")}
	err := c.retry(ctx, "get_user", c.log.With(zap.String("user_id", userID)), func(ctx context.Context) error {
		u = userJSON{}
		_, err := c.call(ctx, r, &u)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get user %s: %w", userID, err)
	}
	out := &User{
		ID:                       u.ID,
		Category:                 strings.ToUpper(u.UserCategory),
		PersonType:               strings.ToUpper(u.PersonType),
		Status:                   strings.ToUpper(u.UserStatus),
		Email:                    u.Email,
		LegalRepresentativeEmail: u.LegalRepresentativeEmail,
	}
	if u.LegalRepresentative != nil && u.LegalRepresentative.Email != "" {
		out.LegalRepresentativeEmail = u.LegalRepresentative.Email
	}
	if out.ID == "" {
		out.ID = userID
	}
	return out, nil
}

// SCAStatus is a user's SCA status from GET …/sca/users/{UserId}/sca-status.
type SCAStatus struct {
	// Triggered is false when Mangopay answered 404: the user never
	// triggered an SCA enrollment (then every other field is zero).
	Triggered          bool
	UserStatus         string
	IsEnrolled         bool
	LastEnrollmentDate time.Time // zero when null
}

// Enrolled reports whether the user is enrolled and active: IsEnrolled and
// UserStatus ACTIVE.
func (s SCAStatus) Enrolled() bool {
	return s.IsEnrolled && strings.EqualFold(s.UserStatus, "ACTIVE")
}

type scaStatusJSON struct {
	UserStatus         string
	IsEnrolled         bool
	LastEnrollmentDate json.RawMessage
}

// SCAStatus reads GET /v2.01/{ClientId}/sca/users/{UserId}/sca-status. A 404
// means the user never triggered SCA: Triggered=false and a nil error.
func (c *Client) SCAStatus(ctx context.Context, userID string) (*SCAStatus, error) {
	if err := checkUserID(userID); err != nil {
		return nil, fmt.Errorf("get sca status: %w", err)
	}
	var (
		s        scaStatusJSON
		notFound bool
	)
	r := &apiRequest{method: http.MethodGet, url: c.userURL(userID, "/sca-status")}
	err := c.retry(ctx, "sca_status", c.log.With(zap.String("user_id", userID)), func(ctx context.Context) error {
		s, notFound = scaStatusJSON{}, false
		resp, err := c.call(ctx, r, &s)
		if resp != nil && resp.status == http.StatusNotFound {
			notFound = true
			return nil
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get sca status of user %s: %w", userID, err)
	}
	if notFound {
		return &SCAStatus{}, nil
	}
	return &SCAStatus{
		Triggered:          true,
		UserStatus:         strings.ToUpper(s.UserStatus),
		IsEnrolled:         s.IsEnrolled,
		LastEnrollmentDate: jsonUnixTime(s.LastEnrollmentDate),
	}, nil
}

// Request asks for one SCA enrollment link.
type Request struct {
	UserID string
	// Trigger identifies the event that asks for the link: the hex SHA-256
	// of its (source, id) (events.Trigger.Key). Idempotency keys derive
	// from it (see [IdempotencyKey]); it needs at least 16 characters of
	// [A-Za-z0-9].
	Trigger string
	// Seq is the first key sequence to use (≥ 1; 0 means 1): the NextSeq of
	// the previous attempt for the same trigger.
	Seq int
	// Locale picks the hosted page's language (lang); "" or unsupported:
	// none.
	Locale string
}

// Result is a minted (or recovered) SCA link, or the news that none is needed.
type Result struct {
	Link      string    // Mangopay's link + returnUrl (+ lang); "" on error or when NotRequired
	MintedAt  time.Time // when the answer was received (stored Date when recovered)
	ExpiresAt time.Time // MintedAt + LinkTTL; zero when NotRequired
	Recovered bool      // read back from GET /responses/{key} after a 409
	// NotRequired means Mangopay answered 200 without a
	// PendingUserAction.RedirectUrl: it opened no SCA session because the
	// user needs none. Sandbox does this since February 2026 for users whose
	// Email (natural) or LegalRepresentative.Email (legal) contains
	// "accept", e.g. ada+accept@example.com; the same answer from
	// Production means the same. Link is then empty: there is nothing to
	// send.
	NotRequired bool
	// NextSeq is set with or without an error: the first key sequence not
	// known to be spent. After a success it is the key that holds the link
	// (enrolling again with it recovers the same link while it is fresh).
	NextSeq int
}

type enrollJSON struct {
	PendingUserAction *struct {
		RedirectURL string `json:"RedirectUrl"`
	}
}

func (e enrollJSON) redirect() string {
	if e.PendingUserAction == nil {
		return ""
	}
	return e.PendingUserAction.RedirectURL
}

// Enroll asks Mangopay for an SCA enrollment link:
// POST /v2.01/{ClientId}/sca/users/{UserId}/enrollment, no body, with
// Idempotency-Key IdempotencyKey(req.Trigger, seq) starting at seq=req.Seq.
//
//   - 200: the link, built with the LinkBuilder (returnUrl, lang).
//   - 200 without PendingUserAction.RedirectUrl: Result.NotRequired, no
//     link and no error (SCA is not required for this user).
//   - 409: the key was used before; GET /responses/{key} reads the first
//     answer back. A stored 200 whose link has ≥ 5 minutes left gives that
//     link (Recovered, MintedAt = stored Date); a stored valid answer
//     without a link ends like a fresh 200 without one (NotRequired,
//     Recovered). Anything else — a
//     failure, a stale link, a record without a usable StatusCode or
//     Resource, a record still unreadable (404) after a few reads — spends
//     the key: Enroll POSTs again with the next one (see the package
//     documentation, "Idempotency").
//   - Any other received answer spends the key: the next try uses seq+1.
//   - No answer (transport error, timeout, unreadable body) keeps the key:
//     the call may have executed, and the next try reads it back via 409.
//
// Result.NextSeq is always set, also with an error.
func (c *Client) Enroll(ctx context.Context, req Request) (Result, error) {
	seq := max(req.Seq, 1)
	res := Result{NextSeq: seq}
	if err := checkUserID(req.UserID); err != nil {
		return res, fmt.Errorf("enroll: %w", err)
	}
	if c.links == nil {
		return res, fmt.Errorf("enroll user %s: read-only client: no SCA_RETURN_URL to build links with: %w", req.UserID, errInvalidInput)
	}
	if err := validTrigger(req.Trigger); err != nil {
		return res, fmt.Errorf("enroll user %s: trigger %q: %v: %w", req.UserID, truncateForError(req.Trigger), err, errInvalidInput)
	}
	log := c.log.With(zap.String("user_id", req.UserID))
	keyOf := func() string { return IdempotencyKey(req.Trigger, seq) }
	post := &apiRequest{
		method:      http.MethodPost,
		url:         c.userURL(req.UserID, "/enrollment"),
		contentType: "application/json",
		key:         keyOf,
		answered: func(status int) {
			if status != http.StatusOK && status != http.StatusConflict {
				seq++ // a received failure spends the key
			}
		},
	}
	var (
		redirect  string
		minted    time.Time
		recovered bool
	)
	err := c.retry(ctx, "enroll", log, func(ctx context.Context) error {
		for step := 0; step < maxKeyStepsPerAttempt; step++ {
			var body enrollJSON
			resp, err := c.call(ctx, post, &body)
			if err == nil {
				redirect, minted, recovered = body.redirect(), resp.receivedAt, false
				return nil
			}
			if resp == nil || resp.status != http.StatusConflict {
				return err
			}
			// 409: the key was used before. Read its first answer back.
			key := keyOf()
			stored, err := c.readBack(ctx, key)
			if errors.Is(err, errNotStored) {
				log.Warn("idempotency key answers 409 but its first answer cannot be read back; using the next one",
					zap.String("idempotency_key", key), zap.Int("reads", notStoredReads))
				seq++
				continue
			}
			if err != nil {
				return err
			}
			r, unusable := c.judgeStored(stored)
			if unusable == "" {
				redirect, minted, recovered = r, stored.Date, true
				if minted.IsZero() {
					minted = c.now() // a stored answer without a link needs no Date
				}
				return nil
			}
			log.Info("idempotency key spent: its first answer is unusable; using the next one",
				zap.String("idempotency_key", key), zap.Int("stored_status", stored.StatusCode), zap.String("why", unusable))
			seq++ // the key is spent: POST again with the next one
		}
		return &retryError{msg: fmt.Sprintf("%d idempotency keys in a row were already spent", maxKeyStepsPerAttempt)}
	})
	res.NextSeq = seq
	if err != nil {
		return res, fmt.Errorf("enroll user %s: %w", req.UserID, err)
	}
	// A 200 without a RedirectUrl, fresh or read back from a valid stored
	// answer, ends here alike.
	if redirect == "" {
		log.Debug("mangopay opened no SCA session: not required for this user")
		res.NotRequired, res.MintedAt, res.Recovered = true, minted, recovered
		return res, nil
	}
	link, err := c.links.Build(redirect, req.Locale)
	if err != nil {
		res.NextSeq = seq + 1 // the key's answer is unusable
		return res, fmt.Errorf("enroll user %s: %w", req.UserID, err)
	}
	res.Link = link
	res.MintedAt = minted
	res.ExpiresAt = minted.Add(LinkTTL)
	res.Recovered = recovered
	return res, nil
}

// ReadLink reads back the link that Enroll minted with Idempotency-Key
// IdempotencyKey(trigger, seq) — GET /v2.01/{ClientId}/responses/{key},
// with Enroll's retries — and builds it as Enroll did (returnUrl, and lang
// for locale). The worker never stores a link's token: this is how it
// publishes again a recorded link whose first publish was not confirmed.
// Unlike Enroll it never mints and ignores how long the link has left:
// a stored answer that is not a 200 with a RedirectUrl, or a record that
// stays unreadable, is an error.
func (c *Client) ReadLink(ctx context.Context, userID, trigger string, seq int, locale string) (string, error) {
	if err := checkUserID(userID); err != nil {
		return "", fmt.Errorf("read link: %w", err)
	}
	if c.links == nil {
		return "", fmt.Errorf("read link of user %s: read-only client: no SCA_RETURN_URL to build links with: %w", userID, errInvalidInput)
	}
	if err := validTrigger(trigger); err != nil {
		return "", fmt.Errorf("read link of user %s: trigger %q: %v: %w", userID, truncateForError(trigger), err, errInvalidInput)
	}
	key := IdempotencyKey(trigger, max(seq, 1))
	var stored *StoredResponse
	err := c.retry(ctx, "read_link", c.log.With(zap.String("user_id", userID), zap.String("idempotency_key", key)), func(ctx context.Context) (err error) {
		stored, err = c.readBack(ctx, key)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("read link of user %s back (key %s): %w", userID, key, err)
	}
	redirect, unusable := "", "the first call failed"
	if stored.StatusCode == http.StatusOK {
		var rb enrollJSON
		if body := bytes.TrimSpace(stored.Body); len(body) > 0 && body[0] == '{' && json.Unmarshal(body, &rb) == nil {
			redirect, unusable = rb.redirect(), "stored 200 holds no link"
		} else {
			unusable = "stored 200 has no readable Enroll answer"
		}
	}
	if redirect == "" {
		return "", fmt.Errorf("read link of user %s back (key %s): %s", userID, key, unusable)
	}
	link, err := c.links.Build(redirect, locale)
	if err != nil {
		return "", fmt.Errorf("read link of user %s back: %w", userID, err)
	}
	return link, nil
}

// notStoredReads is how many times a key that answers 409 is read back
// while GET /responses/{key} answers 404 (the first call may still be in
// flight), a growing pause apart, before the key counts as spent.
const notStoredReads = 3

// errNotStored: a key answers 409 but its first answer stayed unreadable
// (404) for notStoredReads reads.
const errNotStored = constError("first answer not stored")

// readBack reads the first answer of key, reading again after a pause
// (Config.InitialInterval, doubling, at most Config.MaxInterval) while
// Mangopay answers 404; after notStoredReads such reads it returns
// errNotStored.
func (c *Client) readBack(ctx context.Context, key string) (*StoredResponse, error) {
	wait := c.cfg.InitialInterval
	for read := 1; ; read++ {
		stored, err := c.response(ctx, key)
		var apiErr *APIError
		if err == nil || !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
			return stored, err
		}
		if read == notStoredReads {
			return nil, errNotStored
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &stoppedError{ctxErr: ctx.Err(), last: err}
		case <-t.C:
		}
		wait = min(2*wait, c.cfg.MaxInterval)
	}
}

// judgeStored decides what a key's stored first answer is worth: unusable
// says why it is unusable — then the key is spent —, or it is "" and
// redirect is the RedirectUrl to use:
//   - no usable StatusCode (missing, empty, "0", not a number): unusable;
//   - a status other than 200: unusable (the call failed);
//   - a 200 whose Resource is missing, null, or not an Enroll answer (not
//     a JSON object, or a PendingUserAction that is not an object):
//     unusable;
//   - a 200 whose Enroll answer has a RedirectUrl: usable while the link
//     has at least 5 of its 10 minutes left (which needs a Date);
//   - a 200 whose Enroll answer has no RedirectUrl: usable, "" — the same
//     as a fresh 200 without a link.
func (c *Client) judgeStored(stored *StoredResponse) (redirect, unusable string) {
	switch {
	case stored.StatusCode == 0:
		return "", "stored response has no valid StatusCode"
	case stored.StatusCode != http.StatusOK:
		return "", "the first call failed"
	}
	body := bytes.TrimSpace(stored.Body)
	var rb enrollJSON
	if len(body) == 0 || body[0] != '{' || json.Unmarshal(body, &rb) != nil {
		return "", "stored 200 has no readable Enroll answer"
	}
	redirect = rb.redirect()
	if redirect == "" {
		return "", ""
	}
	if stored.Date.IsZero() {
		return "", "stored link has no Date"
	}
	if left := stored.Date.Add(LinkTTL).Sub(c.now()); left < freshLinkMin {
		return "", "stored link has " + left.Truncate(time.Second).String() + " left, under " + freshLinkMin.String()
	}
	return redirect, ""
}

// constError is an error that can be a constant.
type constError string

func (e constError) Error() string { return string(e) }

// errInvalidInput is returned, wrapped, for input rejected before any
// request; its reason is bad_request and it is not retryable.
const errInvalidInput = constError("invalid input")

func checkUserID(id string) error {
	if !validUserID(id) {
		return fmt.Errorf("user id %q: want 1 to 128 of [A-Za-z0-9_-]: %w", truncateForError(id), errInvalidInput)
	}
	return nil
}

func truncateForError(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// userURL is base/v2.01/{ClientId}/sca/users/{UserId}{suffix}.
func (c *Client) userURL(userID, suffix string) string {
	return c.cpath + "/sca/users/" + url.PathEscape(userID) + suffix
}
