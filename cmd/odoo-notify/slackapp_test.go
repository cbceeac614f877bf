package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/odoo-notify/odoo-notify/notifiers/notifiertest"
)

// TestSlackAppThreadsAnIncident runs the built binary through an
// incident's opening, update and recovery with a Slack app channel, each
// step its own process: the opening is the parent, the update and the
// recovery reply in its thread, and the parent is edited after each.
func TestSlackAppThreadsAnIncident(t *testing.T) {
	const token = "xoxb-1234567890-0987654321-SECRETcmdBotToken"
	api := notifiertest.NewSlackAPI(t, token)
	r := newRig(t, rigOpts{extra: fmt.Sprintf(`
[[slack]]
name = "slack-app"
token = %q
channel = "#ops"
api_url = "%s/api/"
timeout = "5s"
`, token, api.URL)})
	r.mail.start(t)

	r.want("first failure", r.dispatch(failure{inv: 1}), 0)
	r.want("another failure", r.dispatch(failure{inv: 3, result: "signal", code: "killed", status: "KILL"}), 0)
	back := runningJournal(t, 4, time.Now().Add(-3*time.Minute))
	r.want("flush once stable", r.flushWith(back), 0)
	r.want("flush again", r.flushWith(back), 0)

	if got, want := api.Methods(), "chat.postMessage chat.postMessage chat.update chat.postMessage chat.update"; got != want {
		t.Fatalf("Slack got %s, want %s: the parent, then a reply and an edit for the update and for the recovery", got, want)
	}
	calls := api.Calls()
	parent, upReply, upEdit, resReply, resEdit := calls[0], calls[1], calls[2], calls[3], calls[4]
	for _, c := range calls {
		if c.Authorization != "Bearer "+token || strings.Contains(c.Body, "SECRETcmdBotToken") {
			t.Errorf("%s: Authorization %q, body %.100s: want the token as a bearer token only", c.Method, c.Authorization, c.Body)
		}
	}
	if parent.Form.Has("thread_ts") || !strings.Contains(parent.Text(t), "*Failing* since") || !strings.Contains(parent.Text(t), ": 1 failure") {
		t.Errorf("the parent is not a top-level message saying 1 failure:\n%s", parent.Text(t))
	}
	parentTS := notifiertest.TS(1)
	for _, c := range []notifiertest.SlackCall{upReply, resReply} {
		if c.Form.Get("thread_ts") != parentTS {
			t.Errorf("reply thread_ts = %q, want the parent's %s", c.Form.Get("thread_ts"), parentTS)
		}
	}
	if !strings.Contains(upReply.Text(t), "*Update* of incident") || !strings.Contains(resReply.Text(t), "odoo.service is back") {
		t.Errorf("the replies are not the update and the recovery:\n%s\n---\n%s", upReply.Text(t), resReply.Text(t))
	}
	for _, c := range []notifiertest.SlackCall{upEdit, resEdit} {
		if c.Form.Get("channel") != api.ChannelID || c.Form.Get("ts") != parentTS {
			t.Errorf("chat.update of %s %s, want the parent %s %s", c.Form.Get("channel"), c.Form.Get("ts"), api.ChannelID, parentTS)
		}
	}
	if got := upEdit.Text(t); !strings.Contains(got, ": 2 failures, the last at ") {
		t.Errorf("the parent after the update does not say 2 failures:\n%s", got)
	}
	got := resEdit.Text(t)
	if !strings.Contains(got, "*Recovered* at ") || !strings.Contains(got, "2 failures") || strings.Contains(got, "Failing") {
		t.Errorf("the parent after the recovery does not say recovered:\n%s", got)
	}
	if h, ok := resEdit.Blocks(t)[0].(*slack.HeaderBlock); !ok || !strings.HasPrefix(h.Text.Text, "[RESOLVED] erp1: odoo.service failed") {
		t.Errorf("the parent's header after the recovery: %+v", resEdit.Blocks(t)[0])
	}
	// One incident on one channel: one record of its parent, whose size
	// is what the state folder keeps per incident.
	records, _ := filepath.Glob(filepath.Join(r.dir, "threads", "*.json"))
	if len(records) != 1 {
		t.Errorf("the state folder holds %d thread records, want 1: %v", len(records), records)
	}
	for _, p := range records {
		if fi, err := os.Stat(p); err == nil {
			t.Logf("thread record %s: %d bytes", filepath.Base(p), fi.Size())
		}
	}
	// The webhook channel got the same incident: nothing was lost to the
	// app's bookkeeping.
	if got := events(r.hookReports()); strings.Join(got, " ") != "firing update resolved" {
		t.Errorf("webhook events = %v", got)
	}
}
