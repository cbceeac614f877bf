// Package journalgen writes the journal of a busy Odoo server in the
// journal export format (https://systemd.io/JOURNAL_EXPORT_FORMATS/), for
// systemd-journal-remote to turn into real journal files: what the journal
// cost figures (scripts/journal-cost) are measured on.
//
// The journal holds, from one boot, the output of odoo.service, nginx,
// PostgreSQL, redis, cron and sshd, the kernel's lines (audit, firewall),
// and systemd's messages about some 30 units (timers that run every few
// minutes, daily restarts of Odoo). Halfway through, odoo.service fails
// once: a long run ends with a traceback and exit status 1, systemd
// restarts it, and it runs cleanly to the end. Entries carry the fields
// journald gives them (_PID, _UID, _COMM, _EXE, _CMDLINE,
// _SYSTEMD_CGROUP, _SYSTEMD_UNIT, _SYSTEMD_INVOCATION_ID, ...), so the
// field indexes are as big as on a real server. Output is deterministic:
// the same count gives the same journal.
package journalgen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// Start is the time of the first entry.
var Start = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// Step is the mean time between two entries: about 2.5 entries a second,
// a busy server's rate, so 2.5 million entries span about 12 days.
const Step = 400 * time.Millisecond

const (
	bootID    = "5d0b3b7e6d1d4c0e8b1f6a0e2c3d4b5a"
	machineID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	hostname  = "erp1"
)

// MESSAGE_IDs of systemd's catalog (catalog/systemd.catalog.in).
const (
	msgStarted  = "39f53479d3a045ac8e11786248231fbf"
	msgStopping = "de5b426a63be47a7b6ac3eaac82e2f6f"
	msgStopped  = "9d1aaa27d60140bd96365438aad20286"
	msgSuccess  = "7ad2d189f7e94e70a38c781354912448"
	msgExit     = "98e322203f7a4ed290d09fe03c09fe15"
	msgFailed   = "d9b373ed55a64feb8242e02dbe79a49c"
	msgRestart  = "5eb03494b6584870a536b337290809b3"
	msgResource = "ae8f7b866b0347b9af31fe1c80b127c0"
)

// Failure is the failed run the journal holds.
type Failure struct {
	Unit         string
	InvocationID string
	Started      time.Time
	Exited       time.Time
}

// Unit is the unit that fails.
const Unit = "odoo.service"

// timers are the oneshot units systemd starts from timers, each every
// period entries: their start and end are systemd's messages about a unit.
var timers = []struct {
	unit, desc string
	every      int
}{
	{"phpsessionclean.service", "Clean php session files", 700},
	{"sysstat-collect.service", "system activity accounting tool", 1500},
	{"certbot.service", "Certbot", 9000},
	{"logrotate.service", "Rotate log files", 40000},
	{"man-db.service", "Daily man-db regeneration", 40000},
	{"apt-daily.service", "Daily apt download activities", 20000},
	{"apt-daily-upgrade.service", "Daily apt upgrade and clean activities", 40000},
	{"systemd-tmpfiles-clean.service", "Cleanup of Temporary Directories", 40000},
	{"e2scrub_all.service", "Online ext4 Metadata Check for All Filesystems", 90000},
	{"fstrim.service", "Discard unused blocks on filesystems from /etc/fstab", 90000},
	{"odoo-backup.service", "Odoo database backup", 20000},
	{"odoo-filestore-sync.service", "Odoo filestore sync", 3000},
	{"pg-dump-erp.service", "PostgreSQL dump of erp", 20000},
	{"dpkg-db-backup.service", "Daily dpkg database backup service", 40000},
	{"anacron.service", "Run anacron jobs", 3000},
	{"session-cleanup.service", "Session cleanup", 5000},
	{"motd-news.service", "Message of the Day", 20000},
	{"ua-timer.service", "Ubuntu Advantage Timer", 10000},
	{"prometheus-node-exporter-apt.service", "Collect apt metrics for prometheus-node-exporter", 2000},
	{"prometheus-node-exporter-smartmon.service", "Collect SMART metrics for prometheus-node-exporter", 2000},
	{"fwupd-refresh.service", "Refresh fwupd metadata and update motd", 40000},
	{"snapd.snap-repair.service", "Automatically fetch and run repair assertions", 40000},
	{"plocate-updatedb.service", "Update the plocate database", 90000},
	{"mlocate.service", "Update a database for mlocate", 90000},
}

// Write writes entries entries of the journal to w and returns the failed
// run they hold.
func Write(w io.Writer, entries int) (Failure, error) {
	g := &gen{w: bufio.NewWriterSize(w, 1<<20), at: Start, rnd: rand.New(rand.NewPCG(1, 2))}
	failAt := entries / 2
	restartEvery := max(entries/4, 2000)
	odooRun := g.invocation()
	g.startOdoo(odooRun, 1000)
	var f Failure
	f.Unit = Unit
	runStart := g.at
	pid := 1000
	for i := 0; g.n < entries-20; i++ {
		switch {
		case g.n >= failAt && f.InvocationID == "":
			f.InvocationID, f.Started = odooRun, runStart
			f.Exited = g.failOdoo(odooRun, pid)
			odooRun, pid = g.invocation(), pid+7
			g.startOdoo(odooRun, pid)
			runStart = g.at
		case i > 0 && i%restartEvery == 0 && (g.n < failAt-1000 || g.n > failAt+1000):
			g.stopOdoo(odooRun, pid)
			odooRun, pid = g.invocation(), pid+7
			g.startOdoo(odooRun, pid)
			runStart = g.at
		}
		for _, t := range timers {
			if i%t.every == t.every/2 {
				g.timer(t.unit, t.desc)
			}
		}
		g.line(odooRun, pid, i)
	}
	if f.InvocationID == "" {
		return Failure{}, fmt.Errorf("journalgen: %d entries are too few for a failed run", entries)
	}
	return f, g.w.Flush()
}

type gen struct {
	w   *bufio.Writer
	at  time.Time
	n   int
	rnd *rand.Rand
	ids int
	buf []byte
}

// invocation returns a new invocation id, 32 hex digits.
func (g *gen) invocation() string {
	g.ids++
	return fmt.Sprintf("%016x%016x", g.rnd.Uint64(), uint64(g.ids))
}

type kv struct{ k, v string }

// emit writes one entry, a random time after the one before.
func (g *gen) emit(fields ...kv) {
	g.at = g.at.Add(time.Duration(g.rnd.Int64N(int64(2 * Step))))
	g.n++
	b := g.buf[:0]
	b = append(b, "__CURSOR=s="+bootID+";i="...)
	b = strconv.AppendInt(b, int64(g.n), 16)
	b = append(b, "\n__REALTIME_TIMESTAMP="...)
	b = strconv.AppendInt(b, g.at.UnixMicro(), 10)
	b = append(b, "\n__MONOTONIC_TIMESTAMP="...)
	b = strconv.AppendInt(b, 5_000_000+g.at.Sub(Start).Microseconds(), 10)
	b = append(b, "\n_BOOT_ID="+bootID+"\n_MACHINE_ID="+machineID+"\n_HOSTNAME="+hostname+"\n"...)
	for _, f := range fields {
		b = append(b, f.k...)
		b = append(b, '=')
		b = append(b, f.v...)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	g.buf = b
	g.w.Write(b)
}

// systemd writes one of PID 1's messages about unit.
func (g *gen) systemd(unit, id, msgID, msg string, extra ...kv) {
	f := []kv{
		{"_TRANSPORT", "journal"}, {"PRIORITY", "6"}, {"SYSLOG_IDENTIFIER", "systemd"},
		{"_PID", "1"}, {"_UID", "0"}, {"_COMM", "systemd"}, {"_EXE", "/usr/lib/systemd/systemd"},
		{"_CMDLINE", "/sbin/init"}, {"_SYSTEMD_CGROUP", "/init.scope"}, {"_SYSTEMD_UNIT", "init.scope"},
		{"UNIT", unit}, {"MESSAGE", msg},
	}
	if id != "" {
		f = append(f, kv{"INVOCATION_ID", id})
	}
	if msgID != "" {
		f = append(f, kv{"MESSAGE_ID", msgID})
	}
	g.emit(append(f, extra...)...)
}

// service writes a line of a service's own output.
func (g *gen) service(unit, id, comm, exe, cmdline string, pid, uid int, transport, prio, msg string) {
	f := []kv{
		{"_TRANSPORT", transport}, {"PRIORITY", prio}, {"SYSLOG_IDENTIFIER", comm},
		{"_PID", strconv.Itoa(pid)}, {"_UID", strconv.Itoa(uid)}, {"_COMM", comm}, {"_EXE", exe}, {"_CMDLINE", cmdline},
		{"_SYSTEMD_CGROUP", "/system.slice/" + unit}, {"_SYSTEMD_UNIT", unit},
		{"_SYSTEMD_INVOCATION_ID", id}, {"MESSAGE", msg},
	}
	if transport == "stdout" {
		f = append(f, kv{"_STREAM_ID", id[:16] + "0123456789abcdef"})
	}
	g.emit(f...)
}

func (g *gen) odoo(id string, pid int, prio, msg string) {
	g.service(Unit, id, "python3", "/usr/bin/python3.11", "/usr/bin/python3 /opt/odoo/odoo-bin -c /etc/odoo/odoo.conf",
		pid, 108, "stdout", prio, msg)
}

// Long-running services other than Odoo, each with one invocation.
var (
	nginxRun    = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
	postgresRun = "b2c3d4e5f60718293a4b5c6d7e8f90a1"
	redisRun    = "c3d4e5f60718293a4b5c6d7e8f90a1b2"
	cronRun     = "d4e5f60718293a4b5c6d7e8f90a1b2c3"
	sshRun      = "e5f60718293a4b5c6d7e8f90a1b2c3d4"
)

var odooModels = []string{"sale.order", "res.partner", "account.move", "stock.picking", "product.product", "mail.message", "ir.attachment"}

// line writes one line of the server's everyday traffic.
func (g *gen) line(odooRun string, odooPID, i int) {
	r := g.rnd.IntN(100)
	ip := fmt.Sprintf("10.%d.%d.%d", g.rnd.IntN(4), g.rnd.IntN(250), g.rnd.IntN(250))
	ts := g.at.Format("2006-01-02 15:04:05,000")
	model := odooModels[g.rnd.IntN(len(odooModels))]
	switch {
	case r < 35:
		g.odoo(odooRun, odooPID, "6", fmt.Sprintf("%s %d INFO erp werkzeug: %s - - [%s] \"POST /web/dataset/call_kw/%s/web_search_read HTTP/1.1\" 200 - %d 0.%03d 0.%03d",
			ts, odooPID+g.rnd.IntN(8), ip, g.at.Format("02/Jan/2006 15:04:05"), model, g.rnd.IntN(300), g.rnd.IntN(1000), g.rnd.IntN(1000)))
	case r < 40:
		g.odoo(odooRun, odooPID, "6", fmt.Sprintf("%s %d INFO erp odoo.addons.base.models.ir_cron: Job 'Mail: Email Queue Manager' (%d) done in %d.%03ds",
			ts, odooPID+9, g.rnd.IntN(40), g.rnd.IntN(3), g.rnd.IntN(1000)))
	case r < 60:
		g.service("nginx.service", nginxRun, "nginx", "/usr/sbin/nginx", "nginx: worker process", 800+g.rnd.IntN(4), 33, "syslog", "6",
			fmt.Sprintf("%s - - [%s +0000] \"GET /web/image/%s/%d/avatar_128 HTTP/2.0\" 200 %d \"-\" \"Mozilla/5.0\"",
				ip, g.at.Format("02/Jan/2006:15:04:05"), model, g.rnd.IntN(100000), g.rnd.IntN(50000)))
	case r < 75:
		g.service("postgresql@15-main.service", postgresRun, "postgres", "/usr/lib/postgresql/15/bin/postgres", "postgres: 15/main: odoo erp [local] idle",
			900+g.rnd.IntN(50), 110, "syslog", "6",
			fmt.Sprintf("[%d-1] odoo@erp LOG:  duration: %d.%03d ms  statement: SELECT \"%s\".\"id\" FROM \"%s\" WHERE (\"%s\".\"active\" = true) ORDER BY \"%s\".\"id\" LIMIT %d",
				900+g.rnd.IntN(50), g.rnd.IntN(900), g.rnd.IntN(1000), model, model, model, model, 80))
	case r < 85:
		g.emit(kv{"_TRANSPORT", "kernel"}, kv{"PRIORITY", "4"}, kv{"SYSLOG_IDENTIFIER", "kernel"},
			kv{"_SOURCE_MONOTONIC_TIMESTAMP", strconv.FormatInt(g.at.Sub(Start).Microseconds(), 10)},
			kv{"MESSAGE", fmt.Sprintf("[UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=%d.%d.%d.%d DST=10.0.0.5 LEN=44 TOS=0x00 PREC=0x00 TTL=%d ID=%d PROTO=TCP SPT=%d DPT=%d WINDOW=1024 RES=0x00 SYN URGP=0",
				g.rnd.IntN(223)+1, g.rnd.IntN(256), g.rnd.IntN(256), g.rnd.IntN(256), 40+g.rnd.IntN(200), g.rnd.IntN(65536), g.rnd.IntN(65536), []int{22, 23, 3389, 5432, 8069}[g.rnd.IntN(5)])})
	case r < 91:
		g.service("redis-server.service", redisRun, "redis-server", "/usr/bin/redis-server", "/usr/bin/redis-server 127.0.0.1:6379", 700, 112, "stdout", "6",
			fmt.Sprintf("700:M %s * %d changes in %d seconds. Saving...", g.at.Format("02 Jan 2006 15:04:05.000"), g.rnd.IntN(100), 300))
	case r < 96:
		pid := 20000 + i%30000
		g.service("ssh.service", sshRun, "sshd", "/usr/sbin/sshd", "sshd: [accepted]", pid, 0, "syslog", "6",
			fmt.Sprintf("Connection closed by invalid user admin %d.%d.%d.%d port %d [preauth]", g.rnd.IntN(223)+1, g.rnd.IntN(256), g.rnd.IntN(256), g.rnd.IntN(256), g.rnd.IntN(65536)))
	default:
		g.service("cron.service", cronRun, "CRON", "/usr/sbin/cron", "/usr/sbin/CRON -f -P", 30000+i%30000, 0, "syslog", "6",
			"pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)")
	}
}

// timer writes systemd's messages about a oneshot unit's run and its one
// line of output.
func (g *gen) timer(unit, desc string) {
	id := g.invocation()
	g.systemd(unit, id, "", "Starting "+unit+" - "+desc+"...")
	g.service(unit, id, "sh", "/usr/bin/dash", "/bin/sh -c "+unit, 40000+g.n%20000, 0, "stdout", "6", unit+": done")
	g.systemd(unit, id, msgSuccess, unit+": Deactivated successfully.")
	g.systemd(unit, id, msgStarted, "Finished "+unit+" - "+desc+".", kv{"JOB_TYPE", "start"}, kv{"JOB_RESULT", "done"})
	g.systemd(unit, id, msgResource, unit+": Consumed 1.204s CPU time.", kv{"CPU_USAGE_NSEC", "1204000000"})
}

func (g *gen) startOdoo(id string, pid int) {
	g.systemd(Unit, id, msgStarted, "Started odoo.service - Odoo.", kv{"JOB_TYPE", "start"}, kv{"JOB_RESULT", "done"})
	ts := g.at.Format("2006-01-02 15:04:05,000")
	for _, m := range []string{
		"INFO ? odoo: Odoo version 17.0-20241104",
		"INFO ? odoo: Using configuration file at /etc/odoo/odoo.conf ",
		"INFO ? odoo: addons paths: ['/opt/odoo/odoo/addons', '/opt/odoo/addons', '/var/lib/odoo/addons/17.0'] ",
		"INFO ? odoo: database: odoo@default:default ",
		"INFO ? odoo.service.server: HTTP service (werkzeug) running on erp1:8069 ",
		"INFO ? odoo.service.server: Evented Service (longpolling) running on 0.0.0.0:8072 ",
	} {
		g.odoo(id, pid, "6", fmt.Sprintf("%s %d %s", ts, pid, m))
	}
}

func (g *gen) stopOdoo(id string, pid int) {
	g.systemd(Unit, id, msgStopping, "Stopping odoo.service - Odoo...", kv{"JOB_TYPE", "stop"})
	g.odoo(id, pid, "6", fmt.Sprintf("%s %d INFO erp odoo.service.server: Initiating shutdown", g.at.Format("2006-01-02 15:04:05,000"), pid))
	g.systemd(Unit, id, msgSuccess, "odoo.service: Deactivated successfully.")
	g.systemd(Unit, id, msgStopped, "Stopped odoo.service - Odoo.", kv{"JOB_TYPE", "stop"}, kv{"JOB_RESULT", "done"})
	g.systemd(Unit, id, msgResource, "odoo.service: Consumed 2h 3min 11.402s CPU time.", kv{"CPU_USAGE_NSEC", "7391402000000"})
}

// failOdoo ends Odoo's run id the way a lost database does, and returns
// the time of systemd's exit line.
func (g *gen) failOdoo(id string, pid int) time.Time {
	ts := g.at.Format("2006-01-02 15:04:05,000")
	for _, m := range []string{
		fmt.Sprintf("%s %d ERROR erp odoo.sql_db: Connection to the database failed", ts, pid),
		"Traceback (most recent call last):",
		`  File "/opt/odoo/odoo/sql_db.py", line 746, in borrow`,
		"    result = psycopg2.connect(",
		`  File "/usr/lib/python3/dist-packages/psycopg2/__init__.py", line 122, in connect`,
		"    conn = _connect(dsn, connection_factory=connection_factory, **kwasync)",
		`psycopg2.OperationalError: connection to server at "localhost" (127.0.0.1), port 5432 failed: Connection refused`,
		"	Is the server running on that host and accepting TCP/IP connections?",
	} {
		g.odoo(id, pid, "3", m)
	}
	g.systemd(Unit, id, msgExit, "odoo.service: Main process exited, code=exited, status=1/FAILURE",
		kv{"EXIT_CODE", "exited"}, kv{"EXIT_STATUS", "1"})
	exited := g.at
	g.systemd(Unit, id, msgFailed, "odoo.service: Failed with result 'exit-code'.", kv{"UNIT_RESULT", "exit-code"})
	g.systemd(Unit, id, msgResource, "odoo.service: Consumed 5h 12min 3.118s CPU time.", kv{"CPU_USAGE_NSEC", "18723118000000"})
	g.systemd(Unit, id, msgRestart, "odoo.service: Scheduled restart job, restart counter is at 1.", kv{"N_RESTARTS", "1"})
	g.systemd(Unit, id, msgStopped, "Stopped odoo.service - Odoo.", kv{"JOB_TYPE", "restart"}, kv{"JOB_RESULT", "done"})
	return exited
}
