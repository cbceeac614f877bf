package notifiertest

import (
	"fmt"
	"strings"
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
