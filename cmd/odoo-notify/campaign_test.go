package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/internal/testenv"
	"github.com/odoo-notify/odoo-notify/outbox"
)

// campaignRuns is how many handlers the fault campaign kills.
const campaignRuns = 100

var campaignUnit = regexp.MustCompile(`odoo-(\d+)\.service`)

// TestFaultCampaignKill9 is the fault campaign: 100 failed runs, each of its
// own unit, recorded by the hook as systemd would run it, then a handler
// killed with SIGKILL at a random point of its delivery to three channels
// (mail and webhook fast, Slack taking 500 ms), then flush until nothing
// waits. It prints, per channel, the reports delivered, lost and sent
// twice. Nothing may be lost.
//
// A report may reach a channel more than once, and not only twice: a
// handler delivers what waits in the outbox before its own report, so a
// report whose handler was killed between the channel's acceptance and the
// record of it is sent again by the next handler, which may be killed in
// the same place, and so on (on a loaded machine that stretch, the end of
// the exchange with the server and the fsynced record, is long enough for
// several kills in a row to land in it; TestFaultReportInFlightAtTwoKills
// shows it step by step). What the outbox guarantees is that each process
// sends a report to a channel at most once, and that no process sends it
// there once one has recorded it as delivered. So the bound is, per report
// and channel, the number of processes that started while it was not
// recorded as delivered there, read from the state folder between two
// processes: on a quiet machine 1 or 2, as the kill rarely lands after the
// acceptance.
func TestFaultCampaignKill9(t *testing.T) {
	r := newRig(t, rigOpts{slackRate: "rate = 1000\nburst = 1000", timeout: "30s", hookTimeout: "5s"})
	r.mail.start(t)
	r.slack.mode.Store("delay")
	var entries []testenv.Entry
	for i := range campaignRuns {
		entries = append(entries, testenv.Entry{"_SYSTEMD_UNIT": fmt.Sprintf("odoo-%d.service", i), "_SYSTEMD_INVOCATION_ID": invID(1000 + i),
			"SYSLOG_IDENTIFIER": "odoo", "_TRANSPORT": "stdout", "MESSAGE": fmt.Sprintf("run %d: psycopg2.OperationalError", i)})
	}
	r.journal = testenv.WriteJournal(t, entries)

	rng := rand.New(rand.NewPCG(1, 2))
	early := 0
	senders := campaignSenders{"mail": {}, "slack": {}, "webhook": {}}
	for i := range campaignRuns {
		// Handler i may send its own report and every older one the
		// outbox still holds for a channel.
		senders.add(r, i, false)
		unit := fmt.Sprintf("odoo-%d.service", i)
		hook := r.command(nil, "hook", unit)
		hook.Env = append(hook.Env, "SERVICE_RESULT=exit-code", "EXIT_CODE=exited", "EXIT_STATUS=1", "INVOCATION_ID="+invID(1000+i))
		r.want("hook "+unit, r.exec(hook), 0)

		cmd := r.command(&failure{unit: unit, inv: 1000 + i})
		// One kill in five lands in the first 5 ms, before the handler
		// saved anything: only the hook's record tells of those runs.
		at := time.Duration(rng.IntN(700)) * time.Millisecond
		if rng.IntN(5) == 0 {
			at = time.Duration(rng.IntN(5000)) * time.Microsecond
		}
		if at < 5*time.Millisecond {
			early++
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(at)
		cmd.Process.Kill()
		cmd.Wait()
	}
	r.slack.mode.Store("ok")
	var res result
	for range 5 {
		// A flush also takes up the runs whose handler saved nothing.
		senders.add(r, campaignRuns, true)
		if res = r.exec(r.command(nil, "flush", "--journal-file", r.journal)); res.code == 0 {
			break
		}
	}
	r.want("flush after the campaign", res, 0)

	counts := map[string]map[int]int{"mail": {}, "slack": {}, "webhook": {}}
	_, _, hookBodies := r.hook.got()
	for _, b := range hookBodies {
		var rep struct{ Unit string }
		json.Unmarshal([]byte(b), &rep)
		count(counts["webhook"], rep.Unit)
	}
	_, _, slackBodies := r.slack.got()
	for _, b := range slackBodies {
		count(counts["slack"], b)
	}
	var mails struct{ Messages []struct{ Subject string } }
	r.mail.Get(t, fmt.Sprintf("/api/v1/messages?limit=%d", 20*campaignRuns), &mails)
	for _, m := range mails.Messages {
		count(counts["mail"], m.Subject)
	}
	var table strings.Builder
	fmt.Fprintf(&table, "fault campaign: %d handlers killed with SIGKILL (%d in their first 5 ms), then flush\n", campaignRuns, early)
	fmt.Fprintf(&table, "%-8s %9s %5s %10s %10s %10s\n", "channel", "delivered", "lost", "duplicated", "max copies", "max bound")
	for _, ch := range []string{"mail", "webhook", "slack"} {
		lost, dup, most, bound := 0, 0, 0, 0
		for i := range campaignRuns {
			n, b := counts[ch][i], senders[ch][i]
			most, bound = max(most, n), max(bound, b)
			switch {
			case n == 0:
				lost++
			case n > b:
				t.Errorf("%s got the report of odoo-%d.service %d times, but only %d process(es) started while it was not recorded as delivered there: a delivery was sent again after it was recorded, or twice by one process", ch, i, n, b)
			}
			if n > 1 {
				dup += n - 1
			}
		}
		fmt.Fprintf(&table, "%-8s %9d %5d %10d %10d %10d\n", ch, len(counts[ch]), lost, dup, most, bound)
		if lost > 0 {
			t.Errorf("%s: %d reports lost", ch, lost)
		}
	}
	t.Log("\n" + table.String())
}

// campaignSenders counts, per channel and campaign run, the processes that
// may send the run's report there: those that started while it was not
// recorded as delivered on that channel.
type campaignSenders map[string]map[int]int

// add counts the process about to start, handler of run next (or a flush),
// by what the state folder says now, with every earlier process dead: a
// run's report may go to a channel from its own handler, and from any later
// process that finds it in the outbox with that channel not done, or, for a
// flush, that finds only the hook's record of the run (the handler was
// killed before it saved the report).
func (c campaignSenders) add(r *rig, next int, flush bool) {
	r.t.Helper()
	st, err := outbox.Open(r.dir, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	channels := map[string]string{"mail": "mail", "slack": "slack", "hook": "webhook"}
	inOutbox := map[int]bool{}
	for _, e := range st.Pending() {
		g := campaignUnit.FindStringSubmatch(e.Report.Unit)
		if g == nil {
			continue
		}
		i, _ := strconv.Atoi(g[1])
		inOutbox[i] = true
		for _, d := range e.Channels {
			if ch, ok := channels[d.Channel]; ok && !d.Done() && i < next {
				c[ch][i]++
			}
		}
	}
	if flush {
		for _, f := range st.FailedRuns("") {
			if g := campaignUnit.FindStringSubmatch(f.Unit); g != nil {
				if i, _ := strconv.Atoi(g[1]); !inOutbox[i] {
					for _, ch := range channels {
						c[ch][i]++
					}
				}
			}
		}
	}
	if next < campaignRuns {
		for _, ch := range channels {
			c[ch][next]++
		}
	}
}

func count(m map[int]int, s string) {
	if g := campaignUnit.FindStringSubmatch(s); g != nil {
		var i int
		fmt.Sscan(g[1], &i)
		m[i]++
	}
}

// A channel's delivery is recorded when it completes: killed while Slack is
// still slow, the handler leaves mail and webhook delivered, and flush does
// not send them again.
func TestFaultKilledWhileTheSlowChannelSends(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.mail.start(t)
	r.slack.mode.Store("hang")
	cmd := r.command(&failure{inv: 1})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the webhook's and Slack's requests
		select {
		case <-r.hook.arrived:
		case <-r.slack.arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the handler sent nothing")
		}
	}
	time.Sleep(200 * time.Millisecond) // the webhook's answer is read and recorded
	cmd.Process.Kill()
	cmd.Wait()
	r.slack.mode.Store("ok")
	r.want("flush", r.flush(), 0)
	if tried, _, _ := r.hook.got(); len(tried) != 1 {
		t.Errorf("the webhook got %d requests, want 1: its delivery was not recorded before the kill", len(tried))
	}
	if n := len(r.mail.messageIDs(t, 1)); n != 1 {
		t.Errorf("mail got %d, want 1", n)
	}
	if _, accepted, _ := r.slack.got(); len(accepted) != 1 {
		t.Errorf("Slack got %d reports after flush, want 1", len(accepted))
	}
}

// A report that a channel accepted while its sender was killed before it
// recorded that goes again, once per process killed that way: here it is
// in flight at two kills in a row (its own handler's, then the next
// handler's, which sends what waits first), so the webhook gets it three
// times, always with the same webhook-id for the receiver to drop the
// copies. What was recorded as delivered, mail and Slack, goes once.
func TestFaultReportInFlightAtTwoKills(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.mail.start(t)
	r.hook.mode.Store("accept-hang")
	first := reportID("odoo.service", 1, "hook")
	for n, f := range []failure{{inv: 1}, {unit: "odoo-2.service", inv: 2}} {
		cmd := r.command(&f)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The webhook took the first report and never answered; mail and
		// Slack delivered this handler's report and recorded it.
		unit := f.unit
		if unit == "" {
			unit = "odoo.service"
		}
		r.waitFor(fmt.Sprintf("handler %d: the webhook holding the first report %d time(s), mail and Slack recorded", n+1, n+1), func() bool {
			_, accepted, _ := r.hook.got()
			return strings.Count(strings.Join(accepted, " "), first) == n+1 && r.recordedOn(unit, "mail", "slack")
		})
		cmd.Process.Kill()
		cmd.Wait()
	}
	r.hook.mode.Store("ok")
	r.want("flush", r.flush(), 0)
	_, accepted, _ := r.hook.got()
	got := map[string]int{}
	for _, id := range accepted {
		got[id]++
	}
	second := reportID("odoo-2.service", 2, "hook")
	if got[first] != 3 || got[second] != 1 || len(accepted) != 4 {
		t.Errorf("the webhook accepted %v; want the first report 3 times (in flight at two kills, then flush) and the second once", got)
	}
	if n := len(r.mail.messageIDs(t, 2)); n != 2 {
		t.Errorf("mail got %d messages, want 2: a recorded delivery is never sent again", n)
	}
	if _, accepted, _ := r.slack.got(); len(accepted) != 2 {
		t.Errorf("Slack got %d reports, want 2: a recorded delivery is never sent again", len(accepted))
	}
	if n := r.pending(); n != 0 {
		t.Errorf("%d reports still wait after flush", n)
	}
}

// waitFor waits up to 20 s for cond, checked every 20 ms.
func (r *rig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			r.t.Fatalf("waited 20s for %s", what)
		}
	}
}

// recordedOn says whether the outbox records unit's report as delivered on
// each of channels.
func (r *rig) recordedOn(unit string, channels ...string) bool {
	st, err := outbox.Open(r.dir, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, e := range st.Pending() {
		if e.Report.Unit != unit {
			continue
		}
		for _, ch := range channels {
			for _, d := range e.Channels {
				if d.Channel == ch && d.Delivered.IsZero() {
					return false
				}
			}
		}
		return true
	}
	return false
}

// incidentRuns is how many incidents the opening and recovery campaign
// opens and resolves, with a kill at each step.
const incidentRuns = 50

// TestFaultCampaignKill9OpeningAndRecovery is the fault campaign of
// incidents: 50 units each fail once, recorded by the hook, and the
// handler that opens each one's incident is killed with SIGKILL at a random
// point; then the units come back one by one and, after each, a flush that
// resolves the incidents is killed at a random point; then flush runs until
// nothing waits. Per channel and unit it counts the openings and the
// recovery notices: exactly one of each (a send in flight at the kill may
// reach the receiver twice under the same webhook-id or Message-ID, which
// is how a receiver tells it is the same), never a recovery notice without
// its opening, and the opening always first.
func TestFaultCampaignKill9OpeningAndRecovery(t *testing.T) {
	r := newRig(t, rigOpts{slackRate: "rate = 1000\nburst = 1000", timeout: "30s", hookTimeout: "5s"})
	r.mail.start(t)
	r.slack.mode.Store("delay")
	unit := func(i int) string { return fmt.Sprintf("odoo-%d.service", i) }
	failedAt := time.Now().Add(-10 * time.Minute)
	var failures []testenv.Entry
	for i := range incidentRuns {
		failures = append(failures, testenv.Entry{"_SYSTEMD_UNIT": unit(i), "_SYSTEMD_INVOCATION_ID": invID(1000 + i),
			"SYSLOG_IDENTIFIER": "odoo", "_TRANSPORT": "stdout", "MESSAGE": fmt.Sprintf("run %d: psycopg2.OperationalError", i),
			"__REALTIME_TIMESTAMP": fmt.Sprint(failedAt.Add(time.Duration(i) * time.Second).UnixMicro())})
	}
	// back(n) is the journal in which units 0 to n-1 run again, as new
	// runs, since 3 minutes ago: past stable_after (2m).
	back := func(n int) string {
		entries := slices.Clone(failures)
		since := time.Now().Add(-3 * time.Minute)
		for k := range n {
			entries = append(entries, testenv.Entry{"UNIT": unit(k), "INVOCATION_ID": invID(5000 + k), "_PID": "1", "SYSLOG_IDENTIFIER": "systemd", "_TRANSPORT": "journal",
				"MESSAGE": "Started " + unit(k) + " - Odoo.", "MESSAGE_ID": "39f53479d3a045ac8e11786248231fbf",
				"__REALTIME_TIMESTAMP": fmt.Sprint(since.Add(time.Duration(k) * time.Millisecond).UnixMicro())})
		}
		return testenv.WriteJournal(t, entries)
	}
	r.journal = back(0)

	rng := rand.New(rand.NewPCG(3, 4))
	// killAt is a random kill point: one in five in the first 5 ms, before
	// the process saved anything, the others while it delivers.
	early := map[string]int{}
	killAt := func(phase string) time.Duration {
		if rng.IntN(5) == 0 {
			early[phase]++
			return time.Duration(rng.IntN(5000)) * time.Microsecond
		}
		return time.Duration(rng.IntN(700)) * time.Millisecond
	}
	kill := func(cmd *exec.Cmd, at time.Duration) {
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(at)
		cmd.Process.Kill()
		cmd.Wait()
	}
	for i := range incidentRuns {
		hook := r.command(nil, "hook", unit(i))
		hook.Env = append(hook.Env, "SERVICE_RESULT=exit-code", "EXIT_CODE=exited", "EXIT_STATUS=1", "INVOCATION_ID="+invID(1000+i))
		r.want("hook "+unit(i), r.exec(hook), 0)
		kill(r.command(&failure{unit: unit(i), result: "exit-code", code: "exited", status: "1", inv: 1000 + i}), killAt("opening"))
	}
	for n := 1; n <= incidentRuns; n++ {
		kill(r.command(nil, "flush", "--journal-file", back(n)), killAt("recovery"))
	}
	r.slack.mode.Store("ok")
	all := back(incidentRuns)
	var res result
	for range 5 {
		if res = r.flushWith(all); res.code == 0 {
			break
		}
	}
	r.want("flush after the campaign", res, 0)
	r.want("flush once more", r.flushWith(all), 0)

	// Per channel, what each unit got, in the order it arrived: the
	// receiver's id of each message (Slack's have none) and its event.
	type got struct{ id, event string }
	arrived := map[string]map[int][]got{"mail": {}, "webhook": {}, "slack": {}}
	add := func(ch, text, id, event string) {
		if g := campaignUnit.FindStringSubmatch(text); g != nil {
			i, _ := strconv.Atoi(g[1])
			arrived[ch][i] = append(arrived[ch][i], got{id, event})
		}
	}
	_, ids, bodies := r.hook.got()
	for k, b := range bodies {
		var rep hookReport
		if err := json.Unmarshal([]byte(b), &rep); err != nil {
			t.Fatalf("webhook body: %v\n%s", err, b)
		}
		add("webhook", rep.Unit, ids[k], rep.Event)
	}
	_, _, slackBodies := r.slack.got()
	for _, b := range slackBodies {
		text := slackKey([]byte(b))
		add("slack", text, "", eventOfTitle(text))
	}
	var mails struct {
		Messages []struct{ Subject, MessageID string }
	}
	r.mail.Get(t, fmt.Sprintf("/api/v1/messages?limit=%d", 20*incidentRuns), &mails)
	for k := len(mails.Messages) - 1; k >= 0; k-- { // oldest first
		m := mails.Messages[k]
		add("mail", m.Subject, m.MessageID, eventOfTitle(m.Subject))
	}

	var table strings.Builder
	fmt.Fprintf(&table, "incident fault campaign: %d openings and %d recovering flushes killed with SIGKILL (%d and %d in their first 5 ms), then flush\n",
		incidentRuns, incidentRuns, early["opening"], early["recovery"])
	fmt.Fprintf(&table, "%-8s %8s %9s %5s %11s %8s\n", "channel", "openings", "recovered", "lost", "resent same", "misorder")
	for _, ch := range []string{"mail", "webhook", "slack"} {
		var openings, recoveries, lost, resent, misorder int
		for i := range incidentRuns {
			firing, resolved := map[string]int{}, map[string]int{}
			var order []string
			for _, g := range arrived[ch][i] {
				switch g.event {
				case "firing":
					firing[g.id]++
				case "resolved":
					resolved[g.id]++
				default:
					t.Errorf("%s: %s got a %q message: the campaign's units fail once and come back", ch, unit(i), g.event)
				}
				order = append(order, g.event)
			}
			// A receiver tells a resend by its id; Slack's messages carry
			// none, so there a second one is taken for the resend.
			for _, c := range []struct {
				what string
				by   map[string]int
			}{{"opening report", firing}, {"recovery notice", resolved}} {
				distinct, sent := len(c.by), 0
				for _, n := range c.by {
					sent += n
				}
				if ch == "slack" {
					distinct = min(sent, 1)
				}
				resent += sent - distinct
				switch {
				case distinct == 0:
					lost++
					st := r.exec(r.command(nil, "status", unit(i), "--journal-file", all))
					t.Errorf("%s: %s's %s was lost; it got %v; status:\n%s%s", ch, unit(i), c.what, order, st.stdout, st.stderr)
				case distinct > 1:
					t.Errorf("%s: %s got %d different %ss", ch, unit(i), distinct, c.what)
				}
			}
			openings += min(len(firing), 1)
			recoveries += min(len(resolved), 1)
			if fi, ri := slices.Index(order, "firing"), slices.Index(order, "resolved"); ri >= 0 && (fi < 0 || ri < fi) {
				misorder++
				t.Errorf("%s: %s's recovery notice came before its opening: %v", ch, unit(i), order)
			}
		}
		fmt.Fprintf(&table, "%-8s %8d %9d %5d %11d %8d\n", ch, openings, recoveries, lost, resent, misorder)
	}
	t.Log("\n" + table.String())
}

// eventOfTitle tells an opening from a recovery notice by its title.
func eventOfTitle(s string) string {
	switch {
	case strings.HasPrefix(s, "[RESOLVED] "):
		return "resolved"
	case strings.HasPrefix(s, "[UPDATE] "):
		return "update"
	case strings.HasPrefix(s, "[STILL DOWN] "):
		return "reminder"
	}
	return "firing"
}
