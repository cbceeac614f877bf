// Command odoo-notify tells a person when a systemd service failed: what
// failed, on which host, why, and the log lines of the failed run, by email,
// Slack and HTTP webhooks. systemd starts it through OnFailure= with the
// failed unit's name:
//
//	OnFailure=odoo-notify@%n.service   (in the watched unit)
//	ExecStart=/usr/bin/odoo-notify dispatch %i   (in odoo-notify@.service)
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	tuneGC(os.Args[1:], os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	code := exitCode(err)
	if err != nil && !errors.Is(err, errReported) {
		fmt.Fprintln(os.Stderr, "odoo-notify:", err)
	}
	os.Exit(code)
}

// tuneGC lets the garbage collector run less in the short-lived commands
// (dispatch, hook, preview, flush, ...): their heap stays small and they
// exit within milliseconds, so the collector's cycles at the default
// GOGC=100 cost a third of a preview's CPU time and nothing comes of the
// memory they free. A soft limit of 64 MiB keeps a report of a huge log
// from growing five-fold before a cycle. The watcher runs for months and
// keeps the default. GOGC or GOMEMLIMIT in the environment win.
func tuneGC(args []string, getenv func(string) string) {
	if len(args) > 0 && args[0] == "watch" || getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(400)
	debug.SetMemoryLimit(64 << 20)
}
