//go:build odoo

package e2e

// odoo-notify watch against the real Odoo 18 (`make e2e-odoo`): Odoo in
// prefork mode (workers = 2) with a test addon whose routes hold a worker,
// watched by odoo-notify-watch@odoo.service under systemd 252, checking what
// a real SMTP server and a webhook receiver got.

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/internal/testenv"
)

const (
	// The test's [watch]: a hang is 3 failed probes 2 s apart.
	watchInterval = 2 * time.Second
	watchFailures = 3
	// watchGrace is [watch] start_grace: a run that has not answered yet
	// is not counted as failing this long.
	watchGrace = 30 * time.Second
	// slowStartSleep is how long the slow start sleeps before Odoo starts:
	// longer than a hang (failures x interval), shorter than start_grace.
	slowStartSleep = 10
	// The innermost frames of the addon's routes as a report prints them
	// (packaging/e2e/testdata/hang_test/controllers/main.py).
	sleepFrame = "hang_test/controllers/main.py:12 in sleep: time.sleep(float(seconds))"
	queryFrame = `hang_test/controllers/main.py:17 in query: request.env.cr.execute("SELECT pg_sleep(%s)", [float(seconds)])`
)

// TestOdooWatch runs the real Odoo 18 with workers = 2 and the hang_test
// addon as odoo.service, wired with `odoo-notify enable odoo.service
// --restart --watch`, and hangs it: both HTTP workers blocked in the
// addon's routes. The steps run in order on one container, its own (so
// TestOdoo's crashes and this test's hangs do not meet).
func TestOdooWatch(t *testing.T) {
	began := time.Now()
	requireTools(t)
	src := odooSource(t)
	testenv.MailpitBinary(t)
	_, deb, debBytes := thePackage(t)
	addon := map[string]string{}
	err := filepath.WalkDir("testdata/hang_test", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		addon[strings.TrimPrefix(p, "testdata/")] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	w := &odooWorld{mail: testenv.StartMailpit(t), hook: newSink(t, http.StatusNoContent, "", "")}
	root := odooRoot(t, src)
	w.m = bootFrom(t, root, func(r string) {
		writeRootFile(t, r, "root/pkgs/"+filepath.Base(deb), string(debBytes), 0o644)
		writeRootFile(t, r, "etc/systemd/system/odoo.service", odooUnitFile, 0o644)
		for p, b := range addon {
			writeRootFile(t, r, "opt/odoo-addons/"+p, b, 0o644)
		}
	})
	w.m.sh("systemctl start postgresql")
	ow := &odooWatch{odooWorld: w, out: os.Getenv("ODOO_NOTIFY_E2E_OUT")}

	steps := []struct {
		name string
		f    func(*testing.T, *odooWatch)
	}{
		{"install the addon, enable --restart --watch", watchInstall},
		{"a slow start is not a hang", odooSlowStart},
		{"a hang is reported once, restarted, and recovers", odooHangRestart},
		{"on_hang = report leaves it; a killed watcher reports nothing twice", odooHangReport},
		{"a health URL that answers 404 says to set health_url", odooNotFound},
		{"a worker timeout and a memory limit are one degraded incident, resolved once quiet", odooDegraded},
		{"nothing left in the outbox", func(t *testing.T, w *odooWatch) {
			if left := w.m.sh("find /var/lib/odoo-notify -path '*outbox*' -type f"); left != "" {
				t.Errorf("left in the outbox:\n%s", left)
			}
		}},
	}
	for _, s := range steps {
		stepStart := time.Now()
		ok := t.Run(s.name, func(st *testing.T) {
			w.m.t = st
			defer func() { w.m.t = t }()
			s.f(st, ow)
		})
		t.Logf("step %q took %s", s.name, time.Since(stepStart).Round(time.Second))
		if !ok {
			t.Logf("the watcher's journal:\n%s", w.m.sh("journalctl -q --no-pager -o short-precise -u "+watcher+" -n 40 || true"))
			t.Logf("odoo.service's journal:\n%s", w.m.sh("journalctl -q --no-pager -o short-precise -u odoo.service -n 30 | cut -c1-300 || true"))
			if s.name == "install the addon, enable --restart --watch" {
				t.FailNow()
			}
		}
	}
	t.Logf("TestOdooWatch took %s", time.Since(began).Round(time.Second))
}

// odooWatch is the container of TestOdooWatch.
type odooWatch struct {
	*odooWorld
	// out is $ODOO_NOTIFY_E2E_OUT: where the mails a person gets are
	// written, for the README.
	out string
	// watchExtra is more of [watch], for the degraded step.
	watchExtra string
}

// configure writes config.toml: the mail and webhook of TestOdoo, and a
// quick [watch].
func (w *odooWatch) configure(t *testing.T, onHang, healthURL string) {
	t.Helper()
	conf := odooConfig(w.odooWorld) + fmt.Sprintf(`
[watch]
interval = %q
timeout = "1s"
start_grace = %q
failures = %d
on_hang = %q
`, watchInterval.String(), watchGrace.String(), watchFailures, onHang) + w.watchExtra
	if healthURL != "" {
		conf += fmt.Sprintf("health_url = %q\n", healthURL)
	}
	w.m.sh("cat > /etc/odoo-notify/config.toml <<'EOF'\n" + conf + "EOF")
}

// restartWatcher makes the watcher read its config again and waits until
// it has seen the unit answer.
func (w *odooWatch) restartWatcher(t *testing.T) {
	t.Helper()
	since := w.clock(t)
	w.m.sh("systemctl restart " + watcher)
	w.waitWatcher(t, since, "phase=healthy")
}

// clock is the container's time, for journalctl --since.
func (w *odooWatch) clock(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(w.m.sh("date '+%Y-%m-%d %H:%M:%S'"))
}

// waitWatcher waits until the watcher, active, has logged want since
// since, and returns its journal.
func (w *odooWatch) waitWatcher(t *testing.T, since, want string) string {
	t.Helper()
	var j string
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		j = w.m.sh("journalctl -q --no-pager -o cat -u " + watcher + " --since '" + since + "'")
		if strings.Contains(j, want) && w.m.props(watcher, "ActiveState")["ActiveState"] == "active" {
			return j
		}
	}
	t.Fatalf("the watcher did not say %q in 90 s: %v\n%s", want, w.m.props(watcher, "ActiveState", "SubState", "Result"), j)
	return j
}

// show prints a mail as a person gets it, and writes it to
// $ODOO_NOTIFY_E2E_OUT/NAME.txt when that is set.
func (w *odooWatch) show(t *testing.T, name string, m mailGot) {
	t.Helper()
	text := "Subject: " + m.Subject + "\n\n" + m.Text
	t.Logf("=== mail %s ===\n%s\n=== end of mail %s ===", name, text, name)
	if w.out == "" {
		return
	}
	if err := os.MkdirAll(w.out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.out, name+".txt"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// block holds an HTTP worker in the addon's route (sleep or query) for an
// hour: a client in the background that gives up after 10 minutes.
func (w *odooWatch) block(t *testing.T, route string) {
	t.Helper()
	w.m.sh(fmt.Sprintf(`setsid -f timeout 600 python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8069/hang_test/%s?seconds=3600', timeout=590)" >/dev/null 2>&1 </dev/null`, route))
}

// cancelQueries ends the addon's pg_sleep queries and returns how many
// there were. A worker killed in one leaves its query running: PostgreSQL
// notices the client is gone only when it answers.
func (w *odooWatch) cancelQueries(t *testing.T) int {
	t.Helper()
	out := w.m.sh(`su postgres -c "psql -tAc \"SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(%'\""`)
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("cancel the pg_sleep queries: %q", out)
	}
	return n
}

// waitQueries waits until PostgreSQL runs n of the addon's pg_sleep
// queries: the workers are in the route (Odoo logs a request only when
// it ends).
func (w *odooWatch) waitQueries(t *testing.T, n int) {
	t.Helper()
	q := `su postgres -c "psql -tAc \"SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(%'\""`
	var got string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got = strings.TrimSpace(w.m.sh(q)); got == fmt.Sprint(n) {
			return
		}
	}
	t.Fatalf("%s pg_sleep queries running after 30 s, want %d", got, n)
}

func watchInstall(t *testing.T, w *odooWatch) {
	m := w.m
	// The addon under an addons_path of its own, installed in prod.
	m.sh(`printf 'addons_path = /opt/odoo/addons,/opt/odoo-addons\n' >> /etc/odoo/odoo.conf`)
	m.sh(`su odoo -s /bin/sh -c "python3 /opt/odoo/odoo-bin -c /etc/odoo/odoo.conf -d prod -i hang_test --stop-after-init --log-level=warn" 2>&1`)
	m.sh("apt-get update -qq && apt-get install -y -qq --no-install-recommends /root/pkgs/*.deb >/dev/null 2>&1")
	w.configure(t, "restart", "")
	m.sh("systemctl start odoo.service")
	waitHealthy(t, m)
	since := w.clock(t)
	out := m.sh("odoo-notify enable odoo.service --restart --watch")
	for _, s := range []string{"Restart=on-failure\n", "Wants=odoo-notify-watch@%n.service\n", "started " + watcher} {
		if !strings.Contains(out, s) {
			t.Errorf("enable --restart --watch does not say %q:\n%s", s, out)
		}
	}
	writePace(t, m, 5, true)
	j := w.waitWatcher(t, since, "phase=healthy")
	// The default URL comes from odoo.conf's http_port.
	if !strings.Contains(j, "url=http://127.0.0.1:8069/web/health") {
		t.Errorf("the watcher does not probe Odoo's /web/health:\n%s", j)
	}
	if strings.Contains(j, "level=WARN") {
		t.Errorf("the watcher of a stock Odoo warns:\n%s", j)
	}
	if out, _ := m.try(t.Context(), `python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8069/hang_test/sleep?seconds=0', timeout=30).read().decode())" 2>&1`); !strings.Contains(out, "slept 0 s") {
		t.Fatalf("the addon's route does not answer: %s", out)
	}
	w.expectNothing(t, 2*time.Second)
}

// odooSlowStart: Odoo restarted by an admin, its start slowed twice: an
// ExecStartPre= that sleeps (the unit is activating, not probed), then a
// main process that sleeps before it runs Odoo (active, refusing
// connections longer than failures x interval, within start_grace): no
// report.
func odooSlowStart(t *testing.T, w *odooWatch) {
	m := w.m
	m.sh(fmt.Sprintf(`cat > /etc/systemd/system/odoo.service.d/slow.conf <<'EOF'
[Service]
ExecStartPre=/bin/sleep 3
ExecStart=
ExecStart=/bin/sh -c 'sleep %d; exec /usr/bin/python3 /opt/odoo/odoo-bin -c /etc/odoo/odoo.conf'
EOF
systemctl daemon-reload`, slowStartSleep))
	since := w.clock(t)
	start := time.Now()
	m.sh("systemctl restart odoo.service")
	waitHealthy(t, m)
	took := time.Since(start)
	j := w.waitWatcher(t, since, "phase=healthy")
	t.Logf("odoo.service answered %s after the restart began", took.Round(100*time.Millisecond))
	if took < time.Duration(watchFailures)*watchInterval+3*time.Second {
		t.Errorf("the slow start took %s, not longer than a hang (%d probes %s apart)", took, watchFailures, watchInterval)
	}
	// The watcher probed the run while it refused connections, without
	// counting it.
	if !strings.Contains(j, "phase=starting") || strings.Contains(j, "phase=failing") || strings.Contains(j, "phase=hang") {
		t.Errorf("the watcher during the slow start:\n%s", j)
	}
	m.sh("rm /etc/systemd/system/odoo.service.d/slow.conf && systemctl daemon-reload")
	w.expectNothing(t, watchInterval*watchFailures)
}

// busyLine is a report's "busy:" lines.
var busyLine = regexp.MustCompile(`(?m)^.*busy: pid \d+ thread Worker WorkerHTTP \(\d+\) workthread .*url http://127\.0\.0\.1:8069/hang_test/(sleep|query).*$`)

// expectHang waits for the one hang report on both channels and checks
// what a person must find in it.
func (w *odooWatch) expectHang(t *testing.T, invocation string, frames ...string) (received, mailGot) {
	t.Helper()
	mails, hooks := w.splitResolved(w.collect(t, 1, 1, 60*time.Second))
	if len(mails) != 1 || len(hooks) != 1 {
		var got []string
		for _, h := range hooks {
			got = append(got, h.Event+" "+h.Cause+": "+h.Summary)
		}
		t.Fatalf("within 60 s of the hang: %d mails, %d webhook posts (%q), want one hang report on each", len(mails), len(hooks), got)
	}
	rep, mail := hooks[0], mails[0]
	if rep.Cause != "hang" || rep.Event != "firing" || rep.Unit != "odoo.service" || rep.Host != odooHost || rep.InvocationID != invocation {
		t.Errorf("hang report: cause %q event %q unit %q host %q invocation %q (want the hung run %s)", rep.Cause, rep.Event, rep.Unit, rep.Host, rep.InvocationID, invocation)
	}
	if rep.Incident == nil || rep.Incident.State != "open" {
		t.Fatalf("the hang report opens no incident: %+v", rep.Incident)
	}
	if mail.Subject != rep.Subject() || !strings.Contains(mail.Subject, "hung") {
		t.Errorf("mail subject %q, want %q", mail.Subject, rep.Subject())
	}
	if !regexp.MustCompile(`probe http://127\.0\.0\.1:8069/web/health: timeout: no answer in 1(\.\d+)?s`).MatchString(mail.Text) {
		t.Errorf("the hang mail does not show the probes' timeouts")
	}
	for _, s := range append([]string{"SIGQUIT sent to every process of odoo.service"}, frames...) {
		if !strings.Contains(mail.Text, s) {
			t.Errorf("the hang mail does not say %q", s)
		}
	}
	// Both HTTP workers are busy in the addon's routes, and only they.
	if busy := busyLine.FindAllString(mail.Text, -1); len(busy) != 2 {
		t.Errorf("the hang mail shows %d busy HTTP workers in the addon's routes, want 2: %q", len(busy), busy)
	}
	if n := strings.Count(mail.Text, "busy: pid "); n != 2 {
		t.Errorf("the hang mail shows %d busy threads, want the 2 workers'", n)
	}
	if !regexp.MustCompile(`2 busy thread\(s\) of \d+ in the stack dump of 5 process\(es\)`).MatchString(rep.Summary) {
		t.Errorf("the summary does not count 2 busy threads of the dump of Odoo's 5 processes: %s", rep.Summary)
	}
	return rep, mail
}

// expectBack waits for the one recovery notice of the hang incident.
func (w *odooWatch) expectBack(t *testing.T, opening received, openingMail mailGot) (received, mailGot) {
	t.Helper()
	mails, hooks := w.earlyMail, w.earlyHook
	w.earlyMail, w.earlyHook = nil, nil
	if len(mails) == 0 || len(hooks) == 0 {
		m, h := w.collect(t, 1-len(mails), 1-len(hooks), recoveryWithin)
		mails, hooks = append(mails, m...), append(hooks, h...)
	}
	if len(mails) != 1 || len(hooks) != 1 {
		t.Fatalf("after the hang: %d mails, %d webhook posts, want one recovery notice on each\n%s", len(mails), len(hooks),
			w.m.sh("journalctl -q --no-pager -o cat -u "+watcher+" -n 20"))
	}
	rec, mail := hooks[0], mails[0]
	if rec.Event != "resolved" || rec.Incident == nil || rec.Incident.ID != opening.Incident.ID || rec.Incident.State != "resolved" {
		t.Fatalf("webhook got event %q incident %+v, want incident %s resolved", rec.Event, rec.Incident, opening.Incident.ID)
	}
	if !strings.HasPrefix(rec.Summary, odooHost+": odoo.service is back: answering again since ") || !strings.Contains(rec.Summary, "(hang x1)") {
		t.Errorf("recovery summary %q", rec.Summary)
	}
	if want := "[RESOLVED] " + openingMail.Subject; mail.Subject != want {
		t.Errorf("recovery mail subject %q, want %q", mail.Subject, want)
	}
	if irt := strings.Join(mail.Header["In-Reply-To"], " "); irt == "" || !strings.Contains(irt, openingMail.MessageID) {
		t.Errorf("the recovery mail's In-Reply-To %q is not the hang mail's Message-ID %q", irt, openingMail.MessageID)
	}
	return rec, mail
}

// stopTook is the "the hung run stopped in N s" of a hang report.
var stopTook = regexp.MustCompile(`the hung run stopped in ([0-9.]+) s`)

// odooHangRestart: both HTTP workers stuck, one in a time.sleep, one in a
// pg_sleep query: one hang report with their stacks, the restart, one
// recovery notice, nothing else (the forced stop is no crash).
func odooHangRestart(t *testing.T, w *odooWatch) {
	m := w.m
	before := m.props("odoo.service", "InvocationID")["InvocationID"]
	start := time.Now()
	w.block(t, "sleep")
	w.block(t, "query")
	w.waitQueries(t, 1)
	rep, mail := w.expectHang(t, before, sleepFrame, queryFrame, "restart asked of systemd")
	t.Logf("the hang report came %s after both workers were blocked", time.Since(start).Round(100*time.Millisecond))
	took := stopTook.FindStringSubmatch(mail.Text)
	if took == nil {
		t.Errorf("the hang mail does not say how long the stop took:\n%s", mail.Text)
	} else {
		t.Logf("the hung run stopped in %s s", took[1])
	}
	w.show(t, "hang", mail)
	after := m.props("odoo.service", "InvocationID", "ActiveState")
	if after["InvocationID"] == before || after["ActiveState"] != "active" {
		t.Errorf("odoo.service was not restarted: %v (before %s)", after, before)
	}
	waitHealthy(t, m)
	// The killed worker's query goes on in PostgreSQL.
	if n := w.cancelQueries(t); n != 1 {
		t.Errorf("%d pg_sleep queries left by the hung run, want the killed worker's 1", n)
	}
	_, back := w.expectBack(t, rep, mail)
	w.show(t, "hang-resolved", back)
	// The restart is the watcher's: the hook saw a stop, not a crash.
	w.expectNothing(t, watchInterval*watchFailures)
	checkStatus(t, m, 0, "odoo.service: active/running", "no open incident")
}

// odooHangReport: with on_hang = "report" both workers stuck in a query
// are reported and left; the watcher killed with SIGKILL while the hang is
// open is started again by systemd and reports nothing twice; the queries
// cancelled, one recovery notice.
func odooHangReport(t *testing.T, w *odooWatch) {
	m := w.m
	w.configure(t, "report", "")
	w.restartWatcher(t)
	before := m.props("odoo.service", "InvocationID")["InvocationID"]
	w.block(t, "query")
	w.block(t, "query")
	w.waitQueries(t, 2)
	rep, mail := w.expectHang(t, before, queryFrame, `on_hang = "report": the unit was left as it is`)
	w.show(t, "hang-report", mail)
	if strings.Contains(mail.Text, "restart asked") {
		t.Errorf("on_hang = report asked for a restart:\n%s", mail.Text)
	}

	wpid := m.props(watcher, "MainPID")["MainPID"]
	since := w.clock(t)
	m.sh("kill -9 " + wpid)
	j := w.waitWatcher(t, since, "is not reported again")
	if npid := m.props(watcher, "MainPID")["MainPID"]; npid == wpid {
		t.Errorf("the watcher was not started again")
	}
	t.Logf("the watcher after kill -9:\n%s", j)
	// A few rounds of failed probes of the still hung run.
	w.expectNothing(t, 3*watchInterval*watchFailures)
	if now := m.props("odoo.service", "InvocationID")["InvocationID"]; now != before {
		t.Errorf("on_hang = report restarted odoo.service: %s -> %s", before, now)
	}
	if n := w.cancelQueries(t); n != 2 {
		t.Errorf("cancelled %d queries, want the 2 stuck ones", n)
	}
	waitHealthy(t, m)
	w.expectBack(t, rep, mail)
	w.expectNothing(t, watchInterval*watchFailures)
	w.configure(t, "restart", "")
	w.restartWatcher(t)
}

// odooNotFound: a health URL on Odoo that answers 404: check-config and
// the watcher say to fix health_url; the watcher exits 78 and systemd
// does not restart it.
func odooNotFound(t *testing.T, w *odooWatch) {
	m := w.m
	url := "http://127.0.0.1:8069/web/nothing"
	w.configure(t, "restart", url)
	out, code := m.exitStatus("odoo-notify check-config 2>&1")
	if code != 78 || !strings.Contains(out, "watch.health_url: the health URL "+url+" answers 404 Not Found") {
		t.Errorf("check-config: exit %d\n%s", code, out)
	}
	restarts := m.props(watcher, "NRestarts")["NRestarts"]
	m.try(t.Context(), "systemctl restart "+watcher)
	// Past the watcher's RestartSec=5.
	time.Sleep(8 * time.Second)
	p := m.props(watcher, "ActiveState", "ExecMainStatus", "NRestarts")
	if p["ActiveState"] != "failed" || p["ExecMainStatus"] != "78" || p["NRestarts"] != restarts {
		t.Errorf("the watcher with a 404 health URL: %v, want failed with status 78, not restarted (NRestarts %s)", p, restarts)
	}
	j := m.sh("journalctl -q --no-pager -o cat -n 10 -u " + watcher)
	if !strings.Contains(j, "answers 404 Not Found: fix [watch] health_url") {
		t.Errorf("the watcher's journal does not say to fix the URL:\n%s", j)
	}
	t.Logf("the watcher said:\n%s", j)
	w.expectNothing(t, 0)
	w.configure(t, "restart", "")
	since := w.clock(t)
	m.sh("systemctl reset-failed " + watcher + "; systemctl start " + watcher)
	w.waitWatcher(t, since, "phase=healthy")
}

// degradedWindow is the degraded step's [watch] degraded_window: a notice
// at most this often, resolved after as long without events.
const degradedWindow = 20 * time.Second

// odooDegraded: with limit_time_real = 4 a request that sleeps 10 s has
// its worker killed by the master ("WorkerHTTP (N) timeout after 4s"): one
// degraded opening report counting it. A request that maps 1600 MiB past
// limit_memory_soft = 1536 MiB has its worker recycled after it: the next
// notice, an update of the same incident, names the memory limit. Quiet
// again: one recovery notice. The unit never fails. No cron worker: at
// limit_time_real = 4 Odoo 18's cron worker is itself killed every 6 s
// (its idle wait counts; limit_time_real_cron = 0 does not spare it), a
// spell that would never end.
func odooDegraded(t *testing.T, w *odooWatch) {
	m := w.m
	m.sh(`sed -i -e 's/^limit_time_real = .*/limit_time_real = 4/' -e '/^max_cron_threads/d' /etc/odoo/odoo.conf && printf 'max_cron_threads = 0\nlimit_memory_soft = 1610612736\nlimit_memory_hard = 3221225472\n' >> /etc/odoo/odoo.conf`)
	defer m.sh(`sed -i -e 's/^limit_time_real = .*/limit_time_real = 120/' -e '/^limit_memory_/d' -e 's/^max_cron_threads = 0/max_cron_threads = 1/' /etc/odoo/odoo.conf`)
	w.watchExtra = fmt.Sprintf("degraded_window = %q\n", degradedWindow.String())
	defer func() { w.watchExtra = "" }()
	w.configure(t, "restart", "")
	m.sh("systemctl restart odoo.service")
	waitHealthy(t, m)
	w.restartWatcher(t)
	before := m.props("odoo.service", "InvocationID")["InvocationID"]

	w.m.sh(`setsid -f timeout 60 python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8069/hang_test/sleep?seconds=10', timeout=50)" >/dev/null 2>&1 </dev/null`)
	mails, hooks := w.collect(t, 1, 1, 60*time.Second)
	if len(mails) != 1 || len(hooks) != 1 {
		t.Fatalf("after a worker timeout: %d mails, %d webhook posts, want one degraded report on each", len(mails), len(hooks))
	}
	open, openMail := hooks[0], mails[0]
	if open.Cause != "degraded" || open.Event != "firing" || open.Degraded == nil || open.Incident == nil {
		t.Fatalf("degraded opening: cause %q event %q degraded %+v incident %+v", open.Cause, open.Event, open.Degraded, open.Incident)
	}
	if !regexp.MustCompile(`^1 worker timeout.*\(limit_time_real = 4\)`).MatchString(open.Degraded.Summary) ||
		!strings.Contains(openMail.Subject, "odoo.service degraded: 1 worker timeout") {
		t.Errorf("degraded opening: summary %q, mail subject %q", open.Degraded.Summary, openMail.Subject)
	}
	if !strings.Contains(openMail.Text, "timeout after 4s") {
		t.Errorf("the degraded mail does not show Odoo's own line:\n%s", openMail.Text)
	}
	if strings.Contains(openMail.Text, "failed run") {
		t.Errorf("the degraded mail speaks of a failed run; nothing failed:\n%s", openMail.Text)
	}
	w.show(t, "degraded", openMail)

	// Within the window: counted, told at the next notice.
	w.m.sh(`python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8069/hang_test/map?mb=1600', timeout=30).read())"`)
	mails, hooks = w.collect(t, 1, 1, degradedWindow+40*time.Second)
	if len(mails) != 1 || len(hooks) != 1 {
		t.Fatalf("after a worker over limit_memory_soft: %d mails, %d webhook posts, want one update on each", len(mails), len(hooks))
	}
	upd, updMail := hooks[0], mails[0]
	if upd.Event != "update" || upd.Incident == nil || upd.Incident.ID != open.Incident.ID || upd.Degraded == nil ||
		!strings.Contains(upd.Degraded.Summary, "limit_memory_soft") {
		t.Fatalf("the memory limit's notice: event %q incident %+v degraded %+v, want an update of incident %s naming limit_memory_soft",
			upd.Event, upd.Incident, upd.Degraded, open.Incident.ID)
	}
	if !regexp.MustCompile(`New since the last notice: [^\n]*worker recycled past limit_memory_soft`).MatchString(updMail.Text) ||
		strings.Contains(updMail.Text, "This failure:") || strings.Contains(updMail.Text, "failed run") ||
		updMail.Subject != "[UPDATE] "+openMail.Subject {
		t.Errorf("the update's mail (subject %q) does not say what is new in it under the opening's subject %q, or repeats its summary or speaks of a failed run:\n%s",
			updMail.Subject, openMail.Subject, updMail.Text)
	}
	w.show(t, "degraded-update", updMail)

	// Quiet for a window: one recovery notice. An event still coming in
	// (a new worker slow to load the registry past limit_time_real) is an
	// update of the same incident first.
	var resolved []received
	var resolvedMail mailGot
	for deadline := time.Now().Add(3*degradedWindow + 60*time.Second); len(resolved) == 0 && time.Now().Before(deadline); {
		mails, hooks = w.collect(t, 1, 1, time.Until(deadline))
		for _, h := range hooks {
			if h.Incident == nil || h.Incident.ID != open.Incident.ID || (h.Event != "update" && h.Event != "resolved") {
				t.Fatalf("while the spell quiets: event %q incident %+v, want updates or the recovery of incident %s", h.Event, h.Incident, open.Incident.ID)
			}
			if h.Event == "resolved" {
				resolved = append(resolved, h)
			}
		}
		for _, m := range mails {
			if strings.HasPrefix(m.Subject, "[RESOLVED] ") {
				resolvedMail = m
			}
		}
	}
	if len(resolved) != 1 || resolvedMail.Subject != "[RESOLVED] "+openMail.Subject {
		t.Fatalf("quiet again: %d recovery notices by webhook, recovery mail %q, want one of each", len(resolved), resolvedMail.Subject)
	}
	mails = []mailGot{resolvedMail}
	w.show(t, "degraded-resolved", mails[0])
	if now := m.props("odoo.service", "InvocationID", "ActiveState"); now["InvocationID"] != before || now["ActiveState"] != "active" {
		t.Errorf("odoo.service did not live on through the spell: %v (was %s)", now, before)
	}
	m.sh("systemctl restart odoo.service")
	waitHealthy(t, m)
	w.configure(t, "restart", "")
	w.restartWatcher(t)
	// At limit_time_real = 4 a busy host's worker can time out again after
	// the spell ended (a new worker loading the registry): a new spell, a
	// new incident, reported as such. What came is shown, not failed on.
	_, hooks = w.collect(t, 0, 0, 0)
	for _, h := range hooks {
		if h.Incident != nil && h.Incident.ID == open.Incident.ID {
			t.Errorf("after its recovery notice, incident %s got %q: %s", open.Incident.ID, h.Event, h.Summary)
		} else {
			t.Logf("after the spell: %s %s", h.Event, h.Summary)
		}
	}
}
