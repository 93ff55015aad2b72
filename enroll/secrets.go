package enroll

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"time"

	"go.uber.org/zap"
)

// Secrets are the credentials a running [Client] can reload: the API key and the mTLS
// client certificate and key (each a file path, base64 PEM or PEM, as in [Config]).
type Secrets struct {
	APIKey          string
	TLSCert, TLSKey string
}

// secrets are the loaded [Secrets] a Client uses. Secret: never logged.
type secrets struct {
	apiKey string
	basic  string           // "Basic …" of ClientId:ApiKey
	cert   *tls.Certificate // nil without mTLS
}

// loadSecrets validates s (a certificate must parse, match its key and be unexpired).
func loadSecrets(clientID string, s Secrets, now time.Time) (*secrets, error) {
	if s.APIKey == "" {
		return nil, errors.New("MANGOPAY_API_KEY: required")
	}
	out := &secrets{
		apiKey: s.APIKey,
		basic:  "Basic " + base64.StdEncoding.EncodeToString([]byte(clientID+":"+s.APIKey)),
	}
	if s.TLSCert != "" || s.TLSKey != "" {
		cert, err := loadClientCertificate(s.TLSCert, s.TLSKey, now)
		if err != nil {
			return nil, err
		}
		out.cert = &cert
	}
	return out, nil
}

// sameCert reports whether a and b hold the same certificate chain.
func sameCert(a, b *tls.Certificate) bool {
	if a == nil || b == nil {
		return a == b
	}
	if len(a.Certificate) != len(b.Certificate) {
		return false
	}
	for i := range a.Certificate {
		if !bytes.Equal(a.Certificate[i], b.Certificate[i]) {
			return false
		}
	}
	return true
}

// Reload is what one reload changed.
type Reload struct {
	APIKey bool // a new API key: the token was dropped, the next call fetches one with it
	Cert   bool // a new client certificate: new connections present it
}

// Reload rereads the secrets through [Config.Secrets] (SIGHUP in `scaworker run`) and
// installs them when they changed. On an error (an unreadable file, a certificate that
// does not match its key or has expired) the secrets in use are kept. Errors name the
// setting, never a secret.
func (c *Client) Reload() (Reload, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.cfg.Secrets == nil {
		return Reload{}, nil
	}
	s, err := c.cfg.Secrets()
	if err != nil {
		return Reload{}, err
	}
	next, err := loadSecrets(c.cfg.ClientID, s, c.now())
	if err != nil {
		return Reload{}, err
	}
	cur := c.sec.Load()
	if (cur.cert == nil) != (next.cert == nil) {
		return Reload{}, errors.New("MANGOPAY_TLS_CERT: mTLS cannot be turned on or off by a reload; restart instead")
	}
	ch := Reload{APIKey: next.apiKey != cur.apiKey, Cert: !sameCert(cur.cert, next.cert)}
	if !ch.APIKey && !ch.Cert {
		return ch, nil
	}
	c.sec.Store(next)
	if ch.Cert {
		c.http.CloseIdleConnections() // the next connection presents the new certificate
	}
	if ch.APIKey {
		c.tok.mu.Lock()
		c.tok.value = "" // issued to the old key: fetch a new one
		c.tok.mu.Unlock()
	}
	fields := []zap.Field{zap.Bool("api_key_changed", ch.APIKey), zap.Bool("cert_changed", ch.Cert)}
	if next.cert != nil && next.cert.Leaf != nil {
		fields = append(fields, zap.Time("cert_not_after", next.cert.Leaf.NotAfter))
	}
	c.log.Info("mangopay secrets reloaded", fields...)
	return ch, nil
}

// reloadAfter401 reloads the secrets after a 401 that a token refresh did not cure; it
// reports whether they changed (then the call is worth one more try).
func (c *Client) reloadAfter401(ctx context.Context) bool {
	if c.cfg.Secrets == nil || ctx.Err() != nil {
		return false
	}
	ch, err := c.Reload()
	if err != nil {
		c.log.Warn("mangopay refused the credentials and reloading them failed", zap.Error(err))
		return false
	}
	if !ch.APIKey && !ch.Cert {
		return false
	}
	c.log.Info("mangopay refused the credentials; the reloaded ones are tried")
	return true
}

// CertNotAfter returns the expiry of the mTLS client certificate in use (zero without
// mTLS): Mangopay's certificates last 12 months.
func (c *Client) CertNotAfter() time.Time {
	if s := c.sec.Load(); s.cert != nil && s.cert.Leaf != nil {
		return s.cert.Leaf.NotAfter
	}
	return time.Time{}
}
