// Package degraded hears the trouble that never fails a unit: in the lines a
// watched Odoo unit logs, it recognises Odoo's own limit events (a worker
// killed past limit_time_real, a request stopped at limit_time_cpu, a
// worker recycled past limit_memory_soft, a MemoryError from
// limit_memory_hard, the threaded server reloading itself), the kernel's
// OOM killer killing one of the unit's processes while the unit lives on,
// and bursts of failed requests, and decides when they make a degraded
// spell: opened, updated at most once per window, resolved after a quiet
// window.
//
// It does no I/O and reads no clock: the watcher feeds it the unit's
// journal lines (and Odoo's log file lines) with their times, and calls
// Tick as time passes. Every decision is a function of what it was fed.
package degraded

import (
	"strings"
	"time"
)

// Line is one line the watched unit logged, or one kernel line.
type Line struct {
	// Time is when it was logged (the journal's __REALTIME_TIMESTAMP);
	// when zero, the time Odoo wrote at the start of its record is used.
	Time time.Time
	// Message is the line; one holding several lines (a record with its
	// traceback, as Odoo's log file has it) is read line by line.
	Message string
	// Kernel says the line came from the kernel (_TRANSPORT=kernel): only
	// kernel lines are read for OOM kills.
	Kernel bool
}

// Limits are odoo.conf's values, for the notice's text and hints; zero
// when odoo.conf does not set them (Odoo's defaults are then in force).
type Limits struct {
	TimeReal   int    // limit_time_real, seconds
	TimeCPU    int    // limit_time_cpu, seconds
	MemorySoft uint64 // limit_memory_soft, bytes
	MemoryHard uint64 // limit_memory_hard, bytes
	Workers    int    // workers; 0 is the threaded server
}

// Options configure a Detector.
type Options struct {
	// Unit is the watched unit, "odoo.service": the kernel's OOM lines
	// that name its cgroup count even for a pid the Detector never saw.
	Unit string
	// Window is degraded_window: at most one notice per Window, and a
	// spell is resolved after a Window without events. Default 15m.
	Window time.Duration
	// ErrorsPerWindow: more failed requests than this within Window open
	// a spell. Default 10.
	ErrorsPerWindow int
	Limits          Limits
}

// Defaults for Options.
const (
	DefaultWindow          = 15 * time.Minute
	DefaultErrorsPerWindow = 10
)

const (
	// followUp is how long an event waits for the line that names its
	// request (werkzeug logs the answer right after the error).
	followUp = 5 * time.Second
	// dumpWait is how long a threaded time limit waits for the stack dump
	// that names its request: the server waits up to a minute for the
	// other requests before dumping (ThreadedServer.run).
	dumpWait = 2 * time.Minute
	// maxPIDs bounds the processes remembered.
	maxPIDs = 4096
	// maxExamples is how many example lines a notice carries.
	maxExamples = 5
)

// Detector follows one unit's lines. It is not safe for concurrent use.
type Detector struct {
	opt Options

	mainPID int
	// pids are the unit's processes: given by Processes, or seen logging
	// an Odoo record; with when they were last seen.
	pids map[int]time.Time
	// lastReq is the last request each process answered.
	lastReq map[int]Request
	// memcg is the cgroup the kernel's oom-kill line named for a pid.
	memcg map[int]string

	// cur is the record continuation lines belong to.
	cur current
	// pending events wait for the line that names their request.
	pending []pendingEvent
	// threads are the threaded server's threads already counted past
	// limit_time_real: it repeats the line every second until it reloads.
	threads map[string]bool
	// killed are the workers already counted as timed out: the master
	// logs the timeout of a worker again until it has reaped it.
	killed map[int]time.Time
	// cpu are the workers already counted past limit_time_cpu.
	cpu map[int]time.Time
	// dumpFor is set after "Dumping stacktrace of limit exceeding
	// threads": the next stack dump names their requests.
	dumpFor bool
	// errTimes are the times of the last ErrorsPerWindow+1 request errors.
	errTimes []time.Time
	// held are request errors not (yet) a burst, kept for the spell a
	// burst opens.
	held []Event
	// now is the latest time the lines or Tick gave.
	now time.Time

	sp *spell
}

// current is the record being read: continuation lines are its traceback
// or its stack dump.
type current struct {
	rec       record
	active    bool
	reqError  bool // "Exception during request handling"
	traceback bool // a "Traceback (most recent call last):" line came
	indented  bool // the last line was a frame or its source
	exception string
	dump      bool // an odoo.tools.misc stack dump
}

type pendingEvent struct {
	ev       Event
	deadline time.Time
	// wantNext: the request is the next one werkzeug logs for the pid.
	wantNext bool
	// wantDump: the request comes from the stack dump (threaded).
	wantDump bool
	thread   string
}

// New returns a Detector for one unit.
func New(o Options) *Detector {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.ErrorsPerWindow <= 0 {
		o.ErrorsPerWindow = DefaultErrorsPerWindow
	}
	return &Detector{
		opt:     o,
		pids:    map[int]time.Time{},
		lastReq: map[int]Request{},
		memcg:   map[int]string{},
		threads: map[string]bool{},
		killed:  map[int]time.Time{},
		cpu:     map[int]time.Time{},
	}
}

// Processes tells the Detector the unit's processes (its cgroup's pids) and
// its main pid at now. A process stays known for two windows after it was
// last seen, so the kernel's line about a process it already killed still
// counts. An OOM kill of the main process is no degraded spell: it fails
// the unit, and the unit's failure is reported as a crash.
func (d *Detector) Processes(now time.Time, main int, pids []int) {
	d.mainPID = main
	if main > 0 {
		d.seen(main, now)
	}
	for _, p := range pids {
		d.seen(p, now)
	}
}

func (d *Detector) seen(pid int, t time.Time) {
	if _, ok := d.pids[pid]; !ok && len(d.pids) >= maxPIDs {
		d.forgetPIDs(t)
	}
	d.pids[pid] = t
}

func (d *Detector) forgetPIDs(now time.Time) {
	for p, at := range d.pids {
		if now.Sub(at) > 2*d.opt.Window {
			delete(d.pids, p)
			delete(d.lastReq, p)
		}
	}
	if len(d.pids) >= maxPIDs {
		// Still full: what is left is recent; start over rather than grow.
		clear(d.pids)
		clear(d.lastReq)
	}
}

// Line reads one line and returns the notices it (or the time it carries)
// decided.
func (d *Detector) Line(l Line) []Notice {
	var out []Notice
	msg := l.Message
	for {
		piece, rest, more := strings.Cut(msg, "\n")
		out = d.piece(strings.TrimRight(piece, "\r"), l, out)
		if !more {
			break
		}
		msg = rest
	}
	return out
}

// Tick lets time pass: events that waited for their request are counted,
// and a spell's update or resolution that is due is returned.
func (d *Detector) Tick(now time.Time) []Notice {
	return d.advance(now, nil)
}

func (d *Detector) piece(s string, l Line, out []Notice) []Notice {
	if l.Kernel {
		t := l.Time
		if !t.IsZero() {
			out = d.advance(t, out)
		}
		return d.kernel(s, t, out)
	}
	r, ok := parseRecord(s)
	if !ok {
		if d.cur.active {
			out = d.continuation(s, out)
		}
		if !l.Time.IsZero() {
			out = d.advance(l.Time, out)
		}
		return out
	}
	if !l.Time.IsZero() {
		r.time = l.Time
	}
	out = d.endRecord(out)
	out = d.advance(r.time, out)
	d.seen(r.pid, r.time)

	switch r.logger {
	case "werkzeug":
		if strings.HasPrefix(r.msg, "Error on request") {
			// Odoo 12 to 15 leave an http route's error to werkzeug.
			d.cur = current{rec: r, active: true, reqError: true}
			d.cur.rec.msg = oneLine(s, maxLine)
			return out
		}
		if req, ok := werkzeugRequest(r.msg, r.db); ok {
			if len(d.lastReq) >= maxPIDs {
				clear(d.lastReq)
			}
			d.lastReq[r.pid] = req
			out = d.answered(r.pid, req, out)
		}
		return out
	case "odoo.service.server", "openerp.service.server":
		if e, ok := limitEvent(r); ok {
			e.Line = oneLine(s, maxLine)
			return d.limit(e, out)
		}
		if strings.HasPrefix(r.msg, "Dumping stacktrace of limit exceeding threads") {
			d.dumpFor = true
		}
		if strings.HasPrefix(r.msg, "Initiating server reload") || strings.HasPrefix(r.msg, "Initiating shutdown") {
			// The threaded server goes: its threads are new after it.
			clear(d.threads)
		}
	case "odoo.tools.misc", "openerp.tools.misc":
		d.cur = current{rec: r, active: true, dump: true}
		return out
	case "odoo.http", "openerp.http":
		if strings.HasPrefix(r.msg, "Exception during request handling") || strings.HasPrefix(r.msg, "Exception during JSON request handling") {
			d.cur = current{rec: r, active: true, reqError: true}
			d.cur.rec.msg = oneLine(s, maxLine)
			return out
		}
	}
	if r.level == "ERROR" || r.level == "CRITICAL" || r.level == "WARNING" {
		// A traceback may follow: a MemoryError in a cron job is one too.
		d.cur = current{rec: r, active: true}
		d.cur.rec.msg = oneLine(s, maxLine)
	}
	return out
}

// continuation reads a line of the current record's traceback or dump.
func (d *Detector) continuation(s string, out []Notice) []Notice {
	c := &d.cur
	if c.dump {
		if thread, req, ok := dumpThread(s); ok && d.dumpFor {
			d.dumped(thread, req)
		}
		return out
	}
	if strings.HasPrefix(s, "Traceback (most recent call last):") {
		c.traceback, c.indented = true, false
		return out
	}
	if !c.traceback || s == "" {
		return out
	}
	// The exception is the first line after the frames that is not
	// indented (a chained traceback starts over with its own); lines after
	// it are its message's. Pastes that lost the indentation still show it
	// by its name.
	trim := strings.TrimLeft(s, " \t")
	indented := len(trim) < len(s)
	switch {
	case strings.HasPrefix(trim, "File \""), strings.HasPrefix(trim, "During handling"),
		strings.HasPrefix(trim, "The above exception"), strings.HasPrefix(trim, "^"), strings.HasPrefix(trim, "~"):
		c.indented = true
	case !indented && c.indented, isException(trim):
		c.exception = oneLine(trim, 200)
		c.indented = false
	default:
		c.indented = indented
	}
	return out
}

// isException says a line indented deeper than a frame's source still reads
// as an exception line ("Exception: CPU time limit exceeded." as some
// pastes indent it).
func isException(s string) bool {
	i := strings.IndexAny(s, ": ")
	if i <= 0 {
		return s == "MemoryError"
	}
	name := s[:i]
	return (strings.HasSuffix(name, "Error") || strings.HasSuffix(name, "Exception") || name == "Exception") && (i == len(s) || s[i] == ':')
}

// endRecord finishes the current record: a request error or a MemoryError
// is known once its traceback is complete.
func (d *Detector) endRecord(out []Notice) []Notice {
	c := d.cur
	d.cur = current{}
	if c.dump {
		// The stack dump after "Dumping stacktrace of limit exceeding
		// threads" is over; a later one (SIGQUIT) names no limit's request.
		d.dumpFor = false
		return out
	}
	if !c.active {
		return out
	}
	exc := c.exception
	switch {
	case strings.HasPrefix(exc, "MemoryError"):
		e := Event{Time: c.rec.time, Kind: MemoryHard, PID: c.rec.pid, Exception: exc, Line: c.rec.msg}
		e.Request.DB = dbName(c.rec.db)
		return d.commitOrWait(pendingEvent{ev: e, wantNext: c.reqError}, out)
	case c.reqError && strings.Contains(exc, "CPU time limit exceeded"):
		// The CPU limit's own line was counted; this error is its request.
		for i := range d.pending {
			p := &d.pending[i]
			if p.ev.Kind == TimeCPU && p.ev.PID == c.rec.pid {
				p.ev.Exception = exc
			}
		}
		return out
	case strings.Contains(exc, "CPU time limit exceeded"):
		// The worker itself died of it: "Worker (47) Exception occured,
		// exiting..." (occurred since Odoo 13). Odoo 18 serves a request in
		// a thread, so SIGXCPU lands in the worker's main thread: its "CPU
		// time limit (3) reached." line came first and was counted.
		pid := c.rec.pid
		if rest, ok := strings.CutPrefix(c.rec.msg[strings.Index(c.rec.msg, ": ")+2:], "Worker "); ok {
			if p, _, ok := parenInt(rest); ok {
				pid = p
			}
		}
		if at, ok := d.cpu[pid]; ok && c.rec.time.Sub(at) < time.Minute {
			return out
		}
		e := Event{Time: c.rec.time, Kind: TimeCPU, PID: pid, Exception: exc, Line: c.rec.msg}
		return d.commit(e, out)
	case c.reqError:
		e := Event{Time: c.rec.time, Kind: RequestErrors, PID: c.rec.pid, Exception: exc, Line: c.rec.msg}
		e.Request.DB = dbName(c.rec.db)
		return d.commitOrWait(pendingEvent{ev: e, wantNext: true}, out)
	}
	return out
}

// limit takes an event of odoo.service.server.
func (d *Detector) limit(e Event, out []Notice) []Notice {
	switch {
	case e.Kind == TimeReal && e.Threaded:
		th := e.thread
		if th != "" {
			if d.threads[th] {
				return out
			}
			if len(d.threads) > 1024 {
				clear(d.threads)
			}
			d.threads[th] = true
		}
		return d.commitOrWait(pendingEvent{ev: e, wantDump: true, thread: th}, out)
	case e.Kind == MemorySoft && e.Threaded:
		// Repeated every second, like the time limit, until the reload.
		if d.threads["<memory>"] {
			return out
		}
		d.threads["<memory>"] = true
		return d.commitOrWait(pendingEvent{ev: e, wantDump: true, thread: "<_MainThread("}, out)
	case e.Kind == MemorySoft && e.Worker == "":
		// Odoo checks a worker's memory after its request: that request
		// grew it.
		if r, ok := d.lastReq[e.PID]; ok {
			e.Request = r
		}
		return d.commit(e, out)
	case e.Kind == TimeReal:
		if at, ok := d.killed[e.PID]; ok && e.Time.Sub(at) < time.Minute {
			return out
		}
		if len(d.killed) >= 256 {
			clear(d.killed)
		}
		d.killed[e.PID] = e.Time
	case e.Kind == TimeCPU:
		if len(d.cpu) >= 256 {
			clear(d.cpu)
		}
		d.cpu[e.PID] = e.Time
		// The request's error and werkzeug's answer follow.
		return d.commitOrWait(pendingEvent{ev: e, wantNext: true}, out)
	}
	// A worker killed past limit_time_real logs nothing of its request.
	return d.commit(e, out)
}

// answered gives a waiting event of pid the request werkzeug just logged.
func (d *Detector) answered(pid int, req Request, out []Notice) []Notice {
	for i := 0; i < len(d.pending); i++ {
		p := d.pending[i]
		if !p.wantNext || p.ev.PID != pid {
			continue
		}
		if p.ev.Request.DB != "" && req.DB == "" {
			req.DB = p.ev.Request.DB
		}
		p.ev.Request = req
		d.pending = append(d.pending[:i], d.pending[i+1:]...)
		i--
		out = d.commit(p.ev, out)
	}
	return out
}

// dumped gives the waiting threaded events the request their thread served.
func (d *Detector) dumped(thread string, req Request) {
	for i := range d.pending {
		p := &d.pending[i]
		if !p.wantDump || p.ev.Request.known() {
			continue
		}
		if p.thread == thread || (strings.HasPrefix(p.thread, "<_MainThread(") && strings.HasPrefix(thread, "<_MainThread(")) {
			p.ev.Request = req
			p.deadline = time.Time{} // complete: counted on the next advance
		}
	}
}

func (d *Detector) commitOrWait(p pendingEvent, out []Notice) []Notice {
	wait := followUp
	if p.wantDump {
		wait = dumpWait
	}
	p.deadline = p.ev.Time.Add(wait)
	if len(d.pending) >= 256 {
		// Nothing answers them: count the oldest as they are.
		out = d.commit(d.pending[0].ev, out)
		d.pending = d.pending[1:]
	}
	d.pending = append(d.pending, p)
	return out
}

// kernel reads a kernel line for an OOM kill of one of the unit's
// processes.
func (d *Detector) kernel(s string, t time.Time, out []Notice) []Notice {
	if !strings.Contains(s, "ill") {
		return out
	}
	pid, process, memcg, ok := kernelOOM(s)
	if !ok {
		return out
	}
	if process == "" {
		// the oom-kill: line comes before the Killed process line
		if len(d.memcg) > 64 {
			clear(d.memcg)
		}
		d.memcg[pid] = memcg
		return out
	}
	cg, named := d.memcg[pid]
	delete(d.memcg, pid)
	_, known := d.pids[pid]
	ours := known
	if named && d.opt.Unit != "" {
		ours = ours || strings.HasSuffix(cg, "/"+d.opt.Unit) || strings.Contains(cg, "/"+d.opt.Unit+"/")
	}
	if !ours || pid == d.mainPID {
		return out
	}
	if t.IsZero() {
		t = d.now
	}
	e := Event{Time: t, Kind: OOMKill, PID: pid, Process: process, Line: oneLine(s, maxLine)}
	return d.commit(e, out)
}

// advance moves the clock: waiting events whose time is up are counted,
// then a due update or resolution is returned.
func (d *Detector) advance(now time.Time, out []Notice) []Notice {
	if now.After(d.now) {
		d.now = now
	}
	now = d.now
	if d.cur.active && now.Sub(d.cur.rec.time) > followUp {
		// A record's lines come in one write: one this old is complete.
		out = d.endRecord(out)
	}
	for i := 0; i < len(d.pending); i++ {
		p := d.pending[i]
		if !p.deadline.IsZero() && now.Before(p.deadline) {
			continue
		}
		d.pending = append(d.pending[:i], d.pending[i+1:]...)
		i--
		out = d.commit(p.ev, out)
	}
	if d.sp != nil {
		out = d.sp.due(now, d, out)
	}
	return out
}

// commit counts an event and returns the notice it decides, if any.
func (d *Detector) commit(e Event, out []Notice) []Notice {
	if e.Time.IsZero() {
		e.Time = d.now
	}
	active := true
	if e.Kind == RequestErrors {
		// Only a burst counts: more than ErrorsPerWindow in the window.
		d.errTimes = append(d.errTimes, e.Time)
		if n := d.opt.ErrorsPerWindow + 1; len(d.errTimes) > n {
			d.errTimes = append(d.errTimes[:0], d.errTimes[len(d.errTimes)-n:]...)
		}
		active = len(d.errTimes) > d.opt.ErrorsPerWindow && e.Time.Sub(d.errTimes[0]) <= d.opt.Window
	}
	if d.sp == nil {
		if !active {
			d.held = append(d.held, e)
			if len(d.held) > d.opt.ErrorsPerWindow {
				d.held = d.held[len(d.held)-d.opt.ErrorsPerWindow:]
			}
			return out
		}
		d.sp = newSpell(e.Time)
		for _, h := range d.held {
			if e.Time.Sub(h.Time) <= d.opt.Window {
				d.sp.add(h, false)
			}
		}
		d.held = d.held[:0]
		d.sp.add(e, true)
		return append(out, d.sp.notice(Opened, e.Time, d))
	}
	d.sp.add(e, active)
	return d.sp.due(e.Time, d, out)
}
