package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/internal/testenv"
)

// amToken is the bearer token a proxy in front of Alertmanager would want
// (Alertmanager itself ignores it): it must reach no journal line.
const amToken = "E2E-AM-BEARER-5d1e0b"

func init() { secrets = append(secrets, amToken) }

// amSide is a real Alertmanager on the host's loopback, which the
// container reaches as it shares the host's network, and the webhook
// receiver its route points to.
type amSide struct {
	am   *testenv.Alertmanager
	recv *testenv.AlertReceiver
}

func startAlertmanager(t *testing.T) *amSide {
	recv := testenv.NewAlertReceiver(t)
	return &amSide{am: testenv.StartAlertmanager(t, recv.URL, false), recv: recv}
}

// config is the [[alertmanager]] section of the container's config.
func (a *amSide) config() string {
	return fmt.Sprintf(`
[[alertmanager]]
name = "am"
urls = [%q]
bearer_token = %q
`, a.am.URL, amToken)
}

// firing says whether the receiver was told the unit's failure alert
// fires, and at which notification.
func (a *amSide) notified(status string, from int) (int, bool) {
	got := a.recv.Got()
	for i := from; i < len(got); i++ {
		if got[i].Status != status {
			continue
		}
		for _, al := range got[i].Alerts {
			if al.Labels["alertname"] == "SystemdUnitFailed" && al.Labels["unit"] == "odoo.service" && al.Labels["host"] == hostname && al.Status == status {
				return i, true
			}
		}
	}
	return 0, false
}

// expectAlertFiring: the incident open now was told to Alertmanager at its
// opening and has been kept firing since by the flush timer, however long
// ago it opened.
func (a *amSide) expectAlertFiring(t *testing.T) {
	t.Helper()
	if _, ok := a.notified("firing", 0); !ok {
		t.Errorf("the Alertmanager receiver was never told odoo.service's alert fires; it got %+v\n%s", a.recv.Got(), a.am.Log())
		return
	}
	for _, h := range a.am.Alerts(t) {
		if h.Labels["alertname"] == "SystemdUnitFailed" && h.Labels["unit"] == "odoo.service" {
			if h.Status.State != "active" || !h.EndsAt.After(time.Now()) {
				t.Errorf("Alertmanager holds odoo.service's alert %+v, want it active: the flush timer keeps it firing", h)
			}
			t.Logf("Alertmanager: odoo.service's alert fires since %s (%s ago), ends at %s unless sent again",
				h.StartsAt.Format(time.RFC3339), time.Since(h.StartsAt).Round(time.Second), h.EndsAt.Format(time.RFC3339))
			return
		}
	}
	t.Errorf("Alertmanager holds no alert for odoo.service: %+v", a.am.Alerts(t))
}

// expectAlertResolved: after the recovery notice, the receiver is told
// the alert resolved, after it was told it fired.
func (a *amSide) expectAlertResolved(t *testing.T, within time.Duration) {
	t.Helper()
	fired, ok := a.notified("firing", 0)
	if !ok {
		t.Fatalf("the Alertmanager receiver was never told odoo.service's alert fires")
	}
	deadline := time.Now().Add(within)
	for {
		if i, ok := a.notified("resolved", fired+1); ok {
			t.Logf("Alertmanager's receiver: firing (notification %d), then resolved (notification %d)", fired, i)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("within %s of the recovery notice the Alertmanager receiver was not told the alert resolved; it got %s", within, summarize(a.recv.Got()))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func summarize(ns []testenv.Notified) string {
	var parts []string
	for _, n := range ns {
		for _, al := range n.Alerts {
			parts = append(parts, n.Status+":"+al.Labels["alertname"]+"/"+al.Status)
		}
	}
	return strings.Join(parts, ", ")
}
