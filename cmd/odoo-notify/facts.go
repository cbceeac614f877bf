package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
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

// buildReport gathers the facts about unit's failed run, analyses them and
// builds the report, once, then redacts it. It always returns a report:
// every source that fails is said in the report and the log, and the next
// source is tried.
func (a *app) buildReport(ctx context.Context, unit string, jf journalFlags) (*report.Report, error) {
	created := a.now()
	f, j, err := a.gather(ctx, unit, jf)
	if err != nil {
		return nil, err
	}
	if j != nil {
		defer j.Close()
	}
	res, causes := a.analyze(&f, j, jf)
	rep := f.Report(res, causes, a.cfg.General.JournalLines, created)
	return a.redactor().Report(rep), nil
}

// gather learns the facts of unit's failed run: its state from every
// source (package facts), then its lines from the journal. It returns the
// journal it read, open, for the analysis; nil when it cannot be read.
func (a *app) gather(ctx context.Context, unit string, jf journalFlags) (facts.Facts, *journal.Journal, error) {
	j, jerr := jf.open()
	linesProblem := ""
	if jerr != nil {
		var ee *exitError
		if errors.As(jerr, &ee) {
			return facts.Facts{}, nil, jerr
		}
		a.log.Error("cannot read the journal", "unit", unit, "error", jerr)
		linesProblem = "journal not readable: " + jerr.Error()
		j = nil
	}

	src := facts.Sources{Getenv: a.getenv, Log: a.log}
	if a.failed != nil {
		rec := a.failed
		if a.getenv("MONITOR_INVOCATION_ID") != rec.InvocationID || a.getenv("MONITOR_UNIT") != rec.Unit ||
			a.getenv("MONITOR_SERVICE_RESULT") == startLimitHit {
			// A run recorded by the hook whose handler start systemd
			// merged into this one: MONITOR_* describe this handler's
			// own run, not the recorded one, and would make its report
			// a duplicate of that run. The start limit's refusal names
			// the last run that ran, but its result is no exit of it.
			src.Getenv = withoutMonitor(a.getenv)
		}
		src.Hook = &facts.Handover{Unit: rec.Unit, InvocationID: rec.InvocationID, Result: rec.Result, ExitCode: rec.ExitCode, ExitStatus: rec.ExitStatus}
	}
	if !jf.offline() {
		// Not for an offline journal: D-Bus would describe this machine's
		// unit, not the journal's.
		src.Systemd = a.bus
	}
	if j != nil {
		// systemd's own messages about the unit: the last resort for the
		// state, and the history of a crash loop.
		var events []journal.Entry
		if a.invocation != "" {
			// An earlier run: systemd's messages as they stood when it failed.
			all, err := j.Events(unit, time.Time{}, maxHistoryEvents)
			if err != nil {
				j.Close()
				return facts.Facts{}, nil, withCode(exitUnavailable, fmt.Errorf("cannot read systemd's messages about %s: %w", unit, err))
			}
			var ok bool
			if events, _, ok = runEvents(all, a.invocation); !ok {
				j.Close()
				return facts.Facts{}, nil, usageErr("the journal holds no failed run %s of %s: odoo-notify history %s lists them", a.invocation, unit, unit)
			}
		} else {
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
		src.Journal = messages(events)
	}
	f := facts.Gather(ctx, unit, a.invocation, src)
	f.Host = a.hostname()
	f.LinesProblem = linesProblem
	if j != nil {
		j = a.runLines(&f, j, jf)
	}
	return f, j, nil
}

// runLines reads the failed run's lines from the journal into f, and
// returns the journal, reopened if it had to be.
func (a *app) runLines(f *facts.Facts, j *journal.Journal, jf journalFlags) *journal.Journal {
	unit := f.Unit
	// The run's last lines first, from the files of its end: a long
	// run fills the excerpt there. Files back to its start are opened
	// only when it did not.
	wide := a.narrow(j, f, jf, false)
	n := max(a.cfg.General.JournalLines, analysisLines)
	lines, cut, err := j.RunExcerpt(unit, f.InvocationID, n, journal.MaxExcerptBytes)
	if err == nil && wide && !cut && len(lines) < n {
		if nj, oerr := jf.open(); oerr == nil {
			j.Close()
			j = nj
			a.narrow(j, f, jf, true)
			lines, cut, err = j.RunExcerpt(unit, f.InvocationID, n, journal.MaxExcerptBytes)
		}
	}
	// A service killed right after it wrote has its last output still in
	// journald's stream buffer when systemd's own lines are already in:
	// wait briefly for the first line the service wrote itself.
	for try := 0; err == nil && !jf.offline() && a.invocation == "" && f.InvocationID != "" && !ownLine(lines, f.InvocationID) && try < streamWaitTries; try++ {
		time.Sleep(streamWaitStep)
		nj, oerr := jf.open()
		if oerr != nil {
			break
		}
		j.Close()
		j = nj
		a.narrow(j, f, jf, true)
		lines, cut, err = j.RunExcerpt(unit, f.InvocationID, n, journal.MaxExcerptBytes)
	}
	switch {
	case cut:
		f.LinesProblem = fmt.Sprintf("older lines left out: a report keeps the run's last %d KiB of log", journal.MaxExcerptBytes>>10)
	case err != nil:
		a.log.Error("cannot read the failed run's journal lines", "unit", unit, "error", err)
		f.LinesProblem = "journal not readable: " + err.Error()
	case len(lines) == 0 && f.InvocationID != "":
		f.LinesProblem = "the journal holds no lines of invocation " + f.InvocationID
	case len(lines) == 0:
		f.LinesProblem = "the journal holds no lines of " + unit
	}
	f.Lines = toLines(lines)
	f.LogSource = "journal"
	return j
}

// messages is what systemd's messages about a unit say, for facts.Gather.
type messages []journal.Entry

func (m messages) History(unit string) (facts.State, bool, []facts.Crash) {
	h := journal.Walk(unit, m)
	return h.Last, h.Failed, h.Crashes
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
func (a *app) narrow(j *journal.Journal, f *facts.Facts, jf journalFlags, whole bool) (leftOut bool) {
	end := f.ExitedAt
	if end.IsZero() {
		end = f.StartedAt
	}
	since := end
	if whole && !f.StartedAt.IsZero() {
		since = f.StartedAt
	}
	for _, c := range f.Crashes {
		if !c.Time.IsZero() && (since.IsZero() || c.Time.Before(since)) {
			since = c.Time
		}
	}
	if since.IsZero() || f.InvocationID == "" {
		return false
	}
	var until time.Time
	if jf.offline() {
		if f.ExitedAt.IsZero() {
			return false
		}
		until = f.ExitedAt.Add(runMargin)
	}
	// Without the run's start, its lines may lie anywhere before its end.
	leftOut = f.StartedAt.IsZero() || f.StartedAt.Before(since)
	kept, of, err := j.Narrow(since.Add(-runMargin), until)
	if err != nil {
		a.log.Warn("cannot narrow the journal to the failed run's files", "unit", f.Unit, "error", err)
		return false
	}
	a.log.Debug("journal files read for the failed run", "unit", f.Unit, "kept", kept, "of", of)
	return leftOut && kept < of
}

// How long runLines waits for a killed service's last output to pass
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

// withoutMonitor is getenv without systemd's MONITOR_* variables.
func withoutMonitor(getenv func(string) string) func(string) string {
	return func(k string) string {
		if strings.HasPrefix(k, "MONITOR_") {
			return ""
		}
		return getenv(k)
	}
}
