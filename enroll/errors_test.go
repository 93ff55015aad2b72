package enroll_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/scaworker/scaworker/enroll"
)

func TestDecodeError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		status      int
		body        string
		want        enroll.APIError
		wantInError []string
	}{
		{
			name:   "payer",
			status: 400,
			body:   `{"Message":"This endpoint is not allowed for PAYER users","Type":"not_allowed_for_user_category_payer","Id":"a1b2#1740581497","Date":1740581497,"errors":null}`,
			want: enroll.APIError{StatusCode: 400, Type: "not_allowed_for_user_category_payer", ID: "a1b2#1740581497",
				Message: "This endpoint is not allowed for PAYER users", Date: time.Unix(1740581497, 0).UTC()},
			wantInError: []string{"mangopay: status 400 not_allowed_for_user_category_payer: This endpoint", "(id a1b2#1740581497)"},
		},
		{
			name:   "float Date and lowercase errors",
			status: 400,
			body:   `{"Message":"One or several required parameters are missing or incorrect.","Type":"param_error","Id":"x","Date":1740581497.0,"errors":{"LegalRepresentative.Email":"'Email' must not be empty."}}`,
			want: enroll.APIError{StatusCode: 400, Type: "param_error", ID: "x",
				Message: "One or several required parameters are missing or incorrect.", Date: time.Unix(1740581497, 0).UTC(),
				Errors: map[string]string{"LegalRepresentative.Email": "'Email' must not be empty."}},
			wantInError: []string{"LegalRepresentative.Email: 'Email' must not be empty."},
		},
		{
			name:   "capitalised Errors, no Date",
			status: 404,
			body:   `{"message":"The ressource does not exist","type":"ressource_not_found","id":"y","Errors":{"RessourceNotFound":"Cannot found the ressource User with the id=u1"}}`,
			want: enroll.APIError{StatusCode: 404, Type: "ressource_not_found", ID: "y", Message: "The ressource does not exist",
				Errors: map[string]string{"RessourceNotFound": "Cannot found the ressource User with the id=u1"}},
		},
		{
			name:   "Date as a string, errors not strings",
			status: 400,
			body:   `{"Type":"param_error","Date":"1740581497","errors":{"A":1,"B":["x"]}}`,
			want: enroll.APIError{StatusCode: 400, Type: "param_error", Date: time.Unix(1740581497, 0).UTC(),
				Errors: map[string]string{"A": "1", "B": `["x"]`}},
		},
		{
			name:        "OAuth style",
			status:      401,
			body:        `{"error":"invalid_client","error_description":"Client authentication failed"}`,
			want:        enroll.APIError{StatusCode: 401, Type: "invalid_client", Message: "Client authentication failed"},
			wantInError: []string{"status 401 invalid_client: Client authentication failed"},
		},
		{name: "empty", status: 502, body: "", want: enroll.APIError{StatusCode: 502, Message: "empty body"}, wantInError: []string{"status 502", "empty body"}},
		{name: "blank", status: 503, body: " \r\n", want: enroll.APIError{StatusCode: 503, Message: "empty body"}},
		{
			name:        "HTML from a proxy",
			status:      502,
			body:        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>openresty</body></html>",
			want:        enroll.APIError{StatusCode: 502, Message: `HTML body "502 Bad Gateway" (82 bytes)`},
			wantInError: []string{"HTML body"},
		},
		{name: "truncated JSON", status: 500, body: `{"Message":"An internal error occ`, want: enroll.APIError{StatusCode: 500, Message: "truncated or malformed JSON body (33 bytes)"}, wantInError: []string{"truncated"}},
		{name: "plain text", status: 429, body: "Too Many Requests", want: enroll.APIError{StatusCode: 429, Message: "non-JSON body (17 bytes)"}},
		{name: "JSON array", status: 400, body: `[1,2]`, want: enroll.APIError{StatusCode: 400, Message: "truncated or malformed JSON body (5 bytes)"}},
		{name: "JSON null", status: 400, body: `null`, want: enroll.APIError{StatusCode: 400, Message: "non-JSON body (4 bytes)"}},
		{name: "object without message", status: 418, body: `{"foo":"bar"}`, want: enroll.APIError{StatusCode: 418, Message: "JSON body without Message or Type"}},
		{name: "control characters", status: 400, body: "{\"Type\":\"x\",\"Message\":\"a\\nb\\u0000c\"}", want: enroll.APIError{StatusCode: 400, Type: "x", Message: "a b c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := enroll.DecodeError(tt.status, []byte(tt.body))
			if fmt.Sprint(*got) != fmt.Sprint(tt.want) {
				t.Errorf("DecodeError() = %+v, want %+v", *got, tt.want)
			}
			for _, s := range tt.wantInError {
				if !strings.Contains(got.Error(), s) {
					t.Errorf("Error() = %q, want it to contain %q", got.Error(), s)
				}
			}
		})
	}
}

func TestDecodeErrorCapsMessage(t *testing.T) {
	t.Parallel()
	got := enroll.DecodeError(500, []byte(`{"Message":"`+strings.Repeat("x", 10000)+`"}`))
	if len(got.Message) > 400 {
		t.Errorf("Message has %d bytes, want it capped", len(got.Message))
	}
}

func TestAPIErrorReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  enroll.APIError
		want string
	}{
		{enroll.APIError{StatusCode: 400, Type: "not_allowed_for_user_category_payer"}, enroll.ReasonUserNotOwner},
		{enroll.APIError{StatusCode: 400, Type: "param_error", Errors: map[string]string{"LegalRepresentative.Email": "'Email' must not be empty."}}, enroll.ReasonMissingLegalRepEmail},
		{enroll.APIError{StatusCode: 400, Type: "param_error", Errors: map[string]string{"legalrepresentative.email": "x"}}, enroll.ReasonMissingLegalRepEmail},
		{enroll.APIError{StatusCode: 400, Type: "param_error", Errors: map[string]string{"UserId": "The user is closed."}}, enroll.ReasonBadRequest},
		{enroll.APIError{StatusCode: 400, Type: "not_allowed_for_user_category_platform"}, enroll.ReasonBadRequest},
		{enroll.APIError{StatusCode: 404, Type: "ressource_not_found"}, enroll.ReasonUserNotFound},
		{enroll.APIError{StatusCode: 403, Type: "sca_proxy_missing"}, enroll.ReasonForbidden},
		{enroll.APIError{StatusCode: 409, Type: "idempotent_creation_conflict"}, enroll.ReasonBadRequest},
		{enroll.APIError{StatusCode: 422}, enroll.ReasonBadRequest},
		{enroll.APIError{StatusCode: 429, Type: "rate_limit"}, enroll.ReasonRateLimited},
		{enroll.APIError{StatusCode: 500}, enroll.ReasonUnavailable},
		{enroll.APIError{StatusCode: 502}, enroll.ReasonUnavailable},
		{enroll.APIError{StatusCode: 503}, enroll.ReasonUnavailable},
	}
	for _, tt := range tests {
		if got := tt.err.Reason(); got != tt.want {
			t.Errorf("APIError{%d %s %v}.Reason() = %q, want %q", tt.err.StatusCode, tt.err.Type, tt.err.Errors, got, tt.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestIsRetryableAndReason(t *testing.T) {
	t.Parallel()
	netErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	tests := []struct {
		name       string
		err        error
		retryable  bool
		wantReason string
	}{
		{"nil", nil, false, ""},
		{"429", &enroll.APIError{StatusCode: 429}, true, enroll.ReasonRateLimited},
		{"500", &enroll.APIError{StatusCode: 500}, true, enroll.ReasonUnavailable},
		{"503 wrapped", fmt.Errorf("enroll user u: %w", &enroll.APIError{StatusCode: 503}), true, enroll.ReasonUnavailable},
		{"400", &enroll.APIError{StatusCode: 400}, false, enroll.ReasonBadRequest},
		{"404", &enroll.APIError{StatusCode: 404}, false, enroll.ReasonUserNotFound},
		{"net.Error", netErr, true, enroll.ReasonUnavailable},
		{"net timeout", fmt.Errorf("x: %w", timeoutErr{}), true, enroll.ReasonUnavailable},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true, enroll.ReasonUnavailable},
		{"caller canceled", fmt.Errorf("x: %w", context.Canceled), false, enroll.ReasonUnavailable},
		{"caller deadline", context.DeadlineExceeded, false, enroll.ReasonUnavailable},
		{"fault", &enroll.FaultError{Kind: enroll.FaultTLS, Err: netErr}, false, enroll.ReasonUnavailable},
		{"fault 403", &enroll.FaultError{Kind: enroll.FaultForbidden, Err: &enroll.APIError{StatusCode: 403}}, false, enroll.ReasonUnavailable},
		{"link", fmt.Errorf("enroll: %w", &enroll.LinkError{Reason: "host not allowed"}), false, enroll.ReasonLinkRejected},
		{"other", errors.New("boom"), false, enroll.ReasonBadRequest},
	}
	for _, tt := range tests {
		if got := enroll.IsRetryable(tt.err); got != tt.retryable {
			t.Errorf("IsRetryable(%s) = %v, want %v", tt.name, got, tt.retryable)
		}
		if got := enroll.Reason(tt.err); got != tt.wantReason {
			t.Errorf("Reason(%s) = %q, want %q", tt.name, got, tt.wantReason)
		}
	}
}

func TestFaultError(t *testing.T) {
	t.Parallel()
	inner := &enroll.APIError{StatusCode: 403, Type: "forbidden_ressource"}
	err := fmt.Errorf("get user u: %w", &enroll.FaultError{Kind: enroll.FaultForbidden, Err: inner})
	if !enroll.IsFault(err) {
		t.Errorf("IsFault() = false")
	}
	var apiErr *enroll.APIError
	if !errors.As(err, &apiErr) || apiErr != inner {
		t.Errorf("errors.As(*APIError) did not find the wrapped answer")
	}
	if got := err.Error(); !strings.Contains(got, "fault: forbidden") || !strings.Contains(got, "forbidden_ressource") {
		t.Errorf("Error() = %q", got)
	}
	if enroll.IsFault(inner) || enroll.IsFault(nil) {
		t.Errorf("IsFault(non-fault) = true")
	}
}

func FuzzDecodeError(f *testing.F) {
	f.Add(400, []byte(`{"Message":"m","Type":"param_error","Id":"i","Date":1740581497.0,"errors":{"A":"b"}}`))
	f.Add(502, []byte("<html><title>502</title></html>"))
	f.Add(500, []byte(`{"Message":"trunc`))
	f.Add(0, []byte(nil))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := enroll.DecodeError(status, body)
		if e == nil {
			t.Fatal("DecodeError() = nil")
		}
		if e.StatusCode != status {
			t.Errorf("StatusCode = %d, want %d", e.StatusCode, status)
		}
		if e.Error() == "" {
			t.Error("Error() is empty")
		}
		_ = e.Reason()
		_ = e.Temporary()
	})
}
