// Package report holds the crash report: one value that says what failed, on
// which host, why, and the log lines of the failed run. Every channel renders
// the same value (text, HTML, JSON here; Slack blocks in notifiers/slack).
//
// It imports nothing of odoo-notify's own and only the standard library, so
// every rendering is trivial to test.
package report

import (
	"fmt"
	"strings"
	"time"
)

// Schema names the JSON contract; it changes only when a field changes meaning
// or goes away. Adding fields keeps v1.
const Schema = "odoo-notify/report/v1"

// Line is one journal (or log file) line of the failed run.
type Line struct {
	Time time.Time `json:"time"`
	// Priority is the syslog level, 0 (emerg) to 7 (debug); 6 (info) when unknown.
	Priority int    `json:"priority"`
	Message  string `json:"message"`
}

// Exception is the Python exception that ended the run.
type Exception struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Traceback string `json:"traceback"`
	// Frame is the innermost "file:line in function".
	Frame string `json:"frame"`
}

// Crash is one earlier failed run of the unit, rebuilt from systemd's own
// journal messages.
type Crash struct {
	Time         time.Time `json:"time"`
	InvocationID string    `json:"invocation_id,omitempty"`
	Result       string    `json:"result,omitempty"`
	ExitCode     string    `json:"exit_code,omitempty"`
	ExitStatus   string    `json:"exit_status,omitempty"`
	// Cause is what the run died of, from the analysis of its own lines
	// ("db-unreachable"); empty when not analysed.
	Cause string `json:"cause,omitempty"`
}

// Held says what the gate held back (dedup, rate limits) since the last report
// that went out for this unit, so nothing is silently dropped.
type Held struct {
	Count   int       `json:"count"`
	Since   time.Time `json:"since"`
	Results []string  `json:"results,omitempty"`
}

// Report is one crash report. The zero value of every optional field means
// "not known", and renderings leave it out.
type Report struct {
	// ID identifies the report to a receiver across redeliveries: the same
	// failed run sent to the same channel always carries the same ID.
	ID string `json:"id,omitempty"`
	// Test marks a report sent by `odoo-notify test`.
	Test bool   `json:"test"`
	Host string `json:"host"`
	Unit string `json:"unit"`

	InvocationID string `json:"invocation_id"`
	// Result is systemd's service result: exit-code, signal, core-dump,
	// watchdog, timeout, oom-kill, start-limit-hit, resources.
	Result string `json:"result"`
	// ExitCode is how the main process ended: exited, killed, dumped.
	ExitCode string `json:"exit_code"`
	// ExitStatus is the exit status ("3") or the signal name without SIG ("KILL").
	ExitStatus string `json:"exit_status"`
	NRestarts  int    `json:"n_restarts"`
	// StartLimitHit says systemd stopped restarting the unit: a crash loop
	// hit StartLimitBurst. Under Restart=on-failure, systemd 252 keeps the
	// last crash's Result (exit-code, signal) rather than start-limit-hit.
	StartLimitHit bool      `json:"start_limit_hit,omitempty"`
	StartedAt     time.Time `json:"started_at,omitzero"`
	ExitedAt      time.Time `json:"exited_at,omitzero"`
	// StateSource says where the unit state came from: "monitor-env",
	// "dbus", "journal", or "" when nothing could be learned.
	StateSource string `json:"state_source,omitempty"`

	// Summary is one line a person reads first.
	Summary string `json:"summary"`
	// Cause is the analysed cause (oom-kill, db-unreachable, ...).
	Cause     string     `json:"cause,omitempty"`
	Exception *Exception `json:"exception,omitempty"`
	Hints     []string   `json:"hints,omitempty"`
	Crashes   []Crash    `json:"crashes,omitempty"`
	Held      *Held      `json:"held,omitempty"`

	Lines []Line `json:"lines"`
	// LogSource names where Lines came from ("journal", or a log file path).
	LogSource string `json:"log_source,omitempty"`
	// LinesProblem says why Lines may be incomplete or empty (for example a
	// journal that could not be read), so that an empty excerpt is never
	// mistaken for a quiet run.
	LinesProblem string `json:"lines_problem,omitempty"`
	// Problems lists what could not be learned while building the report.
	Problems []string `json:"problems,omitempty"`
	// Created is when the report was built.
	Created time.Time `json:"created"`
}

// What says in a few words what happened: "signal KILL", "exit status 3",
// "watchdog", "start limit hit after 5 restarts", "oom-kill, signal KILL".
func (r *Report) What() string {
	switch {
	case r.Test:
		return "test report"
	case r.Cause != "" && r.Cause != r.Result && r.Cause != "exit-code" && r.Cause != "unknown" && r.Cause != "start-limit-hit":
		// The analysed cause says why (an OOM kill systemd saw as a
		// SIGKILL, a config error behind exit status 2); what systemd saw
		// follows it.
		plain := *r
		plain.Cause = ""
		return r.Cause + ", " + plain.What()
	case r.StartLimitHit || r.Result == "start-limit-hit":
		s := "start limit hit"
		if r.NRestarts > 0 {
			s = fmt.Sprintf("start limit hit after %d restarts", r.NRestarts)
		}
		if r.Result != "" && r.Result != "start-limit-hit" {
			last := *r
			last.StartLimitHit = false
			s += ", last: " + last.What()
		}
		return s
	case r.Result == "watchdog" || r.Result == "timeout" || r.Result == "oom-kill" || r.Result == "resources":
		if r.ExitStatus != "" && r.ExitCode != "exited" {
			return fmt.Sprintf("%s, signal %s", r.Result, r.ExitStatus)
		}
		return r.Result
	case r.ExitCode == "killed" || r.ExitCode == "dumped" || r.Result == "signal" || r.Result == "core-dump":
		s := "signal"
		if r.ExitCode == "dumped" || r.Result == "core-dump" {
			s = "core dump, signal"
		}
		if r.ExitStatus == "" {
			return strings.TrimSuffix(s, ", signal")
		}
		return s + " " + r.ExitStatus
	case r.ExitStatus != "" && r.ExitStatus != "0":
		return "exit status " + r.ExitStatus
	case r.Result != "":
		return r.Result
	}
	return "unknown result"
}

// Subject is the one-line title: "erp1: odoo.service failed (signal KILL)",
// or, when the exception is known, "erp1: odoo.service crashed: Type: message".
// It never holds CR or LF, so it is safe in a mail header.
func (r *Report) Subject() string {
	var s string
	switch {
	case r.Test:
		s = fmt.Sprintf("[TEST] %s: odoo-notify test report for %s", r.Host, r.Unit)
	case r.Exception != nil && r.Exception.Type != "":
		e := r.Exception.Type
		if r.Exception.Message != "" {
			e += ": " + r.Exception.Message
		}
		s = fmt.Sprintf("%s: %s crashed: %s", r.Host, r.Unit, e)
	default:
		s = fmt.Sprintf("%s: %s failed (%s)", r.Host, r.Unit, r.What())
	}
	return Truncate(OneLine(s), 200)
}
