package watch

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"time"
)

// Systemd is what the watcher asks of systemd about the watched unit.
type Systemd interface {
	// Unit says what the unit is doing now.
	Unit(ctx context.Context) (Unit, error)
	// Kill sends sig to the unit's processes: who is "main" or "all"
	// (systemd's KillUnit).
	Kill(ctx context.Context, who string, sig syscall.Signal) error
	// Restart queues a restart job and returns without waiting for it.
	Restart(ctx context.Context) error
}

// Logs reads the unit's log lines (the journal, or Odoo's log file).
type Logs interface {
	// Since returns the run's lines logged at since or later, oldest first.
	Since(ctx context.Context, invocation string, since time.Time) ([]Line, error)
}

// Reporter takes a hang and the unit's recovery to the channels.
type Reporter interface {
	// Hang reports h: it opens (or updates) the unit's incident.
	Hang(ctx context.Context, h *Hang) error
	// Answering offers the unit's open incident its recovery: it answers
	// since since. resolved says the incident is over.
	Answering(ctx context.Context, u Unit, since time.Time) (resolved bool, err error)
}

// LineSink takes the unit's log lines as the watcher reads them: the seam
// where the detector of Odoo's limit events (worker timeouts, memory
// limits; package degraded) is fed. It is called every round the unit's
// state is known, with the lines read since the last round (none, too: the
// sink's clock moves on), oldest first.
type LineSink interface {
	Lines(ctx context.Context, u Unit, lines []Line)
}

// Tail reads on from where it last stopped: the lines logged since its
// previous Read (the unit's journal lines and the kernel's, or Odoo's log
// file), oldest first, a bounded batch at a time; the watcher reads again
// until a Read returns no line. It keeps its file handles open between
// reads.
type Tail interface {
	Read(ctx context.Context) ([]Line, error)
}

// Action is what a watcher does to a hung unit.
type Action string

const (
	// Restart: stop the hung unit fast and start it again (the default).
	Restart Action = "restart"
	// Report: report the hang and leave the unit as it is.
	Report Action = "report"
)

// Hang is everything a hang report says.
type Hang struct {
	Unit       string
	Invocation string
	URL        string
	// At is when the last probe failed; Probes the recent ones, oldest
	// first.
	At     time.Time
	Probes []Result
	// Threads is the dump reduced to its busy threads; Dumped counts every
	// thread the dump held, Processes how many processes dumped.
	Threads   []Thread
	Dumped    int
	Processes int
	// DumpProblem says why there is no dump, or only part of one.
	DumpProblem string
	Action      Action
	// Done lists what the watcher did, in order, for a person.
	Done []string
	// StopTook is how long the hung run took to stop (on restart).
	StopTook time.Duration
	// Stopped is false when the run did not stop within the watcher's
	// wait: systemd's job goes on.
	Stopped bool
}

// Watcher watches one unit.
type Watcher struct {
	Unit     string
	Prober   *Prober
	Systemd  Systemd
	Logs     Logs
	Reporter Reporter
	Policy   Policy
	Interval time.Duration
	Action   Action
	// DumpWait bounds the wait for the stack dump after SIGQUIT (5 s).
	DumpWait time.Duration
	// ForceAfter is when, into a restart, the main process gets its second
	// SIGTERM (Odoo's "Forced shutdown"); KillAfter when what is left gets
	// SIGKILL; StopWait when the watcher stops waiting.
	ForceAfter, KillAfter, StopWait time.Duration
	// Beat tells systemd the watcher is alive (WATCHDOG=1); called at
	// least once per Interval, and between the steps of a hang.
	Beat func()
	Log  *slog.Logger
	Now  func() time.Time
	// Sleep waits d or until ctx ends; nil sleeps.
	Sleep func(ctx context.Context, d time.Duration) error

	// Follow, when set, gets the unit's new log lines every round (see
	// LineSink); nil: the lines are read only for a hang's dump.
	Follow     LineSink
	FollowLogs Tail

	// State is the watcher's memory; set it before Run to resume.
	State State
}

func (w *Watcher) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Watcher) sleep(ctx context.Context, d time.Duration) error {
	if w.Sleep != nil {
		return w.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (w *Watcher) beat() {
	if w.Beat != nil {
		w.Beat()
	}
}

// Run watches until ctx ends (SIGTERM), and returns nil then.
func (w *Watcher) Run(ctx context.Context) error {
	for {
		start := w.now()
		w.Tick(ctx)
		w.beat()
		if err := w.sleep(ctx, w.Interval-w.now().Sub(start)); err != nil {
			return nil
		}
	}
}

// Tick is one round: ask systemd, probe when the unit runs, decide, act.
func (w *Watcher) Tick(ctx context.Context) {
	w.tick(ctx, func() *Result {
		p := w.Prober.Probe(ctx)
		return &p
	})
}

func (w *Watcher) tick(ctx context.Context, probe func() *Result) {
	u, err := w.Systemd.Unit(ctx)
	if err != nil {
		w.Log.Warn("watch: cannot learn the unit's state: nothing is decided this round", "unit", w.Unit, "error", err)
		return
	}
	var r *Result
	if u.Active {
		r = probe()
		if ctx.Err() != nil {
			return
		}
	}
	w.follow(ctx, u)
	prev := w.State
	next, v := Step(w.State, w.Policy, u, r, w.now())
	w.State = next
	if next.Phase != prev.Phase {
		attrs := []any{"unit", w.Unit, "phase", next.Phase.String(), "was", prev.Phase.String()}
		if r != nil {
			attrs = append(attrs, "probe", r.String())
		}
		w.Log.Info("watch: the unit is "+next.Phase.String(), attrs...)
	}
	switch v {
	case ReportHang:
		w.hang(ctx, u)
	case Answering:
		resolved, err := w.Reporter.Answering(ctx, u, w.State.AnsweringSince)
		if err != nil {
			w.Log.Warn("watch: the recovery could not be recorded; the next probe tries again", "unit", w.Unit, "error", err)
			return
		}
		if resolved {
			w.Log.Info("watch: the hang is over: the unit answers again", "unit", w.Unit, "since", w.State.AnsweringSince.UTC().Format(time.RFC3339))
			w.State = w.State.Resolved()
		}
	}
}

// maxFollowBatches bounds the batches of lines one round reads: a journal
// busier than that (many thousand lines a second) is read on in the next
// rounds rather than keep the watcher from probing.
const maxFollowBatches = 20

// follow hands Follow the lines logged since the last round, a batch at a
// time, so that a busy journal costs one batch of memory, not a round's.
func (w *Watcher) follow(ctx context.Context, u Unit) {
	if w.Follow == nil || w.FollowLogs == nil {
		return
	}
	for batch := 0; ; batch++ {
		lines, err := w.FollowLogs.Read(ctx)
		if err != nil {
			w.Log.Warn("watch: cannot read the unit's lines: Odoo's limit events of this round may be missed", "unit", w.Unit, "error", err)
		}
		if batch == 0 || len(lines) > 0 {
			w.Follow.Lines(ctx, u, lines)
		}
		if err != nil || len(lines) == 0 || batch+1 == maxFollowBatches || ctx.Err() != nil {
			return
		}
		w.beat()
	}
}

// hang is what a hang makes the watcher do: SIGQUIT every process and
// read the dump, act, report.
func (w *Watcher) hang(ctx context.Context, u Unit) {
	h := &Hang{
		Unit: w.Unit, Invocation: u.InvocationID, URL: w.Prober.URL, Action: w.Action,
		Probes: append([]Result(nil), w.State.History...),
	}
	if n := len(h.Probes); n > 0 {
		h.At = h.Probes[n-1].At
	}
	w.Log.Error("watch: the unit hangs: it does not answer its health URL", "unit", w.Unit, "url", h.URL, "failures", w.State.Fails, "last_probe", h.Probes[len(h.Probes)-1].String())
	w.dump(ctx, h)
	w.beat()
	if w.Action == Restart {
		w.restart(ctx, h)
		w.beat()
	} else {
		h.Done = append(h.Done, "on_hang = \"report\": the unit was left as it is")
	}
	if err := w.Reporter.Hang(ctx, h); err != nil {
		w.Log.Error("watch: the hang could not be reported", "unit", w.Unit, "error", err)
	}
	w.beat()
}

// dump sends SIGQUIT to every process of the unit and waits up to
// DumpWait for their stack dumps, until the lines stop coming.
func (w *Watcher) dump(ctx context.Context, h *Hang) {
	at := w.now()
	if err := w.Systemd.Kill(ctx, "all", syscall.SIGQUIT); err != nil {
		// systemd signals the main process first, then the rest: an error
		// about the rest (a cgroup it cannot read) leaves the main
		// process's dump to read.
		h.Done = append(h.Done, fmt.Sprintf("%s SIGQUIT to every process of %s failed (%v): what dumped is read all the same", clock(at), w.Unit, err))
		w.Log.Warn("watch: SIGQUIT to every process of the unit failed", "unit", w.Unit, "error", err)
	} else {
		h.Done = append(h.Done, fmt.Sprintf("%s SIGQUIT sent to every process of %s: each Odoo process logs its threads' stacks", clock(at), w.Unit))
	}
	// The journal stamps a line when it receives it: a second of margin
	// for clocks read on either side.
	since := at.Add(-time.Second)
	deadline := at.Add(w.DumpWait)
	var threads []Thread
	lastCount, stableSince := -1, time.Time{}
	var lerr error
	for {
		lines, err := w.Logs.Since(ctx, h.Invocation, since)
		lerr = err
		if err == nil {
			threads = Parse(lines)
			n := len(lines)
			if n != lastCount {
				lastCount, stableSince = n, w.now()
			}
			// The dump is in when threads came and nothing more for 1 s.
			if len(threads) > 0 && w.now().Sub(stableSince) >= time.Second {
				break
			}
		}
		if !w.now().Before(deadline) || w.sleep(ctx, 250*time.Millisecond) != nil {
			break
		}
	}
	pids := map[int]bool{}
	for _, t := range threads {
		pids[t.PID] = true
	}
	h.Dumped, h.Processes = len(threads), len(pids)
	h.Threads = Busy(threads)
	switch {
	case lerr != nil:
		h.DumpProblem = "the stack dump could not be read: " + lerr.Error()
	case len(threads) == 0:
		h.DumpProblem = fmt.Sprintf("no stack dump came within %s: a process stopped (SIGSTOP) or stuck in the kernel cannot write one, and Odoo logs it at INFO (log_level must not hide INFO)", w.DumpWait)
	}
}

// restart stops the hung run fast and lets systemd start it again: a
// restart job, then, if the run is still stopping after ForceAfter, a
// second SIGTERM to the main process (Odoo's prefork master then stops at
// once: "Forced shutdown", instead of waiting limit_time_real for its
// stuck workers), then SIGKILL to what is left after KillAfter.
func (w *Watcher) restart(ctx context.Context, h *Hang) {
	start := w.now()
	if err := w.Systemd.Restart(ctx); err != nil {
		h.Done = append(h.Done, "the restart could not be asked: "+err.Error())
		w.Log.Error("watch: cannot restart the hung unit", "unit", w.Unit, "error", err)
		return
	}
	h.Done = append(h.Done, clock(start)+" restart asked of systemd")
	forced, killed := false, false
	for {
		u, err := w.Systemd.Unit(ctx)
		if err == nil && stopped(u, h.Invocation) {
			h.Stopped, h.StopTook = true, w.now().Sub(start)
			h.Done = append(h.Done, fmt.Sprintf("the hung run stopped in %.1f s", h.StopTook.Seconds()))
			w.Log.Info("watch: the hung run stopped", "unit", w.Unit, "took", h.StopTook.Round(time.Millisecond), "forced", forced, "killed", killed)
			return
		}
		elapsed := w.now().Sub(start)
		switch {
		case elapsed >= w.StopWait:
			h.Done = append(h.Done, fmt.Sprintf("the hung run had not stopped after %.0f s: systemd's stop job goes on (TimeoutStopSec=)", elapsed.Seconds()))
			return
		case !killed && elapsed >= w.KillAfter:
			killed = true
			if err := w.Systemd.Kill(ctx, "all", syscall.SIGKILL); err == nil {
				h.Done = append(h.Done, fmt.Sprintf("%s still stopping after %.0f s: SIGKILL sent to what is left", clock(w.now()), elapsed.Seconds()))
			}
		case !forced && elapsed >= w.ForceAfter:
			forced = true
			if err := w.Systemd.Kill(ctx, "main", syscall.SIGTERM); err == nil {
				h.Done = append(h.Done, fmt.Sprintf("%s still stopping after %.1f s: a second SIGTERM sent to the main process (Odoo stops at once: \"Forced shutdown\")", clock(w.now()), elapsed.Seconds()))
			}
		}
		w.beat()
		if w.sleep(ctx, 100*time.Millisecond) != nil {
			return
		}
	}
}

// stopped says the hung run is over: another run, or the unit is no longer
// active nor stopping.
func stopped(u Unit, hungRun string) bool {
	if u.InvocationID != "" && u.InvocationID != hungRun {
		return true
	}
	state, _, _ := strings.Cut(u.State, "/")
	return state != "active" && state != "deactivating" && state != "reloading"
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05") }
