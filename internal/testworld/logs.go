package testworld

import (
	"fmt"
	"strings"

	"go.uber.org/zap/zaptest/observer"
)

// LogText renders every log line, one a line, as "LEVEL message k=v ...".
func (w *World) LogText() string {
	var b strings.Builder
	for _, e := range w.Logs.All() {
		fmt.Fprintf(&b, "%s %s\n", e.Level, logLine(e))
	}
	return b.String()
}

// logLine is a log entry's message and fields.
func logLine(e observer.LoggedEntry) string {
	line := e.Message
	for k, v := range e.ContextMap() {
		line += fmt.Sprintf(" %s=%v", k, v)
	}
	return line
}

// CheckNoSecrets fails the test when a log line carries the API key or
// the token of a link in the links stream. New registers it as a cleanup
// unless the world is quiet.
func (w *World) CheckNoSecrets() {
	w.T.Helper()
	secrets := []string{w.Sim.APIKey()}
	for _, l := range w.Links() {
		if i := strings.Index(l.RedirectURL, "token="); i >= 0 {
			tok := l.RedirectURL[i+len("token="):]
			if j := strings.IndexAny(tok, "&#"); j >= 0 {
				tok = tok[:j]
			}
			secrets = append(secrets, tok)
		}
	}
	for _, e := range w.Logs.All() {
		line := logLine(e)
		for _, s := range secrets {
			if s != "" && strings.Contains(line, s) {
				w.T.Errorf("log line carries a secret: %q", e.Message)
			}
		}
	}
}
