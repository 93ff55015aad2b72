package mangosim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// newClientCA returns a CA pool and a client certificate it signed.
func newClientCA(t *testing.T) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate CA key: %v", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sim test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("create CA: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("parse CA: %v", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate client key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "sim-client.sandbox.mangopay.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatalf("create client cert: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func tokenCall(c *http.Client, base string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/v2.01/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(DefaultClientID, DefaultAPIKey)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.Do(req)
}

func TestStartTLS(t *testing.T) {
	t.Parallel()
	srv := StartTLS(Options{}, nil)
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Errorf("URL = %s, want https://127.0.0.1:…", srv.URL)
	}
	resp, err := tokenCall(srv.Client(), srv.URL)
	if err != nil {
		t.Fatalf("token call: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("status %d TLS %v, want 200 over TLS >= 1.2", resp.StatusCode, resp.TLS)
	}
}

func TestStartTLSClientCerts(t *testing.T) {
	t.Parallel()
	pool, cert := newClientCA(t)
	srv := StartTLS(Options{}, pool)
	t.Cleanup(srv.Close)

	base := srv.Client().Transport.(*http.Transport)
	without := &http.Client{Transport: base.Clone()}
	if resp, err := tokenCall(without, srv.URL); err == nil {
		resp.Body.Close()
		t.Errorf("no client certificate: status %d, want a handshake error", resp.StatusCode)
	}

	tr := base.Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	resp, err := tokenCall(&http.Client{Transport: tr}, srv.URL)
	if err != nil {
		t.Fatalf("with client certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with client certificate: status %d, want 200", resp.StatusCode)
	}
	if got := srv.Count("POST", "/oauth/token"); got != 1 {
		t.Errorf("Count = %d, want 1 (the refused handshake never reached the handler)", got)
	}
}
