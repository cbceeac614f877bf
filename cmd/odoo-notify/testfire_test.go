package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/odoo-notify/odoo-notify/internal/testenv"
)

// sink is an HTTP endpoint that records what it got and answers status and
// body, as a Slack webhook or an alerting API would.
type sink struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
	heads  []http.Header
}

func newSink(t *testing.T, status int, answer string) *sink {
	s := &sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.heads = append(s.heads, r.Header.Clone())
		s.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) got() ([]string, []http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...), append([]http.Header(nil), s.heads...)
}

const (
	smtpPassword  = "hunter2-SMTP-PASSWORD"
	webhookSecret = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LTMyLWJ5dGVzLWxvbmc="
)

func testFireConfig(t *testing.T, mp *testenv.Mailpit, ca, slackURL, hookURL string) string {
	return writeFile(t, t.TempDir(), "config.toml", fmt.Sprintf(`
[general]
hostname = "erp1"
timeout = "10s"

[[email]]
name = "ops-mail"
host = "127.0.0.1"
port = %d
username = "odoo"
password = %q
ca_file = %q
from = "odoo-notify@example.com"
to = ["ops@example.com"]

[[slack]]
name = "ops-slack"
webhook_url = %q
timeout = "3s"

[[webhook]]
name = "alerts"
url = %q
secret = %q
timeout = "3s"
`, mp.Port, smtpPassword, ca, slackURL, hookURL, webhookSecret))
}

func TestTestFireDeliversEverywhere(t *testing.T) {
	cert := testenv.SelfSigned(t, "127.0.0.1")
	mp := testenv.StartMailpit(t, "--smtp-tls-cert", cert.Cert, "--smtp-tls-key", cert.Key,
		"--smtp-require-starttls", "--smtp-auth-file", testenv.AuthFile(t, "odoo", smtpPassword))
	slack := newSink(t, 200, "ok")
	hook := newSink(t, 204, "")
	cfg := testFireConfig(t, mp, cert.CA, slack.URL+"/services/T0/B0/SLACKKEY", hook.URL+"/hook")

	out, errOut, code := cli(t, nil, "test", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, ch := range []string{"email ops-mail", "slack ops-slack", "webhook alerts"} {
		if !strings.Contains(out, "ok      "+ch) {
			t.Errorf("no ok line for %s:\n%s", ch, out)
		}
	}

	mails := mp.Messages(t, 1)
	if len(mails) != 1 {
		t.Fatalf("mailpit got %d messages, want 1", len(mails))
	}
	if m := mails[0]; !strings.HasPrefix(m.Subject, "[TEST] erp1:") || !strings.Contains(m.Text, "nothing failed") || m.HTML == "" {
		t.Errorf("mail: subject %q, text has the test notice: %v, html part: %v", m.Subject, strings.Contains(m.Text, "nothing failed"), m.HTML != "")
	}

	bodies, _ := slack.got()
	if len(bodies) != 1 || !strings.Contains(bodies[0], "TEST") {
		t.Errorf("slack got %d posts, want 1 marked as a test: %v", len(bodies), bodies)
	}

	bodies, heads := hook.got()
	if len(bodies) != 1 {
		t.Fatalf("webhook got %d posts, want 1", len(bodies))
	}
	var r struct {
		Schema string `json:"schema"`
		Test   bool   `json:"test"`
		Host   string `json:"host"`
	}
	if err := json.Unmarshal([]byte(bodies[0]), &r); err != nil || r.Schema != "odoo-notify/report/v1" || !r.Test || r.Host != "erp1" {
		t.Errorf("webhook body: %+v (%v)\n%s", r, err, bodies[0])
	}
	if !testenv.VerifyWebhook(webhookSecret, heads[0], bodies[0]) {
		t.Errorf("webhook signature does not verify: %v", heads[0])
	}
}

// Every channel fails; the output says which and why, exits non-zero, and
// shows no secret.
func TestTestFireFailuresShowNoSecret(t *testing.T) {
	cert := testenv.SelfSigned(t, "127.0.0.1")
	mp := testenv.StartMailpit(t, "--smtp-tls-cert", cert.Cert, "--smtp-tls-key", cert.Key,
		"--smtp-require-starttls", "--smtp-auth-file", testenv.AuthFile(t, "odoo", "another-password"))
	slack := newSink(t, 404, "channel_not_found")
	hook := newSink(t, 400, "bad request")
	cfg := testFireConfig(t, mp, cert.CA, slack.URL+"/services/T0/B0/SLACKKEY", hook.URL+"/hook?token=HOOKTOKEN")

	out, errOut, code := cli(t, nil, "test", "--config", cfg)
	if code != exitUnavailable {
		t.Errorf("exit %d, want %d (failed for good)", code, exitUnavailable)
	}
	for _, want := range []string{"FAILED  email ops-mail", "FAILED  slack ops-slack", "channel_not_found", "FAILED  webhook alerts", "HTTP 400"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{smtpPassword, "SLACKKEY", "HOOKTOKEN", strings.TrimPrefix(webhookSecret, "whsec_")} {
		if strings.Contains(out+errOut, secret) {
			t.Errorf("secret %q shown:\nstdout:\n%s\nstderr:\n%s", secret, out, errOut)
		}
	}
	if got := mp.Messages(t, 0); len(got) != 0 {
		t.Errorf("mail delivered with a wrong password: %d", len(got))
	}
}

func TestTestFireOneChannel(t *testing.T) {
	mp := testenv.StartMailpit(t)
	slack := newSink(t, 200, "ok")
	hook := newSink(t, 204, "")
	cfg := testFireConfig(t, mp, "", slack.URL+"/services/T0/B0/SLACKKEY", hook.URL+"/hook")
	out, errOut, code := cli(t, nil, "test", "--config", cfg, "--channel", "alerts")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "ok      webhook alerts") {
		t.Errorf("exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	if b, _ := slack.got(); len(b) != 0 {
		t.Errorf("slack was sent %d posts; only the webhook was asked for", len(b))
	}
}
