package outbox

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/incident"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/report"
)

// eventSink records what each report it got says: "firing", "refresh
// firing", "resolved", "refresh resolved".
type eventSink struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []string
	status atomic.Int32
}

func newEventSink(t *testing.T) *eventSink {
	s := &eventSink{}
	s.status.Store(200)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep report.Report
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		code := int(s.status.Load())
		if code == 200 {
			ev := rep.Event
			if rep.Refresh {
				ev = "refresh " + ev
			}
			s.mu.Lock()
			s.got = append(s.got, ev)
			s.mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *eventSink) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := strings.Join(s.got, ", ")
	s.got = nil
	return out
}

// refresher is a channel whose receiver forgets: a Refresher.
type refresher struct{ post }

func (refresher) ResendResolved() time.Duration { return 5 * time.Minute }

func TestFlushRefreshesOpenAndJustResolvedIncidents(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t)
	plain, am := newEventSink(t), newEventSink(t)
	s.Channels = []notifiers.Channel{
		{Kind: "webhook", Name: "plain", Notifier: post{plain.srv.URL}, Timeout: 2 * time.Second},
		{Kind: "alertmanager", Name: "am", Notifier: refresher{post{am.srv.URL}}, Timeout: 2 * time.Second},
	}
	s.Policy = Policy{StableAfter: 2 * time.Minute}
	failedAt := e.now
	var unit atomic.Value
	unit.Store(incident.Unit{State: "failed/failed"})
	units := func(context.Context, string) (incident.Unit, error) { return unit.Load().(incident.Unit), nil }
	flush := func() Outcome { t.Helper(); return s.Flush(ctxT(t), units) }
	rep := crash("odoo.service", "inv1", "3")
	rep.ExitedAt = failedAt
	if out := s.Dispatch(ctxT(t), rep, false); notifiers.Join(out.Own) != nil {
		t.Fatal(notifiers.Join(out.Own))
	}
	if p, a := plain.take(), am.take(); p != "firing" || a != "firing" {
		t.Fatalf("the opening report: plain got %q, am got %q", p, a)
	}

	for i := range 2 {
		e.now = e.now.Add(30 * time.Second)
		if out := flush(); out.Refreshes != 1 || out.Refreshed != 1 || out.Waiting != 0 {
			t.Fatalf("flush %d: %+v", i, out)
		}
		if p, a := plain.take(), am.take(); p != "" || a != "refresh firing" {
			t.Fatalf("flush %d while the unit is down: plain got %q, am got %q", i, p, a)
		}
	}

	// Alertmanager down for three flushes: one refresh waits, not three.
	am.status.Store(503)
	for range 3 {
		e.now = e.now.Add(30 * time.Second)
		flush()
	}
	if n := len(s.Store.Pending()); n != 1 {
		t.Fatalf("%d reports wait in the outbox after three flushes with the receiver down, want 1 refresh", n)
	}
	am.status.Store(200)
	e.now = e.now.Add(30 * time.Second)
	if out := flush(); out.Refreshed != 1 || out.Waiting != 0 {
		t.Fatalf("the receiver is back: %+v", out)
	}
	am.take()

	// Back, and stable: the recovery notice to both, no refresh with it.
	unit.Store(incident.Unit{Active: true, State: "active/running", Since: e.now, InvocationID: "inv2"})
	e.now = e.now.Add(2*time.Minute + time.Second)
	if out := flush(); out.Resolved != 1 {
		t.Fatalf("the unit is back: %+v", out)
	}
	if p, a := plain.take(), am.take(); p != "resolved" || a != "resolved" {
		t.Fatalf("the recovery: plain got %q, am got %q", p, a)
	}
	// The end is told again for 5 minutes, to the Refresher alone.
	for _, d := range []time.Duration{30 * time.Second, 4 * time.Minute} {
		e.now = e.now.Add(d)
		flush()
		if p, a := plain.take(), am.take(); p != "" || a != "refresh resolved" {
			t.Fatalf("%s after the recovery: plain got %q, am got %q", d, p, a)
		}
	}
	e.now = e.now.Add(31 * time.Second)
	flush()
	if a := am.take(); a != "" {
		t.Fatalf("more than 5 minutes after the recovery, am still got %q", a)
	}
}

// TestRefreshOfAnEndStopsWhenTheUnitFailsAgain: the receiver knows an
// alert by its labels, which a new incident of the unit shares: the old
// end must not end the new alert.
func TestRefreshOfAnEndStopsWhenTheUnitFailsAgain(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t)
	am := newEventSink(t)
	s.Channels = []notifiers.Channel{{Kind: "alertmanager", Name: "am", Notifier: refresher{post{am.srv.URL}}, Timeout: 2 * time.Second}}
	s.Policy = Policy{StableAfter: time.Minute}
	rep := crash("odoo.service", "inv1", "3")
	rep.ExitedAt = e.now
	s.Dispatch(ctxT(t), rep, false)
	back := incident.Unit{Active: true, State: "active/running", Since: e.now.Add(time.Second), InvocationID: "inv2"}
	e.now = e.now.Add(2 * time.Minute)
	s.Flush(ctxT(t), func(context.Context, string) (incident.Unit, error) { return back, nil })
	if a := am.take(); a != "firing, resolved" {
		t.Fatalf("am got %q, want the opening and the recovery", a)
	}
	e.now = e.now.Add(30 * time.Second)
	again := crash("odoo.service", "inv2", "1")
	again.ExitedAt = e.now
	s.Dispatch(ctxT(t), again, false)
	e.now = e.now.Add(30 * time.Second)
	s.Flush(ctxT(t), func(context.Context, string) (incident.Unit, error) {
		return incident.Unit{State: "failed/failed"}, nil
	})
	if a := am.take(); a != "firing, refresh firing" {
		t.Fatalf("after a new failure am got %q, want the new opening and its refresh, no end of the old one", a)
	}
}
