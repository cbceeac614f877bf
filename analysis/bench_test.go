package analysis_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/analysis"
	"github.com/odoo-notify/odoo-notify/report"
)

// BenchmarkAnalyze10k analyses 10,000 journal lines of a busy Odoo: access
// lines, a request traceback every 200 lines, cron lines, and the fatal
// traceback at the end.
func BenchmarkAnalyze10k(b *testing.B) {
	var ls []report.Line
	for i := 0; len(ls) < 10000-len(dbRefused); i++ {
		switch {
		case i%200 == 199:
			ls = append(ls, lines(
				"2026-11-25 09:50:02,311 800 ERROR prod odoo.http: Exception during request handling.",
				"Traceback (most recent call last):",
				`  File "/opt/odoo/odoo/http.py", line 2190, in __call__`,
				"    response = request._serve_db()",
				`  File "/opt/odoo/odoo/models.py", line 4081, in _check_access`,
				"    raise AccessError(msg)",
				"odoo.exceptions.AccessError: You are not allowed to access 'Journal Entry' (account.move) records.")...)
		case i%50 == 0:
			ls = append(ls, lines("2026-11-25 09:55:10,100 800 INFO prod odoo.addons.base.models.ir_cron: Starting job `Mail: Email Queue Manager`.")...)
		default:
			ls = append(ls, lines(fmt.Sprintf(`2026-11-25 09:50:00,001 800 INFO prod werkzeug: 10.0.0.7 - - [25/Nov/2026 09:50:00] "POST /web/dataset/call_kw/sale.order/web_read/%d HTTP/1.1" 200 - 40 0.020 0.150`, i))...)
		}
	}
	ls = append(ls[:10000-len(dbRefused)], dbRefused...)
	in := analysis.Input{Unit: "odoo.service", Result: "exit-code", ExitCode: "exited", ExitStatus: "255", Lines: ls}
	if res := analysis.Analyze(in); res.Cause != "db-unreachable" {
		b.Fatalf("cause = %q", res.Cause)
	}
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		analysis.Analyze(in)
	}
	cpu.report(b)
}

// BenchmarkRedact10k redacts the same 10,000 lines.
func BenchmarkRedact10k(b *testing.B) {
	var ls []string
	for i := 0; i < 10000; i++ {
		ls = append(ls, fmt.Sprintf(`2026-11-25 09:50:00,001 800 INFO prod werkzeug: 10.0.0.7 - - [25/Nov/2026 09:50:00] "POST /web/session/authenticate/%d HTTP/1.1" 200 - 40 0.020 0.150`, i))
	}
	red, _ := analysis.NewRedactor(nil)
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		for _, l := range ls {
			red.Redact(l)
		}
	}
	cpu.report(b)
}

// cpuClock measures the CPU time the process spent (its user and system
// time, the garbage collector's included) over a benchmark's loop. On a
// machine shared with other work, ns/op grows with the others' load;
// cpu-ns/op much less.
type cpuClock time.Duration

func startCPU() cpuClock { return cpuClock(processCPU()) }

func (c cpuClock) report(b *testing.B) {
	if b.N > 0 {
		b.ReportMetric(float64(processCPU()-time.Duration(c))/float64(b.N), "cpu-ns/op")
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
