package googlechat

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/notifiers/notifiertest"
)

const (
	spacePath = "/v1/spaces/AAAAbcdEfGh/messages"
	key       = "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI"
	tok       = "SECRETxyz_qJ1mJ9VbD7sP0wXkRNvE4tYHn2Lq8fUaZc3%3D"
)

type ans = notifiertest.Answer

// googleError is a Google API error body as Google Chat writes it.
func googleError(code int, status, msg string) ans {
	return ans{Code: code, Body: fmt.Sprintf("{\n  \"error\": {\n    \"code\": %d,\n    \"message\": %q,\n    \"status\": %q\n  }\n}\n", code, msg, status)}
}

var ok = ans{Code: 200, Body: `{"name":"spaces/AAAAbcdEfGh/messages/x1.x1","sender":{"name":"users/114022495153014004089","displayName":"odoo-notify","type":"BOT"},"text":"erp1","createTime":"2026-03-14T09:26:54.123455Z","space":{"name":"spaces/AAAAbcdEfGh","type":"ROOM"}}`}

func hookURL(base string) config.Secret {
	return config.Secret(base + spacePath + "?key=" + key + "&token=" + tok)
}

func notifier(s *notifiertest.Server) notifiers.Notifier {
	return New(config.GoogleChat{WebhookURL: hookURL(s.URL)}, s.Client())
}

func TestNotifyAnswers(t *testing.T) {
	notifiertest.Answers(t, ok, spacePath, notifier, []notifiertest.Case{
		{Name: "ok", Answer: ok},
		{Name: "invalid argument", Answer: googleError(400, "INVALID_ARGUMENT", `Invalid JSON payload received. Unknown name "txt" at 'message': Cannot find field.`),
			WantErr: `googlechat: post webhook: HTTP 400 Bad Request: INVALID_ARGUMENT: Invalid JSON payload received.`},
		{Name: "unauthenticated", Answer: googleError(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."),
			WantErr: "HTTP 401 Unauthorized: UNAUTHENTICATED: Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.: the webhook URL's key or token is wrong"},
		{Name: "permission denied", Answer: googleError(403, "PERMISSION_DENIED", "The caller does not have permission"), WantErr: "HTTP 403 Forbidden: PERMISSION_DENIED: The caller does not have permission: the webhook may no longer post"},
		{Name: "not found", Answer: googleError(404, "NOT_FOUND", "Requested entity was not found."), WantErr: "NOT_FOUND: Requested entity was not found.: Google Chat does not know this space"},
		{Name: "too large", Answer: ans{Code: 413, Body: "<!DOCTYPE html><html lang=en><title>Error 413 (Request Entity Too Large)!!1</title>", ContentType: "text/html"}, WantErr: "HTTP 413 Request Entity Too Large"},
		{Name: "quota", Answer: googleError(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."), WantRetry: true, WantErr: "HTTP 429 Too Many Requests: RESOURCE_EXHAUSTED"},
		{Name: "unavailable", Answer: googleError(503, "UNAVAILABLE", "The service is currently unavailable."), WantRetry: true, WantErr: "HTTP 503 Service Unavailable: UNAVAILABLE"},
	})
}

func TestBody(t *testing.T) {
	s := notifiertest.NewServer(t, ok)
	if _, err := notifier(s).Notify(context.Background(), notifiertest.Report()); err != nil {
		t.Fatal(err)
	}
	req := s.Requests()[0]
	if ct := req.Header.Get("Content-Type"); ct != "application/json; charset=UTF-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	var m map[string]string
	if err := json.Unmarshal(req.Body, &m); err != nil || len(m) != 1 {
		t.Fatalf("body %s, want {\"text\": ...}: %v", req.Body, err)
	}
	text := m["text"]
	if !strings.HasPrefix(text, "*erp1: odoo.service failed (oom-kill, signal KILL)*\n") {
		t.Errorf("no bold title:\n%s", text)
	}
	if strings.Contains(text, "<users/all>") || strings.Contains(text, "<!channel>") || !strings.Contains(text, "<\u200busers/all>") {
		t.Errorf("a mention is left in the text:\n%s", text)
	}
	if strings.Count(text, "```") != 2 {
		t.Errorf("the log's fence was kept:\n%s", text)
	}
}

func TestCutAtLimit(t *testing.T) {
	for _, n := range []int{3, 100, 5000} {
		text := Render(notifiertest.LongReport(n))
		if len(text) > MaxText {
			t.Errorf("%d lines: %d bytes, want at most %d", n, len(text), MaxText)
		}
		if !strings.Contains(text, notifiertest.LastLine(n)) || !strings.HasSuffix(text, "\n```") {
			t.Errorf("%d lines: the newest line or the closing fence is missing", n)
		}
		if n > 100 && !strings.Contains(text, "earlier line(s) not shown (cut to fit Google Chat's limit of 32000 bytes)") {
			t.Errorf("%d lines: no note that lines were left out", n)
		}
	}
}

func TestNoSecretLeaks(t *testing.T) {
	notifiertest.NoLeaks(t, "googlechat", func(base string) notifiers.Notifier {
		return New(config.GoogleChat{WebhookURL: hookURL(base)}, notifiertest.Client())
	}, notifiertest.Report(), key, tok, "SECRETxyz_qJ1mJ9VbD7sP0wXkRNvE4tYHn2Lq8fUaZc3=")
}

// TestErrorsAtLimit: the errors the run logged are in the message, the most
// frequent first, cut to whole lines with a note, and the message still
// fits the limit with the newest log line in it.
func TestErrorsAtLimit(t *testing.T) {
	for _, n := range []int{3, 5000} {
		text := Render(notifiertest.ErrorsReport(n))
		if l := len(text); l > MaxText {
			t.Errorf("%d lines: %d bytes, want at most %d", n, l, MaxText)
		}
		notifiertest.CheckErrors(t, n, text)
	}
}
