package main

import (
	"context"
	"fmt"
	"time"

	"github.com/odoo-notify/odoo-notify/incident"
	"github.com/odoo-notify/odoo-notify/journal"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/outbox"
)

// runFlush redelivers what waits in the outbox, oldest first, and sends a
// digest for every unit whose held-back failures were never reported. A
// timer runs it; an admin may too, after fixing a mail server.
func runFlush(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "flush")
	var jf journalFlags
	jf.register(f)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErr("flush: takes no argument")
	}
	if err := a.loadConfig(f); err != nil {
		return err
	}
	channels, broken := buildChannels(a.cfg, httpClient(), a.log, "", a.slackThreads())
	if broken != nil {
		a.log.Error("a channel cannot be built: its reports wait until the config is fixed; the others are sent", "config", a.configPath, "error", broken)
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.General.Timeout.Duration)
	defer cancel()
	s := a.sender(channels)
	if s.Store == nil {
		return withCode(exitUnavailable, fmt.Errorf("flush: %w: check that the state folder exists and is writable (--state-dir, StateDirectory=)", s.StoreErr))
	}
	recorded := a.reportRecordedRuns(ctx, s.Store, channels, jf, "")
	o := s.Flush(ctx, a.unitActivity(jf))
	if o.Degraded != nil {
		return withCode(exitTempFail, fmt.Errorf("flush: %w", o.Degraded))
	}
	if recorded > 0 {
		fmt.Fprintf(a.stdout, "reported %d failed run(s) the hook recorded\n", recorded)
	}
	if o.Resolved+o.Reminders+o.Opened > 0 {
		fmt.Fprintf(a.stdout, "incidents: %d resolved, %d reminded, %d opened after a silence\n", o.Resolved, o.Reminders, o.Opened)
	}
	fmt.Fprintf(a.stdout, "delivered %d, digests %d, waiting %d, refused %d, dropped %d\n", o.Redelivered, o.Digests, o.Waiting, o.Refused, o.Dropped)
	a.log.Info("flush", "delivered", o.Redelivered, "digests", o.Digests, "waiting", o.Waiting, "refused", o.Refused, "dropped", o.Dropped, "resolved", o.Resolved, "reminders", o.Reminders, "refreshed", o.Refreshed)
	switch {
	case broken != nil && o.Waiting == 0:
		return broken
	case o.Waiting > 0:
		return withCode(exitTempFail, fmt.Errorf("%w: %d report(s) still wait in the outbox", errReported, o.Waiting))
	case o.Refused > 0 || o.Dropped > 0:
		return withCode(exitUnavailable, fmt.Errorf("%w: %d report(s) refused for good, %d dropped for age: see the error lines above", errReported, o.Refused, o.Dropped))
	}
	return nil
}

// reportRecordedRuns builds and sends the report of every failed run the
// hook recorded and no handler reported: a handler killed in its first
// milliseconds, or one systemd never started. The gate drops a run already
// reported. It returns how many runs it took up.
//
// It reads the records again until a pass finds none it has not taken up:
// a run that fails while a report is built has its hook record it, and its
// handler start merged by systemd into this still-running one, so nobody
// else reports it. A record that stays (its report could not be saved) is
// taken up once per call.
func (a *app) reportRecordedRuns(ctx context.Context, st *outbox.Store, channels []notifiers.Channel, jf journalFlags, unit string) int {
	n := 0
	tried := map[string]bool{}
	for more := true; more; {
		more = false
		for _, rec := range st.FailedRuns(unit) {
			key := rec.Unit + "/" + rec.InvocationID + "/" + rec.At.String()
			if tried[key] {
				continue
			}
			tried[key], more = true, true
			a.failed = &rec
			rep, err := a.buildReport(ctx, rec.Unit, jf)
			if err != nil {
				a.log.Error("flush: cannot build the report of a recorded failed run", "unit", rec.Unit, "invocation_id", rec.InvocationID, "error", err)
				continue
			}
			err = a.deliver(ctx, rep, channels, nil)
			a.forgetRecordedRun(rep, err)
			n++
		}
	}
	a.failed = nil
	return n
}

// unitActivity tells what systemd says of a unit now: over D-Bus, or from
// an offline journal's systemd messages as of its end.
func (a *app) unitActivity(jf journalFlags) func(context.Context, string) (incident.Unit, error) {
	return func(ctx context.Context, unit string) (incident.Unit, error) {
		var act journal.Activity
		if jf.offline() {
			j, err := jf.open()
			if err != nil {
				return incident.Unit{}, err
			}
			defer j.Close()
			events, err := j.Events(unit, time.Time{}, 500)
			if err != nil {
				return incident.Unit{}, err
			}
			act = journal.ActivityFromEvents(unit, events)
		} else {
			var err error
			if act, err = a.bus.Activity(ctx, unit); err != nil {
				return incident.Unit{}, err
			}
		}
		return incident.Unit{Active: act.Active(), State: act.ActiveState + "/" + act.SubState, Since: act.Since, InvocationID: act.InvocationID}, nil
	}
}
