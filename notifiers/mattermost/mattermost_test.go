package mattermost

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/notifiers/notifiertest"
)

const hookPath = "/hooks/SECRETxyz9kq3m1a7wbr5ynh8e4x"

type ans = notifiertest.Answer

// appError is Mattermost's model.AppError as its server writes it.
func appError(code int, id, msg string) ans {
	return ans{Code: code, Body: `{"id":"` + id + `","message":"` + msg + `","detailed_error":"","request_id":"p9rw7ahk3jfyjgqcj5sg6cxjhw","status_code":` + itoa(code) + `}`}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

var ok = ans{Code: 200, Body: "ok", ContentType: "text/plain"}

func notifier(s *notifiertest.Server) notifiers.Notifier {
	return New(config.Mattermost{WebhookURL: config.Secret(s.URL + hookPath), Channel: "town-square", Username: "odoo-notify"}, s.Client())
}

func TestNotifyAnswers(t *testing.T) {
	notifiertest.Answers(t, ok, hookPath, notifier, []notifiertest.Case{
		{Name: "ok", Answer: ok},
		{Name: "invalid webhook", Answer: appError(400, "web.incoming_webhook.invalid.app_error", "Invalid webhook."),
			WantErr: "mattermost: post webhook: HTTP 400 Bad Request: Invalid webhook. (web.incoming_webhook.invalid.app_error): Mattermost does not know this webhook"},
		{Name: "no text", Answer: appError(400, "web.incoming_webhook.text.app_error", "No text specified."), WantErr: "report this as a bug"},
		{Name: "disabled", Answer: appError(501, "web.incoming_webhook.disabled.app_error", "Incoming webhooks have been disabled by the system admin."),
			WantRetry: true, WantErr: "HTTP 501 Not Implemented: Incoming webhooks have been disabled by the system admin. (web.incoming_webhook.disabled.app_error): incoming webhooks are turned off"},
		{Name: "unauthorized", Answer: appError(401, "api.context.session_expired.app_error", "Invalid or expired session, please login again."), WantErr: "HTTP 401 Unauthorized: Invalid or expired session"},
		{Name: "channel locked", Answer: appError(403, "web.incoming_webhook.channel_locked.app_error", "This webhook is not permitted to post to the requested channel."),
			WantErr: "HTTP 403 Forbidden: This webhook is not permitted to post to the requested channel. (web.incoming_webhook.channel_locked.app_error): the webhook is locked to its own channel"},
		{Name: "not found", Answer: ans{Code: 404, Body: "404 page not found", ContentType: "text/plain"}, WantErr: "no Mattermost webhook at this URL"},
		{Name: "too large", Answer: appError(413, "api.context.invalid_body_param.app_error", "Invalid or missing post in request body."), WantErr: "HTTP 413 Request Entity Too Large"},
		{Name: "rate limited", Answer: ans{Code: 429, Body: "limit exceeded\n", ContentType: "text/plain", RetryAfter: "1"}, WantRetry: true, WantErr: "HTTP 429", WantAfter: 1e9},
		{Name: "bad gateway", Answer: ans{Code: 502, Body: "<html><body>502 Bad Gateway</body></html>", ContentType: "text/html"}, WantRetry: true, WantErr: "HTTP 502"},
	})
}

func TestBody(t *testing.T) {
	s := notifiertest.NewServer(t, ok)
	if _, err := notifier(s).Notify(context.Background(), notifiertest.Report()); err != nil {
		t.Fatal(err)
	}
	var m struct{ Text, Channel, Username string }
	if err := json.Unmarshal(s.Requests()[0].Body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Channel != "town-square" || m.Username != "odoo-notify" {
		t.Errorf("post = %+v", m)
	}
	if !strings.Contains(m.Text, "**erp1: odoo.service failed (oom-kill, signal KILL)**") {
		t.Errorf("no bold title:\n%s", m.Text)
	}
	for _, mention := range []string{"@channel", "@all", "@here", "@everyone"} {
		if strings.Contains(m.Text, mention) {
			t.Errorf("text still holds %s:\n%s", mention, m.Text)
		}
	}
	if !strings.Contains(m.Text, "@\u200bchannel") || strings.Count(m.Text, "```") != 2 {
		t.Errorf("mentions not broken, or the log's fence kept:\n%s", m.Text)
	}
}

func TestCutAtLimit(t *testing.T) {
	for _, n := range []int{3, 150, 5000} {
		text := Render(notifiertest.LongReport(n))
		if l := len([]rune(text)); l > MaxText {
			t.Errorf("%d lines: %d characters, want at most %d", n, l, MaxText)
		}
		if !strings.Contains(text, notifiertest.LastLine(n)) || !strings.HasSuffix(text, "\n```") {
			t.Errorf("%d lines: the newest line or the closing fence is missing", n)
		}
		if n > 150 && !strings.Contains(text, "earlier line(s) not shown (cut to fit Mattermost's limit of 16383 characters)") {
			t.Errorf("%d lines: no note that lines were left out", n)
		}
	}
}

func TestNoSecretLeaks(t *testing.T) {
	notifiertest.NoLeaks(t, "mattermost", func(base string) notifiers.Notifier {
		return New(config.Mattermost{WebhookURL: config.Secret(base + hookPath)}, notifiertest.Client())
	}, notifiertest.Report(), "SECRETxyz9kq3m1a7wbr5ynh8e4x")
}

// TestErrorsAtLimit: the errors the run logged are in the message, the most
// frequent first, cut to whole lines with a note, and the message still
// fits the limit with the newest log line in it.
func TestErrorsAtLimit(t *testing.T) {
	for _, n := range []int{3, 5000} {
		text := Render(notifiertest.ErrorsReport(n))
		if l := len([]rune(text)); l > MaxText {
			t.Errorf("%d lines: %d characters, want at most %d", n, l, MaxText)
		}
		notifiertest.CheckErrors(t, n, text)
	}
}
