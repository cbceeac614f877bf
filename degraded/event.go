package degraded

import (
	"strconv"
	"strings"
	"time"
)

// Kind is the limit an event hit.
type Kind string

// The kinds, in the order a notice lists them.
const (
	// TimeReal: a request (or cron job) ran past limit_time_real. Prefork
	// mode kills the worker ("WorkerHTTP (380) timeout after 120s");
	// threaded mode dumps the stacks and reloads the whole server.
	TimeReal Kind = "time-real"
	// TimeCPU: a request used limit_time_cpu of CPU and was stopped.
	TimeCPU Kind = "time-cpu"
	// MemoryHard: a MemoryError, what limit_memory_hard turns into.
	MemoryHard Kind = "memory-hard"
	// MemorySoft: a worker recycled (threaded: the server reloaded) past
	// limit_memory_soft.
	MemorySoft Kind = "memory-soft"
	// OOMKill: the kernel's OOM killer killed a process of the unit, and
	// the unit lives on.
	OOMKill Kind = "oom-kill"
	// RequestErrors: requests that failed with an exception ("Exception
	// during request handling"); a spell only when more than
	// Options.ErrorsPerWindow come within the window.
	RequestErrors Kind = "request-errors"
)

var kinds = [...]Kind{TimeReal, TimeCPU, MemoryHard, MemorySoft, OOMKill, RequestErrors}

func kindIndex(k Kind) int {
	for i, x := range kinds {
		if x == k {
			return i
		}
	}
	return -1
}

// Event is one limit event recognised in the lines.
type Event struct {
	Time time.Time
	Kind Kind
	// PID is the process the event is about: the worker killed or
	// recycled, the process that logged the error.
	PID int
	// Worker is "WorkerHTTP" or "WorkerCron" for a prefork worker timeout,
	// "gevent" for the gevent (websocket) process, "" otherwise.
	Worker string
	// Threaded says the event came from Odoo's threaded server
	// (workers = 0), which reloads itself instead of replacing a worker.
	Threaded bool
	// Limit is the limit as Odoo printed it ("120" seconds, "60" CPU
	// seconds), when the line holds it.
	Limit string
	// Value is what Odoo measured: the request's seconds for a threaded
	// time limit, the process's memory in bytes for a memory limit.
	Value string
	// Exception is the traceback's last line: "MemoryError",
	// "ValueError: ..." for a request error.
	Exception string
	// Process is the kernel's "1234 (python3)" for an OOM kill.
	Process string
	Request Request
	// Line is the line that showed it, on one line, bounded.
	Line string

	// thread is the threaded server's thread past its time limit.
	thread string
}

// maxLine bounds Event.Line.
const maxLine = 300

// limitEvent recognises the limit lines of Odoo's odoo.service.server
// logger (openerp.service.server before Odoo 10) in Odoo 12 to 18. The
// wording is the one of odoo/service/server.py:
//
//	PreforkServer.process_timeout: "%s (%s) timeout after %ss" (ERROR)
//	Worker.signal_time_expired_handler: "Worker (%d) CPU time limit (%s) reached." (INFO)
//	Worker.check_limits: "Worker (%d) virtual memory limit (%s) reached." (INFO)
//	ThreadedServer.process_limit: "Thread %s virtual real time limit (%d/%ds) reached." (INFO in 12, WARNING later)
//	ThreadedServer.process_limit: "Server virtual memory limit (%s) reached." (12 to 15),
//	  "Server memory limit (%s) reached." (16 and later)
//	GeventServer.process_limits: "Gevent virtual memory limit reached: %s" (16 and later),
//	  "LongPolling virtual memory limit reached: %s" (before)
func limitEvent(r record) (Event, bool) {
	m := r.msg
	e := Event{Time: r.time, PID: r.pid}
	switch {
	case strings.HasPrefix(m, "Worker"):
		// "WorkerHTTP (380) timeout after 120s", "WorkerCron (905) timeout after 120s"
		if w, rest, ok := strings.Cut(m, " "); ok && (w == "WorkerHTTP" || w == "WorkerCron") {
			pid, rest, ok := parenInt(rest)
			if s, ok2 := strings.CutPrefix(rest, " timeout after "); ok && ok2 {
				e.Kind, e.Worker, e.PID = TimeReal, w, pid
				e.Limit = strings.TrimRight(strings.TrimSpace(s), "s")
				return e, true
			}
			return e, false
		}
		rest, ok := strings.CutPrefix(m, "Worker ")
		if !ok {
			return e, false
		}
		pid, rest, ok := parenInt(rest)
		if !ok {
			return e, false
		}
		e.PID = pid
		if s, ok := strings.CutPrefix(rest, " CPU time limit "); ok {
			if v, _, ok := parenInt(s); ok {
				e.Kind, e.Limit = TimeCPU, strconv.Itoa(v)
				return e, true
			}
		}
		if s, ok := strings.CutPrefix(rest, " virtual memory limit "); ok {
			if v, _, ok := parenInt(s); ok {
				e.Kind, e.Value = MemorySoft, strconv.Itoa(v)
				return e, true
			}
		}
	case strings.HasPrefix(m, "Thread "):
		// "Thread <Thread(odoo.service.http.request.1400, started 1400)> virtual real time limit (169/120s) reached."
		i := strings.Index(m, " virtual real time limit (")
		if i < 0 {
			return e, false
		}
		s := m[i+len(" virtual real time limit ("):]
		j := strings.IndexByte(s, ')')
		if j < 0 {
			return e, false
		}
		v, l, ok := strings.Cut(s[:j], "/")
		if !ok {
			return e, false
		}
		e.Kind, e.Threaded, e.Value, e.Limit = TimeReal, true, v, strings.TrimRight(l, "s")
		e.thread = threadName(m)
		return e, true
	case strings.HasPrefix(m, "Server virtual memory limit ") || strings.HasPrefix(m, "Server memory limit "):
		s := m[strings.Index(m, "limit ")+len("limit "):]
		if v, _, ok := parenInt(s); ok {
			e.Kind, e.Threaded, e.Value = MemorySoft, true, strconv.Itoa(v)
			return e, true
		}
	case strings.HasPrefix(m, "Gevent virtual memory limit reached: ") || strings.HasPrefix(m, "LongPolling virtual memory limit reached: "):
		v := strings.TrimSpace(m[strings.Index(m, ": ")+2:])
		if isDigits(v) {
			e.Kind, e.Worker, e.Value = MemorySoft, "gevent", v
			return e, true
		}
	}
	return e, false
}

// kernelOOM reads the kernel's OOM lines (mm/oom_kill.c):
//
//	"Out of memory: Killed process 1234 (python3) total-vm:..kB, anon-rss:..kB, ..." (4.x and later)
//	"Memory cgroup out of memory: Killed process 1234 (python3) ..." (a cgroup's limit)
//	"Out of memory: Kill process 1234 (python3) score 900 or sacrifice child" (before 4.x)
//	"Killed process 1234, UID 500, (python3) total-vm:..kB, ..." (2.6.32)
//	"oom-kill:constraint=CONSTRAINT_MEMCG,...,oom_memcg=/system.slice/odoo.service,task_memcg=/system.slice/odoo.service,task=python3,pid=1234,uid=105"
//
// It returns the killed pid and "1234 (python3)", or for an oom-kill
// line the pid and the task's cgroup.
func kernelOOM(s string) (pid int, process, memcg string, ok bool) {
	if i := strings.Index(s, "oom-kill:"); i >= 0 {
		s = s[i:]
		cg := ""
		if j := strings.Index(s, "task_memcg="); j >= 0 {
			cg = s[j+len("task_memcg="):]
			if k := strings.IndexByte(cg, ','); k >= 0 {
				cg = cg[:k]
			}
		}
		j := strings.Index(s, ",pid=")
		if j < 0 {
			return 0, "", "", false
		}
		v := s[j+len(",pid="):]
		if k := strings.IndexByte(v, ','); k >= 0 {
			v = v[:k]
		}
		pid, err := strconv.Atoi(v)
		if err != nil {
			return 0, "", "", false
		}
		return pid, "", cg, true
	}
	i := strings.Index(s, "Kill process ")
	n := len("Kill process ")
	if i < 0 {
		i, n = strings.Index(s, "Killed process "), len("Killed process ")
	}
	if i < 0 {
		return 0, "", "", false
	}
	s = s[i+n:]
	j := 0
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	pid, err := strconv.Atoi(s[:j])
	if err != nil {
		return 0, "", "", false
	}
	name := ""
	if a := strings.IndexByte(s, '('); a >= 0 {
		if b := strings.IndexByte(s[a:], ')'); b > 0 {
			name = s[a+1 : a+b]
		}
	}
	process = strconv.Itoa(pid)
	if name != "" {
		process += " (" + name + ")"
	}
	return pid, process, "", true
}
