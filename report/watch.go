package report

import (
	"fmt"
	"time"
)

// CauseDegraded is the cause of a unit that runs and answers but logs
// Odoo's limit events: workers killed past limit_time_real, memory
// limits, the kernel's OOM killer, bursts of failed requests (odoo-notify
// watch).
const CauseDegraded = "degraded"

// Hang is what a hang report knows of the hang, for a receiver that reads
// it rather than the lines (JSON "hang").
type Hang struct {
	// URL is the health URL probed.
	URL string `json:"url"`
	// Probes are the recent probes, oldest first.
	Probes []Probe `json:"probes"`
	// Action is on_hang: "restart" or "report".
	Action string `json:"action"`
	// Stopped says the hung run stopped within the watcher's wait (on
	// restart), StopTookMS how long that took.
	Stopped    bool  `json:"stopped"`
	StopTookMS int64 `json:"stop_took_ms,omitempty"`
	// Done is what the watcher did, in order, for a person.
	Done []string `json:"done,omitempty"`
	// DumpedThreads counts every thread of the stack dump, Processes the
	// processes that dumped; Threads are the busy ones.
	DumpedThreads int      `json:"dumped_threads"`
	Processes     int      `json:"processes"`
	DumpProblem   string   `json:"dump_problem,omitempty"`
	Threads       []Thread `json:"threads,omitempty"`
}

// Probe is one health probe.
type Probe struct {
	Time time.Time `json:"time"`
	OK   bool      `json:"ok"`
	// Status is the HTTP status, 0 with no answer.
	Status int `json:"status,omitempty"`
	// Error is how it failed: "timeout after 5s", "connection refused".
	Error  string `json:"error,omitempty"`
	TookMS int64  `json:"took_ms"`
	// Body is the start of the answer's body.
	Body string `json:"body,omitempty"`
}

// Thread is one busy thread of a hung Odoo's stack dump.
type Thread struct {
	PID int `json:"pid"`
	// Thread is Python's repr of the thread (or greenlet).
	Thread string `json:"thread"`
	// DB, UID, URL and the query counters are what Odoo printed of the
	// request the thread serves.
	DB         string  `json:"db,omitempty"`
	UID        string  `json:"uid,omitempty"`
	URL        string  `json:"url,omitempty"`
	QueryCount string  `json:"query_count,omitempty"`
	QueryTime  string  `json:"query_time,omitempty"`
	PythonTime string  `json:"python_time,omitempty"`
	Frames     []Frame `json:"frames"`
}

// Frame is one stack frame, innermost last.
type Frame struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Func string `json:"func"`
	Code string `json:"code,omitempty"`
}

// Degraded is what a degraded report knows of the spell (JSON
// "degraded").
type Degraded struct {
	// State is "opened", "updated" or "resolved".
	State string `json:"state"`
	// Since is the spell's first event.
	Since time.Time `json:"since"`
	// Kind is the spell's main kind: time-real, time-cpu, memory-hard,
	// memory-soft, oom-kill, request-errors.
	Kind string `json:"kind"`
	// Summary is the spell in one line: "12 worker timeouts in 10 min
	// (limit_time_real = 120); last: POST /web/..., db prod".
	Summary string `json:"summary"`
	// Counts are the spell's events per kind.
	Counts []DegradedCount `json:"counts"`
	// Examples are the newest events' lines, newest last.
	Examples []string `json:"examples,omitempty"`
	// LastRequest is the newest event's request that is known: "POST
	// /web/dataset/call_kw/sale.order/action_confirm, db prod, uid 7".
	LastRequest string `json:"last_request,omitempty"`
	// New, on an update, is what came since the spell's previous notice,
	// in Summary's words: "1 worker recycled past limit_memory_soft
	// (...); last: GET /web/..., db prod".
	New string `json:"new,omitempty"`
}

// Fresh is what a degraded update adds to its spell since the previous
// notice; "" for any other report.
func (r *Report) Fresh() string {
	if r.Cause != CauseDegraded || r.Degraded == nil || r.Event != EventUpdate {
		return ""
	}
	return r.Degraded.New
}

// WatcherHeading names the lines of a report of odoo-notify watch, which
// are not the log lines of a failed run: a hang's probes and stack dump,
// a degraded spell's counts and events. "" for any other report.
func (r *Report) WatcherHeading() string {
	switch {
	case r.Cause == CauseHang:
		return "What the watcher saw: its probes, what it did, and the busy threads of the stack dump:"
	case r.Cause == CauseDegraded && r.Degraded != nil:
		switch n := len(r.Degraded.Examples); {
		case n == 1:
			return fmt.Sprintf("The spell's events by kind (in all, new since the last notice), then the last one as %s logged it before this notice:", r.Unit)
		case n > 1:
			return fmt.Sprintf("The spell's events by kind (in all, new since the last notice), then the last %d as %s logged them before this notice:", n, r.Unit)
		}
		return "The spell's events by kind (in all, new since the last notice):"
	}
	return ""
}

// DegradedCount is how many events of a kind a spell holds: N in all, New
// since the spell's previous notice.
type DegradedCount struct {
	Kind  string    `json:"kind"`
	N     int       `json:"n"`
	New   int       `json:"new"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}
