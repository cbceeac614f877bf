package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/internal/testenv"
)

// unitAlert is the Alertmanager's alert of odoo.service's incident.
func unitAlert(t *testing.T, am *testenv.Alertmanager) (testenv.HeldAlert, bool) {
	t.Helper()
	for _, a := range am.Alerts(t) {
		if a.Labels["alertname"] == "SystemdUnitFailed" && a.Labels["unit"] == "odoo.service" {
			return a, true
		}
	}
	return testenv.HeldAlert{}, false
}

// TestIncidentAsAnAlert: through the command, against a real
// Alertmanager: dispatch opens the alert, each flush while the unit is
// down sends it again with a later endsAt (one alert, not one per
// flush), and the flush that sees the unit back ends it; the receiver is
// told it fired, then that it resolved. The token is in no output.
func TestIncidentAsAnAlert(t *testing.T) {
	recv := testenv.NewAlertReceiver(t)
	am := testenv.StartAlertmanager(t, recv.URL, false)
	const token = "amSECRETbearer0123456789"
	r := newRig(t, rigOpts{extra: fmt.Sprintf("[[alertmanager]]\nname = \"am\"\nurls = [%q]\nbearer_token = %q\n", am.URL, token)})
	r.mail.start(t)

	failedAt := time.Now().Add(-time.Second)
	r.want("the failure", r.dispatch(failure{inv: 1}), 0)
	if _, ok := recv.WaitFor("firing", 15*time.Second); !ok {
		t.Fatalf("the receiver was not told the alert fires; Alertmanager holds %+v", am.Alerts(t))
	}
	first, ok := unitAlert(t, am)
	if !ok || first.Status.State != "active" {
		t.Fatalf("Alertmanager holds %+v, want odoo.service's alert active", am.Alerts(t))
	}

	down := failedJournal(t, 1, failedAt)
	time.Sleep(1100 * time.Millisecond)
	res := r.flushWith(down)
	r.want("flush while the unit is down", res, 0)
	again, _ := unitAlert(t, am)
	if !again.EndsAt.After(first.EndsAt) || !again.StartsAt.Equal(first.StartsAt) {
		t.Errorf("after a flush the alert runs %s to %s, before %s to %s: the flush must push endsAt on, from the same start",
			again.StartsAt, again.EndsAt, first.StartsAt, first.EndsAt)
	}
	if n := len(am.Alerts(t)); n != 1 {
		t.Errorf("Alertmanager holds %d alerts, want the one", n)
	}

	back := runningJournal(t, 2, time.Now().Add(-3*time.Minute))
	res = r.flushWith(back)
	r.want("flush once the unit is back", res, 0)
	if !strings.Contains(res.stdout, "1 resolved") {
		t.Errorf("flush does not say it resolved the incident:\n%s", res.stdout)
	}
	if _, ok := recv.WaitFor("resolved", 15*time.Second); !ok {
		t.Fatalf("the receiver was not told the alert resolved; it got %+v", recv.Got())
	}
	// The end is sent again for 5 minutes; the alert stays ended.
	r.want("flush after the recovery", r.flushWith(back), 0)
	if a, ok := unitAlert(t, am); ok {
		t.Errorf("after the recovery Alertmanager holds %+v as still firing, want it ended", a)
	}
	time.Sleep(2 * time.Second) // group_interval is 1 s
	got := recv.Got()
	if last := got[len(got)-1]; last.Status != "resolved" {
		t.Errorf("the receiver's last notification is %q, want resolved: %+v", last.Status, got)
	}
	out := res.stdout + res.stderr
	if strings.Contains(out, token) {
		t.Errorf("the token shows in flush's output:\n%s", out)
	}
}
