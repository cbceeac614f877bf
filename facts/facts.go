// Package facts gathers what is known of one failed run of a unit, once,
// from every source that tells of it: the MONITOR_* variables systemd gives
// an OnFailure= handler, the hook's hand-over from ExecStopPost=, the unit's
// properties over D-Bus, and systemd's own journal messages about the unit.
// Each source says part of the story; Merge, one pure function, decides
// which source wins for each fact.
//
// The sources are small interfaces, so that the boundaries (D-Bus, the
// journal) are wired by the caller and this package builds and tests
// without cgo and without a systemd.
package facts

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/odoo-notify/odoo-notify/analysis"
	"github.com/odoo-notify/odoo-notify/report"
)

// Where a State came from.
const (
	SourceEnv     = "monitor-env"
	SourceHook    = "hook" // what ExecStopPost= handed over
	SourceDBus    = "dbus"
	SourceJournal = "journal"
)

// State is what one source says of a unit's run, or, merged, what is known
// of it. A zero field is one the source does not say.
type State struct {
	Unit         string
	InvocationID string // 32 hex digits
	Result       string // exit-code, signal, core-dump, watchdog, timeout, oom-kill, start-limit-hit, ...
	ExitCode     string // exited, killed, dumped
	ExitStatus   string // "3" for exited; signal name without SIG for killed/dumped: "KILL"
	NRestarts    int
	StartedAt    time.Time
	ExitedAt     time.Time
	Source       string // SourceEnv, SourceHook, SourceDBus or SourceJournal

	// StartLimitHit: systemd stopped restarting the unit ("Start request
	// repeated too quickly"). Only systemd's journal messages say it.
	StartLimitHit bool

	// The unit's settings, for the analysis (zero when unknown): D-Bus
	// only.
	ExecStart []string // argv of the unit's (first) ExecStart
	MemoryMax uint64   // bytes, 0 = unlimited or unknown
}

// Activity is what a unit is doing now.
type Activity struct {
	Unit string
	// ActiveState and SubState as systemctl shows them: "active" "running",
	// "failed" "failed", "activating" "auto-restart".
	ActiveState, SubState string
	// Since is when the unit last became active (ActiveEnterTimestamp).
	Since        time.Time
	InvocationID string
	Source       string // SourceDBus or SourceJournal
}

// Active says the unit runs: active or reloading.
func (a Activity) Active() bool { return a.ActiveState == "active" || a.ActiveState == "reloading" }

// Crash is one failed run of a unit, as systemd's messages tell it.
type Crash struct {
	Time         time.Time // when systemd logged the failure
	InvocationID string
	Result       string
	ExitCode     string
	ExitStatus   string
}

// Told is what each source said of the unit: nil for a source that was not
// asked, could not be reached, or knows of no failed run.
type Told struct {
	Env     *State // MONITOR_* (systemd >= 251, OnFailure=)
	Hook    *State // the hook's hand-over ($SERVICE_RESULT, ... from ExecStopPost=)
	DBus    *State // the unit's properties now
	Journal *State // systemd's messages about the unit: its last failed run
	// Crashes are the failed runs systemd's messages tell of, oldest
	// first, the run reported among them.
	Crashes []Crash
}

// Facts is what is known of the failed run once every source is heard.
type Facts struct {
	State
	// Known says some source told of the run; without it only Unit is set
	// and Problems says so.
	Known bool
	// Crashes is the crash loop the run ends, oldest first, the run itself
	// last; nil when the run is the only one (no history to tell).
	Crashes []Crash
	// Problems says what could not be learned, for the report.
	Problems []string

	// Host names the machine in the report.
	Host string
	// Lines are the run's lines: from the journal, Odoo's log file, or
	// both in time order. LogSource names where they came from;
	// LinesProblem says why they may be incomplete or empty.
	Lines        []report.Line
	LogSource    string
	LinesProblem string
}

// NoState is the problem of a run no source told of.
const NoState = "the unit's state could not be learned: no MONITOR_* environment, no D-Bus, no systemd messages about it in the journal"

// Merge decides, fact by fact, what is known of unit's failed run from what
// each source told. invocation is the run asked for (preview --invocation),
// "" for the unit's last failed run.
//
// For the last failed run, the run itself (its result, exit code and
// status) comes from the first source that tells of it, in this order:
//
//  1. MONITOR_*: systemd's own word to the handler, for this very run;
//  2. the hook's hand-over: the same variables, from ExecStopPost=; it is
//     not read when MONITOR_* is there;
//  3. D-Bus: the unit's properties now, which a restart may already have
//     moved on to the next run;
//  4. systemd's journal messages: the last resort.
//
// The later sources then fill in what the first leaves out: the restart
// count, ExecStart and MemoryMax are the unit's, whichever run a source saw
// last, and are taken from the first source that has them; the invocation
// id, the start and exit times and the start limit are taken only from a
// source that describes the same run (same invocation id, or none known
// yet), D-Bus before the journal. The start limit is hit when any such
// source says so. A later source never changes the result, exit code or
// exit status, nor where the state came from (Source).
//
// For an earlier run (invocation set), MONITOR_*, the hook and D-Bus
// describe the unit's last run, not that one: only systemd's messages as
// they stood when it failed tell of it, and only if they name it; D-Bus
// gives the unit's settings (ExecStart, MemoryMax) alone.
//
// Crashes are kept when there are at least two: one crash is the run
// itself, no loop to tell.
func Merge(unit, invocation string, told Told) Facts {
	var f Facts
	if invocation != "" {
		if j := told.Journal; j != nil && j.InvocationID == invocation {
			f.State, f.Known = *j, true
			if d := told.DBus; d != nil {
				f.ExecStart, f.MemoryMax = d.ExecStart, d.MemoryMax
			}
		}
	} else {
		base := told.Env
		if base == nil {
			base = told.Hook
		}
		if base != nil {
			f.State, f.Known = *base, true
		}
		for _, from := range []*State{told.DBus, told.Journal} {
			switch {
			case from == nil:
			case !f.Known:
				f.State, f.Known = *from, true
			default:
				fill(&f.State, *from)
			}
		}
	}
	if !f.Known {
		f.State = State{}
		f.Problems = append(f.Problems, NoState)
	}
	if f.Unit == "" {
		f.Unit = unit
	}
	if len(told.Crashes) >= 2 {
		f.Crashes = append([]Crash(nil), told.Crashes...)
	}
	return f
}

// fill completes st with what a later source knows: see Merge.
func fill(st *State, from State) {
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

// Handover is what the hook recorded of a failed run from ExecStopPost='s
// $SERVICE_RESULT, $EXIT_CODE, $EXIT_STATUS and $INVOCATION_ID.
type Handover struct {
	Unit, InvocationID, Result, ExitCode, ExitStatus string
}

// Systemd is the unit's state over D-Bus.
type Systemd interface {
	UnitState(ctx context.Context, unit string) (State, error)
}

// Journal is what systemd's journal messages about a unit tell: the state
// of its last failed run (ok false when they hold none) and every failed
// run, oldest first.
type Journal interface {
	History(unit string) (last State, ok bool, crashes []Crash)
}

// Sources are where Gather asks. A nil source is one this run cannot ask:
// no D-Bus for an offline journal (it would describe this machine's unit,
// not the journal's), no journal when it cannot be read.
type Sources struct {
	// Getenv is the handler's environment, for MONITOR_*.
	Getenv func(string) string
	// Hook is the hook's hand-over of the run, when it recorded one.
	Hook    *Handover
	Systemd Systemd
	Journal Journal
	Log     *slog.Logger
}

// Gather asks every source about unit's failed run (invocation, or the
// last one when "") and merges what they tell. A source that fails is
// logged and the others are heard: Gather always returns the facts, and
// Problems says what is missing.
func Gather(ctx context.Context, unit, invocation string, src Sources) Facts {
	log := src.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var told Told
	if invocation == "" {
		if src.Getenv != nil {
			if st, ok := FromEnv(unit, src.Getenv); ok {
				told.Env = &st
			}
		}
		if h := src.Hook; told.Env == nil && h != nil {
			if st, ok := FromHandover(unit, *h); ok {
				told.Hook = &st
			}
		}
		if told.Env == nil && told.Hook == nil {
			log.Info("no MONITOR_* environment for the unit (systemd < 251, or not started by OnFailure=)", "unit", unit)
		}
	}
	if src.Systemd != nil {
		st, err := src.Systemd.UnitState(ctx, unit)
		switch {
		case err != nil && invocation == "":
			log.Info("unit state not available over D-Bus", "unit", unit, "error", err)
		case err == nil:
			told.DBus = &st
		}
	}
	if src.Journal != nil {
		if st, ok, crashes := src.Journal.History(unit); ok || len(crashes) > 0 {
			if ok {
				told.Journal = &st
			}
			told.Crashes = crashes
		}
	}
	return Merge(unit, invocation, told)
}

// Report builds the run's report, once, from the facts and what the
// analysis says of them: res, and causes, the earlier failed runs' causes
// by invocation id. The report shows the run's last keep lines (all when
// keep is 0); created is when it is built. The report shares nothing with
// f that a later change to either would show in the other.
func (f *Facts) Report(res analysis.Result, causes map[string]string, keep int, created time.Time) *report.Report {
	lines := f.Lines
	if keep > 0 && len(lines) > keep {
		lines = lines[len(lines)-keep:]
	}
	r := &report.Report{
		Host:          f.Host,
		Unit:          f.Unit,
		InvocationID:  f.InvocationID,
		Result:        f.Result,
		ExitCode:      f.ExitCode,
		ExitStatus:    f.ExitStatus,
		NRestarts:     f.NRestarts,
		StartLimitHit: f.StartLimitHit,
		StartedAt:     f.StartedAt,
		ExitedAt:      f.ExitedAt,
		StateSource:   f.Source,
		Cause:         res.Cause,
		Exception:     res.Exception,
		Hints:         res.Hints,
		Errors:        res.Errors,
		Summary:       res.Summary,
		Lines:         slices.Clone(lines),
		LogSource:     f.LogSource,
		LinesProblem:  f.LinesProblem,
		Problems:      slices.Clone(f.Problems),
		Created:       created,
	}
	r.Crashes = ReportCrashes(f.Crashes, causes)
	return r
}

// ReportCrashes are crashes as a report lists them, each with its cause
// from causes (by invocation id); nil for none.
func ReportCrashes(crashes []Crash, causes map[string]string) []report.Crash {
	var out []report.Crash
	for _, c := range crashes {
		out = append(out, report.Crash{Time: c.Time, InvocationID: c.InvocationID, Result: c.Result,
			ExitCode: c.ExitCode, ExitStatus: c.ExitStatus, Cause: causes[c.InvocationID]})
	}
	return out
}
