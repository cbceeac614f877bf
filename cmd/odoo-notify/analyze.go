package main

import (
	"strings"
	"time"

	"github.com/odoo-notify/odoo-notify/analysis"
	"github.com/odoo-notify/odoo-notify/facts"
	"github.com/odoo-notify/odoo-notify/journal"
	"github.com/odoo-notify/odoo-notify/report"
)

// analysisLines is how many of the failed run's journal lines the analysis
// reads; the report shows only the last [general] journal_lines of them.
const analysisLines = 5000

// kernelWindow is how long before the exit the kernel's OOM lines are
// looked for.
const kernelWindow = 5 * time.Minute

// analyze says why the run failed (package analysis), and what each
// earlier run of its crash loop died of. It reads Odoo's own log file and
// config, and the kernel's lines, where it finds them: the log file's
// lines join f's, and what cannot be read is said in f's Problems and the
// log. Nothing here stops the report.
func (a *app) analyze(f *facts.Facts, j *journal.Journal, jf journalFlags) (analysis.Result, map[string]string) {
	var causes map[string]string
	if j != nil {
		causes = a.crashCauses(f, j)
	}
	unit := f.Unit
	in := analysis.Input{
		Unit: unit, Result: f.Result, ExitCode: f.ExitCode, ExitStatus: f.ExitStatus,
		NRestarts: f.NRestarts, StartLimitHit: f.StartLimitHit, Lines: f.Lines,
		Started: f.StartedAt, Exited: f.ExitedAt, Crashes: facts.ReportCrashes(f.Crashes, causes),
	}

	in.Settings.MemoryMax = f.MemoryMax

	logFile, confFile := analysis.LogFileFromExecStart(f.ExecStart)
	uc := a.cfg.Units[unit]
	if uc.OdooConf != "" {
		confFile = uc.OdooConf
	}
	if confFile != "" {
		c, err := analysis.ReadOdooConf(confFile)
		if err != nil {
			a.log.Warn("cannot read Odoo's config: hints go without its limits", "unit", unit, "error", err)
			f.Problems = append(f.Problems, err.Error())
		} else {
			in.Settings = c.Settings()
			in.Settings.MemoryMax = f.MemoryMax
			if logFile == "" && !c.Syslog {
				logFile = c.LogFile
			}
		}
	}
	if uc.LogFile != "" {
		logFile = uc.LogFile
	}
	if jf.odooLog != "" {
		logFile = jf.odooLog
	}

	if logFile != "" {
		var since, until time.Time
		if !f.StartedAt.IsZero() {
			since = f.StartedAt.Add(-2 * time.Second)
			if !f.ExitedAt.IsZero() {
				until = f.ExitedAt.Add(2 * time.Second)
			}
		}
		fileLines, err := analysis.ReadLog(logFile, since, until, analysis.DefaultLogBytes)
		switch {
		case err != nil:
			a.log.Warn("cannot read Odoo's log file", "unit", unit, "error", err)
			f.Problems = append(f.Problems, err.Error())
		case len(fileLines) == 0:
			f.Problems = append(f.Problems, "Odoo's log file "+logFile+" holds nothing of the failed run")
		default:
			in.Lines = merge(f.Lines, fileLines)
			if len(f.Lines) == 0 {
				f.LogSource = logFile
				f.LinesProblem = ""
			} else {
				f.LogSource = f.LogSource + " + " + logFile
			}
			f.Lines = physical(in.Lines)
		}
	}

	if j != nil {
		since, until := time.Time{}, f.ExitedAt
		switch {
		case !f.ExitedAt.IsZero():
			since, until = f.ExitedAt.Add(-kernelWindow), f.ExitedAt.Add(10*time.Second)
		case !jf.offline() && a.invocation == "":
			since = a.now().Add(-kernelWindow)
		}
		k, err := j.Kernel(since, until, 200)
		if err != nil {
			a.log.Warn("cannot read the kernel's messages: an OOM kill may go unnoticed", "unit", unit, "error", err)
		}
		in.Kernel = toLines(k)
	}
	return analysis.Analyze(in), causes
}

// redactor is the config's redaction: the built-in patterns and [redact]'s.
func (a *app) redactor() *analysis.Redactor {
	red, err := analysis.NewRedactor(a.cfg.Redact)
	if err != nil {
		a.log.Error("redact patterns are invalid: only the built-in ones apply", "error", err)
		red, _ = analysis.NewRedactor(nil)
	}
	return red
}

// maxAnalysedCrashes and crashLines bound the work for a crash loop's
// earlier runs: the newest runs, the end of each (where it died).
const (
	maxAnalysedCrashes = 20
	crashLines         = 1000
)

// crashCauses says what each earlier failed run died of, by invocation id,
// from its own journal lines and the kernel's around its end, so a crash
// loop's report tells "5× db-unreachable" rather than "5× exit-code 1".
// The failed run's own lines are the ones already read.
func (a *app) crashCauses(f *facts.Facts, j *journal.Journal) map[string]string {
	recent := f.Crashes[max(0, len(f.Crashes)-maxAnalysedCrashes):]
	if len(recent) == 0 {
		return nil
	}
	crashes := facts.ReportCrashes(recent, nil)
	a.causesOf(f.Unit, crashes, j, f.InvocationID, f.Lines)
	causes := make(map[string]string, len(crashes))
	for _, c := range crashes {
		if c.Cause != "" {
			causes[c.InvocationID] = c.Cause
		}
	}
	return causes
}

// causesOf sets the Cause of each of unit's crashes (history lists them
// the same way), from the run's journal lines (own, for the run ownID)
// and the kernel's around its end, which are read once for all the runs.
func (a *app) causesOf(unit string, crashes []report.Crash, j *journal.Journal, ownID string, own []report.Line) {
	var kernel []report.Line
	var from, to time.Time
	for _, c := range crashes {
		if !c.Time.IsZero() && (from.IsZero() || c.Time.Before(from)) {
			from = c.Time
		}
		if c.Time.After(to) {
			to = c.Time
		}
	}
	if !from.IsZero() {
		k, err := j.Kernel(from.Add(-kernelWindow), to.Add(10*time.Second), 200*len(crashes))
		if err != nil {
			a.log.Warn("cannot read the kernel's messages: an earlier OOM kill may go unnoticed", "unit", unit, "error", err)
		}
		kernel = toLines(k)
	}
	for i := range crashes {
		c := &crashes[i]
		if c.InvocationID == "" {
			continue
		}
		lines := own
		if c.InvocationID != ownID {
			ls, err := j.RunLines(unit, c.InvocationID, crashLines)
			if err != nil {
				a.log.Warn("cannot read an earlier run's journal lines", "unit", unit, "invocation_id", c.InvocationID, "error", err)
				continue
			}
			lines = toLines(ls)
		}
		var near []report.Line
		if !c.Time.IsZero() {
			near = within(kernel, c.Time.Add(-kernelWindow), c.Time.Add(10*time.Second))
		}
		c.Cause = analysis.Analyze(analysis.Input{
			Unit: unit, Result: c.Result, ExitCode: c.ExitCode, ExitStatus: c.ExitStatus,
			Lines: withoutStartLimit(lines), Kernel: near, Exited: c.Time,
		}).Cause
	}
}

// withoutStartLimit drops systemd's "Start request repeated too quickly":
// it comes after the run that died, and says what systemd did next, not
// what the run died of.
func withoutStartLimit(ls []report.Line) []report.Line {
	out := make([]report.Line, 0, len(ls))
	for _, l := range ls {
		if !strings.Contains(l.Message, "Start request repeated too quickly") {
			out = append(out, l)
		}
	}
	return out
}

// within keeps the lines from since to until.
func within(ls []report.Line, since, until time.Time) []report.Line {
	var out []report.Line
	for _, l := range ls {
		if !l.Time.Before(since) && !l.Time.After(until) {
			out = append(out, l)
		}
	}
	return out
}

// merge puts the journal's lines and Odoo's log records in time order;
// a line without a time stays after the line before it.
func merge(a, b []report.Line) []report.Line {
	out := make([]report.Line, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if b[0].Time.IsZero() || (!a[0].Time.IsZero() && b[0].Time.Before(a[0].Time)) {
			out, b = append(out, b[0]), b[1:]
		} else {
			out, a = append(out, a[0]), a[1:]
		}
	}
	return append(append(out, a...), b...)
}

// physical splits records with their tracebacks attached back into lines,
// as the journal would show them.
func physical(ls []report.Line) []report.Line {
	var out []report.Line
	for _, l := range ls {
		for _, m := range strings.Split(l.Message, "\n") {
			out = append(out, report.Line{Time: l.Time, Priority: l.Priority, Message: m})
		}
	}
	return out
}
