package main

import (
	"context"
	"fmt"
	"runtime"
)

// version is stamped at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

func runVersion(_ context.Context, a *app, args []string) error {
	// --config and --state-dir are accepted, as by every command, and unused.
	pos, err := newFlags(a, "version").parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErr("version: takes no arguments")
	}
	_, err = fmt.Fprintf(a.stdout, "odoo-notify %s (%s)\n", version, runtime.Version())
	return err
}
