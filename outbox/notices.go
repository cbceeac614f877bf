package outbox

import (
	"fmt"
	"time"

	"github.com/odoo-notify/odoo-notify/incident"
	"github.com/odoo-notify/odoo-notify/report"
)

// clock is how a notice says a time: the host's wall clock, as the person
// on call reads it on the server.
const clock = "15:04:05"

// recoveryReport says the unit is back: "erp1: odoo.service is back:
// running since 10:32:05, after 3 failures in 7 min (db-unreachable x3)".
func (s *Sender) recoveryReport(in *incident.Incident, u incident.Unit) *report.Report {
	back := "running"
	if u.Answering {
		back = "answering again"
	}
	summary := fmt.Sprintf("%s: %s is back: %s since %s, after %d failure(s) in %s (%s)",
		s.Host, in.Unit, back, u.Since.Local().Format(clock), in.Failures, report.Span(later(u.Since, in.LastFailure).Sub(in.Opened)), in.CauseText())
	return &report.Report{
		Host:         s.Host,
		Unit:         in.Unit,
		InvocationID: u.InvocationID,
		StartedAt:    u.Since,
		Summary:      summary,
		Cause:        "recovered",
		Created:      s.now(),
	}
}

// reminderReport says an open incident's unit is still down.
func (s *Sender) reminderReport(in *incident.Incident, u incident.Unit, now time.Time) *report.Report {
	state := u.State
	if state == "" {
		state = "not active"
	}
	return &report.Report{
		Host: s.Host,
		Unit: in.Unit,
		Summary: fmt.Sprintf("%s: %s is still down (%s): %d failure(s) since %s, %s ago (%s)",
			s.Host, in.Unit, state, in.Failures, in.Opened.Local().Format(clock), report.Span(now.Sub(in.Opened)), in.CauseText()),
		Cause:   in.LastCause(),
		Created: now,
	}
}

// silenceReport opens an incident that came during a silence: what
// happened while it lasted.
func (s *Sender) silenceReport(in *incident.Incident, e incident.Ended, u incident.Unit, now time.Time) *report.Report {
	reason := ""
	if e.Silence.Reason != "" {
		reason = " (" + e.Silence.Reason + ")"
	}
	state := "is not running"
	if u.Active {
		state = "is running, but not for long enough to be called back"
	}
	if u.State == "" && !u.Active {
		state = "may still be down (its state could not be learned)"
	}
	return &report.Report{
		Host:         s.Host,
		Unit:         in.Unit,
		InvocationID: in.LastInvocation,
		ExitedAt:     in.LastFailure,
		Summary: fmt.Sprintf("%s failed %d time(s) during a silence%s from %s to %s and %s: %s",
			in.Unit, in.Failures, reason, e.Silence.Since.Local().Format(clock), e.Silence.Until.Local().Format(clock), state, in.CauseText()),
		Cause:        in.LastCause(),
		LinesProblem: "failures during a silence: see the journal for their log lines (odoo-notify history " + in.Unit + ", journalctl -u " + in.Unit + ")",
		Created:      now,
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
