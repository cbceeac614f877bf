package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/internal/testenv"
	"github.com/odoo-notify/odoo-notify/notifiers/notifiertest"
	"github.com/odoo-notify/odoo-notify/report"
)

const (
	handler      = "odoo-notify@odoo.service.service"
	hostname     = "erp-e2e"
	smtpUser     = "odoo-alerts"
	smtpPassword = "E2E-SMTP-PASSWORD-7f3a"
	slackPath    = "/services/T0E2E/B0E2E/E2ESLACKKEY9c1d"
	hookPath     = "/hooks/odoo/E2EHOOKTOKEN44b2"
	hookSecret   = "whsec_ZTJlLXNpZ25pbmcta2V5LW9mLTMyLWJ5dGVzLWxvbmch"
)

// secrets must appear in no journal line of the container.
var secrets = []string{smtpPassword, "E2ESLACKKEY9c1d", "E2EHOOKTOKEN44b2", strings.TrimPrefix(hookSecret, "whsec_"), appTokenKey}

// world is everything the scenarios share: the booted container and the
// servers on the host's loopback that stand in for the channels.
type world struct {
	m     *machine
	mail  *testenv.Mailpit
	slack *sink
	hook  *sink
	// app is a Slack app's Web API (slackapp_test.go).
	app *notifiertest.SlackAPI
	// am is a real Alertmanager (alertmanager_test.go).
	am *amSide
	// debs are the package files inside the container, by version.
	debs map[string]string
}

// TestEndToEnd installs the .deb in a booted Debian 12 and crashes a
// stand-in Odoo every way Odoo crashes, checking what each channel got.
// The subtests run in order on one container; each builds on the last.
func TestEndToEnd(t *testing.T) {
	requireTools(t)
	testenv.MailpitBinary(t)
	if _, err := exec.LookPath("lintian"); err != nil {
		t.Fatal("the end-to-end test checks the .deb with lintian: apt-get install -y lintian")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}

	// Two versions of the package, to upgrade from one to the other.
	v2 := treeVersion(t, repo)
	v1 := v2 + "~e2e1"
	dist := t.TempDir()
	debs := map[string]string{}
	for _, v := range []string{v1, v2} {
		debs[v] = buildDeb(t, repo, dist, v)
	}

	cert := testenv.SelfSigned(t, "127.0.0.1")
	w := &world{
		mail: testenv.StartMailpit(t, "--smtp-tls-cert", cert.Cert, "--smtp-tls-key", cert.Key,
			"--smtp-require-starttls", "--smtp-auth-file", testenv.AuthFile(t, smtpUser, smtpPassword)),
		slack: newSink(t, http.StatusOK, "text/plain; charset=utf-8", "ok"),
		hook:  newSink(t, http.StatusNoContent, "", ""),
		app:   notifiertest.NewSlackAPI(t, appToken),
		am:    startAlertmanager(t),
		debs:  map[string]string{},
	}
	ca, err := os.ReadFile(cert.CA)
	if err != nil {
		t.Fatal(err)
	}
	standin, err := os.ReadFile("testdata/odoo-bin")
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile("testdata/odoo.service")
	if err != nil {
		t.Fatal(err)
	}

	w.m = boot(t, func(root string) {
		for v, p := range debs {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			in := "/root/pkgs/" + filepath.Base(p)
			writeRootFile(t, root, in, string(b), 0o644)
			w.debs[v] = in
		}
		writeRootFile(t, root, "opt/odoo-standin/odoo-bin", string(standin), 0o755)
		writeRootFile(t, root, "etc/systemd/system/odoo.service", string(unit), 0o644)
		writeRootFile(t, root, "etc/odoo-standin.env", "STANDIN_MODE=traceback\n", 0o644)
		writeRootFile(t, root, "root/e2e/ca.pem", string(ca), 0o644)
		writeRootFile(t, root, "root/e2e/config.toml", channelsConfig(w), 0o644)
	})
	w.m.sh("useradd --system --user-group --no-create-home --home-dir /nonexistent odoo && systemctl daemon-reload")

	steps := []struct {
		name string
		f    func(*testing.T, *world)
	}{
		{"lintian", func(t *testing.T, _ *world) { lintian(t, debs[v2]) }},
		{"install", func(t *testing.T, w *world) { install(t, w, v1) }},
		{"fresh install reports to the journal", freshInstall},
		{"configure and test-fire", configure},
		{"python traceback", scenario("traceback", want{result: "exit-code", exitCode: "exited", exitStatus: "1", exception: "psycopg2.OperationalError",
			lines: []string{`psycopg2.OperationalError: connection to server at "localhost" (127.0.0.1), port 5432 failed: Connection refused`}})},
		{"sigkill as an oom kill looks under cgroup v1", scenario("kill", want{result: "signal", exitCode: "killed", exitStatus: "KILL", what: "signal KILL"})},
		{"sigsegv with a core dump", scenario("segv", want{result: "core-dump", exitCode: "dumped", exitStatus: "SEGV", what: "core dump, signal SEGV"})},
		{"watchdog timeout", scenario("watchdog", want{result: "watchdog", exitCode: "killed", exitStatus: "ABRT", what: "watchdog, signal ABRT"})},
		{"upgrade keeps the edited config", func(t *testing.T, w *world) { upgrade(t, w, v2) }},
		{"crash loop to the start limit", crashLoop},
		{"a crash systemd restarts is heard by the hook", restartedCrash},
		{"nothing left in the outbox", outboxEmpty},
		{"no secret in the journal", noSecretInJournal},
		{"disable", disable},
		{"remove and purge leave the system clean", removeAndPurge},
	}
	// A failed step stops the test only when the next ones need what it
	// makes; other failures are reported and the test goes on.
	critical := map[string]bool{"install": true, "configure and test-fire": true}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.f(t, w) }) {
			t.Logf("odoo-notify's journal:\n%s", w.m.sh("journalctl -q --no-pager -o short-precise -u 'odoo-notify*' -n 40 || true"))
			if critical[s.name] {
				t.FailNow()
			}
		}
	}
}

// thePackage builds the .deb of this tree, at the version
// packaging/version.sh gives, and returns the repository's root, the .deb's
// path and its bytes.
func thePackage(t testing.TB) (repo, deb string, pkg []byte) {
	t.Helper()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	deb = buildDeb(t, repo, t.TempDir(), treeVersion(t, repo))
	if pkg, err = os.ReadFile(deb); err != nil {
		t.Fatal(err)
	}
	return repo, deb, pkg
}

// treeVersion is the version packaging/version.sh gives this tree.
func treeVersion(t testing.TB, repo string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(repo, "packaging/version.sh")).Output()
	if err != nil {
		t.Fatalf("packaging/version.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// buildDeb runs `make deb` as a developer would, with a given version.
func buildDeb(t testing.TB, repo, dist, version string) string {
	t.Helper()
	cmd := exec.Command("make", "-C", repo, "deb", "DIST="+dist, "VERSION="+version)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make deb VERSION=%s: %v\n%s", version, err, tail(out, 30))
	}
	p := filepath.Join(dist, "odoo-notify_"+version+"_amd64.deb")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("make deb did not make %s: %v", p, err)
	}
	return p
}

func lintian(t *testing.T, deb string) {
	out, err := exec.Command("lintian", "--fail-on", "error,warning", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("lintian finds errors or warnings in %s: %v\n%s", filepath.Base(deb), err, out)
	}
}

func channelsConfig(w *world) string {
	return fmt.Sprintf(`# edited by the admin
[general]
hostname = %q
timeout = "30s"

[limits]
# Every scenario fails differently, but the upgrade repeats one.
dedup_window = "1s"
max_reports = 100

[incidents]
# A unit back for 3 s is back: the restarted crash waits for its recovery.
stable_after = "3s"

[[email]]
name = "ops-mail"
host = "127.0.0.1"
port = %d
security = "starttls"
ca_file = "/etc/odoo-notify/e2e-ca.pem"
username = %q
password_file = "/etc/odoo-notify/smtp-password"
from = "odoo-notify@erp-e2e.example.com"
to = ["ops@example.com"]

[[slack]]
name = "ops-slack"
webhook_url = "%s%s"

[[webhook]]
name = "alerts"
url = "%s%s"
secret = %q
`, hostname, w.mail.Port, smtpUser, w.slack.URL, slackPath, w.hook.URL, hookPath, hookSecret) + w.am.config() + slackAppConfig(w)
}

// install installs a version with apt, so its dependencies resolve from the
// Debian mirror as on a real server.
func install(t *testing.T, w *world, version string) {
	m := w.m
	m.sh("apt-get update -qq")
	out := m.sh("apt-get install -y --no-install-recommends " + w.debs[version] + " 2>&1")
	if !strings.Contains(out, "Setting up odoo-notify ("+version+")") {
		t.Errorf("apt-get install did not set up odoo-notify %s:\n%s", version, out)
	}
	if got := m.sh("odoo-notify version"); !strings.HasPrefix(got, "odoo-notify "+version+" ") {
		t.Errorf("odoo-notify version = %q, want %s", got, version)
	}
	checkInstalled(t, m)
	tell("installed odoo-notify %s from its .deb on Debian 12 with systemd %s, booted in a container; odoo.service is a stand-in Odoo that crashes on demand",
		version, strings.TrimSpace(m.sh("systemctl --version | sed -n '1s/^systemd \\([0-9]*\\).*/\\1/p'")))

	// The shipped config configures no channel and must load as it is.
	if out, code := m.exitStatus("odoo-notify check-config 2>&1"); code != 0 {
		t.Errorf("check-config on the shipped config: exit %d\n%s", code, out)
	}
	for _, u := range []string{handler, "odoo-notify-flush.service"} {
		out := m.sh("systemd-analyze security " + u + " 2>&1 | tail -n 1")
		mm := regexp.MustCompile(`exposure level for \S+: ([0-9.]+)`).FindStringSubmatch(out)
		if mm == nil {
			t.Fatalf("systemd-analyze security %s: no exposure level in %q", u, out)
		}
		if level, _ := strconv.ParseFloat(mm[1], 64); level > 2.0 {
			t.Errorf("systemd-analyze security %s rates it %.1f, want 2.0 or better", u, level)
		}
		t.Logf("systemd-analyze security %s: %s", u, mm[1])
	}
}

// checkInstalled checks what an install or upgrade must leave behind.
func checkInstalled(t *testing.T, m *machine) {
	t.Helper()
	checks := []struct{ script, want string }{
		{"systemctl is-enabled odoo-notify-flush.timer", "enabled\n"},
		{"systemctl is-active odoo-notify-flush.timer", "active\n"},
		{"stat -c '%U:%G %a' /etc/odoo-notify/config.toml", "root:odoo-notify 640\n"},
		{"getent passwd odoo-notify | cut -d: -f6,7", "/nonexistent:/usr/sbin/nologin\n"},
		{"dpkg-query -W -f '${Conffiles}' odoo-notify | awk '{print $1}'", "/etc/odoo-notify/config.toml\n"},
		{"systemctl show -p User,StateDirectory,StartLimitIntervalUSec,Type " + handler,
			"Type=oneshot\nUser=odoo-notify\nStateDirectory=odoo-notify\nStartLimitIntervalUSec=0\n"},
		{"systemctl show -p SupplementaryGroups --value " + handler + " | tr ' ' '\\n' | grep -x systemd-journal", "systemd-journal\n"},
		{"systemctl show -p OnFailure " + handler, "OnFailure=\n"},
		{"test -f /usr/share/man/man1/odoo-notify.1.gz && test -f /usr/share/doc/odoo-notify/copyright && echo docs", "docs\n"},
	}
	for _, c := range checks {
		if got, _ := m.exitStatus(c.script + " 2>&1"); got != c.want {
			t.Errorf("%s:\n%q\nwant\n%q", c.script, got, c.want)
		}
	}
}

// freshInstall: before anyone edits the config, a crash is reported to the
// journal, and the handler ends well.
func freshInstall(t *testing.T, w *world) {
	m := w.m
	out := m.sh("odoo-notify enable odoo.service")
	want := "wrote /etc/systemd/system/odoo.service.d/odoo-notify.conf:\n"
	if !strings.HasPrefix(out, want) || !strings.Contains(out, "odoo.service now reports its failures through "+handler) {
		t.Errorf("odoo-notify enable printed:\n%s\nwant it to start with %q and confirm the handler", out, want)
	}
	if got := m.sh("systemctl show -p OnFailure odoo.service"); got != "OnFailure="+handler+"\n" {
		t.Errorf("after enable: %q", got)
	}
	// odoo.service runs as odoo: the handler may read its files as group odoo.
	if !strings.Contains(out, "wrote /etc/systemd/system/"+handler+".d/odoo-notify.conf:\n") {
		t.Errorf("enable did not give the handler group odoo:\n%s", out)
	}
	if got := m.sh("systemctl show -p SupplementaryGroups " + handler); got != "SupplementaryGroups=systemd-journal odoo\n" {
		t.Errorf("handler after enable: %q", got)
	}
	if again := m.sh("odoo-notify enable odoo.service"); !strings.HasPrefix(again, "odoo.service is already enabled: ") {
		t.Errorf("enable again printed:\n%s", again)
	}

	tell("odoo-notify enable odoo.service: its drop-in adds OnFailure= and the ExecStopPost= hook; no channel is configured yet, so the next crash is reported to the journal only")
	run := crash(t, w, "traceback", 60*time.Second)
	if i := strings.Index(run.journal, "no channel is configured"); i >= 0 {
		fmt.Fprintf(story, "   journal  %s\n", firstLine(run.journal[i:]))
	}
	for _, s := range []string{"no channel is configured", "odoo.service", "psycopg2.OperationalError: connection to server", run.marker} {
		if !strings.Contains(run.journal, s) {
			t.Errorf("the handler's journal does not say %q:\n%s", s, run.journal)
		}
	}
	w.expectNothing(t)
}

// configure is the admin's path: edit the config, then `odoo-notify test`.
func configure(t *testing.T, w *world) {
	m := w.m
	m.sh(`install -m 0644 /root/e2e/ca.pem /etc/odoo-notify/e2e-ca.pem &&
		printf '%s\n' '` + smtpPassword + `' > /etc/odoo-notify/smtp-password &&
		chgrp odoo-notify /etc/odoo-notify/smtp-password && chmod 0640 /etc/odoo-notify/smtp-password &&
		cat /root/e2e/config.toml > /etc/odoo-notify/config.toml`)
	if out, code := m.exitStatus("odoo-notify check-config 2>&1"); code != 0 {
		t.Fatalf("check-config: exit %d\n%s", code, out)
	}
	out, code := m.exitStatus("odoo-notify test 2>&1")
	if code != 0 {
		t.Fatalf("odoo-notify test: exit %d\n%s", code, out)
	}
	tell("configured three channels in /etc/odoo-notify/config.toml: email (SMTP with STARTTLS, to mailpit), a Slack webhook, a generic webhook; odoo-notify test sends a test report to each")
	mails := w.mail.Messages(t, 1)
	slack, hook := w.slack.take(), w.hook.take()
	if len(mails) == 1 && len(slack) == 1 && len(hook) == 1 {
		var rep report.Report
		_ = json.Unmarshal([]byte(hook[0].Body), &rep)
		tellReceived(mails[0], slack[0].Body, rep)
	}
	if len(mails) != 1 || len(slack) != 1 || len(hook) != 1 {
		t.Fatalf("test-fire: %d mails, %d Slack posts, %d webhook posts, want one of each", len(mails), len(slack), len(hook))
	}
	if !strings.HasPrefix(mails[0].Subject, "[TEST] "+hostname+": ") {
		t.Errorf("test mail subject %q", mails[0].Subject)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(hook[0].Body), &rep); err != nil || !rep.Test {
		t.Errorf("test webhook: test=%v, %v: %s", rep.Test, err, hook[0].Body)
	}
	w.deleteMail(t)
}

// want is what every channel must say about one failed run.
type want struct {
	result, exitCode, exitStatus string
	// what is how the subject says what happened; empty when the
	// exception says it.
	what string
	// lines must be among the report's lines.
	lines []string
	// exception is the Python exception's type, when the run ended in one.
	exception string
}

// handlerRun is one crash of odoo.service and the handler run it started.
type handlerRun struct {
	marker            string
	handlerInvocation string
	// journal is what the handler run logged.
	journal string
}

// crash makes odoo.service end the way mode says and waits for the handler
// run that follows, which must end well.
func crash(t *testing.T, w *world, mode string, timeout time.Duration) handlerRun {
	t.Helper()
	m := w.m
	run := handlerRun{marker: fmt.Sprintf("%s-%d", mode, time.Now().UnixNano())}
	before := m.props(handler, "InvocationID")["InvocationID"]
	tell("crash: %s", crashes[mode])
	m.sh(fmt.Sprintf(`printf 'STANDIN_MODE=%s\nSTANDIN_RUN=%s\n' > /etc/odoo-standin.env &&
		systemctl reset-failed odoo.service; systemctl start --no-block odoo.service`, mode, run.marker))
	deadline := time.Now().Add(timeout)
	for {
		p := m.props(handler, "InvocationID", "ActiveState", "Result", "ExecMainStatus")
		if id := p["InvocationID"]; id != "" && id != before && (p["ActiveState"] == "inactive" || p["ActiveState"] == "failed") {
			if p["Result"] != "success" || p["ExecMainStatus"] != "0" {
				t.Errorf("the handler did not end well: Result=%s ExecMainStatus=%s\n%s", p["Result"], p["ExecMainStatus"],
					m.sh("journalctl -q --no-pager -o cat _SYSTEMD_INVOCATION_ID="+id))
			}
			// A run that went well logs no warning and no error, except the
			// one that says no channel is configured yet.
			j := m.sh("journalctl -q --no-pager -o cat _SYSTEMD_INVOCATION_ID=" + id)
			for _, l := range strings.Split(j, "\n") {
				if (strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR")) && !strings.Contains(l, `msg="no channel is configured`) {
					t.Errorf("the handler warned: %s", l)
				}
			}
			run.handlerInvocation = id
			run.journal = j
			settle(m)
			return run
		}
		if time.Now().After(deadline) {
			t.Fatalf("no handler run ended within %s of the crash; odoo.service: %v\n%s", timeout,
				m.props("odoo.service", "ActiveState", "Result", "NRestarts"),
				m.sh("journalctl -q --no-pager -n 40 -o short-precise"))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// settle waits until no handler run is queued or running: the hook and
// OnFailure= may both start the handler for one crash, and the second run
// (which finds the run reported and sends nothing) must not be taken for
// the next crash's.
func settle(m *machine) {
	for i := 0; i < 40; i++ {
		time.Sleep(250 * time.Millisecond)
		jobs := m.sh("systemctl list-jobs --no-legend 2>/dev/null | grep -c odoo-notify@ || true")
		state := m.props(handler, "ActiveState")["ActiveState"]
		if strings.TrimSpace(jobs) == "0" && state != "activating" && state != "active" {
			return
		}
	}
}

// props reads unit properties with systemctl show.
func (m *machine) props(unit string, names ...string) map[string]string {
	m.t.Helper()
	args := ""
	for _, n := range names {
		args += " -p " + n
	}
	out := m.sh("systemctl show" + args + " " + unit)
	p := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			p[k] = v
		}
	}
	return p
}

func scenario(mode string, wt want) func(*testing.T, *world) {
	return func(t *testing.T, w *world) {
		run := crash(t, w, mode, 60*time.Second)
		w.expectReport(t, run, wt)
	}
}

// expectReport checks that every channel got exactly one report of the run,
// saying the right unit, result and exit status, with the failed run's lines.
func (w *world) expectReport(t *testing.T, run handlerRun, wt want) report.Report {
	t.Helper()
	mails := w.mail.Messages(t, 1)
	slack, hook := w.slack.take(), w.hook.take()
	defer w.deleteMail(t)
	if len(mails) != 1 || len(slack) != 1 || len(hook) != 1 {
		t.Fatalf("%d mails, %d Slack posts, %d webhook posts, want one of each", len(mails), len(slack), len(hook))
	}

	// The webhook gets the report's JSON: check its facts exactly.
	h := hook[0]
	if h.Path != hookPath {
		t.Errorf("webhook path %q, want %q", h.Path, hookPath)
	}
	if !testenv.VerifyWebhook(hookSecret, h.Header, h.Body) {
		t.Errorf("the webhook's Standard Webhooks signature does not verify: %v", h.Header)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(h.Body), &rep); err != nil {
		t.Fatalf("webhook body is not the report's JSON: %v\n%s", err, h.Body)
	}
	t.Logf("the webhook got: unit=%s result=%s exit=%s/%s n_restarts=%d state_source=%s lines=%d crashes=%d\nsubject: %s",
		rep.Unit, rep.Result, rep.ExitCode, rep.ExitStatus, rep.NRestarts, rep.StateSource, len(rep.Lines), len(rep.Crashes), rep.Subject())
	if rep.Unit != "odoo.service" || rep.Host != hostname || rep.Test {
		t.Errorf("report names unit %q on %q (test=%v), want odoo.service on %s", rep.Unit, rep.Host, rep.Test, hostname)
	}
	if rep.Result != wt.result || rep.ExitCode != wt.exitCode || rep.ExitStatus != wt.exitStatus {
		t.Errorf("report says result=%s exit_code=%s exit_status=%s, want %s %s %s",
			rep.Result, rep.ExitCode, rep.ExitStatus, wt.result, wt.exitCode, wt.exitStatus)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(rep.InvocationID) {
		t.Errorf("report invocation_id %q, want the failed run's 32 hex digits", rep.InvocationID)
	}
	switch {
	case wt.exception == "" && rep.Exception != nil:
		t.Errorf("report names an exception for a run that ended without one: %+v", rep.Exception)
	case wt.exception != "" && (rep.Exception == nil || rep.Exception.Type != wt.exception):
		t.Errorf("report exception %+v, want %s", rep.Exception, wt.exception)
	}
	// The stand-in logs its run marker and its invocation ID: the report's
	// lines must be the failed run's own, and no other run's.
	own := fmt.Sprintf("(stand-in run %s, invocation %s)", run.marker, rep.InvocationID)
	var text []string
	for _, l := range rep.Lines {
		text = append(text, l.Message)
		if strings.Contains(l.Message, "stand-in run ") && !strings.Contains(l.Message, run.marker) {
			t.Errorf("report holds a line of another run: %q", l.Message)
		}
	}
	all := strings.Join(text, "\n")
	for _, s := range append([]string{own}, wt.lines...) {
		if !strings.Contains(all, s) {
			t.Errorf("report lines do not hold %q:\n%s", s, all)
		}
	}

	// The mail and the Slack message say the same to a person.
	mail := mails[0]
	if len(mail.To) != 1 || mail.To[0].Address != "ops@example.com" {
		t.Errorf("mail to %v, want ops@example.com", mail.To)
	}
	// The first failure opens an incident; the next ones are its updates,
	// whose mail subject is the opening's with [UPDATE], so a mail client
	// shows one conversation, and whose text says this failure.
	if rep.Incident == nil || (rep.Event != "firing" && rep.Event != "update") {
		t.Errorf("report event %q, incident %+v: want firing or update of an incident", rep.Event, rep.Incident)
	}
	title := strings.TrimPrefix(rep.Title(), "[UPDATE] ")
	if !strings.HasPrefix(title, hostname+": odoo.service ") || mail.Subject != rep.Subject() {
		t.Errorf("mail subject %q, want %q (title %q)", mail.Subject, rep.Subject(), title)
	}
	if wt.what != "" && !strings.Contains(title, "("+wt.what+")") {
		t.Errorf("report title %q does not say %q", title, wt.what)
	}
	if rep.Event == "update" && (!strings.HasPrefix(mail.Subject, "[UPDATE] ") || (rep.Title() != rep.Subject() && !strings.Contains(mail.Text, "This failure: "+title))) {
		t.Errorf("an update's mail: subject %q, and its text does not say \"This failure: %s\"", mail.Subject, title)
	}
	for _, s := range []string{own, rep.InvocationID} {
		if !strings.Contains(mail.Text, s) {
			t.Errorf("mail text does not hold %q:\n%s", s, mail.Text)
		}
	}
	s := slack[0]
	if s.Path != slackPath {
		t.Errorf("Slack path %q, want %q", s.Path, slackPath)
	}
	var sm struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal([]byte(s.Body), &sm); err != nil {
		t.Errorf("Slack body is not JSON: %v\n%s", err, s.Body)
	}
	for _, part := range []string{"odoo.service", hostname, run.marker} {
		if !strings.Contains(s.Body, part) {
			t.Errorf("Slack message does not hold %q:\n%s", part, s.Body)
		}
	}
	t.Logf("the mail got:\nSubject: %s\n\n%s", mail.Subject, mail.Text)
	t.Logf("Slack got: %s", s.Body)
	tellReceived(mail, s.Body, rep)
	return rep
}

// expectNothing checks that no channel got anything.
func (w *world) expectNothing(t *testing.T) {
	t.Helper()
	var list struct{ Messages []testenv.Received }
	w.mail.Get(t, "/api/v1/messages", &list)
	if n, s, h := len(list.Messages), len(w.slack.take()), len(w.hook.take()); n+s+h > 0 {
		t.Errorf("channels got %d mails, %d Slack posts, %d webhook posts, want none", n, s, h)
	}
}

func (w *world) deleteMail(t *testing.T) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, w.mail.API+"/api/v1/messages", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("mailpit: delete messages: %v", err)
	}
	resp.Body.Close()
}

// upgrade installs the next version over an edited config: the edit stays.
func upgrade(t *testing.T, w *world, version string) {
	m := w.m
	m.sh("echo '# the admin was here' >> /etc/odoo-notify/config.toml")
	before := m.sh("sha256sum /etc/odoo-notify/config.toml")
	// A drop-in as the version before the hook wrote it.
	m.sh(`printf '%s\n' '# Written by odoo-notify enable; ` + "`odoo-notify disable odoo.service`" + ` removes it.' \
		'# odoo-notify enable odoo.service' '[Unit]' 'OnFailure=odoo-notify@%n.service' > /etc/systemd/system/odoo.service.d/odoo-notify.conf && systemctl daemon-reload`)
	out := m.sh("apt-get install -y --no-install-recommends " + w.debs[version] + " 2>&1")
	if !strings.Contains(out, "Unpacking odoo-notify ("+version+") over (") {
		t.Errorf("apt-get did not upgrade to %s:\n%s", version, out)
	}
	if after := m.sh("sha256sum /etc/odoo-notify/config.toml"); after != before {
		t.Errorf("the upgrade changed the edited config:\n%s", m.sh("cat /etc/odoo-notify/config.toml"))
	}
	if got := m.sh("odoo-notify version"); !strings.HasPrefix(got, "odoo-notify "+version+" ") {
		t.Errorf("after the upgrade odoo-notify version = %q, want %s", got, version)
	}
	checkInstalled(t, m)
	if got := m.sh("systemctl show -p OnFailure odoo.service"); got != "OnFailure="+handler+"\n" {
		t.Errorf("after the upgrade odoo.service has %q", got)
	}
	if got := m.sh("systemctl show -p ExecStopPost odoo.service"); !strings.Contains(got, "/usr/bin/odoo-notify") || !strings.Contains(got, "hook") {
		t.Errorf("the upgrade did not add the hook to the older drop-in: %q\n%s", got, m.sh("cat /etc/systemd/system/odoo.service.d/odoo-notify.conf"))
	}
	// Still delivering.
	run := crash(t, w, "traceback", 60*time.Second)
	w.expectReport(t, run, want{result: "exit-code", exitCode: "exited", exitStatus: "1", exception: "psycopg2.OperationalError"})
}

// crashLoop: with the restart policy most Odoo servers want, systemd 252
// restarts the crashes and starts OnFailure= once, at the start limit. The
// hook reports every run of the loop as an update of the open incident, and
// the start limit's OnFailure= run adds no second report of the last one.
func crashLoop(t *testing.T, w *world) {
	m := w.m
	out := m.sh("odoo-notify enable odoo.service --restart")
	if !strings.Contains(out, "Restart=on-failure\n") || !strings.Contains(out, "StartLimitBurst=5\n") || !strings.Contains(out, "ExecStopPost=+-/usr/bin/odoo-notify hook %n\n") {
		t.Errorf("enable --restart printed:\n%s", out)
	}
	if got := m.props("odoo.service", "Restart", "StartLimitBurst"); got["Restart"] != "on-failure" || got["StartLimitBurst"] != "5" {
		t.Errorf("after enable --restart odoo.service has %v", got)
	}
	// The upgrade step's crash failed the same way a moment ago: past the
	// 1 s dedup_window, every run of the loop is reported, none held.
	time.Sleep(1500 * time.Millisecond)
	marker := fmt.Sprintf("loop-%d", time.Now().UnixNano())
	m.sh(fmt.Sprintf(`printf 'STANDIN_MODE=traceback\nSTANDIN_RUN=%s\n' > /etc/odoo-standin.env &&
		systemctl reset-failed odoo.service; systemctl start --no-block odoo.service`, marker))
	for deadline := time.Now().Add(120 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		p := m.props("odoo.service", "ActiveState", "NRestarts")
		if p["ActiveState"] == "failed" && p["NRestarts"] == "5" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the loop did not reach the start limit: %v\n%s", p, m.sh("journalctl -q --no-pager -n 30 -o short-precise"))
		}
	}
	settle(m)
	time.Sleep(time.Second)
	settle(m)

	ids := regexp.MustCompile(`\(stand-in run `+regexp.QuoteMeta(marker)+`, invocation ([0-9a-f]{32})\)`).
		FindAllStringSubmatch(m.sh("journalctl -q --no-pager -o cat -u odoo.service"), -1)
	if len(ids) != 5 {
		t.Fatalf("the stand-in ran %d times in the loop, want 5", len(ids))
	}
	hook, slack := w.hook.take(), w.slack.take()
	var list struct{ Messages []testenv.Received }
	w.mail.Get(t, "/api/v1/messages", &list)
	w.deleteMail(t)
	// systemd 252 keeps the last run's result when the start limit stops
	// the loop: its OnFailure= run is that run's, and adds nothing. A
	// systemd that says start-limit-hit gets one more update.
	if len(hook) < 5 || len(hook) > 6 || len(slack) != len(hook) || len(list.Messages) != len(hook) {
		t.Fatalf("the loop of 5 runs gave %d webhook posts, %d Slack posts, %d mails: want one report per run on each, and at most the start limit's update",
			len(hook), len(slack), len(list.Messages))
	}
	seen := map[string]int{}
	failures, first := 0, 0
	for _, h := range hook {
		var rep report.Report
		if err := json.Unmarshal([]byte(h.Body), &rep); err != nil {
			t.Fatalf("webhook body: %v", err)
		}
		if rep.Result == "start-limit-hit" {
			// No process ran: the update says the loop stopped, and
			// counts no failure of its own.
			if rep.Event != "update" || rep.Incident == nil || rep.Incident.Failures != failures || !strings.Contains(rep.Summary, "stopped restarting") {
				t.Errorf("the start limit's report: event %q incident %+v summary %q, want an update counting the %d failures before it", rep.Event, rep.Incident, rep.Summary, failures)
			}
			continue
		}
		if first == 0 && rep.Incident != nil {
			first = rep.Incident.Failures
		}
		seen[rep.InvocationID]++
		if rep.Event != "update" || rep.Incident == nil || rep.Incident.Failures <= failures {
			t.Errorf("run %s: event %q incident %+v, want an update counting one more failure", rep.InvocationID, rep.Event, rep.Incident)
		} else {
			failures = rep.Incident.Failures
		}
		if rep.Exception == nil || rep.Exception.Type != "psycopg2.OperationalError" {
			t.Errorf("run %s: exception %+v", rep.InvocationID, rep.Exception)
		}
	}
	for _, id := range ids {
		if seen[id[1]] != 1 {
			t.Errorf("run %s of the loop was reported %d times, want once", id[1], seen[id[1]])
		}
	}
	if failures-first != 4 {
		t.Errorf("the incident counted %d failures over the loop's 5 runs (from %d to %d)", failures-first+1, first, failures)
	}
	st, _ := m.exitStatus("odoo-notify status odoo.service")
	if !strings.Contains(st, "odoo.service: failed/failed") || !strings.Contains(st, "incident ") ||
		!strings.Contains(st, fmt.Sprintf(" %d failure(s)", failures)) || strings.Contains(st, "last start-limit-hit") {
		t.Errorf("status after the start limit stopped the loop, want %d failure(s) and the runs' own last cause:\n%s", failures, st)
	}
	time.Sleep(2 * time.Second)
	w.expectNothing(t)
}

// restartedCrash: with Restart=, systemd 252 does not start OnFailure= for a
// crash it restarts; the hook that enable --hook adds reports it all the
// same, and a clean stop reports nothing.
func restartedCrash(t *testing.T, w *world) {
	m := w.m
	out := m.sh("odoo-notify enable odoo.service --restart")
	if !strings.Contains(out, "ExecStopPost=+-/usr/bin/odoo-notify hook %n\n") && !strings.Contains(out, "already enabled") {
		t.Fatalf("enable printed:\n%s", out)
	}
	if p := m.props("odoo.service", "Restart", "ExecStopPost"); p["Restart"] != "on-failure" || !strings.Contains(p["ExecStopPost"], "odoo-notify") {
		t.Errorf("after enable --restart --hook odoo.service has %v", p)
	}
	before := m.props("odoo.service", "NRestarts")["NRestarts"]
	tell("odoo.service now has Restart=on-failure: systemd restarts it after a crash, and its ExecStopPost= hook reports the crash")
	run := crash(t, w, "kill", 60*time.Second)
	defer func() {
		if t.Failed() {
			t.Logf("odoo.service's journal:\n%s", m.sh("journalctl -q --no-pager -o short-precise -u odoo.service -n 25"))
		}
	}()
	m.sh("printf 'STANDIN_MODE=serve\n' > /etc/odoo-standin.env")
	w.expectReport(t, run, want{result: "signal", exitCode: "killed", exitStatus: "KILL", what: "signal KILL"})
	w.am.expectAlertFiring(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := m.props("odoo.service", "ActiveState", "NRestarts")
		if p["ActiveState"] == "active" && p["NRestarts"] != before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("odoo.service was not restarted: %v", p)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if left, _ := m.exitStatus("ls -A /var/lib/odoo-notify/failed"); strings.TrimSpace(left) != "" {
		t.Errorf("the hook's record stays after the handler reported the run: %s", left)
	}
	// Back and stable for stable_after (3 s): the flush timer (every 30 s)
	// sends one recovery notice, within stable_after + 60 s.
	tell("systemd restarted odoo.service and it stays up: waiting for the flush timer's recovery notice (stable_after = 3s here)")
	w.expectRecovery(t, 63*time.Second)
	w.am.expectAlertResolved(t, 15*time.Second)
	w.expectSlackAppThread(t)
	if out, code := m.exitStatus("systemctl start odoo-notify-flush.service 2>&1"); code != 0 {
		t.Errorf("a flush after the recovery failed: %s\n%s", out, m.sh("journalctl -q --no-pager -o cat -u odoo-notify-flush.service -n 30"))
	}
	w.expectNothing(t)
	if out, code := m.exitStatus("odoo-notify status odoo.service"); code != 0 || !strings.Contains(out, "no open incident") {
		t.Errorf("status after the recovery (exit %d):\n%s", code, out)
	}
	m.sh("systemctl stop odoo.service")
	time.Sleep(2 * time.Second)
	w.expectNothing(t)
	m.sh("odoo-notify enable odoo.service --restart")
}

// expectRecovery waits for one recovery notice on every channel.
func (w *world) expectRecovery(t *testing.T, within time.Duration) {
	t.Helper()
	var slack, hook []request
	var mails []testenv.Received
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && (len(slack) == 0 || len(hook) == 0 || len(mails) == 0) {
		time.Sleep(time.Second)
		slack, hook = append(slack, w.slack.take()...), append(hook, w.hook.take()...)
		var list struct{ Messages []testenv.Received }
		w.mail.Get(t, "/api/v1/messages", &list)
		mails = list.Messages
	}
	defer w.deleteMail(t)
	if len(mails) != 1 || len(slack) != 1 || len(hook) != 1 {
		t.Fatalf("within %s of the restart: %d mails, %d Slack posts, %d webhook posts, want one recovery notice each\n%s", within, len(mails), len(slack), len(hook),
			w.m.sh("journalctl -q --no-pager -o cat -u odoo-notify-flush.service -n 20"))
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(hook[0].Body), &rep); err != nil {
		t.Fatalf("webhook body: %v\n%s", err, hook[0].Body)
	}
	if rep.Event != "resolved" || rep.Incident == nil || rep.Incident.State != "resolved" || rep.Incident.Failures < 2 {
		t.Errorf("webhook got event %q incident %+v, want a resolved incident of several failures", rep.Event, rep.Incident)
	}
	if !strings.Contains(rep.Summary, hostname+": odoo.service is back: running since ") {
		t.Errorf("recovery summary %q", rep.Summary)
	}
	if !strings.HasPrefix(mails[0].Subject, "[RESOLVED] "+hostname+": odoo.service ") {
		t.Errorf("recovery mail subject %q", mails[0].Subject)
	}
	if !strings.Contains(slack[0].Body, "Resolved") || !strings.Contains(slack[0].Body, rep.Incident.ID) {
		t.Errorf("Slack's recovery does not name the incident:\n%s", slack[0].Body)
	}
	t.Logf("the recovery notice: %s\n%s", mails[0].Subject, rep.Summary)
	if full := w.mail.Messages(t, 1); len(full) == 1 {
		tellReceived(full[0], slack[0].Body, rep)
	}
}

// outboxEmpty: every report was delivered, so flush has nothing to do.
func outboxEmpty(t *testing.T, w *world) {
	m := w.m
	if out, code := m.exitStatus("systemctl start odoo-notify-flush.service 2>&1"); code != 0 {
		t.Errorf("odoo-notify-flush.service failed: %s\n%s", out, m.sh("journalctl -q --no-pager -o cat -u odoo-notify-flush.service -n 20"))
	}
	if r := m.props("odoo-notify-flush.service", "Result")["Result"]; r != "success" {
		t.Errorf("odoo-notify-flush.service Result=%s", r)
	}
	if left := m.sh("find /var/lib/odoo-notify -path '*outbox*' -type f"); left != "" {
		t.Errorf("left in the outbox:\n%s", left)
	}
	w.expectNothing(t)
}

func noSecretInJournal(t *testing.T, w *world) {
	journal := w.m.sh("journalctl -q --no-pager -o verbose")
	for _, s := range secrets {
		if strings.Contains(journal, s) {
			t.Errorf("the journal holds a secret (%.6s...)", s)
		}
	}
}

// disable: the drop-in goes, and a crash no longer starts the handler.
func disable(t *testing.T, w *world) {
	m := w.m
	out := m.sh("odoo-notify disable odoo.service")
	want := "removed /etc/systemd/system/odoo.service.d/odoo-notify.conf\nremoved /etc/systemd/system/" + handler + ".d/odoo-notify.conf\nreloaded systemd\nodoo.service no longer reports its failures through odoo-notify\n"
	if out != want {
		t.Errorf("disable printed:\n%s\nwant:\n%s", out, want)
	}
	if got := m.sh("systemctl show -p OnFailure,Restart odoo.service"); got != "Restart=no\nOnFailure=\n" {
		t.Errorf("after disable: %q", got)
	}
	if got := m.sh("systemctl show -p SupplementaryGroups " + handler); got != "SupplementaryGroups=systemd-journal\n" {
		t.Errorf("handler after disable: %q", got)
	}
	before := m.props(handler, "InvocationID")["InvocationID"]
	m.sh("printf 'STANDIN_MODE=kill\\n' > /etc/odoo-standin.env && systemctl reset-failed odoo.service; systemctl start --no-block odoo.service")
	for i := 0; m.props("odoo.service", "ActiveState")["ActiveState"] != "failed"; i++ {
		if i > 100 {
			t.Fatal("odoo.service did not fail")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	if after := m.props(handler, "InvocationID")["InvocationID"]; after != before {
		t.Errorf("a crash after disable started the handler")
	}
	w.expectNothing(t)
	if again := m.sh("odoo-notify disable odoo.service"); !strings.HasPrefix(again, "odoo.service is not enabled: ") {
		t.Errorf("disable again printed %q", again)
	}
}

// removeAndPurge: remove keeps the config, purge leaves nothing of the
// package, the drop-ins enable wrote included.
func removeAndPurge(t *testing.T, w *world) {
	m := w.m
	m.sh("odoo-notify enable odoo.service")
	m.sh("apt-get remove -y odoo-notify 2>&1")
	checks := []struct{ script, want string }{
		{"test -e /usr/bin/odoo-notify || echo gone", "gone\n"},
		{"test -e /usr/lib/systemd/system/odoo-notify@.service || echo gone", "gone\n"},
		{"test -f /etc/odoo-notify/config.toml && echo kept", "kept\n"},
		{"systemctl is-active odoo-notify-flush.timer", "inactive\n"},
	}
	for _, c := range checks {
		if got, _ := m.exitStatus(c.script + " 2>&1"); got != c.want {
			t.Errorf("after remove, %s: %q, want %q", c.script, got, c.want)
		}
	}
	// The drop-in stays until purge; its hook, with the binary gone, must
	// neither fail the unit nor hold up its stop and start.
	m.sh("printf 'STANDIN_MODE=serve\n' > /etc/odoo-standin.env; systemctl reset-failed odoo.service; systemctl restart odoo.service; sleep 1; systemctl restart odoo.service; sleep 1")
	if p := m.props("odoo.service", "ActiveState", "Result"); p["ActiveState"] != "active" || p["Result"] != "success" {
		t.Errorf("with the package removed odoo.service is %v, want active, success", p)
	}
	m.sh("systemctl stop odoo.service")

	m.sh("apt-get purge -y odoo-notify 2>&1")
	left := m.sh(`find / -xdev \( -path /proc -o -path /sys -o -path /var/log/journal -o -path /root/pkgs \) -prune -o -name '*odoo-notify*' -print`)
	if left != "" {
		t.Errorf("purge left:\n%s", left)
	}
	checks = []struct{ script, want string }{
		{"test -e /etc/odoo-notify || echo gone", "gone\n"},
		{"test -e /var/lib/odoo-notify || echo gone", "gone\n"},
		{"dpkg-statoverride --list | grep odoo-notify || echo none", "none\n"},
		{"dpkg -s odoo-notify >/dev/null 2>&1 && echo installed || echo not-installed", "not-installed\n"},
		{"systemctl show -p OnFailure odoo.service", "OnFailure=\n"},
		{"systemctl list-unit-files --no-legend 'odoo-notify*' | wc -l", "0\n"},
	}
	for _, c := range checks {
		if got, _ := m.exitStatus(c.script); got != c.want {
			t.Errorf("after purge, %s: %q, want %q", c.script, got, c.want)
		}
	}
}
