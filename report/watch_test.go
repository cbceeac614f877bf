package report_test

import (
	stdhtml "html"
	"strings"
	"testing"

	"github.com/odoo-notify/odoo-notify/notifiers/notifiertest"
	"github.com/odoo-notify/odoo-notify/report"
)

// TestWatcherLines: the mail of a hang or a degraded spell says what its
// lines are (nothing failed), and a degraded update says what is new in
// it instead of the spell's summary again; a crash keeps its heading.
func TestWatcherLines(t *testing.T) {
	crash := notifiertest.Report()
	reps := notifiertest.WatchReports()
	one := reps["degraded opening"].Clone()
	d := *one.Degraded
	d.Examples = d.Examples[:1]
	one.Degraded, one.Lines = &d, one.Lines[:2]
	for _, tc := range []struct {
		name    string
		r       *report.Report
		heading string
		fresh   string
	}{
		{"crash", crash, "Last 3 log lines of the failed run:", ""},
		{"hang", reps["hang"], "What the watcher saw: its probes, what it did, and the busy threads of the stack dump:", ""},
		{"degraded opening", reps["degraded opening"], "The spell's events by kind (in all, new since the last notice), then the last 2 as odoo.service logged them before this notice:", ""},
		{"degraded opening of one event", one, "The spell's events by kind (in all, new since the last notice), then the last one as odoo.service logged it before this notice:", ""},
		{"degraded update", reps["degraded update"], "The spell's events by kind (in all, new since the last notice), then the last 2 as odoo.service logged them before this notice:",
			"New since the last notice: 1 worker recycled past limit_memory_soft (limit_memory_soft = 1536 MiB, last at 1834 MiB); last: GET /hang_test/map, db prod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := tc.r.Text()
			html, err := tc.r.HTML()
			if err != nil {
				t.Fatal(err)
			}
			for _, out := range []struct{ name, s string }{{"text", text}, {"html", stdhtml.UnescapeString(html)}} {
				if !strings.Contains(out.s, tc.heading) {
					t.Errorf("the %s does not name its lines %q:\n%s", out.name, tc.heading, out.s)
				}
				if tc.r.Cause != "oom-kill" && strings.Contains(out.s, "failed run") {
					t.Errorf("the %s of a watcher's report speaks of a failed run:\n%s", out.name, out.s)
				}
				if tc.fresh != "" && !strings.Contains(out.s, tc.fresh) {
					t.Errorf("the %s does not say what is new %q:\n%s", out.name, tc.fresh, out.s)
				}
				if tc.fresh != "" && strings.Contains(out.s, "This failure:") {
					t.Errorf("the %s of a degraded update repeats its summary as \"This failure:\":\n%s", out.name, out.s)
				}
			}
			if tc.fresh != "" && !strings.HasPrefix(tc.r.Subject(), "[UPDATE] "+tc.r.Incident.Subject) {
				t.Errorf("the update's subject %q does not thread under the opening's %q", tc.r.Subject(), tc.r.Incident.Subject)
			}
		})
	}
}
