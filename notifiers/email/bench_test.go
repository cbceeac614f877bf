package email

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/internal/testenv"
	"github.com/odoo-notify/odoo-notify/report"
)

// BenchmarkNotify measures one delivery to a real mailpit on loopback, from
// dial to QUIT: what a crash costs on the email channel.
func BenchmarkNotify(b *testing.B) {
	srv := newTLSServer(b)
	tests := []struct {
		name     string
		flags    []string
		security string
	}{
		{name: "none", security: "none"},
		{name: "starttls+login", flags: srv.flags("--smtp-require-starttls"), security: "starttls"},
		{name: "tls+login", flags: srv.flags("--smtp-require-tls"), security: "tls"},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			mp := testenv.StartMailpit(b, tt.flags...)
			c := channelConfig(mp.Port, tt.security)
			if tt.security != "none" {
				c.CAFile, c.Username, c.Password = srv.cert.CA, user, password
			}
			n := newNotifier(b, c)
			r := sampleReport()
			b.ResetTimer()
			for b.Loop() {
				if _, err := n.Notify(context.Background(), r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMessage measures building and encoding the mail for reports of
// 50 and 10000 log lines (general.journal_lines' default and maximum).
func BenchmarkMessage(b *testing.B) {
	for _, lines := range []int{50, 10000} {
		b.Run(fmt.Sprintf("lines=%d", lines), func(b *testing.B) {
			r := sampleReport()
			r.Lines = nil
			at := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
			for i := range lines {
				r.Lines = append(r.Lines, report.Line{Time: at.Add(time.Duration(i) * time.Millisecond), Priority: 6,
					Message: fmt.Sprintf("2026-11-25 14:00:00,%03d 1234 INFO db odoo.modules.loading: %s", i%1000, strings.Repeat("loading module ", 6))})
			}
			n := newNotifier(b, channelConfig(25, "none"))
			var size int64
			for b.Loop() {
				m, err := n.message(r)
				if err != nil {
					b.Fatal(err)
				}
				var w countWriter
				if _, err := m.WriteTo(&w); err != nil {
					b.Fatal(err)
				}
				size = int64(w)
			}
			b.ReportMetric(float64(size), "mail-bytes")
		})
	}
}

type countWriter int64

func (w *countWriter) Write(p []byte) (int, error) { *w += countWriter(len(p)); return len(p), nil }
