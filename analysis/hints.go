package analysis

import (
	"fmt"
	"strings"

	"github.com/odoo-notify/odoo-notify/internal/lazyre"
)

// hints gives one or two lines with the concrete fix, using the settings
// that were readable.
func hints(d decision, ev evidence, in Input, unit string) []string {
	s := in.Settings
	var h []string
	switch d.cause {
	case CauseOOMKill:
		what := "killed"
		if ev.oom.rss > 0 {
			what += " at " + gib(ev.oom.rss)
		}
		var with []string
		if s.MemoryMax > 0 {
			with = append(with, "MemoryMax="+systemdSize(s.MemoryMax))
		}
		if s.Workers > 0 {
			with = append(with, fmt.Sprintf("workers=%d", s.Workers))
		}
		fix := "lower workers or raise MemoryMax"
		if s.MemoryMax == 0 {
			fix = "lower workers, lower limit_memory_hard, or give the host more memory"
		}
		if len(with) > 0 {
			what += " with " + strings.Join(with, " and ")
		}
		h = append(h, what+": "+fix+".")
		if s.Workers > 0 && s.LimitMemoryHard > 0 {
			total := uint64(s.Workers+1) * s.LimitMemoryHard
			if s.MemoryMax == 0 || total > s.MemoryMax {
				h = append(h, fmt.Sprintf("(workers+1) x limit_memory_hard=%s allows %s: keep it below the memory the unit may use so Odoo recycles a worker before the kernel kills it.", gib(s.LimitMemoryHard), gib(total)))
			}
		}
	case CauseUnitSetup:
		if n, ok := setupStatus(in); ok {
			h = append(h, fmt.Sprintf("fix %s's unit file, not the program: %s (exit status %d/%s, see systemd.exec(5)); then `systemctl daemon-reload`.", unit, execSteps[n][1], n, execSteps[n][0]))
		}
	case CauseWatchdog:
		h = append(h, fmt.Sprintf("%s did not ping systemd within WatchdogSec=: odoo-bin sends no watchdog pings itself, so either it hung (look at the last lines) or WatchdogSec= is set on a process that never pings; remove WatchdogSec= or raise it.", unit))
	case CauseTimeout:
		h = append(h, fmt.Sprintf("raise TimeoutStartSec=/TimeoutStopSec= for %s if a large database or module update needs longer, or find what it waited for in the last lines.", unit))
	case CauseCoreDump:
		h = append(h, fmt.Sprintf("the Python process crashed in native code: `coredumpctl info %s` shows the stack; a C extension (psycopg2, lxml, reportlab) built for another library version is the usual suspect.", unit))
	case CauseSignal:
		h = append(h, fmt.Sprintf("something outside Odoo sent signal %s: look for an admin's `systemctl kill`, a deploy script, or an OOM killer whose lines were not in the journal.", orUnknown(in.ExitStatus)))
	case CauseDBUnreachable:
		switch d.kind {
		case "refused":
			h = append(h, "PostgreSQL refused the connection: check that postgresql.service is running and listening on db_host/db_port from odoo.conf; add After=postgresql.service to the unit when both run on this host.")
		case "host":
			h = append(h, "db_host does not resolve: fix db_host in odoo.conf (or --db_host), or the DNS/hosts entry for it.")
		case "socket":
			h = append(h, "no PostgreSQL socket: PostgreSQL is not running on this host, or Odoo needs db_host set because it runs elsewhere; add After=postgresql.service when it is local.")
		case "no-db":
			h = append(h, "the database does not exist: check db_name / -d / dbfilter in odoo.conf or restore the database.")
		case "auth":
			h = append(h, "PostgreSQL rejected the login: check db_user and db_password in odoo.conf against the PostgreSQL role, and pg_hba.conf for this host.")
		default:
			h = append(h, "Odoo could not use PostgreSQL: check postgresql.service and its log at the same time, and db_host/db_port/db_maxconn in odoo.conf.")
		}
	case CausePortInUse:
		port := ev.port
		if port == "" {
			port = "8069"
		}
		h = append(h, fmt.Sprintf("another process holds the port: find it with `ss -ltnp 'sport = :%s'` (often a second Odoo instance or a leftover process), stop it, or set http_port in odoo.conf.", port))
	case CauseConfigError:
		switch d.kind {
		case "addons":
			h = append(h, "an addons path does not exist or holds no modules: fix addons_path in odoo.conf (or --addons-path), every entry must be a readable directory of modules.")
		case "file":
			h = append(h, "odoo.conf could not be read or parsed: check its permissions for the user the unit runs as, and that it starts with an [options] section.")
		default:
			h = append(h, "fix the option in the unit's ExecStart or in odoo.conf; `odoo-bin --help` lists the options this version knows.")
		}
	case CauseWorkerTimeout:
		switch d.kind {
		case "cpu":
			h = append(h, "a request or cron used more CPU than limit_time_cpu"+setting(s.LimitTimeCPU, "s")+": raise limit_time_cpu in odoo.conf or find the slow job in the lines before it.")
		case "memory":
			h = append(h, "a worker grew past limit_memory_soft/limit_memory_hard"+settingBytes(s.LimitMemoryHard)+": raise the limits in odoo.conf if the host has the memory, or find the request that needs so much.")
		default:
			h = append(h, "a request or cron ran longer than limit_time_real"+setting(s.LimitTimeReal, "s")+": raise limit_time_real in odoo.conf (and limit_time_real_cron) or find the slow job in the lines before it.")
		}
	case CauseExceptionExit:
		if x := ev.exception; x != nil {
			if m := missingModuleRe.FindStringSubmatch(x.Type + ": " + x.Message); m != nil {
				h = append(h, fmt.Sprintf("the Python module %q is missing: install it in the Python environment Odoo runs with (pip install, or the distribution's package), or uninstall the addon that needs it.", m[1]))
			} else if x.Frame != "" {
				h = append(h, "Odoo stopped on this exception at "+x.Frame+": the traceback shows the module to fix or update.")
			}
		}
	case CauseExitCode:
		h = append(h, fmt.Sprintf("nothing in the lines says why: read more of the log with `journalctl -u %s -n 200`, or Odoo's own log file if it logs to one.", unit))
	}
	for i := range h {
		h[i] = oneLine(h[i], 400)
	}
	return h
}

var missingModuleRe = lazyre.New(`(?:ModuleNotFoundError|ImportError): No module named '?([\w.]+)'?`)

func startLimitHint(unit string, in Input) string {
	return fmt.Sprintf("systemd will not restart %s by itself now: fix the cause, then `systemctl reset-failed %s && systemctl start %s`.", unit, unit, unit)
}

func setting(v int, unit string) string {
	if v <= 0 {
		return ""
	}
	return fmt.Sprintf(" (%d%s)", v, unit)
}

func settingBytes(v uint64) string {
	if v == 0 {
		return ""
	}
	return " (limit_memory_hard=" + gib(v) + ")"
}

// gib writes bytes as "3.9 GiB" (or MiB below 1 GiB).
func gib(b uint64) string {
	if b < 1<<30 {
		return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
}

// systemdSize writes bytes as systemd's MemoryMax= would take them: "4G".
func systemdSize(b uint64) string {
	for _, u := range []struct {
		s string
		n uint64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if b >= u.n && b%u.n == 0 {
			return fmt.Sprintf("%d%s", b/u.n, u.s)
		}
	}
	if b >= 1<<30 {
		return fmt.Sprintf("%.1fG", float64(b)/(1<<30))
	}
	return fmt.Sprint(b)
}
