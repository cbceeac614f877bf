//go:build odoo

package e2e

// The real-Odoo end-to-end test (`make e2e-odoo`): Odoo 18.0 with
// PostgreSQL 15 as odoo.service under systemd 252, crashed, looped with its
// database down, stopped by the start limit, stopped and restarted by an
// admin and silenced across a deploy, checking what a real SMTP server and a
// webhook receiver got.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/internal/testenv"
	"github.com/odoo-notify/odoo-notify/report"
)

const (
	odooHost = "erp-odoo"
	// stableAfter is [incidents] stable_after in the test's config.
	stableAfter = 5 * time.Second
	// dedupWindow is [limits] dedup_window: a loop's updates come at
	// least this far apart.
	dedupWindow = 8 * time.Second
	// recoveryWithin is how soon after the unit is back its recovery
	// notice must arrive: stable_after, then the flush timer (every 30 s),
	// within 60 s.
	recoveryWithin = stableAfter + 60*time.Second
	// psycopgLine is what Odoo 18 logs when PostgreSQL is not running.
	psycopgLine = `psycopg2.OperationalError: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: No such file or directory`
)

// odooUnitFile is odoo.service as an admin writes it from Odoo's docs.
const odooUnitFile = `[Unit]
Description=Odoo 18.0
After=network.target postgresql.service

[Service]
Type=simple
User=odoo
Group=odoo
ExecStart=/usr/bin/python3 /opt/odoo/odoo-bin -c /etc/odoo/odoo.conf
SyslogIdentifier=odoo

[Install]
WantedBy=multi-user.target
`

// paceDropIn sets the test's pace over what enable --restart writes:
// restarts restartSec apart and, with defaultLimit, systemd's own start
// limit (5 starts in 10 s) instead of enable's 5 in 5 minutes, so a loop of
// crashes a few seconds apart goes on until the database is back.
func paceDropIn(restartSec int, defaultLimit bool) string {
	s := "# the pace of the end-to-end test\n"
	if defaultLimit {
		s += "[Unit]\nStartLimitIntervalSec=10s\nStartLimitBurst=5\n"
	}
	return s + fmt.Sprintf("[Service]\nRestartSec=%d\n", restartSec)
}

// odooSource is the folder with Odoo's tarball and setup.sh: it must be
// there when the test runs.
func odooSource(t *testing.T) string {
	t.Helper()
	src := os.Getenv("ODOO_NOTIFY_ODOO_SRC")
	if src == "" {
		src = "/work/shared/odoo"
	}
	for _, f := range []string{"setup.sh", "odoo-18.0-min.tar.gz"} {
		if _, err := os.Stat(filepath.Join(src, f)); err != nil {
			t.Fatalf("the real-Odoo test needs %s in %s: %v; set ODOO_NOTIFY_ODOO_SRC to a folder with setup.sh and odoo-18.0-min.tar.gz", f, src, err)
		}
	}
	return src
}

// odooRoot returns the cached Debian 12 root with Odoo installed by
// setup.sh (Python packages, PostgreSQL 15, the database prod), made the
// first time from the bare root (about a minute) and kept beside it. Its
// name changes with the bare root, setup.sh and the tarball.
func odooRoot(t *testing.T, src string) string {
	t.Helper()
	base := cachedRoot(t)
	h := sha256.New()
	io.WriteString(h, filepath.Base(base))
	for _, f := range []string{"setup.sh", "odoo-18.0-min.tar.gz"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	root := filepath.Join(cacheDir(), "bookworm-odoo-"+hex.EncodeToString(h.Sum(nil)[:4]))
	lock, err := os.OpenFile(filepath.Join(cacheDir(), "lock-odoo"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("e2e cache: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("e2e cache: lock: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/postgresql/15/main/PG_VERSION")); err == nil {
		if _, err := os.Stat(filepath.Join(root, "opt/odoo/odoo-bin")); err == nil {
			return root
		}
	}
	t.Logf("installing Odoo and PostgreSQL into %s with setup.sh (once; later runs reuse it)", root)
	start := time.Now()
	m := bootFrom(t, base, func(r string) {
		if out, err := exec.Command("cp", "-r", src, filepath.Join(r, "root/odoo-src")).CombinedOutput(); err != nil {
			t.Fatalf("copy %s into the root: %v\n%s", src, err, out)
		}
	})
	// apt takes most of it: half a minute on an idle host, far longer on
	// a busy one.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Minute)
	defer cancel()
	out, err := m.try(ctx, "sh /root/odoo-src/setup.sh 2>&1")
	if err != nil {
		t.Fatalf("setup.sh in the container: %v\n%s", err, out)
	}
	t.Logf("setup.sh (%s): %s", time.Since(start).Round(time.Second), strings.TrimSpace(out))
	m.sh("systemctl stop postgresql")
	m.stop()
	// The setup run's journal goes; the folder, its group and ACL stay.
	logs, _ := filepath.Glob(filepath.Join(m.root, "var/log/journal/*"))
	for _, p := range append(logs, filepath.Join(m.root, "root/odoo-src")) {
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
	}
	tmp := root + ".tmp"
	os.RemoveAll(tmp)
	if err := os.Rename(m.root, tmp); err != nil {
		if out, err := exec.Command("cp", "-a", m.root, tmp).CombinedOutput(); err != nil {
			t.Fatalf("e2e cache: %v\n%s", err, out)
		}
	}
	if err := os.Rename(tmp, root); err != nil {
		t.Fatalf("e2e cache: %v", err)
	}
	return root
}

// odooWorld is the booted container with Odoo and the two channels.
type odooWorld struct {
	m    *machine
	mail *testenv.Mailpit
	hook *sink
	// early holds a recovery notice that came with a loop's reports (on a
	// busy host Odoo's start can outlast stable_after and a flush tick).
	earlyMail []mailGot
	earlyHook []received
}

// dropDigests takes out the digests flush sends when a dedup window ends
// with held-back failures and nothing sent since: updates of the incident,
// within the limits, logged for a person to see.
func dropDigests(t *testing.T, mails []mailGot, hooks []received) ([]mailGot, []received) {
	t.Helper()
	var ms []mailGot
	var hs []received
	for _, h := range hooks {
		if h.Event == "update" && h.Held != nil && strings.Contains(h.Summary, "held back") {
			t.Logf("a digest came: %s", h.Summary)
			continue
		}
		hs = append(hs, h)
	}
	for _, m := range mails {
		if strings.HasPrefix(m.Subject, "[UPDATE] ") && strings.Contains(m.Text, "held back") {
			continue
		}
		ms = append(ms, m)
	}
	return ms, hs
}

// lateUpdates takes out updates of the incident that arrived with its
// recovery notice, before it: a failed run of the loop whose report went
// out after the check of the loop's reports (the handler of the loop's last
// run, or a flush, on a busy host). An update after the recovery notice is
// kept, so the caller fails on it.
func lateUpdates(t *testing.T, opening received, mails []mailGot, hooks []received) ([]mailGot, []received) {
	t.Helper()
	var hs []received
	resolved := false
	for _, h := range hooks {
		if !resolved && h.Event == "update" && h.Incident != nil && opening.Incident != nil && h.Incident.ID == opening.Incident.ID {
			t.Logf("an update came late, before the recovery notice: %s (%d failures)", h.Summary, h.Incident.Failures)
			continue
		}
		resolved = resolved || h.Event == "resolved"
		hs = append(hs, h)
	}
	var ms []mailGot
	resolved = false
	for _, m := range mails {
		if !resolved && strings.HasPrefix(m.Subject, "[UPDATE] ") {
			continue
		}
		resolved = resolved || strings.HasPrefix(m.Subject, "[RESOLVED] ")
		ms = append(ms, m)
	}
	return ms, hs
}

// splitResolved takes the recovery notices out of what collect returned
// and keeps them for expectRecovery.
func (w *odooWorld) splitResolved(mails []mailGot, hooks []received) ([]mailGot, []received) {
	var ms []mailGot
	var hs []received
	for _, m := range mails {
		if strings.HasPrefix(m.Subject, "[RESOLVED] ") {
			w.earlyMail = append(w.earlyMail, m)
		} else {
			ms = append(ms, m)
		}
	}
	for _, h := range hooks {
		if h.Event == "resolved" {
			w.earlyHook = append(w.earlyHook, h)
		} else {
			hs = append(hs, h)
		}
	}
	return ms, hs
}

// TestOdoo runs the real Odoo 18.0 as odoo.service, wired with
// `odoo-notify enable odoo.service --restart`, and checks what a person
// gets by mail and what a webhook receiver gets for each way it fails.
// The subtests run in order on one container.
func TestOdoo(t *testing.T) {
	requireTools(t)
	src := odooSource(t)
	testenv.MailpitBinary(t)
	_, deb, debBytes := thePackage(t)
	w := &odooWorld{mail: testenv.StartMailpit(t), hook: newSink(t, http.StatusNoContent, "", "")}
	root := odooRoot(t, src)
	w.m = bootFrom(t, root, func(r string) {
		writeRootFile(t, r, "root/pkgs/"+filepath.Base(deb), string(debBytes), 0o644)
		writeRootFile(t, r, "etc/systemd/system/odoo.service", odooUnitFile, 0o644)
		writeRootFile(t, r, "root/e2e/config.toml", odooConfig(w), 0o644)
	})
	w.m.sh("systemctl start postgresql")

	steps := []struct {
		name string
		f    func(*testing.T, *odooWorld)
	}{
		{"install, enable and test-fire", func(t *testing.T, w *odooWorld) { odooInstall(t, w, "/root/pkgs/"+filepath.Base(deb)) }},
		{"an admin's stop and restart report nothing", adminStopRestart},
		{"a crash systemd restarts, and its recovery", crashOnce},
		{"a crash loop with PostgreSQL stopped, then started", dbLoop},
		{"the start limit stops the loop, the admin starts it", startLimit},
		{"a silence across a deploy that crashes twice", silencedDeploy},
		{"nothing left in the outbox", func(t *testing.T, w *odooWorld) {
			if left := w.m.sh("find /var/lib/odoo-notify -path '*outbox*' -type f"); left != "" {
				t.Errorf("left in the outbox:\n%s", left)
			}
		}},
	}
	for _, s := range steps {
		// The container's commands fail the step that runs them.
		ok := t.Run(s.name, func(st *testing.T) {
			w.m.t = st
			defer func() { w.m.t = t }()
			s.f(st, w)
		})
		if !ok {
			t.Logf("odoo-notify's journal:\n%s", w.m.sh("journalctl -q --no-pager -o short-precise -u 'odoo-notify*' -n 40 || true"))
			t.Logf("odoo.service's journal:\n%s", w.m.sh("journalctl -q --no-pager -o short-precise -u odoo.service -n 30 || true"))
			if s.name == "install, enable and test-fire" {
				t.FailNow()
			}
		}
	}
}

func odooConfig(w *odooWorld) string {
	return fmt.Sprintf(`[general]
hostname = %q
timeout = "30s"

[limits]
dedup_window = %q
max_reports = 20
per = "1h"

[incidents]
stable_after = %q

[[email]]
name = "ops-mail"
host = "127.0.0.1"
port = %d
security = "none"
from = "odoo-notify@erp-odoo.example.com"
to = ["ops@example.com"]

[[webhook]]
name = "alerts"
url = "%s/hooks/odoo"
secret = %q
`, odooHost, dedupWindow.String(), stableAfter.String(), w.mail.Port, w.hook.URL, hookSecret)
}

func odooInstall(t *testing.T, w *odooWorld, deb string) {
	m := w.m
	m.sh("apt-get update -qq && apt-get install -y -qq --no-install-recommends " + deb + " >/dev/null 2>&1")
	m.sh("cat /root/e2e/config.toml > /etc/odoo-notify/config.toml")
	out := m.sh("odoo-notify enable odoo.service --restart")
	for _, s := range []string{"Restart=on-failure\n", "ExecStopPost=+-/usr/bin/odoo-notify hook %n\n", "OnFailure=odoo-notify@%n.service\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("enable --restart did not write %q:\n%s", s, out)
		}
	}
	writePace(t, m, 5, true)
	m.sh("systemctl start odoo.service")
	waitHealthy(t, m)
	if out, code := m.exitStatus("odoo-notify test 2>&1"); code != 0 {
		t.Fatalf("odoo-notify test: exit %d\n%s", code, out)
	}
	mails, hooks := w.collect(t, 1, 1, 10*time.Second)
	if len(mails) != 1 || len(hooks) != 1 || hooks[0].Event != "test" {
		t.Fatalf("test-fire: %d mails, %d webhook posts, want one of each", len(mails), len(hooks))
	}
	checkStatus(t, m, 0, "odoo.service: active/running", "no open incident")
}

// writePace writes paceDropIn and reloads systemd. A crash of Odoo's
// master leaves its workers to notice it and exit within a second or two;
// systemd in the test's container cannot kill the unit's cgroup ("Failed
// to kill control group ... Input/output error"), so a restart 2 s later
// may find port 8069 still taken. The single crashes restart 5 s later, as
// enable --restart writes; the loops, which start no worker, 2 s later.
func writePace(t *testing.T, m *machine, restartSec int, defaultLimit bool) {
	t.Helper()
	m.sh("printf '%s' '" + paceDropIn(restartSec, defaultLimit) + "' > /etc/systemd/system/odoo.service.d/pace.conf && systemctl daemon-reload")
	interval := "5min"
	if defaultLimit {
		interval = "10s"
	}
	want := fmt.Sprintf("%ds", restartSec)
	if p := m.props("odoo.service", "RestartUSec", "StartLimitBurst", "StartLimitIntervalUSec"); p["RestartUSec"] != want || p["StartLimitBurst"] != "5" || p["StartLimitIntervalUSec"] != interval {
		t.Fatalf("odoo.service after the pace drop-in: %v, want restarts %s apart, at most 5 starts in %s", p, want, interval)
	}
}

// waitHealthy waits until Odoo answers /web/health with its database.
func waitHealthy(t *testing.T, m *machine) {
	t.Helper()
	probe := `python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8069/web/health?db_server_status=1', timeout=2).read().decode())" 2>&1`
	var out string
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		out, _ = m.try(t.Context(), probe)
		if strings.Contains(out, `"status": "pass"`) && strings.Contains(out, `"db_server_status": true`) {
			return
		}
	}
	t.Fatalf("Odoo did not answer /web/health in 90 s: %s\n%s", out, m.sh("journalctl -q --no-pager -o cat -u odoo.service -n 20"))
}

// checkStatus runs `odoo-notify status odoo.service` and checks its exit
// status (unless code is -1) and what it says.
func checkStatus(t *testing.T, m *machine, code int, says ...string) string {
	t.Helper()
	out, got := m.exitStatus("odoo-notify status odoo.service 2>&1")
	if code >= 0 && got != code {
		t.Errorf("odoo-notify status exits %d, want %d:\n%s", got, code, out)
	}
	for _, s := range says {
		if !strings.Contains(out, s) {
			t.Errorf("odoo-notify status does not say %q:\n%s", s, out)
		}
	}
	return out
}

// received is one webhook post, read as the report's JSON.
type received struct {
	report.Report
	raw string
}

// mailGot is one mail as mailpit got it, with its headers.
type mailGot struct {
	testenv.Received
	Header map[string][]string
}

// collect waits up to within for wantMail mails and wantHook webhook posts,
// then a second more for any extra, and returns all of them; the mails are
// deleted from mailpit.
func (w *odooWorld) collect(t *testing.T, wantMail, wantHook int, within time.Duration) ([]mailGot, []received) {
	t.Helper()
	var reqs []request
	var n int
	deadline := time.Now().Add(within)
	for {
		reqs = append(reqs, w.hook.take()...)
		var list struct{ Messages []testenv.Received }
		w.mail.Get(t, "/api/v1/messages", &list)
		n = len(list.Messages)
		if (n >= wantMail && len(reqs) >= wantHook) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
	reqs = append(reqs, w.hook.take()...)
	var mails []mailGot
	for _, r := range w.mail.Messages(t, n) {
		mails = append(mails, mailGot{r, w.mail.Headers(t, r.ID)})
	}
	req, _ := http.NewRequest(http.MethodDelete, w.mail.API+"/api/v1/messages", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatalf("mailpit: delete messages: %v", err)
	} else {
		resp.Body.Close()
	}
	var hooks []received
	for _, r := range reqs {
		if !testenv.VerifyWebhook(hookSecret, r.Header, r.Body) {
			t.Errorf("a webhook post's signature does not verify: %v", r.Header)
		}
		var rep received
		if err := json.Unmarshal([]byte(r.Body), &rep.Report); err != nil {
			t.Fatalf("webhook body is not the report's JSON: %v\n%s", err, r.Body)
		}
		rep.raw = r.Body
		hooks = append(hooks, rep)
	}
	// Mailpit lists the newest first.
	for i, j := 0, len(mails)-1; i < j; i, j = i+1, j-1 {
		mails[i], mails[j] = mails[j], mails[i]
	}
	return mails, hooks
}

// expectNothing checks that no channel got anything for a while.
func (w *odooWorld) expectNothing(t *testing.T, wait time.Duration) {
	t.Helper()
	time.Sleep(wait)
	mails, hooks := w.collect(t, 0, 0, 0)
	for _, m := range mails {
		t.Errorf("a mail came: %s", m.Subject)
	}
	for _, h := range hooks {
		t.Errorf("a webhook post came: %s %s", h.Event, h.Summary)
	}
}

// failedRuns counts the runs of odoo.service that failed since since:
// systemd's "Main process exited" lines, which it logs for a failed exit
// only. (Its "Failed with result" lines count one more when the start
// limit stops a loop: that one is about the start it refused.)
func failedRuns(t *testing.T, m *machine, since time.Time) int {
	t.Helper()
	out := m.sh(fmt.Sprintf("journalctl -q --no-pager -o cat --since @%d _PID=1 UNIT=odoo.service | grep -c '^odoo.service: Main process exited, code=' || true", since.Unix()))
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("count failed runs: %q", out)
	}
	return n
}

// waitActive waits until odoo.service is active and systemd restarted it
// more than after times.
func waitActive(t *testing.T, m *machine, after int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		p := m.props("odoo.service", "ActiveState", "SubState", "NRestarts")
		n, _ := strconv.Atoi(p["NRestarts"])
		if p["ActiveState"] == "active" && p["SubState"] == "running" && n > after {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("odoo.service was not restarted in %s: %v", within, p)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func nRestarts(t *testing.T, m *machine) int {
	t.Helper()
	n, _ := strconv.Atoi(m.props("odoo.service", "NRestarts")["NRestarts"])
	return n
}

// mainPID is odoo.service's main process, Odoo's prefork master.
func mainPID(t *testing.T, m *machine) string {
	t.Helper()
	pid := m.props("odoo.service", "MainPID")["MainPID"]
	if pid == "" || pid == "0" {
		t.Fatal("odoo.service has no main process")
	}
	return pid
}

// expectRecoveryMail waits for the recovery notice of the incident opened
// by opening on both channels and checks what it says.
func (w *odooWorld) expectRecovery(t *testing.T, opening received, openingMail mailGot, failures int) (mailGot, received) {
	t.Helper()
	start := time.Now()
	mails, hooks := w.earlyMail, w.earlyHook
	w.earlyMail, w.earlyHook = nil, nil
	if len(mails) == 0 || len(hooks) == 0 {
		m, h := w.collect(t, 1-len(mails), 1-len(hooks), recoveryWithin)
		mails, hooks = append(mails, m...), append(hooks, h...)
	}
	mails, hooks = dropDigests(t, mails, hooks)
	mails, hooks = lateUpdates(t, opening, mails, hooks)
	if len(mails) != 1 || len(hooks) != 1 {
		t.Fatalf("within %s of the unit's return: %d mails, %d webhook posts, want one recovery notice on each\n%s", recoveryWithin, len(mails), len(hooks),
			w.m.sh("journalctl -q --no-pager -o cat -u odoo-notify-flush.service -n 20"))
	}
	t.Logf("the recovery notice came %s after the unit was back", time.Since(start).Round(time.Second))
	rec, mail := hooks[0], mails[0]
	if rec.Event != "resolved" || rec.Incident == nil || rec.Incident.ID != opening.Incident.ID || rec.Incident.State != "resolved" {
		t.Fatalf("webhook got event %q incident %+v, want incident %s resolved", rec.Event, rec.Incident, opening.Incident.ID)
	}
	if rec.Incident.Failures != failures {
		t.Errorf("the recovery notice counts %d failures, want %d (systemd's count of failed runs)", rec.Incident.Failures, failures)
	}
	if !strings.HasPrefix(rec.Summary, odooHost+": odoo.service is back: running since ") || !strings.Contains(rec.Summary, fmt.Sprintf("after %d failure(s) in ", failures)) {
		t.Errorf("recovery summary %q", rec.Summary)
	}
	if want := "[RESOLVED] " + openingMail.Subject; mail.Subject != want {
		t.Errorf("recovery mail subject %q, want %q", mail.Subject, want)
	}
	if !strings.Contains(mail.Text, rec.Summary) {
		t.Errorf("the recovery mail does not say %q:\n%s", rec.Summary, mail.Text)
	}
	if irt := strings.Join(mail.Header["In-Reply-To"], " "); irt == "" || !strings.Contains(irt, openingMail.MessageID) {
		t.Errorf("the recovery mail's In-Reply-To %q is not the opening's Message-ID %q", irt, openingMail.MessageID)
	}
	t.Logf("the recovery mail:\nSubject: %s\n\n%s", mail.Subject, mail.Text)
	return mail, rec
}

// adminStopRestart: an admin's systemctl stop, start and restart are clean
// ends of Odoo: nothing is reported.
func adminStopRestart(t *testing.T, w *odooWorld) {
	m := w.m
	before := m.props(handler, "InvocationID")["InvocationID"]
	m.sh("systemctl restart odoo.service")
	waitHealthy(t, m)
	m.sh("systemctl stop odoo.service")
	if p := m.props("odoo.service", "ActiveState", "Result"); p["ActiveState"] != "inactive" || p["Result"] != "success" {
		t.Errorf("after systemctl stop odoo.service is %v, want inactive, success", p)
	}
	checkStatus(t, m, 0, "odoo.service: inactive/dead", "no open incident")
	m.sh("systemctl start odoo.service")
	waitHealthy(t, m)
	settle(m)
	w.expectNothing(t, 2*time.Second)
	if after := m.props(handler, "InvocationID")["InvocationID"]; after != before {
		t.Errorf("an admin's stop or restart started the handler")
	}
	checkStatus(t, m, 0, "odoo.service: active/running", "no open incident")
}

// crashOnce: Odoo's master dies of SIGSEGV, systemd restarts it: one report
// on each channel within 5 s, then one recovery notice.
func crashOnce(t *testing.T, w *odooWorld) {
	m := w.m
	restarts := nRestarts(t, m)
	pid := mainPID(t, m)
	start := time.Now()
	m.sh("kill -SEGV " + pid)
	mails, hooks := w.collect(t, 1, 1, 5*time.Second)
	took := time.Since(start)
	if len(mails) != 1 || len(hooks) != 1 {
		t.Fatalf("within 5 s of the crash: %d mails, %d webhook posts, want one report on each", len(mails), len(hooks))
	}
	t.Logf("the report came %s after the crash", took.Round(10*time.Millisecond))
	rep, mail := hooks[0], mails[0]
	if rep.Event != "firing" || rep.Incident == nil || rep.Incident.Failures != 1 || rep.Incident.State != "open" {
		t.Errorf("webhook event %q incident %+v, want the opening of an incident of one failure", rep.Event, rep.Incident)
	}
	if rep.ExitStatus != "SEGV" || (rep.Result != "signal" && rep.Result != "core-dump") {
		t.Errorf("the report says result=%s exit_status=%s, want a SEGV", rep.Result, rep.ExitStatus)
	}
	if rep.Host != odooHost || rep.Unit != "odoo.service" {
		t.Errorf("the report names %s on %s", rep.Unit, rep.Host)
	}
	if mail.Subject != rep.Subject() || !strings.HasPrefix(mail.Subject, odooHost+": odoo.service failed (") || !strings.Contains(mail.Subject, "SEGV") {
		t.Errorf("mail subject %q, want %q naming the SEGV", mail.Subject, rep.Subject())
	}
	// Odoo's own lines of the run that crashed are in the report.
	if !strings.Contains(mail.Text, rep.InvocationID) || !strings.Contains(mail.Text, "odoo.service.server: HTTP service (werkzeug) running on") {
		t.Errorf("the mail does not hold the run's invocation and Odoo's lines:\n%s", mail.Text)
	}
	t.Logf("the opening mail:\nSubject: %s\n\n%s", mail.Subject, mail.Text)
	waitActive(t, m, restarts, 30*time.Second)
	checkStatus(t, m, 1, "odoo.service: active/running", "incident "+rep.Incident.ID, "1 failure(s)")
	w.expectRecovery(t, rep, mail, 1)
	checkStatus(t, m, 0, "no open incident")
}

// dbLoop: PostgreSQL stops; Odoo restarted by an admin fails at start,
// and systemd restarts it every 2 s under the default start limit, for
// good. One opening report says the database is unreachable with Odoo's
// own psycopg2 line; updates follow, no closer than dedup_window; every
// failure is counted. PostgreSQL back: one recovery notice.
func dbLoop(t *testing.T, w *odooWorld) {
	m := w.m
	writePace(t, m, 2, true)
	m.sh("systemctl stop postgresql")
	start := time.Now()
	m.sh("systemctl restart --no-block odoo.service")
	// About 25 s of the loop: a run fails in a second or so, then 2 s.
	for deadline := time.Now().Add(90 * time.Second); failedRuns(t, m, start) < 7; time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("odoo.service failed %d times in 90 s with PostgreSQL stopped, want a loop: %v", failedRuns(t, m, start), m.props("odoo.service", "ActiveState", "Result", "NRestarts"))
		}
	}
	if p := m.props("odoo.service", "Result"); p["Result"] == "start-limit-hit" {
		t.Fatalf("the default start limit stopped a loop of restarts 2 s apart: %v", p)
	}
	checkStatus(t, m, 1, "incident ", "db-unreachable")
	restarts := nRestarts(t, m)
	m.sh("systemctl start postgresql")
	waitActive(t, m, restarts-1, 30*time.Second)
	waitHealthy(t, m)
	settle(m)
	failures := failedRuns(t, m, start)
	t.Logf("odoo.service failed %d times in %s with PostgreSQL stopped", failures, time.Since(start).Round(time.Second))

	mails, hooks := w.splitResolved(w.collect(t, 1, 1, 5*time.Second))
	opening, openingMail, updates := checkLoop(t, hooks, mails, failures)
	t.Logf("the loop gave one opening report and %d updates", updates)
	if len(w.earlyHook) == 0 {
		checkStatus(t, m, 1, "odoo.service: active/running", "incident "+opening.Incident.ID, fmt.Sprintf("%d failure(s)", failures), "db-unreachable")
	}
	w.expectRecovery(t, opening, openingMail, failures)
	checkStatus(t, m, 0, "no open incident")
}

// checkLoop checks the reports of a loop of database failures: one opening
// saying the database is unreachable with Odoo's line, then updates, each
// counting more failures, dedup_window apart, at most one per failed run.
func checkLoop(t *testing.T, hooks []received, mails []mailGot, failures int) (received, mailGot, int) {
	t.Helper()
	if len(hooks) == 0 || len(mails) != len(hooks) {
		t.Fatalf("the loop gave %d webhook posts and %d mails, want the same reports on each, at least the opening", len(hooks), len(mails))
	}
	opening, openingMail := hooks[0], mails[0]
	if opening.Event != "firing" || opening.Incident == nil {
		t.Fatalf("the first report is %q with incident %+v, want an incident's opening", opening.Event, opening.Incident)
	}
	if opening.Cause != "db-unreachable" || opening.Exception == nil || opening.Exception.Type != "psycopg2.OperationalError" {
		t.Errorf("the opening report's cause %q exception %+v, want db-unreachable, psycopg2.OperationalError", opening.Cause, opening.Exception)
	}
	if !strings.Contains(openingMail.Text, psycopgLine) {
		t.Errorf("the opening mail does not hold Odoo's line %q:\n%s", psycopgLine, openingMail.Text)
	}
	if openingMail.Subject != opening.Subject() {
		t.Errorf("the opening mail's subject %q, want %q", openingMail.Subject, opening.Subject())
	}
	t.Logf("the opening mail:\nSubject: %s\n\n%s", openingMail.Subject, openingMail.Text)
	runs := map[string]bool{}
	last := opening
	// The dedup window holds back the same failure: a report of a cause
	// comes dedup_window after the one before it of that cause.
	lastOf := map[string]received{}
	for i, h := range hooks {
		if h.Result == "start-limit-hit" && i > 0 {
			// No process ran: one update says the loop stopped, and
			// counts no failure of its own.
			if h.Event != "update" || h.Incident == nil || h.Incident.Failures != last.Incident.Failures || !strings.Contains(h.Summary, "stopped restarting") || i != len(hooks)-1 {
				t.Errorf("report %d of %d, the start limit's: event %q incident %+v summary %q, want the last, an update counting the %d failures before it",
					i, len(hooks), h.Event, h.Incident, h.Summary, last.Incident.Failures)
			}
			continue
		}
		if runs[h.InvocationID] {
			t.Errorf("run %s was reported twice", h.InvocationID)
		}
		runs[h.InvocationID] = true
		if i == 0 {
			lastOf[h.Cause] = h
			continue
		}
		if h.Event != "update" || h.Incident == nil || h.Incident.ID != opening.Incident.ID || h.Incident.Failures <= last.Incident.Failures {
			t.Errorf("report %d: event %q incident %+v, want an update of %s counting more than %d failures", i, h.Event, h.Incident, opening.Incident.ID, last.Incident.Failures)
			continue
		}
		if prev, ok := lastOf[h.Cause]; ok {
			if gap := h.Created.Sub(prev.Created); gap < dedupWindow-500*time.Millisecond {
				t.Errorf("update %d came %s after the report of %s before it, within dedup_window %s", i, gap.Round(time.Millisecond), h.Cause, dedupWindow)
			}
		}
		if want := "[UPDATE] " + openingMail.Subject; mails[i].Subject != want {
			t.Errorf("update mail subject %q, want %q", mails[i].Subject, want)
		}
		if i == 1 {
			t.Logf("the first update's mail:\nSubject: %s\n\n%s", mails[i].Subject, mails[i].Text)
		}
		last, lastOf[h.Cause] = h, h
	}
	if last.Incident.Failures > failures {
		t.Errorf("the last update counts %d failures, systemd saw %d", last.Incident.Failures, failures)
	}
	return opening, openingMail, len(hooks) - 1
}

// startLimit: with enable --restart's start limit (5 starts in 5 minutes)
// and PostgreSQL stopped, the loop stops with odoo.service failed. The
// incident stays open, flush sends no recovery; the admin starts
// PostgreSQL, then `systemctl reset-failed` and `systemctl start`: one
// recovery notice.
func startLimit(t *testing.T, w *odooWorld) {
	m := w.m
	writePace(t, m, 2, false)
	m.sh("systemctl stop postgresql")
	start := time.Now()
	// Stopped and reset, the unit's start limit counts afresh.
	m.sh("systemctl stop odoo.service && systemctl reset-failed odoo.service; systemctl start --no-block odoo.service")
	// With Restart=on-failure the unit is failed only once systemd gives
	// up restarting it.
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		p := m.props("odoo.service", "ActiveState", "SubState")
		if p["ActiveState"] == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the start limit did not stop the loop in 3 minutes: %v", p)
		}
	}
	settle(m)
	time.Sleep(time.Second)
	settle(m)
	systemd := m.sh(fmt.Sprintf("journalctl -q --no-pager -o cat --since @%d _PID=1 UNIT=odoo.service", start.Unix()))
	t.Logf("systemd said:\n%s", systemd)
	if !strings.Contains(systemd, "Start request repeated too quickly") {
		t.Errorf("systemd does not say the start limit stopped odoo.service")
	}
	failures := failedRuns(t, m, start)
	mails, hooks := w.splitResolved(w.collect(t, 1, 1, 5*time.Second))
	if len(w.earlyHook) > 0 {
		t.Errorf("a recovery notice came while the start limit kept odoo.service failed: %s", w.earlyHook[0].Summary)
	}
	opening, openingMail, updates := checkLoop(t, hooks, mails, failures)
	t.Logf("the loop failed %d times until the start limit; one opening report and %d updates", failures, updates)
	checkStatus(t, m, 1, "odoo.service: failed/failed", "incident "+opening.Incident.ID)

	// Long past stable_after, flush finds the unit still failed.
	time.Sleep(stableAfter + time.Second)
	m.sh("systemctl start odoo-notify-flush.service")
	time.Sleep(time.Second)
	got, posts := w.collect(t, 0, 0, 0)
	if ms, hs := dropDigests(t, got, posts); len(ms)+len(hs) > 0 {
		t.Errorf("with odoo.service failed, flush sent %d mails and %d webhook posts besides digests, want none", len(ms), len(hs))
	}
	checkStatus(t, m, 1, "odoo.service: failed/failed", "incident "+opening.Incident.ID)

	if st := checkStatus(t, m, 1); !strings.Contains(st, fmt.Sprintf("%d failure(s)", failures)) {
		// Which run went uncounted: systemd's failed runs, and what the
		// handler said of each.
		t.Errorf("status does not count the %d failed runs", failures)
		t.Logf("systemd's failed runs:\n%s\nthe handler's runs:\n%s", m.sh(fmt.Sprintf(
			"journalctl -q --no-pager -o json --output-fields=INVOCATION_ID,MESSAGE --since @%d _PID=1 UNIT=odoo.service | grep 'Main process exited' || true", start.Unix())),
			m.sh(fmt.Sprintf("journalctl -q --no-pager -o short-precise --since @%d -u %s | grep -v 'mail accepted' || true", start.Unix(), handler)))
	}
	m.sh("systemctl start postgresql && systemctl reset-failed odoo.service && systemctl start odoo.service")
	waitHealthy(t, m)
	w.expectRecovery(t, opening, openingMail, failures)
	checkStatus(t, m, 0, "no open incident")
	writePace(t, m, 5, true)
}

// silencedDeploy: the admin silences odoo.service for a deploy that
// crashes it twice: nothing is sent, status counts the failures; the unit
// is back when the silence ends, so nothing is sent then either.
func silencedDeploy(t *testing.T, w *odooWorld) {
	m := w.m
	out := m.sh("odoo-notify silence odoo.service --for 10m --reason 'deploy 18.0.3'")
	if !strings.Contains(out, "odoo.service is silenced until ") {
		t.Errorf("silence printed:\n%s", out)
	}
	checkStatus(t, m, 0, "silenced until ", "deploy 18.0.3")
	start := time.Now()
	for range 2 {
		restarts := nRestarts(t, m)
		m.sh("kill -SEGV " + mainPID(t, m))
		waitActive(t, m, restarts, 30*time.Second)
		waitHealthy(t, m)
	}
	settle(m)
	if n := failedRuns(t, m, start); n != 2 {
		t.Fatalf("the deploy failed odoo.service %d times, want 2", n)
	}
	w.expectNothing(t, 2*time.Second)
	st := checkStatus(t, m, -1, "silenced until ", "deploy 18.0.3")
	t.Logf("status during the silence:\n%s", st)

	out = m.sh("odoo-notify unsilence odoo.service")
	if !strings.Contains(out, "odoo.service is no longer silenced") || strings.Contains(out, "its incident is open") {
		t.Errorf("unsilence with the unit back printed:\n%s", out)
	}
	time.Sleep(stableAfter + time.Second)
	m.sh("systemctl start odoo-notify-flush.service")
	w.expectNothing(t, time.Second)
	checkStatus(t, m, 0, "odoo.service: active/running", "no open incident")
}
