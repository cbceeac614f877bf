package journal

import (
	"reflect"
	"strconv"
	"testing"
	"time"
)

// story writes systemd's messages about unit as Events returns them, one
// second apart. Its methods return the time of the line they add. An empty
// id leaves INVOCATION_ID out, as older systemd or a forwarded line does.
type story struct {
	at     time.Time
	events []Entry
}

func (s *story) add(id, msgID, msg string, fields ...string) time.Time {
	s.at = s.at.Add(time.Second)
	e := Entry{Time: s.at, Message: msg, Fields: map[string]string{"UNIT": unit}}
	if id != "" {
		e.Fields["INVOCATION_ID"] = id
	}
	if msgID != "" {
		e.Fields["MESSAGE_ID"] = msgID
	}
	for i := 0; i+1 < len(fields); i += 2 {
		e.Fields[fields[i]] = fields[i+1]
	}
	s.events = append(s.events, e)
	return s.at
}

func (s *story) started(id string) time.Time {
	return s.add(id, msgUnitStarted, "Started odoo.service - Odoo.")
}

func (s *story) exited(id, code string, status int) time.Time {
	return s.add(id, msgProcessExit, "odoo.service: Main process exited, code="+code+", status="+strconv.Itoa(status),
		"EXIT_CODE", code, "EXIT_STATUS", strconv.Itoa(status))
}

func (s *story) failed(id, result string) time.Time {
	return s.add(id, msgUnitFailed, "odoo.service: Failed with result '"+result+"'.", "UNIT_RESULT", result)
}

func (s *story) success(id string) time.Time {
	return s.add(id, msgUnitSuccess, "odoo.service: Deactivated successfully.")
}

func (s *story) restart(id string, n int) time.Time {
	return s.add(id, msgRestart, "odoo.service: Scheduled restart job, restart counter is at "+strconv.Itoa(n)+".",
		"N_RESTARTS", strconv.Itoa(n))
}

func (s *story) startLimit(id string) time.Time {
	return s.add(id, "", "odoo.service: Start request repeated too quickly.")
}

// TestWalk reads systemd's messages about one unit once for its last
// failed run, its crash history and what it does now; the three must tell
// the same runs apart.
func TestWalk(t *testing.T) {
	id := invocation
	tests := []struct {
		name string
		// write tells the story and returns the history it should give.
		write func(s *story) History
	}{
		{name: "one crash", write: func(s *story) History {
			start := s.started(id(1))
			exit := s.exited(id(1), "killed", 9)
			fail := s.failed(id(1), "signal")
			return History{
				Failed: true,
				Last: State{InvocationID: id(1), Result: "signal", ExitCode: "killed", ExitStatus: "KILL",
					StartedAt: start, ExitedAt: exit},
				Crashes:  []Crash{{Time: fail, InvocationID: id(1), Result: "signal", ExitCode: "killed", ExitStatus: "KILL"}},
				Activity: Activity{ActiveState: "failed", SubState: "failed", Since: start, InvocationID: id(1)},
			}
		}},
		{name: "crash loop stopped by the start limit, as systemd 252 logs it", write: func(s *story) History {
			s.started(id(1))
			s.exited(id(1), "exited", 1)
			fail1 := s.failed(id(1), "exit-code")
			s.restart(id(1), 1)
			start2 := s.started(id(2))
			exit2 := s.exited(id(2), "dumped", 11)
			fail2 := s.failed(id(2), "core-dump")
			s.restart(id(2), 2)
			s.startLimit(id(2))
			s.failed(id(2), "core-dump") // the same run's failure, repeated
			return History{
				Failed: true,
				Last: State{InvocationID: id(2), Result: "core-dump", ExitCode: "dumped", ExitStatus: "SEGV",
					StartedAt: start2, ExitedAt: exit2, NRestarts: 2, StartLimitHit: true},
				Crashes: []Crash{
					{Time: fail1, InvocationID: id(1), Result: "exit-code", ExitCode: "exited", ExitStatus: "1"},
					{Time: fail2, InvocationID: id(2), Result: "core-dump", ExitCode: "dumped", ExitStatus: "SEGV"},
				},
				Activity: Activity{ActiveState: "failed", SubState: "failed", Since: start2, InvocationID: id(2)},
			}
		}},
		{name: "clean exits until the start limit (Restart=always)", write: func(s *story) History {
			s.started(id(1))
			s.success(id(1))
			s.restart(id(1), 1)
			start2 := s.started(id(2))
			end2 := s.success(id(2))
			s.restart(id(2), 2)
			s.startLimit(id(2))
			s.failed(id(2), "start-limit-hit")
			return History{
				Failed: true,
				Last: State{InvocationID: id(2), Result: "start-limit-hit", ExitCode: "exited", ExitStatus: "0",
					StartedAt: start2, ExitedAt: end2, NRestarts: 2, StartLimitHit: true},
				Activity: Activity{ActiveState: "failed", SubState: "failed", Since: start2, InvocationID: id(2)},
			}
		}},
		{name: "restarted after a crash and running", write: func(s *story) History {
			start1 := s.started(id(1))
			exit1 := s.exited(id(1), "exited", 3)
			fail1 := s.failed(id(1), "exit-code")
			s.restart(id(1), 1)
			start2 := s.started(id(2))
			return History{
				Failed: true,
				Last: State{InvocationID: id(1), Result: "exit-code", ExitCode: "exited", ExitStatus: "3",
					StartedAt: start1, ExitedAt: exit1, NRestarts: 1},
				Crashes:  []Crash{{Time: fail1, InvocationID: id(1), Result: "exit-code", ExitCode: "exited", ExitStatus: "3"}},
				Activity: Activity{ActiveState: "active", SubState: "running", Since: start2, InvocationID: id(2)},
			}
		}},
		{name: "a start by hand resets the restart count", write: func(s *story) History {
			s.started(id(1))
			s.exited(id(1), "exited", 1)
			fail1 := s.failed(id(1), "exit-code")
			s.restart(id(1), 1)
			s.started(id(2))
			s.exited(id(2), "exited", 1)
			fail2 := s.failed(id(2), "exit-code")
			start3 := s.started(id(3)) // no restart job: systemctl start
			exit3 := s.exited(id(3), "killed", 9)
			fail3 := s.failed(id(3), "signal")
			return History{
				Failed: true,
				Last: State{InvocationID: id(3), Result: "signal", ExitCode: "killed", ExitStatus: "KILL",
					StartedAt: start3, ExitedAt: exit3},
				Crashes: []Crash{
					{Time: fail1, InvocationID: id(1), Result: "exit-code", ExitCode: "exited", ExitStatus: "1"},
					{Time: fail2, InvocationID: id(2), Result: "exit-code", ExitCode: "exited", ExitStatus: "1"},
					{Time: fail3, InvocationID: id(3), Result: "signal", ExitCode: "killed", ExitStatus: "KILL"},
				},
				Activity: Activity{ActiveState: "failed", SubState: "failed", Since: start3, InvocationID: id(3)},
			}
		}},
		{name: "never failed", write: func(s *story) History {
			s.started(id(1))
			s.success(id(1))
			start2 := s.started(id(2))
			return History{Activity: Activity{ActiveState: "active", SubState: "running", Since: start2, InvocationID: id(2)}}
		}},
		{name: "the window starts inside a run: its exit without its start", write: func(s *story) History {
			exit := s.exited(id(1), "exited", 1)
			fail := s.failed(id(1), "exit-code")
			return History{
				Failed:   true,
				Last:     State{InvocationID: id(1), Result: "exit-code", ExitCode: "exited", ExitStatus: "1", ExitedAt: exit},
				Crashes:  []Crash{{Time: fail, InvocationID: id(1), Result: "exit-code", ExitCode: "exited", ExitStatus: "1"}},
				Activity: Activity{ActiveState: "failed", SubState: "failed"},
			}
		}},
		// Without INVOCATION_ID only the order of the lines tells runs
		// apart: a clean end closes a run, so what fails after it is
		// the next run, which gets neither its exit status nor its start.
		{name: "no invocation ids: a crash after a clean stop is another run", write: func(s *story) History {
			start := s.started("")
			s.exited("", "exited", 1)
			fail1 := s.failed("", "exit-code")
			s.success("") // a later run, its start line cut off, stopped cleanly
			fail2 := s.failed("", "exit-code")
			return History{
				Failed: true,
				Last:   State{Result: "exit-code"},
				Crashes: []Crash{
					{Time: fail1, Result: "exit-code", ExitCode: "exited", ExitStatus: "1"},
					{Time: fail2, Result: "exit-code"},
				},
				Activity: Activity{ActiveState: "failed", SubState: "failed", Since: start},
			}
		}},
		{name: "no invocation ids: ExecStartPre= fails after a clean stop", write: func(s *story) History {
			start := s.started("")
			s.success("")
			fail := s.failed("", "exit-code") // no Started line: the start failed
			return History{
				Failed:   true,
				Last:     State{Result: "exit-code"},
				Crashes:  []Crash{{Time: fail, Result: "exit-code"}},
				Activity: Activity{ActiveState: "failed", SubState: "failed", Since: start},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &story{at: t0}
			want := tt.write(s)
			want.Activity.Unit, want.Activity.Source = unit, SourceJournal
			if want.Failed {
				want.Last.Unit, want.Last.Source = unit, SourceJournal
			}
			got := Walk(unit, s.events)
			if got.Failed != want.Failed || !equalState(got.Last, want.Last) {
				t.Errorf("last failed run (failed %v):\ngot  %+v\nwant %+v", got.Failed, got.Last, want.Last)
			}
			if !reflect.DeepEqual(got.Crashes, want.Crashes) {
				t.Errorf("crashes:\ngot  %+v\nwant %+v", got.Crashes, want.Crashes)
			}
			if !reflect.DeepEqual(got.Activity, want.Activity) {
				t.Errorf("activity:\ngot  %+v\nwant %+v", got.Activity, want.Activity)
			}
			// The functions that read one of the three say the same.
			if st, ok := StateFromEvents(unit, s.events); ok != want.Failed || !equalState(st, got.Last) {
				t.Errorf("StateFromEvents: %+v %v, Walk: %+v", st, ok, got.Last)
			}
			if c := Crashes(s.events); !reflect.DeepEqual(c, got.Crashes) {
				t.Errorf("Crashes: %+v, Walk: %+v", c, got.Crashes)
			}
			if a := ActivityFromEvents(unit, s.events); a != got.Activity {
				t.Errorf("ActivityFromEvents: %+v, Walk: %+v", a, got.Activity)
			}
		})
	}
}
