package watch

import (
	"time"

	"path"
	"strconv"
	"strings"

	"github.com/odoo-notify/odoo-notify/internal/lazyre"
)

// Odoo's stack dump (odoo.tools.misc.dumpstacks, on SIGQUIT) logs, at INFO,
// one record per process:
//
//	# Thread: <Thread(odoo.service.http.request.140…, started 140…)> (db:prod) (uid:2) (url:http://…/web/…) (qc:12 qt:0.034 pt:0.512)
//	File: "/opt/odoo/odoo/service/server.py", line 1021, in run
//	  self.process_work()
//	…
//	# Greenlet: <Greenlet at 0x7f…: …>
//	File: "…", line N, in f
//
// In the journal every line is an entry of its own, and the processes' lines
// may interleave: they are told apart by their PID.

// Line is one line of the dump as the journal (or Odoo's log file) holds it.
type Line struct {
	PID  int
	Text string
	// Time is when the journal received it; zero from Odoo's log file
	// (the record's own time then says it).
	Time time.Time
	// Kernel marks a kernel line (_TRANSPORT=kernel).
	Kernel bool
}

// Frame is one frame of a stack, outermost first in Thread.Frames.
type Frame struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Func string `json:"func"`
	// Code is the source line, when Python had it.
	Code string `json:"code,omitempty"`
}

func (f Frame) String() string {
	s := shortFile(f.File) + ":" + strconv.Itoa(f.Line) + " in " + f.Func
	if f.Code != "" {
		s += ": " + f.Code
	}
	return s
}

// shortFile names a source file by its module: what follows the last
// "addons/" (hang_test/controllers/main.py), else from the last "/odoo/"
// (odoo/sql_db.py), else the file's name.
func shortFile(p string) string {
	if i := strings.LastIndex(p, "addons/"); i >= 0 {
		return p[i+len("addons/"):]
	}
	if i := strings.LastIndex(p, "/odoo/"); i >= 0 {
		return p[i+1:]
	}
	return path.Base(p)
}

// Thread is one thread (or greenlet) of one process in the dump.
type Thread struct {
	PID int `json:"pid"`
	// Name is Python's repr of the thread, or of the greenlet.
	Name     string `json:"name"`
	Greenlet bool   `json:"greenlet,omitempty"`
	// DB, UID, URL and the query counters are what Odoo knows of the
	// request the thread serves; empty when it printed "n/a".
	DB         string  `json:"db,omitempty"`
	UID        string  `json:"uid,omitempty"`
	URL        string  `json:"url,omitempty"`
	QueryCount string  `json:"query_count,omitempty"`
	QueryTime  string  `json:"query_time,omitempty"`
	PythonTime string  `json:"python_time,omitempty"`
	Frames     []Frame `json:"frames"`
}

var (
	threadRE = lazyre.New(`^# Thread: (.*?) \(db:([^)]*)\) \(uid:([^)]*)\) \(url:(.*)\) \(qc:(\S*) qt:(\S*) pt:(\S*)\)\s*$`)
	// An older dump (Odoo 12-14) has no query counters.
	threadOldRE = lazyre.New(`^# Thread: (.*?) \(db:([^)]*)\) \(uid:([^)]*)\) \(url:(.*)\)\s*$`)
	frameRE     = lazyre.New(`^File: "(.*)", line (\d+), in (.*)$`)
)

// Parse reads the threads of a dump out of lines, which may hold other
// log lines too (they are skipped) and several processes' dumps
// interleaved.
func Parse(lines []Line) []Thread {
	var out []Thread
	open := map[int]int{} // pid -> index in out of its current thread
	for _, l := range lines {
		text := strings.TrimRight(l.Text, "\r\n")
		body := stripPrefix(text)
		switch {
		case strings.HasPrefix(body, "# Thread: "):
			t := Thread{PID: l.PID}
			if m := threadRE.FindStringSubmatch(body); m != nil {
				t.Name, t.DB, t.UID, t.URL = m[1], na(m[2]), na(m[3]), na(m[4])
				t.QueryCount, t.QueryTime, t.PythonTime = na(m[5]), na(m[6]), na(m[7])
			} else if m := threadOldRE.FindStringSubmatch(body); m != nil {
				t.Name, t.DB, t.UID, t.URL = m[1], na(m[2]), na(m[3]), na(m[4])
			} else {
				t.Name = strings.TrimPrefix(body, "# Thread: ")
			}
			out = append(out, t)
			open[l.PID] = len(out) - 1
		case strings.HasPrefix(body, "# Greenlet: "):
			out = append(out, Thread{PID: l.PID, Greenlet: true, Name: strings.TrimPrefix(body, "# Greenlet: ")})
			open[l.PID] = len(out) - 1
		default:
			i, ok := open[l.PID]
			if !ok {
				continue
			}
			if m := frameRE.FindStringSubmatch(body); m != nil {
				n, _ := strconv.Atoi(m[2])
				out[i].Frames = append(out[i].Frames, Frame{File: m[1], Line: n, Func: m[3]})
				continue
			}
			fs := out[i].Frames
			if strings.HasPrefix(body, "  ") && len(fs) > 0 && fs[len(fs)-1].Code == "" {
				fs[len(fs)-1].Code = strings.TrimSpace(body)
				continue
			}
			if strings.TrimSpace(body) == "" {
				continue
			}
			// Another log line of that process: its dump is over.
			delete(open, l.PID)
		}
	}
	return out
}

// stripPrefix drops what a log file puts before the dump's text on the
// record's first line ("2024-… 1234 INFO ? odoo.tools.misc: "); a journal
// line holds the text alone.
func stripPrefix(s string) string {
	for _, mark := range []string{"# Thread: ", "# Greenlet: "} {
		if i := strings.Index(s, mark); i > 0 && strings.Contains(s[:i], "odoo.tools.misc") {
			return s[i:]
		}
	}
	return s
}

func na(s string) string {
	if s == "n/a" || s == "None" {
		return ""
	}
	return s
}

// Busy keeps the threads doing something: those whose innermost frames are
// not the server waiting for work (an accept, select or sleep loop, a
// thread pool's wait, gevent's hub). The dump's own frames (the signal
// handler) are left out first.
func Busy(threads []Thread) []Thread {
	var out []Thread
	for _, t := range threads {
		t.Frames = withoutDumper(t.Frames)
		if !t.Idle() {
			out = append(out, t)
		}
	}
	return out
}

// withoutDumper drops the innermost frames of the dump itself: the thread
// that ran the SIGQUIT handler shows dumpstacks (and, in a prefork master,
// the loop that dispatched the signal) on top of what it was doing.
func withoutDumper(fs []Frame) []Frame {
	for i, f := range fs {
		if f.Func == "dumpstacks" && strings.HasSuffix(f.File, "tools/misc.py") {
			fs = fs[:i]
			if i > 0 && fs[i-1].Func == "process_signals" {
				fs = fs[:i-1]
			}
			break
		}
	}
	return fs
}

// idleFrames are innermost frames of a thread waiting for work, by file
// suffix and function.
var idleFrames = map[string][]string{
	"odoo/service/server.py":        {"sleep", "run", "serve_forever", "cron_thread", "_accept", "accept", "process_spawn", "loop", "cron_spawn", "watchdog"},
	"selectors.py":                  {"select", "poll"},
	"socketserver.py":               {"serve_forever", "_handle_request_noblock"},
	"socket.py":                     {"accept"},
	"threading.py":                  {"wait", "_wait_for_tstate_lock", "join"},
	"queue.py":                      {"get"},
	"concurrent/futures/thread.py":  {"_worker"},
	"gevent/hub.py":                 {"run", "switch", "wait", "sleep"},
	"gevent/_hub_primitives.py":     {"wait", "wait_on_objects"},
	"gevent/baseserver.py":          {"serve_forever", "_do_read"},
	"gevent/pywsgi.py":              {"serve_forever"},
	"odoo/addons/bus/websocket.py":  {"_process_events", "loop"},
	"odoo/addons/bus/models/bus.py": {"loop", "run"},
	"werkzeug/serving.py":           {"serve_forever"},
}

// Idle says the thread waits for work: no request (no url), and its
// innermost frame is one of the server's waiting loops. A thread with no
// frame (a greenlet not started) is idle too.
func (t Thread) Idle() bool {
	if len(t.Frames) == 0 {
		return true
	}
	if t.URL != "" {
		return false
	}
	f := t.Frames[len(t.Frames)-1]
	for suffix, funcs := range idleFrames {
		if !strings.HasSuffix(f.File, "/"+suffix) && f.File != suffix {
			continue
		}
		for _, fn := range funcs {
			if f.Func == fn {
				return true
			}
		}
	}
	return false
}

// Innermost is up to n of the thread's innermost frames, innermost last.
func (t Thread) Innermost(n int) []Frame {
	if len(t.Frames) <= n {
		return t.Frames
	}
	return t.Frames[len(t.Frames)-n:]
}

// Summary is the thread on one line: "pid 380 Thread-12 (db prod, uid 7,
// url /web/dataset/call_kw, 12 queries in 0.034 s)".
func (t Thread) Summary() string {
	kind := "thread"
	if t.Greenlet {
		kind = "greenlet"
	}
	s := "pid " + strconv.Itoa(t.PID) + " " + kind + " " + shortName(t.Name)
	var facts []string
	add := func(k, v string) {
		if v != "" {
			facts = append(facts, k+" "+v)
		}
	}
	add("db", t.DB)
	add("uid", t.UID)
	add("url", t.URL)
	if t.QueryCount != "" {
		q := t.QueryCount + " queries"
		if t.QueryTime != "" {
			q += " in " + t.QueryTime + " s"
		}
		if t.PythonTime != "" {
			q += ", python " + t.PythonTime + " s"
		}
		facts = append(facts, q)
	}
	if len(facts) > 0 {
		s += " (" + strings.Join(facts, ", ") + ")"
	}
	return s
}

// shortName takes "MainThread" out of "<_MainThread(MainThread, started 1401…)>".
func shortName(repr string) string {
	s := strings.TrimPrefix(strings.TrimSuffix(repr, ">"), "<")
	if i := strings.Index(s, "("); i >= 0 {
		inner := s[i+1:]
		if j := strings.Index(inner, ", started"); j >= 0 {
			return inner[:j]
		}
		if j := strings.IndexAny(inner, ",)"); j >= 0 {
			return inner[:j]
		}
	}
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}
