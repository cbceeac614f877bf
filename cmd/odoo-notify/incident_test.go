package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/incident"
	"github.com/odoo-notify/odoo-notify/internal/testenv"
	"github.com/odoo-notify/odoo-notify/outbox"
)

// hookReport is what a receiver of the webhook JSON reads of an incident.
type hookReport struct {
	Event    string `json:"event"`
	Subject  string `json:"subject"`
	Summary  string `json:"summary"`
	Unit     string `json:"unit"`
	Incident *struct {
		ID       string `json:"id"`
		Failures int    `json:"failures"`
		State    string `json:"state"`
		Causes   string `json:"causes"`
		ThreadID string `json:"thread_id"`
	} `json:"incident"`
}

func (r *rig) hookReports() []hookReport {
	r.t.Helper()
	_, _, bodies := r.hook.got()
	var out []hookReport
	for _, b := range bodies {
		var h hookReport
		if err := json.Unmarshal([]byte(b), &h); err != nil {
			r.t.Fatalf("webhook body is not JSON: %v\n%s", err, b)
		}
		if h.Incident == nil && h.Event != "test" {
			r.t.Fatalf("webhook body has no incident:\n%s", b)
		}
		out = append(out, h)
	}
	return out
}

func events(hs []hookReport) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Event)
	}
	return out
}

// runningJournal is a journal in which odoo.service was started again, as
// run inv, at since: what flush reads to see that the unit is back.
func runningJournal(t *testing.T, inv int, since time.Time) string {
	return testenv.WriteJournal(t, []testenv.Entry{
		{"UNIT": "odoo.service", "INVOCATION_ID": invID(inv), "_PID": "1", "SYSLOG_IDENTIFIER": "systemd", "_TRANSPORT": "journal",
			"MESSAGE": "Started odoo.service - Odoo.", "MESSAGE_ID": "39f53479d3a045ac8e11786248231fbf",
			"__REALTIME_TIMESTAMP": fmt.Sprint(since.UnixMicro())},
	})
}

// failedJournal is a journal in which odoo.service's run inv failed at at
// and was not started again.
func failedJournal(t *testing.T, inv int, at time.Time) string {
	us := func(d time.Duration) string { return fmt.Sprint(at.Add(d).UnixMicro()) }
	return testenv.WriteJournal(t, []testenv.Entry{
		{"UNIT": "odoo.service", "INVOCATION_ID": invID(inv), "_PID": "1", "SYSLOG_IDENTIFIER": "systemd", "_TRANSPORT": "journal",
			"MESSAGE": "Started odoo.service - Odoo.", "MESSAGE_ID": "39f53479d3a045ac8e11786248231fbf", "__REALTIME_TIMESTAMP": us(-time.Second)},
		{"UNIT": "odoo.service", "INVOCATION_ID": invID(inv), "_PID": "1", "SYSLOG_IDENTIFIER": "systemd", "_TRANSPORT": "journal",
			"MESSAGE": "odoo.service: Failed with result 'exit-code'.", "MESSAGE_ID": "d9b373ed55a64feb8242e02dbe79a49c", "UNIT_RESULT": "exit-code", "__REALTIME_TIMESTAMP": us(0)},
	})
}

func (r *rig) flushWith(journal string) result {
	return r.exec(r.command(nil, "flush", "--journal-file", journal))
}

// A unit fails three times and comes back: one opening report, an update,
// then exactly one recovery notice on every channel, threaded to the
// opening; the next failure opens a new incident.
func TestIncidentOpensUpdatesAndResolvesOnce(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.mail.start(t)

	r.want("first failure", r.dispatch(failure{inv: 1}), 0)
	r.want("the same failure again", r.dispatch(failure{inv: 2}), 0)
	r.want("another failure", r.dispatch(failure{inv: 3, result: "signal", code: "killed", status: "KILL"}), 0)

	hs := r.hookReports()
	if got := events(hs); !slices.Equal(got, []string{"firing", "update"}) {
		t.Fatalf("webhook events = %v, want [firing update] (the repeat within dedup_window is held)", got)
	}
	open, upd := hs[0], hs[1]
	if open.Incident.ID == "" || upd.Incident.ID != open.Incident.ID {
		t.Fatalf("the update names incident %q, the opening %q", upd.Incident.ID, open.Incident.ID)
	}
	if upd.Incident.Failures != 3 || upd.Incident.State != "open" {
		t.Errorf("update incident = %+v, want 3 failures, open", *upd.Incident)
	}
	if !strings.HasPrefix(upd.Subject, "[UPDATE] "+open.Subject) {
		t.Errorf("update subject %q does not repeat the opening's %q", upd.Subject, open.Subject)
	}

	notYet := runningJournal(t, 4, time.Now().Add(-10*time.Second))
	r.want("flush before stable_after", r.flushWith(notYet), 0)
	if n := len(r.hookReports()); n != 2 {
		t.Fatalf("a recovery notice 10 s after the restart (stable_after is 2m): %d webhook posts", n)
	}
	st := r.exec(r.command(nil, "status", "odoo.service", "--journal-file", notYet))
	r.want("status with the incident open", st, 1)
	if !strings.Contains(st.stdout, "incident "+open.Incident.ID) || !strings.Contains(st.stdout, "3 failure(s)") {
		t.Errorf("status does not show the open incident:\n%s", st.stdout)
	}

	back := runningJournal(t, 4, time.Now().Add(-3*time.Minute))
	res := r.flushWith(back)
	r.want("flush once stable", res, 0)
	if !strings.Contains(res.stdout, "1 resolved") {
		t.Errorf("flush does not say it resolved the incident:\n%s", res.stdout)
	}
	r.want("flush again", r.flushWith(back), 0)

	hs = r.hookReports()
	if got := events(hs); !slices.Equal(got, []string{"firing", "update", "resolved"}) {
		t.Fatalf("webhook events = %v, want [firing update resolved]", got)
	}
	rec := hs[2]
	if rec.Incident.ID != open.Incident.ID || rec.Incident.State != "resolved" || rec.Incident.Failures != 3 {
		t.Errorf("recovery incident = %+v", *rec.Incident)
	}
	for _, want := range []string{"erp1: odoo.service is back: running since ", "after 3 failure(s) in ", "exit-code (status 3) x2", "signal (KILL) x1"} {
		if !strings.Contains(rec.Summary, want) {
			t.Errorf("recovery summary %q lacks %q", rec.Summary, want)
		}
	}

	// Mail: three messages, the follow-ups replying to the opening.
	msgs := r.mail.Messages(t, 3)
	if len(msgs) != 3 {
		t.Fatalf("mail got %d messages, want 3", len(msgs))
	}
	var opening string
	for _, m := range msgs {
		if !strings.HasPrefix(m.Subject, "[") {
			opening = m.MessageID
		}
	}
	if opening == "" {
		t.Fatal("no opening mail")
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		if m.MessageID == opening {
			continue
		}
		prefix, _, _ := strings.Cut(m.Subject, "] ")
		seen[prefix+"]"] = true
		h := r.mail.Headers(t, m.ID)
		if got := strings.Join(h["In-Reply-To"], ""); got != "<"+opening+">" {
			t.Errorf("%q: In-Reply-To %q, want <%s>", m.Subject, got, opening)
		}
		if got := strings.Join(h["References"], ""); !strings.Contains(got, opening) {
			t.Errorf("%q: References %q lacks the opening", m.Subject, got)
		}
	}
	if !seen["[UPDATE]"] || !seen["[RESOLVED]"] {
		t.Errorf("mail subjects: %v, want an [UPDATE] and a [RESOLVED]", seen)
	}

	// Slack: three messages; the recovery names the incident.
	_, slackGot, slackBodies := r.slack.got()
	if len(slackGot) != 3 {
		t.Fatalf("Slack got %d messages, want 3", len(slackGot))
	}
	if last := slackBodies[2]; !strings.Contains(last, "Resolved") || !strings.Contains(last, open.Incident.ID) || !strings.Contains(last, "is back") {
		t.Errorf("Slack's recovery message does not name the incident:\n%s", last)
	}

	st = r.exec(r.command(nil, "status", "odoo.service", "--journal-file", back))
	r.want("status once resolved", st, 0)
	if !strings.Contains(st.stdout, "no open incident") || !strings.Contains(st.stdout, "last to hook: resolved") {
		t.Errorf("status after the recovery:\n%s", st.stdout)
	}

	r.want("a failure after the recovery", r.dispatch(failure{inv: 5}), 0)
	hs = r.hookReports()
	if last := hs[len(hs)-1]; last.Event != "firing" || last.Incident.ID == open.Incident.ID || last.Incident.Failures != 1 {
		t.Errorf("the next failure is %s of incident %s (%d failures), want a new incident's opening", last.Event, last.Incident.ID, last.Incident.Failures)
	}
}

// A unit the start limit stopped, or one an admin stopped, keeps its
// incident open; the reminder says it is still down.
func TestIncidentStaysOpenWhileTheUnitIsDown(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.mail.start(t)
	r.appendConfig("[incidents]\nremind_every = \"1m\"\n")
	r.want("failure", r.dispatch(failure{inv: 1}), 0)
	r.backdateIncident("odoo.service", 2*time.Hour)

	down := failedJournal(t, 1, time.Now().Add(-2*time.Hour))
	r.want("flush with the unit failed", r.flushWith(down), 0)
	r.want("flush again", r.flushWith(down), 0)
	hs := r.hookReports()
	if got := events(hs); !slices.Equal(got, []string{"firing", "reminder"}) {
		t.Fatalf("webhook events = %v, want [firing reminder]", got)
	}
	if !strings.Contains(hs[1].Summary, "still down (failed/failed)") || !strings.HasPrefix(hs[1].Subject, "[STILL DOWN] ") {
		t.Errorf("reminder: %q / %q", hs[1].Subject, hs[1].Summary)
	}
	st := r.exec(r.command(nil, "status", "--journal-file", down))
	r.want("status", st, 1)
	if !strings.Contains(st.stdout, "odoo.service: failed/failed") {
		t.Errorf("status does not say the unit failed:\n%s", st.stdout)
	}
}

// A channel down when the incident opened gets the opening first, then the
// recovery: never a recovery notice without its opening, on any channel.
func TestIncidentRecoveryWaitsForItsOpening(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.mail.start(t)
	r.hook.mode.Store("500")
	r.want("failure with the webhook down", r.dispatch(failure{inv: 1}), 75)

	back := runningJournal(t, 2, time.Now().Add(-3*time.Minute))
	r.want("flush with the webhook still down", r.flushWith(back), 75)
	if _, accepted, _ := r.hook.got(); len(accepted) != 0 {
		t.Fatalf("the webhook accepted %d posts while answering 500", len(accepted))
	}
	if n := len(r.mail.messageIDs(t, 2)); n != 2 {
		t.Fatalf("mail got %d messages, want the opening and the recovery", n)
	}

	r.hook.mode.Store("ok")
	r.want("flush with the webhook back", r.flushWith(back), 0)
	r.want("flush again", r.flushWith(back), 0)
	if got := events(r.hookReports()); !slices.Equal(got, []string{"firing", "resolved"}) {
		t.Fatalf("webhook events = %v, want [firing resolved], in that order", got)
	}
	if n := r.pending(); n != 0 {
		t.Errorf("%d reports still wait", n)
	}
}

// A channel that refused the opening for good never gets its recovery.
func TestIncidentNoRecoveryWhereTheOpeningWasRefused(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.mail.start(t)
	r.hook.mode.Store("400")
	r.want("failure with the webhook refusing", r.dispatch(failure{inv: 1}), 69)
	r.hook.mode.Store("ok")
	back := runningJournal(t, 2, time.Now().Add(-3*time.Minute))
	r.want("flush once stable", r.flushWith(back), 0)
	if _, accepted, _ := r.hook.got(); len(accepted) != 0 {
		t.Errorf("the webhook got %d posts: a recovery of an opening it refused", len(accepted))
	}
	if n := len(r.mail.messageIDs(t, 2)); n != 2 {
		t.Errorf("mail got %d messages, want the opening and the recovery", n)
	}
}

// During a deploy the unit is silenced: failures are counted, not sent.
// When the silence ends with the unit still failing, the incident opens
// then and says what happened; a unit that is back has nothing to say.
func TestSilenceAcrossADeploy(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.mail.start(t)
	res := r.exec(r.command(nil, "silence", "odoo.service", "--for", "30m", "--reason", "deploy 18.0.3"))
	r.want("silence", res, 0)
	if !strings.Contains(res.stdout, "odoo.service is silenced until") {
		t.Errorf("silence says:\n%s", res.stdout)
	}
	res = r.dispatch(failure{inv: 1})
	r.want("failure during the silence", res, 0)
	if !strings.Contains(res.stderr, "silenced") {
		t.Errorf("dispatch does not say the unit is silenced:\n%s", res.stderr)
	}
	r.want("second failure during the silence", r.dispatch(failure{inv: 2, result: "signal", code: "killed", status: "KILL"}), 0)
	if tried, _, _ := r.hook.got(); len(tried) != 0 {
		t.Fatalf("a silenced unit's failure was sent (%d webhook posts)", len(tried))
	}
	test := r.exec(r.command(nil, "test"))
	r.want("test during a silence", test, 0)
	if tried, _, _ := r.hook.got(); len(tried) != 1 {
		t.Fatalf("test during a silence: %d webhook posts, want 1 (test is never silenced)", len(tried))
	}

	down := failedJournal(t, 2, time.Now().Add(-time.Minute))
	st := r.exec(r.command(nil, "status", "odoo.service", "--journal-file", down))
	r.want("status during the silence", st, 1)
	if !strings.Contains(st.stdout, "silenced until") || !strings.Contains(st.stdout, "deploy 18.0.3") || !strings.Contains(st.stdout, "2 failure(s)") {
		t.Errorf("status during the silence:\n%s", st.stdout)
	}

	res = r.exec(r.command(nil, "unsilence", "odoo.service", "--journal-file", down))
	r.want("unsilence with the unit still failing", res, 0)
	hs := r.hookReports()
	if len(hs) != 2 || hs[1].Event != "firing" {
		t.Fatalf("after unsilence the webhook got %v, want the test and one opening", events(hs))
	}
	for _, want := range []string{"failed 2 time(s) during a silence (deploy 18.0.3)", "is not running", "exit-code (status 3) x1", "signal (KILL) x1"} {
		if !strings.Contains(hs[1].Summary, want) {
			t.Errorf("opening after the silence %q lacks %q", hs[1].Summary, want)
		}
	}
	back := runningJournal(t, 3, time.Now().Add(-3*time.Minute))
	r.want("flush once back", r.flushWith(back), 0)
	if got := events(r.hookReports()); !slices.Equal(got, []string{"test", "firing", "resolved"}) {
		t.Errorf("webhook events = %v, want [test firing resolved]", got)
	}

	// A second deploy, and the unit is fine when the silence ends.
	r.want("silence again", r.exec(r.command(nil, "silence", "odoo.service", "--for", "1h")), 0)
	r.want("a failure during the deploy", r.dispatch(failure{inv: 7}), 0)
	fine := runningJournal(t, 8, time.Now().Add(-5*time.Second))
	r.want("unsilence with the unit back", r.exec(r.command(nil, "unsilence", "odoo.service", "--journal-file", fine)), 0)
	r.want("flush", r.flushWith(fine), 0)
	if n := len(r.hookReports()); n != 3 {
		t.Errorf("a deploy that ended well sent %d more webhook posts", n-3)
	}
	st = r.exec(r.command(nil, "status", "odoo.service", "--journal-file", fine))
	r.want("status after a good deploy", st, 0)
}

// backdateIncident moves unit's open incident back by d, as if d had
// passed since its failures.
func (r *rig) backdateIncident(unit string, d time.Duration) {
	r.t.Helper()
	st, err := outbox.Open(r.dir, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := st.UpdateIncidents(context.Background(), func(s *incident.State) error {
		in := s.Get(unit)
		if in == nil {
			return fmt.Errorf("no open incident of %s", unit)
		}
		in.Opened, in.LastFailure = in.Opened.Add(-d), in.LastFailure.Add(-d)
		return nil
	}); err != nil {
		r.t.Fatal(err)
	}
}
