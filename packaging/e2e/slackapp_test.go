package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/odoo-notify/odoo-notify/notifiers/notifiertest"
)

// appToken is the Slack app's bot token; appTokenKey, its secret part,
// must appear in no journal line.
const (
	appTokenKey = "E2EAPPTOKENb71f0c"
	appToken    = "xoxb-2026120215-" + appTokenKey
)

// slackAppConfig is a Slack app channel whose Web API is the fake on the
// host's loopback (the container shares the host's network).
func slackAppConfig(w *world) string {
	return fmt.Sprintf(`
[[slack]]
name = "ops-slack-app"
token = %q
channel = "#ops"
api_url = "%s/api/"
`, appToken, w.app.URL)
}

var incidentRE = regexp.MustCompile("Incident `([^`]+)`")

// expectSlackAppThread: the Slack app got the incident that just resolved
// as one thread: its opening as a top-level message, the recovery as a
// reply in that message's thread, then a chat.update of the opening that
// says the unit recovered. Every call carried the token as a bearer token.
func (w *world) expectSlackAppThread(t *testing.T) {
	t.Helper()
	calls := w.app.Calls()
	for _, c := range calls {
		if c.Authorization != "Bearer "+appToken || strings.Contains(c.Body, appTokenKey) {
			t.Fatalf("%s: the token is not sent as a bearer token only", c.Method)
		}
	}
	var edit *notifiertest.SlackCall
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Method == "chat.update" {
			edit = &calls[i]
			break
		}
	}
	if edit == nil {
		t.Fatalf("the Slack app got no chat.update: %s", w.app.Methods())
	}
	text := edit.Text(t)
	m := incidentRE.FindStringSubmatch(text)
	if !strings.Contains(text, "*Recovered* at ") || m == nil {
		t.Fatalf("the last edit of the incident's message does not say it recovered:\n%s", text)
	}
	parentTS := edit.Form.Get("ts")
	var parent, reply *notifiertest.SlackCall
	for i := range calls {
		c := &calls[i]
		switch {
		case c.Method != "chat.postMessage":
		case c.TS == parentTS && !c.Form.Has("thread_ts"):
			parent = c
		case c.Form.Get("thread_ts") == parentTS && strings.Contains(c.Text(t), hostname+": odoo.service is back"):
			reply = c
		}
	}
	if parent == nil {
		t.Fatalf("no top-level message has the ts %s the edit changed: %s", parentTS, w.app.Methods())
	}
	if got := parent.Text(t); !strings.Contains(got, "*Failing* since ") || !strings.Contains(got, m[0]) {
		t.Errorf("the opening message does not say incident %s is failing:\n%s", m[1], got)
	}
	if reply == nil {
		t.Errorf("no recovery reply in the thread of %s", parentTS)
	}
	t.Logf("the Slack app's parent, after the recovery: %s", strings.SplitN(text, "\n", 3)[1])
}
