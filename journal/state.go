package journal

import (
	"github.com/coreos/go-systemd/v22/journal"
	"github.com/odoo-notify/odoo-notify/facts"
)

// Where a State came from.
const (
	SourceEnv     = facts.SourceEnv
	SourceDBus    = facts.SourceDBus
	SourceJournal = facts.SourceJournal
	SourceHook    = facts.SourceHook
)

// State is what systemd knows about a unit's run: D-Bus and systemd's
// messages tell it as facts.Gather hears it.
type State = facts.State

// Crash is one failed run of a unit.
type Crash = facts.Crash

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// signalName returns "KILL" for 9; the number as text when unknown.
func signalName(n int) string { return facts.SignalName(n) }

// StderrIsJournalStream reports whether stderr is connected to journald,
// which timestamps each line itself: a logger can then leave the time out.
func StderrIsJournalStream() bool {
	ok, err := journal.StderrIsJournalStream()
	return err == nil && ok
}

// Activity is what a unit is doing now.
type Activity = facts.Activity
