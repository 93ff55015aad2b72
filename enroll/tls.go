package enroll

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
)

// Settings named in mTLS errors.
const (
	settingTLSCert = "MANGOPAY_TLS_CERT"
	settingTLSKey  = "MANGOPAY_TLS_KEY"
)

// loadClientCertificate reads the mTLS certificate and key. Each value is a
// file path when such a file exists, else base64-encoded PEM (what
// Mangopay's SDKs accept), else PEM text. Errors name the setting and never
// print the value.
func loadClientCertificate(certValue, keyValue string, now time.Time) (tls.Certificate, error) {
	certPEM, err := readPEMSetting(settingTLSCert, certValue)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readPEMSetting(settingTLSKey, keyValue)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// crypto/tls errors describe the problem, never the key material.
		return tls.Certificate{}, fmt.Errorf("%s, %s: not a matching certificate and private key: %w", settingTLSCert, settingTLSKey, err)
	}
	if cert.Leaf == nil && len(cert.Certificate) > 0 {
		cert.Leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	if cert.Leaf != nil && now.After(cert.Leaf.NotAfter) {
		return tls.Certificate{}, fmt.Errorf("%s: certificate expired on %s", settingTLSCert, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return cert, nil
}

// readPEMSetting resolves one setting to PEM bytes.
func readPEMSetting(setting, value string) ([]byte, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return nil, fmt.Errorf("%s: empty", setting)
	}
	if fi, err := os.Stat(value); err == nil {
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: %s is not a regular file", setting, pathForError(setting, value))
		}
		b, err := os.ReadFile(value)
		if err != nil {
			return nil, fmt.Errorf("%s: read file: %w", setting, err)
		}
		if !bytes.Contains(b, []byte("-----BEGIN ")) {
			return nil, fmt.Errorf("%s: file %s holds no PEM block", setting, pathForError(setting, value))
		}
		return b, nil
	}
	if strings.HasPrefix(value, "-----BEGIN ") {
		return []byte(value), nil
	}
	compact := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, value)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(compact); err == nil && bytes.Contains(b, []byte("-----BEGIN ")) {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%s: neither an existing file nor base64-encoded PEM", setting)
}

// pathForError returns the path for error messages: a certificate path is
// harmless; a key path is named only as "the file".
func pathForError(setting, path string) string {
	if setting == settingTLSKey {
		return "the file"
	}
	return fmt.Sprintf("%q", path)
}

// newHTTPClient returns the client used for every call: cfg.HTTPClient
// (with the client certificate added when cert is set) or a new one with TLS
// ≥ 1.2. The certificate is read from cert at each handshake, so a reloaded
// one is used by the next connection. There is no http.Client.Timeout: each
// request has its own context deadline (Config.RequestTimeout).
func newHTTPClient(cfg Config, cert func() *tls.Certificate) (*http.Client, error) {
	if cfg.HTTPClient != nil {
		if cert == nil {
			return cfg.HTTPClient, nil
		}
		base := cfg.HTTPClient.Transport
		if base == nil {
			base = newTransport()
		}
		tr, ok := base.(*http.Transport)
		if !ok {
			return nil, fmt.Errorf("%s: the HTTP client's transport %T cannot carry a client certificate", settingTLSCert, base)
		}
		tr = tr.Clone()
		tr.TLSClientConfig = withClientCert(tr.TLSClientConfig, cert)
		hc := *cfg.HTTPClient
		hc.Transport = tr
		return &hc, nil
	}
	tr := newTransport()
	tr.TLSClientConfig = withClientCert(tr.TLSClientConfig, cert)
	return &http.Client{Transport: tr}, nil
}

func withClientCert(c *tls.Config, cert func() *tls.Certificate) *tls.Config {
	if c == nil {
		c = &tls.Config{}
	} else {
		c = c.Clone()
	}
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	if cert != nil {
		c.Certificates = nil
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert(), nil }
	}
	return c
}

// maxConcurrency is the most calls the worker makes at once (SCA_CONCURRENCY's bound).
const maxConcurrency = 1024

func newTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:             http.ProxyFromEnvironment,
		DialContext:       dialer.DialContext,
		ForceAttemptHTTP2: true,
		// Every handler may hold a connection to the one Mangopay host: with
		// fewer idle slots than handlers, each call past the limit closed its
		// connection and the next dialled a new one.
		MaxIdleConns:          maxConcurrency,
		MaxIdleConnsPerHost:   maxConcurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// tlsFault reports whether err (from a request whose TLS handshake failed
// with handshakeErr, nil if it did not fail) is a TLS failure that no retry
// fixes: the server refused our certificate (a TLS alert, also after a TLS
// 1.3 handshake when the server checks the certificate), we refused the
// server's certificate, or the peer does not speak TLS. Timeouts, resets and
// closed connections are transient and not faults.
func tlsFault(err, handshakeErr error) bool {
	for _, e := range []error{handshakeErr, err} {
		if e == nil {
			continue
		}
		var (
			op       *net.OpError
			verify   *tls.CertificateVerificationError
			record   tls.RecordHeaderError
			alert    tls.AlertError
			unknown  x509.UnknownAuthorityError
			hostname x509.HostnameError
			invalid  x509.CertificateInvalidError
		)
		switch {
		case errors.As(e, &op) && op.Op == "remote error": // a TLS alert from the server
			return true
		case errors.As(e, &verify), errors.As(e, &record), errors.As(e, &alert),
			errors.As(e, &unknown), errors.As(e, &hostname), errors.As(e, &invalid):
			return true
		}
	}
	if handshakeErr == nil || transient(handshakeErr) {
		return false
	}
	return true // the handshake failed for a reason other than the network
}

// transient reports whether a handshake error is the network's doing.
func transient(err error) bool {
	var netErr net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) ||
		(errors.As(err, &netErr) && netErr.Timeout())
}
