package main

import (
	"context"
	"fmt"

	"github.com/odoo-notify/odoo-notify/internal/lazyre"
)

// invocationRe is systemd's invocation id: 128 bits in hex (sd_id128).
var invocationRe = lazyre.New(`^[0-9a-f]{32}$`)

// runPreview builds the report exactly as dispatch would and prints it.
func runPreview(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "preview")
	var jf journalFlags
	jf.register(f)
	format := f.String("format", "text", "text or json")
	f.StringVar(&a.invocation, "invocation", "", "the report of this earlier failed run (its invocation `id`, from odoo-notify history) as it was sent then")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("preview: give exactly one unit, like odoo.service")
	}
	if a.invocation != "" && !invocationRe.MatchString(a.invocation) {
		return usageErr("preview: --invocation %q: give a run's invocation id, 32 hex digits, as odoo-notify history lists them", a.invocation)
	}
	if *format != "text" && *format != "json" {
		return usageErr("preview: --format must be text or json, not %q", *format)
	}
	if err := a.loadConfig(f); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.General.Timeout.Duration)
	defer cancel()
	rep, err := a.buildReport(ctx, pos[0], jf)
	if err != nil {
		return err
	}
	if *format == "json" {
		b, err := rep.JSON()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.stdout, "%s\n", b)
		return err
	}
	_, err = fmt.Fprint(a.stdout, rep.Text())
	return err
}
