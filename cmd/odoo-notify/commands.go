package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// command is one subcommand: the usage and the top-level help are printed
// from this table, so no command can be missing from them.
type command struct {
	name string
	// args is the synopsis after the name: "UNIT [--format text|json]".
	args string
	// summary is one line for the command list; more, when set, follows it
	// in the command's own help.
	summary string
	more    string
	run     func(context.Context, *app, []string) error
}

// commands is the table, in the order `odoo-notify help` lists them. It is
// filled in init: runHelp reads it.
var commands []command

func init() {
	commands = []command{
		{"dispatch", "UNIT", "report UNIT's failed run (what OnFailure= runs)",
			"Builds the report of UNIT's failed run (MONITOR_* from systemd, the hook's record, D-Bus, the journal),\n" +
				"takes it through dedup, limits and incidents, and delivers it to every channel.\n" +
				"Exit 0 delivered or held back on purpose, 75 waits in the outbox, 69 refused for good, 78 bad config.", runDispatch},
		{"test", "[--channel NAME]", "send a test report through every channel (or one)",
			"Nothing failed: the report says it is a test. It is never kept nor retried.", runTest},
		{"preview", "UNIT [--format text|json] [--invocation ID]", "build the report dispatch would send; send nothing",
			"With --invocation, the report of that earlier failed run, as it was (or would have been) sent\n" +
				"then: its state, its lines, its cause and the crash history up to it (see odoo-notify history).", runPreview},
		{"history", "UNIT [--since 7d] [--format text|json]", "list UNIT's failed runs still in the journal and their incidents",
			"Each run: time, result, exit, cause, invocation id, and the incident it belonged to with what\n" +
				"was sent for it. odoo-notify preview UNIT --invocation ID shows the report of one.", runHistory},
		{"flush", "", "redeliver what waits in the outbox, report the runs the hook recorded, send recovery notices",
			"What odoo-notify-flush.timer runs every 30 s: redelivers what waits in the outbox, reports the failed runs\n" +
				"the hook recorded that no handler reported, and sends the recovery notice of each unit that is back.", runFlush},
		{"hook", "UNIT", "record UNIT's failed run and start the handler (what ExecStopPost= runs)",
			"Reads systemd's $SERVICE_RESULT, $EXIT_CODE, $EXIT_STATUS and $INVOCATION_ID; a clean stop does nothing.\n" +
				"It always exits 0: it must never fail the watched unit.", runHook},
		{"status", "[UNIT] [--format text|json]", "each wired unit: state, open incident, silence, outbox, last delivery",
			"Exits 1 when an incident is open or a report waits, so a monitoring check can run it.", runStatus},
		{"silence", "UNIT [--for 30m] [--reason TEXT]", "count UNIT's failures without sending them (a deploy)",
			"If UNIT still fails when the silence ends, its incident opens then and says what happened.", runSilence},
		{"unsilence", "UNIT", "end the silence; report the failures if UNIT is still down", "", runUnsilence},
		{"watch", "UNIT [--health-url URL]", "probe UNIT's health URL until SIGTERM; report a hang and act on it",
			"What odoo-notify-watch@UNIT.service runs (enable UNIT --watch): probes [watch] health_url every interval;\n" +
				"after failures probes in a row, SIGQUIT for Odoo's stack dump, then on_hang (restart or report), and a\n" +
				"hang report with the busy threads; its recovery notice when the unit answers again.", runWatch},
		{"check-config", "", "validate the config file and print it, secrets hidden",
			"Prints every problem at once, each with its key, and exits 78; on success the effective settings.", runCheckConfig},
		{"enable", "UNIT [--restart] [--no-hook] [--watch [--health-url URL]] [--memory-max SIZE] [--root DIR]", "make UNIT report its failures (a drop-in with OnFailure= and the hook)",
			"Writes /etc/systemd/system/UNIT.d/odoo-notify.conf and reloads systemd; --root DIR writes under DIR\n" +
				"without reloading. enable --refresh rewrites every drop-in enable wrote.", runEnable},
		{"disable", "UNIT [--root DIR]", "remove that drop-in", "", runDisable},
		{"version", "", "print the version", "", runVersion},
		{"help", "[COMMAND]", "print this, or a command's usage and flags", "", runHelp},
	}
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// errHelp is -h, --help or help COMMAND: the usage went to stdout; exit 0.
var errHelp = errors.New("help shown")

// commonFlags closes the top-level usage.
const commonFlags = `
Every command takes --config FILE (default /etc/odoo-notify/config.toml) and --state-dir DIR
(the outbox and incident state; default $STATE_DIRECTORY, else /var/lib/odoo-notify).
Commands that read the journal take --journal-file FILE (repeatable) or --journal-dir DIR.
odoo-notify help COMMAND (or COMMAND -h) shows a command's flags.

Exit codes: 0 ok, 1 status found trouble, 64 usage, 69 a channel refused for good,
75 waits in the outbox, 78 configuration error.
`

// printUsage writes the command list.
func printUsage(w io.Writer) {
	fmt.Fprint(w, "odoo-notify: tell a person when a systemd service failed\n\nUsage: odoo-notify COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, commonFlags)
}

// synopsis is the command's usage line.
func (c *command) synopsis() string {
	s := "odoo-notify " + c.name
	if c.args != "" {
		s += " " + c.args
	}
	return s
}

// printHelp writes a command's usage and every flag it takes.
func (c *command) printHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n\n%s.\n", c.synopsis(), upperFirst(c.summary))
	if c.more != "" {
		fmt.Fprintf(w, "%s\n", c.more)
	}
	if fs == nil {
		return
	}
	fmt.Fprint(w, "\nFlags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		line += "\n      " + usage
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
			line += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintln(w, line)
	})
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// runHelp prints the command list, or one command's usage and flags: the
// command itself is run with -h, so its flags are the ones it parses.
func runHelp(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		printUsage(a.stdout)
		return nil
	}
	if len(args) > 1 {
		return usageErr("help: give one command, like help dispatch")
	}
	name := args[0]
	if name == "-h" || name == "--help" {
		name = "help"
	}
	c := lookup(name)
	if c == nil {
		return usageErr("help: no command %q", args[0])
	}
	if c.name == "help" {
		c.printHelp(a.stdout, nil)
		return nil
	}
	return c.run(ctx, a, []string{"-h"})
}
