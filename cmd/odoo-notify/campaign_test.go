package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/internal/testenv"
)

// campaignRuns is how many handlers the fault campaign kills.
const campaignRuns = 100

var campaignUnit = regexp.MustCompile(`odoo-(\d+)\.service`)

// TestFaultCampaignKill9 is the fault campaign: 100 failed runs, each of its
// own unit, recorded by the hook as systemd would run it, then a handler
// killed with SIGKILL at a random point of its delivery to three channels
// (mail and webhook fast, Slack taking 500 ms), then flush until nothing
// waits. It prints, per channel, the reports delivered, lost and sent
// twice. Nothing may be lost; a report may reach a channel twice only when
// its send was in flight at the kill, so at most twice.
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
	for i := range campaignRuns {
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
	fmt.Fprintf(&table, "%-8s %9s %5s %10s\n", "channel", "delivered", "lost", "duplicated")
	for _, ch := range []string{"mail", "webhook", "slack"} {
		lost, dup := 0, 0
		for i := range campaignRuns {
			switch n := counts[ch][i]; {
			case n == 0:
				lost++
			case n > 2:
				t.Errorf("%s got the report of odoo-%d.service %d times: more than the one send in flight at the kill", ch, i, n)
				fallthrough
			case n > 1:
				dup += n - 1
			}
		}
		fmt.Fprintf(&table, "%-8s %9d %5d %10d\n", ch, len(counts[ch]), lost, dup)
		if lost > 0 {
			t.Errorf("%s: %d reports lost", ch, lost)
		}
	}
	t.Log("\n" + table.String())
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
