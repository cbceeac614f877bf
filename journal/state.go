package journal

import (
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/odoo-notify/odoo-notify/facts"
)

// Where a State came from.
const (
	SourceEnv     = "monitor-env"
	SourceDBus    = "dbus"
	SourceJournal = "journal"
	SourceHook    = "hook" // what ExecStopPost= recorded
)

// State is what systemd knows about the failed run.
type State struct {
	Unit         string
	InvocationID string // 32 hex digits
	Result       string // exit-code, signal, core-dump, watchdog, timeout, oom-kill, start-limit-hit, ...
	ExitCode     string // exited, killed, dumped
	ExitStatus   string // "3" for exited; signal name without SIG for killed/dumped: "KILL"
	NRestarts    int
	StartedAt    time.Time
	ExitedAt     time.Time
	Source       string // SourceEnv, SourceHook, SourceDBus or SourceJournal

	// StartLimitHit: systemd stopped restarting the unit ("Start request
	// repeated too quickly"). Set by StateFromEvents only; the other
	// sources cannot tell.
	StartLimitHit bool

	// From D-Bus only, for later analysis (zero when unknown).
	ExecStart []string // argv of the unit's (first) ExecStart
	MemoryMax uint64   // bytes, 0 = unlimited or unknown
}

// Crash is one failed run of a unit.
type Crash struct {
	Time         time.Time // when systemd logged the failure
	InvocationID string
	Result       string
	ExitCode     string
	ExitStatus   string
}

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
type Activity struct {
	Unit string
	// ActiveState and SubState as systemctl shows them: "active" "running",
	// "failed" "failed", "activating" "auto-restart".
	ActiveState, SubState string
	// Since is when the unit last became active (ActiveEnterTimestamp).
	Since        time.Time
	InvocationID string
	Source       string // SourceDBus or SourceJournal
}

// Active says the unit runs: active or reloading.
func (a Activity) Active() bool { return a.ActiveState == "active" || a.ActiveState == "reloading" }
