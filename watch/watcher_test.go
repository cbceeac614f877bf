package watch

import (
	"context"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeClock advances only when the watcher sleeps.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }
func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.t = c.t.Add(max(d, 0))
	return nil
}

// fakeUnit is systemd as the watcher sees it: a run that hangs, a stop
// that takes as long as the test says, unless the second SIGTERM comes.
type fakeUnit struct {
	clock   *fakeClock
	unit    Unit
	signals []string
	// stopAt is when the stopping run ends; forced ends it at once.
	stopAt       time.Time
	slowStop     time.Duration
	forcedStops  bool
	restartAsked time.Time
	restarted    bool
}

func (f *fakeUnit) Unit(context.Context) (Unit, error) {
	if f.restarted && !f.clock.now().Before(f.stopAt) {
		f.unit = Unit{Active: true, State: "active/running", Since: f.stopAt, InvocationID: "bbb"}
	}
	return f.unit, nil
}

func (f *fakeUnit) Kill(_ context.Context, who string, sig syscall.Signal) error {
	f.signals = append(f.signals, who+" "+sig.String())
	if f.restarted && who == "main" && sig == syscall.SIGTERM && f.forcedStops {
		f.stopAt = f.clock.now().Add(200 * time.Millisecond)
	}
	return nil
}

func (f *fakeUnit) Restart(context.Context) error {
	f.restarted, f.restartAsked = true, f.clock.now()
	f.stopAt = f.clock.now().Add(f.slowStop)
	f.unit.Active, f.unit.State = false, "deactivating/stop-sigterm"
	return nil
}

type fakeLogs struct {
	lines []Line
	asked time.Time
}

func (l *fakeLogs) Since(_ context.Context, inv string, since time.Time) ([]Line, error) {
	l.asked = since
	return l.lines, nil
}

type fakeReporter struct {
	hangs   []*Hang
	answers []time.Time
}

func (r *fakeReporter) Hang(_ context.Context, h *Hang) error {
	r.hangs = append(r.hangs, h)
	return nil
}
func (r *fakeReporter) Answering(_ context.Context, _ Unit, since time.Time) (bool, error) {
	r.answers = append(r.answers, since)
	return true, nil
}

func TestWatcherHang(t *testing.T) {
	dump := []Line{
		{PID: 380, Text: "2026-12-02 10:00:41,002 380 INFO prod odoo.tools.misc: "},
		{PID: 380, Text: "# Thread: <Thread(odoo.service.http.request.1, started 1)> (db:prod) (uid:7) (url:http://erp/web/dataset/call_kw/sale.order/action_confirm) (qc:12 qt:0.034 pt:40.100)"},
		{PID: 380, Text: `File: "/opt/odoo/addons/sale/models/sale_order.py", line 900, in action_confirm`},
		{PID: 380, Text: "  self._action_confirm()"},
		{PID: 381, Text: "# Thread: <_MainThread(MainThread, started 2)> (db:n/a) (uid:n/a) (url:n/a) (qc:n/a qt:n/a pt:n/a)"},
		{PID: 381, Text: `File: "/opt/odoo/odoo/service/server.py", line 1000, in sleep`},
		{PID: 381, Text: "  select.select([self.multi.socket, self.wakeup_fd_r], [], [], self.multi.beat)"},
	}
	tests := []struct {
		name     string
		action   Action
		slowStop time.Duration
		forced   bool
		signals  []string
		stopped  bool
		stopTook time.Duration
		done     []string
	}{
		{name: "restart: a second SIGTERM ends the graceful stop", action: Restart, slowStop: 90 * time.Second, forced: true,
			signals: []string{"all quit", "main terminated"}, stopped: true, stopTook: 1200 * time.Millisecond,
			done: []string{"SIGQUIT sent to every process", "restart asked of systemd", "a second SIGTERM sent to the main process", "the hung run stopped in 1.2 s"}},
		{name: "restart: SIGKILL when even that is not enough", action: Restart, slowStop: 90 * time.Second,
			signals: []string{"all quit", "main terminated", "all killed"}, stopped: false,
			done: []string{"SIGKILL sent to what is left", "had not stopped after 20 s"}},
		{name: "restart: a quick stop needs nothing more", action: Restart, slowStop: 300 * time.Millisecond,
			signals: []string{"all quit"}, stopped: true, stopTook: 300 * time.Millisecond, done: []string{"stopped in 0.3 s"}},
		{name: "report: the unit is left as it is", action: Report, signals: []string{"all quit"},
			done: []string{"on_hang = \"report\": the unit was left as it is"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: t0}
			sd := &fakeUnit{clock: clock, unit: Unit{Active: true, State: "active/running", Since: t0, InvocationID: "aaa"}, slowStop: tt.slowStop, forcedStops: tt.forced}
			logs := &fakeLogs{lines: dump}
			rep := &fakeReporter{}
			hungAt := t0.Add(25 * time.Second)
			w := &Watcher{
				Unit: "odoo.service", Systemd: sd, Logs: logs, Reporter: rep,
				Prober:   &Prober{URL: "http://127.0.0.1:1/web/health", Timeout: time.Second},
				Policy:   Policy{StartGrace: time.Minute, Failures: 3},
				Interval: 10 * time.Second, Action: tt.action, DumpWait: 5 * time.Second,
				ForceAfter: time.Second, KillAfter: 10 * time.Second, StopWait: 20 * time.Second,
				Log: slog.New(slog.DiscardHandler), Now: clock.now, Sleep: clock.sleep,
			}
			// The probes themselves: answered until hungAt, then timeouts.
			probe := func() *Result {
				if clock.now().Before(hungAt) {
					return &Result{At: clock.now(), Status: 200}
				}
				return &Result{At: clock.now(), Kind: KindTimeout, Duration: time.Second}
			}
			for i := 0; i < 8 && len(rep.hangs) == 0; i++ {
				w.tick(context.Background(), probe)
				clock.sleep(context.Background(), w.Interval)
			}
			if len(rep.hangs) != 1 {
				t.Fatalf("%d hang reports, want 1", len(rep.hangs))
			}
			h := rep.hangs[0]
			if got := strings.Join(sd.signals, ","); got != strings.Join(tt.signals, ",") {
				t.Errorf("signals %s, want %s", got, strings.Join(tt.signals, ","))
			}
			if h.Stopped != tt.stopped || (tt.stopped && (h.StopTook < tt.stopTook || h.StopTook > tt.stopTook+150*time.Millisecond)) {
				t.Errorf("stopped %v in %s, want %v in %s", h.Stopped, h.StopTook, tt.stopped, tt.stopTook)
			}
			all := strings.Join(h.Done, "\n")
			for _, d := range tt.done {
				if !strings.Contains(all, d) {
					t.Errorf("what was done does not say %q:\n%s", d, all)
				}
			}
			if len(h.Threads) != 1 || h.Threads[0].URL != "http://erp/web/dataset/call_kw/sale.order/action_confirm" || h.Dumped != 2 || h.Processes != 2 {
				t.Errorf("busy threads %+v of %d in %d processes", h.Threads, h.Dumped, h.Processes)
			}
			if n := len(h.Probes); n < 3 || h.Probes[n-1].OK() || h.Probes[n-2].OK() || h.Probes[n-3].OK() {
				t.Errorf("probe history %v", h.Probes)
			}
			if logs.asked.After(h.At.Add(time.Second)) {
				t.Errorf("the dump was read from %v, after the hang at %v", logs.asked, h.At)
			}
			// Then the unit answers again: its recovery is offered once
			// and the watcher forgets the hang.
			hungAt = clock.now().Add(time.Hour)
			sd.unit = Unit{Active: true, State: "active/running", Since: sd.unit.Since, InvocationID: sd.unit.InvocationID}
			if sd.restarted {
				sd.unit, _ = sd.Unit(context.Background())
				sd.unit.Active, sd.unit.InvocationID = true, "bbb"
			}
			for i := 0; i < 10; i++ {
				clock.sleep(context.Background(), w.Interval)
				w.tick(context.Background(), func() *Result { return &Result{At: clock.now(), Status: 200} })
			}
			if len(rep.answers) != 1 || w.State.Open {
				t.Errorf("recovery offered %d times, open %v", len(rep.answers), w.State.Open)
			}
		})
	}
}

// batchTail hands out its batches one Read at a time, then nothing.
type batchTail struct {
	batches [][]Line
	reads   int
}

func (b *batchTail) Read(context.Context) ([]Line, error) {
	b.reads++
	if len(b.batches) == 0 {
		return nil, nil
	}
	next := b.batches[0]
	b.batches = b.batches[1:]
	return next, nil
}

type sinkCalls struct{ calls [][]Line }

func (s *sinkCalls) Lines(_ context.Context, _ Unit, lines []Line) { s.calls = append(s.calls, lines) }

// A busy journal is read a batch at a time within the round, each batch
// handed on as it is read, every line once and in order; a round with
// nothing new still hands on one empty call (the detector's clock); a
// journal busier than maxFollowBatches batches is read on next round.
func TestFollowReadsEveryBatch(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	line := func(i int) Line { return Line{Text: strings.Repeat("x", i%7) + "line", PID: i} }
	tail := &batchTail{}
	n := 0
	for b := 0; b < maxFollowBatches+3; b++ {
		var batch []Line
		for range 3 {
			batch = append(batch, line(n))
			n++
		}
		tail.batches = append(tail.batches, batch)
	}
	sink := &sinkCalls{}
	w := &Watcher{
		Unit: "odoo.service", Systemd: &fakeUnit{clock: clock, unit: Unit{State: "inactive/dead"}},
		Follow: sink, FollowLogs: tail, Policy: Policy{StartGrace: time.Minute, Failures: 3},
		Log: slog.New(slog.DiscardHandler), Now: clock.now,
	}
	w.Tick(context.Background())
	if len(sink.calls) != maxFollowBatches || tail.reads != maxFollowBatches {
		t.Fatalf("one round: %d reads, %d batches handed on, want %d of each", tail.reads, len(sink.calls), maxFollowBatches)
	}
	w.Tick(context.Background())
	if len(sink.calls) != maxFollowBatches+3 {
		t.Fatalf("after the second round %d batches handed on, want %d", len(sink.calls), maxFollowBatches+3)
	}
	next := 0
	for _, c := range sink.calls {
		for _, l := range c {
			if l.PID != next {
				t.Fatalf("line %d handed on where line %d was due", l.PID, next)
			}
			next++
		}
	}
	if next != n {
		t.Fatalf("%d lines handed on, want %d", next, n)
	}
	before := len(sink.calls)
	w.Tick(context.Background())
	if got := sink.calls[before:]; len(got) != 1 || len(got[0]) != 0 {
		t.Errorf("a quiet round handed on %v, want one empty batch", got)
	}
}
