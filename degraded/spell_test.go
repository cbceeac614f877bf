package degraded

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// at re-times real lines: the clock is the lines' times.
func at(ls []Line, t time.Time) []Line {
	out := make([]Line, len(ls))
	for i, l := range ls {
		l.Time = t
		out[i] = l
	}
	return out
}

// TestSpellTiming drives one spell by time: at most one notice per window,
// updates carry what came since, resolved after a quiet window.
func TestSpellTiming(t *testing.T) {
	timeout := paste(t, "dockery-30-worker-timeout-compose.log")[1:2] // WorkerHTTP (380) timeout after 0s
	type step struct {
		after time.Duration // since t0
		line  bool          // a worker timeout at that time; else a Tick
		want  string        // notices decided, "" for none
	}
	for _, tc := range []struct {
		name  string
		steps []step
		// counts the last notice holds: N, New
		n, new int
	}{
		{
			name: "one event: opened, resolved a window later",
			steps: []step{
				{0, true, "opened"},
				{14 * time.Minute, false, ""},
				{15 * time.Minute, false, "resolved"},
				{40 * time.Minute, false, ""},
			},
			n: 1, new: 0,
		},
		{
			name: "events within the window wait for the next notice",
			steps: []step{
				{0, true, "opened"},
				{time.Minute, true, ""},
				{10 * time.Minute, true, ""},
				{14 * time.Minute, false, ""},
				{15 * time.Minute, false, "updated"},
				{20 * time.Minute, false, ""},
				{25 * time.Minute, false, ""},
				{30 * time.Minute, false, "resolved"},
			},
			n: 3, new: 0,
		},
		{
			name: "an event past the window updates at once",
			steps: []step{
				{0, true, "opened"},
				{10 * time.Minute, true, ""},
				{16 * time.Minute, true, "updated"},
				{17 * time.Minute, true, ""},
				{31 * time.Minute, false, "updated"},
				{45 * time.Minute, false, ""},
				{46 * time.Minute, false, "resolved"},
			},
			n: 4, new: 0,
		},
		{
			name: "an event after a quiet window: the spell is over, a new one opens",
			steps: []step{
				{0, true, "opened"},
				{16 * time.Minute, true, "resolved,opened"},
			},
			n: 1, new: 1,
		},
		{
			name: "a new spell after a resolved one",
			steps: []step{
				{0, true, "opened"},
				{15 * time.Minute, false, "resolved"},
				{16 * time.Minute, true, "opened"},
			},
			n: 1, new: 1,
		},
		{
			name: "no update without new events",
			steps: []step{
				{0, true, "opened"},
				{5 * time.Minute, true, ""},
				{15 * time.Minute, false, "updated"},
				{19 * time.Minute, false, ""},
				{29 * time.Minute, false, ""},
				{30 * time.Minute, false, "resolved"},
			},
			n: 2, new: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := New(Options{Unit: "odoo.service"})
			var last Notice
			for _, s := range tc.steps {
				now := t0.Add(s.after)
				var ns []Notice
				if s.line {
					ns = feed(d, at(timeout, now))
				} else {
					ns = d.Tick(now)
				}
				if got := states(ns); got != s.want {
					t.Fatalf("at +%v: notices %q, want %q (%+v)", s.after, got, s.want, ns)
				}
				for _, n := range ns {
					if !n.Time.Equal(now) {
						t.Errorf("at +%v: notice time %v", s.after, n.Time)
					}
					last = n
				}
			}
			c := last.Counts[0]
			if c.Kind != TimeReal || c.N != tc.n || c.New != tc.new {
				t.Errorf("last notice counts %+v, want %d (%d new) worker timeouts", c, tc.n, tc.new)
			}
		})
	}
}

// TestOneNoticePerWindow: a storm of events makes one notice per window,
// not one per event.
func TestOneNoticePerWindow(t *testing.T) {
	// ten workers' timeouts, each its own pid, as a storm replaces them
	timeouts := paste(t, "dockery-30-worker-timeout-compose.log")[1:]
	d := New(Options{Window: 10 * time.Minute})
	var ns []Notice
	for i := 0; i < 1000; i++ { // one every 6 s for 100 min
		ns = append(ns, feed(d, at(timeouts[i%len(timeouts):i%len(timeouts)+1], t0.Add(time.Duration(i)*6*time.Second)))...)
	}
	ns = append(ns, settle(d)...)
	want := "opened" + strings.Repeat(",updated", 10) + ",resolved"
	if got := states(ns); got != want {
		t.Fatalf("notices %s\nwant %s", got, want)
	}
	for i := 1; i < len(ns); i++ {
		if gap := ns[i].Time.Sub(ns[i-1].Time); gap < 10*time.Minute {
			t.Errorf("notice %d came %v after the one before", i, gap)
		}
	}
	if n := ns[len(ns)-1]; count(n, TimeReal) != 1000 || !strings.Contains(n.Summary, "1000 worker timeouts in 100 min (limit_time_real = 0)") {
		t.Errorf("resolved: %q", n.Summary)
	}
	if u := ns[1]; u.Counts[0].New != 99 || u.Since != t0 {
		t.Errorf("first update: %+v since %v, want 99 new since the opening", u.Counts[0], u.Since)
	}
}

// TestRequestErrorBurst: failed requests open a spell only when more than
// ErrorsPerWindow come within the window.
func TestRequestErrorBurst(t *testing.T) {
	rec := paste(t, "docker-556-odoo18-request-keyerror.log")
	// the record: from "Exception during request handling." to its KeyError
	start := -1
	for i, l := range rec {
		if strings.Contains(l.Message, "Exception during request handling") {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatal("no request error in the paste")
	}
	failed := rec[start:]
	for _, tc := range []struct {
		name  string
		every time.Duration
		n     int
		want  string
	}{
		{"ten in a minute: not more than errors_per_window", 6 * time.Second, 10, ""},
		{"eleven in a minute: a spell", 6 * time.Second, 11, "opened"},
		{"thirty spread over an hour: none", 2 * time.Minute, 30, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := New(Options{ErrorsPerWindow: 10})
			var ns []Notice
			for i := 0; i < tc.n; i++ {
				ns = append(ns, feed(d, at(failed, t0.Add(time.Duration(i)*tc.every)))...)
			}
			ns = append(ns, d.Tick(d.now.Add(10*time.Second))...)
			if got := states(ns); got != tc.want {
				t.Fatalf("notices %q, want %q: %+v", got, tc.want, ns)
			}
			if tc.want == "" {
				return
			}
			n := ns[0]
			if n.Kind != RequestErrors || count(n, RequestErrors) != tc.n {
				t.Errorf("opened with %+v, want %d failed requests", n.Counts, tc.n)
			}
			if want := "11 failed requests in 1 min"; !strings.Contains(n.Summary, want) {
				t.Errorf("summary %q\nwant %q", n.Summary, want)
			}
		})
	}
}

// TestOOMWhichProcess: only a kill of one of the unit's processes, not its
// main process, counts.
func TestOOMWhichProcess(t *testing.T) {
	kill := paste(t, "odoo-26963-oom-el6-wording.log") // pid 31217
	for _, tc := range []struct {
		name string
		main int
		pids []int
		want string
	}{
		{"a worker", 31000, []int{31000, 31217}, "opened"},
		{"the main process: the unit fails, a crash report's business", 31217, []int{31217}, ""},
		{"a process of another unit", 31000, []int{31000}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := New(Options{Unit: "odoo.service"})
			d.Processes(t0, tc.main, tc.pids)
			ns := feed(d, at(kill, t0.Add(time.Second)))
			if got := states(ns); got != tc.want {
				t.Fatalf("notices %q, want %q", got, tc.want)
			}
		})
	}
}

// TestUpdateSaysWhatIsNew: an update names what came since the previous
// notice, in the summary's words, and not the whole spell again (the
// lines say "timeout after 0s": limit_time_real = 0).
func TestUpdateSaysWhatIsNew(t *testing.T) {
	timeouts := paste(t, "dockery-30-worker-timeout-compose.log")[1:]
	d := New(Options{Window: 10 * time.Minute})
	var ns []Notice
	for i := 0; i < 3; i++ {
		ns = append(ns, feed(d, at(timeouts[i:i+1], t0.Add(time.Duration(i)*time.Minute)))...)
	}
	for i := 3; i < 5; i++ {
		ns = append(ns, feed(d, at(timeouts[i:i+1], t0.Add(time.Duration(i)*time.Minute)))...)
	}
	ns = append(ns, d.Tick(t0.Add(10*time.Minute))...)
	ns = append(ns, d.Tick(t0.Add(30*time.Minute))...)
	if got := states(ns); got != "opened,updated,resolved" {
		t.Fatalf("notices %q, want opened,updated,resolved", got)
	}
	if ns[0].New != "" || ns[2].New != "" {
		t.Errorf("an opening or a resolution with New: %q, %q", ns[0].New, ns[2].New)
	}
	up := ns[1]
	if want := "4 worker timeouts (limit_time_real = 0)"; up.New != want {
		t.Errorf("the update's New is %q, want %q (the summary: %q)", up.New, want, up.Summary)
	}
	if !strings.HasPrefix(up.Summary, "5 worker timeouts in 4 min") {
		t.Errorf("the update's summary is %q, want the whole spell's 5 worker timeouts", up.Summary)
	}
}
