package sysbus

import (
	"context"
	"strings"
	"syscall"
	"testing"

	"github.com/odoo-notify/odoo-notify/internal/sysbus/sysbustest"
)

// TestOneConnection asks the bus everything a command may ask, through one
// Bus: systemd sees one connection (one sender), and the answers are
// systemd's.
func TestOneConnection(t *testing.T) {
	f := sysbustest.Start(t)
	ctx := context.Background()
	b := New()
	defer b.Close()

	st, err := b.UnitState(ctx, unit)
	if err != nil {
		t.Fatal(err)
	}
	if st.Result != "exit-code" || st.ExitCode != "exited" || st.ExitStatus != "3" || st.NRestarts != 2 || st.InvocationID != "abcd" {
		t.Errorf("state %+v: want exit-code, exited 3, 2 restarts, invocation abcd", st)
	}
	act, err := b.Activity(ctx, unit)
	if err != nil {
		t.Fatal(err)
	}
	if !act.Active() || !act.Since.Equal(sysbustest.T0) {
		t.Errorf("activity %+v: want active since %v", act, sysbustest.T0)
	}
	if pid, err := b.MainPID(ctx, unit); err != nil || pid != 4242 {
		t.Errorf("MainPID = %d, %v; want 4242", pid, err)
	}
	if next, err := b.TimerNext(ctx, "odoo-notify-flush.timer"); err != nil || !next.Equal(sysbustest.T0) {
		t.Errorf("TimerNext = %v, %v; want %v", next, err, sysbustest.T0)
	}
	if err := b.Kill(ctx, unit, "main", syscall.SIGQUIT); err != nil {
		t.Error(err)
	}
	if err := b.RestartNoBlock(ctx, unit); err != nil {
		t.Error(err)
	}
	if err := b.StartNoBlock(ctx, "odoo-notify@"+unit+".service"); err != nil {
		t.Error(err)
	}
	// The job's own end, not the other job's that ended before it.
	if res, err := b.Restart(ctx, unit); err != nil || res != "done" {
		t.Errorf("Restart = %q, %v; want done", res, err)
	}
	if res, err := b.Stop(ctx, unit); err != nil || res != "done" {
		t.Errorf("Stop = %q, %v; want done", res, err)
	}
	if err := b.Reload(ctx); err != nil {
		t.Error(err)
	}
	if v, err := b.UnitProperty(ctx, unit, "LoadState"); err != nil || v != "loaded" {
		t.Errorf("LoadState = %v, %v; want loaded", v, err)
	}

	if n := f.Connections(); n != 1 || b.Dials() != 1 {
		t.Errorf("%d connections seen by systemd, %d opened: want 1 for all of:\n%s", n, b.Dials(), strings.Join(f.Calls(), "\n"))
	}
	if testing.Verbose() {
		t.Logf("over one connection:\n%s", strings.Join(f.Calls(), "\n"))
	}

	// Closed, it connects again when asked again.
	b.Close()
	if _, err := b.Activity(ctx, unit); err != nil {
		t.Fatal(err)
	}
	if n := f.Connections(); n != 2 {
		t.Errorf("%d connections after Close and one more call, want 2", n)
	}
}
