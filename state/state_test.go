package state

import (
	"bytes"
	"context"
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

func TestDir(t *testing.T) {
	env := func(v string) func(string) string { return func(string) string { return v } }
	for _, tt := range []struct{ flag, env, want string }{
		{"/srv/state", "/var/lib/odoo-notify", "/srv/state"},
		{"", "/var/lib/odoo-notify:/var/lib/other", "/var/lib/odoo-notify"},
		{"", "", DefaultDir},
	} {
		if got := Dir(tt.flag, env(tt.env)); got != tt.want {
			t.Errorf("Dir(%q, %q) = %q, want %q", tt.flag, tt.env, got, tt.want)
		}
	}
}

// Two processes (here two opens of the folder, each with its own lock file
// description) that add one to the same record under Update never lose an
// addition.
func TestUpdateIsExclusive(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	for range 2 {
		f, err := Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				err := f.Update(context.Background(), func(tx *Tx) error {
					b, _ := tx.ReadFile("n")
					n, _ := strconv.Atoi(string(b))
					return tx.WriteFileCached("n", []byte(strconv.Itoa(n+1)))
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b, _ := os.ReadFile(filepath.Join(dir, "n"))
	if string(b) != "100" {
		t.Fatalf("counter = %s, want 100", b)
	}
}

func TestUpdateGivesUpWhenTheContextEnds(t *testing.T) {
	dir := t.TempDir()
	f, _ := Open(dir, nil)
	g, _ := Open(dir, nil)
	held, release := make(chan struct{}), make(chan struct{})
	go f.Update(context.Background(), func(*Tx) error { close(held); <-release; return nil })
	<-held
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ran := false
	err := g.Update(ctx, func(*Tx) error { ran = true; return nil })
	if !errors.Is(err, context.DeadlineExceeded) || ran {
		t.Fatalf("Update while another holds the lock: ran %v, err %v", ran, err)
	}
}

// A writer killed by SIGKILL at any moment leaves the old record or the new
// one, whole.
func TestKilledWriterLeavesTheOldOrTheNewFile(t *testing.T) {
	if dir := os.Getenv("STATE_TEST_WRITER"); dir != "" {
		f, _ := Open(dir, nil)
		for i := 0; ; i++ {
			f.WriteFile("rec", payload(i%2))
		}
	}
	dir := t.TempDir()
	f, _ := Open(dir, nil)
	if err := f.WriteFile("rec", payload(0)); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriterLeavesTheOldOrTheNewFile$")
		cmd.Env = append(os.Environ(), "STATE_TEST_WRITER="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(100+40*i) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		b, err := f.ReadFile("rec")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, payload(0)) && !bytes.Equal(b, payload(1)) {
			t.Fatalf("kill %d: the record is neither the old nor the new one (%d bytes)", i, len(b))
		}
	}
}

func payload(i int) []byte { return bytes.Repeat([]byte{'a' + byte(i)}, 256<<10) }

func TestRemoveAndList(t *testing.T) {
	f, err := Open(t.TempDir(), nil, "sub")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.WriteFile("sub/x.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	des, err := f.ReadDir("sub")
	if err != nil || len(des) != 1 || des[0].Name() != "x.json" {
		t.Fatalf("ReadDir: %v %v", des, err)
	}
	if err := f.Remove("sub/x.json"); err != nil {
		t.Fatal(err)
	}
	if err := f.Remove("sub/x.json"); err != nil {
		t.Fatalf("removing what is gone: %v", err)
	}
	if _, err := f.ReadFile("sub/x.json"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read after remove: %v", err)
	}
}

// A claim is held by one process at a time and dropped with its holder.
func TestClaimIsExclusiveAndDiesWithItsHolder(t *testing.T) {
	dir := t.TempDir()
	f, _ := Open(dir, nil)
	g, _ := Open(dir, nil)
	c, err := f.TryClaim("x.claim")
	if err != nil || c == nil {
		t.Fatalf("first claim: %v %v", c, err)
	}
	if c2, err := g.TryClaim("x.claim"); c2 != nil || err != nil {
		t.Fatalf("second claim while the first is held: %v %v", c2, err)
	}
	c.Release()
	if c3, err := g.TryClaim("x.claim"); c3 == nil || err != nil {
		t.Fatalf("claim after release: %v %v", c3, err)
	}
}

func TestMoveAside(t *testing.T) {
	dir := t.TempDir()
	f, _ := Open(dir, nil)
	f.WriteFile("gate.json", []byte("\x00"))
	f.MoveAside("gate.json", errors.New("not json"))
	if _, err := os.Stat(filepath.Join(dir, "gate.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("still there: %v", err)
	}
	m, _ := filepath.Glob(filepath.Join(dir, "gate.json.corrupt-*"))
	if len(m) != 1 {
		t.Fatalf("moved aside: %v", m)
	}
}

// A folder this user may not write (root made it for the handler's user)
// says what to fix.
func TestAFolderOfAnotherUserSaysWhatToFix(t *testing.T) {
	if dir := os.Getenv("STATE_TEST_OPEN"); dir != "" {
		_, err := Open(dir, nil)
		os.Stdout.WriteString("ERR " + fmt.Sprint(err) + "\n")
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run a process as nobody")
	}
	base := t.TempDir()
	os.Chmod(filepath.Dir(base), 0o755) // the test's own temporary folders, 0700
	os.Chmod(base, 0o755)
	bin := filepath.Join(base, "state.test")
	if out, err := exec.Command("cp", os.Args[0], bin).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	os.Chmod(bin, 0o755)
	dir := filepath.Join(base, "odoo-notify")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestAFolderOfAnotherUserSaysWhatToFix$")
	cmd.Env = append(os.Environ(), "STATE_TEST_OPEN="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatal(err, string(out))
	}
	want := "run as the odoo-notify user or fix the owner (chown -R odoo-notify: " + dir + ")"
	if !strings.Contains(string(out), "permission denied") || !strings.Contains(string(out), want) {
		t.Fatalf("Open as nobody in root's folder: %s\nwant it to say %q", out, want)
	}
}
