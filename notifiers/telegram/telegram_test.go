package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/notifiers/notifiertest"
)

const token = "123456789:AAFakeTokenSECRETxyz0123456789abcdefg"

type ans = notifiertest.Answer

// Answers exactly as the Bot API gives them.
var (
	ok          = ans{Code: 200, Body: `{"ok":true,"result":{"message_id":42,"from":{"id":123456789,"is_bot":true,"first_name":"odoo-notify"},"chat":{"id":-1001234567890,"title":"ops","type":"supergroup"},"date":1773480413,"text":"erp1"}}`}
	chatMissing = ans{Code: 400, Body: `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`}
	migrated    = ans{Code: 400, Body: `{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1009876543210}}`}
	badToken    = ans{Code: 401, Body: `{"ok":false,"error_code":401,"description":"Unauthorized"}`}
	blocked     = ans{Code: 403, Body: `{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`}
	kicked      = ans{Code: 403, Body: `{"ok":false,"error_code":403,"description":"Forbidden: bot was kicked from the supergroup chat"}`}
	notFound    = ans{Code: 404, Body: `{"ok":false,"error_code":404,"description":"Not Found"}`}
	tooLarge    = ans{Code: 413, Body: `{"ok":false,"error_code":413,"description":"Request Entity Too Large"}`}
	slowDown    = ans{Code: 429, Body: `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}`}
	badGateway  = ans{Code: 502, Body: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n", ContentType: "text/html"}
)

func notifier(s *notifiertest.Server) *Notifier {
	return New(config.Telegram{Name: "ops", BotToken: token, ChatID: "-1001234567890", MessageThreadID: 7, APIURL: s.URL}, s.Client())
}

func TestNotifyAnswers(t *testing.T) {
	tests := []struct {
		name      string
		answer    ans
		wantRetry bool
		wantErr   string // "" means delivered
		wantAfter time.Duration
	}{
		{"ok", ok, false, "", 0},
		{"chat not found", chatMissing, false, "telegram: send message: HTTP 400 Bad Request: Bad Request: chat not found: check chat_id, and that the bot is in the chat", 0},
		{"group upgraded", migrated, false, `the group became a supergroup: set chat_id = "-1009876543210"`, 0},
		{"unauthorized", badToken, false, "HTTP 401 Unauthorized: Unauthorized: the bot token is wrong or was revoked", 0},
		{"blocked", blocked, false, "HTTP 403 Forbidden: Forbidden: bot was blocked by the user: the user blocked the bot", 0},
		{"kicked", kicked, false, "the bot is no longer in the chat", 0},
		{"not found", notFound, false, "HTTP 404 Not Found: Not Found: the Bot API does not know this bot: check bot_token", 0},
		{"too large", tooLarge, false, "HTTP 413 Request Entity Too Large: Request Entity Too Large", 0},
		{"rate limited", slowDown, true, "HTTP 429 Too Many Requests: Too Many Requests: retry after 7", 7 * time.Second},
		{"bad gateway", badGateway, true, "HTTP 502 Bad Gateway", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := notifiertest.NewServer(t, ok, tt.answer)
			retry, err := notifier(s).Notify(context.Background(), notifiertest.Report())
			if retry != tt.wantRetry {
				t.Errorf("retry = %v, want %v (err: %v)", retry, tt.wantRetry, err)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Notify() = %v, want delivered", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Notify() = %v, want an error containing %q", err, tt.wantErr)
			}
			var ra *notifiers.RetryAfterError
			if tt.wantAfter > 0 && (!errors.As(err, &ra) || ra.After != tt.wantAfter) {
				t.Errorf("retry after: got %v, want %v", ra, tt.wantAfter)
			}
			got := s.Requests()
			if len(got) != 1 || got[0].Method != "POST" || got[0].Path != "/bot"+token+"/sendMessage" {
				t.Fatalf("the Bot API got %+v, want one POST /bot<token>/sendMessage", got)
			}
		})
	}
}

func TestBody(t *testing.T) {
	s := notifiertest.NewServer(t, ok)
	if _, err := notifier(s).Notify(context.Background(), notifiertest.Report()); err != nil {
		t.Fatal(err)
	}
	req := s.Requests()[0]
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var m struct {
		ChatID          string `json:"chat_id"`
		MessageThreadID int    `json:"message_thread_id"`
		Text            string `json:"text"`
		ParseMode       string `json:"parse_mode"`
		LinkPreview     struct {
			IsDisabled bool `json:"is_disabled"`
		} `json:"link_preview_options"`
	}
	if err := json.Unmarshal(req.Body, &m); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, req.Body)
	}
	if m.ChatID != "-1001234567890" || m.MessageThreadID != 7 || m.ParseMode != "HTML" || !m.LinkPreview.IsDisabled {
		t.Errorf("sendMessage = %+v", m)
	}
	for _, want := range []string{
		"<b>erp1: odoo.service failed (oom-kill, signal KILL)</b>",
		"<b>Cause:</b> oom-kill",
		"<pre>",
		// In prose, mentions are broken and tags are text.
		"@\u200bchannel @\u200ball @\u200bhere @\u200beveryone &lt;!channel&gt;",
		"&lt;/pre&gt;&lt;b&gt;x&lt;/b&gt;",
		"&amp;amp;",
	} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	if strings.Count(m.Text, "<pre>") != 1 || strings.Count(m.Text, "</pre>") != 1 || strings.Count(m.Text, "<b>") != strings.Count(m.Text, "</b>") {
		t.Errorf("the log text opened or closed a tag:\n%s", m.Text)
	}
}

func TestCutAtLimit(t *testing.T) {
	for _, n := range []int{10, 200, 2000} {
		text := Render(notifiertest.LongReport(n))
		if l := textLen(text); l > MaxText {
			t.Errorf("%d lines: %d characters after entities, want at most %d", n, l, MaxText)
		}
		if !strings.Contains(text, notifiertest.LastLine(n)) {
			t.Errorf("%d lines: the newest line is missing", n)
		}
		if n > 10 && !strings.Contains(text, "earlier line(s) not shown (cut to fit Telegram's limit of 4096 characters)") {
			t.Errorf("%d lines: no note that lines were left out:\n%s", n, text)
		}
		if !strings.HasSuffix(text, "</pre>") {
			t.Errorf("%d lines: the code block is not closed", n)
		}
	}
	// One line far over the limit is cut, and the message still fits.
	r := notifiertest.Report()
	r.Lines[2].Message = strings.Repeat("<&>", 5000)
	text := Render(r)
	if l := textLen(text); l > MaxText || !strings.Contains(text, "… [cut]") {
		t.Errorf("a 15000-character line gives %d characters, cut mark %v", l, strings.Contains(text, "… [cut]"))
	}
}

func TestTextLen(t *testing.T) {
	for in, want := range map[string]int{
		"<b>ab</b>":       2,
		"a &lt; b":        5,
		"😀":               2,
		"<pre>x\ny</pre>": 3,
		"& alone":         7,
	} {
		if got := textLen(in); got != want {
			t.Errorf("textLen(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestNoSecretLeaks(t *testing.T) {
	notifiertest.NoLeaks(t, "telegram", func(base string) notifiers.Notifier {
		return New(config.Telegram{BotToken: token, ChatID: "-100123", APIURL: base}, notifiertest.Client())
	}, notifiertest.Report(), token, "SECRETxyz0123456789abcdefg")
}

// TestErrorsAtLimit: the errors the run logged are in the message, the most
// frequent first, cut to whole lines with a note, and the message still
// fits the limit with the newest log line in it.
func TestErrorsAtLimit(t *testing.T) {
	for _, n := range []int{3, 5000} {
		text := Render(notifiertest.ErrorsReport(n))
		if l := textLen(text); l > MaxText {
			t.Errorf("%d lines: %d characters after entities, want at most %d", n, l, MaxText)
		}
		notifiertest.CheckErrors(t, n, text)
	}
}
