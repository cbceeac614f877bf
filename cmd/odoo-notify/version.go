package main

import (
	"context"
	"fmt"
	"runtime"
)

// version is stamped at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

func runVersion(_ context.Context, a *app, args []string) error {
	if len(args) != 0 {
		return usageErr("version: takes no arguments")
	}
	_, err := fmt.Fprintf(a.stdout, "odoo-notify %s (%s)\n", version, runtime.Version())
	return err
}
