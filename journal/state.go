package journal

import (
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"golang.org/x/sys/unix"
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

// StateFromEnv reads the state systemd >= 251 hands an OnFailure= handler:
// MONITOR_UNIT, MONITOR_SERVICE_RESULT, MONITOR_EXIT_CODE,
// MONITOR_EXIT_STATUS and MONITOR_INVOCATION_ID (systemd.exec(5),
// "Environment variables set or propagated by the service manager"). ok is
// false when they are not set, or when they describe another unit: systemd
// sets them only when exactly one unit triggered the handler.
func StateFromEnv(unit string, getenv func(string) string) (State, bool) {
	got := getenv("MONITOR_UNIT")
	if got == "" || (unit != "" && got != unit) {
		return State{}, false
	}
	s := State{
		Unit:         got,
		Result:       getenv("MONITOR_SERVICE_RESULT"),
		ExitCode:     getenv("MONITOR_EXIT_CODE"),
		ExitStatus:   exitStatus(getenv("MONITOR_EXIT_CODE"), getenv("MONITOR_EXIT_STATUS")),
		InvocationID: getenv("MONITOR_INVOCATION_ID"),
		Source:       SourceEnv,
	}
	if s.Result == "" && s.InvocationID == "" {
		return State{}, false
	}
	return s, true
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// exitStatus returns status as systemd's MONITOR_EXIT_STATUS writes it: the
// number for code "exited", the signal name without SIG for "killed" and
// "dumped".
func exitStatus(code, status string) string {
	if code != "killed" && code != "dumped" {
		return status
	}
	n, err := strconv.Atoi(status)
	if err != nil {
		return strings.TrimPrefix(status, "SIG")
	}
	return signalName(n)
}

// signalName returns "KILL" for 9; the number as text when unknown.
func signalName(n int) string {
	if name := unix.SignalName(unix.Signal(n)); name != "" {
		return strings.TrimPrefix(name, "SIG")
	}
	return strconv.Itoa(n)
}

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
