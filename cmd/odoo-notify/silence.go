package main

import (
	"context"
	"fmt"
	"time"

	"github.com/odoo-notify/odoo-notify/incident"
)

// maxSilence bounds a silence: one forgotten after a deploy must not hide
// a unit's failures for good.
const maxSilence = 7 * 24 * time.Hour

// runSilence records a silence: UNIT's failures are counted, not sent, until
// it ends. A test report is never silenced.
func runSilence(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "silence")
	dur := f.Duration("for", 30*time.Minute, "how long (at most 7 days)")
	reason := f.String("reason", "", "why, shown in status and in the report when the silence ends (\"deploy 18.0.3\")")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("silence: takes one unit, like silence odoo.service --for 30m")
	}
	unit, err := unitName(pos[0])
	if err != nil {
		return usageErr("silence: %v", err)
	}
	if *dur <= 0 || *dur > maxSilence {
		return usageErr("silence: --for %s: give a duration between 1s and 168h (7 days)", *dur)
	}
	if err := a.loadConfig(f); err != nil {
		return err
	}
	st, err := a.openStore()
	if err != nil {
		return withCode(exitUnavailable, fmt.Errorf("silence: %w: check that the state folder exists and is writable (--state-dir)", err))
	}
	now := a.now()
	until := now.Add(*dur)
	why := *reason
	if who := firstSet(a.getenv("SUDO_USER"), a.getenv("USER")); who != "" && who != "root" {
		why = joinNonEmpty(why, "by "+who)
	}
	if err := st.UpdateIncidents(ctx, func(s *incident.State) error {
		s.Silence(unit, until, now, why)
		return nil
	}); err != nil {
		return withCode(exitTempFail, fmt.Errorf("silence: %w", err))
	}
	fmt.Fprintf(a.stdout, "%s is silenced until %s (%s): its failures are counted, not sent\n", unit, until.Local().Format("2006-01-02 15:04:05"), *dur)
	fmt.Fprintf(a.stdout, "if it still fails when the silence ends, its incident opens then; odoo-notify unsilence %s ends it now\n", unit)
	a.log.Info("silenced", "unit", unit, "until", until.UTC().Format(time.RFC3339), "reason", why)
	return nil
}

// runUnsilence ends UNIT's silence now. An incident that came during it
// opens, unless the unit is running again, and goes out at once.
func runUnsilence(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "unsilence")
	var jf journalFlags
	jf.register(f)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("unsilence: takes one unit, like unsilence odoo.service")
	}
	unit, err := unitName(pos[0])
	if err != nil {
		return usageErr("unsilence: %v", err)
	}
	if err := a.loadConfig(f); err != nil {
		return err
	}
	channels, broken := buildChannels(a.cfg, httpClient(), a.log, "", a.slackThreads())
	ctx, cancel := context.WithTimeout(ctx, a.cfg.General.Timeout.Duration)
	defer cancel()
	s := a.sender(channels)
	if s.Store == nil {
		return withCode(exitUnavailable, fmt.Errorf("unsilence: %w: check that the state folder exists and is writable (--state-dir)", s.StoreErr))
	}
	u, uerr := a.unitActivity(jf)(ctx, unit)
	if uerr != nil {
		a.log.Warn("cannot learn the unit's state: failures during the silence are reported", "unit", unit, "error", uerr)
	}
	o, ok := s.EndSilence(ctx, unit, u)
	if o.Degraded != nil {
		return withCode(exitTempFail, fmt.Errorf("unsilence: %w", o.Degraded))
	}
	if !ok {
		fmt.Fprintf(a.stdout, "%s was not silenced\n", unit)
		return nil
	}
	fmt.Fprintf(a.stdout, "%s is no longer silenced\n", unit)
	if o.Opened > 0 {
		fmt.Fprintf(a.stdout, "it failed during the silence and is not back: its incident is open and reported\n")
	}
	if o.Waiting > 0 {
		return withCode(exitTempFail, fmt.Errorf("%w: %d report(s) wait in the outbox for odoo-notify flush", errReported, o.Waiting))
	}
	return broken
}

func firstSet(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ", " + b
}
