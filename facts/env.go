package facts

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// FromEnv reads the state systemd >= 251 hands an OnFailure= handler:
// MONITOR_UNIT, MONITOR_SERVICE_RESULT, MONITOR_EXIT_CODE,
// MONITOR_EXIT_STATUS and MONITOR_INVOCATION_ID (systemd.exec(5),
// "Environment variables set or propagated by the service manager"). ok is
// false when they are not set, or when they describe another unit: systemd
// sets them only when exactly one unit triggered the handler.
func FromEnv(unit string, getenv func(string) string) (State, bool) {
	got := getenv("MONITOR_UNIT")
	if got == "" || (unit != "" && got != unit) {
		return State{}, false
	}
	s := State{
		Unit:         got,
		Result:       getenv("MONITOR_SERVICE_RESULT"),
		ExitCode:     getenv("MONITOR_EXIT_CODE"),
		ExitStatus:   ExitStatus(getenv("MONITOR_EXIT_CODE"), getenv("MONITOR_EXIT_STATUS")),
		InvocationID: getenv("MONITOR_INVOCATION_ID"),
		Source:       SourceEnv,
	}
	if s.Result == "" && s.InvocationID == "" {
		return State{}, false
	}
	return s, true
}

// FromHandover reads the hook's record as FromEnv reads MONITOR_*: they
// are the same variables, from ExecStopPost=.
func FromHandover(unit string, h Handover) (State, bool) {
	env := map[string]string{"MONITOR_UNIT": h.Unit, "MONITOR_SERVICE_RESULT": h.Result, "MONITOR_EXIT_CODE": h.ExitCode,
		"MONITOR_EXIT_STATUS": h.ExitStatus, "MONITOR_INVOCATION_ID": h.InvocationID}
	st, ok := FromEnv(unit, func(k string) string { return env[k] })
	st.Source = SourceHook
	return st, ok
}

// ExitStatus returns status as systemd's MONITOR_EXIT_STATUS writes it: the
// number for code "exited", the signal name without SIG for "killed" and
// "dumped".
func ExitStatus(code, status string) string {
	if code != "killed" && code != "dumped" {
		return status
	}
	n, err := strconv.Atoi(status)
	if err != nil {
		return strings.TrimPrefix(status, "SIG")
	}
	return SignalName(n)
}

// SignalName returns "KILL" for 9; the number as text when unknown.
func SignalName(n int) string {
	if name := unix.SignalName(unix.Signal(n)); name != "" {
		return strings.TrimPrefix(name, "SIG")
	}
	return strconv.Itoa(n)
}
