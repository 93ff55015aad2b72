package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scaworker/scaworker/events"
	"github.com/scaworker/scaworker/internal/testworld"
)

// readmeBlock returns the body of the first fenced code block of README.md
// after the line heading.
func readmeBlock(t *testing.T, heading string) string {
	t.Helper()
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	i := strings.Index(text, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no %q", heading)
	}
	text = text[i:]
	start := strings.Index(text, "\n```")
	if start < 0 {
		t.Fatalf("README.md: no code block after %q", heading)
	}
	text = text[start+4:]
	text = text[strings.Index(text, "\n")+1:]
	end := strings.Index(text, "\n```")
	return text[:end+1]
}

// quoted returns the text between the first and the last single quote.
func quoted(t *testing.T, line string) string {
	t.Helper()
	i, j := strings.Index(line, "'"), strings.LastIndex(line, "'")
	if i < 0 || j <= i {
		t.Fatalf("no quoted argument in %q", line)
	}
	return line[i+1 : j]
}

// linkWhere waits for a send-link event that match accepts.
func linkWhere(t *testing.T, js jetstream.JetStream, what string, match func(*events.LinkSend) bool) *events.LinkSend {
	t.Helper()
	var found *events.LinkSend
	testworld.WaitFor(t, what, 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, "SCA_LINKS")
		if err != nil {
			return false
		}
		info := st.CachedInfo()
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if err != nil {
				continue
			}
			l, err := events.DecodeLinkSend(m.Data)
			if err == nil && match(l) {
				found = l
				return true
			}
		}
		return false
	})
	return found
}

// TestREADMEWalkThrough runs the README's "Trying it by hand" commands as
// written against the simulator: the events it publishes get links, its
// simulator calls add a user and an event, and its backfill and dlq
// commands succeed, the backfilled event getting a link too.
func TestREADMEWalkThrough(t *testing.T) {
	t.Parallel()
	block := readmeBlock(t, "### Trying it by hand against the simulator")
	example := compactJSON(t, readmeBlock(t, "## Events"))
	o := startOperatorWorld(t)
	ran := map[string]int{}
	for _, line := range strings.Split(block, "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0 || strings.HasPrefix(fields[0], "#"):
		case fields[0] == "nats" && fields[1] == "pub":
			body := quoted(t, line)
			if fields[2] == events.DefaultSubjects().UserCreated && compactJSON(t, body) != example {
				t.Errorf("the walk-through publishes\n%s\nnot the example event of Events\n%s", body, example)
			}
			var ev struct{ ID, Type string }
			if err := json.Unmarshal([]byte(body), &ev); err != nil {
				t.Fatalf("README event %s: %v", body, err)
			}
			if _, err := o.js.Publish(t.Context(), fields[2], []byte(body)); err != nil {
				t.Fatalf("publish %s: %v", fields[2], err)
			}
			l := linkWhere(t, o.js, "the send-link event of "+ev.ID, func(l *events.LinkSend) bool { return l.Trigger.ID == ev.ID })
			if !strings.HasPrefix(l.RedirectURL, "https://sca.sandbox.mangopay.com/") || !strings.Contains(l.RedirectURL, "&returnUrl=") {
				t.Errorf("link of the README event = %+v", l)
			}
			ran["nats pub"]++
		case fields[0] == "curl":
			url := fields[3]
			path := url[strings.Index(url, "/"):]
			resp, err := http.Post(o.sim.URL+path, "application/json", strings.NewReader(quoted(t, line)))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("%s = %d, want 201", line, resp.StatusCode)
			}
			ran["curl"]++
		case fields[0] == "./scaworker" && fields[1] != "run":
			args := fields[1:]
			if i := indexOf(args, "#"); i >= 0 {
				args = args[:i]
			}
			code, out, errOut := runSync(t, args, o.env)
			if code != exitOK {
				t.Errorf("%s = %d:\n%s\n%s", line, code, out, errOut)
			}
			ran[fields[1]]++
		}
	}
	for _, want := range []string{"nats pub", "curl", "backfill", "dlq"} {
		if ran[want] == 0 {
			t.Errorf("the README's walk-through has no %q command any more", want)
		}
	}
	// The backfilled failure of the user added to the simulator gets a link.
	linkWhere(t, o.js, "a link for the backfilled user_m_ada", func(l *events.LinkSend) bool {
		return l.UserID == "user_m_ada" && l.Trigger.Type == events.TypeSessionFailed
	})
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("README JSON %s: %v", s, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if strings.HasPrefix(x, v) {
			return i
		}
	}
	return -1
}
