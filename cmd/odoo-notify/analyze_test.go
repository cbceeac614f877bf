package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/analysis"
	"github.com/odoo-notify/odoo-notify/internal/corpus"
	"github.com/odoo-notify/odoo-notify/internal/testenv"
	"github.com/odoo-notify/odoo-notify/report"
)

type corpusCase = corpus.Case

func loadCorpus(t *testing.T) []corpusCase {
	cs := corpus.Load(t, "../../analysis/testdata/corpus")
	if len(cs) < 15 {
		t.Fatalf("analysis/testdata/corpus holds %d cases, want at least 15", len(cs))
	}
	return cs
}

var signalNumbers = map[string]string{"KILL": "9", "ABRT": "6", "SEGV": "11", "TERM": "15"}

// corpusJournal writes the case as journald would hold it: systemd's
// messages about the run, the kernel's lines, and (for a journal case)
// Odoo's output, one entry per line.
func corpusJournal(t *testing.T, c corpusCase) string { return corpusJournalFramed(t, c, true) }

// corpusJournalFramed is corpusJournal; with frame false, the run is at
// testenv.JournalStart whatever the times in Odoo's log file.
func corpusJournalFramed(t *testing.T, c corpusCase, frame bool) string {
	t.Helper()
	es := []entry{systemdLine(failedRun, "Started odoo.service - Odoo.", "MESSAGE_ID", "39f53479d3a045ac8e11786248231fbf")}
	if c.Source == "journal" {
		f, err := os.Open(c.Log)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			es = append(es, odooLine(failedRun, sc.Text()))
		}
	}
	for _, k := range c.Kernel {
		es = append(es, entry{"_TRANSPORT": "kernel", "SYSLOG_IDENTIFIER": "kernel", "PRIORITY": "3", "MESSAGE": k})
	}
	status := c.ExitStatus
	if n, ok := signalNumbers[status]; ok {
		status = n
	}
	es = append(es,
		systemdLine(failedRun, fmt.Sprintf("odoo.service: Main process exited, code=%s, status=%s", c.ExitCode, status),
			"MESSAGE_ID", "98e322203f7a4ed290d09fe03c09fe15", "EXIT_CODE", c.ExitCode, "EXIT_STATUS", status),
		systemdLine(failedRun, fmt.Sprintf("odoo.service: Failed with result '%s'.", c.Result),
			"MESSAGE_ID", "d9b373ed55a64feb8242e02dbe79a49c", "UNIT_RESULT", c.Result))
	if c.StartLimitHit {
		es = append(es,
			systemdLine(failedRun, "odoo.service: Start request repeated too quickly."),
			systemdLine(failedRun, "odoo.service: Failed with result 'start-limit-hit'.", "MESSAGE_ID", "d9b373ed55a64feb8242e02dbe79a49c", "UNIT_RESULT", "start-limit-hit"))
	}
	if c.Source == "file" && frame {
		// systemd's messages about the run frame Odoo's own log, as they
		// do on a real server: the run's window holds the log's lines.
		lines, err := analysis.ReadLog(c.Log, time.Time{}, time.Time{}, 0)
		if err != nil || len(lines) == 0 {
			t.Fatalf("read %s: %v (%d lines)", c.Log, err, len(lines))
		}
		first, last := lines[0].Time, lines[len(lines)-1].Time
		if first.Year() < 2000 {
			// A syslog line has no year: the log was written for
			// testenv.JournalStart's day.
			return testenv.WriteJournal(t, es)
		}
		es[0]["__REALTIME_TIMESTAMP"] = fmt.Sprint(first.Add(-time.Second).UnixMicro())
		for i, e := range es[1:] {
			e["__REALTIME_TIMESTAMP"] = fmt.Sprint(last.Add(time.Second + time.Duration(i)*time.Millisecond).UnixMicro())
		}
	}
	return testenv.WriteJournal(t, es)
}

// TestCorpusThroughPreview runs the analysis corpus through the command,
// as dispatch builds its report: real journal files made by
// systemd-journal-remote, Odoo's log file given with --odoo-log.
func TestCorpusThroughPreview(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "config.toml", "[general]\nhostname = \"erp1\"\njournal_lines = 40\n")
	for _, c := range loadCorpus(t) {
		t.Run(c.Name, func(t *testing.T) {
			args := []string{"preview", "--format", "json", "--config", cfg, "--journal-file", corpusJournal(t, c)}
			if c.Source == "file" {
				args = append(args, "--odoo-log", c.Log)
			}
			// The state as systemd >= 251 hands it over; the run's times
			// come from systemd's messages, which frame Odoo's log.
			env := map[string]string{
				"MONITOR_UNIT": "odoo.service", "MONITOR_SERVICE_RESULT": c.Result, "MONITOR_EXIT_CODE": c.ExitCode,
				"MONITOR_EXIT_STATUS": c.ExitStatus, "MONITOR_INVOCATION_ID": failedRun,
			}
			out, errOut, code := cli(t, env, append(args, "odoo.service")...)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, errOut)
			}
			var r report.Report
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("preview --format json is not JSON: %v\n%s", err, out)
			}
			w := c.Want
			if c.Settings != (analysis.Settings{}) || len(c.Crashes) > 0 || c.NRestarts > 0 {
				// Those come from odoo.conf, D-Bus and the earlier runs'
				// journal lines, which this journal file does not hold:
				// the summary and hints that use them are checked in
				// the analysis tests.
				w.Summary, w.Hints = nil, nil
			}
			corpus.CheckReport(t, w, &r)
			if len(r.Lines) == 0 || len(r.Lines) > 40 {
				t.Errorf("the report holds %d lines, want 1 to journal_lines (40)", len(r.Lines))
			}
			// The journal holds systemd's messages about the run either way.
			wantSource := "journal"
			if c.Source == "file" {
				wantSource = "journal + " + c.Log
			}
			if r.LogSource != wantSource {
				t.Errorf("log_source = %q, want %q", r.LogSource, wantSource)
			}
			if w := c.Want; w.Secret != "" && strings.Contains(out, w.Secret) {
				t.Errorf("the secret %q left the host:\n%s", w.Secret, out)
			}
		})
	}
}

// TestOdooLogWindow: with the run's start and exit known from systemd's
// messages, only the run's part of Odoo's log file is read.
func TestOdooLogWindow(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "config.toml", "[general]\nhostname = \"erp1\"\n")
	var c corpusCase
	for _, cc := range loadCorpus(t) {
		if cc.Name == "db-missing-logfile" {
			c = cc
		}
	}
	// The journal's run starts at 10:00:00 and exits at 10:00:01; the log
	// holds the day before, this run at 10:00:02 and the next at 10:00:09.
	out, errOut, code := cli(t, nil, "preview", "--format", "json", "--config", cfg, "--journal-file", corpusJournalFramed(t, c, false), "--odoo-log", c.Log, "odoo.service")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var r struct {
		Lines []struct {
			Message string `json:"message"`
		} `json:"lines"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, l := range r.Lines {
		text.WriteString(l.Message + "\n")
	}
	if s := text.String(); !strings.Contains(s, `database "prod" does not exist`) || strings.Contains(s, "2390") || strings.Contains(s, "1200 ") {
		t.Errorf("lines are not the run's part of the log:\n%s", s)
	}
}

func TestRedactConfiguredPattern(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "config.toml", "redact = ['INV-\\d{6}']\n[general]\nhostname = \"erp1\"\n")
	j := testenv.WriteJournal(t, []entry{
		systemdLine(failedRun, "Started odoo.service - Odoo.", "MESSAGE_ID", "39f53479d3a045ac8e11786248231fbf"),
		odooLine(failedRun, "2026-11-25 10:00:01,000 42 INFO ? odoo.sql_db: connecting with postgresql://odoo:pa55word@db/prod"),
		odooLine(failedRun, "2026-11-25 10:00:01,000 42 ERROR prod odoo.addons.account: cannot post INV-004211"),
	})
	out, errOut, code := cli(t, monitorEnv(failedRun), "preview", "--config", cfg, "--journal-file", j, "odoo.service")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if strings.Contains(out, "pa55word") || strings.Contains(out, "INV-004211") || !strings.Contains(out, "cannot post <redacted>") {
		t.Errorf("not redacted:\n%s", out)
	}
}

// TestOdooConfFromUnitConfig: odoo.conf named in the config gives the log
// file and the limits the hints quote; its passwords go nowhere.
func TestOdooConfFromUnitConfig(t *testing.T) {
	dir := t.TempDir()
	logFile := writeFile(t, dir, "odoo-server.log", "2026-11-25 09:59:58,311 1234 INFO prod odoo.addons.base.models.ir_cron: Starting job `Inventory: Run scheduler`.\n")
	conf := writeFile(t, dir, "odoo.conf", "[options]\nadmin_passwd = Sup3rS3cret!\ndb_password = hunter2\nlogfile = "+logFile+"\nworkers = 8\nlimit_memory_hard = 2684354560\n")
	cfg := writeFile(t, dir, "config.toml", "[general]\nhostname = \"erp1\"\n[units.\"odoo.service\"]\nodoo_conf = \""+conf+"\"\n")
	j := testenv.WriteJournal(t, []entry{
		systemdLine(failedRun, "Started odoo.service - Odoo.", "MESSAGE_ID", "39f53479d3a045ac8e11786248231fbf"),
		{"_TRANSPORT": "kernel", "SYSLOG_IDENTIFIER": "kernel", "PRIORITY": "3", "MESSAGE": "Out of memory: Killed process 1234 (python3) total-vm:4623100kB, anon-rss:4089000kB, file-rss:2048kB, shmem-rss:0kB, UID:105 pgtables:8120kB oom_score_adj:0"},
		systemdLine(failedRun, "odoo.service: Main process exited, code=killed, status=9/KILL", "MESSAGE_ID", "98e322203f7a4ed290d09fe03c09fe15", "EXIT_CODE", "killed", "EXIT_STATUS", "9"),
		systemdLine(failedRun, "odoo.service: Failed with result 'signal'.", "MESSAGE_ID", "d9b373ed55a64feb8242e02dbe79a49c", "UNIT_RESULT", "signal"),
	})
	env := map[string]string{"MONITOR_UNIT": "odoo.service", "MONITOR_SERVICE_RESULT": "signal", "MONITOR_EXIT_CODE": "killed", "MONITOR_EXIT_STATUS": "KILL", "MONITOR_INVOCATION_ID": failedRun}
	out, errOut, code := cli(t, env, "preview", "--config", cfg, "--journal-file", j, "odoo.service")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, s := range []string{
		"erp1: odoo.service failed (oom-kill, signal KILL)",
		"Hint: killed at 3.9 GiB with workers=8",
		"(workers+1) x limit_memory_hard=2.5 GiB allows 22.5 GiB",
		"Log:        journal + " + logFile,
		"Starting job `Inventory: Run scheduler`",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("the report does not say %q:\n%s", s, out)
		}
	}
	if strings.Contains(out+errOut, "Sup3rS3cret!") || strings.Contains(out+errOut, "hunter2") {
		t.Errorf("a password from odoo.conf got out:\n%s\n%s", out, errOut)
	}
}

// TestKernelOOMBeforeTheRunIsNotBlamed: the kernel killed a python3 three
// minutes before the failed run started (another Odoo on the host); the
// run's own SIGKILL is then a signal, not this run's OOM kill. The same
// kill inside the run is.
func TestKernelOOMBeforeTheRunIsNotBlamed(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "config.toml", "[general]\nhostname = \"erp1\"\n")
	oom := entry{"_TRANSPORT": "kernel", "SYSLOG_IDENTIFIER": "kernel", "PRIORITY": "3", "MESSAGE": "Out of memory: Killed process 5555 (python3) total-vm:4623100kB, anon-rss:4089000kB, file-rss:2048kB, shmem-rss:0kB, UID:105 pgtables:8120kB oom_score_adj:0"}
	run := []entry{
		systemdLine(failedRun, "Started odoo.service - Odoo.", "MESSAGE_ID", "39f53479d3a045ac8e11786248231fbf"),
		odooLine(failedRun, "2026-11-25 10:00:01,000 42 INFO prod odoo.addons.base.models.ir_cron: Starting job `Mail: Email Queue Manager`."),
		systemdLine(failedRun, "odoo.service: Main process exited, code=killed, status=9/KILL", "MESSAGE_ID", "98e322203f7a4ed290d09fe03c09fe15", "EXIT_CODE", "killed", "EXIT_STATUS", "9"),
		systemdLine(failedRun, "odoo.service: Failed with result 'signal'.", "MESSAGE_ID", "d9b373ed55a64feb8242e02dbe79a49c", "UNIT_RESULT", "signal"),
	}
	env := map[string]string{"MONITOR_UNIT": "odoo.service", "MONITOR_SERVICE_RESULT": "signal", "MONITOR_EXIT_CODE": "killed", "MONITOR_EXIT_STATUS": "KILL", "MONITOR_INVOCATION_ID": failedRun}
	before := maps.Clone(oom)
	before["__REALTIME_TIMESTAMP"] = fmt.Sprint(testenv.JournalStart.Add(-3 * time.Minute).UnixMicro())
	for _, tt := range []struct {
		name    string
		entries []entry
		cause   string
	}{
		{"before the run", append([]entry{before}, run...), "signal"},
		{"inside the run", append(append(append([]entry{}, run[:2]...), oom), run[2:]...), "oom-kill"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := cli(t, env, "preview", "--format", "json", "--config", cfg, "--journal-file", testenv.WriteJournal(t, tt.entries), "odoo.service")
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, errOut)
			}
			var r struct {
				Cause     string    `json:"cause"`
				Summary   string    `json:"summary"`
				StartedAt time.Time `json:"started_at"`
			}
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatal(err)
			}
			if r.StartedAt.IsZero() {
				t.Fatalf("the report does not know when the run started: the test proves nothing\n%s", out)
			}
			if r.Cause != tt.cause {
				t.Errorf("cause %q (%s), want %q", r.Cause, r.Summary, tt.cause)
			}
		})
	}
}

// TestCrashLoopSaysWhatEachRunDiedOf: a report at the start limit names
// what every run of the loop died of, from each run's own lines.
func TestCrashLoopSaysWhatEachRunDiedOf(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "config.toml", "[general]\nhostname = \"erp1\"\n")
	runs := []string{"11111111111111111111111111111111", "22222222222222222222222222222222", "33333333333333333333333333333333"}
	var es []entry
	for i, inv := range runs {
		es = append(es,
			systemdLine(inv, "Started odoo.service - Odoo.", "MESSAGE_ID", "39f53479d3a045ac8e11786248231fbf"),
			odooLine(inv, "2026-11-25 10:00:01,521 4711 CRITICAL prod odoo.service.server: Failed to initialize database `prod`."),
			odooLine(inv, "Traceback (most recent call last):"),
			odooLine(inv, `  File "/usr/lib/python3/dist-packages/psycopg2/__init__.py", line 122, in connect`),
			odooLine(inv, "    conn = _connect(dsn, connection_factory=connection_factory, **kwasync)"),
			odooLine(inv, `psycopg2.OperationalError: connection to server at "localhost" (127.0.0.1), port 5432 failed: Connection refused`),
			systemdLine(inv, "odoo.service: Main process exited, code=exited, status=1/FAILURE", "MESSAGE_ID", "98e322203f7a4ed290d09fe03c09fe15", "EXIT_CODE", "exited", "EXIT_STATUS", "1"),
			systemdLine(inv, "odoo.service: Failed with result 'exit-code'.", "MESSAGE_ID", "d9b373ed55a64feb8242e02dbe79a49c", "UNIT_RESULT", "exit-code"),
		)
		if i < len(runs)-1 {
			es = append(es, systemdLine(inv, fmt.Sprintf("odoo.service: Scheduled restart job, restart counter is at %d.", i+1), "MESSAGE_ID", "5eb03494b6584870a536b337290809b3", "N_RESTARTS", fmt.Sprint(i+1)))
		}
	}
	es = append(es, systemdLine(runs[2], "odoo.service: Start request repeated too quickly."))
	env := map[string]string{"MONITOR_UNIT": "odoo.service", "MONITOR_SERVICE_RESULT": "exit-code", "MONITOR_EXIT_CODE": "exited", "MONITOR_EXIT_STATUS": "1", "MONITOR_INVOCATION_ID": runs[2]}
	out, errOut, code := cli(t, env, "preview", "--format", "json", "--config", cfg, "--journal-file", testenv.WriteJournal(t, es), "odoo.service")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var r struct {
		Cause   string `json:"cause"`
		Summary string `json:"summary"`
		Crashes []struct {
			InvocationID string `json:"invocation_id"`
			Cause        string `json:"cause"`
		} `json:"crashes"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Cause != "start-limit-hit" || !strings.Contains(r.Summary, "3× db-unreachable") {
		t.Errorf("cause %q, summary %q: want start-limit-hit and 3× db-unreachable", r.Cause, r.Summary)
	}
	if len(r.Crashes) != 3 {
		t.Fatalf("%d crashes, want 3: %+v", len(r.Crashes), r.Crashes)
	}
	for _, c := range r.Crashes {
		if c.Cause != "db-unreachable" {
			t.Errorf("run %s: cause %q, want db-unreachable", c.InvocationID, c.Cause)
		}
	}
}
