package main

import (
	"context"
	"fmt"
	"time"

	"github.com/odoo-notify/odoo-notify/report"
)

// runTest sends a report clearly marked as a test through every channel, or
// the one named, by the same delivery code as a real report: this is how an
// admin checks an SMTP password or a webhook URL.
func runTest(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "test")
	var jf journalFlags
	jf.register(f)
	only := f.String("channel", "", "send through the channel of this `name` only")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErr("test: takes no unit; use --channel NAME to pick a channel")
	}
	if err := a.loadConfig(f); err != nil {
		return err
	}
	channels, broken := buildChannels(a.cfg, httpClient(), a.log, *only, a.slackThreads())
	if exitCode(broken) == exitUsage {
		return broken // --channel names no channel
	}
	if broken != nil {
		fmt.Fprintf(a.stdout, "FAILED  cannot build: %v\n", broken)
		if len(channels) == 0 {
			return broken
		}
	}
	if len(channels) == 0 {
		return withCode(exitConfig, fmt.Errorf("no channel is configured in %s: add [[email]], [[slack]] or [[webhook]] (see config.example.toml)", a.configPath))
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.General.Timeout.Duration)
	defer cancel()
	rep := a.testReport()
	if err := a.deliver(ctx, rep, channels, a.stdout); err != nil {
		return err
	}
	return broken
}

// testReport is a report that looks like a real one, marked as a test in
// its subject, body and JSON.
func (a *app) testReport() *report.Report {
	now := a.now()
	return &report.Report{
		Test:         true,
		Event:        report.EventTest,
		Host:         a.hostname(),
		Unit:         "odoo-notify-test.service",
		InvocationID: "00000000000000000000000000000000",
		Result:       "exit-code",
		ExitCode:     "exited",
		ExitStatus:   "1",
		Summary:      "This is a test report from odoo-notify test: nothing failed. If you read this, the channel works.",
		Lines: []report.Line{
			{Time: now.Add(-2 * time.Second), Priority: 6, Message: "odoo-notify test: a log line of the failed run would be here"},
			{Time: now.Add(-time.Second), Priority: 3, Message: "odoo-notify test: and the error that ended it"},
		},
		LogSource: "test",
		Created:   now,
	}
}
