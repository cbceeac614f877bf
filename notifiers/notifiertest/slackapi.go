package notifiertest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/slack-go/slack"
)

// SlackAPI answers chat.postMessage and chat.update under /api/ as
// slack.com/api does: a bearer token is required (not_authed without one,
// invalid_auth for another), a message gets a new ts, a channel named
// "#NAME" is answered with its id, and chat.update takes only that id.
// Errors are HTTP 200 with {"ok": false, "error": CODE}; scripted answers
// (SlackError, or a 429 with Retry-After) go first, per method.
type SlackAPI struct {
	*httptest.Server
	// Token is the bot token it takes; ChannelID the id of every channel.
	Token, ChannelID string

	mu      sync.Mutex
	answers map[string][]Answer
	calls   []SlackCall
	n       int
}

// SlackCall is one request the fake Web API got.
type SlackCall struct {
	Method        string // chat.postMessage, chat.update
	Authorization string
	Form          url.Values
	Body          string
	// TS is the ts the fake answered with: a new message's, or the one a
	// chat.update edited.
	TS string
}

// Blocks decodes the call's Block Kit blocks.
func (c SlackCall) Blocks(t testing.TB) []slack.Block {
	t.Helper()
	var b slack.Blocks
	if err := json.Unmarshal([]byte(c.Form.Get("blocks")), &b); err != nil {
		t.Fatalf("%s: blocks are not Block Kit JSON: %v\n%.300s", c.Method, err, c.Form.Get("blocks"))
	}
	return b.BlockSet
}

// Text is every text of the call's blocks, one per line.
func (c SlackCall) Text(t testing.TB) string {
	var out []string
	for _, b := range c.Blocks(t) {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			out = append(out, b.Text.Text)
		case *slack.SectionBlock:
			if b.Text != nil {
				out = append(out, b.Text.Text)
			}
		}
	}
	return strings.Join(out, "\n")
}

// SlackError is the Web API's answer for error code.
func SlackError(code string) Answer {
	return Answer{Code: 200, Body: `{"ok":false,"error":"` + code + `"}`}
}

// NewSlackAPI starts a fake Web API that takes token.
func NewSlackAPI(t testing.TB, token string) *SlackAPI {
	f := &SlackAPI{Token: token, ChannelID: "C0123456789", answers: map[string][]Answer{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// Script queues answers for method, before its usual ones.
func (f *SlackAPI) Script(method string, answers ...Answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[method] = append(f.answers[method], answers...)
}

// Calls returns every request so far, in order.
func (f *SlackAPI) Calls() []SlackCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SlackCall(nil), f.calls...)
}

// Methods lists the calls' methods, space-separated.
func (f *SlackAPI) Methods() string {
	var out []string
	for _, c := range f.Calls() {
		out = append(out, c.Method)
	}
	return strings.Join(out, " ")
}

// TS is the ts the fake gives its n-th request (from 1).
func TS(n int) string { return fmt.Sprintf("1773483%03d.%06d", n, n*100) }

func (f *SlackAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	f.mu.Lock()
	var a *Answer
	if q := f.answers[method]; len(q) > 0 {
		a, f.answers[method] = &q[0], q[1:]
	}
	f.n++
	ts := TS(f.n)
	answered := ts
	switch {
	case a != nil:
		answered = "" // a scripted answer posts nothing
	case method == "chat.update":
		answered = form.Get("ts")
	}
	f.calls = append(f.calls, SlackCall{method, r.Header.Get("Authorization"), form, string(body), answered})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	switch {
	case a != nil:
		if a.RetryAfter != "" {
			w.Header().Set("Retry-After", a.RetryAfter)
		}
		w.WriteHeader(a.Code)
		io.WriteString(w, a.Body)
		return
	case !strings.HasPrefix(r.URL.Path, "/api/"):
		http.NotFound(w, r)
		return
	case r.Header.Get("Authorization") == "" && form.Get("token") == "":
		io.WriteString(w, `{"ok":false,"error":"not_authed"}`)
		return
	case r.Header.Get("Authorization") != "Bearer "+f.Token:
		io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
		return
	}
	ch := form.Get("channel")
	if strings.HasPrefix(ch, "#") {
		ch = f.ChannelID
	}
	if ch != f.ChannelID {
		io.WriteString(w, `{"ok":false,"error":"channel_not_found"}`)
		return
	}
	msg := map[string]any{"type": "message", "subtype": "bot_message", "text": form.Get("text"), "bot_id": "B0123456789", "ts": ts}
	switch method {
	case "chat.postMessage":
		if tts := form.Get("thread_ts"); tts != "" {
			msg["thread_ts"] = tts
		}
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": ch, "ts": ts, "message": msg})
	case "chat.update":
		if form.Get("channel") != f.ChannelID {
			io.WriteString(w, `{"ok":false,"error":"channel_not_found"}`)
			return
		}
		msg["ts"] = form.Get("ts")
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": ch, "ts": form.Get("ts"), "text": form.Get("text"), "message": msg})
	default:
		io.WriteString(w, `{"ok":false,"error":"unknown_method"}`)
	}
}
