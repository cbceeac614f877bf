package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hookDelayRuns is how many crashes each unit of BenchmarkHookDelay makes.
const hookDelayRuns = 60

// crashScript crashes at once, $2 times, then runs: a unit crash-looping
// as fast as its RestartSec= lets it.
const crashScript = `#!/bin/sh
f=/run/delay-$1
n=$(cat "$f" 2>/dev/null || echo 0)
echo $((n+1)) > "$f"
[ "$n" -ge "$2" ] && exec sleep infinity
exit 1
`

// BenchmarkHookDelay measures what `odoo-notify hook` (ExecStopPost=)
// costs a crashing unit under a real systemd 252: two units crash-loop the
// same way, one wired by `odoo-notify enable` (the hook), one by `enable
// --no-hook`, and systemd's own journal messages give, for each crash, the
// time from the main process's exit to the end of its stop (the "Failed
// with result" line, logged once ExecStopPost= is done) and to the start
// of the restart. It prints the median and p95 of both, with and without
// the hook, and reports what the hook adds (stop-added-ms and
// restart-added-ms, medians). One iteration is the whole measurement.
//
//	go test -run '^$' -bench HookDelay -benchtime 1x ./packaging/e2e/
func BenchmarkHookDelay(b *testing.B) {
	t := b
	requireTools(t)
	_, _, pkg := thePackage(t)
	const restartWait = 500 * time.Millisecond
	unit := func(name string) string {
		return fmt.Sprintf("[Unit]\nDescription=crash loop %s\nStartLimitIntervalSec=0\n\n[Service]\nExecStart=/usr/local/bin/crash-loop %s %d\nRestart=on-failure\nRestartSec=%dms\n",
			name, name, hookDelayRuns, restartWait.Milliseconds())
	}
	m := boot(t, func(root string) {
		writeRootFile(t, root, "root/pkgs/odoo-notify.deb", string(pkg), 0o644)
		writeRootFile(t, root, "usr/local/bin/crash-loop", crashScript, 0o755)
		writeRootFile(t, root, "etc/systemd/system/with-hook.service", unit("with-hook"), 0o644)
		writeRootFile(t, root, "etc/systemd/system/no-hook.service", unit("no-hook"), 0o644)
	})
	m.sh("apt-get update -qq && apt-get install -y -qq --no-install-recommends /root/pkgs/odoo-notify.deb >/dev/null 2>&1")
	m.sh("odoo-notify enable with-hook.service && odoo-notify enable no-hook.service --no-hook")
	if got := m.sh("systemctl show -p ExecStopPost with-hook.service"); !strings.Contains(got, "odoo-notify hook") {
		t.Fatalf("with-hook.service has no hook: %s", got)
	}
	if got := m.sh("systemctl show -p ExecStopPost no-hook.service"); strings.Contains(got, "odoo-notify") {
		t.Fatalf("no-hook.service has a hook: %s", got)
	}

	figures := map[string][2][]time.Duration{}
	// One unit at a time, so that neither loads the machine for the other.
	for _, name := range []string{"no-hook", "with-hook"} {
		m.sh("systemctl start " + name + ".service")
		deadline := time.Now().Add(time.Duration(hookDelayRuns)*(restartWait+time.Second) + time.Minute)
		for !strings.Contains(m.sh("cat /run/delay-"+name+" 2>/dev/null || true"), strconv.Itoa(hookDelayRuns+1)) {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not crash %d times in time:\n%s", name, hookDelayRuns, m.sh("journalctl -q --no-pager -u "+name+".service -n 20"))
			}
			time.Sleep(time.Second)
		}
		m.sh("systemctl stop " + name + ".service")
		stop, restart := crashTimes(t, m.sh("journalctl -q --no-pager -o json -u "+name+".service"), restartWait)
		if len(restart) < hookDelayRuns-1 {
			t.Fatalf("%s: %d restarts in its journal, want %d", name, len(restart), hookDelayRuns-1)
		}
		figures[name] = [2][]time.Duration{stop, restart}
	}
	if n := m.sh("journalctl -q --no-pager -u 'odoo-notify@with-hook.service.service' | grep -c 'with-hook.service failed' || true"); strings.TrimSpace(n) == "0" {
		t.Errorf("the hook started no handler that reported with-hook.service's crashes")
	}

	// The same binary by hand, 50 times each: the hook (recording a run
	// and starting the handler over D-Bus) and version.
	byHand := func(script string) []time.Duration {
		var ds []time.Duration
		for _, f := range strings.Fields(m.sh(`for i in $(seq 50); do s=$(date +%s%N); ` + script + ` >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e-s)/1000 )); done`)) {
			us, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("timing %q: %q", script, f)
			}
			ds = append(ds, time.Duration(us)*time.Microsecond)
		}
		return ds
	}
	const failed = "SERVICE_RESULT=exit-code EXIT_CODE=exited EXIT_STATUS=1 INVOCATION_ID=$(printf '%032x' $i) "
	hook := byHand(failed + "odoo-notify hook with-hook.service")
	// Where its time goes: the state folder on tmpfs (fsync costs
	// nothing), no system bus (the handler's start fails at once), and
	// starting the binary at all.
	tmpfs := byHand(failed + "odoo-notify hook with-hook.service --state-dir /run/hook-bench")
	noBus := byHand(failed + "DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent odoo-notify hook with-hook.service")
	baseline := byHand("odoo-notify version")

	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	for _, name := range []string{"no-hook", "with-hook"} {
		f := figures[name]
		t.Logf("%-9s exit to stopped (ExecStopPost= done): median %s, p95 %s; exit to restart (minus RestartSec=%s): median %s, p95 %s; %d crashes",
			name, ms(quantile(f[0], 0.5)), ms(quantile(f[0], 0.95)), restartWait, ms(quantile(f[1], 0.5)), ms(quantile(f[1], 0.95)), len(f[1]))
	}
	for _, f := range []struct {
		what string
		ds   []time.Duration
	}{
		{"odoo-notify hook", hook}, {"hook, state folder on tmpfs", tmpfs}, {"hook, no system bus", noBus}, {"odoo-notify version", baseline},
	} {
		t.Logf("by hand, 50 runs: %-28s median %s, p95 %s", f.what, ms(quantile(f.ds, 0.5)), ms(quantile(f.ds, 0.95)))
	}
	// The restart's start is rounded by systemd's timer accuracy (sd-event
	// coalesces timers within 250 ms), which hides part of the hook's
	// time; the stop, which waits for ExecStopPost=, shows all of it.
	added := quantile(figures["with-hook"][0], 0.5) - quantile(figures["no-hook"][0], 0.5)
	t.Logf("the hook adds %s to the median stop, %s to the p95; %s to the median restart, %s to the p95",
		ms(added), ms(quantile(figures["with-hook"][0], 0.95)-quantile(figures["no-hook"][0], 0.95)),
		ms(quantile(figures["with-hook"][1], 0.5)-quantile(figures["no-hook"][1], 0.5)),
		ms(quantile(figures["with-hook"][1], 0.95)-quantile(figures["no-hook"][1], 0.95)))
	b.ReportMetric(float64(added.Microseconds())/1000, "stop-added-ms")
	b.ReportMetric(float64((quantile(figures["with-hook"][1], 0.5)-quantile(figures["no-hook"][1], 0.5)).Microseconds())/1000, "restart-added-ms")
	b.ReportMetric(float64(quantile(hook, 0.5).Microseconds())/1000, "hook-median-ms")
	b.ReportMetric(float64(quantile(baseline, 0.5).Microseconds())/1000, "version-median-ms")
}

// crashTimes reads a unit's journal (journalctl -o json) and returns, per
// crash, the time from "Main process exited" to "Failed with result" (the
// stop, ExecStopPost= included) and to the next "Started" less restartWait.
func crashTimes(t testing.TB, journal string, restartWait time.Duration) (stop, restart []time.Duration) {
	t.Helper()
	const (
		msgExited  = "98e322203f7a4ed290d09fe03c09fe15"
		msgFailed  = "d9b373ed55a64feb8242e02dbe79a49c"
		msgStarted = "39f53479d3a045ac8e11786248231fbf"
	)
	var exited time.Time
	sc := bufio.NewScanner(strings.NewReader(journal))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e struct {
			MessageID string `json:"MESSAGE_ID"`
			Realtime  string `json:"__REALTIME_TIMESTAMP"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("journalctl -o json: %v: %s", err, sc.Text())
		}
		us, err := strconv.ParseInt(e.Realtime, 10, 64)
		if err != nil {
			t.Fatalf("journalctl -o json: __REALTIME_TIMESTAMP %q", e.Realtime)
		}
		at := time.UnixMicro(us)
		switch e.MessageID {
		case msgExited:
			exited = at
		case msgFailed:
			if !exited.IsZero() {
				stop = append(stop, at.Sub(exited))
			}
		case msgStarted:
			if !exited.IsZero() {
				restart = append(restart, at.Sub(exited)-restartWait)
				exited = time.Time{}
			}
		}
	}
	return stop, restart
}

// quantile is the q-quantile of ds (nearest rank).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*q+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}
