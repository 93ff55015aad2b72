package enroll_test

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/scaworker/scaworker/enroll"
)

func validConfig() enroll.Config {
	return enroll.Config{
		ClientID:  "my-client",
		APIKey:    "super-secret-api-key-0001",
		ReturnURL: "https://platform.example/sca-done",
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(*enroll.Config)
		wantErr []string // substrings; nil means valid
	}{
		{name: "valid defaults", mutate: func(c *enroll.Config) {}},
		{name: "production", mutate: func(c *enroll.Config) { c.BaseURL = "https://api.mangopay.com" }},
		{name: "mtls host with trailing slash", mutate: func(c *enroll.Config) { c.BaseURL = "https://api-mtls.sandbox.mangopay.com/" }},
		{name: "http on 127.0.0.1", mutate: func(c *enroll.Config) { c.BaseURL = "http://127.0.0.1:8080" }},
		{name: "http on 127.1.2.3", mutate: func(c *enroll.Config) { c.BaseURL = "http://127.1.2.3:8080" }},
		{name: "http on ::1", mutate: func(c *enroll.Config) { c.BaseURL = "http://[::1]:8080" }},
		{name: "http on localhost", mutate: func(c *enroll.Config) { c.BaseURL = "http://localhost:8080" }},
		{name: "missing client id", mutate: func(c *enroll.Config) { c.ClientID = "" }, wantErr: []string{"MANGOPAY_CLIENT_ID"}},
		{name: "client id with a slash", mutate: func(c *enroll.Config) { c.ClientID = "a/b" }, wantErr: []string{"MANGOPAY_CLIENT_ID"}},
		{name: "missing api key", mutate: func(c *enroll.Config) { c.APIKey = "" }, wantErr: []string{"MANGOPAY_API_KEY"}},
		{name: "http on a public host", mutate: func(c *enroll.Config) { c.BaseURL = "http://api.mangopay.com" }, wantErr: []string{"MANGOPAY_BASE_URL", "https"}},
		{name: "http on 10.0.0.1", mutate: func(c *enroll.Config) { c.BaseURL = "http://10.0.0.1" }, wantErr: []string{"MANGOPAY_BASE_URL"}},
		{name: "http on localhost.evil.example", mutate: func(c *enroll.Config) { c.BaseURL = "http://localhost.evil.example" }, wantErr: []string{"MANGOPAY_BASE_URL"}},
		{name: "ftp", mutate: func(c *enroll.Config) { c.BaseURL = "ftp://api.mangopay.com" }, wantErr: []string{"MANGOPAY_BASE_URL"}},
		{name: "relative", mutate: func(c *enroll.Config) { c.BaseURL = "api.mangopay.com" }, wantErr: []string{"MANGOPAY_BASE_URL"}},
		{name: "user info", mutate: func(c *enroll.Config) { c.BaseURL = "https://u:p@api.mangopay.com" }, wantErr: []string{"MANGOPAY_BASE_URL"}},
		{name: "query", mutate: func(c *enroll.Config) { c.BaseURL = "https://api.mangopay.com?x=1" }, wantErr: []string{"MANGOPAY_BASE_URL"}},
		{name: "missing return url", mutate: func(c *enroll.Config) { c.ReturnURL = "" }, wantErr: []string{"SCA_RETURN_URL"}},
		{name: "http return url", mutate: func(c *enroll.Config) { c.ReturnURL = "http://platform.example/done" }, wantErr: []string{"SCA_RETURN_URL"}},
		{name: "return url too long", mutate: func(c *enroll.Config) { c.ReturnURL = "https://platform.example/" + strings.Repeat("a", 2000) }, wantErr: []string{"SCA_RETURN_URL"}},
		{name: "cert without key", mutate: func(c *enroll.Config) { c.TLSCert = "/etc/cert.pem" }, wantErr: []string{"MANGOPAY_TLS_CERT", "MANGOPAY_TLS_KEY"}},
		{name: "key without cert", mutate: func(c *enroll.Config) { c.TLSKey = "/etc/key.pem" }, wantErr: []string{"MANGOPAY_TLS_KEY"}},
		{name: "bad rate", mutate: func(c *enroll.Config) { c.Rate = enroll.Rate{N: -1, Per: time.Minute} }, wantErr: []string{"SCA_MANGOPAY_RATE"}},
		{name: "several at once", mutate: func(c *enroll.Config) { c.ClientID, c.APIKey = "", "" }, wantErr: []string{"MANGOPAY_CLIENT_ID", "MANGOPAY_API_KEY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := validConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Errorf("Validate() error = %v, want nil", err)
				}
				if _, err := enroll.NewClient(cfg, zap.NewNop()); err != nil {
					t.Errorf("NewClient() error = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() error = nil, want one naming %v", tt.wantErr)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Validate() error = %q, want it to name %s", err, s)
				}
			}
			if strings.Contains(err.Error(), "super-secret-api-key-0001") {
				t.Errorf("Validate() error %q carries the API key", err)
			}
			if _, err := enroll.NewClient(cfg, nil); err == nil {
				t.Errorf("NewClient() error = nil with an invalid config")
			}
		})
	}
}
