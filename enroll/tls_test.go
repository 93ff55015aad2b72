package enroll_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/mangosim"
)

// testPKI is a CA and a client certificate it signed, as PEM.
type testPKI struct {
	pool             *x509.CertPool
	caPEM            []byte
	certPEM, keyPEM  []byte
	certPath, keyB64 string
}

func newTestPKI(t *testing.T, notAfter time.Time) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "sim-client.sandbox.mangopay.com", Organization: []string{"Mangopay"}},
		NotBefore:    time.Now().Add(-2 * time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{
		pool:    x509.NewCertPool(),
		caPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	p.pool.AddCert(ca)
	p.certPath = filepath.Join(t.TempDir(), "client.pem")
	if err := os.WriteFile(p.certPath, p.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	p.keyB64 = base64.StdEncoding.EncodeToString(p.keyPEM)
	return p
}

// startMTLS starts the simulator behind a TLS server that requires a client
// certificate signed by pool.
func startMTLS(t *testing.T, pool *x509.CertPool, maxVersion uint16) (*mangosim.Sim, *httptest.Server) {
	t.Helper()
	sim := mangosim.New(mangosim.Options{})
	ts := httptest.NewUnstartedServer(sim)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	ts.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MaxVersion: maxVersion}
	if maxVersion != 0 && maxVersion < tls.VersionTLS12 {
		ts.TLS.MinVersion = tls.VersionTLS10
	}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return sim, ts
}

func TestMTLS(t *testing.T) {
	t.Parallel()
	good := newTestPKI(t, time.Now().Add(time.Hour))
	other := newTestPKI(t, time.Now().Add(time.Hour))
	tests := []struct {
		name       string
		cert, key  string
		maxVersion uint16
		wantFault  bool
	}{
		{name: "with the certificate (path and base64)", cert: good.certPath, key: good.keyB64},
		{name: "with the certificate (base64 and PEM text)", cert: base64.StdEncoding.EncodeToString(good.certPEM), key: string(good.keyPEM)},
		{name: "without a certificate", wantFault: true},
		{name: "certificate of another CA", cert: other.certPath, key: other.keyB64, wantFault: true},
		{name: "server below TLS 1.2", cert: good.certPath, key: good.keyB64, maxVersion: tls.VersionTLS11, wantFault: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim, ts := startMTLS(t, good.pool, tt.maxVersion)
			core, logs := observer.New(zapcore.DebugLevel)
			c, err := enroll.NewClient(enroll.Config{
				BaseURL: ts.URL, ClientID: sim.ClientID(), APIKey: sim.APIKey(), ReturnURL: testReturnURL,
				TLSCert: tt.cert, TLSKey: tt.key, HTTPClient: ts.Client(),
				InitialInterval: time.Millisecond, MaxInterval: time.Millisecond,
			}, zap.New(core))
			if err != nil {
				t.Fatalf("NewClient() error = %v", err)
			}
			_, err = c.GetUser(context.Background(), mangosim.UserOwnerNatural)
			if !tt.wantFault {
				if err != nil {
					t.Fatalf("GetUser() error = %v", err)
				}
				if got := sim.Tokens(); got != 1 {
					t.Errorf("tokens issued = %d, want 1 (token call over mTLS)", got)
				}
				return
			}
			var fault *enroll.FaultError
			if !errors.As(err, &fault) || fault.Kind != enroll.FaultTLS {
				t.Fatalf("GetUser() error = %v, want a tls fault", err)
			}
			if enroll.IsRetryable(err) {
				t.Errorf("IsRetryable(%v) = true", err)
			}
			if got := len(sim.Calls()); got != 0 {
				t.Errorf("requests reaching the API = %d, want 0", got)
			}
			for _, text := range append([]string{err.Error()}, logTexts(logs)...) {
				if strings.Contains(text, sim.APIKey()) || strings.Contains(text, "PRIVATE KEY") || strings.Contains(text, good.keyB64[:40]) {
					t.Errorf("secret in %q", text)
				}
			}
		})
	}
}

func logTexts(logs *observer.ObservedLogs) []string {
	var out []string
	for _, e := range logs.All() {
		out = append(out, e.Message)
		for k, v := range e.ContextMap() {
			out = append(out, k+"="+strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(toString(v), "\n", " "), "\r", "")))
		}
	}
	return out
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return ""
}

func TestMTLSConfigErrors(t *testing.T) {
	t.Parallel()
	good := newTestPKI(t, time.Now().Add(time.Hour))
	other := newTestPKI(t, time.Now().Add(time.Hour))
	expired := newTestPKI(t, time.Now().Add(-time.Hour))
	secretKey := "c2VjcmV0LWtleS1tYXRlcmlhbC1ub3QtcGVt" // base64 of something that is not PEM
	tests := []struct {
		name      string
		cert, key string
		wantName  string
	}{
		{name: "key neither a file nor base64 PEM", cert: good.certPath, key: secretKey, wantName: "MANGOPAY_TLS_KEY"},
		{name: "key path missing", cert: good.certPath, key: "/nonexistent/key-" + secretKey + ".pem", wantName: "MANGOPAY_TLS_KEY"},
		{name: "cert garbage", cert: "not a cert", key: good.keyB64, wantName: "MANGOPAY_TLS_CERT"},
		{name: "key is a directory", cert: good.certPath, key: t.TempDir(), wantName: "MANGOPAY_TLS_KEY"},
		{name: "key of another certificate", cert: good.certPath, key: other.keyB64, wantName: "MANGOPAY_TLS_KEY"},
		{name: "expired certificate", cert: base64.StdEncoding.EncodeToString(expired.certPEM), key: expired.keyB64, wantName: "MANGOPAY_TLS_CERT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := validConfig()
			cfg.TLSCert, cfg.TLSKey = tt.cert, tt.key
			_, err := enroll.NewClient(cfg, nil)
			if err == nil {
				t.Fatal("NewClient() error = nil")
			}
			if !strings.Contains(err.Error(), tt.wantName) {
				t.Errorf("NewClient() error = %q, want it to name %s", err, tt.wantName)
			}
			for _, secret := range []string{secretKey, other.keyB64[:40], expired.keyB64[:40], "PRIVATE KEY", cfg.APIKey} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("NewClient() error %q carries key material", err)
				}
			}
		})
	}
}

func TestMTLSWithCustomTransport(t *testing.T) {
	t.Parallel()
	good := newTestPKI(t, time.Now().Add(time.Hour))
	cfg := validConfig()
	cfg.TLSCert, cfg.TLSKey = good.certPath, good.keyB64
	cfg.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) { return nil, errors.New("unused") })}
	if _, err := enroll.NewClient(cfg, nil); err == nil || !strings.Contains(err.Error(), "MANGOPAY_TLS_CERT") {
		t.Errorf("NewClient() error = %v, want one naming MANGOPAY_TLS_CERT", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
