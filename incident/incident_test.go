package incident

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 10, 25, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func TestRecordOpensOneIncidentAndCountsCauses(t *testing.T) {
	s := New()
	a := s.Record(Failure{Unit: "odoo.service", InvocationID: "1", Cause: "db-unreachable", At: at(0)})
	b := s.Record(Failure{Unit: "odoo.service", InvocationID: "2", Cause: "db-unreachable", At: at(time.Minute)})
	c := s.Record(Failure{Unit: "odoo.service", InvocationID: "3", Cause: "oom-kill", At: at(2 * time.Minute)})
	other := s.Record(Failure{Unit: "nginx.service", InvocationID: "9", At: at(0)})
	if a != b || b != c {
		t.Fatal("three failures of one unit opened more than one incident")
	}
	if other == a {
		t.Fatal("another unit's failure joined odoo's incident")
	}
	if a.Failures != 3 || a.LastInvocation != "3" || !a.Opened.Equal(at(0)) || !a.LastFailure.Equal(at(2*time.Minute)) {
		t.Errorf("incident = %+v", a)
	}
	if got := a.CauseText(); got != "oom-kill x1, db-unreachable x2" {
		t.Errorf("CauseText = %q", got)
	}
	if a.LastCause() != "oom-kill" {
		t.Errorf("LastCause = %q", a.LastCause())
	}
	if other.CauseText() != "unknown x1" {
		t.Errorf("a failure without a cause: %q", other.CauseText())
	}
}

func TestStable(t *testing.T) {
	in := &Incident{LastFailure: at(0), LastInvocation: "1"}
	const stable = 2 * time.Minute
	cases := []struct {
		name string
		u    Unit
		now  time.Time
		want bool
	}{
		{"running long enough since a restart", Unit{Active: true, Since: at(5 * time.Second), InvocationID: "2"}, at(3 * time.Minute), true},
		{"not long enough", Unit{Active: true, Since: at(5 * time.Second), InvocationID: "2"}, at(time.Minute), false},
		{"failed", Unit{Active: false, State: "failed/failed", InvocationID: "1"}, at(time.Hour), false},
		{"stopped by an admin", Unit{Active: false, State: "inactive/dead"}, at(time.Hour), false},
		// systemd restarted it before the handler recorded the failure:
		// its start is before LastFailure but it is another run.
		{"restarted before the failure was recorded", Unit{Active: true, Since: at(-time.Second), InvocationID: "2"}, at(3 * time.Minute), true},
		{"the failed run itself, by its start time", Unit{Active: true, Since: at(-time.Hour), InvocationID: "1"}, at(3 * time.Minute), false},
		{"no invocation id, started after", Unit{Active: true, Since: at(time.Second)}, at(3 * time.Minute), true},
		{"no start time", Unit{Active: true, InvocationID: "2"}, at(3 * time.Minute), false},
	}
	for _, c := range cases {
		if got := in.Stable(c.u, stable, c.now); got != c.want {
			t.Errorf("%s: Stable = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestResolveMovesToClosedAndPruneForgets(t *testing.T) {
	s := New()
	in := s.Record(Failure{Unit: "odoo.service", InvocationID: "1", At: at(0)})
	got := s.Resolve("odoo.service", at(time.Minute), at(3*time.Minute))
	if got != in || s.Get("odoo.service") != nil || len(s.Closed) != 1 {
		t.Fatalf("Resolve: open=%v closed=%d", s.Get("odoo.service"), len(s.Closed))
	}
	if s.Resolve("odoo.service", at(time.Minute), at(4*time.Minute)) != nil {
		t.Error("a second Resolve found an incident: two recovery notices")
	}
	next := s.Record(Failure{Unit: "odoo.service", InvocationID: "5", At: at(time.Hour)})
	if next == in || next.ID == in.ID {
		t.Error("a failure after the recovery joined the resolved incident")
	}
	s.Prune(at(31 * 24 * time.Hour))
	if len(s.Closed) != 0 {
		t.Errorf("a 30-day-old resolved incident is kept")
	}
	s.Reopen(in)
	if s.Get("odoo.service") != in || !in.Resolved.IsZero() {
		t.Error("Reopen did not undo Resolve")
	}
}

func TestReminderDue(t *testing.T) {
	in := &Incident{LastFailure: at(0), Announced: true}
	down := Unit{State: "failed/failed"}
	if in.ReminderDue(down, 0, at(48*time.Hour)) {
		t.Error("a reminder with remind_every off")
	}
	if in.ReminderDue(down, 4*time.Hour, at(3*time.Hour)) {
		t.Error("a reminder before remind_every")
	}
	if !in.ReminderDue(down, 4*time.Hour, at(4*time.Hour)) {
		t.Error("no reminder after remind_every")
	}
	in.LastReminder = at(4 * time.Hour)
	if in.ReminderDue(down, 4*time.Hour, at(5*time.Hour)) {
		t.Error("a reminder one hour after the last one")
	}
	if in.ReminderDue(Unit{Active: true, Since: at(time.Hour)}, 4*time.Hour, at(9*time.Hour)) {
		t.Error("a reminder that an active unit is still down")
	}
	quiet := &Incident{LastFailure: at(0)}
	if quiet.ReminderDue(down, time.Hour, at(5*time.Hour)) {
		t.Error("a reminder of an incident never announced")
	}
}

func TestSilence(t *testing.T) {
	s := New()
	s.Silence("odoo.service", at(30*time.Minute), at(0), "deploy")
	if !s.Silenced("odoo.service", at(time.Minute)) || s.Silenced("odoo.service", at(30*time.Minute)) || s.Silenced("nginx.service", at(time.Minute)) {
		t.Fatal("Silenced is wrong")
	}
	in := s.Record(Failure{Unit: "odoo.service", InvocationID: "1", At: at(time.Minute)})
	s.Record(Failure{Unit: "odoo.service", InvocationID: "2", At: at(2 * time.Minute)})
	if in.Failures != 2 || in.Announced {
		t.Errorf("during the silence: %d failures, announced %v; want 2, not announced", in.Failures, in.Announced)
	}
	if ended := s.EndedSilences(at(29 * time.Minute)); len(ended) != 0 {
		t.Errorf("a silence ended early: %+v", ended)
	}
	ended := s.EndedSilences(at(31 * time.Minute))
	if len(ended) != 1 || ended[0].Incident != in || ended[0].Silence.Reason != "deploy" {
		t.Fatalf("EndedSilences = %+v", ended)
	}
	if len(s.EndedSilences(at(32*time.Minute))) != 0 {
		t.Error("a silence ended twice")
	}
	s.Drop("odoo.service")
	if s.Get("odoo.service") != nil {
		t.Error("Drop kept the quiet incident")
	}

	s.Silence("odoo.service", at(time.Hour), at(0), "")
	if _, ok := s.Unsilence("odoo.service", at(time.Minute)); !ok {
		t.Error("Unsilence found no silence")
	}
	if _, ok := s.Unsilence("odoo.service", at(time.Minute)); ok {
		t.Error("Unsilence ended a silence twice")
	}
}

func TestStateRoundTripsAndRefusesOtherVersions(t *testing.T) {
	s := New()
	s.Record(Failure{Unit: "odoo.service", InvocationID: "1", Cause: "oom-kill", At: at(0)}).Announce("e1", "run:1", "erp1: odoo.service failed", "oom-kill")
	b, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if in := got.Get("odoo.service"); in == nil || in.OpeningEntry != "e1" || in.CauseText() != "oom-kill x1" {
		t.Errorf("round trip lost the incident: %+v", in)
	}
	if _, err := Decode([]byte(`{"version":99}`)); err == nil {
		t.Error("version 99 decoded")
	}
	if _, err := Decode([]byte(`{`)); err == nil {
		t.Error("broken JSON decoded")
	}
}
