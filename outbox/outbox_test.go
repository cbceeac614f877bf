package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/gate"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/notifiers/notifiertest"
	"github.com/odoo-notify/odoo-notify/report"
)

// sink is an HTTP receiver that records the report ids it got and answers
// what its status function says.
type sink struct {
	srv    *httptest.Server
	mu     sync.Mutex
	ids    []string
	status atomic.Int32
}

func newSink(t *testing.T) *sink {
	s := &sink{}
	s.status.Store(200)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep report.Report
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		code := int(s.status.Load())
		if code == 200 {
			s.mu.Lock()
			s.ids = append(s.ids, rep.ID)
			s.mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

// post is a channel that posts the report's JSON, as a webhook does.
type post struct{ url string }

func (p post) Notify(ctx context.Context, r *report.Report) (bool, error) {
	b, _ := json.Marshal(r)
	return notifiers.PostJSON(ctx, http.DefaultClient, p.url, nil, b)
}

type env struct {
	dir   string
	sinks map[string]*sink
	log   *notifiertest.Log
	now   time.Time
	rates map[string]gate.Rate
}

func newEnv(t *testing.T, names ...string) *env {
	e := &env{dir: t.TempDir(), sinks: map[string]*sink{}, log: &notifiertest.Log{}, now: time.Now(), rates: map[string]gate.Rate{}}
	for _, n := range names {
		e.sinks[n] = newSink(t)
	}
	return e
}

func (e *env) sender(t *testing.T) *Sender {
	st, err := Open(e.dir, e.log.Logger())
	if err != nil {
		t.Fatal(err)
	}
	return e.senderWith(st, nil)
}

func (e *env) senderWith(st *Store, stErr error) *Sender {
	var chs []notifiers.Channel
	for _, n := range []string{"a", "b", "c"} {
		if s, ok := e.sinks[n]; ok {
			chs = append(chs, notifiers.Channel{Kind: "webhook", Name: n, Notifier: post{s.srv.URL + "/hook/secret-path"}, Timeout: 2 * time.Second})
		}
	}
	return &Sender{
		Store: st, StoreErr: stErr,
		Dispatcher: &notifiers.Dispatcher{Policy: notifiers.Policy{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond, MaxAttempts: 2}, Log: e.log.Logger()},
		Channels:   chs,
		Rates:      e.rates,
		Limits:     gate.Limits{DedupWindow: 10 * time.Minute, MaxReports: 5, Per: time.Hour},
		MaxAge:     24 * time.Hour,
		Host:       "erp1",
		Log:        e.log.Logger(),
		Now:        func() time.Time { return e.now },
	}
}

func crash(unit, inv, status string) *report.Report {
	return &report.Report{Host: "erp1", Unit: unit, InvocationID: inv, Result: "exit-code", ExitCode: "exited", ExitStatus: status, Summary: "crashed", Created: time.Now()}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (e *env) counts() string {
	var parts []string
	for _, n := range []string{"a", "b", "c"} {
		if s, ok := e.sinks[n]; ok {
			parts = append(parts, fmt.Sprintf("%s=%d", n, len(s.got())))
		}
	}
	return strings.Join(parts, " ")
}

func TestDispatchDeliversOnceAndEmptiesTheOutbox(t *testing.T) {
	e := newEnv(t, "a", "b")
	s := e.sender(t)
	out := s.Dispatch(ctxT(t), crash("odoo.service", "inv1", "3"), false)
	if out.Verdict != gate.Send || notifiers.Join(out.Own) != nil {
		t.Fatalf("outcome %+v, error %v; want delivered", out, notifiers.Join(out.Own))
	}
	// The handler started again for the same failed run sends nothing.
	out = s.Dispatch(ctxT(t), crash("odoo.service", "inv1", "3"), false)
	if out.Verdict != gate.Duplicate {
		t.Errorf("second dispatch of one run: verdict %s, want duplicate", out.Verdict)
	}
	if got := e.counts(); got != "a=1 b=1" {
		t.Errorf("messages %s, want a=1 b=1", got)
	}
	if p := s.Store.Pending(); len(p) != 0 {
		t.Errorf("%d reports left in the outbox, want none", len(p))
	}
	a, b := e.sinks["a"].got()[0], e.sinks["b"].got()[0]
	if a == b || a != ReportID(crash("odoo.service", "inv1", "3"), "a") {
		t.Errorf("report ids a=%s b=%s: want one stable id per channel", a, b)
	}
}

func TestFailedChannelWaitsAndOnlyItIsRetried(t *testing.T) {
	e := newEnv(t, "a", "b")
	e.sinks["b"].status.Store(500)
	s := e.sender(t)
	out := s.Dispatch(ctxT(t), crash("odoo.service", "inv1", "3"), false)
	if out.Waiting != 1 || out.Own[0].Err != nil || out.Own[1].Err == nil || !out.Own[1].Retry {
		t.Fatalf("outcome %+v: want a delivered, b waiting", out)
	}
	if p := s.Store.Pending(); len(p) != 1 || !p[0].Channels[0].Done() || p[0].Channels[1].Done() {
		t.Fatalf("outbox %+v: want one report waiting for b only", p)
	}
	// Still down: flush keeps it.
	if out := s.Flush(ctxT(t), nil); out.Waiting != 1 || out.Redelivered != 0 {
		t.Errorf("flush while b is down: %+v", out)
	}
	e.sinks["b"].status.Store(200)
	if out := s.Flush(ctxT(t), nil); out.Waiting != 0 || out.Redelivered != 1 {
		t.Errorf("flush with b back: %+v, want one redelivery, nothing waiting", out)
	}
	if got := e.counts(); got != "a=1 b=1" {
		t.Errorf("messages %s, want a=1 b=1: a must not get the report again", got)
	}
	if id := e.sinks["b"].got()[0]; id != ReportID(crash("odoo.service", "inv1", "3"), "b") {
		t.Errorf("redelivered with id %s, want the stable id", id)
	}
	notifiertest.NoSecret(t, "/hook/secret-path", e.log.String())
}

func TestPendingGoesOutBeforeTheNewReport(t *testing.T) {
	e := newEnv(t, "a")
	e.sinks["a"].status.Store(503)
	s := e.sender(t)
	s.Dispatch(ctxT(t), crash("odoo.service", "inv1", "3"), false)
	e.sinks["a"].status.Store(200)
	out := s.Dispatch(ctxT(t), crash("odoo-2.service", "inv2", "1"), false)
	if out.Redelivered != 1 || notifiers.Join(out.Own) != nil {
		t.Fatalf("outcome %+v: want the waiting report and the new one delivered", out)
	}
	got := e.sinks["a"].got()
	want := []string{ReportID(crash("odoo.service", "inv1", "3"), "a"), ReportID(crash("odoo-2.service", "inv2", "1"), "a")}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("order %v, want the older report first %v", got, want)
	}
}

func TestRefusedForGoodIsNotRetried(t *testing.T) {
	e := newEnv(t, "a")
	e.sinks["a"].status.Store(400)
	s := e.sender(t)
	out := s.Dispatch(ctxT(t), crash("odoo.service", "inv1", "3"), false)
	if out.Own[0].Err == nil || out.Own[0].Retry || out.Waiting != 0 {
		t.Fatalf("outcome %+v: want a final failure, nothing waiting", out)
	}
	if p := s.Store.Pending(); len(p) != 0 {
		t.Errorf("a refused report stays in the outbox: %+v", p)
	}
}

func TestMaxAgeDropsWithAnErrorLine(t *testing.T) {
	e := newEnv(t, "a")
	e.sinks["a"].status.Store(500)
	s := e.sender(t)
	s.Dispatch(ctxT(t), crash("odoo.service", "inv1", "3"), false)
	e.sinks["a"].status.Store(200)
	e.now = e.now.Add(25 * time.Hour)
	out := s.Flush(ctxT(t), nil)
	if out.Dropped != 1 || len(e.sinks["a"].got()) != 0 {
		t.Fatalf("outcome %+v, messages %s: want the old report dropped, not sent", out, e.counts())
	}
	l := e.log.String()
	for _, want := range []string{"level=ERROR", "dropped a report", "unit=odoo.service", "channel=a", "last_error="} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
}

func TestHeldBackIsCarriedAndDigested(t *testing.T) {
	e := newEnv(t, "a")
	s := e.sender(t)
	start := e.now
	s.Dispatch(ctxT(t), crash("odoo.service", "inv1", "3"), false)
	for i := range 3 {
		e.now = start.Add(time.Duration(i+1) * time.Minute)
		if out := s.Dispatch(ctxT(t), crash("odoo.service", fmt.Sprintf("inv%d", i+2), "3"), false); out.Verdict != gate.Repeat {
			t.Fatalf("repeat %d: verdict %s, want repeat", i, out.Verdict)
		}
	}
	e.now = start.Add(9 * time.Minute)
	if out := s.Flush(ctxT(t), nil); out.Digests != 0 {
		t.Fatalf("digest before the window ended: %+v", out)
	}
	e.now = start.Add(10 * time.Minute)
	if out := s.Flush(ctxT(t), nil); out.Digests != 1 || out.Redelivered != 1 {
		t.Fatalf("flush after the window: %+v, want one digest delivered", out)
	}
	if got := e.counts(); got != "a=2" {
		t.Errorf("messages %s, want the report and one digest", got)
	}
	if out := s.Flush(ctxT(t), nil); out.Digests != 0 {
		t.Errorf("digest sent twice")
	}
}

func TestHeldIsCarriedByTheNextReport(t *testing.T) {
	e := newEnv(t, "a")
	s := e.sender(t)
	s.Dispatch(ctxT(t), crash("odoo.service", "inv1", "3"), false)
	s.Dispatch(ctxT(t), crash("odoo.service", "inv2", "3"), false)
	rep := crash("odoo.service", "inv3", "9")
	out := s.Dispatch(ctxT(t), rep, false)
	sent := out.Sent
	if out.Verdict != gate.Send || sent == nil || sent.Held == nil || sent.Held.Count != 1 {
		t.Fatalf("outcome %+v sent %+v: want a report that says one failure was held back", out, sent)
	}
	if !strings.Contains(sent.Text(), "1 more failure(s) of odoo.service held back") {
		t.Errorf("report text does not say what was held back:\n%s", sent.Text())
	}
}

func TestTestReportsBypassTheGate(t *testing.T) {
	e := newEnv(t, "a")
	s := e.sender(t)
	for range 7 {
		r := crash("odoo-notify-test.service", "00000000000000000000000000000000", "1")
		r.Test = true
		r.Created = time.Now()
		if out := s.Dispatch(ctxT(t), r, true); notifiers.Join(out.Own) != nil {
			t.Fatal(notifiers.Join(out.Own))
		}
	}
	if got := e.counts(); got != "a=7" {
		t.Errorf("messages %s, want every test report", got)
	}
}

func TestRateLimitKeepsWhatCannotGoInTime(t *testing.T) {
	e := newEnv(t, "a")
	e.rates["a"] = gate.Rate{PerSecond: 1, Burst: 3}
	s := e.sender(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var last Outcome
	for i := range 5 {
		last = s.Dispatch(ctx, crash(fmt.Sprintf("u%d.service", i), "inv", "1"), false)
	}
	if got := e.counts(); got != "a=3" || last.Waiting != 2 {
		t.Errorf("messages %s, %d waiting after the last run: want the burst of 3 sent and 2 kept for later", got, last.Waiting)
	}
	if err := last.Own[0].Err; err == nil || !strings.Contains(err.Error(), "rate limit") {
		t.Errorf("the held report's result %v, want it to say the rate limit keeps it", err)
	}
	if p := s.Store.Pending(); len(p) != 2 {
		t.Errorf("%d reports in the outbox, want 2", len(p))
	}
}

func TestConcurrentDispatchesShareTheState(t *testing.T) {
	e := newEnv(t, "a", "b")
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			s := e.sender(t) // its own open files, as another process has
			unit := fmt.Sprintf("odoo-%d.service", i%4)
			s.Dispatch(ctxT(t), crash(unit, "run-of-"+unit, "1"), false)
		})
	}
	wg.Wait()
	if got := e.counts(); got != "a=4 b=4" {
		t.Errorf("messages %s, want one per unit and channel", got)
	}
}

func TestCorruptFilesAreMovedAsideAndTheReportGoesOut(t *testing.T) {
	good := func(t *testing.T, dir string) []byte {
		e := &Entry{Version: EntryVersion, ID: "x", Created: time.Now(), Report: crash("old.service", "i", "1")}
		b, _ := e.Encode()
		return b
	}
	tests := []struct {
		name string
		file string
		data func(t *testing.T, dir string) []byte
	}{
		{"corrupt gate state", gate.FileName, func(*testing.T, string) []byte { return []byte("\x00\xffnot json") }},
		{"truncated gate state", gate.FileName, func(*testing.T, string) []byte {
			return []byte(`{"version":1,"units":{"odoo.service":{"runs":{"inv1":"2026-`)
		}},
		{"gate state of a future version", gate.FileName, func(*testing.T, string) []byte { return []byte(`{"version":9}`) }},
		{"corrupt outbox entry", "outbox/x.json", func(*testing.T, string) []byte { return []byte("garbage") }},
		{"truncated outbox entry", "outbox/x.json", func(t *testing.T, d string) []byte { b := good(t, d); return b[:len(b)/2] }},
		{"outbox entry of a future version", "outbox/x.json", func(*testing.T, string) []byte { return []byte(`{"version":7,"id":"x"}`) }},
		{"outbox entry under the wrong name", "outbox/y.json", good},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "a")
			s := e.sender(t)
			p := filepath.Join(e.dir, tt.file)
			if err := os.WriteFile(p, tt.data(t, e.dir), 0o640); err != nil {
				t.Fatal(err)
			}
			out := s.Dispatch(ctxT(t), crash("odoo.service", "inv1", "3"), false)
			if err := notifiers.Join(out.Own); err != nil || out.Verdict != gate.Send {
				t.Fatalf("verdict %s, error %v: want the report delivered", out.Verdict, err)
			}
			moved, _ := filepath.Glob(p + ".corrupt-*")
			if len(moved) != 1 {
				t.Errorf("the bad file was not moved aside: %v", moved)
			}
			if !strings.Contains(e.log.String(), "moved a file that cannot be read aside") {
				t.Errorf("no warning:\n%s", e.log.String())
			}
			// And the next run works with the fresh state.
			if out := s.Dispatch(ctxT(t), crash("odoo.service", "inv1", "3"), false); out.Verdict != gate.Duplicate {
				t.Errorf("after recovery: verdict %s, want duplicate", out.Verdict)
			}
		})
	}
}

// mountTmpfs mounts a small tmpfs at dir; the faults below are a real
// read-only and a real full file system.
func mountTmpfs(t *testing.T, dir, opts string) {
	t.Helper()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs for the read-only/full state folder test: %v: %s; run the tests as root (CI does)", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
}

func TestUnusableStateFolderStillDelivers(t *testing.T) {
	tests := []struct {
		name string
		prep func(t *testing.T, dir string)
	}{
		{"read-only", func(t *testing.T, dir string) { mountTmpfs(t, dir, "ro,size=1m") }},
		{"full", func(t *testing.T, dir string) {
			mountTmpfs(t, dir, "size=64k")
			os.MkdirAll(filepath.Join(dir, entryDir), 0o750)
			os.WriteFile(filepath.Join(dir, "lock"), nil, 0o640)
			f, _ := os.Create(filepath.Join(dir, "filler"))
			f.Write(make([]byte, 1<<20)) // fails when the disk is full: that is the point
			f.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "a")
			tt.prep(t, e.dir)
			st, err := Open(e.dir, e.log.Logger())
			s := e.senderWith(st, err)
			out := s.Dispatch(ctxT(t), crash("odoo.service", "inv1", "3"), false)
			if err := notifiers.Join(out.Own); err != nil || out.Degraded == nil {
				t.Fatalf("degraded %v, error %v: want delivered without the state folder", out.Degraded, err)
			}
			if got := e.counts(); got != "a=1" {
				t.Errorf("messages %s, want a=1", got)
			}
			if !strings.Contains(e.log.String(), "state folder unusable: delivering without dedup") {
				t.Errorf("no warning that dedup is off:\n%s", e.log.String())
			}
		})
	}
}

func FuzzDecodeEntry(f *testing.F) {
	e := newEntry(crash("odoo.service", "inv1", "3"), []notifiers.Channel{{Name: "a"}, {Name: "b"}}, time.Now())
	e.Channels[0].Delivered = time.Now()
	b, _ := e.Encode()
	f.Add(b)
	f.Add([]byte(`{"version":1,"id":"x","created":"2026-01-01T00:00:00Z","report":{},"channels":[null]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEntry(b)
		if err != nil {
			return
		}
		// Whatever decodes can be delivered from and written back.
		for _, d := range e.Channels {
			_ = e.reportFor(d).Subject()
		}
		e.Done()
		if _, err := e.Encode(); err != nil {
			t.Fatalf("encode after decode: %v", err)
		}
	})
}

// The dedup state lost (moved aside, or a kill between saving the report and
// saving the state): the same failed run reuses its outbox entry, and a
// channel that delivered does not get it again.
func TestSameRunFoundInTheOutboxKeepsWhatWasDelivered(t *testing.T) {
	e := newEnv(t, "a", "b")
	e.sinks["b"].status.Store(500)
	s := e.sender(t)
	s.Dispatch(ctxT(t), crash("odoo.service", "inv1", "3"), false)
	if err := os.Remove(filepath.Join(e.dir, gate.FileName)); err != nil {
		t.Fatal(err)
	}
	e.sinks["b"].status.Store(200)
	out := s.Dispatch(ctxT(t), crash("odoo.service", "inv1", "3"), false)
	if out.Verdict != gate.Send || notifiers.Join(out.Own) != nil || out.Waiting != 0 {
		t.Fatalf("outcome %+v (%v): want the report delivered to b", out, notifiers.Join(out.Own))
	}
	if got := e.counts(); got != "a=1 b=1" {
		t.Errorf("messages %s, want a=1 b=1", got)
	}
}

// Root running `odoo-notify test` or `flush` by hand in the state folder
// systemd made for the handler's user leaves every file to that user, so the
// next handler run can still take the lock and read the outbox.
func TestRootKeepsTheFolderOwnersFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test runs as root (as CI does): it checks what root leaves behind")
	}
	const uid, gid = 65534, 65534
	e := newEnv(t, "a", "b")
	if err := os.Chown(e.dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	e.sinks["b"].status.Store(500) // leaves a report in the outbox
	s := e.sender(t)
	s.Dispatch(ctxT(t), crash("odoo.service", "inv1", "3"), false)
	if len(s.Store.Pending()) != 1 {
		t.Fatalf("want one report waiting, have %d", len(s.Store.Pending()))
	}
	err := filepath.WalkDir(e.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid || st.Gid != gid {
			t.Errorf("%s belongs to %d:%d, want the folder's owner %d:%d", path, st.Uid, st.Gid, uid, gid)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDispatchLeavesTheReport: Dispatch never writes into the report it is
// given; the incident, the event and what was held back go with the report
// as sent (Outcome.Sent, the outbox entry), in every path: the opening, an
// update carrying held-back failures, a duplicate, and without the state
// folder.
func TestDispatchLeavesTheReport(t *testing.T) {
	e := newEnv(t, "a")
	s := e.sender(t)
	check := func(name string, s *Sender, rep *report.Report, wantEvent string, wantHeld int) {
		t.Helper()
		before := rep.Clone()
		out := s.Dispatch(ctxT(t), rep, false)
		if !reflect.DeepEqual(rep, before) {
			t.Errorf("%s: Dispatch wrote into the caller's report:\ngot  %+v\nwant %+v", name, rep, before)
		}
		if wantEvent == "" {
			if out.Sent != nil {
				t.Errorf("%s: held back, yet Sent is %+v", name, out.Sent)
			}
			return
		}
		if out.Sent == nil || out.Sent.Event != wantEvent || out.Sent.InvocationID != rep.InvocationID {
			t.Fatalf("%s: Sent %+v, want the report of %s as %s", name, out.Sent, rep.InvocationID, wantEvent)
		}
		if wantEvent != "" && s.Store != nil && out.Sent.Incident == nil {
			t.Errorf("%s: the report as sent carries no incident", name)
		}
		if held := out.Sent.Held; (held == nil && wantHeld > 0) || (held != nil && held.Count != wantHeld) {
			t.Errorf("%s: the report as sent holds %+v, want %d held back", name, held, wantHeld)
		}
	}
	check("the opening", s, crash("odoo.service", "inv1", "3"), report.EventFiring, 0)
	check("the same run again", s, crash("odoo.service", "inv1", "3"), "", 0)
	check("held back by dedup", s, crash("odoo.service", "inv2", "3"), "", 0)
	check("an update carrying what was held", s, crash("odoo.service", "inv3", "9"), report.EventUpdate, 1)

	rep := crash("odoo.service", "inv4", "9")
	before := rep.Clone()
	out := e.senderWith(nil, errors.New("read-only file system")).Dispatch(ctxT(t), rep, false)
	if !reflect.DeepEqual(rep, before) {
		t.Errorf("without the state folder: Dispatch wrote into the caller's report:\ngot  %+v\nwant %+v", rep, before)
	}
	if out.Degraded == nil || out.Sent == nil || out.Sent.InvocationID != "inv4" {
		t.Errorf("without the state folder: outcome %+v, want the report sent directly", out)
	}
}
