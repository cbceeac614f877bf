// Package packaging holds the .deb's definition and the tests of what it
// ships. This file builds the arm64 package the way `make deb ARCH=arm64`
// does and runs its binary under qemu-user.
package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/odoo-notify/odoo-notify/internal/testenv"
)

// arm64Tools are what the cross build and the qemu run need, each with the
// package that brings it; scripts/deps installs them all.
var arm64Tools = [][2]string{
	{"/usr/bin/aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"},
	{"/usr/lib/aarch64-linux-gnu/libc.so", "libc6-dev:arm64"},
	{"/usr/lib/aarch64-linux-gnu/libsystemd.so.0", "libsystemd-dev:arm64"},
	{"/usr/bin/qemu-aarch64-static", "qemu-user-static"},
	{"/usr/bin/lintian", "lintian"},
	{"/usr/bin/make", "make"},
}

// TestArm64Package: `make deb ARCH=arm64` gives a lintian-clean package
// whose binary is an aarch64 PIE with full RELRO, and that binary, run
// under qemu-aarch64-static, prints its version, checks a config and
// builds the report of a failed run from a real journal file (sdjournal,
// through the arm64 libsystemd).
func TestArm64Package(t *testing.T) {
	var missing []string
	for _, tool := range arm64Tools {
		if _, err := os.Stat(tool[0]); err != nil {
			missing = append(missing, tool[1]+" (for "+tool[0]+")")
		}
	}
	if len(missing) > 0 {
		t.Fatalf("missing: %s: run scripts/deps (make deps), which adds the arm64 architecture and installs them", strings.Join(missing, ", "))
	}

	dist := t.TempDir()
	run(t, nil, "make", "-C", "..", "deb", "ARCH=arm64", "DIST="+dist)
	debs, _ := filepath.Glob(filepath.Join(dist, "odoo-notify_*_arm64.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb ARCH=arm64 gave %v, want one dist/odoo-notify_VERSION_arm64.deb", debs)
	}
	deb := debs[0]
	if arch := strings.TrimSpace(run(t, nil, "dpkg-deb", "--field", deb, "Architecture")); arch != "arm64" {
		t.Errorf("Architecture: %s, want arm64", arch)
	}
	run(t, nil, "lintian", "--fail-on", "error,warning", deb)

	root := t.TempDir()
	run(t, nil, "dpkg-deb", "-x", deb, root)
	bin := filepath.Join(root, "usr/bin/odoo-notify")

	// As hardened as amd64: PIE, BIND_NOW (full RELRO with GNU_RELRO),
	// a stack that does not execute.
	header := run(t, nil, "readelf", "-hldW", bin)
	for _, want := range []string{"AArch64", "DYN (Position-Independent Executable file)", "GNU_RELRO", "BIND_NOW", "Flags: NOW PIE"} {
		if !strings.Contains(header, want) {
			t.Errorf("readelf of the arm64 binary lacks %q", want)
		}
	}
	if stack := grepLine(header, "GNU_STACK"); !strings.Contains(stack, " RW ") {
		t.Errorf("GNU_STACK is %q, want RW (not executable)", stack)
	}

	qemu := func(env []string, args ...string) string {
		return run(t, env, "qemu-aarch64-static", append([]string{bin}, args...)...)
	}
	t.Run("version", func(t *testing.T) {
		if out := qemu(nil, "version"); !strings.HasPrefix(out, "odoo-notify ") {
			t.Errorf("version printed %q", out)
		}
	})
	cfg := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(cfg, []byte("[general]\nhostname = \"pi4\"\n\n[[ntfy]]\ntopic = \"odoo-pi4\"\n"), 0o600)
	t.Run("check-config", func(t *testing.T) {
		if out := qemu(nil, "check-config", "--config", cfg); !strings.Contains(out, "is valid: 1 channel(s)") || !strings.Contains(out, `topic = "odoo-pi4"`) {
			t.Errorf("check-config printed:\n%s", out)
		}
	})
	t.Run("preview of a journal file", func(t *testing.T) {
		const inv = "0123456789abcdef0123456789abcdef"
		j := testenv.WriteJournal(t, []testenv.Entry{
			{"_SYSTEMD_UNIT": "odoo.service", "_SYSTEMD_INVOCATION_ID": inv, "_TRANSPORT": "stdout", "MESSAGE": "psycopg2.OperationalError: connection to server at \"db\" failed"},
			{"_SYSTEMD_UNIT": "init.scope", "UNIT": "odoo.service", "INVOCATION_ID": inv, "MESSAGE_ID": "98e322203f7a4ed290d09fe03c09fe15",
				"EXIT_CODE": "exited", "EXIT_STATUS": "1", "MESSAGE": "odoo.service: Main process exited, code=exited, status=1/FAILURE"},
		})
		env := []string{"MONITOR_UNIT=odoo.service", "MONITOR_SERVICE_RESULT=exit-code", "MONITOR_EXIT_CODE=exited",
			"MONITOR_EXIT_STATUS=1", "MONITOR_INVOCATION_ID=" + inv, "STATE_DIRECTORY=" + t.TempDir()}
		out := qemu(env, "preview", "--config", cfg, "--journal-file", j, "odoo.service")
		for _, want := range []string{"pi4: odoo.service failed (", "psycopg2.OperationalError: connection to server", "Invocation: " + inv} {
			if !strings.Contains(out, want) {
				t.Errorf("preview lacks %q:\n%s", want, out)
			}
		}
	})
}

// run runs a command and returns its output; it fails the test with the
// command's output when it fails.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s\n%s", name, strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

func grepLine(text, word string) string {
	for l := range strings.SplitSeq(text, "\n") {
		if strings.Contains(l, word) {
			return l
		}
	}
	return ""
}
