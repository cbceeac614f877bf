package alertmanager

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/internal/testenv"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/notifiers/notifiertest"
	"github.com/odoo-notify/odoo-notify/report"
)

const token = "SECRETbearerAbc0123456789"

// incidentOf is r as the outbox sends it in an incident: the opening
// (firing), an update, a refresh or the recovery.
func incidentOf(r *report.Report, event string, failures int, refresh bool) *report.Report {
	c := *r
	c.Event, c.Refresh = event, refresh
	c.Incident = &report.Incident{ID: "a1b2c3d4e5f6", Opened: r.ExitedAt, Failures: failures, State: "open", Causes: fmt.Sprintf("oom-kill x%d", failures)}
	if event != report.EventFiring || refresh {
		c.Incident.Subject = "erp1: odoo.service failed (oom-kill, signal KILL)"
		c.Incident.Cause = "oom-kill"
	}
	if failures > 1 {
		c.Cause = "db-unreachable" // a later failure of another cause
	}
	if event == report.EventResolved {
		c.Incident.State = "resolved"
		c.Incident.Resolved = r.ExitedAt.Add(7 * time.Minute)
		c.Summary = "erp1: odoo.service is back: running since 09:33:00, after 3 failure(s) in 7 min (oom-kill x3)"
	}
	return &c
}

func TestAlertOfAnIncident(t *testing.T) {
	base := notifiertest.Report()
	now := base.ExitedAt.Add(2 * time.Minute)
	wantLabels := map[string]string{"alertname": "SystemdUnitFailed", "host": "erp1", "unit": "odoo.service", "cause": "oom-kill", "severity": "critical"}
	tests := []struct {
		name     string
		r        *report.Report
		endsAt   time.Time
		failures string
	}{
		{"opening", incidentOf(base, report.EventFiring, 1, false), now.Add(90 * time.Second), "1"},
		{"update of another cause", incidentOf(base, report.EventUpdate, 2, false), now.Add(90 * time.Second), "2"},
		{"refresh", incidentOf(base, report.EventFiring, 2, true), now.Add(90 * time.Second), "2"},
		{"reminder", incidentOf(base, report.EventReminder, 2, false), now.Add(90 * time.Second), "2"},
		{"recovery", incidentOf(base, report.EventResolved, 3, false), base.ExitedAt.Add(7 * time.Minute), "3"},
		{"refresh of the recovery", incidentOf(base, report.EventResolved, 3, true), base.ExitedAt.Add(7 * time.Minute), "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := AlertOf(tt.r, now)
			if fmt.Sprint(a.Labels) != fmt.Sprint(wantLabels) {
				t.Errorf("labels = %v, want %v: an alert is known by its labels, which must stay the same over the incident", a.Labels, wantLabels)
			}
			if !a.StartsAt.Equal(base.ExitedAt) || !a.EndsAt.Equal(tt.endsAt) {
				t.Errorf("startsAt %s endsAt %s, want %s and %s", a.StartsAt, a.EndsAt, base.ExitedAt, tt.endsAt)
			}
			if a.Annotations["failures"] != tt.failures || a.Annotations["summary"] != "erp1: odoo.service failed (oom-kill, signal KILL)" {
				t.Errorf("annotations = %v", a.Annotations)
			}
			if !strings.Contains(a.Annotations["description"], tt.r.Summary) {
				t.Errorf("description %q lacks the report's summary %q", a.Annotations["description"], tt.r.Summary)
			}
		})
	}
}

func TestAlertNames(t *testing.T) {
	for cause, want := range map[string]string{"hang": Hang, "degraded": Degraded, "degraded-slow-requests": Degraded, "oom-kill": UnitFailed, "db-unreachable": UnitFailed, "": UnitFailed} {
		if got := AlertName(cause); got != want {
			t.Errorf("AlertName(%q) = %q, want %q", cause, got, want)
		}
	}
	if Severity(Degraded) != "warning" || Severity(Hang) != "critical" {
		t.Errorf("severities: degraded %q, hang %q", Severity(Degraded), Severity(Hang))
	}
	test := notifiertest.Report()
	test.Test, test.Event = true, report.EventTest
	now := time.Now()
	a := AlertOf(test, now)
	if a.Labels["alertname"] != Test || a.Labels["severity"] != "info" || !a.EndsAt.Equal(now.Add(TestFor)) {
		t.Errorf("test alert = %+v", a)
	}
}

// amError is an error answer exactly as Alertmanager 0.25 writes it: a
// validation error is a JSON string, the others go-swagger's object.
var (
	ok         = notifiertest.Answer{Code: 200}
	validation = notifiertest.Answer{Code: 400, Body: `"start time must be before end time"` + "\n"}
	notFound   = notifiertest.Answer{Code: 404, Body: `{"code":404,"message":"path /api/v2/alert was not found"}`}
)

func TestNotifyAnswers(t *testing.T) {
	notifiertest.Answers(t, ok, "/api/v2/alerts", func(s *notifiertest.Server) notifiers.Notifier {
		n, err := New(config.Alertmanager{URLs: []string{s.URL}, BearerToken: token}, s.Client())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}, []notifiertest.Case{
		{Name: "ok", Answer: ok},
		{Name: "validation", Answer: validation, WantErr: "HTTP 400 Bad Request: start time must be before end time: Alertmanager refused the alert"},
		{Name: "not found", Answer: notFound, WantErr: "HTTP 404 Not Found: path /api/v2/alert was not found: no Alertmanager API v2 at this URL"},
		{Name: "proxy wants credentials", Answer: notifiertest.Answer{Code: 401, Body: "401 Authorization Required", ContentType: "text/html"}, WantErr: "HTTP 401 Unauthorized: 401 Authorization Required: the server wants credentials"},
		{Name: "unavailable", Answer: notifiertest.Answer{Code: 503, Body: "no healthy upstream", ContentType: "text/plain"}, WantRetry: true, WantErr: "HTTP 503"},
	})
}

func TestNoSecretLeaks(t *testing.T) {
	notifiertest.NoLeaks(t, "alertmanager", func(base string) notifiers.Notifier {
		n, err := New(config.Alertmanager{URLs: []string{base}, BearerToken: token}, notifiertest.Client())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}, notifiertest.Report(), token)
	notifiertest.NoLeaks(t, "alertmanager", func(base string) notifiers.Notifier {
		n, err := New(config.Alertmanager{URLs: []string{base}, Username: "odoo", Password: "SECRETpassword99"}, notifiertest.Client())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}, notifiertest.Report(), "SECRETpassword99", "b2RvbzpTRUNSRVRwYXNzd29yZDk5")
}

func notifier(t *testing.T, log *notifiertest.Log, urls ...string) *Notifier {
	t.Helper()
	n, err := New(config.Alertmanager{URLs: urls, BearerToken: token}, notifiertest.Client())
	if err != nil {
		t.Fatal(err)
	}
	if log != nil {
		n.Log = log.Logger()
	}
	return n
}

func send(t *testing.T, n *Notifier, r *report.Report) {
	t.Helper()
	if _, err := n.Notify(context.Background(), r); err != nil {
		t.Fatalf("Notify(%s): %v", r.Event, err)
	}
}

// A report of now: Alertmanager notifies of what fires now.
func fresh() *report.Report {
	r := notifiertest.Report()
	r.ExitedAt, r.Created = time.Now().Add(-time.Second), time.Now()
	return r
}

// TestIncidentThroughAlertmanager: a real Alertmanager gets the incident's
// opening, an update and the recovery; its webhook receiver is told the
// alert fires, then that it resolved.
func TestIncidentThroughAlertmanager(t *testing.T) {
	recv := testenv.NewAlertReceiver(t)
	am := testenv.StartAlertmanager(t, recv.URL, false)
	n := notifier(t, nil, am.URL)
	r := fresh()
	send(t, n, incidentOf(r, report.EventFiring, 1, false))
	firing, ok := recv.WaitFor("firing", 15*time.Second)
	if !ok {
		t.Fatalf("the receiver got no firing alert in 15 s; Alertmanager's log:\n%s", am.Log())
	}
	if l := firing.Alerts[0].Labels; l["alertname"] != "SystemdUnitFailed" || l["unit"] != "odoo.service" || l["host"] != "erp1" || l["cause"] != "oom-kill" || l["severity"] != "critical" {
		t.Errorf("firing alert labels = %v", l)
	}
	if !strings.Contains(firing.Alerts[0].Annotations["description"], "The kernel killed Odoo") {
		t.Errorf("firing alert annotations = %v", firing.Alerts[0].Annotations)
	}

	send(t, n, incidentOf(r, report.EventUpdate, 2, false))
	held := am.Alerts(t)
	if len(held) != 1 || held[0].Annotations["failures"] != "2" || held[0].Status.State != "active" {
		t.Fatalf("after an update Alertmanager holds %+v, want one active alert with failures 2: the update must not be a second alert", held)
	}
	if until := time.Until(held[0].EndsAt); until < time.Minute || until > 2*time.Minute {
		t.Errorf("endsAt is %s away, want about %s", until.Round(time.Second), Margin)
	}

	rec := incidentOf(r, report.EventResolved, 2, false)
	rec.Incident.Resolved = time.Now()
	send(t, n, rec)
	resolved, ok := recv.WaitFor("resolved", 15*time.Second)
	if !ok {
		t.Fatalf("the receiver got no resolved notification in 15 s; it got %+v", recv.Got())
	}
	if resolved.Alerts[0].Labels["unit"] != "odoo.service" {
		t.Errorf("resolved alert = %+v", resolved.Alerts[0])
	}
}

// TestSilenceKeepsTheReceiverQuiet: a silence made with amtool keeps the
// alert from the receiver; Alertmanager holds it, suppressed.
func TestSilenceKeepsTheReceiverQuiet(t *testing.T) {
	recv := testenv.NewAlertReceiver(t)
	am := testenv.StartAlertmanager(t, recv.URL, false)
	out, err := exec.Command(testenv.Amtool(t), "--alertmanager.url="+am.URL, "silence", "add", "unit=odoo.service", "host=erp1",
		"--duration=1h", "--comment=deploy", "--author=ops").CombinedOutput()
	if err != nil {
		t.Fatalf("amtool silence add: %v\n%s", err, out)
	}
	n := notifier(t, nil, am.URL)
	send(t, n, incidentOf(fresh(), report.EventFiring, 1, false))
	if got, ok := recv.WaitFor("firing", 4*time.Second); ok {
		t.Fatalf("the receiver got %+v through a silence", got)
	}
	held := am.Alerts(t)
	if len(held) != 1 || held[0].Status.State != "suppressed" || len(held[0].Status.SilencedBy) != 1 || held[0].Status.SilencedBy[0] != strings.TrimSpace(string(out)) {
		t.Fatalf("Alertmanager holds %+v, want the alert suppressed by silence %s", held, out)
	}
}

// TestOnePeerDown: of an HA pair, one is down; the other gets the alert,
// the delivery succeeds, and the down one is logged by its URL, with no
// credential.
func TestOnePeerDown(t *testing.T) {
	recv := testenv.NewAlertReceiver(t)
	a := testenv.StartAlertmanager(t, recv.URL, true)
	b := testenv.StartAlertmanager(t, recv.URL, true, a.Cluster)
	a.Stop()
	var log notifiertest.Log
	n := notifier(t, &log, a.URL, b.URL)
	send(t, n, incidentOf(fresh(), report.EventFiring, 1, false))
	if _, ok := recv.WaitFor("firing", 30*time.Second); !ok {
		t.Fatalf("the receiver got no firing alert from the live peer in 30 s; its log:\n%s", b.Log())
	}
	if held := b.Alerts(t); len(held) != 1 {
		t.Errorf("the live peer holds %d alerts, want 1", len(held))
	}
	if !strings.Contains(log.String(), "a peer did not take the alert") || !strings.Contains(log.String(), a.URL) || !strings.Contains(log.String(), "connection refused") {
		t.Errorf("the log does not name the down peer %s:\n%s", a.URL, log.String())
	}
	notifiertest.NoSecret(t, token, log.String())
}

// TestEveryPeerDown: nothing took the alert: a temporary failure naming
// every peer, and the report stays in the outbox.
func TestEveryPeerDown(t *testing.T) {
	a, b := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)), fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	retry, err := notifier(t, nil, a, b).Notify(context.Background(), incidentOf(fresh(), report.EventFiring, 1, false))
	if !retry || err == nil || !strings.Contains(err.Error(), "no peer took it") || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), b) {
		t.Fatalf("Notify = %v, %v; want a temporary error naming %s and %s", retry, err, a, b)
	}
}

// TestBody is the JSON Alertmanager gets: an array of one postableAlert.
func TestBody(t *testing.T) {
	s := notifiertest.NewServer(t, ok)
	n, err := New(config.Alertmanager{URLs: []string{s.URL + "/"}, Username: "odoo", Password: "pw-SECRET-1"}, s.Client())
	if err != nil {
		t.Fatal(err)
	}
	send(t, n, incidentOf(notifiertest.Report(), report.EventFiring, 1, false))
	req := s.Requests()[0]
	if u, p, ok := basicAuth(req.Header.Get("Authorization")); !ok || u != "odoo" || p != "pw-SECRET-1" {
		t.Errorf("Authorization = %q", req.Header.Get("Authorization"))
	}
	var alerts []map[string]json.RawMessage
	if err := json.Unmarshal(req.Body, &alerts); err != nil || len(alerts) != 1 {
		t.Fatalf("body %s: %v", req.Body, err)
	}
	for _, k := range []string{"labels", "annotations", "startsAt", "endsAt"} {
		if _, ok := alerts[0][k]; !ok {
			t.Errorf("the alert has no %s: %s", k, req.Body)
		}
	}
}

func basicAuth(h string) (user, pass string, ok bool) {
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	req.Header.Set("Authorization", h)
	return req.BasicAuth()
}

// TestAlertOfADegradedSpell: the opening of a degraded incident (cause
// degraded, as odoo-notify watch builds it) and its recovery notice (cause
// recovered, the opening's cause in the incident) are one alert,
// OdooDegraded, of severity warning.
func TestAlertOfADegradedSpell(t *testing.T) {
	at := time.Date(2026, 12, 2, 15, 35, 3, 0, time.UTC)
	open := &report.Report{Host: "erp1", Unit: "odoo.service", Cause: report.CauseDegraded, Event: report.EventFiring, Created: at,
		Summary:  "odoo.service is degraded since 15:35:03 UTC: 1 cron worker timeout (limit_time_real = 20).",
		Degraded: &report.Degraded{State: "opened", Kind: "time-real", Summary: "1 cron worker timeout (limit_time_real = 20)"},
		Incident: &report.Incident{ID: "a1b2c3d4e5f6", Opened: at, Failures: 1, State: "open", Causes: "degraded x1"}}
	back := *open
	back.Cause, back.Event, back.Degraded = "recovered", report.EventResolved, nil
	back.Incident = &report.Incident{ID: "a1b2c3d4e5f6", Opened: at, Failures: 1, State: "resolved", Causes: "degraded x1",
		Cause: report.CauseDegraded, Resolved: at.Add(20 * time.Minute), Subject: open.Subject()}
	for _, r := range []*report.Report{open, &back} {
		a := AlertOf(r, at.Add(time.Minute))
		if a.Labels["alertname"] != "OdooDegraded" || a.Labels["severity"] != "warning" || a.Labels["cause"] != report.CauseDegraded {
			t.Errorf("%s: labels %v, want alertname OdooDegraded, severity warning, cause degraded", r.Event, a.Labels)
		}
	}
}
