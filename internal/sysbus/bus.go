// Package sysbus is odoo-notify's one D-Bus boundary: what the program asks
// systemd (org.freedesktop.systemd1(5)) over the system bus. A Bus opens one
// plain connection the first time it is asked something and keeps it until
// Close, so that a command pays for one connection, however many questions
// it asks. It needs no cgo; the mapping of properties to facts is pure.
package sysbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/odoo-notify/odoo-notify/facts"
)

// Timeout bounds the connection and each call when ctx allows longer: a
// handler that waits on a wedged bus misses the next crash (systemd merges
// start requests for a running handler into its job).
const Timeout = 3 * time.Second

// JobWait bounds how long Restart and Stop wait for their job's end.
const JobWait = 30 * time.Second

const (
	dest        = "org.freedesktop.systemd1"
	managerPath = godbus.ObjectPath("/org/freedesktop/systemd1")
	manager     = "org.freedesktop.systemd1.Manager"
	ifaceUnit   = "org.freedesktop.systemd1.Unit"
	ifaceSvc    = "org.freedesktop.systemd1.Service"
	ifaceTimer  = "org.freedesktop.systemd1.Timer"
)

// Bus is the system bus, connected on first use. Its zero value is ready;
// it is safe for concurrent use.
type Bus struct {
	mu   sync.Mutex
	conn *godbus.Conn
	end  context.CancelFunc
	// Dials counts the connections opened: one per process is the goal.
	dials int
}

// New returns a Bus that connects when first asked.
func New() *Bus { return &Bus{} }

// Close closes the connection, if one was opened. The Bus connects again
// when asked again.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return nil
	}
	err := b.conn.Close()
	b.end()
	b.conn, b.end = nil, nil
	return err
}

// Dials says how many connections b has opened.
func (b *Bus) Dials() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dials
}

// connect returns the open connection, or opens one (a lost one is opened
// again), within Timeout. Its error says to check that dbus runs.
func (b *Bus) connect(ctx context.Context) (*godbus.Conn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil && b.conn.Connected() {
		return b.conn, nil
	}
	if b.conn != nil {
		b.conn.Close()
		b.end()
		b.conn, b.end = nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	// The connection lives until Close, not until ctx ends; a dial that
	// outlives ctx is cut off by closing it.
	life, end := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, end)
	conn, err := godbus.SystemBusPrivate(godbus.WithContext(life))
	if err == nil {
		if err = conn.Auth(nil); err == nil {
			err = conn.Hello()
		}
		if err != nil {
			conn.Close()
		}
	}
	if !stop() {
		// godbus reports the closed socket; the deadline is the cause.
		if err == nil {
			conn.Close()
		}
		err = fmt.Errorf("no answer in time: %w", ctx.Err())
	}
	if err != nil {
		end()
		return nil, &connectError{err}
	}
	b.conn, b.end = conn, end
	b.dials++
	return conn, nil
}

// call calls a method of obj within Timeout and stores its reply in out.
func (b *Bus) call(ctx context.Context, path godbus.ObjectPath, method string, out []any, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	conn, err := b.connect(ctx)
	if err != nil {
		return err
	}
	c := conn.Object(dest, path).CallWithContext(ctx, method, 0, args...)
	if c.Err != nil {
		return c.Err
	}
	if len(out) == 0 {
		return nil
	}
	return c.Store(out...)
}

func unitPath(unit string) godbus.ObjectPath {
	return godbus.ObjectPath("/org/freedesktop/systemd1/unit/" + sddbus.PathBusEscape(unit))
}

// Properties is every property of unit on iface ("" for all of its
// interfaces), decoded as godbus decodes systemd's signatures. systemd
// answers for any name, loaded or not (LoadState says which).
func (b *Bus) Properties(ctx context.Context, unit, iface string) (map[string]any, error) {
	var props map[string]godbus.Variant
	if err := b.call(ctx, unitPath(unit), "org.freedesktop.DBus.Properties.GetAll", []any{&props}, iface); err != nil {
		return nil, err
	}
	out := make(map[string]any, len(props))
	for k, v := range props {
		out[k] = v.Value()
	}
	return out, nil
}

// Property is one property of unit on iface.
func (b *Bus) Property(ctx context.Context, unit, iface, name string) (any, error) {
	var v godbus.Variant
	if err := b.call(ctx, unitPath(unit), "org.freedesktop.DBus.Properties.Get", []any{&v}, iface, name); err != nil {
		return nil, err
	}
	return v.Value(), nil
}

// UnitProperty is one property of unit's Unit interface: ActiveState,
// LoadState, OnFailure, ...
func (b *Bus) UnitProperty(ctx context.Context, unit, name string) (any, error) {
	return b.Property(ctx, unit, ifaceUnit, name)
}

// ServiceProperties is every property of a service's Service interface:
// User, Group, DynamicUser, ...
func (b *Bus) ServiceProperties(ctx context.Context, unit string) (map[string]any, error) {
	return b.Properties(ctx, unit, ifaceSvc)
}

// UnitState reads unit's state: Result, ExecMainCode, ExecMainStatus,
// NRestarts, InvocationID, ExecMainStartTimestamp, ExecMainExitTimestamp,
// ExecStart and MemoryMax. It is the source for systemd < 251, which sets no
// MONITOR_* variables.
func (b *Bus) UnitState(ctx context.Context, unit string) (facts.State, error) {
	const op = "read unit state over d-bus"
	// One call for every interface: Unit (InvocationID) and Service (the rest).
	props, err := b.Properties(ctx, unit, "")
	if err != nil {
		if isConnect(err) {
			return facts.State{}, fmt.Errorf("%s: %w", op, err)
		}
		return facts.State{}, fmt.Errorf("%s: properties of %s: %w", op, unit, err)
	}
	s, err := stateFromProperties(unit, props)
	if err != nil {
		return facts.State{}, fmt.Errorf("%s: %w", op, err)
	}
	return s, nil
}

// Activity reads what unit is doing now: ActiveState, SubState,
// ActiveEnterTimestamp and InvocationID.
func (b *Bus) Activity(ctx context.Context, unit string) (facts.Activity, error) {
	const op = "read unit activity over d-bus"
	props, err := b.Properties(ctx, unit, ifaceUnit)
	if err != nil {
		if isConnect(err) {
			return facts.Activity{}, fmt.Errorf("%s: %w", op, err)
		}
		return facts.Activity{}, fmt.Errorf("%s: properties of %s: %w", op, unit, err)
	}
	return activityFromProperties(unit, props)
}

// MainPID is the service's main process (systemd's MainPID), 0 when it
// has none: a watcher tells the main process's OOM kill, a crash, from a
// worker's.
func (b *Bus) MainPID(ctx context.Context, unit string) (int, error) {
	const op = "read the main pid over d-bus"
	v, err := b.Property(ctx, unit, ifaceSvc, "MainPID")
	if err != nil {
		if isConnect(err) {
			return 0, fmt.Errorf("%s: %w", op, err)
		}
		return 0, fmt.Errorf("%s: %s: %w", op, unit, err)
	}
	pid, ok := v.(uint32)
	if !ok {
		return 0, fmt.Errorf("%s: %s: MainPID is %T", op, unit, v)
	}
	return int(pid), nil
}

// TimerNext says when systemd next fires timer (NextElapseUSecRealtime);
// zero when it is not scheduled.
func (b *Bus) TimerNext(ctx context.Context, timer string) (time.Time, error) {
	v, err := b.Property(ctx, timer, ifaceTimer, "NextElapseUSecRealtime")
	if err != nil {
		return time.Time{}, fmt.Errorf("read %s: %w", timer, err)
	}
	return usecTime(v), nil
}

// Kill sends sig to unit's processes: who is "main" or "all" (KillUnit),
// as `systemctl kill --kill-whom=WHO -s SIG` does. systemd sends it, so the
// caller needs no right over the processes themselves, only over the unit.
func (b *Bus) Kill(ctx context.Context, unit, who string, sig syscall.Signal) error {
	if err := b.call(ctx, managerPath, manager+".KillUnit", nil, unit, who, int32(sig)); err != nil {
		if isConnect(err) {
			return fmt.Errorf("kill %s: %w", unit, err)
		}
		return fmt.Errorf("send %s to %s processes of %s: %w", unix.SignalName(sig), who, unit, err)
	}
	return nil
}

// StartNoBlock asks systemd to start unit and returns once the job is
// queued, without waiting for it to run: what the hook does to start the
// handler while the watched unit waits for it to return.
func (b *Bus) StartNoBlock(ctx context.Context, unit string) error {
	return b.queue(ctx, "StartUnit", "start", unit)
}

// RestartNoBlock queues a restart job for unit ("replace") and returns
// without waiting for it.
func (b *Bus) RestartNoBlock(ctx context.Context, unit string) error {
	return b.queue(ctx, "RestartUnit", "restart", unit)
}

func (b *Bus) queue(ctx context.Context, method, verb, unit string) error {
	var job godbus.ObjectPath
	if err := b.call(ctx, managerPath, manager+"."+method, []any{&job}, unit, "replace"); err != nil {
		return fmt.Errorf("%s %s: %w", verb, unit, err)
	}
	return nil
}

// Restart restarts unit ("replace") and waits, at most JobWait, for the
// job's result: "done", "failed", "timeout", ... (JobRemoved).
func (b *Bus) Restart(ctx context.Context, unit string) (string, error) {
	return b.job(ctx, "RestartUnit", "restart", unit)
}

// Stop stops unit and waits, at most JobWait, for the job's result.
func (b *Bus) Stop(ctx context.Context, unit string) (string, error) {
	return b.job(ctx, "StopUnit", "stop", unit)
}

// job queues a job and waits for systemd's JobRemoved signal about it,
// listened to on the same connection before the job is asked for.
func (b *Bus) job(ctx context.Context, method, verb, unit string) (string, error) {
	conn, err := b.connect(ctx)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", verb, unit, err)
	}
	match := []godbus.MatchOption{
		godbus.WithMatchObjectPath(managerPath), godbus.WithMatchInterface(manager), godbus.WithMatchMember("JobRemoved"),
	}
	signals := make(chan *godbus.Signal, 16)
	conn.Signal(signals)
	defer conn.RemoveSignal(signals)
	mctx, cancel := context.WithTimeout(ctx, Timeout)
	err = conn.AddMatchSignalContext(mctx, match...)
	cancel()
	if err != nil {
		return "", fmt.Errorf("%s %s: listen for the job's end: %w", verb, unit, err)
	}
	defer conn.RemoveMatchSignal(match...)
	var job godbus.ObjectPath
	if err := b.call(ctx, managerPath, manager+"."+method, []any{&job}, unit, "replace"); err != nil {
		return "", fmt.Errorf("%s %s: %w", verb, unit, err)
	}
	wait := time.NewTimer(JobWait)
	defer wait.Stop()
	for {
		select {
		case s, ok := <-signals:
			if !ok {
				return "", fmt.Errorf("%s %s: the system bus closed before the job ended", verb, unit)
			}
			if res, ok := jobResult(s, job); ok {
				return res, nil
			}
		case <-wait.C:
			return fmt.Sprintf("still running after %.0f s", JobWait.Seconds()), nil
		case <-ctx.Done():
			return ctx.Err().Error(), nil
		}
	}
}

// jobResult is the result a JobRemoved(u id, o job, s unit, s result)
// signal gives for job.
func jobResult(s *godbus.Signal, job godbus.ObjectPath) (string, bool) {
	if s == nil || s.Name != manager+".JobRemoved" || len(s.Body) < 4 {
		return "", false
	}
	if p, _ := s.Body[1].(godbus.ObjectPath); p != job {
		return "", false
	}
	res, _ := s.Body[3].(string)
	return res, true
}

// Reload asks systemd to read its unit files again (systemctl
// daemon-reload); it returns once systemd has.
func (b *Bus) Reload(ctx context.Context) error {
	// A reload of many units takes longer than a question.
	ctx, cancel := context.WithTimeout(ctx, JobWait)
	defer cancel()
	conn, err := b.connect(ctx)
	if err != nil {
		return err
	}
	return conn.Object(dest, managerPath).CallWithContext(ctx, manager+".Reload", 0).Err
}

// connectError is a failed connection: a bus problem, not the unit's.
type connectError struct{ err error }

func (e *connectError) Error() string {
	return "connect to the system bus (is dbus running?): " + e.err.Error()
}

func (e *connectError) Unwrap() error { return e.err }

// isConnect says err is connect's, so that callers do not name the unit in
// what is a bus problem.
func isConnect(err error) bool {
	var ce *connectError
	return errors.As(err, &ce)
}

// Connect opens the connection now, for a command that must not go on
// without systemd (enable, disable).
func (b *Bus) Connect(ctx context.Context) error {
	_, err := b.connect(ctx)
	return err
}
