package degraded

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkFollow feeds what a busy Odoo logs: the real Odoo 18's journal
// (testdata/odoo18/prefork.json: its werkzeug access lines, its limit
// events, tracebacks and start-up lines), with 19 access lines of that
// journal before each other line, so that 95 % of what it reads are
// ordinary INFO werkzeug lines, re-timed at 1,000 lines a second. It
// reports the cost of one line, in wall time (ns/op) and in the CPU time
// the process used (cpu-ns/line, from getrusage: what a loaded machine
// does not inflate), and the share of one core that following 1,000 lines
// a second takes:
//
//	go test -run '^$' -bench Follow -benchmem ./degraded/
func BenchmarkFollow(b *testing.B) {
	real := journal(b, "prefork.json")
	var access, other []Line
	for _, l := range real {
		if strings.Contains(l.Message, " werkzeug: ") {
			access = append(access, l)
		} else {
			other = append(other, l)
		}
	}
	var lines []Line
	for i, l := range other {
		for k := 0; k < 19; k++ {
			lines = append(lines, access[(19*i+k)%len(access)])
		}
		lines = append(lines, l)
	}
	b.Logf("%d lines: %d real access lines and %d other real lines, access lines 95 %%", len(lines), len(access), len(other))
	d := New(Options{Unit: "odoo.service", Limits: Limits{TimeReal: 20, MemoryHard: 3 << 30, Workers: 2}})
	start := lines[0].Time
	b.ReportAllocs()
	cpu0 := cpuTime(b)
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
	perLine := float64(cpuTime(b)-cpu0) / float64(b.N)
	b.ReportMetric(perLine, "cpu-ns/line")
	b.ReportMetric(perLine*1000/1e9*100, "%core@1000lines/s")
}

// cpuTime is the CPU time the process used so far, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
