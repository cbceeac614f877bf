package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/odoo-notify/odoo-notify/analysis"
	"github.com/odoo-notify/odoo-notify/incident"
	"github.com/odoo-notify/odoo-notify/internal/sysbus"
	"github.com/odoo-notify/odoo-notify/journal"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/odooconf"
	"github.com/odoo-notify/odoo-notify/report"
	"github.com/odoo-notify/odoo-notify/watch"
)

// runWatch is odoo-notify watch UNIT: what odoo-notify-watch@.service runs.
// It probes UNIT's health URL until SIGTERM; a hang is dumped, acted on
// (on_hang) and reported as an incident of UNIT, and its recovery notice
// goes out once UNIT answers again.
func runWatch(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "watch")
	healthURL := f.String("health-url", "", "probe this `URL` (or path on Odoo's address) instead of [watch] health_url")
	odooLog := f.String("odoo-log", "", "read the stack dump from Odoo's log `file` instead of the journal")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("watch: give exactly one unit, like odoo.service")
	}
	unit := pos[0]
	if err := a.loadConfig(f); err != nil {
		a.log.Error("config is invalid: fix it with odoo-notify check-config", "config", a.configPath, "error", err)
		return err
	}
	wc := a.cfg.Watch
	if *healthURL != "" {
		wc.HealthURL = *healthURL
	}

	// odoo.conf says where Odoo listens and logs: [units] odoo_conf, else
	// the unit's -c.
	var execStart []string
	if st, err := a.bus.UnitState(ctx, unit); err == nil {
		execStart = st.ExecStart
	} else {
		a.log.Warn("watch: cannot read the unit's command line over D-Bus: odoo.conf is found only from [units] odoo_conf", "unit", unit, "error", err)
	}
	conf, confPath := a.odooConf(unit, execStart)
	url, err := conf.HealthURL(wc.HealthURL)
	if err != nil {
		return withCode(exitConfig, err)
	}
	logFile := *odooLog
	if logFile == "" {
		logFile = a.cfg.Units[unit].LogFile
	}
	if logFile == "" && !conf.Syslog {
		logFile = conf.LogFile
		if lf, _ := analysis.LogFileFromExecStart(execStart); lf != "" {
			logFile = lf
		}
	}
	if conf.HidesInfo() {
		a.log.Warn("watch: odoo.conf's log_level hides INFO: a hung Odoo's stack dump (logged at INFO) will not come; set log_level = info", "unit", unit, "odoo_conf", confPath, "log_level", conf.LogLevel)
	}
	var logs watch.Logs = journalLogs{}
	if logFile != "" {
		a.log.Warn("watch: Odoo logs to its own file, not the journal: a hang's stack dump is read there (the journal will not have it)", "unit", unit, "logfile", logFile)
		logs = watch.FileLogs{Path: logFile}
	}

	channels, broken := buildChannels(a.cfg, httpClient(), a.log, "", a.slackThreads())
	if broken != nil {
		a.log.Error("a channel cannot be built and gets nothing: fix it with odoo-notify check-config", "config", a.configPath, "error", broken)
	}
	rep := &watchReporter{a: a, unit: unit, channels: channels}
	w := &watch.Watcher{
		Unit:       unit,
		Prober:     &watch.Prober{URL: url, Timeout: wc.Timeout.Duration, Client: watch.NewClient()},
		Systemd:    dbusUnit{unit: unit, bus: a.bus},
		Logs:       logs,
		Reporter:   rep,
		Policy:     watch.Policy{StartGrace: wc.StartGrace.Duration, Failures: wc.Failures},
		Interval:   wc.Interval.Duration,
		Action:     watch.Action(wc.OnHang),
		DumpWait:   5 * time.Second,
		ForceAfter: time.Second, KillAfter: 10 * time.Second, StopWait: 20 * time.Second,
		Beat: func() { daemon.SdNotify(false, daemon.SdNotifyWatchdog) },
		Log:  a.log,
		Now:  a.now,
	}
	// A watcher started again (systemd restarted it) does not report the
	// hang it reported before it died.
	if in := a.sender(channels).OpenIncident(unit); in != nil && in.LastCause() == report.CauseHang {
		w.State = w.State.Resumed(in.LastInvocation)
		a.log.Info("watch: the unit's hang incident is open: it is not reported again, and resolves when the unit answers", "unit", unit, "incident", in.ID)
	}
	if wc.DegradedOn() {
		// Odoo's own lines are in the journal, or in its log file; the
		// kernel's OOM kills are in the journal.
		journalUnit := unit
		var file *fileTail
		if logFile != "" {
			journalUnit, file = "", &fileTail{path: logFile}
			file.read() // from its end
		}
		if fl, err := journal.Follow(journalUnit, true); err != nil {
			a.log.Error("watch: cannot follow the journal: Odoo's limit events (worker timeouts, memory limits, OOM kills) go unheard; the hang probes go on", "unit", unit, "error", err)
		} else {
			defer fl.Close()
			sink := newDegradedSink(rep, conf, wc.DegradedWindow.Duration, wc.ErrorsPerWindow, a.now)
			sink.mainPIDOf = func(ctx context.Context) (int, error) { return a.bus.MainPID(ctx, unit) }
			if in := a.sender(channels).OpenIncident(unit); in != nil && in.Cause == report.CauseDegraded {
				// Started again: the spell was reported; it is updated by
				// the next event, or resolved after a quiet window.
				sink.resumed = a.now()
				a.log.Info("watch: the unit's degraded incident is open: it is not opened again, and resolves after a quiet window", "unit", unit, "incident", in.ID)
			}
			w.Follow, w.FollowLogs = sink, &journalTail{unit: unit, journal: fl, file: file}
		}
	}
	if err := checkHealthURL(ctx, w.Prober, wc.HealthURL); err != nil {
		a.log.Error("watch: "+err.Error(), "unit", unit, "url", url)
		return withCode(exitConfig, fmt.Errorf("%w: %w", errReported, err))
	}
	a.log.Info("watch: watching", "unit", unit, "url", url, "interval", w.Interval, "timeout", wc.Timeout.Duration,
		"start_grace", wc.StartGrace.Duration, "failures", wc.Failures, "on_hang", wc.OnHang,
		"degraded", w.Follow != nil, "degraded_window", wc.DegradedWindow.Duration, "errors_per_window", wc.ErrorsPerWindow)
	daemon.SdNotify(false, daemon.SdNotifyReady)
	err = w.Run(ctx)
	daemon.SdNotify(false, daemon.SdNotifyStopping)
	a.log.Info("watch: stopped", "unit", unit)
	return err
}

// errNoHealthRoute is a 404 from the health URL: Odoo < 15 has no
// /web/health.
var errNoHealthRoute = errors.New("the health URL answers 404 Not Found: Odoo older than 15 has no /web/health; set [watch] health_url (e.g. \"/web/login\") or odoo-notify enable UNIT --watch --health-url URL")

// checkHealthURL probes once: a 404 is a setting to fix, not a hang.
// Anything else (Odoo not started yet, refused) is for the watch to judge.
func checkHealthURL(ctx context.Context, p *watch.Prober, configured string) error {
	r := p.Probe(ctx)
	if r.Status == 404 {
		if configured != "" {
			return fmt.Errorf("the health URL %s answers 404 Not Found: fix [watch] health_url (or --health-url), e.g. \"/web/login\" on Odoo older than 15", p.URL)
		}
		return errNoHealthRoute
	}
	return nil
}

// odooConf reads the unit's odoo.conf, if one is named; a missing or
// unreadable one leaves Odoo's defaults, with a warning.
func (a *app) odooConf(unit string, execStart []string) (odooconf.Conf, string) {
	_, path := analysis.LogFileFromExecStart(execStart)
	if p := a.cfg.Units[unit].OdooConf; p != "" {
		path = p
	}
	if path == "" {
		return odooconf.Conf{}, ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		a.log.Warn("watch: cannot read odoo.conf: Odoo's defaults are assumed (port 8069, logs to stderr); let odoo-notify's user read it (enable gives it the unit's group)", "unit", unit, "odoo_conf", path, "error", err)
		return odooconf.Conf{}, path
	}
	c, err := odooconf.Parse(bytes.NewReader(b))
	if err != nil {
		a.log.Warn("watch: odoo.conf has values that are not what Odoo expects", "unit", unit, "odoo_conf", path, "error", err)
	}
	return c, path
}

// dbusUnit is the watched unit through systemd's D-Bus API.
type dbusUnit struct {
	unit string
	bus  *sysbus.Bus
}

func (d dbusUnit) Unit(ctx context.Context) (watch.Unit, error) {
	act, err := d.bus.Activity(ctx, d.unit)
	if err != nil {
		return watch.Unit{}, err
	}
	return watch.Unit{Active: act.Active(), State: act.ActiveState + "/" + act.SubState, Since: act.Since, InvocationID: act.InvocationID}, nil
}

func (d dbusUnit) Kill(ctx context.Context, who string, sig syscall.Signal) error {
	return d.bus.Kill(ctx, d.unit, who, sig)
}

func (d dbusUnit) Restart(ctx context.Context) error { return d.bus.RestartNoBlock(ctx, d.unit) }

// journalLogs reads the dump from the run's journal lines.
type journalLogs struct{}

func (journalLogs) Since(_ context.Context, invocation string, since time.Time) ([]watch.Line, error) {
	j, err := journal.OpenSystem()
	if err != nil {
		return nil, err
	}
	defer j.Close()
	entries, err := j.RunSince(invocation, since, 20000)
	if err != nil {
		return nil, err
	}
	out := make([]watch.Line, len(entries))
	for i, e := range entries {
		pid := 0
		fmt.Sscan(e.Fields["_PID"], &pid)
		out[i] = watch.Line{PID: pid, Text: e.Message}
	}
	return out, nil
}

// watchReporter sends a hang and its recovery through the outbox, as
// dispatch sends a crash: an incident of the unit.
type watchReporter struct {
	a        *app
	unit     string
	channels []notifiers.Channel
}

func (r *watchReporter) Hang(ctx context.Context, h *watch.Hang) error {
	return r.send(ctx, hangReport(h, r.a.hostname(), r.a.now()))
}

// send redacts rep and sends it as a report of the unit's incident; a
// report that waits in the outbox is sent.
func (r *watchReporter) send(ctx context.Context, rep *report.Report) error {
	ctx, cancel := context.WithTimeout(ctx, r.a.cfg.General.Timeout.Duration)
	defer cancel()
	red, err := analysis.NewRedactor(r.a.cfg.Redact)
	if err != nil {
		red, _ = analysis.NewRedactor(nil)
	}
	rep = red.Report(rep)
	err = r.a.deliver(ctx, rep, r.channels, nil)
	if code := exitCode(err); code == exitOK || code == exitTempFail {
		return nil
	}
	return err
}

func (r *watchReporter) Answering(ctx context.Context, u watch.Unit, since time.Time) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, r.a.cfg.General.Timeout.Duration)
	defer cancel()
	out, resolved := r.a.sender(r.channels).Answering(ctx, r.unit, incident.Unit{
		Active: true, State: u.State, Since: since, InvocationID: u.InvocationID, Answering: true,
	})
	if out.Degraded != nil {
		return false, out.Degraded
	}
	if out.Resolved > 0 {
		r.a.log.Info("watch: the unit answers again: its incident resolved", "unit", r.unit, "since", since.UTC().Format(time.RFC3339))
	}
	return resolved, nil
}

// hangFrames is how many innermost frames of a busy thread a report shows.
const hangFrames = 6

// hangReport is the report of a hang: cause hang, the probes, what was
// done, the busy threads of the dump.
func hangReport(h *watch.Hang, host string, now time.Time) *report.Report {
	last := h.Probes[len(h.Probes)-1]
	fails := 0
	for i := len(h.Probes) - 1; i >= 0 && !h.Probes[i].OK(); i-- {
		fails++
	}
	var did string
	switch {
	case h.Action == watch.Restart && h.Stopped:
		did = fmt.Sprintf("it was restarted: the hung run stopped in %.1f s", h.StopTook.Seconds())
	case h.Action == watch.Restart:
		did = "a restart was asked; the hung run had not stopped when this was sent"
	default:
		did = "it was left running (on_hang = \"report\")"
	}
	threads := fmt.Sprintf("%d busy thread(s) of %d in the stack dump of %d process(es)", len(h.Threads), h.Dumped, h.Processes)
	if h.DumpProblem != "" {
		threads = h.DumpProblem
	}
	rep := &report.Report{
		Host:         host,
		Unit:         h.Unit,
		InvocationID: h.Invocation,
		Episode:      "hang-" + h.At.UTC().Format("20060102T150405Z"),
		Cause:        report.CauseHang,
		Summary: fmt.Sprintf("%s does not answer %s: %d probe(s) in a row failed, the last %s. %s; %s.",
			h.Unit, h.URL, fails, strings.TrimSpace(strings.TrimPrefix(last.String(), last.At.UTC().Format("15:04:05"))), threads, did),
		LogSource: "odoo-notify watch",
		Created:   now,
	}
	rep.Hang = hangBlock(h)
	switch {
	case len(h.Threads) > 0:
		rep.Hints = append(rep.Hints, "the busy threads below are what the server was doing: a long query (pg_stat_activity shows it), a lock wait, or a request stuck in a loop or an outside call.")
	case h.DumpProblem != "":
		rep.Hints = append(rep.Hints, "without a stack dump, look at the unit's processes (ps -o pid,stat,wchan -g MAINPID: T is stopped, D waits on the kernel) and at pg_stat_activity for a long query.")
	}
	add := func(t time.Time, prio int, s string) {
		rep.Lines = append(rep.Lines, report.Line{Time: t, Priority: prio, Message: s})
	}
	for _, p := range h.Probes {
		prio := 6
		if !p.OK() {
			prio = 4
		}
		add(p.At, prio, "probe "+h.URL+": "+strings.TrimSpace(strings.TrimPrefix(p.String(), p.At.UTC().Format("15:04:05"))))
	}
	for _, d := range h.Done {
		add(now, 5, "watch: "+d)
	}
	for _, t := range h.Threads {
		add(h.At, 6, "busy: "+t.Summary())
		for _, fr := range t.Innermost(hangFrames) {
			add(h.At, 6, "    "+fr.String())
		}
	}
	return rep
}

// hangBlock is the report's "hang": the hang as data.
func hangBlock(h *watch.Hang) *report.Hang {
	b := &report.Hang{
		URL: h.URL, Action: string(h.Action), Stopped: h.Stopped, Done: h.Done,
		DumpedThreads: h.Dumped, Processes: h.Processes, DumpProblem: h.DumpProblem,
		Probes: []report.Probe{},
	}
	if h.Stopped {
		b.StopTookMS = h.StopTook.Milliseconds()
	}
	for _, p := range h.Probes {
		rp := report.Probe{Time: p.At, OK: p.OK(), Status: p.Status, TookMS: p.Duration.Milliseconds(), Body: p.Excerpt}
		if !p.OK() {
			rp.Error = strings.TrimSpace(strings.TrimPrefix(p.String(), p.At.UTC().Format("15:04:05")))
		}
		b.Probes = append(b.Probes, rp)
	}
	for _, t := range h.Threads {
		rt := report.Thread{PID: t.PID, Thread: t.Name, DB: t.DB, UID: t.UID, URL: t.URL,
			QueryCount: t.QueryCount, QueryTime: t.QueryTime, PythonTime: t.PythonTime, Frames: []report.Frame{}}
		for _, f := range t.Innermost(hangFrames) {
			rt.Frames = append(rt.Frames, report.Frame{File: f.File, Line: f.Line, Func: f.Func, Code: f.Code})
		}
		b.Threads = append(b.Threads, rt)
	}
	return b
}
