package report

import "testing"

// TestSubjectNamesTheCause: the analysed cause leads the subject when it
// says more than systemd's result.
func TestSubjectNamesTheCause(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    Report
		want string
	}{
		{"OOM kill systemd saw as SIGKILL", Report{Result: "signal", ExitCode: "killed", ExitStatus: "KILL", Cause: "oom-kill"}, "erp1: odoo.service failed (oom-kill, signal KILL)"},
		{"config error", Report{Result: "exit-code", ExitCode: "exited", ExitStatus: "2", Cause: "config-error"}, "erp1: odoo.service failed (config-error, exit status 2)"},
		{"cause is the result", Report{Result: "watchdog", ExitCode: "killed", ExitStatus: "ABRT", Cause: "watchdog"}, "erp1: odoo.service failed (watchdog, signal ABRT)"},
		{"nothing more than the exit code", Report{Result: "exit-code", ExitCode: "exited", ExitStatus: "3", Cause: "exit-code"}, "erp1: odoo.service failed (exit status 3)"},
		{"start limit", Report{Result: "exit-code", ExitCode: "exited", ExitStatus: "1", NRestarts: 5, StartLimitHit: true, Cause: "start-limit-hit"}, "erp1: odoo.service failed (start limit hit after 5 restarts, last: exit status 1)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.Host, tt.r.Unit = "erp1", "odoo.service"
			if got := tt.r.Subject(); got != tt.want {
				t.Errorf("Subject() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCrashNamesItsCause(t *testing.T) {
	c := Crash{Result: "exit-code", ExitCode: "exited", ExitStatus: "1", Cause: "db-unreachable", InvocationID: "ab"}
	if got, want := c.String(), "0001-01-01T00:00:00Z exit-code (exited 1) db-unreachable ab"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
