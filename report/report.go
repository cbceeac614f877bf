// Package report holds the crash report: one value that says what failed, on
// which host, why, and the log lines of the failed run. Every channel renders
// the same value (text, HTML, JSON here; Slack blocks in notifiers/slack).
//
// It imports nothing of odoo-notify's own and only the standard library, so
// every rendering is trivial to test.
package report

import (
	"fmt"
	"slices"
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

// MaxErrors bounds Report.Errors: the kinds of error a person reads.
const MaxErrors = 10

// LoggedError is one kind of error the run logged: an exception type and
// message (or a logger and its line when no traceback came with it), how
// often, when first and last, and whether it ended the run.
type LoggedError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	// Context says what the server was doing: "request handling", "cron
	// job"; "" for the server itself.
	Context string    `json:"context,omitempty"`
	Count   int       `json:"count"`
	First   time.Time `json:"first,omitzero"`
	Last    time.Time `json:"last,omitzero"`
	Fatal   bool      `json:"fatal"`
}

// String is one line: "14 x KeyError: 'ir.http' (request handling), last
// 10:31:02".
func (e LoggedError) String() string {
	s := e.Type
	if e.Message != "" {
		s += ": " + e.Message
	}
	s = fmt.Sprintf("%d x %s", e.Count, Truncate(OneLine(s), 240))
	if e.Context != "" {
		s += " (" + e.Context + ")"
	}
	switch {
	case e.Last.IsZero():
	case e.Count > 1 && !e.First.IsZero() && !e.First.Equal(e.Last):
		s += ", first " + clock(e.First) + ", last " + clock(e.Last)
	default:
		s += ", at " + clock(e.Last)
	}
	if e.Fatal {
		s += ", ended the run"
	}
	return s
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05") }

// Held says what the gate held back (dedup, rate limits) since the last report
// that went out for this unit, so nothing is silently dropped.
type Held struct {
	Count   int       `json:"count"`
	Since   time.Time `json:"since"`
	Results []string  `json:"results,omitempty"`
}

// CauseHang is the cause of a unit that runs but no longer answers its
// health URL (odoo-notify watch).
const CauseHang = "hang"

// Events a report can be (the webhook JSON's "event").
const (
	// EventFiring opens an incident: the unit's first reported failure.
	EventFiring = "firing"
	// EventUpdate is a further failure (or a digest) of an open incident.
	EventUpdate = "update"
	// EventResolved says the unit is back: the incident is over.
	EventResolved = "resolved"
	// EventReminder says an open incident's unit is still down.
	EventReminder = "reminder"
	// EventTest is a report sent by odoo-notify test.
	EventTest = "test"
)

// Incident is what a report carries of the incident it belongs to.
type Incident struct {
	ID string `json:"id"`
	// Opened is the first failure's time.
	Opened time.Time `json:"opened"`
	// Failures counts the incident's failed runs so far.
	Failures int `json:"failures"`
	// State is "open" or "resolved".
	State string `json:"state"`
	// Causes says how many failures of which cause: "db-unreachable x3".
	Causes      string    `json:"causes,omitempty"`
	LastFailure time.Time `json:"last_failure,omitzero"`
	// Resolved and RunningSince are set on the recovery notice.
	Resolved     time.Time `json:"resolved,omitzero"`
	RunningSince time.Time `json:"running_since,omitzero"`
	// Subject is the opening report's subject: follow-ups reuse it with a
	// state prefix so a mail client shows one conversation.
	Subject string `json:"subject,omitempty"`
	// ThreadID is, on one channel, the id of the report that opened the
	// incident (the opening mail's Message-ID); empty on the opening itself.
	ThreadID string `json:"thread_id,omitempty"`
	// Cause is the opening report's cause: it stays the incident's while
	// later failures have others (Alertmanager names the alert by it).
	// Empty on the opening itself, whose Cause it is.
	Cause string `json:"cause,omitempty"`
}

// Report is one crash report. The zero value of every optional field means
// "not known", and renderings leave it out.
type Report struct {
	// ID identifies the report to a receiver across redeliveries: the same
	// failed run sent to the same channel always carries the same ID.
	ID string `json:"id,omitempty"`
	// Test marks a report sent by `odoo-notify test`.
	Test bool `json:"test"`
	// Event is what the report says of its incident: EventFiring,
	// EventUpdate, EventResolved, EventReminder or EventTest. Empty is a
	// failure outside any incident (read as firing).
	Event string `json:"event,omitempty"`
	// Incident is the incident the report belongs to, when there is one.
	Incident *Incident `json:"incident,omitempty"`
	// Refresh marks a report that tells a channel again what it was told
	// last of an open or just resolved incident (Event firing or
	// resolved), for a receiver that forgets what is not repeated:
	// Alertmanager resolves an alert that is not sent again before its
	// endsAt. Only such channels get it.
	Refresh bool   `json:"refresh,omitempty"`
	Host    string `json:"host"`
	Unit    string `json:"unit"`

	InvocationID string `json:"invocation_id"`
	// Episode tells apart spells of trouble within one run that did not
	// end it (a hang the unit came out of, then another): each is
	// reported on its own. Empty for a failed run.
	Episode string `json:"episode,omitempty"`
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
	// Errors are the kinds of error the run logged, fatal or not, most
	// frequent first, at most MaxErrors.
	Errors []LoggedError `json:"errors,omitempty"`
	Held   *Held         `json:"held,omitempty"`
	// Hang is set on a hang report, Degraded on a degraded one.
	Hang     *Hang     `json:"hang,omitempty"`
	Degraded *Degraded `json:"degraded,omitempty"`

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
// An incident's follow-up repeats the opening report's subject with a state
// prefix ("[UPDATE] ", "[RESOLVED] ", "[STILL DOWN] "), so that a mail
// client shows one conversation; Title says what this one is about. It never
// holds CR or LF, so it is safe in a mail header.
func (r *Report) Subject() string {
	opening := ""
	if r.Incident != nil {
		opening = r.Incident.Subject
	}
	if r.Event == EventUpdate && opening != "" {
		return Truncate(OneLine("[UPDATE] "+opening), 200)
	}
	return r.Title()
}

// Title is the report's own one-line title: a follow-up's state prefix and
// what it is about ("[UPDATE] erp1: odoo.service failed (signal KILL)"). It
// is the Subject but for an update, whose Subject is the opening's.
func (r *Report) Title() string {
	var s string
	opening := ""
	if r.Incident != nil {
		opening = r.Incident.Subject
	}
	switch {
	case r.Event == EventResolved:
		s = "[RESOLVED] " + firstNonEmpty(opening, fmt.Sprintf("%s: %s is back", r.Host, r.Unit))
	case r.Event == EventReminder:
		s = "[STILL DOWN] " + firstNonEmpty(opening, fmt.Sprintf("%s: %s is still down", r.Host, r.Unit))
	case r.Test:
		s = fmt.Sprintf("[TEST] %s: odoo-notify test report for %s", r.Host, r.Unit)
	case r.Cause == CauseHang:
		s = fmt.Sprintf("%s: %s hung: it does not answer its health URL", r.Host, r.Unit)
	case r.Cause == CauseDegraded && r.Degraded != nil:
		s = fmt.Sprintf("%s: %s degraded: %s", r.Host, r.Unit, r.Degraded.Summary)
	case r.Exception != nil && r.Exception.Type != "":
		e := r.Exception.Type
		if r.Exception.Message != "" {
			e += ": " + r.Exception.Message
		}
		s = fmt.Sprintf("%s: %s crashed: %s", r.Host, r.Unit, e)
	default:
		s = fmt.Sprintf("%s: %s failed (%s)", r.Host, r.Unit, r.What())
	}
	if r.Event == EventUpdate && opening != "" {
		s = "[UPDATE] " + s
	}
	return Truncate(OneLine(s), 200)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// IsFollowUp says the report follows an incident's opening report.
func (r *Report) IsFollowUp() bool {
	return r.Event == EventUpdate || r.Event == EventResolved || r.Event == EventReminder
}

// Clone is a copy of r that shares nothing with it: a stage that changes
// its copy (redaction, the incident a delivery belongs to) leaves the
// report it was given as it was.
func (r *Report) Clone() *Report {
	c := *r
	c.Lines = slices.Clone(r.Lines)
	if r.Exception != nil {
		x := *r.Exception
		c.Exception = &x
	}
	if r.Incident != nil {
		in := *r.Incident
		c.Incident = &in
	}
	if r.Held != nil {
		h := *r.Held
		h.Results = slices.Clone(r.Held.Results)
		c.Held = &h
	}
	if r.Hang != nil {
		h := *r.Hang
		h.Probes = slices.Clone(r.Hang.Probes)
		h.Done = slices.Clone(r.Hang.Done)
		h.Threads = slices.Clone(r.Hang.Threads)
		for i := range h.Threads {
			h.Threads[i].Frames = slices.Clone(h.Threads[i].Frames)
		}
		c.Hang = &h
	}
	if r.Degraded != nil {
		d := *r.Degraded
		d.Counts = slices.Clone(r.Degraded.Counts)
		d.Examples = slices.Clone(r.Degraded.Examples)
		c.Degraded = &d
	}
	c.Hints = slices.Clone(r.Hints)
	c.Crashes = slices.Clone(r.Crashes)
	c.Errors = slices.Clone(r.Errors)
	c.Problems = slices.Clone(r.Problems)
	return &c
}
