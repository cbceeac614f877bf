package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
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
