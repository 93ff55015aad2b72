package mangosim

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
)

// Server is a [Sim] listening on a loopback port, like httptest.Server.
type Server struct {
	*Sim
	// URL is the base URL, e.g. "http://127.0.0.1:41234" (Mangopay's baseUrl, without /v2.01).
	URL string
	ts  *httptest.Server
}

// Start starts a simulator on 127.0.0.1 with plain HTTP. Close it when done.
func Start(opts Options) *Server {
	sim := New(opts)
	ts := httptest.NewServer(sim)
	return &Server{Sim: sim, URL: ts.URL, ts: ts}
}

// StartTLS starts a simulator on 127.0.0.1 with HTTPS (TLS 1.2 or later, certificate valid
// for 127.0.0.1, trusted by [Server.Client]). When clientCAs is not nil it demands a client
// certificate signed by one of them (mTLS), as Mangopay's api-mtls hosts do.
func StartTLS(opts Options, clientCAs *x509.CertPool) *Server {
	sim := New(opts)
	ts := httptest.NewUnstartedServer(sim)
	ts.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	if clientCAs != nil {
		ts.TLS.ClientCAs = clientCAs
		ts.TLS.ClientAuth = tls.RequireAndVerifyClientCert
	}
	ts.StartTLS()
	return &Server{Sim: sim, URL: ts.URL, ts: ts}
}

// Client returns an HTTP client that trusts the server's certificate (for StartTLS).
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Certificate returns the server's TLS certificate, or nil for plain HTTP.
func (s *Server) Certificate() *x509.Certificate { return s.ts.Certificate() }

// Close ends pending Latency waits, shuts the server down and blocks until every request
// has finished.
func (s *Server) Close() {
	s.shutdown()
	s.ts.Close()
}
