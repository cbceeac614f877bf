// Package watch is odoo-notify's watcher of a running unit: it probes the
// unit's health URL, decides from what it saw and the time whether the unit
// is starting, healthy, failing or hung, reads the stack dump a hung Odoo
// writes on SIGQUIT, and says what to report.
//
// Decisions (Step) are pure functions of the State, what systemd says of
// the unit, the probe's result and the time; the I/O (probing, signalling,
// reading the journal, reporting) is behind the small interfaces the
// Watcher is given.
package watch

import (
	"fmt"
	"time"
)

// Phase is what the watcher makes of the unit.
type Phase int

const (
	// Starting: the unit is not active, or is active but has not answered
	// yet and is within its start grace; a failed probe is not counted.
	Starting Phase = iota
	// Healthy: the last probe was answered.
	Healthy
	// Failing: probes fail in a row, fewer than Policy.Failures.
	Failing
	// Hung: Policy.Failures probes failed in a row.
	Hung
)

func (p Phase) String() string {
	switch p {
	case Starting:
		return "starting"
	case Healthy:
		return "healthy"
	case Failing:
		return "failing"
	case Hung:
		return "hang"
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// Policy is the [watch] settings the decisions use.
type Policy struct {
	// StartGrace: a run that has not answered yet is not counted as
	// failing before it has been active that long.
	StartGrace time.Duration
	// Failures probes failing in a row are a hang.
	Failures int
}

// Unit is what systemd says of the watched unit now.
type Unit struct {
	// Active: ActiveState is active or reloading.
	Active bool
	// State is ActiveState/SubState, for a person.
	State string
	// Since is when the unit last became active.
	Since time.Time
	// InvocationID names the current run.
	InvocationID string
}

// maxHistory bounds the probes a State remembers: what a hang report shows.
const maxHistory = 10

// State is what the watcher remembers between probes.
type State struct {
	Phase Phase
	// Invocation is the run being watched; RunSince when it became active.
	Invocation string
	RunSince   time.Time
	// Answered: this run answered a probe at least once.
	Answered bool
	// Fails counts the probes failed in a row that count.
	Fails int
	// History holds the last probes, oldest first.
	History []Result
	// Open: a hang was reported and the unit has not been seen well since
	// (its incident is open). HungRun is the run that hung.
	Open    bool
	HungRun string
	// AnsweringSince is the first answer after the hang, while Open.
	AnsweringSince time.Time
}

// Verdict is what Step asks the watcher to do.
type Verdict int

const (
	// Nothing to do.
	Nothing Verdict = iota
	// ReportHang: the unit just hung: dump its stacks, act, report.
	ReportHang
	// Answering: the unit answers again while a hang is open: the
	// watcher offers the incident its recovery (from AnsweringSince).
	Answering
)

func (v Verdict) String() string {
	switch v {
	case Nothing:
		return "nothing"
	case ReportHang:
		return "report-hang"
	case Answering:
		return "answering"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// Step is one tick: u is what systemd says of the unit at now, r the probe
// made then (nil when the unit was not active, so nothing was probed).
func Step(s State, p Policy, u Unit, r *Result, now time.Time) (State, Verdict) {
	if !u.Active {
		// A stopped or failed unit is OnFailure='s to report, and a
		// restart's to bring back: nothing is probed, nothing counts.
		s.Phase, s.Fails, s.AnsweringSince = Starting, 0, time.Time{}
		return s, Nothing
	}
	if u.InvocationID != s.Invocation || (u.InvocationID == "" && !u.Since.Equal(s.RunSince)) {
		s.Invocation, s.RunSince = u.InvocationID, u.Since
		s.Phase, s.Answered, s.Fails = Starting, false, 0
	}
	if r == nil {
		return s, Nothing
	}
	s.History = append(s.History, *r)
	if len(s.History) > maxHistory {
		s.History = s.History[len(s.History)-maxHistory:]
	}
	if r.OK() {
		s.Phase, s.Answered, s.Fails = Healthy, true, 0
		if !s.Open {
			return s, Nothing
		}
		if s.AnsweringSince.IsZero() {
			s.AnsweringSince = r.At
		}
		return s, Answering
	}
	s.AnsweringSince = time.Time{}
	if !s.Answered && now.Sub(s.RunSince) < p.StartGrace {
		s.Phase = Starting
		return s, Nothing
	}
	s.Fails++
	if s.Fails < max(p.Failures, 1) {
		s.Phase = Failing
		return s, Nothing
	}
	s.Phase = Hung
	// One report per hung run: a run still hung (on_hang = "report") is
	// not reported again; a restarted run that hangs too is.
	if s.Open && s.HungRun == s.Invocation {
		return s, Nothing
	}
	s.Open, s.HungRun = true, s.Invocation
	return s, ReportHang
}

// Resolved records that the hang's incident got its recovery notice.
func (s State) Resolved() State {
	s.Open, s.HungRun, s.AnsweringSince = false, "", time.Time{}
	return s
}

// Resumed is the State of a watcher started again while the unit's hang
// incident is open (systemd restarted it after a crash): the hang is not
// reported twice.
func (s State) Resumed(run string) State {
	s.Open, s.HungRun = true, run
	return s
}
