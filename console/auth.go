package console

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Auth holds the credentials of the console (SCA_ADMIN_AUTH_FILE): basic
// auth users ("user:password" lines) and bearer tokens (lines without a
// colon). Only hashes are kept; nothing of them is ever printed.
type Auth struct {
	basic  map[string][32]byte // user -> sha256(password)
	tokens [][32]byte
}

// ReadAuthFile reads the credentials file: one credential a line, blank
// lines and lines starting with # ignored. The error names the setting
// and never the content.
func ReadAuthFile(path string) (*Auth, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("SCA_ADMIN_AUTH_FILE: %w", err)
	}
	return ParseAuth(b)
}

// ParseAuth reads credentials as [ReadAuthFile] does.
func ParseAuth(b []byte) (*Auth, error) {
	a := &Auth{basic: map[string][32]byte{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		user, pass, basic := strings.Cut(s, ":")
		switch {
		case basic && (user == "" || pass == ""):
			return nil, fmt.Errorf("SCA_ADMIN_AUTH_FILE: line %d: want user:password (both non-empty) or a bearer token", line)
		case basic:
			a.basic[user] = sha256.Sum256([]byte(pass))
		case len(s) < 16:
			return nil, fmt.Errorf("SCA_ADMIN_AUTH_FILE: line %d: a bearer token must have at least 16 characters", line)
		default:
			a.tokens = append(a.tokens, sha256.Sum256([]byte(s)))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("SCA_ADMIN_AUTH_FILE: %w", err)
	}
	if len(a.basic) == 0 && len(a.tokens) == 0 {
		return nil, errors.New("SCA_ADMIN_AUTH_FILE: no credential in the file: one user:password or bearer token a line")
	}
	return a, nil
}

// check authenticates r: ok, and the basic-auth user ("" for a token).
func (a *Auth) check(r *http.Request) (user string, ok bool) {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		sum := sha256.Sum256([]byte(strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))))
		found := 0
		for _, t := range a.tokens {
			found |= subtle.ConstantTimeCompare(sum[:], t[:])
		}
		return "", found == 1
	}
	u, p, ok := r.BasicAuth()
	if !ok {
		return "", false
	}
	want, known := a.basic[u]
	sum := sha256.Sum256([]byte(p))
	if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || !known {
		return "", false
	}
	return u, true
}
