package slack_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"

	slackch "github.com/odoo-notify/odoo-notify/notifiers/slack"
	"github.com/odoo-notify/odoo-notify/report"
)

// FuzzRender: whatever text the failed unit wrote, the message is valid
// JSON within Slack's limits, holds no markup of its own (no <...> that
// could ping or link), and no log text closes its code block early.
func FuzzRender(f *testing.F) {
	for _, s := range []string{"<!channel> & <@U123>", "```", "a``\n``b", "\xff\xfe\xc3(", "&amp;<>", "é", "line1\r\nline2\n"} {
		f.Add(s, s, 3)
	}
	f.Fuzz(func(t *testing.T, msg, other string, n int) {
		r := crashReport()
		// Repeated rather than long inputs reach Slack's limits and keep
		// the fuzzer fast.
		long := strings.Repeat(other, 1+(n&0xffff)%1000)
		r.Summary, r.Unit, r.Hints = long, other, []string{long}
		r.Exception = &report.Exception{Type: other, Message: msg, Frame: long}
		for range n & 63 {
			r.Lines = append(r.Lines, report.Line{Message: msg})
		}
		m := slackch.Render(r)
		b, err := json.Marshal(m)
		if err != nil || !utf8.Valid(b) {
			t.Fatalf("payload is not valid UTF-8 JSON: %v", err)
		}
		checkLimits(t, m)
		for _, tx := range texts(m) {
			if tx.Type != slack.MarkdownType {
				continue
			}
			if strings.ContainsAny(tx.Text, "<>") {
				t.Errorf("mrkdwn holds raw < or >: %q", tx.Text)
			}
			if inner, ok := strings.CutPrefix(tx.Text, "```\n"); ok && strings.Contains(strings.TrimSuffix(inner, "```"), "``") {
				t.Errorf("log text can close its code block: %q", tx.Text)
			}
		}
	})
}
