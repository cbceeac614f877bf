package main

import (
	"bufio"
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/report"
	"github.com/odoo-notify/odoo-notify/watch"
)

var showHang = flag.Bool("show-hang", false, "print the hang report built from the real Odoo 18 dump")

// realDump reads the real Odoo 18 stack dump of ../../watch/testdata.
func realDump(t *testing.T) []watch.Line {
	f, err := os.Open("../../watch/testdata/odoo18-prefork-sigquit.export")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []watch.Line
	var cur watch.Line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "_PID":
			cur.PID, _ = strconv.Atoi(v)
		case "MESSAGE":
			cur.Text = v
			out = append(out, cur)
		}
	}
	return out
}

// TestHangReport builds the report a person gets for a hang whose stack
// dump is a real Odoo 18's (two HTTP workers stuck in requests), after a
// fast restart: what it says first, the probes, what was done, the busy
// threads with their requests and innermost frames.
func TestHangReport(t *testing.T) {
	at := time.Date(2026, 12, 2, 15, 38, 40, 0, time.UTC)
	url := "http://127.0.0.1:8069/web/health"
	threads := watch.Parse(realDump(t))
	h := &watch.Hang{
		Unit: "odoo.service", Invocation: "6f1c0d2e9b7a4c3d8e5f60718293a4b5", URL: url, At: at,
		Probes: []watch.Result{
			{At: at.Add(-30 * time.Second), Status: 200, Duration: 4 * time.Millisecond},
			{At: at.Add(-20 * time.Second), Kind: watch.KindTimeout, Duration: 5 * time.Second},
			{At: at.Add(-10 * time.Second), Kind: watch.KindTimeout, Duration: 5 * time.Second},
			{At: at, Kind: watch.KindTimeout, Duration: 5 * time.Second},
		},
		Threads: watch.Busy(threads), Dumped: len(threads), Processes: 5,
		Action: watch.Restart, Stopped: true, StopTook: 2100 * time.Millisecond,
		Done: []string{
			"15:38:45 SIGQUIT sent to every process of odoo.service: each Odoo process logs its threads' stacks",
			"15:38:47 restart asked of systemd",
			"15:38:48 still stopping after 1.0 s: a second SIGTERM sent to the main process (Odoo stops at once: \"Forced shutdown\")",
			"the hung run stopped in 2.1 s",
		},
	}
	rep := hangReport(h, "erp1", at.Add(8*time.Second))
	if b := rep.Hang; b == nil || b.URL != url || len(b.Probes) != 4 || b.Probes[0].OK != true || b.Probes[3].Error == "" ||
		b.StopTookMS != 2100 || !b.Stopped || b.DumpedThreads != len(threads) || len(b.Threads) != 2 || len(b.Threads[0].Frames) == 0 {
		t.Errorf("the report's hang block does not hold the hang: %+v", b)
	}
	text := rep.Text()
	if *showHang {
		t.Log("\n" + text)
	}
	for _, s := range []string{
		"erp1: odoo.service hung: it does not answer its health URL\n",
		"odoo.service does not answer " + url + ": 3 probe(s) in a row failed, the last timeout: no answer in 5s. 2 busy thread(s) of 11 in the stack dump of 5 process(es); it was restarted: the hung run stopped in 2.1 s.",
		"Cause:      hang\n",
		"What the watcher saw: its probes, what it did, and the busy threads of the stack dump:\n",
		"probe " + url + ": timeout: no answer in 5s\n",
		"watch: 15:38:48 still stopping after 1.0 s: a second SIGTERM sent to the main process",
		"busy: pid 4678 thread Worker WorkerHTTP (4678) workthread (db prod, uid 4, url http://127.0.0.1:18069/hang_test/query, 4 queries in 0.103 s, python 22.140 s)\n",
		"    odoo/sql_db.py:354 in execute: res = self._obj.execute(query, params)\n",
		"busy: pid 4676 thread Worker WorkerHTTP (4676) workthread (db prod, uid 4, url http://127.0.0.1:18069/hang_test/sleep",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("the report does not say %q:\n%s", s, text)
		}
	}
	if rep.Cause != report.CauseHang || rep.Episode != "hang-20261202T153840Z" || rep.InvocationID != h.Invocation {
		t.Errorf("cause %q episode %q invocation %q", rep.Cause, rep.Episode, rep.InvocationID)
	}
	// A later hang of the same run is another report, not a duplicate.
	h2 := *h
	h2.At = at.Add(time.Hour)
	if again := hangReport(&h2, "erp1", h2.At); again.Episode == rep.Episode {
		t.Errorf("two hangs of one run share the episode %q", rep.Episode)
	}
}

// TestHangReportWithoutDump: a hung process that cannot dump (SIGSTOP)
// still gets its report, saying why there are no threads.
func TestHangReportWithoutDump(t *testing.T) {
	at := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	h := &watch.Hang{Unit: "odoo.service", URL: "http://127.0.0.1:8069/web/health", At: at, Action: watch.Report,
		Probes:      []watch.Result{{At: at, Kind: watch.KindRefused}},
		DumpProblem: "no stack dump came within 5s: a process stopped (SIGSTOP) or stuck in the kernel cannot write one"}
	text := hangReport(h, "erp1", at).Text()
	for _, s := range []string{"the last connection refused. no stack dump came within 5s", `it was left running (on_hang = "report")`, "Hint: without a stack dump"} {
		if !strings.Contains(text, s) {
			t.Errorf("the report does not say %q:\n%s", s, text)
		}
	}
}
