package facts

import (
	"reflect"
	"testing"
)

const unit = "odoo.service"

func TestFromEnv(t *testing.T) {
	full := map[string]string{
		"MONITOR_UNIT":           unit,
		"MONITOR_SERVICE_RESULT": "watchdog",
		"MONITOR_EXIT_CODE":      "killed",
		"MONITOR_EXIT_STATUS":    "ABRT",
		"MONITOR_INVOCATION_ID":  invocation(3),
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for k, v := range full {
			m[k] = v
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name   string
		unit   string
		env    map[string]string
		want   State
		wantOK bool
	}{
		{name: "watchdog", unit: unit, env: full, wantOK: true, want: State{Unit: unit, Result: "watchdog",
			ExitCode: "killed", ExitStatus: "ABRT", InvocationID: invocation(3), Source: SourceEnv}},
		{name: "exit-code", unit: unit, wantOK: true, env: map[string]string{
			"MONITOR_UNIT": unit, "MONITOR_SERVICE_RESULT": "exit-code", "MONITOR_EXIT_CODE": "exited",
			"MONITOR_EXIT_STATUS": "3", "MONITOR_INVOCATION_ID": invocation(3),
		}, want: State{Unit: unit, Result: "exit-code", ExitCode: "exited", ExitStatus: "3", InvocationID: invocation(3), Source: SourceEnv}},
		{name: "signal with SIG prefix", unit: unit, env: with("MONITOR_EXIT_STATUS", "SIGKILL"), wantOK: true,
			want: State{Unit: unit, Result: "watchdog", ExitCode: "killed", ExitStatus: "KILL", InvocationID: invocation(3), Source: SourceEnv}},
		{name: "signal as a number", unit: unit, env: with("MONITOR_EXIT_STATUS", "9"), wantOK: true,
			want: State{Unit: unit, Result: "watchdog", ExitCode: "killed", ExitStatus: "KILL", InvocationID: invocation(3), Source: SourceEnv}},
		{name: "any unit when none is asked for", unit: "", env: full, wantOK: true, want: State{Unit: unit, Result: "watchdog",
			ExitCode: "killed", ExitStatus: "ABRT", InvocationID: invocation(3), Source: SourceEnv}},
		{name: "another unit", unit: "nginx.service", env: full},
		{name: "not set (systemd < 251)", unit: unit, env: map[string]string{}},
		{name: "unit only", unit: unit, env: map[string]string{"MONITOR_UNIT": unit}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FromEnv(tt.unit, func(k string) string { return tt.env[k] })
			if ok != tt.wantOK || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestFromHandover(t *testing.T) {
	tests := []struct {
		name   string
		unit   string
		h      Handover
		want   State
		wantOK bool
	}{
		{name: "signal as a number", unit: unit, h: Handover{Unit: unit, InvocationID: invocation(1), Result: "signal", ExitCode: "killed", ExitStatus: "9"},
			wantOK: true, want: State{Unit: unit, InvocationID: invocation(1), Result: "signal", ExitCode: "killed", ExitStatus: "KILL", Source: SourceHook}},
		{name: "another unit", unit: unit, h: Handover{Unit: "nginx.service", InvocationID: invocation(1), Result: "signal"}},
		{name: "empty", unit: unit, h: Handover{Unit: unit}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FromHandover(tt.unit, tt.h)
			if ok != tt.wantOK || (ok && !reflect.DeepEqual(got, tt.want)) {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
