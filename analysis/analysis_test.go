package analysis_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/analysis"
	"github.com/odoo-notify/odoo-notify/facts"
	"github.com/odoo-notify/odoo-notify/internal/corpus"
	"github.com/odoo-notify/odoo-notify/report"
)

func lines(ss ...string) []report.Line {
	out := make([]report.Line, len(ss))
	for i, s := range ss {
		out[i] = report.Line{Priority: 6, Message: s}
	}
	return out
}

var dbRefused = lines(
	"2026-11-25 10:00:01,521 4711 CRITICAL prod odoo.service.server: Failed to initialize database `prod`.",
	"Traceback (most recent call last):",
	`  File "/usr/lib/python3/dist-packages/psycopg2/__init__.py", line 122, in connect`,
	"    conn = _connect(dsn, connection_factory=connection_factory, **kwasync)",
	`psycopg2.OperationalError: connection to server at "localhost" (127.0.0.1), port 5432 failed: Connection refused`,
)

func TestFingerprint(t *testing.T) {
	fp := func(in analysis.Input) string {
		return analysis.Fingerprint(reportOf(in.Unit, in.Result, in.ExitCode, in.ExitStatus, nil, analysis.Analyze(in)))
	}
	same := analysis.Input{Unit: "odoo.service", Result: "exit-code", ExitCode: "exited", ExitStatus: "255", Lines: dbRefused}
	// The same bug at another time, with other lines around it, is the
	// same story.
	later := same
	later.Lines = append(lines("2026-11-25 11:00:00,000 4800 INFO ? odoo: Odoo version 16.0"), dbRefused...)
	if a, b := fp(same), fp(later); a != b {
		t.Errorf("the same failure gave two fingerprints: %q and %q", a, b)
	}
	if got, want := fp(same), "db-unreachable|psycopg2.OperationalError|/usr/lib/python3/dist-packages/psycopg2/__init__.py:122 in connect"; got != want {
		t.Errorf("fingerprint = %q, want %q", got, want)
	}
	other := same
	other.Lines = lines("Traceback (most recent call last):", `  File "/opt/odoo/odoo/fields.py", line 1931, in setup`, "KeyError: 'partner_id'")
	if fp(same) == fp(other) {
		t.Error("a new bug gave the old fingerprint")
	}
	noExc := analysis.Input{Unit: "odoo.service", Result: "signal", ExitCode: "killed", ExitStatus: "KILL"}
	if got, want := fp(noExc), "signal|signal|KILL"; got != want {
		t.Errorf("fingerprint without exception = %q, want %q", got, want)
	}
	if got := analysis.Fingerprint(&report.Report{Result: "exit-code", ExitStatus: "1"}); got != "unknown|exit-code|1" {
		t.Errorf("fingerprint of an unanalysed report = %q", got)
	}
}

// TestHostileLines feeds what a broken or hostile service writes: the
// report must still say what systemd knows, quickly and with bounded
// memory.
func TestHostileLines(t *testing.T) {
	huge := strings.Repeat("A", 10<<20)
	folded := strings.Repeat("#012", 3<<20)
	junk := string([]byte{0xff, 0xfe, 0xfd, 0x00, 0x1b, 0x9b, 0xc3, 0x28})
	for _, tt := range []struct {
		name  string
		lines []report.Line
		cause string
	}{
		{"10 MB line", lines(huge), "exit-code"},
		{"10 MB line then a traceback", append(lines(huge), dbRefused...), "db-unreachable"},
		{"three million syslog folds", lines("Nov 25 10:00:01 erp1 odoo[1]: x" + folded), "exit-code"},
		{"binary junk", lines(junk, junk+"Traceback (most recent call last):", junk), "exit-code"},
		// The lines end inside a traceback and the process exited: an
		// uncaught exception whose last line is lost (issue 11).
		{"a frame and nothing else", lines(`  File "/x.py", line 1, in f`), "exception-exit"},
		{"a header and nothing else", lines("Traceback (most recent call last):"), "exit-code"},
		{"junk exception line", lines("Traceback (most recent call last):", `  File "/x.py", line 1, in f`, junk), "exception-exit"},
		{"chain marker alone", lines("During handling of the above exception, another exception occurred:"), "exit-code"},
		{"100000 tracebacks", manyTracebacks(100000), "exception-exit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := analysis.Analyze(analysis.Input{Unit: "odoo.service", Result: "exit-code", ExitCode: "exited", ExitStatus: "1", Lines: tt.lines})
			if res.Cause != tt.cause {
				t.Errorf("cause = %q, want %q", res.Cause, tt.cause)
			}
			if x := res.Exception; x != nil && (len(x.Traceback) > 64<<10 || len(x.Message) > 2048 || len(x.Type) > 256) {
				t.Errorf("exception not bounded: type %d, message %d, traceback %d bytes", len(x.Type), len(x.Message), len(x.Traceback))
			}
			r := reportOf("odoo.service", "exit-code", "exited", "1", nil, res)
			if _, err := r.JSON(); err != nil {
				t.Errorf("the report does not render: %v", err)
			}
		})
	}
}

func manyTracebacks(n int) []report.Line {
	var out []report.Line
	for i := 0; i < n; i++ {
		out = append(out, lines("Traceback (most recent call last):", `  File "/x.py", line 1, in f`, "    f()", "ValueError: boom")...)
	}
	return out
}

func TestKernelOOMMatchesTheUnit(t *testing.T) {
	killed := analysis.Input{Unit: "odoo.service", Result: "signal", ExitCode: "killed", ExitStatus: "KILL",
		Lines: lines("2026-11-25 10:00:00,000 1234 INFO prod odoo.addons.base.models.ir_cron: Starting job")}
	for _, tt := range []struct {
		name   string
		kernel []string
		cause  string
	}{
		{"cgroup names the unit", []string{
			"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/system.slice/odoo.service,task_memcg=/system.slice/odoo.service,task=python3,pid=999,uid=105",
			"Memory cgroup out of memory: Killed process 999 (python3) total-vm:1kB, anon-rss:1048576kB, file-rss:0kB, shmem-rss:0kB, UID:105 pgtables:1kB oom_score_adj:0"}, "oom-kill"},
		{"cgroup names another unit", []string{
			"oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/system.slice/odoo-staging.service,task=python3,pid=1234,uid=105",
			"Out of memory: Killed process 1234 (python3) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:105 pgtables:1kB oom_score_adj:0"}, "signal"},
		{"PID from Odoo's lines, no cgroup", []string{"Out of memory: Killed process 1234 (python3.11) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:105 pgtables:1kB oom_score_adj:0"}, "oom-kill"},
		{"old kernel wording", []string{"Out of memory: Kill process 1234 (odoo) score 912 or sacrifice child"}, "oom-kill"},
		{"another program", []string{"Out of memory: Killed process 555 (java) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:1kB oom_score_adj:0"}, "signal"},
		{"no kernel line", nil, "signal"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := killed
			for _, k := range tt.kernel {
				in.Kernel = append(in.Kernel, report.Line{Message: k})
			}
			if got := analysis.Analyze(in).Cause; got != tt.cause {
				t.Errorf("cause = %q, want %q", got, tt.cause)
			}
		})
	}
}

// TestKernelOOMByNameOnlyInsideTheRun: a kill that names the unit's
// program but neither its cgroup nor one of its pids is the unit's only
// when the kernel logged it while the run ran; a python3 killed before the
// run started (another Odoo, an earlier run) or after it ended is not
// blamed for this run's SIGKILL.
func TestKernelOOMByNameOnlyInsideTheRun(t *testing.T) {
	started := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	exited := started.Add(90 * time.Second)
	byName := "Out of memory: Killed process 5555 (python3) total-vm:1kB, anon-rss:4194304kB, file-rss:0kB, shmem-rss:0kB, UID:105 pgtables:1kB oom_score_adj:0"
	byPid := "Out of memory: Killed process 1234 (python3) total-vm:1kB, anon-rss:4194304kB, file-rss:0kB, shmem-rss:0kB, UID:105 pgtables:1kB oom_score_adj:0"
	for _, tt := range []struct {
		name             string
		line             string
		at               time.Time
		started, exited  time.Time
		cause            string
		summaryHoldsProc string
	}{
		{"inside the run", byName, started.Add(80 * time.Second), started, exited, "oom-kill", "5555 python3"},
		{"as systemd saw the exit", byName, exited.Add(2 * time.Second), started, exited, "oom-kill", "5555 python3"},
		{"three minutes before the run started", byName, started.Add(-3 * time.Minute), started, exited, "signal", ""},
		{"a minute after the run ended", byName, exited.Add(time.Minute), started, exited, "signal", ""},
		{"before the run, start unknown", byName, started.Add(-3 * time.Minute), time.Time{}, exited, "oom-kill", "5555 python3"},
		{"the kernel's time unknown", byName, time.Time{}, started, exited, "oom-kill", "5555 python3"},
		{"a pid of the run's own lines, whatever the time", byPid, started.Add(-3 * time.Minute), started, exited, "oom-kill", "1234 python3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := analysis.Input{Unit: "odoo.service", Result: "signal", ExitCode: "killed", ExitStatus: "KILL",
				Started: tt.started, Exited: tt.exited,
				Lines:  lines("2026-11-25 10:01:00,000 1234 INFO prod odoo.addons.base.models.ir_cron: Starting job"),
				Kernel: []report.Line{{Time: tt.at, Message: tt.line}}}
			res := analysis.Analyze(in)
			if res.Cause != tt.cause || !strings.Contains(res.Summary, tt.summaryHoldsProc) {
				t.Errorf("cause %q, summary %q; want %q naming %q", res.Cause, res.Summary, tt.cause, tt.summaryHoldsProc)
			}
		})
	}
}

func TestMemoryMaxInfinityIsUnknown(t *testing.T) {
	res := analysis.Analyze(analysis.Input{Unit: "odoo.service", Result: "oom-kill", Settings: analysis.Settings{MemoryMax: ^uint64(0), Workers: 4}})
	if h := strings.Join(res.Hints, " "); strings.Contains(h, "MemoryMax=") || !strings.Contains(h, "workers=4") {
		t.Errorf("hints = %q: MemoryMax=infinity must not be shown as a limit", h)
	}
}

// TestCorpusThroughLogFiles runs every journal case of the corpus again as
// Odoo's own log file would hold it, through ReadLog: the cause and the
// exception must not depend on where the lines were read.
func TestCorpusThroughLogFiles(t *testing.T) {
	for _, c := range loadCorpus(t) {
		if c.Source != "journal" {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			b, err := os.ReadFile(c.Log)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "odoo.log")
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			c.Source, c.Log = "file", p
			in := caseInput(t, c)
			r := reportOf("odoo.service", c.Result, c.ExitCode, c.ExitStatus, in.Lines, analysis.Analyze(in))
			red, _ := analysis.NewRedactor(nil)
			r = red.Report(r)
			corpus.CheckReport(t, c.Want, r)
		})
	}
}

// TestOldEvidenceDoesNotExplainTheEnd: a refused connection logged for one
// request long before the end does not explain a run that died of
// something else.
func TestOldEvidenceDoesNotExplainTheEnd(t *testing.T) {
	early := lines(
		"2026-11-25 09:00:00,000 800 INFO prod odoo.sql_db: Connection to the database failed",
		"2026-11-25 09:00:00,001 800 ERROR prod odoo.http: Exception during request handling.",
		"Traceback (most recent call last):",
		`  File "/opt/odoo/odoo/sql_db.py", line 657, in borrow`,
		"    result = psycopg2.connect(",
		`psycopg2.OperationalError: connection to server at "db" (10.0.0.2), port 5432 failed: Connection refused`,
	)
	var busy []report.Line
	for i := 0; i < 150; i++ {
		busy = append(busy, lines(`2026-11-25 09:30:00,000 800 INFO prod werkzeug: 10.0.0.7 - - "GET /web HTTP/1.1" 200 - 3 0.002 0.010`)...)
	}
	fatal := lines(
		"Traceback (most recent call last):",
		`  File "/opt/odoo/custom/queue_job/jobrunner/runner.py", line 152, in <module>`,
		"    import requests",
		"ModuleNotFoundError: No module named 'requests'",
	)
	for _, tt := range []struct {
		name  string
		lines []report.Line
		cause string
	}{
		{"then an uncaught exception", append(append(append([]report.Line{}, early...), busy...), fatal...), "exception-exit"},
		{"then a quiet exit", append(append([]report.Line{}, early...), busy...), "exit-code"},
		{"right before the end", append(append([]report.Line{}, busy...), early...), "db-unreachable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := analysis.Analyze(analysis.Input{Unit: "odoo.service", Result: "exit-code", ExitCode: "exited", ExitStatus: "1", Lines: tt.lines})
			if res.Cause != tt.cause {
				t.Errorf("cause = %q, want %q (%s)", res.Cause, tt.cause, res.Summary)
			}
		})
	}
}

// TestPrefixes: the same fatal traceback behind every prefix a log passes
// through on its way to an admin.
func TestPrefixes(t *testing.T) {
	tb := []string{
		"Traceback (most recent call last):",
		`  File "/usr/lib/python3/dist-packages/odoo/service/server.py", line 869, in start`,
		"    self.socket.bind((self.interface, self.port))",
		"OSError: [Errno 98] Address already in use",
	}
	for _, tt := range []struct{ name, prefix string }{
		{"none", ""},
		{"docker compose v1", "odoo_1  | "},
		{"docker compose v2", "odoo-1  | "},
		{"container name", "odoo  | "},
		{"syslog", "Nov 25 10:00:01 erp1 odoo[4711]: "},
		{"journalctl short-precise", "Nov 25 10:00:01.123456 erp1 odoo[4711]: "},
		{"journalctl short-iso", "2026-11-25T10:00:01+0000 erp1 odoo[4711]: "},
		{"journalctl short-iso-precise", "2026-11-25T10:00:01.123456+0000 erp1 odoo[4711]: "},
		{"docker logs -t", "2026-11-25T10:00:01.123456789Z "},
		{"docker logs -t, local offset", "2026-11-25T05:00:01.123456789-05:00 "},
		{"docker compose logs -t", "odoo-1  | 2026-11-25T10:00:01.123456789Z "},
		{"colours", "\x1b[1;31m"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var ls []report.Line
			for _, l := range tb {
				ls = append(ls, report.Line{Message: tt.prefix + l})
			}
			res := analysis.Analyze(analysis.Input{Unit: "odoo.service", Result: "exit-code", ExitCode: "exited", ExitStatus: "1", Lines: ls})
			x := res.Exception
			if res.Cause != "port-in-use" || x == nil || x.Type != "OSError" || x.Frame != "/usr/lib/python3/dist-packages/odoo/service/server.py:869 in start" {
				t.Errorf("cause %q, exception %+v", res.Cause, x)
			}
		})
	}
}

// TestUsageErrorBehindStamp: Odoo's "odoo: error: no such option" after
// docker's time is the program's own line, not a host and a tag, as it is
// after journalctl's short-iso time, host and tag.
func TestUsageErrorBehindStamp(t *testing.T) {
	for _, prefix := range []string{"2026-11-25T10:00:01.123Z ", "2026-11-25T10:00:01.123456789Z ", "2026-11-25T10:00:01+0000 erp1 odoo[4711]: "} {
		var ls []report.Line
		for _, l := range []string{"Usage: odoo [options]", "", "odoo: error: no such option: --db-filter"} {
			ls = append(ls, report.Line{Message: prefix + l})
		}
		res := analysis.Analyze(analysis.Input{Unit: "odoo.service", Result: "exit-code", ExitCode: "exited", ExitStatus: "2", Lines: ls})
		if res.Cause != "config-error" || !strings.Contains(res.Summary, "--db-filter") {
			t.Errorf("behind %q: cause %q, summary %q", prefix, res.Cause, res.Summary)
		}
	}
}

// reportOf is the report the program builds of a run with these lines,
// once, from its facts and the analysis.
func reportOf(unit, result, code, status string, lines []report.Line, res analysis.Result) *report.Report {
	f := facts.Facts{State: facts.State{Unit: unit, Result: result, ExitCode: code, ExitStatus: status}, Host: "erp1", Lines: lines}
	return f.Report(res, nil, 0, time.Time{})
}
