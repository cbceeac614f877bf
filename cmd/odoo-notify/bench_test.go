package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/gate"
	"github.com/odoo-notify/odoo-notify/outbox"
	"github.com/odoo-notify/odoo-notify/report"
)

// percentile of sorted durations, in milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return float64(sorted[i].Microseconds()) / 1000
}

// BenchmarkDispatch is one `odoo-notify dispatch` process, start to exit,
// delivering to three healthy loopback channels: a real mailpit over SMTP, a
// Slack-like and a signed webhook endpoint. Each run is another unit, so
// dedup never applies; Slack's rate limit is raised so it never waits.
//
//	go test -run '^$' -bench 'Dispatch$' -benchtime 300x ./cmd/odoo-notify
func BenchmarkDispatch(b *testing.B) {
	r := newRig(b, rigOpts{slackRate: "rate = 1000.0\nburst = 1000"})
	r.mail.start(b)
	var times []time.Duration
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		res := r.dispatch(failure{unit: fmt.Sprintf("bench-%d.service", i), inv: i})
		times = append(times, time.Since(start))
		if res.code != 0 {
			b.Fatalf("dispatch %d: exit %d\n%s", i, res.code, res.stderr)
		}
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(percentile(times, 0.5), "median-ms")
	b.ReportMetric(percentile(times, 0.99), "p99-ms")
	_, hookGot, _ := r.hook.got()
	_, slackGot, _ := r.slack.got()
	if len(hookGot) != i || len(slackGot) != i {
		b.Errorf("webhook %d, slack %d messages for %d dispatches", len(hookGot), len(slackGot), i)
	}
}

// BenchmarkCrashLoop is a crash loop as systemd >= 255 runs it: 200
// dispatches of the same unit failing the same way, one every 300 ms (a
// minute), each a new process. It reports the messages each channel got, how
// many of the 200 failures those messages (and what the state still holds
// for the next report or digest) account for, and the time per dispatch.
//
//	go test -run '^$' -bench 'CrashLoop' -benchtime 1x ./cmd/odoo-notify
func BenchmarkCrashLoop(b *testing.B) {
	const crashes, pace = 200, 300 * time.Millisecond
	tests := []struct {
		name   string
		limits string
		window time.Duration // wait for the window to end, then flush
	}{
		{"defaults", "", 0},
		{"window-10s", "dedup_window = \"10s\"\nper = \"1m\"\nmax_reports = 5", 10 * time.Second},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				r := newRig(b, rigOpts{limits: tt.limits, timeout: "30s"})
				r.mail.start(b)
				var times []time.Duration
				start := time.Now()
				for i := range crashes {
					if d := time.Until(start.Add(time.Duration(i) * pace)); d > 0 {
						time.Sleep(d)
					}
					t0 := time.Now()
					res := r.dispatch(failure{inv: 1000 + i})
					times = append(times, time.Since(t0))
					if res.code != 0 {
						b.Fatalf("dispatch %d: exit %d\n%s", i, res.code, res.stderr)
					}
				}
				if tt.window > 0 {
					time.Sleep(tt.window)
					if res := r.flush(); res.code != 0 {
						b.Fatalf("flush: exit %d\n%s", res.code, res.stderr)
					}
				}
				b.StopTimer()
				_, hookGot, bodies := r.hook.got()
				_, slackGot, _ := r.slack.got()
				mails := r.mail.Messages(b, len(hookGot))
				accounted := 0
				for _, body := range bodies {
					var rep report.Report
					if err := json.Unmarshal([]byte(body), &rep); err != nil {
						b.Fatal(err)
					}
					if rep.InvocationID != "" {
						accounted++ // the failure the report is about; a digest is only its Held
					}
					if rep.Held != nil {
						accounted += rep.Held.Count
					}
				}
				stillHeld := 0
				if raw, err := os.ReadFile(filepath.Join(r.dir, "gate.json")); err == nil {
					if st, err := gate.Decode(raw); err == nil && st.Units["odoo.service"] != nil && st.Units["odoo.service"].Held != nil {
						stillHeld = st.Units["odoo.service"].Held.Count
					}
				}
				if accounted+stillHeld != crashes {
					b.Errorf("messages account for %d failures and the state holds %d more: want %d", accounted, stillHeld, crashes)
				}
				slices.Sort(times)
				b.ReportMetric(float64(len(mails)), "mails")
				b.ReportMetric(float64(len(slackGot)), "slack-msgs")
				b.ReportMetric(float64(len(hookGot)), "webhook-msgs")
				b.ReportMetric(float64(accounted), "failures-in-msgs")
				b.ReportMetric(float64(stillHeld), "failures-held")
				b.ReportMetric(percentile(times, 0.5), "median-ms")
				b.ReportMetric(percentile(times, 0.99), "p99-ms")
				b.StartTimer()
			}
		})
	}
}

// BenchmarkHookProcess is one `odoo-notify hook` process, start to exit, as
// ExecStopPost= runs it after a failed run: it records the run in a state
// folder on disk (written, fsynced, renamed) and asks systemd to start the
// handler (here there is no system bus: the call fails at once). It reports
// the wall time (median, p95) and the CPU time the process used (median);
// baseline-ms is the same binary's `version`, what starting it costs.
//
//	go test -run '^$' -bench 'HookProcess' -benchtime 100x ./cmd/odoo-notify
func BenchmarkHookProcess(b *testing.B) {
	r := newRig(b, rigOpts{})
	var wall, cpu, base []time.Duration
	i := 0
	for b.Loop() {
		i++
		cmd := r.command(nil, "hook", "odoo.service")
		cmd.Args = slices.DeleteFunc(cmd.Args, func(s string) bool { return s == "--config" || s == r.config })
		cmd.Env = append(cmd.Env, "SERVICE_RESULT=exit-code", "EXIT_CODE=exited", "EXIT_STATUS=1", "INVOCATION_ID="+invID(i))
		start := time.Now()
		res := r.exec(cmd)
		wall = append(wall, time.Since(start))
		if res.code != 0 {
			b.Fatalf("hook %d: exit %d\n%s", i, res.code, res.stderr)
		}
		cpu = append(cpu, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
		v := r.command(nil, "version")
		start = time.Now()
		r.exec(v)
		base = append(base, time.Since(start))
	}
	b.StopTimer()
	for _, s := range [][]time.Duration{wall, cpu, base} {
		slices.Sort(s)
	}
	b.ReportMetric(percentile(wall, 0.5), "median-ms")
	b.ReportMetric(percentile(wall, 0.95), "p95-ms")
	b.ReportMetric(percentile(cpu, 0.5), "cpu-median-ms")
	b.ReportMetric(percentile(base, 0.5), "baseline-ms")
	st, err := outbox.Open(r.dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	if n := len(st.FailedRuns("odoo.service")); n != i {
		b.Errorf("%d failed runs recorded for %d hooks", n, i)
	}
}
