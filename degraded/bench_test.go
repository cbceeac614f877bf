package degraded

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkFollow feeds what a busy Odoo logs: the real Odoo 18's journal
// (testdata/odoo18/prefork.json, ordinary werkzeug INFO lines with its limit
// events, tracebacks and stack-dump-free), re-timed at 1,000 lines a
// second. It reports the cost of one line and the share of one core that
// following 1,000 lines a second takes:
//
//	go test -run '^$' -bench Follow -benchmem ./degraded/
func BenchmarkFollow(b *testing.B) {
	lines := journal(b, "prefork.json")
	werkzeug := 0
	for _, l := range lines {
		if strings.Contains(l.Message, " werkzeug: ") {
			werkzeug++
		}
	}
	b.Logf("%d real lines, %d of them werkzeug access lines", len(lines), werkzeug)
	d := New(Options{Unit: "odoo.service", Limits: Limits{TimeReal: 6, TimeCPU: 4, Workers: 2}})
	start := lines[0].Time
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l := lines[i%len(lines)]
		l.Time = start.Add(time.Duration(i) * time.Millisecond)
		d.Line(l)
		if i%1000 == 999 {
			d.Tick(l.Time)
		}
	}
	b.StopTimer()
	perLine := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perLine*1000/1e9*100, "%core@1000lines/s")
}

// FuzzLine: no line, however hostile, makes the Detector panic or tell a
// person an empty notice.
func FuzzLine(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "public", "*.log"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		for _, s := range strings.Split(string(b), "\n") {
			f.Add(s, false)
		}
	}
	f.Add("Memory cgroup out of memory: Killed process 12 (python3) total-vm:1kB", true)
	f.Add("oom-kill:constraint=CONSTRAINT_MEMCG,task_memcg=/system.slice/odoo.service,task=python3,pid=12,uid=1", true)
	f.Fuzz(func(t *testing.T, s string, kernel bool) {
		d := New(Options{Unit: "odoo.service", ErrorsPerWindow: 1})
		d.Processes(t0, 1, []int{12, 380})
		var ns []Notice
		for i := 0; i < 3; i++ {
			ns = append(ns, d.Line(Line{Time: t0.Add(time.Duration(i) * time.Second), Message: s, Kernel: kernel})...)
		}
		ns = append(ns, d.Tick(t0.Add(time.Hour))...)
		for _, n := range ns {
			if n.Summary == "" || len(n.Counts) == 0 {
				t.Fatalf("empty notice %+v for %q", n, s)
			}
		}
	})
}
