package journal

import (
	"context"
	"fmt"

	"github.com/coreos/go-systemd/v22/dbus"
)

// MainPID is the service's main process (systemd's MainPID), 0 when it
// has none: a watcher tells the main process's OOM kill, a crash, from a
// worker's.
func MainPID(ctx context.Context, unit string) (int, error) {
	const op = "journal: read the main pid over d-bus"
	ctx, cancel := context.WithTimeout(ctx, DBusTimeout)
	defer cancel()
	conn, err := dbus.NewSystemConnectionContext(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s: connect to the system bus (is dbus running?): %w", op, err)
	}
	defer conn.Close()
	p, err := conn.GetServicePropertyContext(ctx, unit, "MainPID")
	if err != nil {
		return 0, fmt.Errorf("%s: %s: %w", op, unit, err)
	}
	pid, ok := p.Value.Value().(uint32)
	if !ok {
		return 0, fmt.Errorf("%s: %s: MainPID is %T", op, unit, p.Value.Value())
	}
	return int(pid), nil
}
