package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

// crashScene is a journal where odoo.service ran twice: run 1 ended; run 2
// crashed. A leftover worker of run 1 still logs during run 2, and nginx
// logs throughout.
func crashScene() (s *scene, failed []string) {
	const unit = "odoo.service"
	run1, run2 := invocation(1), invocation(2)
	s = newScene()
	s.started(unit, run1)
	for i := range 5 {
		s.out(unit, run1, fmt.Sprintf("run1 line %d", i))
		s.out("nginx.service", invocation(99), fmt.Sprintf("nginx line %d", i))
	}
	s.exited(unit, run1, "exited", 1)
	s.failed(unit, run1, "exit-code")
	s.started(unit, run2)
	failed = append(failed, "Started odoo.service - Odoo.")
	for i := range 8 {
		s.out(unit, run2, fmt.Sprintf("run2 line %d", i))
		failed = append(failed, fmt.Sprintf("run2 line %d", i))
		s.out(unit, run1, fmt.Sprintf("run1 leftover %d", i))
		s.out("nginx.service", invocation(99), fmt.Sprintf("nginx late %d", i))
	}
	s.exited(unit, run2, "killed", 9)
	failed = append(failed, "odoo.service: Main process exited, code=killed, status=9/KILL")
	s.failed(unit, run2, "signal")
	failed = append(failed, "odoo.service: Failed with result 'signal'.")
	s.out("nginx.service", invocation(99), "nginx after the crash")
	return s, failed
}

func TestRunLines(t *testing.T) {
	s, failed := crashScene()
	j := openRecs(t, s.recs)

	tests := []struct {
		name string
		unit string
		id   string
		n    int
		want []string
	}{
		{name: "whole failed run with systemd's lines", unit: "odoo.service", id: invocation(2), n: 100, want: failed},
		{name: "last n of the failed run", unit: "odoo.service", id: invocation(2), n: 3, want: failed[len(failed)-3:]},
		{name: "one line", unit: "odoo.service", id: invocation(2), n: 1, want: failed[len(failed)-1:]},
		// Without an id, the unit's last lines: the leftover worker of run 1
		// is the unit's too.
		{name: "no invocation id: the unit's recent lines", unit: "odoo.service", n: 4, want: []string{
			"run2 line 7", "run1 leftover 7",
			"odoo.service: Main process exited, code=killed, status=9/KILL",
			"odoo.service: Failed with result 'signal'.",
		}},
		{name: "unknown run", unit: "odoo.service", id: invocation(7), n: 10, want: nil},
		{name: "zero lines asked", unit: "odoo.service", id: invocation(2), n: 0, want: nil},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := j.RunLines(tt.unit, tt.id, tt.n)
			if err != nil {
				t.Fatalf("RunLines: %v", err)
			}
			if !slices.Equal(messages(got), tt.want) {
				t.Fatalf("got lines\n%q\nwant\n%q", messages(got), tt.want)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Time.Before(got[i-1].Time) {
					t.Errorf("line %d (%s) is older than line %d (%s)", i, got[i].Time, i-1, got[i-1].Time)
				}
			}
		})
	}
}

// TestRunLinesFields checks what a run's lines carry: the time, priority
// and text, and whose line each is (the service's own output has the run's
// _SYSTEMD_INVOCATION_ID, systemd's messages about the run do not).
func TestRunLinesFields(t *testing.T) {
	s, _ := crashScene()
	j := openRecs(t, s.recs)
	got, err := j.RunLines("odoo.service", invocation(2), 100)
	if err != nil {
		t.Fatal(err)
	}
	out, exit := got[1], got[len(got)-2]
	if out.Priority != 6 || out.Message != "run2 line 0" || out.Fields["_SYSTEMD_INVOCATION_ID"] != invocation(2) {
		t.Errorf("service line: got %+v", out)
	}
	if !out.Time.Equal(s.recs[slices.IndexFunc(s.recs, func(r rec) bool { return r.fields[6].v == "run2 line 0" })].at) {
		t.Errorf("service line time %s is not the time it was logged", out.Time)
	}
	if _, ok := exit.Fields["_SYSTEMD_INVOCATION_ID"]; ok || !strings.Contains(exit.Message, "Main process exited") {
		t.Errorf("systemd's exit message: got %+v, want systemd's message without the service's invocation field", exit)
	}
	if _, ok := out.Fields["PRIORITY"]; ok {
		t.Errorf("Fields holds PRIORITY; it belongs in Entry.Priority")
	}
}

// TestEventsFields checks that systemd's messages carry every field the
// state and the crash history are read from.
func TestEventsFields(t *testing.T) {
	s, _ := crashScene()
	j := openRecs(t, s.recs)
	events, err := j.Events("odoo.service", time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(events, func(e Entry) bool {
		return e.Fields["MESSAGE_ID"] == msgProcessExit && e.Fields["INVOCATION_ID"] == invocation(2)
	})
	if i < 0 {
		t.Fatalf("no process exit message of run 2 among %d events", len(events))
	}
	exit := events[i]
	want := map[string]string{
		"MESSAGE_ID": msgProcessExit, "UNIT": "odoo.service", "INVOCATION_ID": invocation(2),
		"_SYSTEMD_UNIT": "init.scope", "EXIT_CODE": "killed", "EXIT_STATUS": "9",
		"SYSLOG_IDENTIFIER": "systemd", "_PID": "1",
	}
	for k, v := range want {
		if exit.Fields[k] != v {
			t.Errorf("systemd's exit message: field %s = %q, want %q", k, exit.Fields[k], v)
		}
	}
	if _, ok := exit.Fields["PRIORITY"]; ok {
		t.Errorf("Fields holds PRIORITY; it belongs in Entry.Priority")
	}
}

func TestEventsSinceAndMax(t *testing.T) {
	s := newScene()
	var all []string
	for i := 1; i <= 4; i++ {
		id := invocation(i)
		s.started("odoo.service", id)
		s.out("odoo.service", id, "working")
		s.exited("odoo.service", id, "exited", 1)
		s.failed("odoo.service", id, "exit-code")
		s.started("other.service", invocation(50+i))
		all = append(all, "Started odoo.service - Odoo.",
			"odoo.service: Main process exited, code=exited, status=1/FAILURE",
			"odoo.service: Failed with result 'exit-code'.")
	}
	// Another program that sets UNIT= is not systemd.
	s.add(kv{"_TRANSPORT", "journal"}, kv{"_PID", "777"}, kv{"SYSLOG_IDENTIFIER", "cron"},
		kv{"UNIT", "odoo.service"}, kv{"MESSAGE", "not from systemd"})
	j := openRecs(t, s.recs)

	tests := []struct {
		name  string
		since time.Time
		max   int
		want  []string
	}{
		{name: "all", max: 100, want: all},
		{name: "newest max", max: 2, want: all[len(all)-2:]},
		{name: "since", since: s.recs[len(s.recs)-6].at, max: 100, want: all[len(all)-3:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := j.Events("odoo.service", tt.since, tt.max)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(messages(got), tt.want) {
				t.Fatalf("got\n%q\nwant\n%q", messages(got), tt.want)
			}
		})
	}
}

func TestKernel(t *testing.T) {
	s := newScene()
	s.kernel("usb 1-1: new high-speed USB device")
	from := s.tick(time.Second)
	s.out("odoo.service", invocation(1), "MemoryError")
	s.kernel("python3 invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0")
	s.kernel("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/system.slice/odoo.service,task_memcg=/system.slice/odoo.service,task=python3,pid=4242,uid=105")
	s.kernel("Memory cgroup out of memory: Killed process 4242 (python3) total-vm:2823404kB, anon-rss:1048576kB, file-rss:0kB, shmem-rss:0kB, UID:105 pgtables:2400kB oom_score_adj:0")
	s.exited("odoo.service", invocation(1), "killed", 9)
	to := s.tick(time.Second)
	s.kernel("EXT4-fs (vda): mounted filesystem")
	j := openRecs(t, s.recs)

	oom := []string{s.recs[2].fields[3].v, s.recs[3].fields[3].v, s.recs[4].fields[3].v}
	tests := []struct {
		name        string
		since, till time.Time
		max         int
		want        []string
	}{
		{name: "window", since: from, till: to, max: 10, want: oom},
		{name: "newest max", since: from, till: to, max: 1, want: oom[2:]},
		{name: "until the end", since: from, max: 10, want: append(slices.Clone(oom), "EXT4-fs (vda): mounted filesystem")},
		{name: "until exactly the last OOM line", since: from, till: s.recs[4].at, max: 10, want: oom},
		{name: "nothing in the window", since: t0.Add(-time.Hour), till: t0, max: 10, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := j.Kernel(tt.since, tt.till, tt.max)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(messages(got), tt.want) {
				t.Fatalf("got\n%q\nwant\n%q", messages(got), tt.want)
			}
			for _, e := range got {
				if e.Transport != "kernel" || e.Priority != 3 {
					t.Errorf("entry %q: transport %q priority %d, want kernel 3", e.Message, e.Transport, e.Priority)
				}
			}
		})
	}
}

func TestMessages(t *testing.T) {
	const unit, id = "odoo.service", "0123456789abcdef0123456789abcdef"
	huge := strings.Repeat("x", 10<<20)
	// A 10 MB line of 3-byte runes whose limit falls inside a rune.
	hugeRunes := "a" + strings.Repeat("€", (10<<20)/3)
	invalid := "bad \xff\xfe byte \xc3\x28 in a line"
	tests := []struct {
		name  string
		msg   string
		check func(t *testing.T, got Entry)
	}{
		{name: "10 MB line is cut", msg: huge, check: func(t *testing.T, got Entry) {
			if want := huge[:MaxMessage] + CutMark; got.Message != want {
				t.Errorf("got %d bytes ending %q, want %d bytes ending %q",
					len(got.Message), tail(got.Message), len(want), tail(want))
			}
		}},
		{name: "10 MB of multibyte text is cut between runes", msg: hugeRunes, check: func(t *testing.T, got Entry) {
			if !utf8.ValidString(got.Message) {
				t.Errorf("cut text is not valid UTF-8: ends %q", tail(got.Message))
			}
			if len(got.Message) > MaxMessage+len(CutMark) || !strings.HasSuffix(got.Message, "€"+CutMark) {
				t.Errorf("got %d bytes ending %q", len(got.Message), tail(got.Message))
			}
		}},
		{name: "exactly MaxMessage is kept whole", msg: huge[:MaxMessage], check: func(t *testing.T, got Entry) {
			if got.Message != huge[:MaxMessage] {
				t.Errorf("got %d bytes ending %q", len(got.Message), tail(got.Message))
			}
		}},
		{name: "invalid UTF-8 kept as bytes", msg: invalid, check: func(t *testing.T, got Entry) {
			if got.Message != invalid {
				t.Errorf("got %q, want %q", got.Message, invalid)
			}
		}},
		{name: "multi-line message", msg: "Traceback (most recent call last):\n  File \"odoo-bin\"\nMemoryError", check: func(t *testing.T, got Entry) {
			if got.Message != "Traceback (most recent call last):\n  File \"odoo-bin\"\nMemoryError" {
				t.Errorf("got %q", got.Message)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScene()
			s.out(unit, id, "before")
			s.out(unit, id, tt.msg)
			// No PRIORITY: journald's default, info.
			s.add(kv{"_SYSTEMD_UNIT", unit}, kv{"_SYSTEMD_INVOCATION_ID", id}, kv{"MESSAGE", "after"})
			j := openRecs(t, s.recs)
			got, err := j.RunLines(unit, id, 10)
			if err != nil {
				t.Fatalf("RunLines: %v", err)
			}
			if len(got) != 3 || got[0].Message != "before" || got[2].Message != "after" {
				t.Fatalf("got %d entries, want before, the message, after: %q", len(got), firstBytes(messages(got)))
			}
			if got[2].Priority != 6 {
				t.Errorf("entry without PRIORITY: priority %d, want 6", got[2].Priority)
			}
			tt.check(t, got[1])
		})
	}
}

func tail(s string) string {
	if len(s) < 20 {
		return s
	}
	return s[len(s)-20:]
}

func firstBytes(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s[:min(len(s), 20)]
	}
	return out
}

func TestCut(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{name: "short", in: []byte("abc"), want: "abc"},
		{name: "limit", in: bytes.Repeat([]byte("a"), MaxMessage), want: strings.Repeat("a", MaxMessage)},
		{name: "one over", in: bytes.Repeat([]byte("a"), MaxMessage+1), want: strings.Repeat("a", MaxMessage) + CutMark},
		{name: "rune across the limit", in: append(bytes.Repeat([]byte("a"), MaxMessage-1), "€€"...), want: strings.Repeat("a", MaxMessage-1) + CutMark},
		{name: "binary across the limit", in: bytes.Repeat([]byte{0x80}, MaxMessage+5), want: string(bytes.Repeat([]byte{0x80}, MaxMessage)) + CutMark},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cut(string(tt.in)); got != tt.want {
				t.Errorf("cut: got %d bytes ending %q, want %d bytes ending %q", len(got), tail(got), len(tt.want), tail(tt.want))
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		name string
		open func() (*Journal, error)
		want string
	}{
		{name: "missing directory", open: func() (*Journal, error) { return OpenDir(filepath.Join(empty, "nope")) }, want: "no such file"},
		{name: "directory without journal files", open: func() (*Journal, error) { return OpenDir(empty) }, want: "no *.journal files"},
		{name: "missing file", open: func() (*Journal, error) { return OpenFiles([]string{filepath.Join(empty, "x.journal")}) }, want: "no such file"},
		{name: "no files", open: func() (*Journal, error) { return OpenFiles(nil) }, want: "no file given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := tt.open()
			if err == nil {
				j.Close()
				t.Fatal("opened; want an error")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "journal: open") {
				t.Errorf("error %q: want it to start with \"journal: open\" and say %q", err, tt.want)
			}
			if errors.Is(err, ErrNoAccess) {
				t.Errorf("error %q is ErrNoAccess", err)
			}
		})
	}
}

func TestOpenDirRotated(t *testing.T) {
	// journal-remote and journald rotate into several files; OpenDir reads
	// them all, machine-id subdirectories included.
	dir := t.TempDir()
	sub := filepath.Join(dir, "0123456789abcdef0123456789abcdef")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	s, failed := crashScene()
	half := len(s.recs) / 2
	for i, part := range [][]rec{s.recs[:half], s.recs[half:]} {
		p := makeJournal(t, part)
		target := filepath.Join(sub, fmt.Sprintf("system@%d.journal", i))
		if i == 1 {
			target = filepath.Join(dir, "system.journal")
		}
		if err := os.Rename(p, target); err != nil {
			t.Fatal(err)
		}
	}
	j, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	got, err := j.RunLines("odoo.service", invocation(2), 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(messages(got), failed) {
		t.Fatalf("got\n%q\nwant\n%q", messages(got), failed)
	}
}

func TestIsPermission(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "EACCES", err: syscall.EACCES, want: true},
		{name: "EPERM", err: syscall.EPERM, want: true},
		{name: "os.Open error", err: &fs.PathError{Op: "open", Path: "/var/log/journal", Err: syscall.EACCES}, want: true},
		{name: "sd-journal error", err: fmt.Errorf("failed to open journal: %w", syscall.EACCES), want: true},
		{name: "missing", err: &fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}, want: false},
		{name: "corrupt", err: fmt.Errorf("failed to iterate journal: %w", syscall.EBADMSG), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isPermission(tt.err); got != tt.want {
				t.Errorf("isPermission(%v) = %v, want %v", tt.err, got, tt.want)
			}
			err := noAccess("/var/log/journal", tt.err)
			if got := errors.Is(err, ErrNoAccess); got != tt.want {
				t.Errorf("errors.Is(noAccess(%v), ErrNoAccess) = %v, want %v", tt.err, got, tt.want)
			}
			if tt.want && !strings.Contains(err.Error(), "group systemd-journal") {
				t.Errorf("error %q does not say what to fix", err)
			}
		})
	}
}

// helperEnv makes the test binary act as an unprivileged reader instead
// of running tests (see TestMain).
const helperEnv = "ODOO_NOTIFY_JOURNAL_OPEN_AS_USER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		os.Exit(openAsHelper(spec))
	}
	os.Exit(m.Run())
}

// openAsHelper opens "dir:PATH", "file:PATH" or "system:PATH" and prints "noaccess",
// "ok N" (N entries) or "error: ...".
func openAsHelper(spec string) int {
	kind, path, _ := strings.Cut(spec, ":")
	var j *Journal
	var err error
	switch kind {
	case "dir":
		j, err = OpenDir(path)
	case "system":
		// This machine's journal, as if it lived in path.
		systemDirs = []string{path}
		j, err = OpenSystem()
	default:
		j, err = OpenFiles([]string{path})
	}
	switch {
	case errors.Is(err, ErrNoAccess):
		fmt.Printf("noaccess %s\n", err)
	case err != nil:
		fmt.Printf("error: %s\n", err)
	default:
		es, err := j.RunLines("odoo.service", "", 100)
		j.Close()
		if err != nil {
			fmt.Printf("error: %s\n", err)
			return 0
		}
		fmt.Printf("ok %d\n", len(es))
	}
	return 0
}

// TestNoAccess opens journals that exist but that an unprivileged user may
// not read: the answer must be ErrNoAccess, never an empty excerpt.
func TestNoAccess(t *testing.T) {
	const nobody = 65534
	// A world-readable place for the journals and the test binary, so the
	// unprivileged helper can reach them.
	root, err := os.MkdirTemp("", "journal-access-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error { os.Chmod(p, 0o755); return nil })
		os.RemoveAll(root)
	})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Chmod(root, 0o755))
	s, _ := crashScene()
	src := makeJournal(t, s.recs)
	put := func(dir string, dirMode, fileMode os.FileMode) string {
		d := filepath.Join(root, dir)
		must(os.Mkdir(d, 0o755))
		data, err := os.ReadFile(src)
		must(err)
		f := filepath.Join(d, "system.journal")
		must(os.WriteFile(f, data, fileMode))
		must(os.Chmod(f, fileMode))
		must(os.Chmod(d, dirMode))
		return d
	}
	readable := put("readable", 0o755, 0o644)
	lockedDir := put("locked-dir", 0o000, 0o644)
	// Journal files are root:systemd-journal 0640. When the test does not
	// run as root the helper runs as its owner, which only mode 000 stops.
	lockedMode := os.FileMode(0o640)
	if os.Geteuid() != 0 {
		lockedMode = 0
	}
	lockedFile := put("locked-file", 0o755, lockedMode)

	tests := []struct {
		name string
		spec string
		want string
	}{
		{name: "readable directory", spec: "dir:" + readable, want: "ok "},
		{name: "readable file", spec: "file:" + filepath.Join(readable, "system.journal"), want: "ok "},
		{name: "directory mode 000", spec: "dir:" + lockedDir, want: "noaccess"},
		{name: "unreadable file in a readable directory", spec: "dir:" + lockedFile, want: "noaccess"},
		{name: "unreadable file given as a file", spec: "file:" + filepath.Join(lockedFile, "system.journal"), want: "noaccess"},
		{name: "unreadable system journal", spec: "system:" + lockedFile, want: "noaccess"},
		{name: "system journal directory mode 000", spec: "system:" + lockedDir, want: "noaccess"},
	}

	// Root reads everything: the check must run as an unprivileged user,
	// in a copy of this test binary that user may execute.
	run := func(spec string) string {
		bin := filepath.Join(root, "journal.test")
		if _, err := os.Stat(bin); err != nil {
			exe, err := os.Executable()
			must(err)
			data, err := os.ReadFile(exe)
			must(err)
			must(os.WriteFile(bin, data, 0o755))
		}
		cmd := exec.Command(bin)
		// The race runtime waits a second at exit unless told not to.
		cmd.Env = []string{helperEnv + "=" + spec, "PATH=/usr/bin:/bin", "GORACE=atexit_sleep_ms=0"}
		if os.Geteuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper: %v: %s", err, out)
		}
		return string(out)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(tt.spec)
			if !strings.HasPrefix(got, tt.want) {
				t.Fatalf("unprivileged open of %s: got %q, want %q", tt.spec, got, tt.want)
			}
			if testing.Verbose() {
				t.Log(strings.TrimSpace(got))
			}
			if tt.want == "noaccess" && !strings.Contains(got, "group systemd-journal") {
				t.Errorf("error %q does not say what to fix", got)
			}
			if tt.want == "ok " && strings.TrimSpace(got) == "ok 0" {
				t.Errorf("readable journal gave no lines")
			}
		})
	}
}

func TestOpenSystemWithoutJournald(t *testing.T) {
	// As on a machine (or container) where journald never ran: the
	// directories are missing or empty.
	dir := t.TempDir()
	saved := systemDirs
	systemDirs = []string{filepath.Join(dir, "var-log-journal"), filepath.Join(dir, "run-log-journal")}
	t.Cleanup(func() { systemDirs = saved })
	if err := os.Mkdir(systemDirs[0], 0o755); err != nil {
		t.Fatal(err)
	}
	j, err := OpenSystem()
	if err == nil {
		j.Close()
		t.Fatal("opened an empty system journal; want an error")
	}
	if !strings.HasPrefix(err.Error(), "journal: open system journal: no journal files") ||
		!strings.Contains(err.Error(), "--journal-dir") {
		t.Errorf("error %q: want it to say there are no journal files and how to read saved ones", err)
	}
}

// Narrow keeps the journal files whose entries may lie in the time asked
// for, from their headers, and reads stop seeing the others.
func TestNarrow(t *testing.T) {
	dir := t.TempDir()
	s, _ := crashScene()
	half := len(s.recs) / 2
	first, second := s.recs[:half], s.recs[half:]
	for i, part := range [][]rec{first, second} {
		if err := os.Rename(makeJournal(t, part), filepath.Join(dir, fmt.Sprintf("system@%d.journal", i))); err != nil {
			t.Fatal(err)
		}
	}
	// A file that is not a journal is not kept: sd-journal skipped it.
	if err := os.WriteFile(filepath.Join(dir, "broken.journal"), []byte("not a journal"), 0o644); err != nil {
		t.Fatal(err)
	}
	lastOfFirst, firstOfSecond := first[len(first)-1].at, second[0].at
	tests := []struct {
		name         string
		since, until time.Time
		kept         int
		oldest       time.Time // of the odoo.service lines still read
	}{
		{name: "all of it", since: t0, kept: 2, oldest: s.recs[0].at},
		{name: "the second file's time", since: firstOfSecond, kept: 1, oldest: firstOfSecond},
		{name: "to the end of the first file", since: t0, until: lastOfFirst, kept: 1, oldest: s.recs[0].at},
		{name: "nothing there: every file stays", since: s.now.Add(time.Hour), kept: 3, oldest: s.recs[0].at},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := OpenDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			kept, of, err := j.Narrow(tt.since, tt.until)
			if err != nil || kept != tt.kept || of != 3 {
				t.Fatalf("Narrow: kept %d of %d (%v), want %d of 3", kept, of, err, tt.kept)
			}
			got, err := j.RunLines("odoo.service", "", 1000)
			if err != nil || len(got) == 0 {
				t.Fatalf("RunLines: %d lines, %v", len(got), err)
			}
			if !got[0].Time.Equal(firstMatch(s.recs, tt.oldest)) {
				t.Errorf("oldest line read %s, want %s", got[0].Time, firstMatch(s.recs, tt.oldest))
			}
			if newest := got[len(got)-1].Time; tt.until.IsZero() && newest.Before(firstOfSecond) || !tt.until.IsZero() && newest.After(tt.until) {
				t.Errorf("newest line read %s: the files read are not those of the time asked for", newest)
			}
		})
	}
}

// firstMatch is the time of the first odoo.service entry at or after t.
func firstMatch(recs []rec, t time.Time) time.Time {
	for _, r := range recs {
		if r.at.Before(t) {
			continue
		}
		for _, f := range r.fields {
			if (f.k == "_SYSTEMD_UNIT" || f.k == "UNIT") && f.v == "odoo.service" {
				return r.at
			}
		}
	}
	return time.Time{}
}

// mayHold reads a journal file's header: the times of its first and last
// entries, its state and its entry count.
func TestMayHold(t *testing.T) {
	s, _ := crashScene()
	orig, err := os.ReadFile(makeJournal(t, s.recs))
	if err != nil {
		t.Fatal(err)
	}
	first, last := s.recs[0].at, s.recs[len(s.recs)-1].at
	patched := func(off int, b ...byte) []byte {
		c := slices.Clone(orig)
		copy(c[off:], b)
		return c
	}
	tests := []struct {
		name         string
		file         []byte
		since, until time.Time
		want         bool
	}{
		{name: "inside", file: orig, since: first, until: last, want: true},
		{name: "overlaps its end", file: orig, since: last, want: true},
		{name: "after it", file: orig, since: last.Add(time.Second), want: false},
		{name: "before it", file: orig, since: first.Add(-time.Hour), until: first.Add(-time.Second), want: false},
		{name: "being written: kept whatever its times", file: patched(offState, stateOnline), since: last.Add(time.Hour), want: true},
		{name: "no entries", file: patched(offNEntries, 0, 0, 0, 0, 0, 0, 0, 0), since: first, want: false},
		{name: "not a journal", file: []byte("LPKSHHRH but short"), since: first, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f.journal")
			if err := os.WriteFile(p, tt.file, 0o644); err != nil {
				t.Fatal(err)
			}
			if got := mayHold(p, tt.since, tt.until); got != tt.want {
				t.Errorf("mayHold from %s to %s: %v, want %v", tt.since, tt.until, got, tt.want)
			}
		})
	}
}
