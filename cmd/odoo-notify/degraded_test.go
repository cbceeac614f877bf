package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/gate"
	"github.com/odoo-notify/odoo-notify/odooconf"
	"github.com/odoo-notify/odoo-notify/report"
	"github.com/odoo-notify/odoo-notify/watch"
)

// odoo18Journal reads a real Odoo 18 unit's journal as `journalctl -o
// json` wrote it (../../degraded/testdata/odoo18), as the watcher's tail
// hands it over.
func odoo18Journal(t *testing.T, name string) []watch.Line {
	t.Helper()
	f, err := os.Open("../../degraded/testdata/odoo18/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []watch.Line
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		msg, ok := e["MESSAGE"].(string)
		if !ok {
			continue
		}
		us, _ := strconv.ParseInt(e["__REALTIME_TIMESTAMP"].(string), 10, 64)
		pid, _ := strconv.Atoi(e["_PID"].(string))
		out = append(out, watch.Line{PID: pid, Text: msg, Time: time.UnixMicro(us).UTC(), Kernel: e["_TRANSPORT"] == "kernel"})
	}
	return out
}

type degradedHookReport struct {
	Event    string `json:"event"`
	Subject  string `json:"subject"`
	Title    string `json:"title"`
	Cause    string `json:"cause"`
	Summary  string `json:"summary"`
	Hints    []string
	Degraded *struct {
		State  string `json:"state"`
		Kind   string `json:"kind"`
		Counts []struct {
			Kind string `json:"kind"`
			N    int    `json:"n"`
		} `json:"counts"`
		Examples []string `json:"examples"`
	} `json:"degraded"`
	Incident *struct {
		ID    string `json:"id"`
		State string `json:"state"`
	} `json:"incident"`
}

// TestDegradedSpellReported feeds the watcher's degraded sink a real Odoo
// 18's worker timeouts and memory limits, round by round as the watcher
// reads them, and looks at what the webhook receives: one opening of a
// degraded incident naming the limits with odoo.conf's values, and, once a
// window passed without events, its one recovery notice. A watcher
// started again on the open incident does not open it again.
func TestDegradedSpellReported(t *testing.T) {
	r := newRig(t, rigOpts{extra: "[watch]\ndegraded_window = \"15m\"\n"})
	cfg, err := config.Load(r.config, "")
	if err != nil {
		t.Fatal(err)
	}
	lines := odoo18Journal(t, "prefork.json")
	clock := lines[0].Time
	a := &app{stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.NewTextHandler(io.Discard, nil)), getenv: os.Getenv,
		now: func() time.Time { return clock }, configPath: r.config, cfg: cfg, stateDir: r.dir}
	channels, broken := buildChannels(cfg, httpClient(), a.log, "", a.slackThreads())
	if broken != nil {
		t.Fatal(broken)
	}
	rep := &watchReporter{a: a, unit: "odoo.service", channels: channels}
	conf := odooconf.Conf{Workers: 2, LimitTimeReal: 20, LimitMemoryHard: 3 << 30}
	sink := newDegradedSink(rep, conf, cfg.Watch.DegradedWindow.Duration, cfg.Watch.ErrorsPerWindow, a.now)
	sink.procs = "/nonexistent"
	u := watch.Unit{Active: true, State: "active/running", InvocationID: invID(1)}
	ctx := context.Background()
	// Rounds of 10 s, as the watcher reads them; within the 15 min
	// window the capture's events are one spell: one opening, maybe
	// updates.
	var round []watch.Line
	next := clock.Add(10 * time.Second)
	for _, l := range lines {
		for l.Time.After(next) {
			clock = next
			sink.Lines(ctx, u, round)
			round, next = nil, next.Add(10*time.Second)
		}
		round = append(round, l)
	}
	clock = next
	sink.Lines(ctx, u, round)
	// Quiet: rounds with no line until the spell resolves.
	for i := 0; i < 40; i++ {
		clock = clock.Add(time.Minute)
		sink.Lines(ctx, u, nil)
	}

	firing, resolved := countDegraded(t, r)
	if firing != 1 || resolved != 1 {
		t.Fatalf("got %d opening(s) and %d recovery notice(s); want one of each", firing, resolved)
	}
	if in := a.sender(channels).OpenIncident("odoo.service"); in != nil {
		t.Errorf("the incident is still open after its recovery notice: %+v", in)
	}

	// Killed (kill -9) with the spell open, started again: the new
	// watcher does not open it again, and resolves it once after a quiet
	// window.
	r2 := newRig(t, rigOpts{extra: "[watch]\ndegraded_window = \"15m\"\n"})
	cfg2, err := config.Load(r2.config, "")
	if err != nil {
		t.Fatal(err)
	}
	clock = lines[0].Time
	a2 := &app{stdout: io.Discard, stderr: io.Discard, log: a.log, getenv: os.Getenv, now: a.now, configPath: r2.config, cfg: cfg2, stateDir: r2.dir}
	ch2, _ := buildChannels(cfg2, httpClient(), a.log, "", a2.slackThreads())
	rep2 := &watchReporter{a: a2, unit: "odoo.service", channels: ch2}
	first := newDegradedSink(rep2, conf, 15*time.Minute, 10, a.now)
	first.procs = "/nonexistent"
	for i, l := range lines {
		clock = l.Time
		first.Lines(ctx, u, lines[i:i+1])
		if f, _ := countDegraded(t, r2); f > 0 {
			break
		}
	}
	if a2.sender(ch2).OpenIncident("odoo.service") == nil {
		t.Fatal("no degraded incident open after its opening")
	}
	again := newDegradedSink(rep2, conf, 15*time.Minute, 10, a.now)
	again.procs, again.resumed = "/nonexistent", clock
	for i := 0; i < 20; i++ {
		clock = clock.Add(time.Minute)
		again.Lines(ctx, u, nil)
	}
	if firing, resolved := countDegraded(t, r2); firing != 1 || resolved != 1 {
		t.Fatalf("a watcher started again: got %d opening(s) and %d recovery notice(s); want one of each", firing, resolved)
	}
}

// countDegraded reads what the rig's webhook received: the degraded
// openings and the recovery notices, checking what each says.
func countDegraded(t *testing.T, r *rig) (firing, resolved int) {
	t.Helper()
	var got []degradedHookReport
	_, _, bodies := r.hook.got()
	for _, b := range bodies {
		var h degradedHookReport
		if err := json.Unmarshal([]byte(b), &h); err != nil {
			t.Fatal(err)
		}
		got = append(got, h)
	}
	for _, h := range got {
		switch h.Event {
		case "firing":
			firing++
			if h.Cause != "degraded" || h.Degraded == nil || h.Degraded.State != "opened" {
				t.Errorf("the opening is not a degraded one: cause %q, degraded %+v", h.Cause, h.Degraded)
				continue
			}
			if !strings.HasPrefix(h.Title, "erp1: odoo.service degraded: ") || !strings.Contains(h.Title, "limit_time_real = 20") {
				t.Errorf("the opening's title does not say the unit is degraded past limit_time_real = 20: %q", h.Title)
			}
			if len(h.Degraded.Counts) == 0 || len(h.Degraded.Examples) == 0 || len(h.Hints) == 0 {
				t.Errorf("the opening has no counts, examples or hints: %+v", h)
			}
		case "resolved":
			resolved++
			if !strings.Contains(h.Summary, "no longer degraded") {
				t.Errorf("the recovery notice does not say the spell is over: %q", h.Summary)
			}
		case "update":
		default:
			t.Errorf("unexpected %q report: %s", h.Event, h.Title)
		}
	}
	if firing > 1 || resolved > 1 {
		for _, h := range got {
			t.Logf("%s: %s", h.Event, h.Title)
		}
	}
	return firing, resolved
}

// TestFileTail follows Odoo's log file as the watcher does: it starts at
// the end, returns each new line once, holds a line not yet ended, and
// reads a rotated (shorter) file from its start.
func TestFileTail(t *testing.T) {
	path := t.TempDir() + "/odoo.log"
	write := func(s string, flag int) {
		f, err := os.OpenFile(path, flag|os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	texts := func(ls []watch.Line) []string {
		var out []string
		for _, l := range ls {
			out = append(out, l.Text)
		}
		return out
	}
	write("2026-12-02 15:35:01,000 201 INFO prod odoo.service.server: before the watcher\n", os.O_TRUNC)
	ft := &fileTail{path: path}
	if got, err := ft.read(); err != nil || len(got) != 0 {
		t.Fatalf("the first read returns what was there before: %q, %v", texts(got), err)
	}
	timeout := "2026-12-02 15:36:01,000 201 ERROR prod odoo.service.server: WorkerHTTP (380) timeout after 20s"
	write(timeout+"\n2026-12-02 15:36:02,000 201 INFO", os.O_APPEND)
	if got, _ := ft.read(); strings.Join(texts(got), "|") != timeout {
		t.Fatalf("got %q, want the one complete line", texts(got))
	}
	write(" prod odoo.service.server: rest\n", os.O_APPEND)
	if got, _ := ft.read(); strings.Join(texts(got), "|") != "2026-12-02 15:36:02,000 201 INFO prod odoo.service.server: rest" {
		t.Fatalf("got %q, want the line completed", texts(got))
	}
	write("rotated\n", os.O_TRUNC)
	if got, _ := ft.read(); strings.Join(texts(got), "|") != "rotated" {
		t.Fatalf("after a rotation got %q, want the new file's line", texts(got))
	}
}

// noticeLog counts the degraded notices the sink hands on, by state, from
// the watcher's own log lines.
type noticeLog struct {
	mu     sync.Mutex
	states map[string]int
}

func (n *noticeLog) Enabled(context.Context, slog.Level) bool { return true }
func (n *noticeLog) Handle(_ context.Context, r slog.Record) error {
	if !strings.HasPrefix(r.Message, "watch: the unit is degraded") {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "state" {
			n.mu.Lock()
			n.states[a.Value.String()]++
			n.mu.Unlock()
		}
		return true
	})
	return nil
}
func (n *noticeLog) WithAttrs([]slog.Attr) slog.Handler { return n }
func (n *noticeLog) WithGroup(string) slog.Handler      { return n }

// TestDegradedNoticesPastTheGate runs a degraded spell of worker timeouts
// with a degraded_window (1m) well inside the dedup window (10m) and a
// unit limit (max_reports = 3 per hour) that the spell's notices exceed:
// every notice the detector makes reaches the webhook and the mailbox (a
// real mailpit): the opening, one update per window while the spell goes
// on, threaded under the opening and saying what is new in it, and one
// recovery; no mail speaks of a failed run; the gate holds none
// of them back, so no digest of "held-back failures" follows. A crash of
// the unit that comes after still has the unit's whole report budget.
func TestDegradedNoticesPastTheGate(t *testing.T) {
	for _, tc := range []struct {
		name, limits, window string
		updates              int // at least, over the spell's 6 minutes
	}{
		// Held by the dedup window, they went out as a digest saying the
		// unit failed, after the recovery.
		{"degraded_window inside dedup_window", "dedup_window = \"10m\"\nmax_reports = 4\nper = \"1h\"", "1m", 4},
		// Sent past the dedup window, they spent the unit's max_reports:
		// the last update and the hang were held.
		{"more notices an hour than max_reports", "dedup_window = \"1m\"\nmax_reports = 4\nper = \"1h\"", "2m", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOpts{limits: tc.limits, extra: "[watch]\ndegraded_window = \"" + tc.window + "\"\n"})
			r.mail.start(t)
			cfg, err := config.Load(r.config, "")
			if err != nil {
				t.Fatal(err)
			}
			start := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
			clock := start
			notices := &noticeLog{states: map[string]int{}}
			a := &app{stdout: io.Discard, stderr: io.Discard, log: slog.New(notices), getenv: os.Getenv,
				now: func() time.Time { return clock }, configPath: r.config, cfg: cfg, stateDir: r.dir}
			channels, broken := buildChannels(cfg, httpClient(), a.log, "", a.slackThreads())
			if broken != nil {
				t.Fatal(broken)
			}
			rep := &watchReporter{a: a, unit: "odoo.service", channels: channels}
			conf := odooconf.Conf{Workers: 2, LimitTimeReal: 20}
			sink := newDegradedSink(rep, conf, cfg.Watch.DegradedWindow.Duration, cfg.Watch.ErrorsPerWindow, a.now)
			sink.procs = "/nonexistent"
			u := watch.Unit{Active: true, State: "active/running", InvocationID: invID(1)}
			ctx := context.Background()
			// A worker timeout every 20 s for 6 minutes, read in rounds of 10 s;
			// then 5 quiet minutes.
			for i := 0; i < 36; i++ {
				clock = clock.Add(10 * time.Second)
				var round []watch.Line
				if i%2 == 0 {
					pid := 400 + i
					round = append(round, watch.Line{PID: 1, Time: clock.Add(-time.Second),
						Text: fmt.Sprintf("%s,000 1 ERROR ? odoo.service.server: WorkerHTTP (%d) timeout after 20s", clock.Add(-time.Second).Format("2006-01-02 15:04:05"), pid)})
				}
				sink.Lines(ctx, u, round)
			}
			// A hang while the spell is open: the spell's notices spent none of
			// the unit's max_reports.
			hang := &report.Report{Host: "erp1", Unit: "odoo.service", InvocationID: invID(1), Episode: "hang-1", Cause: report.CauseHang,
				Summary: "odoo.service does not answer its health URL.", LogSource: "odoo-notify watch", Created: clock,
				Lines: []report.Line{{Time: clock, Priority: 4, Message: "probe http://127.0.0.1:8069/web/health: timeout: no answer in 1s"}}}
			if out := a.sender(channels).Dispatch(ctx, hang, false); out.Verdict != gate.Send {
				t.Errorf("a hang during the spell: the gate says %s; want it sent", out.Verdict)
			}
			for i := 0; i < 30; i++ {
				clock = clock.Add(10 * time.Second)
				sink.Lines(ctx, u, nil)
			}
			notices.mu.Lock()
			made := maps.Clone(notices.states)
			notices.mu.Unlock()
			if made["opened"] != 1 || made["resolved"] != 1 || made["updated"] < tc.updates {
				t.Fatalf("the detector made %v; want one opening, an update a window over 6 minutes (%d or more), one recovery", made, tc.updates)
			}
			events := map[string]int{}
			_, _, bodies := r.hook.got()
			for _, b := range bodies {
				var h degradedHookReport
				if err := json.Unmarshal([]byte(b), &h); err != nil {
					t.Fatal(err)
				}
				if h.Cause == report.CauseHang {
					continue
				}
				events[h.Event]++
				if h.Event == "update" && (h.Degraded == nil || h.Degraded.State != "updated") {
					t.Errorf("an update that is not a degraded notice reached the webhook: %s: %s", h.Title, h.Summary)
				}
			}
			want := map[string]int{"firing": 1, "update": made["updated"], "resolved": 1}
			if !maps.Equal(events, want) {
				t.Errorf("the webhook got %v; want %v (every notice the detector made, nothing else)", events, want)
			}
			msgs := r.mail.Messages(t, 3+made["updated"])
			if len(msgs) != 3+made["updated"] {
				t.Fatalf("mailpit holds %d mails; want %d (the spell's, and the hang's)", len(msgs), 3+made["updated"])
			}
			var opening string
			for _, m := range msgs {
				if !strings.HasPrefix(m.Subject, "[") {
					opening = m.Subject
				}
			}
			updates := 0
			for _, m := range msgs {
				if strings.Contains(m.Text, "This failure: erp1: odoo.service hung") {
					continue
				}
				if strings.Contains(m.Text, "failed run") {
					t.Errorf("a mail of the degraded spell speaks of a failed run:\n%s", m.Text)
				}
				switch {
				case m.Subject == opening:
				case m.Subject == "[UPDATE] "+opening:
					updates++
					if !strings.Contains(m.Text, "\nNew since the last notice: ") || strings.Contains(m.Text, "This failure:") {
						t.Errorf("an update does not say what is new in it, or repeats its summary:\n%s", m.Text)
					}
				case strings.HasPrefix(m.Subject, "[RESOLVED] "):
				default:
					t.Errorf("a mail that is neither the opening (%q), an update of it nor its recovery: %q", opening, m.Subject)
				}
			}
			if updates != made["updated"] {
				t.Errorf("%d mail(s) \"[UPDATE] %s\"; want %d", updates, opening, made["updated"])
			}

			// The unit then crashes twice, 5 minutes apart, in new ways: the
			// degraded notices spent none of its max_reports, and
			// the update carries nothing held back.
			for i, exc := range []string{"KeyError", "ValueError"} {
				clock = clock.Add(5 * time.Minute)
				crash := &report.Report{Host: "erp1", Unit: "odoo.service", InvocationID: invID(10 + i), Result: "exit-code", ExitCode: "exited", ExitStatus: "1",
					Cause: "python-exception", Exception: &report.Exception{Type: exc}, Summary: "odoo.service crashed: " + exc, Created: clock}
				if out := a.sender(channels).Dispatch(ctx, crash, false); out.Verdict != gate.Send {
					t.Errorf("crash %d after the spell: the gate says %s; want it sent", i+1, out.Verdict)
				} else if out.Held != nil {
					t.Errorf("crash %d after the spell carries %d failure(s) held back (%v); nothing was", i+1, out.Held.Count, out.Held.Results)
				}
			}
			// The flush timer, well past every hold: nothing is due.
			clock = clock.Add(2 * time.Hour)
			if out := a.sender(channels).Flush(ctx, nil); out.Digests != 0 {
				t.Errorf("flush put %d digest(s) of held-back notices in the outbox; the gate must hold no degraded notice", out.Digests)
			}
		})
	}
}
