package slack_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	slackch "github.com/odoo-notify/odoo-notify/notifiers/slack"
	"github.com/odoo-notify/odoo-notify/report"
)

// BenchmarkRender measures building the message for a usual report (50
// lines), a long one (400 lines of 200 characters) and the worst input (a
// 10 MB line of invalid UTF-8).
func BenchmarkRender(b *testing.B) {
	usual, long, huge := crashReport(), crashReport(), crashReport()
	usual.Lines, long.Lines = nil, nil
	for i := range 50 {
		usual.Lines = append(usual.Lines, report.Line{Message: fmt.Sprintf("2026-03-14 09:26:51,112 4242 INFO prod odoo.modules.loading: line %d <&>", i)})
	}
	for i := range 400 {
		long.Lines = append(long.Lines, report.Line{Message: fmt.Sprintf("%s-%03d", strings.Repeat("x", 195), i)})
	}
	huge.Lines = append(huge.Lines, report.Line{Message: string(bytes.Repeat([]byte{0xff, 'a', 0xc3, 0x28, '<', '&'}, 10<<20/6))})
	for _, bc := range []struct {
		name string
		r    *report.Report
	}{{"50-lines", usual}, {"400-lines", long}, {"10MB-line", huge}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				slackch.Render(bc.r)
			}
		})
	}
}

// BenchmarkNotify measures one delivery of a usual report to a local fake
// Slack, rendering and HTTP included.
func BenchmarkNotify(b *testing.B) {
	srv := newFakeSlack(b, ok)
	n := srv.notifier()
	r := crashReport()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.Notify(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}
