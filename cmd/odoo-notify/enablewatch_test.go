package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnableWatch(t *testing.T) {
	root := t.TempDir()
	unitDropIn := filepath.Join(root, "etc/systemd/system/odoo.service.d/odoo-notify.conf")
	watcherDropIn := filepath.Join(root, "etc/systemd/system/odoo-notify-watch@odoo.service.service.d/odoo-notify.conf")

	_, errs, code := runCLI(t, "enable", "--root", root, "odoo.service", "--watch", "--health-url", "/web/login")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, _ := os.ReadFile(unitDropIn)
	want := "# Written by odoo-notify enable; `odoo-notify disable odoo.service` removes it.\n" +
		"# odoo-notify enable odoo.service --watch --health-url /web/login\n" +
		"[Unit]\nOnFailure=odoo-notify@%n.service\nWants=odoo-notify-watch@%n.service\n\n" +
		"[Service]\nExecStopPost=+-/usr/bin/odoo-notify hook %n\n"
	if string(b) != want {
		t.Errorf("unit drop-in:\n%s\nwant:\n%s", b, want)
	}
	b, _ = os.ReadFile(watcherDropIn)
	want = "# Written by odoo-notify enable; `odoo-notify disable odoo.service` removes it.\n" +
		"# What odoo-notify watch probes for odoo.service.\n" +
		"[Service]\nEnvironment=\"ODOO_NOTIFY_WATCH_ARGS=--health-url /web/login\"\n"
	if string(b) != want {
		t.Errorf("watcher drop-in:\n%s\nwant:\n%s", b, want)
	}

	// The recorded command gives the same files back (what --refresh runs).
	if rec, ok := recordedArgs([]byte("# odoo-notify enable odoo.service --watch --health-url /web/login\n"), "odoo.service"); !ok || strings.Join(rec, " ") != "odoo.service --watch --health-url /web/login" {
		t.Errorf("recorded %v %v", rec, ok)
	}

	// Without --health-url the watcher probes [watch] health_url: no drop-in.
	out, errs, code := runCLI(t, "enable", "--root", root, "odoo.service", "--watch")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if _, err := os.Stat(watcherDropIn); err == nil || !strings.Contains(out, "removed "+watcherDropIn) {
		t.Errorf("the watcher's drop-in stays without --health-url:\n%s", out)
	}

	// disable removes everything enable wrote.
	runCLI(t, "enable", "--root", root, "odoo.service", "--watch", "--health-url", "http://127.0.0.1:8070/web/health")
	out, errs, code = runCLI(t, "disable", "--root", root, "odoo.service")
	if code != 0 {
		t.Fatalf("disable: exit %d: %s", code, errs)
	}
	for _, p := range []string{unitDropIn, watcherDropIn, filepath.Dir(watcherDropIn)} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("disable left %s:\n%s", p, out)
		}
	}
}

func TestEnableWatchRefusesBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "not a service", args: []string{"odoo-backup.timer", "--watch"}, want: "--watch applies to services"},
		{name: "a URL without --watch", args: []string{"odoo.service", "--health-url", "/web/login"}, want: "--health-url goes with --watch"},
		{name: "not a URL", args: []string{"odoo.service", "--watch", "--health-url", "erp:8069"}, want: `--health-url "erp:8069": write an http(s) URL`},
		{name: "what systemd would expand", args: []string{"odoo.service", "--watch", "--health-url", "/web/$HOME"}, want: "no spaces, quotes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			_, errs, code := runCLI(t, append([]string{"enable", "--root", root}, tt.args...)...)
			if code != exitUsage || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, stderr %q; want 64 and %q", code, errs, tt.want)
			}
		})
	}
}
