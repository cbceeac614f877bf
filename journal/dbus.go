package journal

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

// DBusTimeout bounds StateFromDBus when ctx allows longer: a handler that
// waits on a wedged bus misses the next crash (systemd merges start
// requests for a running handler into its job).
const DBusTimeout = 3 * time.Second

// wait(2) codes systemd reports in ExecMainCode.
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

// StateFromDBus reads unit's state from systemd over the system bus:
// Result, ExecMainCode, ExecMainStatus, NRestarts, InvocationID,
// ExecMainStartTimestamp, ExecMainExitTimestamp, ExecStart and MemoryMax
// (org.freedesktop.systemd1(5)). It is the source for systemd < 251, which
// sets no MONITOR_* variables.
func StateFromDBus(ctx context.Context, unit string) (State, error) {
	const op = "journal: read unit state over d-bus"
	ctx, cancel := context.WithTimeout(ctx, DBusTimeout)
	defer cancel()
	conn, err := dbus.NewSystemConnectionContext(ctx)
	if err != nil {
		if ctx.Err() != nil {
			// godbus reports the closed socket; the deadline is the cause.
			err = fmt.Errorf("no answer in time: %w", ctx.Err())
		}
		return State{}, fmt.Errorf("%s: connect to the system bus (is dbus running?): %w", op, err)
	}
	defer conn.Close()
	// One call for every interface: Unit (InvocationID) and Service (the rest).
	props, err := conn.GetAllPropertiesContext(ctx, unit)
	if err != nil {
		return State{}, fmt.Errorf("%s: properties of %s: %w", op, unit, err)
	}
	s, err := stateFromProperties(unit, props)
	if err != nil {
		return State{}, fmt.Errorf("%s: %w", op, err)
	}
	return s, nil
}

// stateFromProperties maps a unit's D-Bus properties, as go-systemd decodes
// them, to a State. Missing or oddly typed properties stay zero. systemd
// answers for any name, loaded or not; a unit it does not know is an error,
// not a state.
func stateFromProperties(unit string, props map[string]any) (State, error) {
	if load, _ := props["LoadState"].(string); load == "not-found" {
		return State{}, fmt.Errorf("unit %s not found (LoadState=not-found): give the full unit name, as in odoo.service", unit)
	}
	s := State{Unit: unit, Source: SourceDBus}
	s.Result, _ = props["Result"].(string)
	if b, ok := props["InvocationID"].([]byte); ok && len(b) > 0 {
		s.InvocationID = hex.EncodeToString(b)
	}
	code, _ := props["ExecMainCode"].(int32)
	status, _ := props["ExecMainStatus"].(int32)
	switch code {
	case cldExited:
		s.ExitCode, s.ExitStatus = "exited", fmt.Sprint(status)
	case cldKilled:
		s.ExitCode, s.ExitStatus = "killed", signalName(int(status))
	case cldDumped:
		s.ExitCode, s.ExitStatus = "dumped", signalName(int(status))
	}
	if n, ok := props["NRestarts"].(uint32); ok {
		s.NRestarts = int(n)
	}
	s.StartedAt = usecTime(props["ExecMainStartTimestamp"])
	s.ExitedAt = usecTime(props["ExecMainExitTimestamp"])
	// ExecStart is a(sasbttttuii): path, argv, ignore-failure, timestamps,
	// pid, code, status, one per command line. The first is the main one.
	if cmds, ok := props["ExecStart"].([][]any); ok && len(cmds) > 0 && len(cmds[0]) > 1 {
		if argv, ok := cmds[0][1].([]string); ok {
			s.ExecStart = argv
		}
	}
	// systemd says "infinity" with the largest uint64.
	if m, ok := props["MemoryMax"].(uint64); ok && m != math.MaxUint64 {
		s.MemoryMax = m
	}
	return s, nil
}

// usecTime converts a systemd timestamp (µs since the epoch, 0 = never).
func usecTime(v any) time.Time {
	us, ok := v.(uint64)
	if !ok || us == 0 || us > math.MaxInt64 {
		return time.Time{}
	}
	return time.UnixMicro(int64(us))
}

// StartNoBlock asks systemd to start unit and returns once the job is
// queued, without waiting for it to run: what the hook does to start the
// handler while the watched unit waits for it to return.
func StartNoBlock(ctx context.Context, unit string) error {
	ctx, cancel := context.WithTimeout(ctx, DBusTimeout)
	defer cancel()
	// One plain connection: go-systemd's Conn opens a second one for
	// signals, which the hook, run inside the watched unit's stop, would
	// pay for and never use.
	conn, err := godbus.ConnectSystemBus(godbus.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("journal: start %s: connect to the system bus (is dbus running?): %w", unit, err)
	}
	defer conn.Close()
	var job godbus.ObjectPath
	manager := conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1")
	if err := manager.CallWithContext(ctx, "org.freedesktop.systemd1.Manager.StartUnit", 0, unit, "replace").Store(&job); err != nil {
		return fmt.Errorf("journal: start %s: %w", unit, err)
	}
	return nil
}

// ActivityFromDBus reads what unit is doing now: ActiveState, SubState,
// ActiveEnterTimestamp and InvocationID (org.freedesktop.systemd1(5)).
func ActivityFromDBus(ctx context.Context, unit string) (Activity, error) {
	const op = "journal: read unit activity over d-bus"
	ctx, cancel := context.WithTimeout(ctx, DBusTimeout)
	defer cancel()
	conn, err := dbus.NewSystemConnectionContext(ctx)
	if err != nil {
		return Activity{}, fmt.Errorf("%s: connect to the system bus (is dbus running?): %w", op, err)
	}
	defer conn.Close()
	props, err := conn.GetUnitPropertiesContext(ctx, unit)
	if err != nil {
		return Activity{}, fmt.Errorf("%s: properties of %s: %w", op, unit, err)
	}
	return activityFromProperties(unit, props)
}

func activityFromProperties(unit string, props map[string]any) (Activity, error) {
	if load, _ := props["LoadState"].(string); load == "not-found" {
		return Activity{}, fmt.Errorf("unit %s not found (LoadState=not-found)", unit)
	}
	a := Activity{Unit: unit, Source: SourceDBus}
	a.ActiveState, _ = props["ActiveState"].(string)
	a.SubState, _ = props["SubState"].(string)
	a.Since = usecTime(props["ActiveEnterTimestamp"])
	if b, ok := props["InvocationID"].([]byte); ok && len(b) > 0 {
		a.InvocationID = hex.EncodeToString(b)
	}
	return a, nil
}

// TimerNext says when systemd next fires timer (NextElapseUSecRealtime);
// zero when it is not scheduled.
func TimerNext(ctx context.Context, timer string) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, DBusTimeout)
	defer cancel()
	conn, err := dbus.NewSystemConnectionContext(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("journal: read %s: connect to the system bus: %w", timer, err)
	}
	defer conn.Close()
	p, err := conn.GetUnitTypePropertyContext(ctx, timer, "Timer", "NextElapseUSecRealtime")
	if err != nil {
		return time.Time{}, fmt.Errorf("journal: read %s: %w", timer, err)
	}
	return usecTime(p.Value.Value()), nil
}

// KillUnit sends sig to unit's processes: who is "main" or "all"
// (org.freedesktop.systemd1(5) KillUnit), as `systemctl kill
// --kill-whom=WHO -s SIG` does. systemd sends it, so the caller needs no
// right over the processes themselves, only over the unit.
func KillUnit(ctx context.Context, unit, who string, sig syscall.Signal) error {
	ctx, cancel := context.WithTimeout(ctx, DBusTimeout)
	defer cancel()
	conn, err := dbus.NewSystemConnectionContext(ctx)
	if err != nil {
		return fmt.Errorf("journal: kill %s: connect to the system bus (is dbus running?): %w", unit, err)
	}
	defer conn.Close()
	if err := conn.KillUnitWithTarget(ctx, unit, dbus.Who(who), int32(sig)); err != nil {
		return fmt.Errorf("journal: send %s to %s processes of %s: %w", unix.SignalName(sig), who, unit, err)
	}
	return nil
}

// RestartNoBlock queues a restart job for unit ("replace") and returns
// without waiting for it.
func RestartNoBlock(ctx context.Context, unit string) error {
	ctx, cancel := context.WithTimeout(ctx, DBusTimeout)
	defer cancel()
	conn, err := dbus.NewSystemConnectionContext(ctx)
	if err != nil {
		return fmt.Errorf("journal: restart %s: connect to the system bus (is dbus running?): %w", unit, err)
	}
	defer conn.Close()
	if _, err := conn.RestartUnitContext(ctx, unit, "replace", nil); err != nil {
		return fmt.Errorf("journal: restart %s: %w", unit, err)
	}
	return nil
}
