package main

import (
	"context"
	"fmt"

	"github.com/odoo-notify/odoo-notify/config"
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

	rep, err := a.buildReport(ctx, unit, jf)
	if err != nil {
		return err
	}
	if cfgErr != nil {
		fmt.Fprint(a.stderr, rep.Text())
		return cfgErr
	}
	channels, broken := buildChannels(a.cfg, httpClient(), a.log, "")
	if broken != nil {
		a.log.Error("a channel cannot be built and gets nothing, the others get the report: fix it with odoo-notify check-config", "config", a.configPath, "error", broken)
		if len(channels) == 0 {
			fmt.Fprint(a.stderr, rep.Text())
			return broken
		}
	}
	if err := a.deliver(ctx, rep, channels, nil); err != nil {
		return err
	}
	return broken
}
