package notifiertest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/report"
)

// Hostile is log text that tries every chat's way to mention everyone,
// format the message or break out of a code block.
const Hostile = "@channel @all @here @everyone <!channel> <users/all> <at>all</at> </pre><b>x</b> ``` *bold* [link](http://x.example) &amp;"

// Report is an Odoo worker killed by the kernel's OOM killer, as the report
// package builds it, whose log holds Hostile text.
func Report() *report.Report {
	t0 := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	return &report.Report{
		ID:           "6f1c0d2a9b7e4c3d8e5f6a7b8c9d0e1f-chat-ops",
		Host:         "erp1",
		Unit:         "odoo.service",
		InvocationID: "6f1c0d2a9b7e4c3d8e5f6a7b8c9d0e1f",
		Result:       "oom-kill",
		ExitCode:     "killed",
		ExitStatus:   "KILL",
		NRestarts:    2,
		StartedAt:    t0.Add(-time.Hour),
		ExitedAt:     t0,
		Summary:      "The kernel killed Odoo for using too much memory. " + Hostile,
		Cause:        "oom-kill",
		Hints:        []string{"Lower workers or raise limit_memory_hard in odoo.conf."},
		Lines: []report.Line{
			{Time: t0.Add(-2 * time.Second), Priority: 6, Message: "2026-03-14 09:26:51,112 4242 INFO prod werkzeug: 10.0.0.7 - - \"POST /web/dataset/call_kw HTTP/1.1\" 200 -"},
			{Time: t0.Add(-time.Second), Priority: 4, Message: "2026-03-14 09:26:52,001 4242 WARNING prod odoo.service.server: " + Hostile},
			{Time: t0, Priority: 3, Message: "Out of memory: Killed process 4251 (python3)"},
		},
		LogSource: "journal",
		Created:   t0.Add(time.Second),
	}
}

// LongReport is Report with n log lines of about 100 characters each, some
// of them wide (two-byte, four-byte and emoji characters), numbered from 1
// so that a test can tell which were kept.
func LongReport(n int) *report.Report {
	r := Report()
	r.Lines = nil
	t0 := r.ExitedAt.Add(-time.Hour)
	for i := 1; i <= n; i++ {
		r.Lines = append(r.Lines, report.Line{
			Time:     t0.Add(time.Duration(i) * time.Millisecond),
			Priority: 6,
			Message:  fmt.Sprintf("line %05d ", i) + strings.Repeat("é€😀x", 20) + " @all",
		})
	}
	return r
}

// LastLine is the message of LongReport's line i, as its prefix.
func LastLine(i int) string { return fmt.Sprintf("line %05d ", i) }

// FirstError is how a chat shows ErrorsReport's most frequent error.
const FirstError = "14 x KeyError: 'ir.http' (request handling), first 10:02:11, last 10:31:02"

// ErrorsReport is LongReport(n) whose run also logged ten kinds of error
// that did not stop it, the later ones long and holding Hostile text: more
// than a chat message has room for.
func ErrorsReport(n int) *report.Report {
	r := LongReport(n)
	day := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	r.Errors = []report.LoggedError{{Type: "KeyError", Message: "'ir.http'", Context: "request handling", Count: 14,
		First: day.Add(10*time.Hour + 2*time.Minute + 11*time.Second), Last: day.Add(10*time.Hour + 31*time.Minute + 2*time.Second)}}
	for i := 1; i < 10; i++ {
		r.Errors = append(r.Errors, report.LoggedError{Type: "odoo.exceptions.ValidationError", Context: "cron job", Count: 10 - i,
			Message: fmt.Sprintf("error %d: ", i) + Hostile + " " + strings.Repeat("é€😀x", 40), Last: day.Add(11 * time.Hour)})
	}
	return r
}

// CheckErrors checks what a person must find in a chat message rendered
// from ErrorsReport(n): the errors the run logged, the most frequent first,
// the note that some were left out, the newest log line, and no error text
// unescaped. Each channel checks its own size limit.
func CheckErrors(t testing.TB, n int, text string) {
	t.Helper()
	if !strings.Contains(text, "Errors logged during the run:") || !strings.Contains(text, FirstError) {
		t.Errorf("%d lines: the errors are missing:\n%s", n, text)
	}
	if !strings.Contains(text, "more kind(s) of error not shown") {
		t.Errorf("%d lines: no note that errors were left out:\n%s", n, text)
	}
	if !strings.Contains(text, LastLine(n)) {
		t.Errorf("%d lines: the newest line is missing", n)
	}
	if strings.Contains(text, Hostile) {
		t.Errorf("%d lines: an error's text reaches the message unescaped", n)
	}
}
