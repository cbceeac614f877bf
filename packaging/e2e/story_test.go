package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/odoo-notify/odoo-notify/internal/testenv"
	"github.com/odoo-notify/odoo-notify/report"
)

// story is where `make demo` tells what the test does and what each channel
// received, as a person reads it: set ODOO_NOTIFY_DEMO=1 to have it on
// stdout. The test's own checks do not depend on it.
var story io.Writer = io.Discard

func init() {
	if os.Getenv("ODOO_NOTIFY_DEMO") != "" {
		story = os.Stdout
	}
}

// tell prints one step of the story.
func tell(format string, args ...any) {
	fmt.Fprintf(story, "\n== "+format+"\n", args...)
}

// crashes says, per stand-in mode, what the crash is in Odoo's terms.
var crashes = map[string]string{
	"traceback": "Odoo dies at start-up: its database is unreachable (psycopg2.OperationalError)",
	"kill":      "the kernel kills Odoo with SIGKILL, as the OOM killer does",
	"segv":      "Odoo segfaults and dumps core",
	"watchdog":  "Odoo hangs and systemd's watchdog aborts it",
}

// tellReceived prints what arrived: the mail's subject and first lines,
// the Slack message as its text, the webhook's event and cause.
func tellReceived(mail testenv.Received, slackBody string, rep report.Report) {
	fmt.Fprintf(story, "   mail     Subject: %s\n", mail.Subject)
	n := 0
	for _, l := range strings.Split(mail.Text, "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		fmt.Fprintf(story, "            | %s\n", l)
		if n++; n == 6 {
			break
		}
	}
	var sm struct {
		Text string `json:"text"`
	}
	if json.Unmarshal([]byte(slackBody), &sm) == nil && sm.Text != "" {
		fmt.Fprintf(story, "   slack    %s\n", firstLine(sm.Text))
	}
	cause := rep.Cause
	if cause == "" {
		cause = rep.Result
	}
	inc := ""
	if rep.Incident != nil {
		inc = fmt.Sprintf(", incident %s (%d failure(s), %s)", rep.Incident.ID, rep.Incident.Failures, rep.Incident.State)
	}
	fmt.Fprintf(story, "   webhook  event %s, cause %s%s\n", rep.Event, cause, inc)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
