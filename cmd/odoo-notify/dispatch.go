package main

import (
	"context"
	"fmt"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/outbox"
	"github.com/odoo-notify/odoo-notify/report"
)

// runDispatch is the main job: what odoo-notify@.service runs with %i after
// UNIT failed. It always tries to get the report out: a broken config still
// puts the report in the journal.
func runDispatch(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "dispatch")
	var jf journalFlags
	jf.register(f)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("dispatch: give exactly one unit, like odoo.service")
	}
	unit := pos[0]
	cfgErr := a.loadConfig(f)
	if cfgErr != nil {
		// The failure still gets reported, to the journal, with defaults.
		a.log.Error("config is invalid: the report goes to the journal only; fix it with odoo-notify check-config", "config", a.configPath, "error", cfgErr)
		a.cfg = config.Default()
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.General.Timeout.Duration)
	defer cancel()

	// The start limit refusing a restart is no run of its own: systemd
	// names the last run that did fail, which its hook recorded and which
	// is reported on its own, first, below.
	startLimit := a.getenv("MONITOR_UNIT") == unit && a.getenv("MONITOR_SERVICE_RESULT") == startLimitHit
	if !startLimit {
		a.failed = a.recordedRun(unit)
	}
	rep, err := a.buildReport(ctx, unit, jf)
	if err != nil {
		return err
	}
	if startLimit && rep.Result == startLimitHit {
		// Told apart from the run's own report: an update of its incident.
		rep.Episode = startLimitHit
	}
	if cfgErr != nil {
		fmt.Fprint(a.stderr, rep.Text())
		return cfgErr
	}
	channels, broken := buildChannels(a.cfg, httpClient(), a.log, "", a.slackThreads())
	if broken != nil {
		a.log.Error("a channel cannot be built and gets nothing, the others get the report: fix it with odoo-notify check-config", "config", a.configPath, "error", broken)
		if len(channels) == 0 {
			fmt.Fprint(a.stderr, rep.Text())
			return broken
		}
	}
	if startLimit {
		// The loop's last runs may have had their handler start merged
		// into a running handler after it looked: they count, with
		// their own cause, before the start limit's update.
		if st, serr := a.openStore(); serr == nil {
			if n := a.reportRecordedRuns(ctx, st, channels, jf, unit); n > 0 {
				a.log.Info("reported failed runs the hook recorded before the start limit stopped the unit", "unit", unit, "runs", n)
			}
		}
	}
	err = a.deliver(ctx, rep, channels, nil)
	a.forgetRecordedRun(rep, err)
	// A crash while this handler ran had its start merged into this run by
	// systemd: its hook's record is here, and is reported now.
	if st, serr := a.openStore(); serr == nil {
		if n := a.reportRecordedRuns(ctx, st, channels, jf, unit); n > 0 {
			a.log.Info("reported failed runs the hook recorded while this handler ran", "unit", unit, "runs", n)
		}
	}
	if err != nil {
		return err
	}
	return broken
}

// startLimitHit is systemd's result when the start limit refused a restart.
const startLimitHit = "start-limit-hit"

// recordedRun is the failed run of unit the hook recorded that this run
// reports: the one systemd's MONITOR_* names, else the newest.
func (a *app) recordedRun(unit string) *outbox.Failed {
	st, err := a.openStore()
	if err != nil {
		return nil
	}
	runs := st.FailedRuns(unit)
	if len(runs) == 0 {
		return nil
	}
	if inv := a.getenv("MONITOR_INVOCATION_ID"); inv != "" && a.getenv("MONITOR_UNIT") == unit {
		for i := range runs {
			if runs[i].InvocationID == inv {
				return &runs[i]
			}
		}
		return nil
	}
	return &runs[len(runs)-1]
}

// forgetRecordedRun removes the hook's record once its report is decided:
// sent, held by the gate, or waiting in the outbox. A report that could be
// neither sent nor saved keeps its record for flush.
func (a *app) forgetRecordedRun(rep *report.Report, err error) {
	if a.failed == nil || a.failed.InvocationID != rep.InvocationID {
		return
	}
	if code := exitCode(err); code != exitOK && code != exitTempFail {
		return
	}
	st, oerr := a.openStore()
	if oerr == nil {
		oerr = st.RemoveFailed(*a.failed)
	}
	if oerr != nil {
		a.log.Warn("the hook's record of the run stays; flush reports it again, and dedup drops it", "unit", rep.Unit, "error", oerr)
	}
}
