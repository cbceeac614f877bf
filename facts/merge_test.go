package facts

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)

func invocation(n int) string { return fmt.Sprintf("%032x", 0xabc0000+n) }

// The sources as they tell of one crash, run 1: SIGKILL after 90 s, the
// third restart of the unit.
var (
	env = State{Unit: unit, InvocationID: invocation(1), Result: "signal", ExitCode: "killed", ExitStatus: "KILL", Source: SourceEnv}
	// hook says the same run as MONITOR_* would, from ExecStopPost=.
	hook = State{Unit: unit, InvocationID: invocation(1), Result: "signal", ExitCode: "killed", ExitStatus: "KILL", Source: SourceHook}
	// dbus describes the same run, with what only it knows.
	dbus = State{Unit: unit, InvocationID: invocation(1), Result: "signal", ExitCode: "killed", ExitStatus: "KILL",
		NRestarts: 3, StartedAt: t0, ExitedAt: t0.Add(90 * time.Second), Source: SourceDBus,
		ExecStart: []string{"/usr/bin/odoo", "-c", "/etc/odoo/odoo.conf"}, MemoryMax: 2 << 30}
	// dbusNext describes the next run: a restart moved the unit on
	// before D-Bus was asked.
	dbusNext = State{Unit: unit, InvocationID: invocation(2), Result: "success", NRestarts: 4,
		StartedAt: t0.Add(100 * time.Second), Source: SourceDBus,
		ExecStart: []string{"/usr/bin/odoo"}, MemoryMax: 1 << 30}
	// journal describes run 1 from systemd's messages, times a little
	// after D-Bus's (the lines are written after the fact).
	jour = State{Unit: unit, InvocationID: invocation(1), Result: "signal", ExitCode: "killed", ExitStatus: "KILL",
		NRestarts: 2, StartedAt: t0.Add(time.Millisecond), ExitedAt: t0.Add(90*time.Second + time.Millisecond),
		StartLimitHit: true, Source: SourceJournal}
	crashes = []Crash{
		{Time: t0.Add(-time.Minute), InvocationID: invocation(0), Result: "exit-code", ExitCode: "exited", ExitStatus: "1"},
		{Time: t0.Add(90 * time.Second), InvocationID: invocation(1), Result: "signal", ExitCode: "killed", ExitStatus: "KILL"},
	}
)

// with returns s changed by f: a source that says something else.
func with(s State, f func(*State)) *State {
	f(&s)
	return &s
}

func ptr(s State) *State { return &s }

func TestMerge(t *testing.T) {
	tests := []struct {
		name       string
		invocation string
		told       Told
		want       Facts
	}{
		{
			name: "no source",
			want: Facts{State: State{Unit: unit}, Problems: []string{NoState}},
		},
		{
			name: "MONITOR_* alone",
			told: Told{Env: ptr(env)},
			want: Facts{State: env, Known: true},
		},
		{
			name: "the hook alone (systemd < 251, or ExecStopPost= before OnFailure=)",
			told: Told{Hook: ptr(hook)},
			want: Facts{State: hook, Known: true},
		},
		{
			name: "MONITOR_* over a hook that says otherwise",
			told: Told{Env: ptr(env), Hook: with(hook, func(s *State) { s.Result, s.ExitStatus, s.NRestarts = "exit-code", "1", 9 })},
			want: Facts{State: env, Known: true},
		},
		{
			name: "D-Bus alone",
			told: Told{DBus: ptr(dbus)},
			want: Facts{State: dbus, Known: true},
		},
		{
			name: "the journal alone",
			told: Told{Journal: ptr(jour)},
			want: Facts{State: jour, Known: true},
		},
		{
			name: "MONITOR_* with D-Bus of the same run: D-Bus fills in restarts, times and settings",
			told: Told{Env: ptr(env), DBus: ptr(dbus)},
			want: Facts{State: with(dbus, func(s *State) { s.Source = SourceEnv }).copy(), Known: true},
		},
		{
			name: "MONITOR_* over D-Bus that says another result of the same run",
			told: Told{Env: ptr(env), DBus: with(dbus, func(s *State) { s.Result, s.ExitCode, s.ExitStatus = "watchdog", "dumped", "ABRT" })},
			want: Facts{State: with(dbus, func(s *State) { s.Source = SourceEnv }).copy(), Known: true},
		},
		{
			name: "D-Bus of the next run: the unit's restarts and settings, not the run's times",
			told: Told{Env: ptr(env), DBus: ptr(dbusNext)},
			want: Facts{State: *with(env, func(s *State) {
				s.NRestarts, s.ExecStart, s.MemoryMax = 4, dbusNext.ExecStart, dbusNext.MemoryMax
			}), Known: true},
		},
		{
			name: "MONITOR_* without an invocation id takes D-Bus's run",
			told: Told{Env: with(env, func(s *State) { s.InvocationID = "" }), DBus: ptr(dbusNext)},
			want: Facts{State: *with(env, func(s *State) {
				s.InvocationID, s.NRestarts, s.StartedAt = invocation(2), 4, dbusNext.StartedAt
				s.ExecStart, s.MemoryMax = dbusNext.ExecStart, dbusNext.MemoryMax
			}), Known: true},
		},
		{
			name: "D-Bus's times over the journal's, the journal's start limit",
			told: Told{Env: ptr(env), DBus: ptr(dbus), Journal: ptr(jour)},
			want: Facts{State: *with(dbus, func(s *State) { s.Source, s.StartLimitHit = SourceEnv, true }), Known: true},
		},
		{
			name: "D-Bus of the next run, the journal of this one: the times from the journal",
			told: Told{Env: ptr(env), DBus: ptr(dbusNext), Journal: ptr(jour)},
			want: Facts{State: *with(env, func(s *State) {
				s.NRestarts, s.ExecStart, s.MemoryMax = 4, dbusNext.ExecStart, dbusNext.MemoryMax
				s.StartedAt, s.ExitedAt, s.StartLimitHit = jour.StartedAt, jour.ExitedAt, true
			}), Known: true},
		},
		{
			name: "the journal of another run: its restart count only",
			told: Told{Env: ptr(env), Journal: with(jour, func(s *State) { s.InvocationID = invocation(0) })},
			want: Facts{State: *with(env, func(s *State) { s.NRestarts = 2 }), Known: true},
		},
		{
			name: "restarts from the first source that counts any",
			told: Told{Env: ptr(env), DBus: with(dbus, func(s *State) { s.NRestarts = 0 }), Journal: ptr(jour)},
			want: Facts{State: *with(dbus, func(s *State) { s.Source, s.NRestarts, s.StartLimitHit = SourceEnv, 2, true }), Known: true},
		},
		{
			name: "D-Bus first, the journal contradicting its result: D-Bus's result stays",
			told: Told{DBus: ptr(dbus), Journal: with(jour, func(s *State) { s.Result, s.ExitStatus, s.ExitCode = "exit-code", "1", "exited" })},
			want: Facts{State: *with(dbus, func(s *State) { s.StartLimitHit = true }), Known: true},
		},
		{
			name: "the hook with D-Bus and the journal",
			told: Told{Hook: ptr(hook), DBus: ptr(dbus), Journal: ptr(jour)},
			want: Facts{State: *with(dbus, func(s *State) { s.Source, s.StartLimitHit = SourceHook, true }), Known: true},
		},
		{
			name: "a crash loop: the crashes are kept",
			told: Told{Env: ptr(env), Crashes: crashes},
			want: Facts{State: env, Known: true, Crashes: crashes},
		},
		{
			name: "one crash is the run itself: no history",
			told: Told{Env: ptr(env), Crashes: crashes[1:]},
			want: Facts{State: env, Known: true},
		},
		{
			name: "crashes without any state",
			told: Told{Crashes: crashes},
			want: Facts{State: State{Unit: unit}, Crashes: crashes, Problems: []string{NoState}},
		},
		{
			name:       "an earlier run: the journal's, D-Bus's settings only",
			invocation: invocation(1),
			told:       Told{Env: ptr(env), Hook: ptr(hook), DBus: ptr(dbusNext), Journal: ptr(jour), Crashes: crashes},
			want: Facts{State: *with(jour, func(s *State) { s.ExecStart, s.MemoryMax = dbusNext.ExecStart, dbusNext.MemoryMax }),
				Known: true, Crashes: crashes},
		},
		{
			name:       "an earlier run without D-Bus (an offline journal)",
			invocation: invocation(1),
			told:       Told{Journal: ptr(jour)},
			want:       Facts{State: jour, Known: true},
		},
		{
			name:       "an earlier run the journal does not name: MONITOR_*, the hook and D-Bus do not stand in",
			invocation: invocation(0),
			told:       Told{Env: ptr(env), Hook: ptr(hook), DBus: ptr(dbus), Journal: ptr(jour)},
			want:       Facts{State: State{Unit: unit}, Problems: []string{NoState}},
		},
		{
			name:       "an earlier run without the journal",
			invocation: invocation(1),
			told:       Told{Env: ptr(env), DBus: ptr(dbus)},
			want:       Facts{State: State{Unit: unit}, Problems: []string{NoState}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Merge(unit, tt.invocation, tt.told)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Merge:\ngot  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func (s *State) copy() State { return *s }

// TestMergeKeepsSources: the facts are a value of their own; the sources'
// states and crashes are read, never written.
func TestMergeKeepsSources(t *testing.T) {
	told := Told{Env: ptr(env), DBus: ptr(dbus), Journal: ptr(jour), Crashes: append([]Crash(nil), crashes...)}
	before := Told{Env: ptr(env), DBus: ptr(dbus), Journal: ptr(jour), Crashes: append([]Crash(nil), crashes...)}
	f := Merge(unit, "", told)
	f.Crashes[0].Result = "changed"
	f.NRestarts = 99
	if !reflect.DeepEqual(told, before) {
		t.Errorf("Merge wrote into what the sources told:\ngot  %+v\nwant %+v", told, before)
	}
}

type systemd struct {
	st    State
	err   error
	asked int
}

func (s *systemd) UnitState(_ context.Context, u string) (State, error) {
	s.asked++
	if u != unit {
		return State{}, fmt.Errorf("asked for %s", u)
	}
	return s.st, s.err
}

type journal struct {
	last    State
	ok      bool
	crashes []Crash
}

func (j journal) History(string) (State, bool, []Crash) { return j.last, j.ok, j.crashes }

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

var monitor = map[string]string{
	"MONITOR_UNIT": unit, "MONITOR_SERVICE_RESULT": "signal", "MONITOR_EXIT_CODE": "killed",
	"MONITOR_EXIT_STATUS": "9", "MONITOR_INVOCATION_ID": invocation(1),
}

// TestGather asks each source as a handler would find it and checks what
// is heard: which source is asked, and that a failing one leaves the
// others to tell.
func TestGather(t *testing.T) {
	tests := []struct {
		name       string
		invocation string
		src        func(*systemd) Sources
		dbus       systemd
		want       Facts
		wantAsked  int
	}{
		{
			name: "every source",
			src: func(d *systemd) Sources {
				return Sources{Getenv: getenv(monitor), Hook: &Handover{Unit: unit, InvocationID: invocation(1), Result: "exit-code"},
					Systemd: d, Journal: journal{last: jour, ok: true, crashes: crashes}}
			},
			dbus:      systemd{st: dbus},
			want:      Facts{State: *with(dbus, func(s *State) { s.Source, s.StartLimitHit = SourceEnv, true }), Known: true, Crashes: crashes},
			wantAsked: 1,
		},
		{
			name: "the hook's hand-over without MONITOR_*, D-Bus unreachable",
			src: func(d *systemd) Sources {
				return Sources{Getenv: getenv(nil), Hook: &Handover{Unit: unit, InvocationID: invocation(1), Result: "signal", ExitCode: "killed", ExitStatus: "9"},
					Systemd: d, Journal: journal{last: jour, ok: true}}
			},
			dbus: systemd{err: errors.New("connect to the system bus: no such file")},
			want: Facts{State: *with(hook, func(s *State) {
				s.NRestarts, s.StartedAt, s.ExitedAt, s.StartLimitHit = 2, jour.StartedAt, jour.ExitedAt, true
			}), Known: true},
			wantAsked: 1,
		},
		{
			name: "MONITOR_* of another unit, a hook's record of another unit",
			src: func(d *systemd) Sources {
				m := map[string]string{}
				for k, v := range monitor {
					m[k] = v
				}
				m["MONITOR_UNIT"] = "nginx.service"
				return Sources{Getenv: getenv(m), Hook: &Handover{Unit: "nginx.service", InvocationID: invocation(1), Result: "signal"}, Systemd: d}
			},
			dbus:      systemd{st: dbusNext},
			want:      Facts{State: dbusNext, Known: true},
			wantAsked: 1,
		},
		{
			name: "an offline journal: no D-Bus asked",
			src: func(*systemd) Sources {
				return Sources{Getenv: getenv(nil), Journal: journal{last: jour, ok: true, crashes: crashes}}
			},
			want: Facts{State: jour, Known: true, Crashes: crashes},
		},
		{
			name: "nothing to ask",
			src:  func(*systemd) Sources { return Sources{} },
			want: Facts{State: State{Unit: unit}, Problems: []string{NoState}},
		},
		{
			name:       "an earlier run: MONITOR_* and the hook are not read",
			invocation: invocation(1),
			src: func(d *systemd) Sources {
				return Sources{Getenv: getenv(monitor), Hook: &Handover{Unit: unit, InvocationID: invocation(1), Result: "exit-code"},
					Systemd: d, Journal: journal{last: jour, ok: true, crashes: crashes}}
			},
			dbus:      systemd{st: dbusNext},
			want:      Facts{State: *with(jour, func(s *State) { s.ExecStart, s.MemoryMax = dbusNext.ExecStart, dbusNext.MemoryMax }), Known: true, Crashes: crashes},
			wantAsked: 1,
		},
		{
			name:       "an earlier run, D-Bus unreachable",
			invocation: invocation(1),
			src: func(d *systemd) Sources {
				return Sources{Systemd: d, Journal: journal{last: jour, ok: true}}
			},
			dbus:      systemd{err: errors.New("no answer in time")},
			want:      Facts{State: jour, Known: true},
			wantAsked: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.dbus
			got := Gather(context.Background(), unit, tt.invocation, tt.src(&d))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Gather:\ngot  %+v\nwant %+v", got, tt.want)
			}
			if d.asked != tt.wantAsked {
				t.Errorf("D-Bus asked %d times, want %d", d.asked, tt.wantAsked)
			}
		})
	}
}
