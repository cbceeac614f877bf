package degraded

import (
	"testing"
	"time"
)

// The lines below are copied from testdata (the real Odoo 18's journal and
// the public threads).

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		line                string
		ok                  bool
		pid                 int
		level, db, logger   string
		msg                 string
		year, ms, hour, sec int
	}{
		{"2026-12-02 15:57:23,442 295 INFO prod odoo.service.server: Worker (295) CPU time limit (3) reached.", true, 295, "INFO", "prod", "odoo.service.server", "Worker (295) CPU time limit (3) reached.", 2026, 442, 15, 23},
		{"2019-07-12 10:23:45,826 1 ERROR ? odoo.service.server: WorkerHTTP (380) timeout after 0s ", true, 1, "ERROR", "?", "odoo.service.server", "WorkerHTTP (380) timeout after 0s ", 2019, 826, 10, 45},
		{"2026-12-02 15:47:29,140 698 INFO prod odoo.tools.misc:", true, 698, "INFO", "prod", "odoo.tools.misc", "", 2026, 140, 15, 29},
		{"ERROR ? odoo.service.server: WorkerCron (2363) timeout after 120s", false, 0, "", "", "", "", 0, 0, 0, 0},
		{"# Thread: <Thread(odoo.service.http.request.140068100900544, started 140068100900544)> (db:prod) (uid:2)", false, 0, "", "", "", "", 0, 0, 0, 0},
		{"Warn: Can't find .pfb for face 'Courier'", false, 0, "", "", "", "", 0, 0, 0, 0},
	} {
		r, ok := parseRecord(tc.line)
		if ok != tc.ok {
			t.Errorf("%q: ok %v", tc.line, ok)
			continue
		}
		if !ok {
			continue
		}
		if r.pid != tc.pid || r.level != tc.level || r.db != tc.db || r.logger != tc.logger || r.msg != tc.msg {
			t.Errorf("%q: %+v", tc.line, r)
		}
		if r.time.Year() != tc.year || r.time.Nanosecond() != tc.ms*int(time.Millisecond) || r.time.Hour() != tc.hour || r.time.Second() != tc.sec || r.time.Location() != time.UTC {
			t.Errorf("%q: time %v", tc.line, r.time)
		}
	}
}

func TestWerkzeugRequest(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Request
	}{
		{`2026-12-02 15:57:35,341 297 INFO prod werkzeug: 127.0.0.1 - - [02/Dec/2026 15:57:35] "POST /web/dataset/call_kw/res.partner/action_probe_map HTTP/1.1" 200 - 2 0.002 0.015`,
			Request{Method: "POST", Path: "/web/dataset/call_kw/res.partner/action_probe_map", Status: "200", DB: "prod"}},
		// the query string is dropped: it may hold a token
		{`2017-11-09 11:00:54,278 30227 INFO odoo11 werkzeug: 127.0.0.1 - - [09/Nov/2017 11:00:54] "GET /web? HTTP/1.1" 500 -`,
			Request{Method: "GET", Path: "/web", Status: "500", DB: "odoo11"}},
		{`2019-10-24 22:38:05,252 2083 INFO koozic-v2 werkzeug: 192.168.15.20 - - [24/Oct/2019 22:38:05] "POST /web/dataset/call_button HTTP/1.1" 200 - 2 0.002 0.120`,
			Request{Method: "POST", Path: "/web/dataset/call_button", Status: "200", DB: "koozic-v2"}},
	} {
		r, ok := parseRecord(tc.line)
		if !ok {
			t.Fatalf("%q: no record", tc.line)
		}
		got, ok := werkzeugRequest(r.msg, r.db)
		if !ok || got != tc.want {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.line, got, tc.want)
		}
	}
}

func TestDumpThread(t *testing.T) {
	thread, r, ok := dumpThread("# Thread: <Thread(odoo.service.http.request.140068100900544, started 140068100900544)> (db:prod) (uid:2) (url:http://127.0.0.1:8069/web/dataset/call_kw/res.partner/action_probe_sleep) (qc:2 qt:0.006 pt:78.721)")
	if !ok || thread != "<Thread(odoo.service.http.request.140068100900544, started 140068100900544)>" ||
		r != (Request{Path: "/web/dataset/call_kw/res.partner/action_probe_sleep", DB: "prod", UID: "2"}) {
		t.Errorf("%v %q %+v", ok, thread, r)
	}
	msg := "Thread <Thread(odoo.service.http.request.140068100900544, started 140068100900544)> virtual real time limit (78/20s) reached."
	if got := threadName(msg); got != thread {
		t.Errorf("threadName %q, want the dump's %q", got, thread)
	}
	_, r, ok = dumpThread("# Thread: <_MainThread(MainThread, started 139826958544960)> (db:prod) (uid:n/a) (url:n/a) (qc:n/a qt:n/a pt:n/a)")
	if !ok || r.known() || r.DB != "prod" {
		t.Errorf("main thread: %v %+v", ok, r)
	}
}

func TestKernelOOM(t *testing.T) {
	for _, tc := range []struct {
		line    string
		pid     int
		process string
		memcg   string
	}{
		{"Memory cgroup out of memory: Killed process 23137 (python3) total-vm:1291088kB, anon-rss:807932kB, file-rss:10604kB, shmem-rss:0kB, UID:999 pgtables:1728kB oom_score_adj:0", 23137, "23137 (python3)", ""},
		{"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/degraded-capture,task_memcg=/degraded-capture,task=python3,pid=23137,uid=999", 23137, "", "/degraded-capture"},
		{"/var/log/kern.log.1:May 14 20:33:28 unknown kernel: [5116466.141790] Out of memory: Kill process 22890 (odoo) score 461 or sacrifice child", 22890, "22890 (odoo)", ""},
		{"Killed process 31217, UID 500, (python3) total-vm:1551216kB, anon-rss:376376kB, file-rss:296kB", 31217, "31217 (python3)", ""},
	} {
		pid, process, memcg, ok := kernelOOM(tc.line)
		if !ok || pid != tc.pid || process != tc.process || memcg != tc.memcg {
			t.Errorf("%q: %v %d %q %q", tc.line, ok, pid, process, memcg)
		}
	}
	if _, _, _, ok := kernelOOM("python3 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0"); ok {
		t.Error("the oom-killer's invocation is no kill")
	}
}
