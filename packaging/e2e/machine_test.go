package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rootPackages is what the Debian 12 root holds besides minbase: a booting
// systemd with D-Bus, and python3 for the stand-in Odoo. The .deb's own
// dependencies are left out on purpose: apt resolves them at install, as on a
// real server.
var rootPackages = []string{"systemd", "systemd-sysv", "dbus", "ca-certificates", "python3"}

// cacheDir keeps the debootstrapped root between runs, outside the repo.
func cacheDir() string {
	if d := os.Getenv("ODOO_NOTIFY_E2E_CACHE"); d != "" {
		return d
	}
	return "/var/cache/odoo-notify-e2e"
}

func mirror() string {
	if m := os.Getenv("ODOO_NOTIFY_E2E_MIRROR"); m != "" {
		return m
	}
	return "http://deb.debian.org/debian"
}

// requireTools fails the test, saying what to install, when a tool the
// end-to-end test runs is missing.
func requireTools(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the end-to-end test boots a container with systemd-nspawn and must run as root (sudo go test ./packaging/e2e/)")
	}
	var missing []string
	for _, tool := range []struct{ bin, pkg string }{
		{"debootstrap", "debootstrap"},
		{"systemd-nspawn", "systemd-container"},
		{"nsenter", "util-linux"},
		{"make", "make"},
		{"objdump", "binutils"},
		{"objcopy", "binutils"},
		{"gcc", "gcc"},
		{"gzip", "gzip"},
	} {
		if _, err := exec.LookPath(tool.bin); err != nil {
			missing = append(missing, tool.pkg)
		}
	}
	if _, err := os.Stat("/usr/include/systemd/sd-journal.h"); err != nil {
		missing = append(missing, "libsystemd-dev")
	}
	if len(missing) > 0 {
		t.Fatalf("the end-to-end test needs: apt-get install -y %s (or run scripts/deps)", strings.Join(missing, " "))
	}
}

// cachedRoot returns a Debian 12 minbase root with rootPackages, made with
// debootstrap the first time (about a minute) and kept in cacheDir. The name
// changes with the package list, so a new list makes a new root.
func cachedRoot(t testing.TB) string {
	t.Helper()
	dir := cacheDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("e2e cache: %v (set ODOO_NOTIFY_E2E_CACHE to a writable folder)", err)
	}
	sum := sha256.Sum256([]byte(strings.Join(rootPackages, ",")))
	root := filepath.Join(dir, "bookworm-"+hex.EncodeToString(sum[:4]))

	// Two runs at once must not debootstrap into the same folder.
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("e2e cache: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("e2e cache: lock: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/lib/systemd/systemd")); err == nil {
		return root
	}
	tmp := root + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatalf("e2e cache: %v", err)
	}
	t.Logf("debootstrap Debian 12 into %s (once; later runs reuse it)", root)
	cmd := exec.Command("debootstrap", "--variant=minbase", "--include="+strings.Join(rootPackages, ","),
		"bookworm", tmp, mirror())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("debootstrap: %v\n%s", err, tail(out, 40))
	}
	if err := os.Rename(tmp, root); err != nil {
		t.Fatalf("e2e cache: %v", err)
	}
	return root
}

// machine is one booted Debian 12 container.
type machine struct {
	t      testing.TB
	root   string
	name   string
	nspawn *exec.Cmd
	done   chan error
	// leader is the container's PID 1 (systemd) as the host sees it.
	leader  int
	console *bytes.Buffer
	stopped sync.Once
}

// boot copies the cached root (so every run starts clean) and boots it with
// systemd-nspawn. The container shares the host's network: servers on the
// host's 127.0.0.1 are reachable from inside. setup runs on the copy before
// it boots. A container that has not booted in 90 s is killed and booted
// once more from a fresh copy, saying why: on a loaded host a boot now and
// then stalls with nothing on the console.
func boot(t testing.TB, setup func(root string)) *machine {
	t.Helper()
	return bootFrom(t, cachedRoot(t), setup)
}

// bootFrom is boot from another cached root than the bare one.
func bootFrom(t testing.TB, cached string, setup func(root string)) *machine {
	t.Helper()
	m, err := bootOnce(t, cached, setup)
	if err != nil {
		t.Logf("%v: booting a fresh copy once more", err)
		m.stop()
		if m, err = bootOnce(t, cached, setup); err != nil {
			m.stop()
			t.Fatal(err)
		}
	}
	t.Cleanup(m.stop)
	return m
}

func bootOnce(t testing.TB, cached string, setup func(root string)) (*machine, error) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	if out, err := exec.Command("cp", "-a", cached, root).CombinedOutput(); err != nil {
		t.Fatalf("copy the cached root: %v\n%s", err, out)
	}
	setup(root)

	suffix := make([]byte, 4)
	rand.Read(suffix)
	m := &machine{t: t, root: root, name: "odoo-notify-e2e-" + hex.EncodeToString(suffix), console: &bytes.Buffer{}, done: make(chan error, 1)}
	m.nspawn = exec.Command("systemd-nspawn", "-D", root, "--boot", "--pipe", "-q",
		"--register=no", "--keep-unit", "-M", m.name)
	m.nspawn.Stdout, m.nspawn.Stderr = m.console, m.console
	if err := m.nspawn.Start(); err != nil {
		t.Fatalf("systemd-nspawn: %v", err)
	}
	go func() { m.done <- m.nspawn.Wait() }()

	deadline := time.Now().Add(90 * time.Second)
	for m.leader == 0 {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", m.nspawn.Process.Pid, m.nspawn.Process.Pid))
		// nspawn's first child is a helper that forks the container's
		// PID 1 and exits: under load it is still there when read.
		if f := strings.Fields(string(b)); len(f) > 0 {
			if comm, _ := os.ReadFile("/proc/" + f[0] + "/comm"); strings.TrimSpace(string(comm)) == "systemd" {
				m.leader, _ = strconv.Atoi(f[0])
				break
			}
		}
		if err := m.checkAlive(deadline); err != nil {
			return m, err
		}
		time.Sleep(50 * time.Millisecond)
	}
	// is-system-running --wait can return before systemd has its sockets:
	// poll (SYSTEMD-NOTES.md).
	for {
		out, _ := m.try(context.Background(), "systemctl is-system-running")
		if s := strings.TrimSpace(out); s == "running" || s == "degraded" {
			if s == "degraded" {
				failed, _ := m.try(context.Background(), "systemctl --failed --no-legend")
				t.Logf("the container booted degraded: %s", failed)
			}
			return m, nil
		}
		if err := m.checkAlive(deadline); err != nil {
			jobs, _ := m.try(context.Background(), "systemctl list-jobs --no-legend | head -20")
			return m, fmt.Errorf("%w\nsystemctl is-system-running: %s\njobs:\n%s", err, strings.TrimSpace(out), jobs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (m *machine) checkAlive(deadline time.Time) error {
	select {
	case err := <-m.done:
		m.done <- err
		return fmt.Errorf("the container stopped while booting: %v\n%s", err, tail(m.console.Bytes(), 40))
	default:
	}
	if time.Now().After(deadline) {
		return fmt.Errorf("the container did not boot in 90s:\n%s", tail(m.console.Bytes(), 40))
	}
	return nil
}

// try runs a shell script inside the container as root and returns its
// output (stdout and stderr). It gets 5 minutes unless ctx has a deadline.
func (m *machine) try(ctx context.Context, script string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(m.leader), "-a", "--",
		"/usr/bin/env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8", "HOME=/root", "DEBIAN_FRONTEND=noninteractive", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0",
		"/bin/sh", "-c", script)
	// Killed at the deadline, nsenter leaves the script running with our
	// pipe open: do not wait for it.
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// sh runs a script that must succeed.
func (m *machine) sh(script string) string {
	m.t.Helper()
	out, err := m.try(context.Background(), script)
	if err != nil {
		m.t.Fatalf("in the container: %s\n%v\n%s", script, err, out)
	}
	return out
}

// exitStatus runs a script and returns its exit status.
func (m *machine) exitStatus(script string) (string, int) {
	m.t.Helper()
	out, err := m.try(context.Background(), script)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out, 0
	case errors.As(err, &ee):
		return out, ee.ExitCode()
	}
	m.t.Fatalf("in the container: %s: %v", script, err)
	return out, -1
}

// stop powers the container off, and kills the nspawn process this test
// started if it does not end in 30 seconds.
func (m *machine) stop() { m.stopped.Do(m.powerOff) }

func (m *machine) powerOff() {
	_, _ = m.try(context.Background(), "systemctl poweroff --no-block")
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		m.t.Logf("the container did not power off in 30s: killing systemd-nspawn (pid %d)", m.nspawn.Process.Pid)
		_ = m.nspawn.Process.Kill()
		<-m.done
	}
}

func writeRootFile(t testing.TB, root, path, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
