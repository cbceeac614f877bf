package main

import (
	"strings"
	"testing"
)

// TestHelpOfEveryCommand: for every command of the table, -h, --help and
// help COMMAND print its usage and flags to stdout and exit 0, and the
// command list names it.
func TestHelpOfEveryCommand(t *testing.T) {
	list, errOut, code := cli(t, nil, "help")
	if code != 0 || errOut != "" {
		t.Fatalf("help: exit %d, stderr %q", code, errOut)
	}
	for _, c := range commands {
		if !strings.Contains(list, "\n  "+c.name+" ") {
			t.Errorf("help does not list %s:\n%s", c.name, list)
		}
		for _, args := range [][]string{{c.name, "-h"}, {c.name, "--help"}, {"help", c.name}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				out, errOut, code := cli(t, nil, args...)
				if code != 0 {
					t.Errorf("exit %d, want 0; stderr %q", code, errOut)
				}
				if errOut != "" {
					t.Errorf("stderr %q, want nothing", errOut)
				}
				if !strings.HasPrefix(out, "Usage: odoo-notify "+c.name) {
					t.Errorf("stdout does not start with the usage:\n%s", out)
				}
				if c.name != "help" && !strings.Contains(out, "\n  --config file\n") {
					t.Errorf("stdout lacks the flags:\n%s", out)
				}
			})
		}
	}
}
