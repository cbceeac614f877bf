// Package analysis says why an Odoo unit crashed: it weighs systemd's result,
// the kernel's OOM lines and Odoo's own log lines into one cause, finds the
// Python exception that ended the run, writes hints with the concrete fix,
// and redacts secrets before a report leaves the host.
//
// Everything here is a pure function of its input (no clock, no journal,
// no D-Bus), except the readers of Odoo's log and config files.
package analysis

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/odoo-notify/odoo-notify/report"
)

// The causes a report can carry.
const (
	CauseOOMKill       = "oom-kill"
	CauseWatchdog      = "watchdog"
	CauseTimeout       = "timeout"
	CauseStartLimitHit = "start-limit-hit"
	CauseCoreDump      = "core-dump"
	CauseSignal        = "signal"
	CauseDBUnreachable = "db-unreachable"
	CausePortInUse     = "port-in-use"
	CauseConfigError   = "config-error"
	// CauseUnitSetup is systemd failing to start the program at all (exit
	// statuses 200-243: 203/EXEC, 217/USER, 200/CHDIR, 226/NAMESPACE):
	// the unit file is wrong, not the program.
	CauseUnitSetup = "unit-setup"
	// CauseWorkerTimeout covers every Odoo worker limit: limit_time_real,
	// limit_time_cpu and the memory limits.
	CauseWorkerTimeout = "worker-timeout"
	CauseExceptionExit = "exception-exit"
	CauseExitCode      = "exit-code"
	CauseUnknown       = "unknown"
)

// Settings are the limits that were readable for the unit; 0 means unknown.
type Settings struct {
	// MemoryMax is systemd's MemoryMax= in bytes (math.MaxUint64, systemd's
	// "infinity", counts as unknown).
	MemoryMax uint64
	// Workers, LimitMemoryHard/Soft (bytes) and LimitTimeReal/CPU (seconds)
	// are Odoo's settings from odoo.conf or the command line.
	Workers                          int
	LimitMemoryHard, LimitMemorySoft uint64
	LimitTimeReal, LimitTimeCPU      int
}

// Input is what is known about the failed run.
type Input struct {
	// Unit, Result, ExitCode and ExitStatus come from systemd: Result
	// "signal", ExitCode "killed", ExitStatus "KILL" (or "3" when exited).
	Unit, Result, ExitCode, ExitStatus string
	// Program is the base name of the unit's main program (ExecStart=),
	// "" when unknown: the kernel's OOM lines name processes by it.
	Program   string
	NRestarts int
	// StartLimitHit says systemd stopped restarting the unit after this
	// run (systemd 252 keeps the run's own Result, exit-code, and says so
	// only in "Start request repeated too quickly").
	StartLimitHit bool
	// Lines are the failed run's lines, from the journal or Odoo's log file.
	Lines []report.Line
	// Kernel are the kernel's lines around the exit (_TRANSPORT=kernel).
	Kernel []report.Line
	// Started and Exited bound the run, zero when unknown: an OOM kill
	// that names the unit's program but neither its cgroup nor one of its
	// pids counts only inside them.
	Started, Exited time.Time
	// Crashes are the earlier failed runs.
	Crashes  []report.Crash
	Settings Settings
}

// Result is the analysis of one failed run.
type Result struct {
	Cause     string
	Exception *report.Exception
	Hints     []string
	Summary   string
	// Errors are the kinds of error the run logged, fatal or not.
	Errors []report.LoggedError
}

// Analyze weighs all the evidence into one cause. It is bounded in time and
// memory whatever the lines hold.
func Analyze(in Input) Result {
	if in.Settings.MemoryMax == math.MaxUint64 {
		in.Settings.MemoryMax = 0
	}
	unit := in.Unit
	if unit == "" {
		unit = "the unit"
	}
	es := normalize(in.Lines)
	facts := systemdFacts(es, in.Unit)
	in = withFacts(in, facts)
	ev := gather(es, in)
	ev.facts = facts
	if facts.oomd != "" && !ev.oom.ours {
		ev.oom = oomEvidence{ours: true, line: facts.oomd}
	}

	if in.Result == "start-limit-hit" || in.StartLimitHit {
		// The start limit is only why systemd stopped restarting; what the
		// runs died of is in their lines and in the crash history.
		last := in
		if in.Result == "start-limit-hit" {
			last.Result, last.ExitCode, last.ExitStatus = "", "", ""
			if n := len(in.Crashes); n > 0 {
				c := in.Crashes[n-1]
				last.Result, last.ExitCode, last.ExitStatus = c.Result, c.ExitCode, c.ExitStatus
			}
		}
		sub := decide(last, ev)
		res := Result{Cause: CauseStartLimitHit, Errors: ev.errors}
		if sub.withException {
			res.Exception = ev.exception
		}
		res.Summary = startLimitSummary(unit, in, sub, ev)
		res.Hints = append(hints(sub, ev, in, unit), startLimitHint(unit, in))
		if len(res.Hints) > 3 {
			res.Hints = res.Hints[len(res.Hints)-3:]
		}
		return res
	}
	d := decide(in, ev)
	res := Result{Cause: d.cause, Summary: summary(unit, in, d, ev), Hints: hints(d, ev, in, unit), Errors: ev.errors}
	if d.withException {
		res.Exception = ev.exception
	}
	return res
}

// decision is a cause and the line that shows it.
type decision struct {
	cause string
	// line is the evidence in Odoo's words (or the kernel's), "" when the
	// cause comes from systemd alone.
	line string
	// kind narrows the cause: "refused", "host", "socket", "no-db",
	// "auth" for db-unreachable; "real", "cpu", "memory" for worker-timeout.
	kind          string
	withException bool
	// at is the index of the line among the run's unfolded lines.
	at int
}

// nearEnd bounds how far before the end of the run (or before the fatal
// traceback) a line may be and still say why the run ended: a refused
// connection logged for a request an hour earlier does not.
const nearEnd = 100

// decide picks the cause. systemd's result comes first where it is about
// the process being stopped from outside (OOM, watchdog, timeout, signals);
// for a process that exited, Odoo's own lines say why.
func decide(in Input, ev evidence) decision {
	killed := in.ExitCode == "killed" || in.ExitCode == "dumped" || in.Result == "signal" || in.Result == "core-dump"
	unknown := in.Result == "" && in.ExitCode == "" && in.ExitStatus == ""
	switch {
	case in.Result == "oom-kill":
		return decision{cause: CauseOOMKill, line: ev.oom.line}
	case ev.oom.ours && (killed || in.ExitStatus == "KILL" || in.ExitStatus == "9" || unknown) && in.Result != "watchdog" && in.Result != "timeout":
		// cgroup v1 or OOMPolicy=continue: systemd saw only a SIGKILL;
		// or nothing is known of the run but the kernel's kill.
		return decision{cause: CauseOOMKill, line: ev.oom.line}
	case in.Result == "watchdog":
		return decision{cause: CauseWatchdog}
	case in.Result == "timeout":
		return decision{cause: CauseTimeout, withException: ev.exception != nil && ev.uncaught}
	case in.Result == "core-dump" || in.ExitCode == "dumped":
		return decision{cause: CauseCoreDump}
	case in.Result == "signal" || in.ExitCode == "killed":
		return decision{cause: CauseSignal}
	}
	if n, ok := setupStatus(in); ok {
		// The program never ran: whatever its lines say is older.
		return decision{cause: CauseUnitSetup, kind: execSteps[n][0], line: fmt.Sprintf("exit status %d/%s", n, execSteps[n][0])}
	}
	// The process exited (or nothing is known): Odoo's lines decide.
	if ev.exception != nil {
		if d, ok := ev.classify(); ok {
			d.withException = true
			return d
		}
	}
	end := ev.n
	if ev.exception != nil {
		end = ev.fatalStart
	}
	for _, c := range []string{CausePortInUse, CauseConfigError, CauseDBUnreachable} {
		if d, ok := ev.lines[c]; ok && d.at >= end-nearEnd {
			d.withException = ev.exception != nil
			return d
		}
	}
	if ev.exception != nil {
		return decision{cause: CauseExceptionExit, withException: true}
	}
	if ev.partial != nil && (in.Result == "exit-code" || in.ExitCode == "exited" && in.ExitStatus != "" && in.ExitStatus != "0") {
		// The paste or the journal ends inside a traceback and the process
		// exited right after it: an uncaught exception whose last line is
		// lost.
		ev.exception = ev.partial
		return decision{cause: CauseExceptionExit, withException: true, kind: "partial"}
	}
	if d, ok := ev.lines[CauseWorkerTimeout]; ok {
		return d
	}
	if in.Result == "exit-code" || (in.ExitStatus != "" && in.ExitStatus != "0") {
		return decision{cause: CauseExitCode}
	}
	return decision{cause: CauseUnknown}
}

// Fingerprint names the failure for dedup: the same bug repeating gives the
// same fingerprint, a new bug a new one. It is cause, exception type and
// innermost frame; without an exception, cause, result and exit status.
func Fingerprint(r *report.Report) string {
	cause := r.Cause
	if cause == "" {
		cause = CauseUnknown
	}
	if x := r.Exception; x != nil && x.Type != "" {
		return cause + "|" + x.Type + "|" + x.Frame
	}
	return cause + "|" + r.Result + "|" + r.ExitStatus
}

func oneLine(s string, max int) string {
	return report.Truncate(strings.TrimSpace(report.OneLine(s)), max)
}

func excString(x *report.Exception) string {
	if x == nil {
		return ""
	}
	s := x.Type
	if x.Message != "" {
		s += ": " + x.Message
	}
	return oneLine(s, 200)
}

func summary(unit string, in Input, d decision, ev evidence) string {
	var s string
	switch d.cause {
	case CauseOOMKill:
		s = fmt.Sprintf("The kernel's OOM killer killed %s", unit)
		if ev.oom.process != "" {
			s += fmt.Sprintf(" (process %s)", ev.oom.process)
		}
		if ev.oom.rss > 0 {
			s += " at " + gib(ev.oom.rss)
		}
		s += "."
	case CauseWatchdog:
		s = fmt.Sprintf("%s stopped answering systemd's watchdog and was killed%s.", unit, bySignal(in))
	case CauseTimeout:
		s = fmt.Sprintf("%s did not start or stop within systemd's timeout%s.", unit, bySignal(in))
	case CauseCoreDump:
		s = fmt.Sprintf("%s dumped core%s.", unit, bySignal(in))
	case CauseSignal:
		s = fmt.Sprintf("%s was killed%s.", unit, bySignal(in))
	case CauseDBUnreachable:
		s = "Odoo could not reach PostgreSQL: " + d.line
	case CausePortInUse:
		s = "Odoo could not listen on its port: address already in use"
		if ev.port != "" {
			s += " (port " + ev.port + ")"
		}
		s += "."
	case CauseConfigError:
		s = "Odoo rejected its configuration: " + d.line
	case CauseWorkerTimeout:
		s = "An Odoo worker hit a limit: " + d.line
	case CauseExceptionExit:
		if d.kind == "partial" {
			s = programName(in) + " stopped on an uncaught exception (exception line missing)"
		} else {
			s = programName(in) + " stopped on an uncaught exception: " + excString(ev.exception)
		}
		if ev.exception != nil && ev.exception.Frame != "" {
			s += " at " + ev.exception.Frame
		}
	case CauseUnitSetup:
		n, _ := setupStatus(in)
		s = setupSummary(unit, n, ev.facts)
	case CauseExitCode:
		s = fmt.Sprintf("%s exited with status %s and logged no known reason.", unit, orUnknown(in.ExitStatus))
	default:
		s = fmt.Sprintf("%s failed; neither systemd's state nor the log says why.", unit)
	}
	return oneLine(s, 400)
}

// programName is how a summary names the program: Odoo, or the unit.
func programName(in Input) string {
	u := strings.ToLower(in.Unit + " " + in.Program)
	if in.Unit == "" || strings.Contains(u, "odoo") || strings.Contains(u, "openerp") {
		return "Odoo"
	}
	return in.Unit
}

func bySignal(in Input) string {
	if in.ExitStatus == "" || in.ExitCode == "exited" {
		return ""
	}
	return " (signal " + in.ExitStatus + ")"
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func startLimitSummary(unit string, in Input, sub decision, ev evidence) string {
	s := fmt.Sprintf("systemd stopped restarting %s", unit)
	if in.NRestarts > 0 {
		s += fmt.Sprintf(" after %d restarts", in.NRestarts)
	}
	if sub.cause != "" && sub.cause != CauseUnknown {
		s += "; the last run died of " + sub.cause
		if sub.withException && ev.exception != nil {
			s += " (" + excString(ev.exception) + ")"
		} else if sub.line != "" {
			s += " (" + oneLine(sub.line, 160) + ")"
		}
	}
	if h := crashTally(in.Crashes); h != "" {
		s += "; failed runs: " + h
	}
	return oneLine(s+".", 400)
}

// crashTally counts the earlier runs by what they died of: "4×
// db-unreachable, 1× signal KILL", systemd's result where no cause is known.
func crashTally(cs []report.Crash) string {
	var keys []string
	n := map[string]int{}
	for _, c := range cs {
		k := strings.TrimSpace(c.Result + " " + c.ExitStatus)
		switch {
		case c.Cause != "" && c.Cause != CauseExitCode && c.Cause != CauseUnknown && c.Cause != c.Result:
			k = c.Cause
		case k == "":
			k = "unknown"
		}
		if n[k] == 0 {
			keys = append(keys, k)
		}
		n[k]++
	}
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d× %s", n[k], k))
	}
	return strings.Join(parts, ", ")
}
