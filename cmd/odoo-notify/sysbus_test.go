package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/odoo-notify/odoo-notify/internal/sysbus/sysbustest"
)

// A command asks systemd over one bus connection, however many questions
// it asks: status asks when the flush timer fires and what each unit does.
func TestStatusAsksSystemdOverOneConnection(t *testing.T) {
	bus := sysbustest.Start(t)
	root := t.TempDir()
	for _, u := range []string{"erp1.service", "erp2.service"} {
		if _, stderr, code := runCLI(t, "enable", "--root", root, u); code != 0 {
			t.Fatalf("enable %s: exit %d: %s", u, code, stderr)
		}
	}
	stdout, stderr, code := cli(t, nil, "status", "--root", root)
	if code != 0 {
		t.Fatalf("status: exit %d, want 0 (both units active):\n%s%s", code, stdout, stderr)
	}
	for _, u := range []string{"erp1.service: active/running", "erp2.service: active/running"} {
		if !strings.Contains(stdout, u) {
			t.Errorf("status does not say %q:\n%s", u, stdout)
		}
	}
	calls := bus.Calls()
	for _, want := range []string{
		"Get org.freedesktop.systemd1.Timer NextElapseUSecRealtime",
		"GetAll org.freedesktop.systemd1.Unit",
	} {
		if !slices.Contains(calls, want) {
			t.Errorf("status did not ask %q; it asked:\n%s", want, strings.Join(calls, "\n"))
		}
	}
	if len(calls) < 3 || bus.Connections() != 1 {
		t.Errorf("status asked %d questions over %d connections, want them all over 1:\n%s", len(calls), bus.Connections(), strings.Join(calls, "\n"))
	}
}
