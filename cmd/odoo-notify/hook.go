package main

import (
	"context"
	"time"

	"github.com/odoo-notify/odoo-notify/outbox"
	"github.com/odoo-notify/odoo-notify/state"
)

// hookTimeout bounds the hook: the watched unit's restart waits for it.
const hookTimeout = 2 * time.Second

// runHook is what the watched unit's ExecStopPost= runs after every exit of
// its main process, with systemd's $SERVICE_RESULT, $EXIT_CODE,
// $EXIT_STATUS and $INVOCATION_ID. On a failed run it first records the
// run in the state folder, a few hundred bytes, then starts the handler
// without waiting: a handler killed before it saved anything loses nothing,
// since its next run or flush reports what the record says. A clean stop
// records nothing. It always exits 0: it must never fail the watched unit.
func runHook(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "hook")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("hook: give exactly one unit, like odoo.service (ExecStopPost=+-/usr/bin/odoo-notify hook %%n)")
	}
	unit := pos[0]
	a.stateDir = f.stateDir
	result := a.getenv("SERVICE_RESULT")
	if result == "success" || result == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, hookTimeout)
	defer cancel()
	rec := outbox.Failed{
		Unit:         unit,
		InvocationID: a.getenv("INVOCATION_ID"),
		Result:       result,
		ExitCode:     a.getenv("EXIT_CODE"),
		ExitStatus:   a.getenv("EXIT_STATUS"),
		At:           a.now(),
	}
	// $STATE_DIRECTORY here is the watched unit's own, not odoo-notify's.
	dir := a.stateDir
	if dir == "" {
		dir = state.DefaultDir
	}
	if st, err := outbox.Open(dir, a.log); err != nil {
		a.log.Error("hook: the failed run cannot be recorded; the handler is started all the same", "unit", unit, "error", err)
	} else if err := st.SaveFailed(rec); err != nil {
		a.log.Error("hook: the failed run cannot be recorded; the handler is started all the same", "unit", unit, "error", err)
	}
	handler := "odoo-notify@" + unit + ".service"
	if err := a.bus.StartNoBlock(ctx, handler); err != nil {
		a.log.Warn("hook: cannot start the handler; the flush timer reports the run", "unit", unit, "handler", handler, "error", err)
	}
	return nil
}
