package teams

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
	flowPath = "/workflows/4f1d2c3b5a6978e0a1b2c3d4e5f60718/triggers/manual/paths/invoke"
	sig      = "SECRETxyzQ1w2E3r4T5y6U7i8O9p0AsDfGhJkL"
)

type ans = notifiertest.Answer

func flowError(status int, code, msg string) ans {
	return ans{Code: status, Body: fmt.Sprintf(`{"error":{"code":%q,"message":%q}}`, code, msg)}
}

var ok = ans{Code: 202}

func hookURL(base string) config.Secret {
	return config.Secret(base + flowPath + "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + sig)
}

func notifier(s *notifiertest.Server) notifiers.Notifier {
	return New(config.Teams{WebhookURL: hookURL(s.URL)}, s.Client())
}

func TestNotifyAnswers(t *testing.T) {
	notifiertest.Answers(t, ok, flowPath, notifier, []notifiertest.Case{
		{Name: "accepted", Answer: ok},
		{Name: "bad content", Answer: flowError(400, "InvalidRequestContent", "The input body for trigger 'manual' of type 'Request' must be of type JSON, but was of type 'application/octet-stream'."),
			WantErr: "teams: post workflow: HTTP 400 Bad Request: InvalidRequestContent: The input body for trigger 'manual'"},
		{Name: "no signature", Answer: flowError(401, "DirectApiAuthorizationRequired", "The request must be authenticated only by Shared Access scheme."),
			WantErr: "HTTP 401 Unauthorized: DirectApiAuthorizationRequired: The request must be authenticated only by Shared Access scheme.: the URL lacks its signature"},
		{Name: "bad signature", Answer: flowError(401, "DirectApiInvalidAuthorizationSignature", "The provided authentication token is not valid."), WantErr: "the URL's signature is wrong"},
		{Name: "oauth only", Answer: flowError(403, "MisMatchingOAuthClaims", "One or more claims either missing or does not match with the open authentication access control policy."), WantErr: "HTTP 403 Forbidden: MisMatchingOAuthClaims"},
		{Name: "deleted", Answer: flowError(404, "WorkflowNotFound", "The workflow '4f1d2c3b5a6978e0a1b2c3d4e5f60718' could not be found in the resource group."), WantErr: "HTTP 404 Not Found: WorkflowNotFound: The workflow"},
		{Name: "turned off", Answer: flowError(409, "WorkflowTriggerIsNotEnabled", "Could not find a enabled trigger in workflow."), WantErr: "the workflow is turned off"},
		{Name: "too large", Answer: flowError(413, "RequestEntityTooLarge", "The request content length exceeds the limit."), WantErr: "HTTP 413 Request Entity Too Large: RequestEntityTooLarge"},
		{Name: "throttled", Answer: ans{Code: 429, Body: `{"error":{"code":"WorkflowRequestsThrottled","message":"Number of workflow requests exceeded the limit."}}`, RetryAfter: "5"},
			WantRetry: true, WantErr: "HTTP 429 Too Many Requests: WorkflowRequestsThrottled", WantAfter: 5e9},
		{Name: "gateway", Answer: flowError(502, "BadGateway", "The remote server returned an error."), WantRetry: true, WantErr: "HTTP 502"},
	})
}

func TestBody(t *testing.T) {
	s := notifiertest.NewServer(t, ok)
	if _, err := notifier(s).Notify(context.Background(), notifiertest.Report()); err != nil {
		t.Fatal(err)
	}
	var m struct {
		Type        string
		Attachments []struct {
			ContentType string
			ContentURL  any
			Content     struct {
				Type, Version string
				Body          []map[string]any
			}
		}
	}
	if err := json.Unmarshal(s.Requests()[0].Body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Type != "message" || len(m.Attachments) != 1 || m.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("message = %+v", m)
	}
	c := m.Attachments[0].Content
	if c.Type != "AdaptiveCard" || c.Version != "1.4" || len(c.Body) < 5 {
		t.Fatalf("card = %+v", c)
	}
	if c.Body[0]["text"] != "erp1: odoo.service failed (oom-kill, signal KILL)" || c.Body[0]["weight"] != "Bolder" {
		t.Errorf("title block = %v", c.Body[0])
	}
	raw := string(s.Requests()[0].Body)
	if strings.Contains(raw, "msteams\":{\"entities") || strings.Contains(raw, "](http") {
		t.Errorf("the card holds a mention entity or a live link:\n%s", raw)
	}
	last := c.Body[len(c.Body)-1]
	if last["fontType"] != "Monospace" || !strings.HasPrefix(last["text"].(string), "2026-03-14 09:26:53 Out of memory") {
		t.Errorf("last block = %v, want the newest log line in monospace", last)
	}
	var facts bool
	for _, b := range c.Body {
		facts = facts || b["type"] == "FactSet"
	}
	if !facts {
		t.Error("no FactSet")
	}
}

func TestCutAtLimit(t *testing.T) {
	for _, n := range []int{3, 80, 5000} {
		b, err := Render(notifiertest.LongReport(n))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > MaxBody || !json.Valid(b) {
			t.Errorf("%d lines: %d bytes (valid %v), want at most %d", n, len(b), json.Valid(b), MaxBody)
		}
		s := string(b)
		if !strings.Contains(s, notifiertest.LastLine(n)) {
			t.Errorf("%d lines: the newest line is missing", n)
		}
		if n > 80 && !strings.Contains(s, "earlier line(s) not shown (cut to fit Teams' limit of about 28 KB)") {
			t.Errorf("%d lines: no note that lines were left out", n)
		}
	}
}

func TestNoSecretLeaks(t *testing.T) {
	notifiertest.NoLeaks(t, "teams", func(base string) notifiers.Notifier {
		return New(config.Teams{WebhookURL: hookURL(base)}, notifiertest.Client())
	}, notifiertest.Report(), sig)
}

// TestErrorsAtLimit: the errors the run logged are on the card, the most
// frequent first, cut to whole lines with a note, and the card still fits
// with the newest log line on it.
func TestErrorsAtLimit(t *testing.T) {
	for _, n := range []int{3, 5000} {
		b, err := Render(notifiertest.ErrorsReport(n))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > MaxBody || !json.Valid(b) {
			t.Errorf("%d lines: %d bytes (valid %v), want at most %d", n, len(b), json.Valid(b), MaxBody)
		}
		var card struct {
			Attachments []struct {
				Content struct {
					Body []map[string]any `json:"body"`
				} `json:"content"`
			} `json:"attachments"`
		}
		if err := json.Unmarshal(b, &card); err != nil || len(card.Attachments) != 1 {
			t.Fatalf("%d lines: %v", n, err)
		}
		var errs string
		for _, block := range card.Attachments[0].Content.Body {
			if s, _ := block["text"].(string); strings.HasPrefix(s, "Errors logged during the run:") {
				errs = s
			}
		}
		if !strings.Contains(errs, notifiertest.FirstError) || !strings.Contains(errs, "more kind(s) of error not shown") {
			t.Errorf("%d lines: no errors block with the most frequent error and a note: %q", n, errs)
		}
		if !strings.Contains(string(b), notifiertest.LastLine(n)) {
			t.Errorf("%d lines: the newest line is missing", n)
		}
	}
}
