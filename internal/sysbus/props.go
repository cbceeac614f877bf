package sysbus

import (
	"encoding/hex"
	"fmt"
	"math"
	"time"

	"github.com/odoo-notify/odoo-notify/facts"
)

// wait(2) codes systemd reports in ExecMainCode.
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

// stateFromProperties maps a unit's D-Bus properties, as godbus decodes
// them, to a State. Missing or oddly typed properties stay zero. systemd
// answers for any name, loaded or not; a unit it does not know is an error,
// not a state.
func stateFromProperties(unit string, props map[string]any) (facts.State, error) {
	if load, _ := props["LoadState"].(string); load == "not-found" {
		return facts.State{}, fmt.Errorf("unit %s not found (LoadState=not-found): give the full unit name, as in odoo.service", unit)
	}
	s := facts.State{Unit: unit, Source: facts.SourceDBus}
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
		s.ExitCode, s.ExitStatus = "killed", facts.SignalName(int(status))
	case cldDumped:
		s.ExitCode, s.ExitStatus = "dumped", facts.SignalName(int(status))
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

// activityFromProperties maps a unit's Unit properties to what it does now.
func activityFromProperties(unit string, props map[string]any) (facts.Activity, error) {
	if load, _ := props["LoadState"].(string); load == "not-found" {
		return facts.Activity{}, fmt.Errorf("unit %s not found (LoadState=not-found)", unit)
	}
	a := facts.Activity{Unit: unit, Source: facts.SourceDBus}
	a.ActiveState, _ = props["ActiveState"].(string)
	a.SubState, _ = props["SubState"].(string)
	a.Since = usecTime(props["ActiveEnterTimestamp"])
	if b, ok := props["InvocationID"].([]byte); ok && len(b) > 0 {
		a.InvocationID = hex.EncodeToString(b)
	}
	return a, nil
}

// usecTime converts a systemd timestamp (µs since the epoch, 0 = never).
func usecTime(v any) time.Time {
	us, ok := v.(uint64)
	if !ok || us == 0 || us > math.MaxInt64 {
		return time.Time{}
	}
	return time.UnixMicro(int64(us))
}
