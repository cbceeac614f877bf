package slack_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

type apiAnswer = notifiertest.Answer

func slackError(code string) apiAnswer { return notifiertest.SlackError(code) }

func newFakeAPI(t testing.TB) *notifiertest.SlackAPI { return notifiertest.NewSlackAPI(t, botToken) }

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

func newApp(f *notifiertest.SlackAPI, channel string, threads slackch.Threads) *slackch.App {
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
	calls := f.Calls()
	var methods []string
	for _, c := range calls {
		methods = append(methods, c.Method)
		if c.Authorization != "Bearer "+botToken {
			t.Errorf("%s: Authorization = %q, want the bot token as a bearer token", c.Method, c.Authorization)
		}
		if strings.Contains(c.Body, "SECRETbotTokenValue") || c.Form.Has("token") {
			t.Errorf("%s: the token is in the body too: %.200s", c.Method, c.Body)
		}
		if c.Form.Get("unfurl_links") != "false" && c.Method == "chat.postMessage" {
			t.Errorf("%s: links unfurl", c.Method)
		}
	}
	want := []string{"chat.postMessage", "chat.postMessage", "chat.update", "chat.postMessage", "chat.update"}
	if strings.Join(methods, " ") != strings.Join(want, " ") {
		t.Fatalf("Slack got %v, want %v", methods, want)
	}
	parent, upReply, upEdit, resReply, resEdit := calls[0], calls[1], calls[2], calls[3], calls[4]
	parentTS := notifiertest.TS(1)

	if parent.Form.Get("channel") != "#ops" || parent.Form.Has("thread_ts") {
		t.Errorf("parent: channel %q thread_ts %q, want #ops and none", parent.Form.Get("channel"), parent.Form.Get("thread_ts"))
	}
	if got := parent.Text(t); !strings.Contains(got, "*Failing* since 10:25 (2026-03-14): 1 failure") || !strings.Contains(got, "Incident `erp1-odoo-20260314T1025`") || !strings.Contains(got, "Out of memory: Killed process 4251") {
		t.Errorf("parent does not say the incident's state and the report:\n%s", got)
	}
	if parent.Form.Get("text") != opening.Subject() {
		t.Errorf("parent text = %q, want the subject", parent.Form.Get("text"))
	}

	for _, reply := range []notifiertest.SlackCall{upReply, resReply} {
		if reply.Form.Get("thread_ts") != parentTS || reply.Form.Get("channel") != "#ops" {
			t.Errorf("reply: channel %q thread_ts %q, want #ops and the parent's ts %s", reply.Form.Get("channel"), reply.Form.Get("thread_ts"), parentTS)
		}
	}
	if got := upReply.Text(t); !strings.Contains(got, "*Update* of incident") {
		t.Errorf("the update's reply does not say it is an update:\n%s", got)
	}
	if got := resReply.Text(t); !strings.Contains(got, "odoo.service is back") {
		t.Errorf("the recovery's reply does not say the unit is back:\n%s", got)
	}

	for _, edit := range []notifiertest.SlackCall{upEdit, resEdit} {
		if edit.Form.Get("channel") != channelID || edit.Form.Get("ts") != parentTS {
			t.Errorf("chat.update of channel %q ts %q, want the parent: %s %s", edit.Form.Get("channel"), edit.Form.Get("ts"), channelID, parentTS)
		}
	}
	upText := upEdit.Text(t)
	if !strings.Contains(upText, "*Failing* since 10:25 (2026-03-14): 2 failures, the last at 10:29 (oom-kill x2)") {
		t.Errorf("the parent after the update does not say 2 failures:\n%s", upText)
	}
	if !strings.Contains(upText, "Out of memory: Killed process 4251") {
		t.Errorf("the edit lost the parent's report:\n%s", upText)
	}
	resBlocks := resEdit.Blocks(t)
	resText := resEdit.Text(t)
	if !strings.Contains(resText, "*Recovered* at 10:32, after 7 min: 2 failures") || strings.Contains(resText, "Failing") {
		t.Errorf("the parent after the recovery does not say recovered at 10:32 after 7 min:\n%s", resText)
	}
	if h, ok := resBlocks[0].(*slack.HeaderBlock); !ok || h.Text.Text != "[RESOLVED] "+opening.Title() {
		t.Errorf("the parent's header after the recovery = %+v, want [RESOLVED] and the opening's title", resBlocks[0])
	}
	if resEdit.Form.Get("text") != "[RESOLVED] "+opening.Title() {
		t.Errorf("the parent's text after the recovery = %q", resEdit.Form.Get("text"))
	}
	if len(resBlocks) != len(parent.Blocks(t)) {
		t.Errorf("the edit has %d blocks, the parent %d", len(resBlocks), len(parent.Blocks(t)))
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
	f.Script("chat.update", apiAnswer{Code: 503, Body: "<html>Service Unavailable</html>", RetryAfter: ""})
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
	for _, c := range f.Calls() {
		methods = append(methods, c.Method)
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
			calls := f.Calls()
			if len(calls) != 1 || calls[0].Method != "chat.postMessage" || calls[0].Form.Has("thread_ts") {
				t.Fatalf("Slack got %+v, want one top-level message", calls)
			}
			if got := calls[0].Text(t); !strings.Contains(got, "*Update* of incident `erp1-odoo-20260314T1025`, open since 2026-03-14 10:25 UTC") {
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
	for _, c := range f.Calls() {
		methods = append(methods, c.Method)
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
		{"missing scope", apiAnswer{Code: 200, Body: `{"ok":false,"error":"missing_scope","needed":"chat:write","provided":"channels:read,users:read"}`, RetryAfter: ""}, false,
			"missing_scope: the app lacks the chat:write scope (it has channels:read,users:read): add chat:write under OAuth & Permissions, reinstall the app", 0},
		{"rate limited", apiAnswer{Code: 429, Body: `{"ok":false,"error":"ratelimited"}`, RetryAfter: "3"}, true, "slack rate limit exceeded, retry after 3s: Slack allows about one message per second per channel", 3 * time.Second},
		{"429 without Retry-After", apiAnswer{Code: 429, Body: `{"ok":false,"error":"ratelimited"}`, RetryAfter: ""}, true, "HTTP 429 Too Many Requests", 0},
		{"rate_limited in a 200", slackError("rate_limited"), true, "rate_limited: Slack allows about one message per second", time.Second},
		{"internal error", slackError("internal_error"), true, "internal_error: Slack had an internal error", 0},
		{"500", apiAnswer{Code: 500, Body: "<html>oops</html>", RetryAfter: ""}, true, "HTTP 500 Internal Server Error", 0},
		{"a proxy's page", apiAnswer{Code: 200, Body: "<html>Sign in to the proxy</html>", RetryAfter: ""}, true, "the answer is not Slack's", 0},
		{"404 of a wrong api_url", apiAnswer{Code: 404, Body: "not found", RetryAfter: ""}, false, "HTTP 404 Not Found: check api_url", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.Script("chat.postMessage", tt.answer)
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
			if n := len(f.Calls()); n != 2 {
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
	f.Script("chat.update", slackError("message_not_found"))
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
