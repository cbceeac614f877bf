package degraded

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The files in testdata/odoo18 are the real Odoo 18's journal and the
// kernel's lines, captured by testdata/capture/capture.sh: odoo.service
// under systemd 252 with PostgreSQL 15, workers = 2, and the probe addon's
// requests crossing the limits set in odoo.conf.

// kernelLines reads dmesg --time-format=iso lines as the journal's kernel
// transport would give them: the kernel's time and its message.
func kernelLines(t *testing.T, name string) []Line {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "odoo18", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		stamp, msg, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		at, err := time.Parse("2006-01-02T15:04:05,000000-07:00", stamp)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, Line{Time: at.UTC(), Message: msg, Kernel: true})
	}
	return out
}

func pidsFile(t *testing.T, name string) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "odoo18", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		p, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// merge orders the unit's lines and the kernel's by time, as the watcher
// reads them from one journal.
func merge(a, b []Line) []Line {
	out := append(append([]Line(nil), a...), b...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// TestOdoo18Prefork: a real Odoo 18 with workers = 2, limit_time_real =
// 20 and limit_memory_hard = 3 GiB, whose cron job and requests ran past
// limit_time_real, one request allocated past limit_memory_hard, seven
// failed, and two workers were killed by the kernel's OOM killer.
func TestOdoo18Prefork(t *testing.T) {
	lines := journal(t, "prefork.json")
	kernel := kernelLines(t, "oom-kernel.txt")
	pids := pidsFile(t, "oom-pids.txt") // as the host saw them; the first is the main process
	d := New(Options{
		Unit:            "odoo.service",
		ErrorsPerWindow: 5,
		Limits:          Limits{TimeReal: 20, MemorySoft: 1536 << 20, MemoryHard: 3 << 30, Workers: 2},
	})
	d.Processes(lines[0].Time, pids[0], pids)
	var ns []Notice
	var events int
	for _, l := range merge(lines, kernel) {
		ns = append(ns, d.Line(l)...)
	}
	ns = append(ns, settle(d)...)
	// The capture's events span ten minutes of a sixteen-minute journal:
	// the opening, one update a window later with what came since, the
	// resolution a quiet window after the last event.
	if got := states(ns); got != "opened,updated,resolved" {
		t.Fatalf("notices %s, want opened,updated,resolved", got)
	}
	open, upd, end := ns[0], ns[1], ns[2]
	if gap := upd.Time.Sub(open.Time); gap < DefaultWindow {
		t.Errorf("update %v after the opening", gap)
	}
	if !strings.HasPrefix(end.Summary, "quiet since 15:44 UTC: ") || end.Time.Sub(upd.Time) < DefaultWindow {
		t.Errorf("resolved at %v: %q", end.Time, end.Summary)
	}
	// The first event of the run: the cron job's worker killed at 20 s.
	if !strings.HasPrefix(open.Summary, "1 cron worker timeout (limit_time_real = 20)") {
		t.Errorf("opening summary %q", open.Summary)
	}
	want := map[Kind]int{
		// Odoo logs 43 timeout lines for 31 workers: it repeats a
		// worker's until it has reaped it.
		TimeReal:      31,
		MemoryHard:    1,
		RequestErrors: 7,
		OOMKill:       2,
	}
	for _, c := range end.Counts {
		events += c.N
		if c.N != want[c.Kind] {
			t.Errorf("%s: %d, want %d", c.Kind, c.N, want[c.Kind])
		}
	}
	if events != 41 {
		t.Errorf("%d events: %+v", events, end.Counts)
	}
	for _, w := range []string{
		"31 worker timeouts (26 cron) in 9 min (limit_time_real = 20)",
		"1 MemoryError (limit_memory_hard = 3072 MiB)",
		"2 processes killed by the kernel's OOM killer in 18 s (last: 21138 (python3))",
		"7 failed requests in 47 s (most: ValueError: probe: failing on purpose)",
		"; last: POST /web/dataset/call_kw/res.partner/action_probe_fail, db prod",
	} {
		if !strings.Contains(upd.Summary, w) {
			t.Errorf("update %q\nwant it to hold %q", upd.Summary, w)
		}
	}
	for _, c := range upd.Counts {
		if c.Kind == OOMKill && c.New != 2 {
			t.Errorf("update: %d new OOM kills, want 2 (they came after the opening)", c.New)
		}
	}
	t.Logf("opened:   %s", open.Summary)
	t.Logf("updated:  %s", upd.Summary)
	t.Logf("resolved: %s", end.Summary)
	for _, h := range end.Hints {
		t.Logf("hint: %s", h)
	}
}

// TestOdoo18MemoryErrorNamesItsRequest: the MemoryError's request is the
// one werkzeug logs right after it for the same worker.
func TestOdoo18MemoryErrorNamesItsRequest(t *testing.T) {
	lines := journal(t, "prefork.json")
	var from int
	for i, l := range lines {
		if strings.Contains(l.Message, "Exception during request handling") {
			from = i
			break
		}
	}
	d := New(Options{Limits: Limits{MemoryHard: 3 << 30}})
	ns := feed(d, lines[from:from+60])
	ns = append(ns, d.Tick(d.now.Add(followUp+time.Second))...)
	if len(ns) != 1 {
		t.Fatalf("notices %+v", ns)
	}
	want := "1 MemoryError (limit_memory_hard = 3072 MiB); last: POST /web/dataset/call_kw/res.partner/action_probe_hog, db prod"
	if ns[0].Summary != want || ns[0].Kind != MemoryHard {
		t.Errorf("summary %q\nwant %q", ns[0].Summary, want)
	}
}

// TestOdoo18Threaded: the real Odoo 18 with workers = 0 and
// limit_time_real = 20; a request slept past it. The threaded server logs
// the limit, dumps the thread's stack with its db, uid and url, and
// reloads itself.
func TestOdoo18Threaded(t *testing.T) {
	d := New(Options{Unit: "odoo.service", Limits: Limits{TimeReal: 20}})
	ns := feed(d, journal(t, "threaded-time.json"))
	ns = append(ns, settle(d)...)
	if got := states(ns); got != "opened,resolved" {
		t.Fatalf("notices %s, want opened,resolved", got)
	}
	// The stack dump names no method.
	want := "1 request past limit_time_real, server reloaded (limit_time_real = 20); last: /web/dataset/call_kw/res.partner/action_probe_sleep, db prod, uid 2"
	if n := ns[0]; n.Summary != want || n.Kind != TimeReal {
		t.Errorf("summary %q\nwant %q", n.Summary, want)
	}
	if r := ns[0].Last; r.UID != "2" || r.DB != "prod" || r.Path != "/web/dataset/call_kw/res.partner/action_probe_sleep" {
		t.Errorf("request %+v", r)
	}
	if h := strings.Join(ns[0].Hints, "\n"); !strings.Contains(h, "workers >= 2") {
		t.Errorf("hints %q", h)
	}
}

// TestOdoo18ThreadedMemory: the real Odoo 18 with workers = 0 and
// limit_memory_soft = 1.5 GiB; a request kept 1.6 GB. The server logs the
// limit every second until no other request runs, then reloads: one event.
func TestOdoo18ThreadedMemory(t *testing.T) {
	lines := journal(t, "threaded-memory.json")
	repeated := 0
	for _, l := range lines {
		if strings.Contains(l.Message, "Server memory limit (") {
			repeated++
		}
	}
	if repeated < 2 {
		t.Fatalf("the capture holds %d memory limit lines; the test is about their repetition", repeated)
	}
	d := New(Options{Limits: Limits{MemorySoft: 1536 << 20}})
	ns := feed(d, lines)
	ns = append(ns, settle(d)...)
	if got := states(ns); got != "opened,resolved" {
		t.Fatalf("notices %s, want opened,resolved", got)
	}
	if c := count(ns[1], MemorySoft); c != 1 {
		t.Errorf("%d memory events for %d lines of one reload, want 1", c, repeated)
	}
	want := "1 server reload past limit_memory_soft (limit_memory_soft = 1536 MiB, last at 1853 MiB)"
	if ns[0].Summary != want {
		t.Errorf("summary %q\nwant %q", ns[0].Summary, want)
	}
}

// TestOdoo18Limits: the real Odoo 18 with workers = 2, limit_time_cpu = 3
// and limit_memory_soft = 1.5 GiB (limit_time_real out of the way). One
// request spun past the CPU limit: Odoo 18 logs the limit, then the
// worker's own death of it ("Exception occurred, exiting..."), one event.
// Another kept 1.6 GB of address space: the worker was recycled after it.
func TestOdoo18Limits(t *testing.T) {
	d := New(Options{Limits: Limits{TimeCPU: 3, MemorySoft: 1536 << 20, Workers: 2}})
	ns := feed(d, journal(t, "limits.json"))
	ns = append(ns, settle(d)...)
	if got := states(ns); got != "opened,resolved" {
		t.Fatalf("notices %s, want opened,resolved", got)
	}
	end := ns[1]
	if c := count(end, TimeCPU); c != 1 {
		t.Errorf("%d CPU limit events, want 1", c)
	}
	if c := count(end, MemorySoft); c != 1 {
		t.Errorf("%d memory limit events, want 1", c)
	}
	want := "1 request stopped at limit_time_cpu (limit_time_cpu = 3), 1 worker recycled past limit_memory_soft (limit_memory_soft = 1536 MiB, last at 1836 MiB); last: POST /web/dataset/call_kw/res.partner/action_probe_map, db prod"
	if !strings.HasSuffix(end.Summary, want) {
		t.Errorf("summary %q\nwant it to end %q", end.Summary, want)
	}
	if ns[0].Kind != TimeCPU || !strings.HasPrefix(ns[0].Summary, "1 request stopped at limit_time_cpu (limit_time_cpu = 3)") {
		t.Errorf("opened: %s %q", ns[0].Kind, ns[0].Summary)
	}
}

// TestOOMByCgroup: the kernel's oom-kill line names the killed task's
// cgroup; one that is the unit's counts even for a pid the Detector was
// never told of. In the capture the workers' cgroup was /degraded-capture.
func TestOOMByCgroup(t *testing.T) {
	kernel := kernelLines(t, "oom-kernel.txt")
	for _, tc := range []struct {
		unit string
		want int
	}{
		{"degraded-capture", 2},
		{"odoo.service", 0},
	} {
		d := New(Options{Unit: tc.unit})
		ns := append(feed(d, kernel), settle(d)...)
		got := 0
		if len(ns) > 0 {
			got = count(ns[len(ns)-1], OOMKill)
		}
		if got != tc.want {
			t.Errorf("unit %s: %d OOM kills, want %d (%s)", tc.unit, got, tc.want, states(ns))
		}
	}
}

// TestRecordInOneLine: Odoo's log file gives a record with its traceback
// as one Line (analysis.ReadLog does); it reads as its lines one by one.
func TestRecordInOneLine(t *testing.T) {
	lines := journal(t, "prefork.json")
	var from, to int
	for i, l := range lines {
		if strings.Contains(l.Message, "Exception during request handling") {
			from = i
			break
		}
	}
	for to = from + 1; to < len(lines); to++ {
		if _, ok := parseRecord(lines[to].Message); ok {
			break
		}
	}
	var record []string
	for _, l := range lines[from:to] {
		record = append(record, l.Message)
	}
	joined := Line{Message: strings.Join(record, "\n")} // no journal time: Odoo's own
	one := New(Options{})
	ns := feed(one, []Line{joined, {Message: lines[to].Message}})
	ns = append(ns, one.Tick(lines[to].Time.Add(time.Minute))...)
	if len(ns) != 1 || ns[0].Kind != MemoryHard || !strings.Contains(ns[0].Summary, "last: POST /web/dataset/call_kw/res.partner/action_probe_hog, db prod") {
		t.Fatalf("notices %+v", ns)
	}
}
