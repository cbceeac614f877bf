package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/internal/testenv"
)

// BenchmarkWatchCost measures what `odoo-notify watch` costs under a real
// systemd 252, as the .deb installs it, with the default [watch] settings
// (one probe per 10 s, the degraded detector following the unit's journal
// and the kernel's):
//
//   - idle: the watcher of a healthy stand-in Odoo that logs nothing,
//     sampled over $ODOO_NOTIFY_COST_SECONDS (600, the 10 min)
//     after a minute to settle: its RSS (its own memory and what is mapped
//     from the binary and libraries) and its CPU as a share of one core;
//   - following: the watcher of a stand-in that logs 1,000 lines a second
//     (werkzeug's access lines, one in a thousand a worker timeout), over
//     60 s: its CPU and RSS, and how many lines the journal took in that
//     time, so that the rate is seen, not assumed.
//
// It prints the figures and reports them as metrics; it asserts no timing.
// One iteration is the whole measurement.
//
//	go test -timeout 30m -run '^$' -bench WatchCost -benchtime 1x -v ./packaging/e2e/
func BenchmarkWatchCost(b *testing.B) {
	t := b
	requireTools(t)
	idleSecs := 600
	if s := os.Getenv("ODOO_NOTIFY_COST_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			t.Fatalf("ODOO_NOTIFY_COST_SECONDS=%q: want a number of seconds, at least 10", s)
		}
		idleSecs = n
	}
	const followSecs, rate = 60, 1000
	repo, _, pkg := thePackage(t)
	standin, cost := watchFiles(t, repo)
	hook := newSink(t, http.StatusNoContent, "", "")
	idlePort, busyPort := testenv.FreePort(t), testenv.FreePort(t)
	unit := func(desc string, port, lines int) string {
		// journald's default rate limit (10,000 lines in 30 s) would drop
		// most of a busy unit's lines.
		return fmt.Sprintf(`[Unit]
Description=%s

[Service]
User=odoo
ExecStart=/usr/bin/python3 /opt/odoo-standin/odoo-http
Environment=PYTHONUNBUFFERED=1 STANDIN_PORT=%d STANDIN_LINES_PER_SEC=%d
SyslogIdentifier=odoo
LogRateLimitIntervalSec=0
`, desc, port, lines)
	}
	m := boot(t, func(root string) {
		writeRootFile(t, root, "root/pkgs/odoo-notify.deb", string(pkg), 0o644)
		writeRootFile(t, root, "opt/odoo-standin/odoo-http", string(standin), 0o755)
		writeRootFile(t, root, "root/watch-cost", string(cost), 0o755)
		writeRootFile(t, root, "etc/systemd/system/odoo.service", unit("Odoo (stand-in, idle)", idlePort, 0), 0o644)
		writeRootFile(t, root, "etc/systemd/system/busy.service", unit("Odoo (stand-in, 1,000 lines a second)", busyPort, rate), 0o644)
	})
	m.sh("useradd --system --user-group --no-create-home --home-dir /nonexistent odoo && systemctl daemon-reload")
	m.sh("apt-get update -qq")
	if out := m.sh("apt-get install -y --no-install-recommends /root/pkgs/odoo-notify.deb 2>&1"); !strings.Contains(out, "Setting up odoo-notify") {
		t.Fatalf("apt-get install:\n%s", out)
	}
	// The defaults, but for the health URL and a channel to send to.
	m.sh(fmt.Sprintf(`cat > /etc/odoo-notify/config.toml <<'EOF'
[watch]
health_url = "http://127.0.0.1:%d/web/health"

[[webhook]]
name = "alerts"
url = "%s/hooks/cost"
EOF`, idlePort, hook.URL))
	m.sh("systemctl start odoo.service && odoo-notify enable odoo.service --watch")
	idleWatcher := "odoo-notify-watch@odoo.service.service"
	waitWatching(t, m, idleWatcher)
	time.Sleep(time.Minute)
	b.ResetTimer()
	idle := sampleCost(t, m, idleWatcher, idleSecs)
	t.Logf("idle, one probe per 10 s, over %d s: %s", idleSecs, idle.line)

	m.sh(fmt.Sprintf("systemctl start busy.service && odoo-notify enable busy.service --watch --health-url http://127.0.0.1:%d/web/health", busyPort))
	busyWatcher := "odoo-notify-watch@busy.service.service"
	waitWatching(t, m, busyWatcher)
	time.Sleep(15 * time.Second)
	since := time.Now().Unix()
	busy := sampleCost(t, m, busyWatcher, followSecs)
	logged, _ := strconv.Atoi(strings.TrimSpace(m.sh(fmt.Sprintf("journalctl -q --no-pager -o cat --since @%d --until @%d -u busy.service | wc -l", since, since+followSecs))))
	t.Logf("following %d lines/s (the journal took in %d lines in %d s, %.0f a second): %s", rate, logged, followSecs, float64(logged)/followSecs, busy.line)
	if j := m.sh("journalctl -q --no-pager -o cat -u " + busyWatcher); strings.Contains(j, "cannot follow the journal") {
		t.Errorf("the busy unit's watcher does not follow the journal:\n%s", j)
	}
	// The worker timeouts in the busy unit's lines are heard: a degraded
	// notice went out, so the watcher did read what it was measured on.
	heard := false
	for _, r := range hook.take() {
		heard = heard || strings.Contains(r.Body, `"cause":"degraded"`) && strings.Contains(r.Body, "busy.service")
	}
	if !heard {
		t.Errorf("no degraded notice about busy.service came while it logged worker timeouts: the watcher did not read its lines")
	}
	b.ReportMetric(idle.rss, "idle-rss-MiB")
	b.ReportMetric(idle.anon, "idle-anon-MiB")
	b.ReportMetric(idle.cpu, "idle-cpu-%")
	b.ReportMetric(busy.cpu, "follow-cpu-%")
	b.ReportMetric(busy.rss, "follow-rss-MiB")
	b.ReportMetric(float64(logged)/followSecs, "lines/s")
}

// cost is what scripts/watch-cost printed of one watcher.
type cost struct {
	line                 string
	rss, anon, file, cpu float64
}

var costRe = regexp.MustCompile(`RSS ([0-9.]+) MiB \(peak [0-9.]+ MiB; ([0-9.]+) MiB its own memory, ([0-9.]+) MiB mapped from files.*= ([0-9.]+)% of one core`)

// sampleCost runs scripts/watch-cost on watcher for secs seconds.
func sampleCost(t testing.TB, m *machine, watcher string, secs int) cost {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+60)*time.Second)
	defer cancel()
	out, err := m.try(ctx, fmt.Sprintf("/root/watch-cost %s %d", watcher, secs))
	if err != nil {
		t.Fatalf("watch-cost %s: %v\n%s", watcher, err, out)
	}
	out = strings.TrimSpace(out)
	mm := costRe.FindStringSubmatch(out)
	if mm == nil {
		t.Fatalf("watch-cost printed %q", out)
	}
	// Where the resident memory is: the largest mappings.
	maps := m.sh(fmt.Sprintf(`pid=$(systemctl show -p MainPID --value %s)
awk '/^[0-9a-f]+-[0-9a-f]+ /{n=$6; if (n=="") n="[anon]"} /^Rss:/{r[n]+=$2} END{for (n in r) if (r[n]>=256) printf "%%.1f MiB %%s\n", r[n]/1024, n}' /proc/$pid/smaps | sort -rn`, watcher))
	c := cost{line: out + "\n  resident, by mapping:\n  " + strings.ReplaceAll(strings.TrimSpace(maps), "\n", "\n  ")}
	for i, p := range []*float64{&c.rss, &c.anon, &c.file, &c.cpu} {
		*p, _ = strconv.ParseFloat(mm[i+1], 64)
	}
	return c
}

// waitWatching waits for watcher to say it watches and has seen its unit
// healthy.
func waitWatching(t testing.TB, m *machine, watcher string) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(time.Second) {
		j := m.sh("journalctl -q --no-pager -o cat -u " + watcher)
		if strings.Contains(j, "phase=healthy") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not see its unit healthy in 90 s:\n%s", watcher, j)
		}
	}
}
