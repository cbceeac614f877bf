// Package sysbustest is a fake systemd on a real, private dbus-daemon, for
// tests that count what a command asks over the system bus and on how many
// connections.
package sysbustest

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	godbus "github.com/godbus/dbus/v5"
)

const (
	dest        = "org.freedesktop.systemd1"
	managerPath = godbus.ObjectPath("/org/freedesktop/systemd1")
	manager     = "org.freedesktop.systemd1.Manager"
	ifaceUnit   = "org.freedesktop.systemd1.Unit"
)

// T0 is every timestamp the fake gives.
var T0 = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)

// Systemd answers on a real dbus-daemon as org.freedesktop.systemd1
// does, for any unit, and records who called what: a sender is one bus
// connection.
type Systemd struct {
	conn *godbus.Conn

	mu      sync.Mutex
	calls   []string
	senders map[godbus.Sender]bool
}

func (f *Systemd) record(s godbus.Sender, call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	f.senders[s] = true
}

func (f *Systemd) Connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.senders)
}

// props is the unit's Properties interface.
type props struct{ f *Systemd }

func (p props) values(iface string) map[string]godbus.Variant {
	all := map[string]godbus.Variant{
		"LoadState":              godbus.MakeVariant("loaded"),
		"ActiveState":            godbus.MakeVariant("active"),
		"SubState":               godbus.MakeVariant("running"),
		"ActiveEnterTimestamp":   godbus.MakeVariant(uint64(T0.UnixMicro())),
		"InvocationID":           godbus.MakeVariant([]byte{0xab, 0xcd}),
		"Result":                 godbus.MakeVariant("exit-code"),
		"ExecMainCode":           godbus.MakeVariant(int32(1)),
		"ExecMainStatus":         godbus.MakeVariant(int32(3)),
		"NRestarts":              godbus.MakeVariant(uint32(2)),
		"MainPID":                godbus.MakeVariant(uint32(4242)),
		"NextElapseUSecRealtime": godbus.MakeVariant(uint64(T0.UnixMicro())),
	}
	if iface == ifaceUnit {
		delete(all, "Result")
		delete(all, "MainPID")
	}
	return all
}

func (p props) GetAll(s godbus.Sender, iface string) (map[string]godbus.Variant, *godbus.Error) {
	p.f.record(s, "GetAll "+iface)
	return p.values(iface), nil
}

func (p props) Get(s godbus.Sender, iface, name string) (godbus.Variant, *godbus.Error) {
	p.f.record(s, "Get "+iface+" "+name)
	v, ok := p.values("")[name]
	if !ok {
		return godbus.Variant{}, godbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{name})
	}
	return v, nil
}

// mgr is the Manager interface.
type mgr struct{ f *Systemd }

const fakeJob = godbus.ObjectPath("/org/freedesktop/systemd1/job/7")

// queue answers with a job and, like systemd, says it ended a moment
// later.
func (m mgr) queue(s godbus.Sender, call, unit string) (godbus.ObjectPath, *godbus.Error) {
	m.f.record(s, call+" "+unit)
	go func() {
		time.Sleep(20 * time.Millisecond)
		m.f.conn.Emit(managerPath, manager+".JobRemoved", uint32(6), godbus.ObjectPath("/org/freedesktop/systemd1/job/6"), "other.service", "failed")
		m.f.conn.Emit(managerPath, manager+".JobRemoved", uint32(7), fakeJob, unit, "done")
	}()
	return fakeJob, nil
}

func (m mgr) StartUnit(s godbus.Sender, unit, mode string) (godbus.ObjectPath, *godbus.Error) {
	return m.queue(s, "StartUnit", unit)
}

func (m mgr) RestartUnit(s godbus.Sender, unit, mode string) (godbus.ObjectPath, *godbus.Error) {
	return m.queue(s, "RestartUnit", unit)
}

func (m mgr) StopUnit(s godbus.Sender, unit, mode string) (godbus.ObjectPath, *godbus.Error) {
	return m.queue(s, "StopUnit", unit)
}

func (m mgr) KillUnit(s godbus.Sender, unit, who string, sig int32) *godbus.Error {
	m.f.record(s, "KillUnit "+unit+" "+who+" "+syscall.Signal(sig).String())
	return nil
}

func (m mgr) Reload(s godbus.Sender) *godbus.Error {
	m.f.record(s, "Reload")
	return nil
}

// Start starts a private dbus-daemon with a fake systemd on it and
// points the system bus there.
func Start(t testing.TB) *Systemd {
	t.Helper()
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		t.Fatal("dbus-daemon not found: apt-get install dbus-daemon (scripts/deps installs it)")
	}
	addr := "unix:path=" + filepath.Join(t.TempDir(), "bus")
	cmd := exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address", "--address="+addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon printed no address: %v", err)
	}
	addr = strings.TrimSpace(line)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", addr)

	conn, err := godbus.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.Auth(nil); err != nil {
		t.Fatal(err)
	}
	if err := conn.Hello(); err != nil {
		t.Fatal(err)
	}
	f := &Systemd{conn: conn, senders: map[godbus.Sender]bool{}}
	if err := conn.ExportSubtree(props{f}, "/org/freedesktop/systemd1/unit", "org.freedesktop.DBus.Properties"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Export(mgr{f}, managerPath, manager); err != nil {
		t.Fatal(err)
	}
	if r, err := conn.RequestName(dest, godbus.NameFlagDoNotQueue); err != nil || r != godbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s: %v %v", dest, r, err)
	}
	return f
}

// Calls is every call the fake answered, in order.
func (f *Systemd) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}
