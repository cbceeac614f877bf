package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/odoo-notify/odoo-notify/notifiers/notifiertest"
	slackch "github.com/odoo-notify/odoo-notify/notifiers/slack"
	"github.com/odoo-notify/odoo-notify/report"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json from the current rendering")

func TestRenderGolden(t *testing.T) {
	exception := crashReport()
	exception.Result, exception.ExitCode, exception.ExitStatus, exception.Cause = "exit-code", "exited", "1", "db-unreachable"
	exception.Summary = "Odoo could not reach its database."
	exception.Exception = &report.Exception{
		Type:    "psycopg2.OperationalError",
		Message: `connection to server at "db" (10.0.0.5), port 5432 failed: Connection refused`,
		Frame:   "/usr/lib/python3/dist-packages/odoo/sql_db.py:638 in borrow",
	}
	exception.Hints = []string{"Check that PostgreSQL runs: systemctl status postgresql", "Check db_host in /etc/odoo/odoo.conf"}
	exception.Held, exception.Crashes = nil, nil

	test := &report.Report{Test: true, Host: "erp1", Unit: "odoo.service", Summary: "odoo-notify can reach this channel.", Created: time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)}

	noLines := crashReport()
	noLines.InvocationID, noLines.Lines = "", nil
	noLines.LinesProblem = "the journal could not be read: permission denied: add odoo-notify to the systemd-journal group"
	noLines.Problems = []string{"D-Bus is not reachable: unit state taken from the journal"}

	tests := []struct {
		name string
		r    *report.Report
	}{
		{"oom-kill", crashReport()},
		{"exception", exception},
		{"test-report", test},
		{"no-lines", noLines},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The golden file is what Slack receives.
			srv := newFakeSlack(t, ok)
			if _, err := srv.notifier().Notify(context.Background(), tt.r); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := json.Indent(&got, srv.requests()[0].body, "", "  "); err != nil {
				t.Fatal(err)
			}
			got.WriteByte('\n')
			path := filepath.Join("testdata", tt.name+".json")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v: run go test ./notifiers/slack -update to write it", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("rendering differs from %s (go test ./notifiers/slack -update rewrites it after a wanted change):\n%s", path, got.String())
			}
			checkLimits(t, slackch.Render(tt.r))
		})
	}
}

func TestRenderTestReport(t *testing.T) {
	m := slackch.Render(&report.Report{Test: true, Host: "erp1", Unit: "odoo.service"})
	all := allText(m)
	if !strings.HasPrefix(m.Text, "[TEST]") || !strings.Contains(all, "*This is a test*") || !strings.Contains(all, "nothing failed") {
		t.Errorf("a test report is not marked as a test:\n%s", all)
	}
}

// TestEscaping: text from the failed unit cannot ping anyone, link anything
// or format the message, wherever it appears.
func TestEscaping(t *testing.T) {
	const evil = "<!channel> & <@U123>"
	const escaped = "&lt;!channel&gt; &amp; &lt;@U123&gt;"
	r := crashReport()
	r.Lines = append(r.Lines, report.Line{Message: evil})
	r.Summary = "summary " + evil
	r.Exception = &report.Exception{Type: "ValueError", Message: evil, Frame: evil}
	r.Hints = []string{evil}
	r.Unit = "odoo<!here>.service"
	r.Problems = []string{evil}
	r.Crashes[0].Result = evil

	srv := newFakeSlack(t, ok)
	if _, err := srv.notifier().Notify(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	m := decode(t, srv.requests()[0].body)
	var code string
	for _, tx := range texts(m) {
		for _, mention := range []string{"<!channel>", "<@U123>", "<!here>"} {
			if tx.Type == slack.MarkdownType && strings.Contains(tx.Text, mention) {
				t.Errorf("%s reaches Slack unescaped in:\n%s", mention, tx.Text)
			}
		}
		if tx.Type == slack.MarkdownType && !tx.Verbatim {
			t.Errorf("mrkdwn text is not verbatim, Slack would link names in it:\n%s", tx.Text)
		}
		if strings.HasPrefix(tx.Text, "```") {
			code += tx.Text
		}
	}
	if !strings.Contains(code, escaped) {
		t.Errorf("log line reaches Slack as\n%s\nwant it to hold %q", code, escaped)
	}
	if strings.Contains(m.Text, "<!here>") {
		t.Errorf("fallback text %q pings the channel", m.Text)
	}
	for _, part := range []string{"summary " + escaped, "*ValueError*: " + escaped, "*Hint:* " + escaped, "*Note:* " + escaped, "odoo&lt;!here&gt;.service"} {
		if !strings.Contains(allText(m), part) {
			t.Errorf("message lacks %q", part)
		}
	}
}

// TestBackticks: triple backticks in a log line do not close the code block.
func TestBackticks(t *testing.T) {
	r := crashReport()
	r.Lines = []report.Line{
		{Message: "before ``` inside"},
		{Message: "``````"},
		{Message: "`"},
		{Message: "ends with ``"},
	}
	for _, tx := range texts(slackch.Render(r)) {
		if !strings.HasPrefix(tx.Text, "```") {
			continue
		}
		inner := strings.TrimSuffix(strings.TrimPrefix(tx.Text, "```\n"), "```")
		if strings.Contains(inner, "``") {
			t.Errorf("log text holds backticks that could end its code block:\n%q", tx.Text)
		}
		if got := strings.ReplaceAll(inner, "\u200b", ""); got != "before ``` inside\n``````\n`\nends with ``\n" {
			t.Errorf("log text changed visibly: %q", got)
		}
	}
}

// TestLimits: whatever the report holds, the message is one Slack accepts,
// keeps the newest lines and says what it cut.
func TestLimits(t *testing.T) {
	long := make([]report.Line, 400)
	for i := range long {
		long[i] = report.Line{Message: fmt.Sprintf("%s-%03d", strings.Repeat("x", 195), i)}
	}
	junk := bytes.Repeat([]byte{0xff, 'a', 0xc3, 0x28, '<', '&'}, 10<<20/6)
	huge := crashReport()
	huge.Lines = append(huge.Lines, report.Line{Message: string(junk)})
	many := crashReport()
	for i := range 2000 {
		many.Crashes = append(many.Crashes, report.Crash{Time: time.Unix(int64(i), 0), Result: "signal", InvocationID: strings.Repeat("f", 32)})
		many.Hints = append(many.Hints, "hint <&>")
	}
	many.Summary = strings.Repeat("é<", 5000)
	many.Unit = strings.Repeat("ü", 300) + ".service"
	wide := crashReport()
	wide.Lines = nil
	for range 300 {
		wide.Lines = append(wide.Lines, report.Line{Message: strings.Repeat("<>&`", 2000)})
	}

	tests := []struct {
		name     string
		r        *report.Report
		wantLast string // the newest line, which must be shown
		wantCut  string
	}{
		{"400 lines of 200 chars", withLines(long), "x-399", "earlier lines not shown"},
		{"one 10 MB line of invalid UTF-8", huge, "\ufffda\ufffd(&lt;&amp;", report.CutMark},
		{"2000 crashes and hints, long subject", many, "Out of memory", report.CutMark},
		{"300 lines of markup", wide, "&lt;&gt;&amp;`", "earlier lines not shown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeSlack(t, ok)
			if _, err := srv.notifier().Notify(context.Background(), tt.r); err != nil {
				t.Fatal(err)
			}
			body := srv.requests()[0].body
			if !utf8.Valid(body) {
				t.Error("payload is not valid UTF-8")
			}
			m := decode(t, body)
			checkLimits(t, m)
			all := allText(m)
			if !strings.Contains(all, tt.wantCut) {
				t.Errorf("message does not say it was cut (%q)", tt.wantCut)
			}
			last := texts(m)[len(texts(m))-1].Text
			if !strings.Contains(last, tt.wantLast) {
				t.Errorf("last block does not show the newest line %q:\n%.300s", tt.wantLast, last)
			}
			if len(body) > 200<<10 {
				t.Errorf("payload is %d bytes: a report must stay readable", len(body))
			}
		})
	}
}

func withLines(l []report.Line) *report.Report {
	r := crashReport()
	r.Lines = l
	return r
}

// checkLimits asserts Slack's documented limits, with slack-go's own
// validation of every text object.
func checkLimits(t *testing.T, m slack.WebhookMessage) {
	t.Helper()
	if n := len(m.Blocks.BlockSet); n > slackch.MaxBlocks {
		t.Errorf("%d blocks, Slack takes at most %d", n, slackch.MaxBlocks)
	}
	for i, b := range m.Blocks.BlockSet {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			if n := utf8.RuneCountInString(b.Text.Text); n > slackch.MaxHeader || b.Text.Type != slack.PlainTextType {
				t.Errorf("header is %d characters of %s, Slack takes %d of plain_text", n, b.Text.Type, slackch.MaxHeader)
			}
		case *slack.SectionBlock:
			if n := utf8.RuneCountInString(b.Text.Text); n > slackch.MaxSectionText {
				t.Errorf("block %d: section text is %d characters, Slack takes %d", i, n, slackch.MaxSectionText)
			}
			if err := b.Text.Validate(); err != nil {
				t.Errorf("block %d: %v", i, err)
			}
			if strings.HasPrefix(b.Text.Text, "```") && (!strings.HasSuffix(b.Text.Text, "```") || strings.Count(b.Text.Text, "```") != 2) {
				t.Errorf("block %d: code block is not closed exactly once:\n%.200s", i, b.Text.Text)
			}
		default:
			t.Errorf("block %d is a %T, want header or section", i, b)
		}
	}
	if m.Text == "" {
		t.Error("no fallback text: notifications would be empty")
	}
}

func allText(m slack.WebhookMessage) string {
	var b strings.Builder
	for _, tx := range texts(m) {
		b.WriteString(tx.Text + "\n")
	}
	return b.String()
}

func TestRenderErrors(t *testing.T) {
	r := crashReport()
	for i := range report.MaxErrors {
		r.Errors = append(r.Errors, report.LoggedError{Type: "KeyError", Message: fmt.Sprintf("<!channel> %d %s", i, strings.Repeat("é", 400)), Context: "request handling", Count: 14 - i})
	}
	m := slackch.Render(r)
	checkLimits(t, m)
	all := allText(m)
	if !strings.Contains(all, "*Errors logged during the run:*") || !strings.Contains(all, "14 x KeyError: &lt;!channel&gt; 0") {
		t.Errorf("the errors are missing or not escaped:\n%.2000s", all)
	}
	if strings.Contains(all, "<!channel>") {
		t.Error("an error's text pings the channel")
	}

	// Messages that escaping makes five times longer: the errors' section
	// is cut at Slack's limit, saying so, with no half entity left.
	r.Errors = nil
	for i := range report.MaxErrors {
		r.Errors = append(r.Errors, report.LoggedError{Type: "ValueError", Message: fmt.Sprintf("%d %s", i, strings.Repeat("&", 230)), Count: 10 - i})
	}
	m = slackch.Render(r)
	checkLimits(t, m)
	var errs string
	for _, tx := range texts(m) {
		if strings.HasPrefix(tx.Text, "*Errors logged during the run:*") {
			errs = tx.Text
		}
	}
	if !strings.HasPrefix(errs, "*Errors logged during the run:*\n• 10 x ValueError: 0 &amp;") || !strings.HasSuffix(errs, "&amp;"+report.CutMark) {
		t.Errorf("the errors' section is not cut at the limit with a mark:\n%.200s\n...\n%s", errs, errs[max(len(errs)-100, 0):])
	}
}

// TestWatcherHeading: Slack names a hang's or a degraded spell's lines
// for what they are, not "the failed run".
func TestWatcherHeading(t *testing.T) {
	for name, r := range notifiertest.WatchReports() {
		t.Run(name, func(t *testing.T) {
			var all []string
			for _, tx := range texts(slackch.Render(r)) {
				all = append(all, tx.Text)
			}
			got := strings.Join(all, "\n")
			if strings.Contains(got, "failed run") {
				t.Errorf("a report of the watcher speaks of a failed run:\n%s", got)
			}
			if h := r.WatcherHeading(); h == "" || !strings.Contains(got, "*"+h+"*") {
				t.Errorf("lacks the heading %q:\n%s", h, got)
			}
		})
	}
}
