package watch

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// readExport reads the _PID and MESSAGE of each entry of a journal export
// (journalctl -o export, text fields only).
func readExport(t *testing.T, path string) []Line {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Line
	var cur Line
	has := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" {
			if has {
				out = append(out, cur)
			}
			cur, has = Line{}, false
			continue
		}
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "_PID":
			cur.PID, _ = strconv.Atoi(v)
		case "MESSAGE":
			cur.Text, has = v, true
		}
	}
	if has {
		out = append(out, cur)
	}
	return out
}

// TestParseRealOdoo18Dump reads what a real Odoo 18 (prefork, workers = 2,
// the gevent process, a cron worker) logged to the journal on SIGQUIT to
// each of its processes, while one HTTP worker slept in a request and the
// other waited on pg_sleep (testdata/odoo18-prefork-sigquit.export).
func TestParseRealOdoo18Dump(t *testing.T) {
	lines := readExport(t, "testdata/odoo18-prefork-sigquit.export")
	threads := Parse(lines)
	pids := map[int]bool{}
	greenlets := 0
	for _, th := range threads {
		pids[th.PID] = true
		if th.Greenlet {
			greenlets++
		}
	}
	if len(threads) != 11 || len(pids) != 5 || greenlets != 3 {
		t.Errorf("%d threads (%d greenlets) of %d processes, want 11 (3) of 5", len(threads), greenlets, len(pids))
	}
	busy := Busy(threads)
	if len(busy) != 2 {
		for _, b := range busy {
			t.Logf("busy: %s at %s", b.Summary(), b.Frames[len(b.Frames)-1])
		}
		t.Fatalf("%d busy threads, want the 2 HTTP workers' requests", len(busy))
	}
	byURL := map[string]Thread{}
	for _, b := range busy {
		byURL[b.URL] = b
	}
	q := byURL["http://127.0.0.1:18069/hang_test/query"]
	if q.PID != 4678 || q.DB != "prod" || q.UID != "4" || q.QueryCount != "4" || q.QueryTime != "0.103" || q.PythonTime != "22.140" {
		t.Errorf("the query's thread: %+v", q)
	}
	in := q.Innermost(2)
	if len(in) != 2 || in[1].String() != "odoo/sql_db.py:354 in execute: res = self._obj.execute(query, params)" ||
		in[0].String() != `hang_test/controllers/main.py:16 in query: request.env.cr.execute("SELECT pg_sleep(%s)", [float(seconds)])` {
		t.Errorf("the query's innermost frames: %v", in)
	}
	s := byURL["http://127.0.0.1:18069/hang_test/sleep"]
	if s.PID != 4676 || !strings.HasSuffix(s.Frames[len(s.Frames)-1].File, "hang_test/controllers/main.py") || s.Frames[len(s.Frames)-1].Func != "sleep" {
		t.Errorf("the sleeping request's thread: %+v", s)
	}
	want := "pid 4678 thread Worker WorkerHTTP (4678) workthread (db prod, uid 4, url http://127.0.0.1:18069/hang_test/query, 4 queries in 0.103 s, python 22.140 s)"
	if got := q.Summary(); got != want {
		t.Errorf("Summary:\n%s\nwant\n%s", got, want)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		lines []Line
		want  []Thread
	}{
		{name: "a log file's record: the header line, then the dump", lines: []Line{
			{PID: 12, Text: "2024-05-02 10:31:02,412 12 INFO ? odoo.tools.misc: "},
			{PID: 12, Text: ""},
			{PID: 12, Text: "# Thread: <Thread(odoo.service.http.request.1, started 2)> (db:prod) (uid:7) (url:http://erp/web) (qc:3 qt:0.010 pt:1.000)"},
			{PID: 12, Text: `File: "/opt/odoo/odoo/models.py", line 4000, in search`},
			{PID: 12, Text: "  return self._search(domain)"},
			{PID: 12, Text: "2024-05-02 10:31:03,000 12 INFO prod werkzeug: GET /web/health"},
			{PID: 12, Text: `File: "/not/a/frame/of/the/dump.py", line 1, in f`},
		}, want: []Thread{{PID: 12, Name: "<Thread(odoo.service.http.request.1, started 2)>", DB: "prod", UID: "7", URL: "http://erp/web",
			QueryCount: "3", QueryTime: "0.010", PythonTime: "1.000", Frames: []Frame{{File: "/opt/odoo/odoo/models.py", Line: 4000, Func: "search", Code: "return self._search(domain)"}}}}},
		{name: "Odoo 12 to 14: no query counters", lines: []Line{
			{PID: 3, Text: "# Thread: <_MainThread(MainThread, started 1)> (db:n/a) (uid:n/a) (url:n/a)"},
			{PID: 3, Text: `File: "/usr/lib/python3/dist-packages/odoo/service/server.py", line 800, in sleep`},
		}, want: []Thread{{PID: 3, Name: "<_MainThread(MainThread, started 1)>", Frames: []Frame{{File: "/usr/lib/python3/dist-packages/odoo/service/server.py", Line: 800, Func: "sleep"}}}}},
		{name: "two processes interleaved", lines: []Line{
			{PID: 1, Text: "# Thread: A (db:n/a) (uid:n/a) (url:n/a) (qc:n/a qt:n/a pt:n/a)"},
			{PID: 2, Text: "# Thread: B (db:n/a) (uid:n/a) (url:n/a) (qc:n/a qt:n/a pt:n/a)"},
			{PID: 1, Text: `File: "a.py", line 1, in fa`},
			{PID: 2, Text: `File: "b.py", line 2, in fb`},
		}, want: []Thread{{PID: 1, Name: "A", Frames: []Frame{{File: "a.py", Line: 1, Func: "fa"}}}, {PID: 2, Name: "B", Frames: []Frame{{File: "b.py", Line: 2, Func: "fb"}}}}},
		{name: "no dump", lines: []Line{{PID: 1, Text: "2024-05-02 10:31:02,412 1 INFO ? odoo: Odoo version 17.0"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.lines)
			if len(got) != len(tt.want) {
				t.Fatalf("%d threads, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.PID != w.PID || g.Name != w.Name || g.DB != w.DB || g.UID != w.UID || g.URL != w.URL || g.QueryCount != w.QueryCount ||
					g.QueryTime != w.QueryTime || g.PythonTime != w.PythonTime || len(g.Frames) != len(w.Frames) {
					t.Fatalf("thread %d: %+v\nwant %+v", i, g, w)
				}
				for j := range g.Frames {
					if g.Frames[j] != w.Frames[j] {
						t.Errorf("frame %d: %+v, want %+v", j, g.Frames[j], w.Frames[j])
					}
				}
			}
		})
	}
}
