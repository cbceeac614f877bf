package sysbus

import (
	"context"
	"math"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/facts"
)

const unit = "odoo.service"

var t0 = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)

func equalState(a, b facts.State) bool {
	if !a.StartedAt.Equal(b.StartedAt) || !a.ExitedAt.Equal(b.ExitedAt) {
		return false
	}
	a.StartedAt, a.ExitedAt, b.StartedAt, b.ExitedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func TestStateFromProperties(t *testing.T) {
	start, exit := t0, t0.Add(90*time.Second)
	id := []byte{0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0}
	execStart := [][]any{{
		"/usr/bin/odoo", []string{"/usr/bin/odoo", "-c", "/etc/odoo/odoo.conf"}, false,
		uint64(start.UnixMicro()), uint64(0), uint64(exit.UnixMicro()), uint64(0), uint32(4242), int32(2), int32(9),
	}}
	// Types as godbus decodes them from systemd's signatures.
	props := func(code, status int32, memMax uint64) map[string]any {
		return map[string]any{
			"Id": unit, "Result": "signal", "InvocationID": id,
			"ExecMainCode": code, "ExecMainStatus": status, "NRestarts": uint32(3),
			"ExecMainStartTimestamp": uint64(start.UnixMicro()), "ExecMainExitTimestamp": uint64(exit.UnixMicro()),
			"ExecStart": execStart, "MemoryMax": memMax,
		}
	}
	base := facts.State{Unit: unit, InvocationID: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", Result: "signal", NRestarts: 3,
		StartedAt: start, ExitedAt: exit, Source: facts.SourceDBus,
		ExecStart: []string{"/usr/bin/odoo", "-c", "/etc/odoo/odoo.conf"}}
	with := func(f func(*facts.State)) facts.State { s := base; f(&s); return s }
	tests := []struct {
		name  string
		props map[string]any
		want  facts.State
	}{
		{name: "killed", props: props(2, 9, math.MaxUint64),
			want: with(func(s *facts.State) { s.ExitCode, s.ExitStatus = "killed", "KILL" })},
		{name: "dumped", props: props(3, 11, 2<<30),
			want: with(func(s *facts.State) { s.ExitCode, s.ExitStatus, s.MemoryMax = "dumped", "SEGV", 2<<30 })},
		{name: "exited", props: props(1, 3, math.MaxUint64),
			want: with(func(s *facts.State) { s.ExitCode, s.ExitStatus = "exited", "3" })},
		{name: "no exit yet", props: props(0, 0, math.MaxUint64), want: base},
		{name: "nothing known", props: map[string]any{"NRestarts": "not a number", "ExecStart": "odd"},
			want: facts.State{Unit: unit, Source: facts.SourceDBus}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stateFromProperties(unit, tt.props)
			if err != nil {
				t.Fatalf("stateFromProperties: %v", err)
			}
			if !equalState(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestStateFromPropertiesUnknownUnit(t *testing.T) {
	// What systemd 252 answers for a unit it does not know.
	props := map[string]any{"Id": "nope.service", "LoadState": "not-found", "ActiveState": "inactive",
		"Result": "success", "InvocationID": []byte{}, "ExecMainCode": int32(0), "NRestarts": uint32(0)}
	s, err := stateFromProperties("nope.service", props)
	if err == nil {
		t.Fatalf("got state %+v, want an error", s)
	}
	if !strings.Contains(err.Error(), "unit nope.service not found") {
		t.Errorf("error %q does not say the unit is unknown", err)
	}
}

func TestUnitStateUnreachable(t *testing.T) {
	dir := t.TempDir()
	// A bus that takes the connection and never answers: a wedged
	// dbus-daemon must not hold the handler past its deadline.
	wedged := filepath.Join(dir, "wedged.sock")
	l, err := net.Listen("unix", wedged)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	tests := []struct {
		name    string
		address string
		timeout time.Duration
		want    string
	}{
		{name: "no bus socket (this machine: no D-Bus)", address: "unix:path=" + filepath.Join(dir, "missing.sock"),
			timeout: time.Minute, want: "no such file or directory"},
		{name: "bus that never answers", address: "unix:path=" + wedged, timeout: 200 * time.Millisecond,
			want: "no answer in time: context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", tt.address)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			b := New()
			defer b.Close()
			s, err := b.UnitState(ctx, unit)
			if err == nil {
				t.Fatalf("got state %+v, want an error", s)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "read unit state over d-bus: connect to the system bus (is dbus running?)") ||
				!strings.Contains(msg, tt.want) {
				t.Errorf("error %q: want it to say it could not connect to the system bus (%s)", msg, tt.want)
			}
			if testing.Verbose() {
				t.Log(msg)
			}
		})
	}
}

func TestActivityFromProperties(t *testing.T) {
	since := t0.Add(time.Minute)
	id := []byte{0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0}
	tests := []struct {
		name  string
		props map[string]any
		want  facts.Activity
		err   string
	}{
		{name: "running", props: map[string]any{"LoadState": "loaded", "ActiveState": "active", "SubState": "running",
			"ActiveEnterTimestamp": uint64(since.UnixMicro()), "InvocationID": id},
			want: facts.Activity{Unit: unit, ActiveState: "active", SubState: "running", Since: since,
				InvocationID: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", Source: facts.SourceDBus}},
		{name: "waiting to restart, never active", props: map[string]any{"ActiveState": "activating", "SubState": "auto-restart",
			"ActiveEnterTimestamp": uint64(0), "InvocationID": []byte{}},
			want: facts.Activity{Unit: unit, ActiveState: "activating", SubState: "auto-restart", Source: facts.SourceDBus}},
		{name: "unknown unit", props: map[string]any{"LoadState": "not-found", "ActiveState": "inactive"},
			err: "unit odoo.service not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := activityFromProperties(unit, tt.props)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %+v, %v; want an error saying %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Since.Equal(tt.want.Since) {
				t.Errorf("since %v, want %v", got.Since, tt.want.Since)
			}
			got.Since, tt.want.Since = time.Time{}, time.Time{}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
