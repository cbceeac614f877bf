package email

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/report"
)

var update = flag.Bool("update", false, "rewrite testdata/*.eml from what the code sends now")

// TestGolden pins the mail as it goes on the wire: headers, encodings and
// both parts. Regenerate with go test ./notifiers/email -run Golden -update.
func TestGolden(t *testing.T) {
	tests := []struct {
		name   string
		report func() *report.Report
	}{
		{name: "report", report: sampleReport},
		{name: "hostile", report: func() *report.Report {
			r := sampleReport()
			r.ID = "x\r\nBcc: evil@example.com"
			r.Unit = "odoo.service\r\nBcc: evil@example.com"
			r.Exception.Message = "caf\xc3\xa9 \xff\xfe <script>alert(1)</script>"
			r.Lines = []report.Line{{Message: "line\r\nBcc: evil@example.com"}}
			return r
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNotifier(t, channelConfig(25, "none"))
			n.now = func() time.Time { return time.Date(2026, 11, 25, 14, 3, 9, 0, time.UTC) }
			n.boundary = "odoo-notify-golden"
			m, err := n.message(tt.report())
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if _, err := m.WriteTo(&got); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.name+".eml")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v: run go test ./notifiers/email -run Golden -update", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("mail differs from %s (go test -run Golden -update rewrites it):\n%s", path, got.String())
			}
		})
	}
}
