package watch

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func ok(at time.Duration) *Result { return &Result{At: t0.Add(at), Status: 200} }
func fail(at time.Duration) *Result {
	return &Result{At: t0.Add(at), Kind: KindTimeout, Duration: 5 * time.Second}
}

// step is one tick of a table: what systemd says and the probe, then what
// Step must decide.
type step struct {
	at     time.Duration
	unit   Unit
	probe  *Result
	phase  Phase
	fails  int
	verd   Verdict
	open   bool
	answer time.Duration // AnsweringSince, from t0; -1 for none
}

func TestStep(t *testing.T) {
	p := Policy{StartGrace: 60 * time.Second, Failures: 3}
	run1 := Unit{Active: true, State: "active/running", Since: t0, InvocationID: "aaa"}
	run2 := Unit{Active: true, State: "active/running", Since: t0.Add(5 * time.Minute), InvocationID: "bbb"}
	down := Unit{State: "deactivating/stop-sigterm", InvocationID: "aaa"}
	s := func(d time.Duration) time.Duration { return d * time.Second }
	tests := []struct {
		name  string
		start State
		steps []step
	}{
		{name: "a healthy unit", steps: []step{
			{at: s(10), unit: run1, probe: ok(s(10)), phase: Healthy, answer: -1},
			{at: s(20), unit: run1, probe: ok(s(20)), phase: Healthy, answer: -1},
		}},
		{name: "a slow start is not a hang: failures within start_grace do not count", steps: []step{
			{at: s(10), unit: run1, probe: fail(s(10)), phase: Starting, answer: -1},
			{at: s(20), unit: run1, probe: fail(s(20)), phase: Starting, answer: -1},
			{at: s(30), unit: run1, probe: fail(s(30)), phase: Starting, answer: -1},
			{at: s(40), unit: run1, probe: fail(s(40)), phase: Starting, answer: -1},
			{at: s(50), unit: run1, probe: ok(s(50)), phase: Healthy, answer: -1},
		}},
		{name: "a start that never answers is a hang after start_grace", steps: []step{
			{at: s(50), unit: run1, probe: fail(s(50)), phase: Starting, answer: -1},
			{at: s(60), unit: run1, probe: fail(s(60)), phase: Failing, fails: 1, answer: -1},
			{at: s(70), unit: run1, probe: fail(s(70)), phase: Failing, fails: 2, answer: -1},
			{at: s(80), unit: run1, probe: fail(s(80)), phase: Hung, fails: 3, verd: ReportHang, open: true, answer: -1},
		}},
		{name: "once answered, failures count at once; one good probe resets them", steps: []step{
			{at: s(10), unit: run1, probe: ok(s(10)), phase: Healthy, answer: -1},
			{at: s(20), unit: run1, probe: fail(s(20)), phase: Failing, fails: 1, answer: -1},
			{at: s(30), unit: run1, probe: fail(s(30)), phase: Failing, fails: 2, answer: -1},
			{at: s(40), unit: run1, probe: ok(s(40)), phase: Healthy, answer: -1},
			{at: s(50), unit: run1, probe: fail(s(50)), phase: Failing, fails: 1, answer: -1},
		}},
		{name: "a hang is reported once while the run stays hung (on_hang = report), then answers", steps: []step{
			{at: s(10), unit: run1, probe: ok(s(10)), phase: Healthy, answer: -1},
			{at: s(20), unit: run1, probe: fail(s(20)), phase: Failing, fails: 1, answer: -1},
			{at: s(30), unit: run1, probe: fail(s(30)), phase: Failing, fails: 2, answer: -1},
			{at: s(40), unit: run1, probe: fail(s(40)), phase: Hung, fails: 3, verd: ReportHang, open: true, answer: -1},
			{at: s(50), unit: run1, probe: fail(s(50)), phase: Hung, fails: 4, open: true, answer: -1},
			{at: s(60), unit: run1, probe: ok(s(60)), phase: Healthy, verd: Answering, open: true, answer: s(60)},
			{at: s(70), unit: run1, probe: ok(s(70)), phase: Healthy, verd: Answering, open: true, answer: s(60)},
		}},
		{name: "a failure while answering again starts the answering time over", steps: []step{
			{at: s(10), unit: run1, probe: ok(s(10)), phase: Healthy, verd: Answering, open: true, answer: s(10)},
			{at: s(20), unit: run1, probe: fail(s(20)), phase: Failing, fails: 1, open: true, answer: -1},
			{at: s(30), unit: run1, probe: ok(s(30)), phase: Healthy, verd: Answering, open: true, answer: s(30)},
		}, start: State{Invocation: "aaa", RunSince: t0, Answered: true, Open: true, HungRun: "aaa"}},
		{name: "the restart: the stopping unit is not probed, the new run gets its start grace, then answers", steps: []step{
			{at: s(290), unit: down, phase: Starting, open: true, answer: -1},
			{at: s(310), unit: run2, probe: fail(s(310)), phase: Starting, open: true, answer: -1},
			{at: s(320), unit: run2, probe: ok(s(320)), phase: Healthy, verd: Answering, open: true, answer: s(320)},
		}, start: State{Invocation: "aaa", RunSince: t0, Answered: true, Fails: 3, Phase: Hung, Open: true, HungRun: "aaa"}},
		{name: "a restarted run that hangs too is reported again", steps: []step{
			{at: s(370), unit: run2, probe: fail(s(370)), phase: Failing, fails: 1, open: true, answer: -1},
			{at: s(380), unit: run2, probe: fail(s(380)), phase: Failing, fails: 2, open: true, answer: -1},
			{at: s(390), unit: run2, probe: fail(s(390)), phase: Hung, fails: 3, verd: ReportHang, open: true, answer: -1},
		}, start: State{Invocation: "aaa", RunSince: t0, Phase: Hung, Open: true, HungRun: "aaa"}},
		{name: "a watcher started again while the run is hung does not report it twice", steps: []step{
			{at: s(100), unit: run1, probe: fail(s(100)), phase: Failing, fails: 1, open: true, answer: -1},
			{at: s(110), unit: run1, probe: fail(s(110)), phase: Failing, fails: 2, open: true, answer: -1},
			{at: s(120), unit: run1, probe: fail(s(120)), phase: Hung, fails: 3, open: true, answer: -1},
		}, start: State{}.Resumed("aaa")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.start
			for i, sp := range tt.steps {
				var v Verdict
				st, v = Step(st, p, sp.unit, sp.probe, t0.Add(sp.at))
				want := time.Time{}
				if sp.answer >= 0 {
					want = t0.Add(sp.answer)
				}
				if st.Phase != sp.phase || st.Fails != sp.fails || v != sp.verd || st.Open != sp.open || !st.AnsweringSince.Equal(want) {
					t.Fatalf("step %d (+%s): phase %s fails %d verdict %s open %v answering %v; want %s %d %s %v %v",
						i, sp.at, st.Phase, st.Fails, v, st.Open, st.AnsweringSince, sp.phase, sp.fails, sp.verd, sp.open, want)
				}
			}
		})
	}
}

func TestStepHistoryIsBounded(t *testing.T) {
	var st State
	u := Unit{Active: true, Since: t0, InvocationID: "aaa"}
	for i := 0; i < 50; i++ {
		st, _ = Step(st, Policy{Failures: 3}, u, ok(time.Duration(i)*time.Second), t0.Add(time.Duration(i)*time.Second))
	}
	if len(st.History) != maxHistory || !st.History[maxHistory-1].At.Equal(t0.Add(49*time.Second)) {
		t.Errorf("history holds %d probes, the last at %v", len(st.History), st.History[len(st.History)-1].At)
	}
}

func TestResolved(t *testing.T) {
	st := State{Open: true, HungRun: "aaa", AnsweringSince: t0}.Resolved()
	if st.Open || st.HungRun != "" || !st.AnsweringSince.IsZero() {
		t.Errorf("after Resolved: %+v", st)
	}
}
