package outbox

import (
	"maps"
	"slices"
	"time"

	"github.com/odoo-notify/odoo-notify/incident"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/report"
)

// Refresher is a channel whose receiver forgets what it is not told again:
// Alertmanager resolves an alert whose endsAt has passed. Each Flush puts
// in the outbox, for such a channel only, every open incident again, and
// every incident that resolved less than ResendResolved ago, so that a
// receiver that was down or restarted learns the end too. These go through
// the outbox like any report: claimed, delivered after the opening report,
// recorded, kept while the channel is down.
type Refresher interface {
	ResendResolved() time.Duration
}

// refresh puts a refresh of each open incident, and of each recently
// resolved one, in the outbox for the channels that are Refreshers and got
// (or may still get) its opening report. A refresh has one id per incident
// and state: while one waits (the channel is down), the next flush adds
// none, and the one that waits tells the receiver what is true when it
// goes, as every refresh is rendered at its send.
func (s *Sender) refresh(tx *tx, out *Outcome) {
	var refreshers []notifiers.Channel
	for _, ch := range s.Channels {
		if _, ok := ch.Notifier.(Refresher); ok {
			refreshers = append(refreshers, ch)
		}
	}
	if len(refreshers) == 0 {
		return
	}
	put := func(in *incident.Incident, state string, chs []notifiers.Channel) {
		got := s.followUpChannels(in)
		chs = slices.DeleteFunc(slices.Clone(chs), func(ch notifiers.Channel) bool {
			return !slices.ContainsFunc(got, func(f notifiers.Channel) bool { return f.Name == ch.Name })
		})
		if len(chs) == 0 {
			return
		}
		e := newEntry(s.refreshReport(in, state, tx.now), chs, tx.now)
		e.After = in.OpeningEntry
		if _, err := s.put(e); err != nil {
			s.log().Warn("incident: the refresh of an alert could not be saved: the next flush tries again", "unit", in.Unit, "incident", in.ID, "error", err)
			return
		}
		out.Refreshes++
	}
	for _, name := range slices.Sorted(maps.Keys(tx.inc.Open)) {
		if in := tx.inc.Open[name]; in.Announced {
			put(in, "open", refreshers)
		}
	}
	for _, in := range tx.inc.Closed {
		// Not in the pass that resolved it: its recovery notice is on
		// its way. Not once the unit has a new incident: the receiver
		// knows the alert by its labels, which the new one shares, and
		// the old end would end the new alert.
		if !in.Announced || !tx.now.After(in.Resolved) || tx.inc.Open[in.Unit] != nil {
			continue
		}
		var chs []notifiers.Channel
		for _, ch := range refreshers {
			if tx.now.Sub(in.Resolved) < ch.Notifier.(Refresher).ResendResolved() {
				chs = append(chs, ch)
			}
		}
		put(in, "resolved", chs)
	}
}

// refreshReport tells again what in is now: open, with the summary of its
// latest report, or resolved.
func (s *Sender) refreshReport(in *incident.Incident, state string, now time.Time) *report.Report {
	event := report.EventFiring
	if state == "resolved" {
		event = report.EventResolved
	}
	return &report.Report{
		Host:         s.Host,
		Unit:         in.Unit,
		InvocationID: in.LastInvocation,
		Event:        event,
		Incident:     in.Snapshot(state),
		Refresh:      true,
		Summary:      in.LastSummary,
		Cause:        in.LastCause(),
		Created:      now,
	}
}
