package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	if err != nil {
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), exitCode(err)
}

func TestEnableWritesDropIn(t *testing.T) {
	tests := []struct {
		name string
		args []string
		// path is the drop-in, relative to the root.
		path string
		want string
	}{
		{
			name: "OnFailure and the hook, by default",
			args: []string{"odoo.service"},
			path: "etc/systemd/system/odoo.service.d/odoo-notify.conf",
			want: "# Written by odoo-notify enable; `odoo-notify disable odoo.service` removes it.\n" +
				"# odoo-notify enable odoo.service\n" +
				"[Unit]\nOnFailure=odoo-notify@%n.service\n\n" +
				"[Service]\nExecStopPost=+-/usr/bin/odoo-notify hook %n\n",
		},
		{
			name: "only OnFailure",
			args: []string{"odoo.service", "--no-hook"},
			path: "etc/systemd/system/odoo.service.d/odoo-notify.conf",
			want: "# Written by odoo-notify enable; `odoo-notify disable odoo.service` removes it.\n" +
				"# odoo-notify enable odoo.service --no-hook\n" +
				"[Unit]\nOnFailure=odoo-notify@%n.service\n",
		},
		{
			name: "a name without suffix is a service",
			args: []string{"odoo", "--no-hook"},
			path: "etc/systemd/system/odoo.service.d/odoo-notify.conf",
			want: "# Written by odoo-notify enable; `odoo-notify disable odoo.service` removes it.\n" +
				"# odoo-notify enable odoo.service --no-hook\n" +
				"[Unit]\nOnFailure=odoo-notify@%n.service\n",
		},
		{
			name: "restart policy",
			args: []string{"--restart", "odoo.service"},
			path: "etc/systemd/system/odoo.service.d/odoo-notify.conf",
			want: "# Written by odoo-notify enable; `odoo-notify disable odoo.service` removes it.\n" +
				"# odoo-notify enable odoo.service --restart\n" +
				"[Unit]\nOnFailure=odoo-notify@%n.service\nStartLimitBurst=5\nStartLimitIntervalSec=300\n\n" +
				"[Service]\nExecStopPost=+-/usr/bin/odoo-notify hook %n\nRestart=on-failure\nRestartSec=5\n",
		},
		{
			name: "--hook, kept from older versions, is the default",
			args: []string{"--hook", "odoo.service"},
			path: "etc/systemd/system/odoo.service.d/odoo-notify.conf",
			want: "# Written by odoo-notify enable; `odoo-notify disable odoo.service` removes it.\n" +
				"# odoo-notify enable odoo.service\n" +
				"[Unit]\nOnFailure=odoo-notify@%n.service\n\n" +
				"[Service]\nExecStopPost=+-/usr/bin/odoo-notify hook %n\n",
		},
		{
			name: "memory protections, flags after the unit",
			args: []string{"odoo-prod.service", "--memory-max", "4G", "--memory-high=3.5G", "--oom-score-adjust", "-500"},
			path: "etc/systemd/system/odoo-prod.service.d/odoo-notify.conf",
			want: "# Written by odoo-notify enable; `odoo-notify disable odoo-prod.service` removes it.\n" +
				"# odoo-notify enable odoo-prod.service --memory-max 4G --memory-high 3.5G --oom-score-adjust -500\n" +
				"[Unit]\nOnFailure=odoo-notify@%n.service\n\n" +
				"[Service]\nExecStopPost=+-/usr/bin/odoo-notify hook %n\nMemoryHigh=3.5G\nMemoryMax=4G\nOOMScoreAdjust=-500\n",
		},
		{
			name: "template: every instance",
			args: []string{"odoo@.service", "--memory-max", "80%"},
			path: "etc/systemd/system/odoo@.service.d/odoo-notify.conf",
			want: "# Written by odoo-notify enable; `odoo-notify disable odoo@.service` removes it.\n" +
				"# odoo-notify enable odoo@.service --memory-max 80%\n" +
				"[Unit]\nOnFailure=odoo-notify@%n.service\n\n" +
				"[Service]\nExecStopPost=+-/usr/bin/odoo-notify hook %n\nMemoryMax=80%\n",
		},
		{
			name: "a timer",
			args: []string{"odoo-backup.timer"},
			path: "etc/systemd/system/odoo-backup.timer.d/odoo-notify.conf",
			want: "# Written by odoo-notify enable; `odoo-notify disable odoo-backup.timer` removes it.\n" +
				"# odoo-notify enable odoo-backup.timer\n" +
				"[Unit]\nOnFailure=odoo-notify@%n.service\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			out, errs, code := runCLI(t, append([]string{"enable", "--root", root}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d, stderr: %s", code, errs)
			}
			path := filepath.Join(root, tt.path)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("the drop-in is not where systemd looks: %v", err)
			}
			if string(b) != tt.want {
				t.Errorf("drop-in:\n%s\nwant:\n%s", b, tt.want)
			}
			if !strings.Contains(out, "wrote "+path+":\n"+tt.want) {
				t.Errorf("enable did not print what it wrote; stdout:\n%s", out)
			}
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != 0o644 {
				t.Errorf("drop-in mode: %v %v, want 0644 (systemd and admins read it)", fi.Mode(), err)
			}
			if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
				t.Errorf("the folder holds %d files, want only the drop-in (no temporary file left)", len(ents))
			}
		})
	}
}

func TestEnableGroupLetsTheHandlerReadTheUnitsFiles(t *testing.T) {
	root := t.TempDir()
	unitDropIn := filepath.Join(root, "etc/systemd/system/odoo.service.d/odoo-notify.conf")
	handlerDropIn := filepath.Join(root, "etc/systemd/system/odoo-notify@odoo.service.service.d/odoo-notify.conf")
	want := "# Written by odoo-notify enable; `odoo-notify disable odoo.service` removes it.\n" +
		"# Lets the handler read odoo.service's log file and config, as group odoo.\n" +
		"[Service]\nSupplementaryGroups=odoo\n"

	out, errs, code := runCLI(t, "enable", "--root", root, "odoo.service", "--group", "odoo")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if b, err := os.ReadFile(handlerDropIn); err != nil || string(b) != want {
		t.Fatalf("handler drop-in %v:\n%s\nwant:\n%s", err, b, want)
	}
	if !strings.Contains(out, "wrote "+handlerDropIn+":\n"+want) {
		t.Errorf("enable did not print the handler drop-in:\n%s", out)
	}
	if _, err := os.Stat(unitDropIn); err != nil {
		t.Errorf("no OnFailure= drop-in: %v", err)
	}

	// --group none takes it away again.
	out, _, code = runCLI(t, "enable", "--root", root, "odoo.service", "--group", "none")
	if code != 0 || !strings.Contains(out, "removed "+handlerDropIn+"\n") {
		t.Errorf("enable --group none: exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Dir(handlerDropIn)); !os.IsNotExist(err) {
		t.Errorf("the handler's drop-in folder is still there: %v", err)
	}

	// disable removes both.
	runCLI(t, "enable", "--root", root, "odoo.service", "--group", "odoo")
	out, _, code = runCLI(t, "disable", "--root", root, "odoo.service")
	if code != 0 || out != "removed "+unitDropIn+"\nremoved "+handlerDropIn+"\n" {
		t.Errorf("disable: exit %d:\n%s", code, out)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "etc/systemd/system")); len(ents) != 0 {
		t.Errorf("disable left %d entries in etc/systemd/system", len(ents))
	}
}

func TestEnableIsIdempotent(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "etc/systemd/system/odoo.service.d/odoo-notify.conf")
	if _, errs, code := runCLI(t, "enable", "--root", root, "--restart", "odoo.service"); code != 0 {
		t.Fatalf("first enable: exit %d: %s", code, errs)
	}
	first, _ := os.ReadFile(path)

	out, errs, code := runCLI(t, "enable", "--root", root, "odoo.service", "--restart")
	if code != 0 {
		t.Fatalf("second enable: exit %d: %s", code, errs)
	}
	if want := "odoo.service is already enabled: " + path + " unchanged\n"; out != want {
		t.Errorf("second enable printed %q, want %q", out, want)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(first, again) {
		t.Errorf("second enable changed the drop-in:\n%s\nwas:\n%s", again, first)
	}

	// Other options rewrite it.
	out, _, code = runCLI(t, "enable", "--root", root, "odoo.service")
	if code != 0 || !strings.HasPrefix(out, "wrote ") {
		t.Fatalf("enable without --restart: exit %d, stdout %q", code, out)
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "Restart=") {
		t.Errorf("enable without --restart kept the restart policy:\n%s", b)
	}
}

func TestDisable(t *testing.T) {
	tests := []struct {
		name string
		// other is another drop-in of the admin's in the same folder.
		other   bool
		enable  bool
		wantOut string
		wantDir bool
	}{
		{name: "removes the drop-in and its folder", enable: true, wantOut: "removed {path}\n"},
		{name: "keeps the admin's own drop-ins", enable: true, other: true, wantOut: "removed {path}\n", wantDir: true},
		{name: "not enabled is not an error", wantOut: "odoo.service is not enabled: no {path}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "etc/systemd/system/odoo.service.d")
			path := filepath.Join(dir, "odoo-notify.conf")
			if tt.enable {
				if _, errs, code := runCLI(t, "enable", "--root", root, "odoo.service"); code != 0 {
					t.Fatalf("enable: exit %d: %s", code, errs)
				}
			}
			other := filepath.Join(dir, "limits.conf")
			if tt.other {
				if err := os.WriteFile(other, []byte("[Service]\nLimitNOFILE=65536\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, errs, code := runCLI(t, "disable", "odoo.service", "--root", root)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			want := strings.NewReplacer("{path}", path, "{dir}", dir).Replace(tt.wantOut)
			if out != want {
				t.Errorf("stdout %q, want %q", out, want)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("the drop-in is still there: %v", err)
			}
			if _, err := os.Stat(dir); (err == nil) != tt.wantDir {
				t.Errorf("folder exists: %v, want %v", err == nil, tt.wantDir)
			}
			if tt.other {
				if _, err := os.Stat(other); err != nil {
					t.Errorf("disable removed the admin's own drop-in: %v", err)
				}
			}
		})
	}
}

func TestEnableRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no unit", args: []string{"enable"}, want: "enable: takes one unit, like enable odoo.service"},
		{name: "two units", args: []string{"enable", "odoo.service", "nginx.service"}, want: "enable: takes one unit"},
		{name: "a path", args: []string{"enable", "../../etc/passwd"}, want: `enable: "../../etc/passwd" is not a unit name like odoo.service`},
		{name: "a newline", args: []string{"enable", "odoo.service\nExecStart=/bin/sh"}, want: "is not a unit name"},
		{name: "the handler itself", args: []string{"enable", "odoo-notify@odoo.service.service"}, want: "is odoo-notify's own unit"},
		{name: "bad size", args: []string{"enable", "odoo.service", "--memory-max", "4 GB"}, want: `--memory-max "4 GB": write a size like 4G, 512M, 80% or infinity`},
		{name: "oom out of range", args: []string{"enable", "odoo.service", "--oom-score-adjust", "-2000"}, want: `--oom-score-adjust "-2000": write a whole number from -1000 to 1000`},
		{name: "restart for a timer", args: []string{"enable", "odoo-backup.timer", "--restart"}, want: "--restart and the memory options apply to services; odoo-backup.timer is not one"},
		{name: "bad group", args: []string{"enable", "odoo.service", "--group", "odoo\nExecStart=/bin/sh"}, want: `--group "odoo\nExecStart=/bin/sh": write a group name like odoo, or none`},
		{name: "unknown flag", args: []string{"enable", "odoo.service", "--restrat"}, want: "enable: unknown flag --restrat"},
		{name: "disable without unit", args: []string{"disable"}, want: "disable: takes one unit, like disable odoo.service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			args := append([]string{tt.args[0], "--root", root}, tt.args[1:]...)
			out, errs, code := runCLI(t, args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d (usage)", code, exitUsage)
			}
			if !strings.Contains(errs, tt.want) {
				t.Errorf("stderr %q, want it to say %q", errs, tt.want)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if ents, _ := os.ReadDir(root); len(ents) != 0 {
				t.Errorf("wrote %d entries under the root after bad input", len(ents))
			}
		})
	}
}

func TestPermissionErrorSaysRunAsRoot(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "permission denied", err: &fs.PathError{Op: "mkdir", Path: "/etc/systemd/system/odoo.service.d", Err: syscall.EACCES}, want: " (run it as root, or give --root DIR)"},
		{name: "read-only file system", err: &fs.PathError{Op: "open", Path: "/etc/x", Err: syscall.EROFS}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := asRoot(tt.err); got != tt.want {
				t.Errorf("asRoot(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestEnableWriteError(t *testing.T) {
	root := t.TempDir()
	// A file where the folder must go: the admin must read why.
	if err := os.MkdirAll(filepath.Join(root, "etc/systemd/system"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/systemd/system/odoo.service.d"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, code := runCLI(t, "enable", "--root", root, "odoo.service")
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	if want := "enable: open " + filepath.Join(root, "etc/systemd/system/odoo.service.d/odoo-notify.conf") + ": not a directory"; !strings.HasPrefix(errs, want) {
		t.Errorf("stderr %q, want it to start with %q", errs, want)
	}
}

// A package upgrade runs enable --refresh: drop-ins an older version wrote,
// without the hook, get it, with the options they record; one written with
// --no-hook stays without.
func TestEnableRefreshAddsTheHookToOlderDropIns(t *testing.T) {
	root := t.TempDir()
	old := "# Written by odoo-notify enable; `odoo-notify disable odoo.service` removes it.\n" +
		"# odoo-notify enable odoo.service --restart\n" +
		"[Unit]\nOnFailure=odoo-notify@%n.service\nStartLimitBurst=5\nStartLimitIntervalSec=300\n\n" +
		"[Service]\nRestart=on-failure\nRestartSec=5\n"
	write := func(unit, text string) string {
		p := filepath.Join(root, "etc/systemd/system", unit+".d", "odoo-notify.conf")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	odoo := write("odoo.service", old)
	if _, errs, code := runCLI(t, "enable", "--root", root, "worker.service", "--no-hook"); code != 0 {
		t.Fatal(errs)
	}
	mine := write("nginx.service", "[Service]\nRestart=always\n") // not enable's
	out, errs, code := runCLI(t, "enable", "--refresh", "--root", root)
	if code != 0 {
		t.Fatalf("enable --refresh: exit %d\n%s", code, errs)
	}
	b, _ := os.ReadFile(odoo)
	if !strings.Contains(string(b), "ExecStopPost=+-/usr/bin/odoo-notify hook %n\nRestart=on-failure\n") || !strings.Contains(string(b), "StartLimitBurst=5") {
		t.Errorf("odoo.service's drop-in after --refresh:\n%s", b)
	}
	w, _ := os.ReadFile(filepath.Join(root, "etc/systemd/system/worker.service.d/odoo-notify.conf"))
	if strings.Contains(string(w), "ExecStopPost") {
		t.Errorf("--refresh added the hook to a unit enabled with --no-hook:\n%s", w)
	}
	if n, _ := os.ReadFile(mine); string(n) != "[Service]\nRestart=always\n" {
		t.Errorf("--refresh changed a drop-in enable did not write:\n%s", n)
	}
	if !strings.Contains(out, "wrote "+odoo) || !strings.Contains(out, "worker.service is already enabled") {
		t.Errorf("enable --refresh printed:\n%s", out)
	}
	if _, _, code := runCLI(t, "enable", "--refresh", "--root", root, "odoo.service"); code != 64 {
		t.Errorf("enable --refresh UNIT: exit %d, want 64", code)
	}
}
