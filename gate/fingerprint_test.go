package gate

import (
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/report"
)

// TestAnalysedFingerprint: with the crash analysis, the same bug crashing
// again is a repeat even when the exit status differs, and a new bug with
// the same exit status is sent.
func TestAnalysedFingerprint(t *testing.T) {
	l := Limits{DedupWindow: 10 * time.Minute, MaxReports: 10, Per: time.Hour}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	rep := func(id, status, typ, frame string) *report.Report {
		return &report.Report{Unit: "odoo.service", InvocationID: id, Result: "exit-code", ExitCode: "exited", ExitStatus: status,
			Cause: "exception-exit", Exception: &report.Exception{Type: typ, Frame: frame}}
	}
	for _, tt := range []struct {
		name   string
		second *report.Report
		want   Verdict
	}{
		{"same bug, other exit status", rep("b", "1", "KeyError", "/opt/odoo/odoo/fields.py:1931 in setup"), Repeat},
		{"new bug, same exit status", rep("b", "255", "KeyError", "/opt/odoo/custom/sale_ext/models.py:12 in compute"), Send},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			if d := s.Decide(FailureOf(rep("a", "255", "KeyError", "/opt/odoo/odoo/fields.py:1931 in setup")), l, now); d.Verdict != Send {
				t.Fatalf("first report: %v", d.Verdict)
			}
			if d := s.Decide(FailureOf(tt.second), l, now.Add(time.Minute)); d.Verdict != tt.want {
				t.Errorf("second report: %v, want %v", d.Verdict, tt.want)
			}
		})
	}
}
