package main

import (
	"context"
	"fmt"
)

// runFlush redelivers what waits in the outbox, oldest first, and sends a
// digest for every unit whose held-back failures were never reported. A
// timer runs it; an admin may too, after fixing a mail server.
func runFlush(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "flush")
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
	channels, broken := buildChannels(a.cfg, httpClient(), a.log, "")
	if broken != nil {
		a.log.Error("a channel cannot be built: its reports wait until the config is fixed; the others are sent", "config", a.configPath, "error", broken)
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.General.Timeout.Duration)
	defer cancel()
	s := a.sender(channels)
	if s.Store == nil {
		return withCode(exitUnavailable, fmt.Errorf("flush: %w: check that the state folder exists and is writable (--state-dir, StateDirectory=)", s.StoreErr))
	}
	o := s.Flush(ctx)
	if o.Degraded != nil {
		return withCode(exitTempFail, fmt.Errorf("flush: %w", o.Degraded))
	}
	fmt.Fprintf(a.stdout, "delivered %d, digests %d, waiting %d, refused %d, dropped %d\n", o.Redelivered, o.Digests, o.Waiting, o.Refused, o.Dropped)
	a.log.Info("flush", "delivered", o.Redelivered, "digests", o.Digests, "waiting", o.Waiting, "refused", o.Refused, "dropped", o.Dropped)
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
