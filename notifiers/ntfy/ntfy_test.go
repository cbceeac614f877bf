package ntfy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/notifiers/notifiertest"
)

const (
	token = "tk_SECRETxyzAbcDef0123456789"
	topic = "odoo-alerts-q8c2mxl0"
)

type ans = notifiertest.Answer

// ntfyError is an error body exactly as ntfy's server writes it.
func ntfyError(code int, msg, link string) ans {
	b := fmt.Sprintf(`{"code":%d,"http":%d,"error":%q`, code, code/100, msg)
	if link != "" {
		b += fmt.Sprintf(`,"link":%q`, link)
	}
	return ans{Code: code / 100, Body: b + "}\n"}
}

var ok = ans{Code: 200, Body: `{"id":"sPs71M8A2T","time":1773480413,"expires":1773523613,"event":"message","topic":"` + topic + `","title":"erp1","message":"x","priority":4,"tags":["rotating_light"]}` + "\n"}

func notifier(s *notifiertest.Server) notifiers.Notifier {
	return New(config.Ntfy{URL: s.URL, Topic: topic, Token: token, Priority: "urgent", Tags: []string{"warning", "odoo"}}, s.Client())
}

func TestNotifyAnswers(t *testing.T) {
	notifiertest.Answers(t, ok, "/", notifier, []notifiertest.Case{
		{Name: "ok", Answer: ok},
		{Name: "bad request", Answer: ntfyError(40013, "invalid request: priority invalid", "https://ntfy.sh/docs/publish/#message-priority"),
			WantErr: "ntfy: publish: HTTP 400 Bad Request: invalid request: priority invalid (ntfy error 40013): the server refused the message"},
		{Name: "unauthorized", Answer: ntfyError(40101, "unauthorized", "https://ntfy.sh/docs/publish/#authentication"),
			WantErr: "HTTP 401 Unauthorized: unauthorized (ntfy error 40101): the topic needs an access token"},
		{Name: "forbidden", Answer: ntfyError(40301, "forbidden", "https://ntfy.sh/docs/publish/#authentication"),
			WantErr: "HTTP 403 Forbidden: forbidden (ntfy error 40301): this token or user may not publish to the topic"},
		{Name: "not found", Answer: ntfyError(40401, "page not found", ""), WantErr: "page not found (ntfy error 40401): no ntfy server answers at this url"},
		{Name: "too large", Answer: ntfyError(41303, "JSON body too large", ""), WantErr: "HTTP 413 Request Entity Too Large: JSON body too large (ntfy error 41303)"},
		{Name: "too many requests", Answer: ntfyError(42901, "limit reached: too many requests", "https://ntfy.sh/docs/publish/#limitations"),
			WantRetry: true, WantErr: "HTTP 429 Too Many Requests: limit reached: too many requests (ntfy error 42901)"},
		{Name: "daily quota", Answer: ntfyError(42908, "limit reached: daily message quota reached", "https://ntfy.sh/docs/publish/#limitations"),
			WantRetry: true, WantErr: "daily message quota is used up"},
		{Name: "internal error", Answer: ntfyError(50001, "internal server error", ""), WantRetry: true, WantErr: "HTTP 500 Internal Server Error: internal server error (ntfy error 50001)"},
	})
}

func TestBody(t *testing.T) {
	s := notifiertest.NewServer(t, ok)
	if _, err := notifier(s).Notify(context.Background(), notifiertest.Report()); err != nil {
		t.Fatal(err)
	}
	req := s.Requests()[0]
	if a := req.Header.Get("Authorization"); a != "Bearer "+token {
		t.Errorf("Authorization = %q", a)
	}
	var p struct {
		Topic, Title, Message string
		Priority              int
		Tags                  []string
	}
	if err := json.Unmarshal(req.Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Topic != topic || p.Priority != 5 || strings.Join(p.Tags, ",") != "warning,odoo" {
		t.Errorf("publish = %+v", p)
	}
	if p.Title != "erp1: odoo.service failed (oom-kill, signal KILL)" || strings.Contains(p.Message, p.Title) {
		t.Errorf("title %q, and the message should not repeat it:\n%s", p.Title, p.Message)
	}
	if !strings.Contains(p.Message, "Cause: oom-kill") || !strings.Contains(p.Message, "Out of memory: Killed process 4251") {
		t.Errorf("message:\n%s", p.Message)
	}
}

func TestDefaults(t *testing.T) {
	n := New(config.Ntfy{Topic: topic}, nil)
	if n.url != "https://ntfy.sh" || n.priority != 4 || n.tags[0] != "rotating_light" {
		t.Errorf("defaults: %s priority %d tags %v", n.url, n.priority, n.tags)
	}
}

func TestCutAtLimit(t *testing.T) {
	for _, n := range []int{3, 20, 5000} {
		m := Render(notifiertest.LongReport(n))
		if len(m) > MaxMessage || !utf8.ValidString(m) {
			t.Errorf("%d lines: %d bytes (valid UTF-8: %v), want at most %d", n, len(m), utf8.ValidString(m), MaxMessage)
		}
		if !strings.Contains(m, notifiertest.LastLine(n)) {
			t.Errorf("%d lines: the newest line is missing", n)
		}
		if n > 3 && !strings.Contains(m, "earlier line(s) not shown (cut to fit ntfy's limit of 4096 bytes)") {
			t.Errorf("%d lines: no note that lines were left out:\n%s", n, m)
		}
	}
}

func TestNoSecretLeaks(t *testing.T) {
	notifiertest.NoLeaks(t, "ntfy", func(base string) notifiers.Notifier {
		return New(config.Ntfy{URL: base, Topic: topic, Token: token}, notifiertest.Client())
	}, notifiertest.Report(), token, topic)
}

// TestErrorsAtLimit: the errors the run logged are in the message, the most
// frequent first, cut to whole lines with a note, and the message still
// fits the limit with the newest log line in it.
func TestErrorsAtLimit(t *testing.T) {
	for _, n := range []int{3, 5000} {
		text := Render(notifiertest.ErrorsReport(n))
		if l := len(text); l > MaxMessage {
			t.Errorf("%d lines: %d bytes, want at most %d", n, l, MaxMessage)
		}
		if !strings.Contains(text, "Errors logged during the run:") || !strings.Contains(text, notifiertest.FirstError) {
			t.Errorf("%d lines: the errors are missing:\n%s", n, text)
		}
		if !strings.Contains(text, "more kind(s) of error not shown") {
			t.Errorf("%d lines: no note that errors were left out:\n%s", n, text)
		}
		if !strings.Contains(text, notifiertest.LastLine(n)) {
			t.Errorf("%d lines: the newest line is missing", n)
		}
	}
}
