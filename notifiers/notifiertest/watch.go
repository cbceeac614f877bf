package notifiertest

import (
	"time"

	"github.com/odoo-notify/odoo-notify/report"
)

// WatchReports are reports of odoo-notify watch, whose lines are no failed
// run's: a hang, a degraded spell's opening and an update of it (after
// TestOdooWatch's real Odoo 18 mails), by name.
func WatchReports() map[string]*report.Report {
	t0 := time.Date(2026, 12, 2, 21, 30, 0, 0, time.UTC)
	inc := &report.Incident{ID: "30143aebe3a5", State: "open", Opened: t0.Add(2 * time.Second), Failures: 2,
		Subject: "erp-odoo: odoo.service degraded: 1 worker timeout (limit_time_real = 4)"}
	update := &report.Report{Host: "erp-odoo", Unit: "odoo.service", InvocationID: "b760291326e145309a97f0c5412af3c1",
		Cause: report.CauseDegraded, Event: report.EventUpdate, Incident: inc, LogSource: "odoo-notify watch", Created: t0.Add(20 * time.Second),
		Summary: "odoo.service is degraded since 21:30:00 UTC: 1 worker timeout (limit_time_real = 4), 1 worker recycled past limit_memory_soft (limit_memory_soft = 1536 MiB, last at 1834 MiB); last: GET /hang_test/map, db prod.",
		Degraded: &report.Degraded{State: "updated", Since: t0, Kind: "time-real",
			Summary:  "1 worker timeout (limit_time_real = 4), 1 worker recycled past limit_memory_soft (limit_memory_soft = 1536 MiB, last at 1834 MiB); last: GET /hang_test/map, db prod",
			New:      "1 worker recycled past limit_memory_soft (limit_memory_soft = 1536 MiB, last at 1834 MiB); last: GET /hang_test/map, db prod",
			Examples: []string{"2026-12-02 21:30:00,597 803 ERROR prod odoo.service.server: WorkerHTTP (811) timeout after 4s", "2026-12-02 21:30:03,869 865 INFO prod odoo.service.server: Worker (865) virtual memory limit (1923895296) reached."},
			Counts:   []report.DegradedCount{{Kind: "time-real", N: 1, First: t0, Last: t0}, {Kind: "memory-soft", N: 1, New: 1, First: t0.Add(3 * time.Second), Last: t0.Add(3 * time.Second)}}},
		Lines: []report.Line{
			{Time: t0, Priority: 4, Message: "time-real: 1 (0 new), first 21:30:00, last 21:30:00"},
			{Time: t0.Add(3 * time.Second), Priority: 4, Message: "memory-soft: 1 (1 new), first 21:30:03, last 21:30:03"},
			{Time: t0.Add(20 * time.Second), Priority: 4, Message: "2026-12-02 21:30:00,597 803 ERROR prod odoo.service.server: WorkerHTTP (811) timeout after 4s"},
			{Time: t0.Add(20 * time.Second), Priority: 4, Message: "2026-12-02 21:30:03,869 865 INFO prod odoo.service.server: Worker (865) virtual memory limit (1923895296) reached."},
		}}
	opening := update.Clone()
	d := *update.Degraded
	d.State, d.New = "opened", ""
	opening.Event, opening.Incident, opening.Degraded = report.EventFiring, nil, &d
	hang := &report.Report{Host: "erp-odoo", Unit: "odoo.service", InvocationID: "cb7c42fc85fb4b03a65ef7796a4aa51d",
		Cause: report.CauseHang, Event: report.EventFiring, LogSource: "odoo-notify watch", Created: t0,
		Summary: "odoo.service does not answer http://127.0.0.1:8069/web/health: 3 probe(s) in a row failed.",
		Hang:    &report.Hang{URL: "http://127.0.0.1:8069/web/health", Action: "restart"},
		Lines:   []report.Line{{Time: t0, Priority: 4, Message: "probe http://127.0.0.1:8069/web/health: timeout: no answer in 1s"}}}
	return map[string]*report.Report{"hang": hang, "degraded opening": opening, "degraded update": update}
}
