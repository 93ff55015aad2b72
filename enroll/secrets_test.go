package enroll_test

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scaworker/scaworker/enroll"
	"github.com/scaworker/scaworker/mangosim"
)

// keyFile is a rotatable API key file and the Secrets function that rereads it.
type keyFile struct {
	path  string
	reads atomic.Int32
}

func newKeyFile(t *testing.T, key string) *keyFile {
	t.Helper()
	k := &keyFile{path: filepath.Join(t.TempDir(), "api-key")}
	k.write(t, key)
	return k
}

func (k *keyFile) write(t *testing.T, key string) {
	t.Helper()
	if err := os.WriteFile(k.path, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (k *keyFile) secrets() (enroll.Secrets, error) {
	k.reads.Add(1)
	b, err := os.ReadFile(k.path)
	if err != nil {
		return enroll.Secrets{}, err
	}
	return enroll.Secrets{APIKey: strings.TrimSpace(string(b))}, nil
}

// TestAPIKeyRotationOn401: the key is rotated at Mangopay (the simulator accepts only the
// new one and revoked the tokens) and in the key file; the next call's 401 survives a token
// refresh, the client rereads the file and succeeds, without a restart. Before the file
// changes, the reload finds the same key and the call is a fault; the key never reaches
// the logs or the error.
func TestAPIKeyRotationOn401(t *testing.T) {
	t.Parallel()
	const oldKey, newKey = "old-api-key-not-for-logs", "new-api-key-not-for-logs"
	sim := startSim(t, mangosim.Options{APIKey: oldKey})
	kf := newKeyFile(t, oldKey)
	core, logs := observer.New(zapcore.DebugLevel)
	c, err := enroll.NewClient(enroll.Config{
		BaseURL: sim.URL, ClientID: sim.ClientID(), APIKey: oldKey, ReturnURL: testReturnURL,
		Secrets: kf.secrets, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond,
	}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.GetUser(ctx, mangosim.UserOwnerNatural); err != nil {
		t.Fatalf("GetUser() before the rotation = %v", err)
	}

	sim.SetAPIKey(newKey)
	sim.SetFaults(mangosim.Faults{RevokeTokens: true})
	_, err = c.GetUser(ctx, mangosim.UserOwnerNatural)
	var fault *enroll.FaultError
	if !errors.As(err, &fault) || fault.Kind != enroll.FaultUnauthorized {
		t.Fatalf("GetUser() with the key file not rotated yet = %v, want an unauthorized fault", err)
	}
	if kf.reads.Load() == 0 {
		t.Errorf("the key file was not reread after a 401 survived the token refresh")
	}

	kf.write(t, newKey)
	if _, err := c.GetUser(ctx, mangosim.UserOwnerNatural); err != nil {
		t.Fatalf("GetUser() after the key file was rotated = %v, want success without a restart", err)
	}
	for _, text := range append([]string{err.Error()}, logTexts(logs)...) {
		if strings.Contains(text, oldKey) || strings.Contains(text, newKey) {
			t.Errorf("API key in %q", text)
		}
	}
	if logs.FilterMessage("mangopay secrets reloaded").Len() != 1 {
		t.Errorf("want one \"mangopay secrets reloaded\" log, got %d", logs.FilterMessage("mangopay secrets reloaded").Len())
	}
}

// TestReload: Reload (SIGHUP in `scaworker run`) installs a rotated key before any 401:
// the token is fetched again with the new key; an unchanged file changes nothing; an
// unreadable one keeps the key in use.
func TestReload(t *testing.T) {
	t.Parallel()
	sim := startSim(t, mangosim.Options{APIKey: "key-one"})
	kf := newKeyFile(t, "key-one")
	c, err := enroll.NewClient(enroll.Config{
		BaseURL: sim.URL, ClientID: sim.ClientID(), APIKey: "key-one", ReturnURL: testReturnURL, Secrets: kf.secrets,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.GetUser(ctx, mangosim.UserOwnerNatural); err != nil {
		t.Fatal(err)
	}
	if ch, err := c.Reload(); err != nil || ch.APIKey || ch.Cert {
		t.Errorf("Reload() of an unchanged file = %+v, %v; want nothing changed", ch, err)
	}
	kf.write(t, "key-two")
	sim.SetAPIKey("key-two")
	if ch, err := c.Reload(); err != nil || !ch.APIKey {
		t.Fatalf("Reload() of a rotated file = %+v, %v; want the API key changed", ch, err)
	}
	tokens := sim.Tokens()
	if _, err := c.GetUser(ctx, mangosim.UserOwnerNatural); err != nil {
		t.Fatalf("GetUser() after Reload = %v", err)
	}
	if got := sim.Tokens(); got != tokens+1 {
		t.Errorf("tokens issued after the reload = %d, want one more than %d (the old key's token dropped)", got, tokens)
	}
	if err := os.Remove(kf.path); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reload(); err == nil {
		t.Errorf("Reload() of a missing file = nil, want an error")
	}
	if _, err := c.GetUser(ctx, mangosim.UserOwnerNatural); err != nil {
		t.Errorf("GetUser() after a failed reload = %v, want the key in use kept", err)
	}
}

// TestCertRotation: the certificate file is replaced (a renewed certificate from another
// CA the server also trusts); after Reload the next connection presents the new one, and
// CertNotAfter reports its expiry.
func TestCertRotation(t *testing.T) {
	t.Parallel()
	first := newTestPKI(t, time.Now().Add(time.Hour))
	second := newTestPKI(t, time.Now().Add(48*time.Hour))
	pool := first.pool.Clone()
	pool.AppendCertsFromPEM(caPEMOf(t, second))
	sim := mangosim.New(mangosim.Options{})
	var mu sync.Mutex
	var presented [][]byte
	ts := httptest.NewUnstartedServer(sim)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
		VerifyConnection: func(cs tls.ConnectionState) error {
			mu.Lock()
			presented = append(presented, cs.PeerCertificates[0].Raw)
			mu.Unlock()
			return nil
		}}
	ts.StartTLS()
	t.Cleanup(ts.Close)

	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	write := func(p *testPKI) {
		if err := os.WriteFile(certPath, p.certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyPath, p.keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(first)
	c, err := enroll.NewClient(enroll.Config{
		BaseURL: ts.URL, ClientID: sim.ClientID(), APIKey: sim.APIKey(), ReturnURL: testReturnURL,
		TLSCert: certPath, TLSKey: keyPath, HTTPClient: ts.Client(),
		Secrets: func() (enroll.Secrets, error) {
			return enroll.Secrets{APIKey: sim.APIKey(), TLSCert: certPath, TLSKey: keyPath}, nil
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.GetUser(ctx, mangosim.UserOwnerNatural); err != nil {
		t.Fatal(err)
	}
	firstNotAfter := c.CertNotAfter()
	write(second)
	if ch, err := c.Reload(); err != nil || !ch.Cert || ch.APIKey {
		t.Fatalf("Reload() = %+v, %v; want the certificate changed", ch, err)
	}
	if !c.CertNotAfter().After(firstNotAfter.Add(24 * time.Hour)) {
		t.Errorf("CertNotAfter() = %s after the reload, want the new certificate's (first was %s)", c.CertNotAfter(), firstNotAfter)
	}
	if _, err := c.GetUser(ctx, mangosim.UserOwnerNatural); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := derOf(t, second.certPEM)
	if last := presented[len(presented)-1]; string(last) != string(want) {
		t.Errorf("the connection after the reload presented the old certificate")
	}
}

func startSim(t *testing.T, opts mangosim.Options) *mangosim.Server {
	t.Helper()
	s := mangosim.Start(opts)
	t.Cleanup(s.Close)
	return s
}

// caPEMOf returns the PEM of p's CA.
func caPEMOf(t *testing.T, p *testPKI) []byte {
	t.Helper()
	return p.caPEM
}

func derOf(t *testing.T, certPEM []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	if b == nil {
		t.Fatal("no PEM block")
	}
	return b.Bytes
}
