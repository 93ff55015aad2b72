package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// csrf protects every action: a form carries a token derived from a
// secret of this process (so a page of another process or site cannot
// forge one), and the request must come from the console's own origin
// (Origin and Sec-Fetch-Site, http.CrossOriginProtection).
type csrf struct {
	token  string
	origin *http.CrossOriginProtection
}

func newCSRF() *csrf {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand never fails (Go 1.24+)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("scaworker console action"))
	return &csrf{token: base64.RawURLEncoding.EncodeToString(m.Sum(nil)), origin: http.NewCrossOriginProtection()}
}

// check reports why r is refused ("" when it passes).
func (c *csrf) check(r *http.Request) string {
	if err := c.origin.Check(r); err != nil {
		return "cross-origin request refused"
	}
	got := r.PostFormValue("csrf")
	if !hmac.Equal([]byte(got), []byte(c.token)) {
		return "missing or wrong CSRF token: reload the page and try again"
	}
	return ""
}
