package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/internal/testenv"
	"github.com/odoo-notify/odoo-notify/report"
)

const watcher = "odoo-notify-watch@odoo.service.service"

// watchWorld is the container of the watch test, its stand-in Odoo's port
// and the webhook every report goes to.
type watchWorld struct {
	m    *machine
	hook *sink
	port int
}

// TestWatch installs the .deb in a booted Debian 12, runs a stand-in Odoo
// that answers /web/health, wires it with `enable --watch`, and hangs it
// with SIGSTOP: the watcher under systemd must report each hang once,
// restart it (or not, with on_hang = "report"), and send one recovery.
func TestWatch(t *testing.T) {
	requireTools(t)
	repo, _, pkg := thePackage(t)
	standin, cost := watchFiles(t, repo)
	w := &watchWorld{hook: newSink(t, http.StatusNoContent, "", ""), port: testenv.FreePort(t)}
	w.m = boot(t, func(root string) {
		writeRootFile(t, root, "root/pkgs/odoo-notify.deb", string(pkg), 0o644)
		writeRootFile(t, root, "opt/odoo-standin/odoo-http", string(standin), 0o755)
		writeRootFile(t, root, "root/watch-cost", string(cost), 0o755)
		writeRootFile(t, root, "etc/systemd/system/odoo.service", `[Unit]
Description=Odoo (stand-in answering /web/health)

[Service]
User=odoo
ExecStart=/usr/bin/python3 /opt/odoo-standin/odoo-http
EnvironmentFile=/etc/odoo-standin.env
Environment=PYTHONUNBUFFERED=1
SyslogIdentifier=odoo
`, 0o644)
		writeRootFile(t, root, "etc/odoo-standin.env", fmt.Sprintf("STANDIN_PORT=%d\n", w.port), 0o644)
	})
	m := w.m
	m.sh("useradd --system --user-group --no-create-home --home-dir /nonexistent odoo && systemctl daemon-reload")
	m.sh("apt-get update -qq")
	if out := m.sh("apt-get install -y --no-install-recommends /root/pkgs/odoo-notify.deb 2>&1"); !strings.Contains(out, "Setting up odoo-notify") {
		t.Fatalf("apt-get install:\n%s", out)
	}
	w.configure(t, "restart", fmt.Sprintf("http://127.0.0.1:%d/web/health", w.port))
	m.sh("systemctl start odoo.service")

	steps := []struct {
		name string
		f    func(*testing.T, *watchWorld)
	}{
		{"enable --watch starts the watcher", enableWatch},
		{"the watcher's sandbox", watcherSandbox},
		{"a slow start is not a hang", slowStart},
		{"a hang is reported, restarted and recovers", hangRestart},
		{"on_hang = report leaves it, and a killed watcher reports nothing twice", hangReport},
		{"worker timeouts are one degraded incident, resolved once quiet", degradedSpell},
		{"a health URL that answers 404 says to set health_url", notFound},
		{"what an idle watcher costs", idleCost},
		{"disable stops the watcher", disableWatch},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.f(t, w) }) {
			t.Logf("the watcher's journal:\n%s", m.sh("journalctl -q --no-pager -o short-precise -u "+watcher+" -n 40 || true"))
			if s.name == "enable --watch starts the watcher" {
				t.FailNow()
			}
		}
	}
}

// watchFiles reads what a watch test puts in its container: the stand-in
// Odoo and scripts/watch-cost.
func watchFiles(t testing.TB, repo string) (standin, cost []byte) {
	t.Helper()
	standin, err := os.ReadFile("testdata/odoo-http")
	if err != nil {
		t.Fatal(err)
	}
	if cost, err = os.ReadFile(filepath.Join(repo, "scripts/watch-cost")); err != nil {
		t.Fatal(err)
	}
	return standin, cost
}

// configure writes config.toml: the webhook, a quick watch.
func (w *watchWorld) configure(t *testing.T, onHang, url string) {
	t.Helper()
	w.configureWith(t, onHang, url, "")
}

// configureWith writes config.toml with more [watch] keys.
func (w *watchWorld) configureWith(t *testing.T, onHang, url, watchKeys string) {
	t.Helper()
	w.m.sh(fmt.Sprintf(`cat > /etc/odoo-notify/config.toml <<'EOF'
[general]
hostname = %q

[incidents]
stable_after = "2s"

[watch]
health_url = %q
interval = "1s"
timeout = "1s"
start_grace = "10s"
failures = 3
on_hang = %q
%s

[[webhook]]
name = "alerts"
url = "%s/hooks/watch"
EOF`, hostname, url, onHang, watchKeys, w.hook.URL))
}

// restartWatcher makes the watcher read the config again.
func (w *watchWorld) restartWatcher(t *testing.T) {
	t.Helper()
	w.m.sh("systemctl restart " + watcher)
	w.waitActive(t, watcher, 20*time.Second)
}

func (w *watchWorld) waitActive(t *testing.T, unit string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for w.m.props(unit, "ActiveState")["ActiveState"] != "active" {
		if time.Now().After(deadline) {
			t.Fatalf("%s is not active after %s: %v\n%s", unit, within, w.m.props(unit, "ActiveState", "SubState", "Result"),
				w.m.sh("journalctl -q --no-pager -n 30 -u "+unit))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// reports waits up to within for n reports (the webhook's JSON), then a
// little more to see that no other comes.
func (w *watchWorld) reports(t *testing.T, n int, within time.Duration) []report.Report {
	t.Helper()
	var got []report.Report
	deadline := time.Now().Add(within)
	for len(got) < n && time.Now().Before(deadline) {
		for _, r := range w.hook.take() {
			var rep report.Report
			if err := json.Unmarshal([]byte(r.Body), &rep); err != nil {
				t.Fatalf("webhook body: %v\n%s", err, r.Body)
			}
			got = append(got, rep)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	for _, r := range w.hook.take() {
		var rep report.Report
		json.Unmarshal([]byte(r.Body), &rep)
		got = append(got, rep)
	}
	if len(got) != n {
		var titles []string
		for _, r := range got {
			titles = append(titles, r.Event+": "+r.Title()+": "+r.Summary)
		}
		t.Fatalf("%d reports, want %d: %q\nwatcher:\n%s", len(got), n, titles, w.m.sh("journalctl -q --no-pager -o short-precise -n 40 -u "+watcher))
	}
	return got
}

func enableWatch(t *testing.T, w *watchWorld) {
	out := w.m.sh("odoo-notify enable odoo.service --watch")
	for _, s := range []string{"Wants=odoo-notify-watch@%n.service\n", "started " + watcher} {
		if !strings.Contains(out, s) {
			t.Errorf("enable --watch does not say %q:\n%s", s, out)
		}
	}
	// Type=notify: active only once it said READY=1.
	w.waitActive(t, watcher, 20*time.Second)
	p := w.m.props(watcher, "Type", "WatchdogUSec", "Restart", "User")
	if p["Type"] != "notify" || p["WatchdogUSec"] != "2min" || p["Restart"] != "on-failure" || p["User"] != "root" {
		t.Errorf("the watcher: %v", p)
	}
	time.Sleep(3 * time.Second)
	j := w.m.sh("journalctl -q --no-pager -o cat -u " + watcher)
	if !strings.Contains(j, `msg="watch: watching"`) || !strings.Contains(j, fmt.Sprintf("url=http://127.0.0.1:%d/web/health", w.port)) {
		t.Errorf("the watcher does not say what it watches:\n%s", j)
	}
	if !strings.Contains(j, "phase=healthy") {
		t.Errorf("the watcher did not see the unit healthy:\n%s", j)
	}
	if got := w.hook.take(); len(got) != 0 {
		t.Errorf("%d reports from a healthy unit", len(got))
	}
}

func watcherSandbox(t *testing.T, w *watchWorld) {
	out := w.m.sh("systemd-analyze security " + watcher + " 2>&1 | tail -n 1")
	mm := regexp.MustCompile(`exposure level for \S+: ([0-9.]+)`).FindStringSubmatch(out)
	if mm == nil {
		t.Fatalf("systemd-analyze security: no exposure level in %q", out)
	}
	level, _ := strconv.ParseFloat(mm[1], 64)
	t.Logf("systemd-analyze security %s: %s", watcher, mm[1])
	if level > 2.5 {
		t.Errorf("systemd-analyze security rates the watcher %.1f, want 2.5 or better", level)
	}
}

func slowStart(t *testing.T, w *watchWorld) {
	w.m.sh(fmt.Sprintf("printf 'STANDIN_PORT=%d\\nSTANDIN_DELAY=7\\n' > /etc/odoo-standin.env && systemctl restart odoo.service", w.port))
	time.Sleep(12 * time.Second)
	if got := w.hook.take(); len(got) != 0 {
		t.Errorf("%d reports during a 7 s start with start_grace 10s: %s", len(got), got[0].Body)
	}
	j := w.m.sh("journalctl -q --no-pager -o cat -n 20 -u " + watcher)
	if !strings.Contains(j, "phase=healthy") {
		t.Errorf("the watcher did not see the slow start answer:\n%s", j)
	}
	w.m.sh(fmt.Sprintf("printf 'STANDIN_PORT=%d\\n' > /etc/odoo-standin.env", w.port))
}

// busNames is the watcher's connections to the system bus, by unique name
// (busctl list, whose second column is the connection's pid).
func (w *watchWorld) busNames(t *testing.T) []string {
	pid := w.m.props(watcher, "MainPID")["MainPID"]
	var names []string
	for _, l := range strings.Split(w.m.sh("busctl --no-pager --no-legend list --unique"), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] == pid {
			names = append(names, f[0])
		}
	}
	return names
}

func (w *watchWorld) mainPID(t *testing.T) string {
	pid := w.m.props("odoo.service", "MainPID")["MainPID"]
	if pid == "" || pid == "0" {
		t.Fatalf("odoo.service has no main process: %v", w.m.props("odoo.service", "ActiveState", "Result"))
	}
	return pid
}

func hangRestart(t *testing.T, w *watchWorld) {
	before := w.m.props("odoo.service", "InvocationID")["InvocationID"]
	start := time.Now()
	w.m.sh("kill -STOP " + w.mainPID(t))
	got := w.reports(t, 2, 60*time.Second)
	hang, back := got[0], got[1]
	t.Logf("hang report %.1f s after SIGSTOP:\n%s", time.Since(start).Seconds(), hangText(hang))
	if hang.Cause != "hang" || hang.Event != "firing" || hang.Unit != "odoo.service" || hang.InvocationID != before {
		t.Errorf("hang report: cause %q event %q unit %q invocation %q (want %s)", hang.Cause, hang.Event, hang.Unit, hang.InvocationID, before)
	}
	text := hangText(hang)
	// SIGQUIT "to every process": where systemd cannot read the unit's
	// cgroup (this container on a cgroup v1 host: EIO), it reaches the
	// main process only, and the report says so.
	for _, s := range []string{"timeout: no answer in", "SIGQUIT ", "restart asked of systemd", "the hung run stopped in", "no stack dump came within 5s"} {
		if !strings.Contains(text, s) {
			t.Errorf("the hang report does not say %q:\n%s", s, text)
		}
	}
	if !strings.Contains(hang.Title(), "hung") {
		t.Errorf("title %q", hang.Title())
	}
	if back.Event != "resolved" || back.Incident == nil || hang.Incident == nil || back.Incident.ID != hang.Incident.ID || !strings.Contains(back.Summary, "answering again since") {
		t.Errorf("recovery: event %q summary %q incident %+v (hang's %+v)", back.Event, back.Summary, back.Incident, hang.Incident)
	}
	after := w.m.props("odoo.service", "InvocationID", "ActiveState")
	if after["InvocationID"] == before || after["ActiveState"] != "active" {
		t.Errorf("odoo.service was not restarted: %v (before %s)", after, before)
	}
	// What the root watcher wrote belongs to the odoo-notify user, so
	// that the handler and the flush timer can read and rewrite it.
	if out := w.m.sh("find /var/lib/odoo-notify ! -user odoo-notify | head"); strings.TrimSpace(out) != "" {
		t.Errorf("files in the state folder not owned by odoo-notify:\n%s", out)
	}
	if out, code := w.m.exitStatus("systemctl start odoo-notify-flush.service 2>&1 && journalctl -q --no-pager -o cat -u odoo-notify-flush.service | grep -E 'level=(WARN|ERROR)'"); code == 0 {
		t.Errorf("the flush after a hang warns:\n%s", out)
	}
	// The restart was a stop the watcher asked for: no crash report.
	if out := w.m.sh("ls /var/lib/odoo-notify/failed 2>/dev/null | wc -l"); strings.TrimSpace(out) != "0" {
		t.Errorf("the restart left a failed run for the hook: %s", out)
	}
}

// hangText is what a person reads of the report: summary and lines.
func hangText(r report.Report) string {
	var b strings.Builder
	b.WriteString(r.Title() + "\n" + r.Summary + "\n")
	for _, l := range r.Lines {
		b.WriteString(l.Message + "\n")
	}
	return b.String()
}

func hangReport(t *testing.T, w *watchWorld) {
	w.configure(t, "report", fmt.Sprintf("http://127.0.0.1:%d/web/health", w.port))
	w.restartWatcher(t)
	time.Sleep(3 * time.Second)
	before := w.m.props("odoo.service", "InvocationID")["InvocationID"]
	pid := w.mainPID(t)
	w.m.sh("kill -STOP " + pid)
	got := w.reports(t, 1, 30*time.Second)
	text := hangText(got[0])
	if got[0].Cause != "hang" || got[0].Event != "firing" || !strings.Contains(text, `on_hang = "report": the unit was left as it is`) {
		t.Errorf("hang report: cause %q event %q:\n%s", got[0].Cause, got[0].Event, text)
	}
	if now := w.m.props("odoo.service", "InvocationID")["InvocationID"]; now != before {
		t.Errorf("on_hang = report restarted odoo.service: %s -> %s", before, now)
	}
	// kill -9 the watcher while the hang is open: systemd starts it again
	// (RestartSec=5), and it does not report the hang twice.
	wpid := w.m.props(watcher, "MainPID")["MainPID"]
	w.m.sh("kill -9 " + wpid)
	time.Sleep(2 * time.Second)
	w.waitActive(t, watcher, 30*time.Second)
	if npid := w.m.props(watcher, "MainPID")["MainPID"]; npid == wpid {
		t.Errorf("the watcher was not started again")
	}
	time.Sleep(8 * time.Second)
	if extra := w.hook.take(); len(extra) != 0 {
		t.Errorf("the restarted watcher reported again: %s", extra[0].Body)
	}
	if j := w.m.sh("journalctl -q --no-pager -o cat -n 30 -u " + watcher); !strings.Contains(j, "is not reported again") {
		t.Errorf("the restarted watcher does not say it resumed the open hang:\n%s", j)
	}
	w.m.sh("kill -CONT " + pid)
	back := w.reports(t, 1, 30*time.Second)
	if back[0].Event != "resolved" || !strings.Contains(back[0].Summary, "answering again since") {
		t.Errorf("recovery: %q %q", back[0].Event, back[0].Summary)
	}
}

func notFound(t *testing.T, w *watchWorld) {
	url := fmt.Sprintf("http://127.0.0.1:%d/web/nothing", w.port)
	w.configure(t, "restart", url)
	out, code := w.m.exitStatus("odoo-notify check-config 2>&1")
	if code != 78 || !strings.Contains(out, "watch.health_url: the health URL "+url+" answers 404 Not Found") {
		t.Errorf("check-config: exit %d\n%s", code, out)
	}
	w.m.try(t.Context(), "systemctl restart "+watcher)
	time.Sleep(8 * time.Second)
	p := w.m.props(watcher, "ActiveState", "ExecMainStatus", "NRestarts")
	if p["ActiveState"] != "failed" || p["ExecMainStatus"] != "78" {
		t.Errorf("the watcher with a 404 health URL: %v, want failed with status 78, not restarted", p)
	}
	if j := w.m.sh("journalctl -q --no-pager -o cat -n 10 -u " + watcher); !strings.Contains(j, "answers 404 Not Found") {
		t.Errorf("the watcher's journal does not say to fix the URL:\n%s", j)
	}
	w.configure(t, "restart", fmt.Sprintf("http://127.0.0.1:%d/web/health", w.port))
	w.m.sh("systemctl reset-failed " + watcher + "; systemctl start " + watcher)
	w.waitActive(t, watcher, 20*time.Second)
}

func disableWatch(t *testing.T, w *watchWorld) {
	out := w.m.sh("odoo-notify disable odoo.service")
	if !strings.Contains(out, "stopped "+watcher) {
		t.Errorf("disable:\n%s", out)
	}
	if s := w.m.props(watcher, "ActiveState")["ActiveState"]; s != "inactive" {
		t.Errorf("after disable the watcher is %s", s)
	}
	if got := w.m.sh("systemctl show -p Wants --value odoo.service"); strings.Contains(got, "odoo-notify-watch") {
		t.Errorf("after disable odoo.service still wants %s", got)
	}
}

// idleCost samples the watcher of a healthy unit for a minute at one probe
// a second (scripts/watch-cost) and scales the CPU to one probe per 10 s,
// the default interval.
func idleCost(t *testing.T, w *watchWorld) {
	before := w.busNames(t)
	out := w.m.sh("/root/watch-cost " + watcher + " 60")
	// One look at the unit a second, over one connection kept for the
	// watcher's life: the same one bus name before and after the minute.
	if after := w.busNames(t); len(before) != 1 || !slices.Equal(before, after) {
		t.Errorf("the watcher's bus connections: %v before 60 probes, %v after; want the same one", before, after)
	}
	t.Logf("at interval 1s: %s", strings.TrimSpace(out))
	mm := regexp.MustCompile(`RSS ([0-9.]+) MiB \(peak [0-9.]+ MiB; ([0-9.]+) MiB its own memory, ([0-9.]+) MiB mapped from files.*= ([0-9.]+)% of one core`).FindStringSubmatch(out)
	if mm == nil {
		t.Fatalf("watch-cost printed %q", out)
	}
	rss, _ := strconv.ParseFloat(mm[1], 64)
	anon, _ := strconv.ParseFloat(mm[2], 64)
	cpu, _ := strconv.ParseFloat(mm[4], 64)
	t.Logf("idle watcher: RSS %.1f MiB (%.1f MiB its own, %s MiB the binary and libraries mapped); CPU %.3f%% of one core at one probe a second, so about %.3f%% at one per 10 s", rss, anon, mm[3], cpu, cpu/10)
	// The binary's code pages are page cache the kernel can drop; what
	// the watcher itself holds is bounded here.
	if anon > 15 {
		t.Errorf("the idle watcher holds %.1f MiB of its own, want at most 15", anon)
	}
	if cpu/10 > 0.2 {
		t.Errorf("the idle watcher would use %.3f%% of a core at one probe per 10 s, want at most 0.2%%", cpu/10)
	}
}

// degradedSpell: the stand-in logs a real Odoo 18's two worker timeouts;
// the watcher, following the unit's journal, must send one opening of a
// degraded incident that counts them, and after a quiet degraded_window
// its one recovery notice.
func degradedSpell(t *testing.T, w *watchWorld) {
	w.configureWith(t, "restart", fmt.Sprintf("http://127.0.0.1:%d/web/health", w.port), "degraded_window = \"20s\"")
	w.restartWatcher(t)
	time.Sleep(3 * time.Second)
	w.hook.take()
	start := time.Now()
	w.m.sh("kill -USR1 " + w.mainPID(t))
	got := w.reports(t, 2, 90*time.Second)
	open, back := got[0], got[1]
	t.Logf("degraded report %.0f s after the lines: %s\n%s", time.Since(start).Seconds(), open.Title(), open.Summary)
	if open.Cause != report.CauseDegraded || open.Event != "firing" || open.Degraded == nil || open.Degraded.State != "opened" {
		t.Fatalf("the opening: cause %q event %q degraded %+v", open.Cause, open.Event, open.Degraded)
	}
	// The first event opens the spell at once; the second is the spell's,
	// counted by the notice that follows (here its end).
	if !strings.Contains(open.Title(), "odoo.service degraded: 1 worker timeout (limit_time_real = 20)") {
		t.Errorf("the opening's title does not name the worker timeout and odoo.conf's limit: %q", open.Title())
	}
	if len(open.Degraded.Counts) != 1 || open.Degraded.Counts[0].Kind != "time-real" || open.Degraded.Counts[0].N != 1 || len(open.Degraded.Examples) != 1 {
		t.Errorf("the opening's counts and examples: %+v", open.Degraded)
	}
	if back.Event != "resolved" || back.Incident == nil || open.Incident == nil || back.Incident.ID != open.Incident.ID ||
		!strings.Contains(back.Summary, "no longer degraded") || !strings.Contains(back.Summary, "2 worker timeouts") {
		t.Errorf("recovery: event %q summary %q incident %+v (opening's %+v)", back.Event, back.Summary, back.Incident, open.Incident)
	}
	if j := w.m.sh("journalctl -q --no-pager -o cat -n 40 -u " + watcher); strings.Contains(j, "cannot learn the unit's main process") || strings.Contains(j, "cannot follow the journal") {
		t.Errorf("the watcher could not follow the unit or learn its main process:\n%s", j)
	}
	w.configure(t, "restart", fmt.Sprintf("http://127.0.0.1:%d/web/health", w.port))
}
