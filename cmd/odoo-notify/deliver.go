package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/odoo-notify/odoo-notify/gate"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/outbox"
	"github.com/odoo-notify/odoo-notify/report"
	"github.com/odoo-notify/odoo-notify/state"
)

// deliver takes rep through the gate (dedup, limits; a test report skips
// it), puts it in the outbox before any send, delivers what waited there
// first and then rep, and ends the run with one summary line per channel.
// With no channel configured, the report goes to stderr, which systemd puts
// in the journal.
func (a *app) deliver(ctx context.Context, rep *report.Report, channels []notifiers.Channel, out io.Writer) error {
	if len(channels) == 0 {
		a.log.Warn("no channel is configured: the report goes to the journal only; add [[email]], [[slack]] or [[webhook]] to the config", "unit", rep.Unit, "config", a.configPath)
		fmt.Fprint(a.stderr, rep.Text())
		return nil
	}
	if rep.Test {
		return a.testFire(ctx, rep, channels, out)
	}
	o := a.sender(channels).Dispatch(ctx, rep, false)
	if o.Verdict != gate.Send {
		a.log.Info("not sent: "+heldWhy(o.Verdict), "unit", rep.Unit, "invocation_id", rep.InvocationID, "result", rep.Result, "exit_status", rep.ExitStatus, "until", o.Until.UTC().Format(time.RFC3339))
		if o.Waiting > 0 {
			return withCode(exitTempFail, fmt.Errorf("%w: %d report(s) wait in the outbox for odoo-notify flush", errReported, o.Waiting))
		}
		return nil
	}
	if o.Held != nil {
		a.log.Info("the report carries failures held back before it", "unit", rep.Unit, "held", o.Held.Count, "since", o.Held.Since.UTC().Format(time.RFC3339))
	}
	if o.Sent != nil {
		rep = o.Sent // with its incident, as the channels got it
	}
	err := a.summarize(rep, o.Own, out)
	code := exitCode(err)
	if o.Waiting > 0 && o.Degraded == nil {
		a.log.Warn("undelivered reports wait in the outbox: odoo-notify flush (odoo-notify-flush.timer) sends them when the channel is back",
			"unit", rep.Unit, "waiting", o.Waiting, "state_dir", state.Dir(a.stateDir, a.getenv))
	}
	switch {
	case o.Degraded != nil && code == exitTempFail:
		// Without the outbox nothing waits: what failed is lost.
		return withCode(exitUnavailable, err)
	case code == exitOK && o.Waiting > 0:
		return withCode(exitTempFail, fmt.Errorf("%w: %d older report(s) still wait in the outbox for odoo-notify flush", errReported, o.Waiting))
	}
	return err
}

// testFire sends a test report and says what each channel answered to it.
// Nothing of it is kept: a failed test is fixed and run again, not retried.
func (a *app) testFire(ctx context.Context, rep *report.Report, channels []notifiers.Channel, out io.Writer) error {
	o := a.sender(channels).TestFire(ctx, rep)
	err := a.summarize(rep, o.Own, out)
	if err != nil && out != nil {
		fmt.Fprintln(out, "the test report is not kept nor retried: fix the channel and run odoo-notify test again")
	}
	if o.Waiting > 0 {
		a.log.Warn("older reports wait in the outbox: odoo-notify flush sends them", "waiting", o.Waiting, "state_dir", state.Dir(a.stateDir, a.getenv))
	}
	return err
}

func heldWhy(v gate.Verdict) string {
	switch v {
	case gate.Duplicate:
		return "this failed run was already reported"
	case gate.Repeat:
		return "the same failure was reported within [limits] dedup_window; it is counted and the next report says so"
	case gate.Limited:
		return "the unit had [limits] max_reports within [limits] per; it is counted and the next report says so"
	case gate.Silenced:
		return "the unit is silenced (odoo-notify silence): the failure is counted, and if the unit still fails when the silence ends its incident opens then"
	}
	return v.String()
}

// sender builds the outbox delivery of this run from the config. A state
// folder that cannot be opened does not stop the report: it goes out
// directly, and the sender says so.
func (a *app) sender(channels []notifiers.Channel) *outbox.Sender {
	st, err := a.openStore()
	c := a.cfg
	rates := map[string]gate.Rate{}
	for _, ch := range channels {
		rates[ch.Name] = gate.Rate{PerSecond: ch.Rate, Burst: ch.Burst}
	}
	return &outbox.Sender{
		Store:      st,
		StoreErr:   err,
		Dispatcher: &notifiers.Dispatcher{Log: a.log},
		Channels:   channels,
		Rates:      rates,
		Limits:     gate.Limits{DedupWindow: c.Limits.DedupWindow.Duration, MaxReports: c.Limits.MaxReports, Per: c.Limits.Per.Duration},
		MaxAge:     c.Outbox.MaxAge.Duration,
		Policy:     outbox.Policy{StableAfter: c.Incidents.StableAfter.Duration, RemindEvery: c.Incidents.RemindEvery.Duration},
		Host:       a.hostname(),
		Log:        a.log,
		Now:        a.now,
	}
}

// summarize writes one line per channel to out (and the log), and maps the
// outcome to an exit code: 0 all delivered, 75 when every failure was
// temporary (the report waits in the outbox), 69 when a channel failed for
// good.
func (a *app) summarize(rep *report.Report, results []notifiers.Result, out io.Writer) error {
	code := exitOK
	for _, r := range results {
		d := r.Duration.Round(time.Millisecond)
		if r.OK() {
			if out != nil {
				fmt.Fprintf(out, "ok      %-24s delivered in %s\n", r.Channel, d)
			}
			a.log.Info("delivered", "unit", rep.Unit, "channel", r.Channel.String(), "report_id", outbox.ReportID(rep, r.Channel.Name), "attempt", r.Attempts, "duration", d)
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
