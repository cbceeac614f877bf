package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/odoo-notify/odoo-notify/facts"
	"github.com/odoo-notify/odoo-notify/journal"
	"github.com/odoo-notify/odoo-notify/report"
)

// journalFlags are the options of the commands that read a journal.
type journalFlags struct {
	files []string
	dir   string
	// odooLog is Odoo's own log file (--odoo-log), read for the failed
	// run's lines where Odoo logs there rather than to the journal.
	odooLog string
}

func (j *journalFlags) register(f *flags) {
	f.Func("journal-file", "read this journal `file` instead of the system's (repeatable)", func(s string) error {
		j.files = append(j.files, s)
		return nil
	})
	f.StringVar(&j.dir, "journal-dir", "", "read the journal files in this `dir` instead of the system's")
	f.StringVar(&j.odooLog, "odoo-log", "", "read the failed run's lines from Odoo's own log `file` too (its --logfile)")
}

func (j *journalFlags) offline() bool { return len(j.files) > 0 || j.dir != "" }

func (j *journalFlags) open() (*journal.Journal, error) {
	switch {
	case len(j.files) > 0 && j.dir != "":
		return nil, usageErr("give --journal-file or --journal-dir, not both")
	case len(j.files) > 0:
		return journal.OpenFiles(j.files)
	case j.dir != "":
		return journal.OpenDir(j.dir)
	}
	return journal.OpenSystem()
}

// historyWindow is how far back systemd's messages about the unit are read
// to rebuild a crash loop's history.
const historyWindow = time.Hour

// buildReport gathers the facts about unit's failed run and builds the
// report. It always returns a report: every source that fails is said in
// the report and the log, and the next source is tried.
func (a *app) buildReport(ctx context.Context, unit string, jf journalFlags) (*report.Report, error) {
	rep := &report.Report{
		Host:    a.hostname(),
		Unit:    unit,
		Created: a.now(),
	}

	j, jerr := jf.open()
	if jerr != nil {
		var ee *exitError
		if errors.As(jerr, &ee) {
			return nil, jerr
		}
		a.log.Error("cannot read the journal", "unit", unit, "error", jerr)
		rep.LinesProblem = "journal not readable: " + jerr.Error()
	} else {
		defer func() { j.Close() }() // j may be reopened below
	}

	// systemd's own messages about the unit: the last resort for the state
	// and the history of a crash loop.
	var events []journal.Entry
	if j != nil && a.invocation != "" {
		// An earlier run: systemd's messages as they stood when it failed.
		all, err := j.Events(unit, time.Time{}, maxHistoryEvents)
		if err != nil {
			return nil, withCode(exitUnavailable, fmt.Errorf("cannot read systemd's messages about %s: %w", unit, err))
		}
		var ok bool
		if events, _, ok = runEvents(all, a.invocation); !ok {
			return nil, usageErr("the journal holds no failed run %s of %s: odoo-notify history %s lists them", a.invocation, unit, unit)
		}
	} else if j != nil {
		var err error
		// An offline journal is read as of its own end, not of now.
		since := a.now().Add(-historyWindow)
		if jf.offline() {
			since = time.Time{}
		}
		events, err = j.Events(unit, since, 500)
		if err != nil {
			a.log.Warn("cannot read systemd's messages about the unit", "unit", unit, "error", err)
		}
	}

	st, ok := a.unitState(ctx, unit, jf, events)
	if ok {
		rep.InvocationID = st.InvocationID
		rep.Result = st.Result
		rep.ExitCode = st.ExitCode
		rep.ExitStatus = st.ExitStatus
		rep.NRestarts = st.NRestarts
		rep.StartedAt = st.StartedAt
		rep.ExitedAt = st.ExitedAt
		rep.StateSource = st.Source
		rep.StartLimitHit = st.StartLimitHit
	} else {
		rep.Problems = append(rep.Problems, "the unit's state could not be learned: no MONITOR_* environment, no D-Bus, no systemd messages about it in the journal")
	}

	if j != nil {
		for _, c := range journal.Crashes(events) {
			rep.Crashes = append(rep.Crashes, report.Crash{Time: c.Time, InvocationID: c.InvocationID, Result: c.Result, ExitCode: c.ExitCode, ExitStatus: c.ExitStatus})
		}
		if len(rep.Crashes) < 2 {
			rep.Crashes = nil // one crash is this one: no history to tell
		}
		// The run's last lines first, from the files of its end: a long
		// run fills the excerpt there. Files back to its start are opened
		// only when it did not.
		wide := a.narrow(j, rep, jf, false)
		n := max(a.cfg.General.JournalLines, analysisLines)
		lines, cut, err := j.RunExcerpt(unit, rep.InvocationID, n, journal.MaxExcerptBytes)
		if err == nil && wide && !cut && len(lines) < n {
			if nj, oerr := jf.open(); oerr == nil {
				j.Close()
				j = nj
				a.narrow(j, rep, jf, true)
				lines, cut, err = j.RunExcerpt(unit, rep.InvocationID, n, journal.MaxExcerptBytes)
			}
		}
		// A service killed right after it wrote has its last output still in
		// journald's stream buffer when systemd's own lines are already in:
		// wait briefly for the first line the service wrote itself.
		for try := 0; err == nil && !jf.offline() && a.invocation == "" && rep.InvocationID != "" && !ownLine(lines, rep.InvocationID) && try < streamWaitTries; try++ {
			time.Sleep(streamWaitStep)
			nj, oerr := jf.open()
			if oerr != nil {
				break
			}
			j.Close()
			j = nj
			a.narrow(j, rep, jf, true)
			lines, cut, err = j.RunExcerpt(unit, rep.InvocationID, n, journal.MaxExcerptBytes)
		}
		switch {
		case cut:
			rep.LinesProblem = fmt.Sprintf("older lines left out: a report keeps the run's last %d KiB of log", journal.MaxExcerptBytes>>10)
		case err != nil:
			a.log.Error("cannot read the failed run's journal lines", "unit", unit, "error", err)
			rep.LinesProblem = "journal not readable: " + err.Error()
		case len(lines) == 0 && rep.InvocationID != "":
			rep.LinesProblem = "the journal holds no lines of invocation " + rep.InvocationID
		case len(lines) == 0:
			rep.LinesProblem = "the journal holds no lines of " + unit
		}
		rep.Lines = toLines(lines)
		rep.LogSource = "journal"
	}
	// The analysis writes the summary: the sentence a person reads first.
	a.analyze(ctx, rep, j, st, jf)
	return rep, nil
}

// runMargin is how far around the failed run (and the earlier crashes of
// its loop) the journal files are kept for the reads that follow: the
// run's lines, ExecStartPre= output before its "Started" line, systemd's
// lines after its exit, the kernel's lines before it.
const runMargin = time.Hour

// narrow leaves j with the journal files of the failed run's time, once
// that time is known: from runMargin before its end (or before the first
// crash of its loop), or with whole before its start, to, for an offline
// journal, runMargin after its end; a live journal is kept to its end,
// where the run's last lines may still be arriving. The reads that follow
// (the run's lines, the kernel's, the earlier crashes') then cost what that
// time holds, not what the whole journal holds. It says whether files
// before the run's start were left out (whole false, a run longer than
// runMargin).
func (a *app) narrow(j *journal.Journal, rep *report.Report, jf journalFlags, whole bool) (leftOut bool) {
	end := rep.ExitedAt
	if end.IsZero() {
		end = rep.StartedAt
	}
	since := end
	if whole && !rep.StartedAt.IsZero() {
		since = rep.StartedAt
	}
	for _, c := range rep.Crashes {
		if !c.Time.IsZero() && (since.IsZero() || c.Time.Before(since)) {
			since = c.Time
		}
	}
	if since.IsZero() || rep.InvocationID == "" {
		return false
	}
	var until time.Time
	if jf.offline() {
		if rep.ExitedAt.IsZero() {
			return false
		}
		until = rep.ExitedAt.Add(runMargin)
	}
	// Without the run's start, its lines may lie anywhere before its end.
	leftOut = rep.StartedAt.IsZero() || rep.StartedAt.Before(since)
	kept, of, err := j.Narrow(since.Add(-runMargin), until)
	if err != nil {
		a.log.Warn("cannot narrow the journal to the failed run's files", "unit", rep.Unit, "error", err)
		return false
	}
	a.log.Debug("journal files read for the failed run", "unit", rep.Unit, "kept", kept, "of", of)
	return leftOut && kept < of
}

// unitState asks, in order: the MONITOR_* variables systemd >= 251 gives an
// OnFailure= handler; the unit's D-Bus properties (not for an offline
// journal: they would describe this machine's unit, not the journal's);
// systemd's own journal messages about the unit. The first source that
// knows the result gives it; the later ones fill in what it does not say
// (MONITOR_* has no restart count, no ExecStart, no MemoryMax).
func (a *app) unitState(ctx context.Context, unit string, jf journalFlags, events []journal.Entry) (journal.State, bool) {
	if a.invocation != "" {
		return a.pastState(ctx, unit, jf, events)
	}
	fst, ok := facts.FromEnv(unit, a.getenv)
	if !ok && a.failed != nil {
		// What the hook recorded: the same variables, from ExecStopPost=.
		rec := a.failed
		fst, ok = facts.FromHandover(unit, facts.Handover{Unit: rec.Unit, InvocationID: rec.InvocationID, Result: rec.Result, ExitCode: rec.ExitCode, ExitStatus: rec.ExitStatus})
	}
	st := journal.State(fst)
	if !ok {
		a.log.Info("no MONITOR_* environment for the unit (systemd < 251, or not started by OnFailure=)", "unit", unit)
	}
	if !jf.offline() {
		dctx, cancel := context.WithTimeout(ctx, journal.DBusTimeout)
		d, err := journal.StateFromDBus(dctx, unit)
		cancel()
		switch {
		case err != nil:
			a.log.Info("unit state not available over D-Bus", "unit", unit, "error", err)
		case !ok:
			st, ok = d, true
		default:
			fill(&st, d)
		}
	}
	ev, evOK := journal.StateFromEvents(unit, events)
	switch {
	case !evOK:
	case !ok:
		return ev, true
	default:
		fill(&st, ev)
	}
	return st, ok
}

// pastState is the state of the earlier run preview --invocation asks
// for: systemd's messages up to its end say it. MONITOR_* and D-Bus
// describe the unit's last run, so only the unit's settings (ExecStart,
// MemoryMax, for the analysis) are taken from D-Bus.
func (a *app) pastState(ctx context.Context, unit string, jf journalFlags, events []journal.Entry) (journal.State, bool) {
	st, ok := journal.StateFromEvents(unit, events)
	if !ok || st.InvocationID != a.invocation {
		return journal.State{}, false
	}
	if !jf.offline() {
		dctx, cancel := context.WithTimeout(ctx, journal.DBusTimeout)
		d, err := journal.StateFromDBus(dctx, unit)
		cancel()
		if err == nil {
			st.ExecStart, st.MemoryMax = d.ExecStart, d.MemoryMax
		}
	}
	return st, true
}

// fill completes st with what a later source knows. Facts of one run are
// taken only from the same run; the restart count and the unit's settings
// are the unit's, whichever run a source saw last.
func fill(st *journal.State, from journal.State) {
	sameRun := st.InvocationID == "" || from.InvocationID == st.InvocationID
	if st.NRestarts == 0 {
		st.NRestarts = from.NRestarts
	}
	if st.ExecStart == nil {
		st.ExecStart = from.ExecStart
	}
	if st.MemoryMax == 0 {
		st.MemoryMax = from.MemoryMax
	}
	if !sameRun {
		return
	}
	if st.InvocationID == "" {
		st.InvocationID = from.InvocationID
	}
	if st.StartedAt.IsZero() {
		st.StartedAt = from.StartedAt
	}
	if st.ExitedAt.IsZero() {
		st.ExitedAt = from.ExitedAt
	}
	st.StartLimitHit = st.StartLimitHit || from.StartLimitHit
}

// How long buildReport waits for a killed service's last output to pass
// journald's stream buffer.
const (
	streamWaitTries = 8
	streamWaitStep  = 125 * time.Millisecond
)

// ownLine says whether one of entries was written by the run itself rather
// than by systemd about it.
func ownLine(entries []journal.Entry, inv string) bool {
	for _, e := range entries {
		if e.Fields["_SYSTEMD_INVOCATION_ID"] == inv {
			return true
		}
	}
	return false
}

func toLines(entries []journal.Entry) []report.Line {
	lines := make([]report.Line, len(entries))
	for i, e := range entries {
		lines[i] = report.Line{Time: e.Time, Priority: e.Priority, Message: e.Message}
	}
	return lines
}

func (a *app) hostname() string {
	if a.cfg != nil && a.cfg.General.Hostname != "" {
		return a.cfg.General.Hostname
	}
	h, err := os.Hostname()
	if err != nil {
		return "unknown-host"
	}
	return h
}
