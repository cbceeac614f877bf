package slack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/notifiers/notifiertest"
	slackch "github.com/odoo-notify/odoo-notify/notifiers/slack"
	"github.com/odoo-notify/odoo-notify/report"
)

const (
	botToken  = "xoxb-1234567890-0987654321-SECRETbotTokenValue"
	channelID = "C0123456789"
)

// apiAnswer is one reply of the fake Web API: Slack answers HTTP 200 with
// {"ok": false, "error": CODE} for its errors, and 429 with Retry-After
// when it rate-limits.
type apiAnswer struct {
	code       int
	body       string
	retryAfter string
}

func slackError(code string) apiAnswer {
	return apiAnswer{200, `{"ok":false,"error":"` + code + `"}`, ""}
}

// apiCall is one request the fake Web API got.
type apiCall struct {
	method        string // chat.postMessage, chat.update
	authorization string
	form          url.Values
	rawBody       string
}

func (c apiCall) blocks(t *testing.T) []slack.Block {
	t.Helper()
	var b slack.Blocks
	if err := json.Unmarshal([]byte(c.form.Get("blocks")), &b); err != nil {
		t.Fatalf("%s: blocks are not Block Kit JSON: %v\n%.300s", c.method, err, c.form.Get("blocks"))
	}
	return b.BlockSet
}

// blockText is every text of the blocks, one per line.
func blockText(bs []slack.Block) string {
	var out []string
	for _, b := range bs {
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

// fakeAPI answers chat.postMessage and chat.update as slack.com/api does:
// a bearer token is required, a message gets a ts, and chat.update answers
// with the channel and ts it edited. Scripted answers go first, per method.
type fakeAPI struct {
	*httptest.Server
	mu      sync.Mutex
	answers map[string][]apiAnswer
	calls   []apiCall
	n       int
}

func newFakeAPI(t testing.TB) *fakeAPI {
	f := &fakeAPI{answers: map[string][]apiAnswer{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		method := strings.TrimPrefix(r.URL.Path, "/api/")
		f.mu.Lock()
		f.calls = append(f.calls, apiCall{method, r.Header.Get("Authorization"), form, string(body)})
		var a *apiAnswer
		if q := f.answers[method]; len(q) > 0 {
			a, f.answers[method] = &q[0], q[1:]
		}
		f.n++
		ts := fmt.Sprintf("1773483%03d.%06d", f.n, f.n*100)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		switch {
		case a != nil:
			if a.retryAfter != "" {
				w.Header().Set("Retry-After", a.retryAfter)
			}
			w.WriteHeader(a.code)
			io.WriteString(w, a.body)
			return
		case !strings.HasPrefix(r.URL.Path, "/api/"):
			http.NotFound(w, r)
			return
		case r.Header.Get("Authorization") == "" && form.Get("token") == "":
			io.WriteString(w, `{"ok":false,"error":"not_authed"}`)
			return
		case r.Header.Get("Authorization") != "Bearer "+botToken:
			io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		ch := form.Get("channel")
		if ch == "#ops" {
			ch = channelID // Slack answers with the id of a channel named
		}
		msg := map[string]any{"type": "message", "subtype": "bot_message", "text": form.Get("text"), "bot_id": "B0123456789", "ts": ts}
		switch method {
		case "chat.postMessage":
			if tts := form.Get("thread_ts"); tts != "" {
				msg["thread_ts"] = tts
			}
			json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": ch, "ts": ts, "message": msg})
		case "chat.update":
			if ch != channelID {
				io.WriteString(w, `{"ok":false,"error":"channel_not_found"}`)
				return
			}
			msg["ts"] = form.Get("ts")
			json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": ch, "ts": form.Get("ts"), "text": form.Get("text"), "message": msg})
		default:
			io.WriteString(w, `{"ok":false,"error":"unknown_method"}`)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) script(method string, answers ...apiAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[method] = append(f.answers[method], answers...)
}

func (f *fakeAPI) got() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiCall(nil), f.calls...)
}

// memThreads keeps thread records in memory, as the state folder does on
// disk.
type memThreads struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (m *memThreads) LoadThread(_ context.Context, id string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[id], nil
}

func (m *memThreads) UpdateThread(_ context.Context, id string, change func([]byte) ([]byte, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := change(m.m[id])
	if err != nil || b == nil {
		return err
	}
	if m.m == nil {
		m.m = map[string][]byte{}
	}
	m.m[id] = b
	return nil
}

func newApp(f *fakeAPI, channel string, threads slackch.Threads) *slackch.App {
	a := slackch.NewApp(config.Slack{Name: "ops", Token: botToken, Channel: channel, APIURL: f.URL + "/api"}, f.Client(), threads)
	a.Location = time.UTC
	return a
}

// incidentReports are an incident's opening (a failure at 10:25), an
// update (the second failure, 10:29) and its recovery (back at 10:32), as
// the outbox hands them to one channel: each with its own id, the
// follow-ups with the opening's id as their thread id.
func incidentReports() (opening, update, resolved *report.Report) {
	t0 := time.Date(2026, 3, 14, 10, 25, 0, 0, time.UTC)
	base := crashReport()
	base.ExitedAt = t0
	in := report.Incident{ID: "erp1-odoo-20260314T1025", Opened: t0, Failures: 1, State: "open", LastFailure: t0, Subject: base.Subject()}

	opening = base
	opening.ID = "openingid0000000000000001"
	opening.Event = report.EventFiring
	oi := in
	opening.Incident = &oi

	u := *base
	update = &u
	update.ID = "updateid00000000000000002"
	update.Event = report.EventUpdate
	update.InvocationID = "7a1c0d2a9b7e4c3d8e5f6a7b8c9d0e1f"
	update.ExitedAt = t0.Add(4 * time.Minute)
	ui := in
	ui.Failures, ui.LastFailure, ui.ThreadID = 2, t0.Add(4*time.Minute), opening.ID
	ui.Causes = "oom-kill x2"
	update.Incident = &ui

	resolved = &report.Report{
		ID: "resolvedid000000000000003", Host: "erp1", Unit: "odoo.service", Event: report.EventResolved,
		Summary: "erp1: odoo.service is back: running since 10:32:00, after 2 failure(s) in 7 min (oom-kill x2)",
		Cause:   "recovered", Created: t0.Add(9 * time.Minute),
	}
	ri := ui
	ri.State, ri.RunningSince, ri.Resolved = "resolved", t0.Add(7*time.Minute), t0.Add(9*time.Minute)
	resolved.Incident = &ri
	return opening, update, resolved
}

// TestAppIncident runs an incident through the app: the opening is the
// parent, the update and the recovery are replies in its thread, and the
// parent is edited after each to show the incident's state.
func TestAppIncident(t *testing.T) {
	f := newFakeAPI(t)
	app := newApp(f, "#ops", &memThreads{})
	opening, update, resolved := incidentReports()
	for _, r := range []*report.Report{opening, update, resolved} {
		if retry, err := app.Notify(context.Background(), r); err != nil {
			t.Fatalf("%s: Notify() = %v (retry %v)", r.Event, err, retry)
		}
	}
	calls := f.got()
	var methods []string
	for _, c := range calls {
		methods = append(methods, c.method)
		if c.authorization != "Bearer "+botToken {
			t.Errorf("%s: Authorization = %q, want the bot token as a bearer token", c.method, c.authorization)
		}
		if strings.Contains(c.rawBody, "SECRETbotTokenValue") || c.form.Has("token") {
			t.Errorf("%s: the token is in the body too: %.200s", c.method, c.rawBody)
		}
		if c.form.Get("unfurl_links") != "false" && c.method == "chat.postMessage" {
			t.Errorf("%s: links unfurl", c.method)
		}
	}
	want := []string{"chat.postMessage", "chat.postMessage", "chat.update", "chat.postMessage", "chat.update"}
	if strings.Join(methods, " ") != strings.Join(want, " ") {
		t.Fatalf("Slack got %v, want %v", methods, want)
	}
	parent, upReply, upEdit, resReply, resEdit := calls[0], calls[1], calls[2], calls[3], calls[4]
	parentTS := "1773483001.000100"

	if parent.form.Get("channel") != "#ops" || parent.form.Has("thread_ts") {
		t.Errorf("parent: channel %q thread_ts %q, want #ops and none", parent.form.Get("channel"), parent.form.Get("thread_ts"))
	}
	if got := blockText(parent.blocks(t)); !strings.Contains(got, "*Failing* since 10:25 (2026-03-14): 1 failure") || !strings.Contains(got, "Incident `erp1-odoo-20260314T1025`") || !strings.Contains(got, "Out of memory: Killed process 4251") {
		t.Errorf("parent does not say the incident's state and the report:\n%s", got)
	}
	if parent.form.Get("text") != opening.Subject() {
		t.Errorf("parent text = %q, want the subject", parent.form.Get("text"))
	}

	for _, reply := range []apiCall{upReply, resReply} {
		if reply.form.Get("thread_ts") != parentTS || reply.form.Get("channel") != "#ops" {
			t.Errorf("reply: channel %q thread_ts %q, want #ops and the parent's ts %s", reply.form.Get("channel"), reply.form.Get("thread_ts"), parentTS)
		}
	}
	if got := blockText(upReply.blocks(t)); !strings.Contains(got, "*Update* of incident") {
		t.Errorf("the update's reply does not say it is an update:\n%s", got)
	}
	if got := blockText(resReply.blocks(t)); !strings.Contains(got, "odoo.service is back") {
		t.Errorf("the recovery's reply does not say the unit is back:\n%s", got)
	}

	for _, edit := range []apiCall{upEdit, resEdit} {
		if edit.form.Get("channel") != channelID || edit.form.Get("ts") != parentTS {
			t.Errorf("chat.update of channel %q ts %q, want the parent: %s %s", edit.form.Get("channel"), edit.form.Get("ts"), channelID, parentTS)
		}
	}
	upText := blockText(upEdit.blocks(t))
	if !strings.Contains(upText, "*Failing* since 10:25 (2026-03-14): 2 failures, the last at 10:29 (oom-kill x2)") {
		t.Errorf("the parent after the update does not say 2 failures:\n%s", upText)
	}
	if !strings.Contains(upText, "Out of memory: Killed process 4251") {
		t.Errorf("the edit lost the parent's report:\n%s", upText)
	}
	resBlocks := resEdit.blocks(t)
	resText := blockText(resBlocks)
	if !strings.Contains(resText, "*Recovered* at 10:32, after 7 min: 2 failures") || strings.Contains(resText, "Failing") {
		t.Errorf("the parent after the recovery does not say recovered at 10:32 after 7 min:\n%s", resText)
	}
	if h, ok := resBlocks[0].(*slack.HeaderBlock); !ok || h.Text.Text != "[RESOLVED] "+opening.Title() {
		t.Errorf("the parent's header after the recovery = %+v, want [RESOLVED] and the opening's title", resBlocks[0])
	}
	if resEdit.form.Get("text") != "[RESOLVED] "+opening.Title() {
		t.Errorf("the parent's text after the recovery = %q", resEdit.form.Get("text"))
	}
	if len(resBlocks) != len(parent.blocks(t)) {
		t.Errorf("the edit has %d blocks, the parent %d", len(resBlocks), len(parent.blocks(t)))
	}
}

// TestAppSentAgain: the outbox sends a report again when a run was cut
// short; the thread shows each once, and a failed edit is retried alone.
func TestAppSentAgain(t *testing.T) {
	f := newFakeAPI(t)
	app := newApp(f, channelID, &memThreads{})
	opening, update, _ := incidentReports()
	ctx := context.Background()
	for range 2 {
		if _, err := app.Notify(ctx, opening); err != nil {
			t.Fatal(err)
		}
	}
	f.script("chat.update", apiAnswer{503, "<html>Service Unavailable</html>", ""})
	retry, err := app.Notify(ctx, update)
	if !retry || err == nil || !strings.Contains(err.Error(), "slack: update the incident's message: HTTP 503") {
		t.Fatalf("Notify() = %v, %v; want a retry after the 503 of chat.update", retry, err)
	}
	if _, err := app.Notify(ctx, update); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Notify(ctx, update); err != nil { // shown already: nothing to do
		t.Fatal(err)
	}
	var methods []string
	for _, c := range f.got() {
		methods = append(methods, c.method)
	}
	want := "chat.postMessage chat.postMessage chat.update chat.update"
	if got := strings.Join(methods, " "); got != want {
		t.Errorf("Slack got %s, want %s: one parent, one reply, the edit twice", got, want)
	}
}

// TestAppParentUnknown: a follow-up whose parent is not known (the state
// folder lost, or none) is posted as a message of its own that names the
// incident, and nothing is edited.
func TestAppParentUnknown(t *testing.T) {
	for _, tt := range []struct {
		name    string
		threads slackch.Threads
	}{{"no state folder", nil}, {"record lost", &memThreads{}}} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			app := newApp(f, channelID, tt.threads)
			_, update, _ := incidentReports()
			if _, err := app.Notify(context.Background(), update); err != nil {
				t.Fatal(err)
			}
			calls := f.got()
			if len(calls) != 1 || calls[0].method != "chat.postMessage" || calls[0].form.Has("thread_ts") {
				t.Fatalf("Slack got %+v, want one top-level message", calls)
			}
			if got := blockText(calls[0].blocks(t)); !strings.Contains(got, "*Update* of incident `erp1-odoo-20260314T1025`, open since 2026-03-14 10:25 UTC") {
				t.Errorf("the message does not say which incident it follows:\n%s", got)
			}
		})
	}
}

// TestAppLateUpdate: an update delivered after the recovery (its channel
// was down) goes in the thread, but the parent keeps saying recovered.
func TestAppLateUpdate(t *testing.T) {
	f := newFakeAPI(t)
	app := newApp(f, channelID, &memThreads{})
	opening, update, resolved := incidentReports()
	for _, r := range []*report.Report{opening, resolved, update} {
		if _, err := app.Notify(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	var methods []string
	for _, c := range f.got() {
		methods = append(methods, c.method)
	}
	if got, want := strings.Join(methods, " "), "chat.postMessage chat.postMessage chat.update chat.postMessage"; got != want {
		t.Errorf("Slack got %s, want %s: no edit back to failing", got, want)
	}
}

// TestAppAnswers: each of the Web API's answers, as Slack sends them.
func TestAppAnswers(t *testing.T) {
	tests := []struct {
		name      string
		answer    apiAnswer
		wantRetry bool
		wantErr   string
		wantAfter time.Duration
	}{
		{"not in channel", slackError("not_in_channel"), false, "slack: post message: not_in_channel: the bot is not a member of #ops: invite it there (/invite @yourbot in #ops)", 0},
		{"channel not found", slackError("channel_not_found"), false, "channel_not_found: Slack knows no channel #ops: check channel", 0},
		{"archived", slackError("is_archived"), false, "is_archived: #ops is archived: unarchive it, or set channel to another one", 0},
		{"invalid auth", slackError("invalid_auth"), false, "invalid_auth: Slack does not accept the token: copy the Bot User OAuth Token (xoxb-...)", 0},
		{"token revoked", slackError("token_revoked"), false, "token_revoked: the token was revoked (the app was uninstalled or the token rotated): reinstall the app", 0},
		{"missing scope", apiAnswer{200, `{"ok":false,"error":"missing_scope","needed":"chat:write","provided":"channels:read,users:read"}`, ""}, false,
			"missing_scope: the app lacks the chat:write scope (it has channels:read,users:read): add chat:write under OAuth & Permissions, reinstall the app", 0},
		{"rate limited", apiAnswer{429, `{"ok":false,"error":"ratelimited"}`, "3"}, true, "slack rate limit exceeded, retry after 3s: Slack allows about one message per second per channel", 3 * time.Second},
		{"429 without Retry-After", apiAnswer{429, `{"ok":false,"error":"ratelimited"}`, ""}, true, "HTTP 429 Too Many Requests", 0},
		{"rate_limited in a 200", slackError("rate_limited"), true, "rate_limited: Slack allows about one message per second", time.Second},
		{"internal error", slackError("internal_error"), true, "internal_error: Slack had an internal error", 0},
		{"500", apiAnswer{500, "<html>oops</html>", ""}, true, "HTTP 500 Internal Server Error", 0},
		{"a proxy's page", apiAnswer{200, "<html>Sign in to the proxy</html>", ""}, true, "the answer is not Slack's", 0},
		{"404 of a wrong api_url", apiAnswer{404, "not found", ""}, false, "HTTP 404 Not Found: check api_url", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.script("chat.postMessage", tt.answer)
			var log notifiertest.Log
			app := newApp(f, "#ops", &memThreads{})
			app.Log = log.Logger()
			opening, _, _ := incidentReports()
			retry, err := app.Notify(context.Background(), opening)
			if retry != tt.wantRetry || err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Notify() = %v, %v; want retry=%v and an error containing %q", retry, err, tt.wantRetry, tt.wantErr)
			}
			var ra *notifiers.RetryAfterError
			if tt.wantAfter > 0 && (!errors.As(err, &ra) || ra.After != tt.wantAfter) {
				t.Errorf("Retry-After: got %v, want %v", ra, tt.wantAfter)
			}
			notifiertest.NoSecret(t, botToken, err.Error(), log.String())
			// A refused opening is not remembered: sent again, it is
			// posted again.
			if _, err := app.Notify(context.Background(), opening); err != nil {
				t.Fatalf("second try: %v", err)
			}
			if n := len(f.got()); n != 2 {
				t.Errorf("Slack got %d requests, want 2", n)
			}
		})
	}
}

// TestAppEditRefused: a parent that cannot be edited for good (deleted)
// does not fail the reply, which is delivered.
func TestAppEditRefused(t *testing.T) {
	f := newFakeAPI(t)
	var log notifiertest.Log
	app := newApp(f, channelID, &memThreads{})
	app.Log = log.Logger()
	opening, update, _ := incidentReports()
	if _, err := app.Notify(context.Background(), opening); err != nil {
		t.Fatal(err)
	}
	f.script("chat.update", slackError("message_not_found"))
	if retry, err := app.Notify(context.Background(), update); err != nil || retry {
		t.Fatalf("Notify() = %v, %v; want the reply delivered", retry, err)
	}
	if !strings.Contains(log.String(), "the incident's message cannot be edited") || !strings.Contains(log.String(), "message_not_found") {
		t.Errorf("the log does not say the edit failed:\n%s", log.String())
	}
}

// TestAppNoSecretLeaks: the token is in no error or log line, whatever
// fails: a refused connection, a proxy that echoes the request.
func TestAppNoSecretLeaks(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "bad gateway for %s %s (auth %s)", r.URL, body, r.Header.Get("Authorization"))
	}))
	t.Cleanup(echo.Close)
	for _, api := range []string{"http://" + closedAddr(t) + "/api/", echo.URL + "/api/"} {
		var log notifiertest.Log
		app := slackch.NewApp(config.Slack{Token: botToken, Channel: "#ops", APIURL: api}, &http.Client{Timeout: 5 * time.Second}, nil)
		app.Log = log.Logger()
		d := &notifiers.Dispatcher{Log: log.Logger(), Policy: notifiers.Policy{Initial: time.Millisecond, Max: time.Millisecond, MaxAttempts: 2}}
		res := d.Dispatch(context.Background(), []notifiers.Channel{{Kind: "slack", Name: "ops", Notifier: app}}, crashReport(), nil)
		err := notifiers.Join(res)
		if err == nil {
			t.Fatalf("%s: delivered", api)
		}
		t.Log(err)
		notifiertest.NoSecret(t, botToken, err.Error(), log.String(), fmt.Sprintf("%v %+v", app, app))
	}
}
