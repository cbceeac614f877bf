package discord

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

const hookPath = "/api/webhooks/1234567890123456789/SECRETxyz-webhook-token_0123456789abcdef"

type ans = notifiertest.Answer

// Answers exactly as Discord gives them.
var (
	ok         = ans{Code: 204}
	badBody    = ans{Code: 400, Body: `{"message": "Invalid Form Body", "code": 50035, "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}}`}
	badToken   = ans{Code: 401, Body: `{"message": "Invalid Webhook Token", "code": 50027}`}
	noPerm     = ans{Code: 403, Body: `{"message": "Missing Permissions", "code": 50013}`}
	unknown    = ans{Code: 404, Body: `{"message": "Unknown Webhook", "code": 10015}`}
	tooLarge   = ans{Code: 413, Body: `{"message": "Request entity too large", "code": 40005}`}
	limited    = ans{Code: 429, Body: `{"message": "You are being rate limited.", "retry_after": 2.5, "global": false}`, RetryAfter: "3"}
	limitedRaw = ans{Code: 429, Body: `{"message": "You are being rate limited.", "retry_after": 0.529, "global": false}`}
	unavail    = ans{Code: 503, Body: "upstream connect error or disconnect/reset before headers. reset reason: overflow", ContentType: "text/plain"}
)

func notifier(s *notifiertest.Server) *Notifier {
	return New(config.Discord{Name: "ops", WebhookURL: config.Secret(s.URL + hookPath), Username: "odoo-notify"}, s.Client())
}

func TestNotifyAnswers(t *testing.T) {
	tests := []struct {
		name      string
		answer    ans
		wantRetry bool
		wantErr   string
		wantAfter time.Duration
	}{
		{"ok", ok, false, "", 0},
		{"invalid form body", badBody, false, "discord: execute webhook: HTTP 400 Bad Request: Invalid Form Body (code 50035): Discord could not read the message: report this as a bug", 0},
		{"invalid token", badToken, false, "HTTP 401 Unauthorized: Invalid Webhook Token (code 50027): the webhook URL's token is wrong", 0},
		{"missing permissions", noPerm, false, "HTTP 403 Forbidden: Missing Permissions (code 50013): the webhook may not post in its channel", 0},
		{"unknown webhook", unknown, false, "HTTP 404 Not Found: Unknown Webhook (code 10015): Discord does not know this webhook", 0},
		{"too large", tooLarge, false, "HTTP 413 Request Entity Too Large: Request entity too large (code 40005)", 0},
		{"rate limited", limited, true, "HTTP 429 Too Many Requests: You are being rate limited.", 3 * time.Second},
		{"rate limited, retry_after only", limitedRaw, true, "HTTP 429", 529 * time.Millisecond},
		{"unavailable", unavail, true, "HTTP 503 Service Unavailable: upstream connect error", 0},
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
			if got := s.Requests(); len(got) != 1 || got[0].Method != "POST" || got[0].Path != hookPath {
				t.Fatalf("Discord got %+v, want one POST to the webhook", got)
			}
		})
	}
}

func TestBody(t *testing.T) {
	s := notifiertest.NewServer(t, ok)
	if _, err := notifier(s).Notify(context.Background(), notifiertest.Report()); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(s.Requests()[0].Body, &m); err != nil {
		t.Fatal(err)
	}
	am, _ := json.Marshal(m["allowed_mentions"])
	if string(am) != `{"parse":[]}` {
		t.Errorf("allowed_mentions = %s, want {\"parse\":[]}", am)
	}
	if m["username"] != "odoo-notify" {
		t.Errorf("username = %v", m["username"])
	}
	content, _ := m["content"].(string)
	for _, want := range []string{
		"**erp1: odoo.service failed (oom-kill, signal KILL)**",
		`\*bold\* \[link\](http://x.example)`,
		"```\n",
	} {
		if !strings.Contains(content, want) {
			t.Errorf("content lacks %q:\n%s", want, content)
		}
	}
	// The log's ``` cannot close the code block: one fence opens it, one
	// closes it.
	if n := strings.Count(content, "```"); n != 2 {
		t.Errorf("content has %d fences, want 2:\n%s", n, content)
	}
}

func TestCutAtLimit(t *testing.T) {
	for _, n := range []int{3, 50, 2000} {
		c := Render(notifiertest.LongReport(n))
		if l := len([]rune(c)); l > MaxContent {
			t.Errorf("%d lines: %d characters, want at most %d", n, l, MaxContent)
		}
		if !strings.Contains(c, notifiertest.LastLine(n)) || !strings.HasSuffix(c, "\n```") {
			t.Errorf("%d lines: the newest line or the closing fence is missing:\n%s", n, c)
		}
		if n > 3 && !strings.Contains(c, "earlier line(s) not shown (cut to fit Discord's limit of 2000 characters)") {
			t.Errorf("%d lines: no note that lines were left out:\n%s", n, c)
		}
	}
}

func TestNoSecretLeaks(t *testing.T) {
	notifiertest.NoLeaks(t, "discord", func(base string) notifiers.Notifier {
		return New(config.Discord{WebhookURL: config.Secret(base + hookPath)}, notifiertest.Client())
	}, notifiertest.Report(), "SECRETxyz-webhook-token_0123456789abcdef")
}

// TestErrorsAtLimit: the errors the run logged are in the message, the most
// frequent first, cut to whole lines with a note, and the message still
// fits the limit with the newest log line in it.
func TestErrorsAtLimit(t *testing.T) {
	for _, n := range []int{3, 5000} {
		text := Render(notifiertest.ErrorsReport(n))
		if l := len([]rune(text)); l > MaxContent {
			t.Errorf("%d lines: %d characters, want at most %d", n, l, MaxContent)
		}
		notifiertest.CheckErrors(t, n, text)
	}
}
