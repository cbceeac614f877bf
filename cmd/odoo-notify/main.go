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
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	code := exitCode(err)
	if err != nil && !errors.Is(err, errReported) {
		fmt.Fprintln(os.Stderr, "odoo-notify:", err)
	}
	os.Exit(code)
}
