package journal

import (
	"fmt"
	"reflect"
	"syscall"
	"testing"
	"time"
)

const unit = "odoo.service"

// loopCrash is one crash of a crash loop: how the run ended.
type loopCrash struct {
	code     string
	status   int
	result   string
	watchdog bool
}

// crashLoop writes what systemd 252 logs for a unit with Restart=on-failure
// that crashes len(crashes) times and then hits its start limit
// (StartLimitBurst=5 by default). It returns the times of each run's start,
// exit and failure message.
func crashLoop(s *scene, crashes []loopCrash, startLimit bool) (started, exited, failedAt []time.Time) {
	for i, c := range crashes {
		id := invocation(i + 1)
		started = append(started, s.started(unit, id))
		s.out(unit, id, "odoo.modules.loading: loading 42 modules...")
		if c.watchdog {
			s.sys(unit, id, "", unit+": Watchdog timeout (limit 2s)!")
			s.sys(unit, id, "", unit+": Killing process 4242 (python3) with signal SIGABRT.")
		}
		exited = append(exited, s.exited(unit, id, c.code, c.status))
		failedAt = append(failedAt, s.failed(unit, id, c.result))
		if i < len(crashes)-1 || startLimit {
			s.tick(100 * time.Millisecond)
			s.restart(unit, id, i+1)
			s.sys(unit, id, "9d1aaa27d60140bd96365438aad20286", "Stopped "+unit+" - Odoo.")
		}
	}
	if startLimit {
		// As systemd 252 logs it (testdata/crashloop-252.export): the
		// refused restart repeats the last run's result.
		id := invocation(len(crashes))
		s.sys(unit, id, "", unit+": Start request repeated too quickly.")
		s.failed(unit, id, crashes[len(crashes)-1].result)
		s.sys(unit, id, "be02cf6855d2428ba40df7e9d022f03d", "Failed to start "+unit+" - Odoo.",
			kv{"JOB_RESULT", "failed"})
		s.sys(unit, id, "", unit+": Triggering OnFailure= dependencies.")
	}
	return started, exited, failedAt
}

func TestStateFromEvents(t *testing.T) {
	loop := []loopCrash{
		{code: "exited", status: 1, result: "exit-code"},
		{code: "killed", status: 9, result: "signal"},
		{code: "dumped", status: 11, result: "core-dump"},
		{code: "killed", status: 6, result: "watchdog", watchdog: true},
		{code: "exited", status: 3, result: "exit-code"},
	}
	tests := []struct {
		name       string
		crashes    []loopCrash
		startLimit bool
		want       State // times filled in from the scene
		wantLast   int   // index of the run the state is about
	}{
		{name: "exit-code", crashes: []loopCrash{{code: "exited", status: 3, result: "exit-code"}},
			want: State{Result: "exit-code", ExitCode: "exited", ExitStatus: "3"}},
		{name: "signal KILL", crashes: []loopCrash{{code: "killed", status: 9, result: "signal"}},
			want: State{Result: "signal", ExitCode: "killed", ExitStatus: "KILL"}},
		{name: "core-dump SEGV", crashes: []loopCrash{{code: "dumped", status: 11, result: "core-dump"}},
			want: State{Result: "core-dump", ExitCode: "dumped", ExitStatus: "SEGV"}},
		{name: "watchdog ABRT", crashes: []loopCrash{{code: "killed", status: 6, result: "watchdog", watchdog: true}},
			want: State{Result: "watchdog", ExitCode: "killed", ExitStatus: "ABRT"}},
		{name: "start limit hit after 5 restarts", crashes: loop, startLimit: true, wantLast: 4,
			want: State{Result: "exit-code", ExitCode: "exited", ExitStatus: "3", NRestarts: 5, StartLimitHit: true}},
		{name: "restarted run that crashed again", crashes: loop[:3], wantLast: 2,
			want: State{Result: "core-dump", ExitCode: "dumped", ExitStatus: "SEGV", NRestarts: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScene()
			s.started("other.service", invocation(90))
			started, exited, _ := crashLoop(s, tt.crashes, tt.startLimit)
			s.out("other.service", invocation(90), "unrelated")
			j := openRecs(t, s.recs)

			events, err := j.Events(unit, time.Time{}, 1000)
			if err != nil {
				t.Fatalf("Events: %v", err)
			}
			got, ok := StateFromEvents(unit, events)
			if !ok {
				t.Fatalf("StateFromEvents found no failure in %q", messages(events))
			}
			want := tt.want
			want.Unit, want.Source = unit, SourceJournal
			want.InvocationID = invocation(tt.wantLast + 1)
			want.StartedAt, want.ExitedAt = started[tt.wantLast], exited[tt.wantLast]
			if !equalState(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func equalState(a, b State) bool {
	if !a.StartedAt.Equal(b.StartedAt) || !a.ExitedAt.Equal(b.ExitedAt) {
		return false
	}
	a.StartedAt, a.ExitedAt, b.StartedAt, b.ExitedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func TestStateFromEventsWithoutFailure(t *testing.T) {
	s := newScene()
	s.started(unit, invocation(1))
	s.out(unit, invocation(1), "serving")
	j := openRecs(t, s.recs)
	events, err := j.Events(unit, time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := StateFromEvents(unit, events); ok {
		t.Errorf("a unit that never failed: got state %+v", got)
	}
}

// Older systemd and hand-made lines carry no structured fields; the
// messages say the same.
func TestStateFromEventsMessagesOnly(t *testing.T) {
	at := t0
	ev := func(msg string) Entry {
		at = at.Add(time.Second)
		return Entry{Time: at, Message: msg, Fields: map[string]string{"UNIT": unit}}
	}
	events := []Entry{
		ev("Started Odoo."),
		ev("odoo.service: Main process exited, code=dumped, status=11/SEGV"),
		ev("odoo.service: Failed with result 'core-dump'."),
		ev("odoo.service: Scheduled restart job, restart counter is at 1."),
		ev("odoo.service: Main process exited, code=killed, status=9/KILL"),
		ev("odoo.service: Failed with result 'signal'."),
		ev("odoo.service: Scheduled restart job, restart counter is at 2."),
		ev("odoo.service: Start request repeated too quickly."),
	}
	got, ok := StateFromEvents(unit, events)
	want := State{Unit: unit, Result: "signal", ExitCode: "killed", ExitStatus: "KILL", NRestarts: 2,
		ExitedAt: events[4].Time, Source: SourceJournal, StartLimitHit: true}
	if !ok || !equalState(got, want) {
		t.Errorf("got  %+v (ok %v)\nwant %+v", got, ok, want)
	}
	crashes := Crashes(events)
	wantCrashes := []Crash{
		{Time: events[2].Time, Result: "core-dump", ExitCode: "dumped", ExitStatus: "SEGV"},
		{Time: events[5].Time, Result: "signal", ExitCode: "killed", ExitStatus: "KILL"},
	}
	if !reflect.DeepEqual(crashes, wantCrashes) {
		t.Errorf("Crashes: got %+v\nwant %+v", crashes, wantCrashes)
	}
}

func TestCrashes(t *testing.T) {
	loop := []loopCrash{
		{code: "exited", status: 1, result: "exit-code"},
		{code: "killed", status: 9, result: "signal"},
		{code: "dumped", status: 11, result: "core-dump"},
		{code: "killed", status: 6, result: "watchdog", watchdog: true},
		{code: "exited", status: 3, result: "exit-code"},
	}
	s := newScene()
	_, _, failedAt := crashLoop(s, loop, true)
	j := openRecs(t, s.recs)
	events, err := j.Events(unit, time.Time{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	got := Crashes(events)
	want := []Crash{
		{Time: failedAt[0], InvocationID: invocation(1), Result: "exit-code", ExitCode: "exited", ExitStatus: "1"},
		{Time: failedAt[1], InvocationID: invocation(2), Result: "signal", ExitCode: "killed", ExitStatus: "KILL"},
		{Time: failedAt[2], InvocationID: invocation(3), Result: "core-dump", ExitCode: "dumped", ExitStatus: "SEGV"},
		{Time: failedAt[3], InvocationID: invocation(4), Result: "watchdog", ExitCode: "killed", ExitStatus: "ABRT"},
		{Time: failedAt[4], InvocationID: invocation(5), Result: "exit-code", ExitCode: "exited", ExitStatus: "3"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d crashes, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) {
			t.Errorf("crash %d: time %s, want %s", i+1, got[i].Time, want[i].Time)
		}
		got[i].Time, want[i].Time = time.Time{}, time.Time{}
		if got[i] != want[i] {
			t.Errorf("crash %d: got %+v, want %+v", i+1, got[i], want[i])
		}
	}
}

func TestSignalName(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want string
	}{{6, "ABRT"}, {9, "KILL"}, {11, "SEGV"}, {15, "TERM"}, {200, "200"}} {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			if got := signalName(tt.n); got != tt.want {
				t.Errorf("signalName(%d) = %q, want %q", tt.n, got, tt.want)
			}
		})
	}
}

func TestStderrIsJournalStream(t *testing.T) {
	var st syscall.Stat_t
	if err := syscall.Fstat(2, &st); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  string
		want bool
	}{
		{name: "not under systemd", env: "", want: false},
		{name: "stderr is the journal stream", env: fmt.Sprintf("%d:%d", st.Dev, st.Ino), want: true},
		{name: "another stream (stderr redirected)", env: fmt.Sprintf("%d:%d", st.Dev, st.Ino+1), want: false},
		{name: "garbage", env: "journal", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("JOURNAL_STREAM", tt.env)
			if got := StderrIsJournalStream(); got != tt.want {
				t.Errorf("JOURNAL_STREAM=%q: got %v, want %v", tt.env, got, tt.want)
			}
		})
	}
}

// FuzzEvents feeds systemd-like messages in any order: the state and the
// crash history must come out without panic and never list more crashes
// than there are messages.
func FuzzEvents(f *testing.F) {
	f.Add("odoo.service: Main process exited, code=killed, status=9/KILL", "killed", "9", "odoo.service: Failed with result 'signal'.", "signal", "3")
	f.Add("odoo.service: Start request repeated too quickly.", "", "", "odoo.service: Scheduled restart job, restart counter is at 99999999999999999999.", "", "x")
	f.Add("Main process exited, code=dumped, status=4294967296/SEGV", "dumped", "-1", "Failed with result ''", "", "")
	f.Fuzz(func(t *testing.T, msg1, code, status, msg2, result, restarts string) {
		mk := func(i int, msg, id string, fields ...string) Entry {
			e := Entry{Time: t0.Add(time.Duration(i) * time.Second), Message: msg, Fields: map[string]string{"INVOCATION_ID": id}}
			for k := 0; k+1 < len(fields); k += 2 {
				e.Fields[fields[k]] = fields[k+1]
			}
			return e
		}
		events := []Entry{
			mk(0, msg1, "a", "MESSAGE_ID", msgProcessExit, "EXIT_CODE", code, "EXIT_STATUS", status),
			mk(1, msg2, "a", "MESSAGE_ID", msgUnitFailed, "UNIT_RESULT", result),
			mk(2, msg1, "", "N_RESTARTS", restarts),
			mk(3, msg2, "b"),
		}
		StateFromEvents(unit, events)
		if got := Crashes(events); len(got) > len(events) {
			t.Fatalf("%d crashes from %d messages", len(got), len(events))
		}
	})
}
