package degraded

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// State is what a notice does to the unit's degraded incident.
type State string

const (
	Opened   State = "opened"
	Updated  State = "updated"
	Resolved State = "resolved"
)

// Notice is one decision to tell a person: a degraded spell opened, grew,
// or ended.
type Notice struct {
	State State
	// Time is the time of the line or Tick that decided it.
	Time time.Time
	// Since is when the spell's first event happened.
	Since time.Time
	// Kind is the spell's main kind: the one with the most events, the
	// first in the Kind order on a tie.
	Kind Kind
	// Summary is one line for a subject: `12 worker timeouts in 10 min
	// (limit_time_real = 120); last: POST /web/dataset/call_kw/sale.order/action_confirm, db prod`.
	Summary string
	// Counts are the spell's events per kind, in Kind order.
	Counts []Count
	// Examples are the newest events' lines, newest last.
	Examples []string
	// Hints say what to change, with odoo.conf's values.
	Hints []string
	// Last is the request of the newest event that named one.
	Last Request
	// New, on an update, is what came since the previous notice, in the
	// words of Summary: "3 worker timeouts (limit_time_real = 120); last:
	// POST /web/..., db prod".
	New string
}

// Count is how many events of a kind the spell holds.
type Count struct {
	Kind Kind
	// N is every event of the spell; New those since the previous notice.
	N, New      int
	First, Last time.Time
}

// spell is an open degraded spell.
type spell struct {
	since      time.Time
	lastActive time.Time
	lastNotice time.Time
	fresh      int
	tally      [len(kinds)]tally
	examples   []string
	last       Request
	// lastFresh is last, when an event since the previous notice named it.
	lastFresh Request
}

type tally struct {
	n, new      int
	first, last time.Time
	// what the lines said, for the text
	limit                               string
	value                               string
	cron, http, threaded, gevent, other int
	process                             string
	exceptions                          map[string]int
}

func newSpell(t time.Time) *spell { return &spell{since: t, lastActive: t} }

func (s *spell) add(e Event, active bool) {
	i := kindIndex(e.Kind)
	if i < 0 {
		return
	}
	t := &s.tally[i]
	t.n++
	t.new++
	s.fresh++
	if t.first.IsZero() || e.Time.Before(t.first) {
		t.first = e.Time
	}
	if e.Time.After(t.last) {
		t.last = e.Time
	}
	if e.Limit != "" {
		t.limit = e.Limit
	}
	if e.Value != "" {
		t.value = e.Value
	}
	switch {
	case e.Threaded:
		t.threaded++
	case e.Worker == "WorkerCron":
		t.cron++
	case e.Worker == "WorkerHTTP":
		t.http++
	case e.Worker == "gevent":
		t.gevent++
	default:
		t.other++
	}
	if e.Process != "" {
		t.process = e.Process
	}
	if e.Exception != "" {
		if t.exceptions == nil {
			t.exceptions = map[string]int{}
		}
		if _, ok := t.exceptions[e.Exception]; ok || len(t.exceptions) < 32 {
			t.exceptions[e.Exception]++
		}
	}
	if active && e.Time.After(s.lastActive) {
		s.lastActive = e.Time
	}
	if e.Request.known() {
		s.last, s.lastFresh = e.Request, e.Request
	}
	if e.Line != "" {
		s.examples = append(s.examples, e.Line)
		if len(s.examples) > maxExamples {
			s.examples = s.examples[len(s.examples)-maxExamples:]
		}
	}
}

// due returns the update or resolution that is due at now: at most one
// notice per window; resolved after a window without events.
func (s *spell) due(now time.Time, d *Detector, out []Notice) []Notice {
	w := d.opt.Window
	if now.Sub(s.lastNotice) < w {
		return out
	}
	if now.Sub(s.lastActive) >= w {
		n := s.notice(Resolved, now, d)
		d.sp = nil
		return append(out, n)
	}
	if s.fresh > 0 {
		return append(out, s.notice(Updated, now, d))
	}
	return out
}

func (s *spell) notice(st State, now time.Time, d *Detector) Notice {
	n := Notice{State: st, Time: now, Since: s.since, Last: s.last}
	best := -1
	var parts, fresh []string
	for i := range s.tally {
		t := &s.tally[i]
		if t.n == 0 {
			continue
		}
		n.Counts = append(n.Counts, Count{Kind: kinds[i], N: t.n, New: t.new, First: t.first, Last: t.last})
		if best < 0 || t.n > s.tally[best].n {
			best = i
		}
		parts = append(parts, t.phrase(kinds[i], d.opt))
		if t.new > 0 {
			fresh = append(fresh, t.describe(kinds[i], d.opt, t.new, false))
		}
	}
	if st == Updated {
		n.New = strings.Join(fresh, ", ")
		if s.lastFresh.known() {
			n.New += "; last: " + s.lastFresh.String()
		}
	}
	s.lastFresh = Request{}
	if best >= 0 {
		n.Kind = kinds[best]
	}
	sum := strings.Join(parts, ", ")
	if st == Resolved {
		sum = fmt.Sprintf("quiet since %s: %s", s.lastActive.UTC().Format("15:04 MST"), sum)
	}
	if s.last.known() {
		sum += "; last: " + s.last.String()
	}
	n.Summary = sum
	n.Examples = append([]string(nil), s.examples...)
	n.Hints = s.hints(d.opt)
	s.lastNotice = now
	s.fresh = 0
	for i := range s.tally {
		s.tally[i].new = 0
	}
	return n
}

// phrase is a kind's part of the summary: "12 worker timeouts in 10 min
// (limit_time_real = 120)".
func (t *tally) phrase(k Kind, o Options) string { return t.describe(k, o, t.n, true) }

// describe is phrase for n of the kind's events, with the time they span
// when span is set.
func (t *tally) describe(k Kind, o Options, n int, span bool) string {
	l := o.Limits
	var noun, limit string
	switch k {
	case TimeReal:
		switch {
		case t.threaded == t.n:
			noun = plural(n, "request past limit_time_real, server reloaded", "requests past limit_time_real, server reloaded")
		case t.cron == t.n:
			noun = plural(n, "cron worker timeout", "cron worker timeouts")
		default:
			noun = plural(n, "worker timeout", "worker timeouts")
			if t.cron > 0 && n == t.n {
				noun += fmt.Sprintf(" (%d cron)", t.cron)
			}
		}
		limit = "limit_time_real = " + orInt(t.limit, l.TimeReal)
	case TimeCPU:
		noun = plural(n, "request stopped at limit_time_cpu", "requests stopped at limit_time_cpu")
		limit = "limit_time_cpu = " + orInt(t.limit, l.TimeCPU)
	case MemoryHard:
		noun = plural(n, "MemoryError", "MemoryErrors")
		if l.MemoryHard > 0 {
			limit = "limit_memory_hard = " + mib(l.MemoryHard)
		}
	case MemorySoft:
		switch {
		case t.threaded == t.n:
			noun = plural(n, "server reload past limit_memory_soft", "server reloads past limit_memory_soft")
		case t.gevent == t.n:
			noun = plural(n, "gevent process restarted past limit_memory_soft", "gevent process restarts past limit_memory_soft")
		default:
			noun = plural(n, "worker recycled past limit_memory_soft", "workers recycled past limit_memory_soft")
		}
		var p []string
		if l.MemorySoft > 0 {
			p = append(p, "limit_memory_soft = "+mib(l.MemorySoft))
		}
		if v, err := strconv.ParseUint(t.value, 10, 64); err == nil && v > 0 {
			p = append(p, "last at "+mib(v))
		}
		limit = strings.Join(p, ", ")
	case OOMKill:
		noun = plural(n, "process killed by the kernel's OOM killer", "processes killed by the kernel's OOM killer")
		if t.process != "" {
			limit = "last: " + t.process
		}
	case RequestErrors:
		noun = plural(n, "failed request", "failed requests")
		if e := t.top(); e != "" {
			limit = "most: " + e
		}
	}
	s := fmt.Sprintf("%d %s", n, noun)
	if d := t.last.Sub(t.first); span && n > 1 && d >= time.Minute {
		s += " in " + minutes(d)
	} else if span && n > 1 {
		s += " in " + strconv.Itoa(int(d.Seconds())) + " s"
	}
	if limit != "" {
		s += " (" + limit + ")"
	}
	return s
}

// top is the most frequent exception, the first seen on a tie.
func (t *tally) top() string {
	best, n := "", 0
	keys := make([]string, 0, len(t.exceptions))
	for k := range t.exceptions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if t.exceptions[k] > n {
			best, n = k, t.exceptions[k]
		}
	}
	return oneLine(best, 120)
}

// hints say what to change for each kind the spell holds, with
// odoo.conf's values.
func (s *spell) hints(o Options) []string {
	l := o.Limits
	var h []string
	for i := range s.tally {
		t := &s.tally[i]
		if t.n == 0 {
			continue
		}
		switch kinds[i] {
		case TimeReal:
			lim := orInt(t.limit, l.TimeReal)
			if t.threaded > 0 {
				h = append(h, fmt.Sprintf("In threaded mode (workers = 0) one request past limit_time_real (%s s) makes Odoo dump its stacks and reload the whole server, cutting every request in flight: run with workers >= 2 so a slow request costs one worker, and find the request in the stack dump.", lim))
			}
			if t.http > 0 {
				h = append(h, fmt.Sprintf("A worker still busy after limit_time_real (%s s) is killed with its request, and Odoo logs nothing of that request: find it in the proxy's access log (a 502/504) or a stack dump taken while it runs (SIGQUIT), then make it faster or raise limit_time_real in odoo.conf for requests that must run longer (big reports, imports).", lim))
			}
			if t.cron > 0 {
				h = append(h, fmt.Sprintf("A cron job ran past its limit (%s s; limit_time_real_cron, which defaults to limit_time_real) and its worker was killed: the job starts over at its next run and is killed again. Make it commit in batches, or raise limit_time_real_cron.", lim))
			}
		case TimeCPU:
			h = append(h, fmt.Sprintf("A request used more than limit_time_cpu (%s s) of CPU and Odoo stopped it (Odoo 18 stops the whole worker, cutting the request): make it cheaper, or raise limit_time_cpu in odoo.conf for requests that must compute longer.", orInt(t.limit, l.TimeCPU)))
		case MemoryHard:
			hard := "limit_memory_hard"
			if l.MemoryHard > 0 {
				hard += " (" + mib(l.MemoryHard) + ")"
			}
			fit := ""
			if l.Workers > 0 && l.MemoryHard > 0 {
				fit = fmt.Sprintf(", keeping workers x limit_memory_hard (%d x %s = %s) within the host's memory", l.Workers, mib(l.MemoryHard), mib(uint64(l.Workers)*l.MemoryHard))
			}
			h = append(h, fmt.Sprintf("A request needed more memory than %s and failed with MemoryError: find it (a large report or export, a search without a limit) or raise limit_memory_hard%s.", hard, fit))
		case MemorySoft:
			soft := "limit_memory_soft"
			if l.MemorySoft > 0 {
				soft += " (" + mib(l.MemorySoft) + ")"
			}
			if t.threaded > 0 {
				h = append(h, fmt.Sprintf("The threaded server (workers = 0) grew past %s and reloaded itself, cutting the requests in flight: run with workers >= 2, where only the worker that grew is replaced.", soft))
			}
			if t.threaded < t.n {
				h = append(h, fmt.Sprintf("Workers that grow past %s are replaced after their request. Now and then is normal; many an hour point to a leak or to heavy requests (the last: line): raise limit_memory_soft if the memory allows, or find what grows.", soft))
			}
		case OOMKill:
			switch {
			case l.Workers > 0 && l.MemoryHard > 0:
				total := uint64(l.Workers+1) * l.MemoryHard
				h = append(h, fmt.Sprintf("The kernel killed an Odoo process for lack of memory before Odoo's own limits did: (workers + 1) x limit_memory_hard = %d x %s = %s may be more than the host (or the unit's MemoryMax=) has; lower workers or limit_memory_hard, or give Odoo more memory.", l.Workers+1, mib(l.MemoryHard), mib(total)))
			default:
				h = append(h, "The kernel killed an Odoo process for lack of memory before Odoo's own limits did: set limit_memory_hard (and workers) so that (workers + 1) x limit_memory_hard fits in the memory the host (or the unit's MemoryMax=) gives Odoo.")
			}
		case RequestErrors:
			h = append(h, fmt.Sprintf("More than %d requests failed with an exception within %s: their tracebacks are in the unit's journal (journalctl -u %s).", o.ErrorsPerWindow, minutes(o.Window), orString(o.Unit, "UNIT")))
		}
	}
	return h
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// orInt is Odoo's own value from the line, else odoo.conf's.
func orInt(fromLine string, conf int) string {
	if fromLine != "" {
		return fromLine
	}
	if conf > 0 {
		return strconv.Itoa(conf)
	}
	return "?"
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func mib(b uint64) string {
	return strconv.FormatUint(b>>20, 10) + " MiB"
}

func minutes(d time.Duration) string {
	m := int(d.Round(time.Minute) / time.Minute)
	if m < 1 {
		m = 1
	}
	return strconv.Itoa(m) + " min"
}
