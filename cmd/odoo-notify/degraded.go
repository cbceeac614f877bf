package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/odoo-notify/odoo-notify/degraded"
	"github.com/odoo-notify/odoo-notify/incident"
	"github.com/odoo-notify/odoo-notify/journal"
	"github.com/odoo-notify/odoo-notify/odooconf"
	"github.com/odoo-notify/odoo-notify/report"
	"github.com/odoo-notify/odoo-notify/watch"
)

// journalTail follows the unit's journal lines and the kernel's with one
// journal handle kept open (journal.Follower), and Odoo's log file, when
// Odoo logs there, from where the last read stopped.
type journalTail struct {
	unit    string
	journal *journal.Follower
	file    *fileTail
}

func (t *journalTail) Read(context.Context) ([]watch.Line, error) {
	var out []watch.Line
	entries, jerr := t.journal.Next()
	for _, e := range entries {
		if !e.Kernel && t.file != nil {
			continue // the file has Odoo's lines
		}
		out = append(out, watch.Line{PID: e.PID, Text: e.Message, Time: e.Time, Kernel: e.Kernel})
	}
	if t.file == nil {
		return out, jerr
	}
	lines, ferr := t.file.read()
	out = append(out, lines...)
	if jerr != nil {
		return out, jerr
	}
	return out, ferr
}

// fileTail reads Odoo's log file on from an offset; a file that shrank
// (rotated, truncated) is read from its start.
type fileTail struct {
	path string
	off  int64
	// rest is a last line not yet ended by a newline.
	rest string
	open bool
}

// maxTailRead bounds one read of the log file: what is beyond waits.
const maxTailRead = 8 << 20

func (f *fileTail) read() ([]watch.Line, error) {
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, fmt.Errorf("watch: follow Odoo's log file: %w", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("watch: follow Odoo's log file: %w", err)
	}
	if !f.open {
		// Start at the end: what was logged before the watcher began is
		// not this watch's to count.
		f.open, f.off = true, fi.Size()
		return nil, nil
	}
	if fi.Size() < f.off {
		f.off, f.rest = 0, ""
	}
	if _, err := fh.Seek(f.off, io.SeekStart); err != nil {
		return nil, fmt.Errorf("watch: follow Odoo's log file: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(fh, maxTailRead))
	if err != nil {
		return nil, fmt.Errorf("watch: follow Odoo's log file %s: %w", f.path, err)
	}
	f.off += int64(len(b))
	text := f.rest + string(b)
	end := strings.LastIndexByte(text, '\n')
	f.rest = text[end+1:]
	if end < 0 {
		return nil, nil
	}
	var out []watch.Line
	sc := bufio.NewScanner(strings.NewReader(text[:end]))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		out = append(out, watch.Line{Text: strings.TrimRight(sc.Text(), "\r")})
	}
	return out, nil
}

// degradedSink feeds the degraded.Detector the unit's lines every round,
// tells it the unit's processes, and takes its notices to the reporter.
type degradedSink struct {
	d     *degraded.Detector
	rep   *watchReporter
	procs string // the unit's cgroup.procs
	// mainPID is the run's main process, learned once per run
	// (mainPIDOf, nil: none).
	mainPID   int
	run       string
	mainPIDOf func(ctx context.Context) (int, error)
	now       func() time.Time
	window    time.Duration
	// resumed is when a watcher started again found the unit's degraded
	// incident open: the spell it reported is resolved after a quiet
	// window, unless a new event comes first.
	resumed time.Time
}

func newDegradedSink(rep *watchReporter, conf odooconf.Conf, window time.Duration, errorsPerWindow int, now func() time.Time) *degradedSink {
	d := degraded.New(degraded.Options{
		Unit: rep.unit, Window: window, ErrorsPerWindow: errorsPerWindow,
		Limits: degraded.Limits{TimeReal: conf.LimitTimeReal, TimeCPU: conf.LimitTimeCPU,
			MemorySoft: conf.LimitMemorySoft, MemoryHard: conf.LimitMemoryHard, Workers: conf.Workers},
	})
	return &degradedSink{d: d, rep: rep, procs: cgroupProcs(rep.unit), now: now, window: window}
}

// cgroupProcs is where the unit's processes are listed: its cgroup under
// /sys/fs/cgroup, in whichever slice it runs.
func cgroupProcs(unit string) string {
	for _, pat := range []string{"/sys/fs/cgroup/system.slice/%s", "/sys/fs/cgroup/*/%s", "/sys/fs/cgroup/*/*/%s"} {
		if m, _ := filepath.Glob(fmt.Sprintf(pat, unit)); len(m) > 0 {
			return filepath.Join(m[0], "cgroup.procs")
		}
	}
	return filepath.Join("/sys/fs/cgroup/system.slice", unit, "cgroup.procs")
}

func readPIDs(path string) []int {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

func (s *degradedSink) Lines(ctx context.Context, u watch.Unit, lines []watch.Line) {
	now := s.now()
	if u.Active {
		if u.InvocationID != s.run && s.mainPIDOf != nil {
			// An OOM kill of the main process fails the unit: the crash
			// report's, not a degraded spell.
			if pid, err := s.mainPIDOf(ctx); err == nil {
				s.mainPID, s.run = pid, u.InvocationID
			} else {
				s.rep.a.log.Warn("watch: cannot learn the unit's main process: the kernel's OOM kill of it would be counted as a worker's", "unit", s.rep.unit, "error", err)
			}
		}
		s.d.Processes(now, s.mainPID, readPIDs(s.procs))
	}
	var notices []degraded.Notice
	for _, l := range lines {
		notices = append(notices, s.d.Line(degraded.Line{Time: l.Time, Message: l.Text, Kernel: l.Kernel})...)
	}
	notices = append(notices, s.d.Tick(now)...)
	for _, n := range notices {
		s.resumed = time.Time{}
		s.rep.a.log.Warn("watch: the unit is degraded: "+n.Summary, "unit", s.rep.unit, "state", string(n.State), "kind", string(n.Kind))
		if err := s.rep.Degraded(ctx, u, n); err != nil {
			s.rep.a.log.Error("watch: the degraded spell could not be reported", "unit", s.rep.unit, "state", string(n.State), "error", err)
		}
	}
	if !s.resumed.IsZero() && now.Sub(s.resumed) >= s.window {
		s.rep.quiet(ctx, u, now, fmt.Sprintf("%s: %s is no longer degraded: no limit event for %s since the watcher started again", s.rep.a.hostname(), s.rep.unit, report.Span(s.window)))
		s.resumed = time.Time{}
	}
}

// Degraded reports a notice of the unit's degraded spell: an opening or
// an update goes out as a report of the unit's incident (an update when
// an incident is open already, a crash's or a hang's too); a resolution
// is the incident's one recovery notice.
func (r *watchReporter) Degraded(ctx context.Context, u watch.Unit, n degraded.Notice) error {
	host := r.a.hostname()
	if n.State == degraded.Resolved {
		r.quiet(ctx, u, n.Time, fmt.Sprintf("%s: %s is no longer degraded: %s", host, r.unit, n.Summary))
		return nil
	}
	return r.send(ctx, degradedReport(n, r.unit, u.InvocationID, host, r.a.now()))
}

// quiet resolves the unit's degraded incident.
func (r *watchReporter) quiet(ctx context.Context, u watch.Unit, at time.Time, summary string) {
	ctx, cancel := context.WithTimeout(ctx, r.a.cfg.General.Timeout.Duration)
	defer cancel()
	out, _ := r.a.sender(r.channels).Quiet(ctx, r.unit, report.CauseDegraded, incident.Unit{
		Active: u.Active, State: u.State, Since: at, InvocationID: u.InvocationID, Answering: true,
	}, summary)
	if out.Degraded != nil {
		r.a.log.Error("watch: the end of the degraded spell could not be recorded", "unit", r.unit, "error", out.Degraded)
		return
	}
	if out.Resolved > 0 {
		r.a.log.Info("watch: the degraded spell is over: its incident resolved", "unit", r.unit)
	}
}

// degradedReport is the report of a degraded notice: cause degraded, the
// summary, hints, counts and examples.
func degradedReport(n degraded.Notice, unit, invocation, host string, now time.Time) *report.Report {
	b := &report.Degraded{State: string(n.State), Since: n.Since, Kind: string(n.Kind), Summary: n.Summary,
		Examples: n.Examples, LastRequest: n.Last.String(), New: n.New, Counts: []report.DegradedCount{}}
	for _, c := range n.Counts {
		b.Counts = append(b.Counts, report.DegradedCount{Kind: string(c.Kind), N: c.N, New: c.New, First: c.First, Last: c.Last})
	}
	// Each notice is a report of its own: the spell's start tells spells
	// apart, the notice's time an update from the opening.
	episode := "degraded-" + n.Since.UTC().Format("20060102T150405Z")
	if n.State == degraded.Updated {
		episode += "-" + n.Time.UTC().Format("20060102T150405Z")
	}
	rep := &report.Report{
		Host: host, Unit: unit, InvocationID: invocation, Episode: episode,
		Cause:     report.CauseDegraded,
		Summary:   fmt.Sprintf("%s is degraded since %s: %s.", unit, n.Since.UTC().Format("15:04:05 MST"), n.Summary),
		Hints:     n.Hints,
		Degraded:  b,
		LogSource: "odoo-notify watch",
		Created:   now,
	}
	for _, c := range n.Counts {
		rep.Lines = append(rep.Lines, report.Line{Time: c.Last, Priority: 4,
			Message: fmt.Sprintf("%s: %d (%d new), first %s, last %s", c.Kind, c.N, c.New, c.First.UTC().Format("15:04:05"), c.Last.UTC().Format("15:04:05"))})
	}
	for _, e := range n.Examples {
		rep.Lines = append(rep.Lines, report.Line{Time: n.Time, Priority: 4, Message: e})
	}
	return rep
}
