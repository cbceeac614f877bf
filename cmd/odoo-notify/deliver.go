package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/report"
)

// deliver sends rep through every channel at once and ends the run with one
// summary line per channel. With no channel configured, the report goes to
// stderr, which systemd puts in the journal.
func (a *app) deliver(ctx context.Context, rep *report.Report, channels []notifiers.Channel, out io.Writer) error {
	if len(channels) == 0 {
		a.log.Warn("no channel is configured: the report goes to the journal only; add [[email]], [[slack]] or [[webhook]] to the config", "unit", rep.Unit, "config", a.configPath)
		fmt.Fprint(a.stderr, rep.Text())
		return nil
	}
	d := notifiers.Dispatcher{Log: a.log}
	results := d.Dispatch(ctx, channels, rep, nil)
	return a.summarize(rep, results, out)
}

// summarize writes one line per channel to out (and the log), and maps the
// outcome to an exit code: 0 all delivered, 75 when every failure was
// temporary, 69 when a channel failed for good.
func (a *app) summarize(rep *report.Report, results []notifiers.Result, out io.Writer) error {
	code := exitOK
	for _, r := range results {
		d := r.Duration.Round(time.Millisecond)
		if r.OK() {
			if out != nil {
				fmt.Fprintf(out, "ok      %-24s delivered in %s\n", r.Channel, d)
			}
			a.log.Info("delivered", "unit", rep.Unit, "channel", r.Channel.String(), "attempt", r.Attempts, "duration", d)
			continue
		}
		if out != nil {
			fmt.Fprintf(out, "FAILED  %-24s %v\n", r.Channel, r.Err)
		}
		a.log.Error("not delivered", "unit", rep.Unit, "channel", r.Channel.String(), "attempt", r.Attempts, "duration", d, "temporary", r.Retry, "error", r.Err)
		switch {
		case !r.Retry:
			code = exitUnavailable
		case code == exitOK:
			code = exitTempFail
		}
	}
	if code != exitOK {
		return withCode(code, fmt.Errorf("%w: %w", errReported, notifiers.Join(results)))
	}
	return nil
}
