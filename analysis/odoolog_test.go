package analysis_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/analysis"
)

var day = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

// writeOdooLog writes n records one second apart from day, every 100th
// with a traceback half a second later, as Odoo's --logfile would hold them.
func writeOdooLog(t testing.TB, n int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "odoo.log")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := 0; i < n; i++ {
		ts := day.Add(time.Duration(i) * time.Second).Format("2006-01-02 15:04:05")
		fmt.Fprintf(w, "%s,000 4711 INFO prod werkzeug: 10.0.0.7 - - \"GET /web/record/%d HTTP/1.1\" 200 - 3 0.002 0.010\n", ts, i)
		if i%100 == 99 {
			fmt.Fprintf(w, "%s,500 4711 ERROR prod odoo.http: Exception during request handling.\nTraceback (most recent call last):\n  File \"/opt/odoo/odoo/http.py\", line 2190, in __call__\n    response = request._serve_db()\nKeyError: %d\n", ts, i)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

func TestReadLogWindow(t *testing.T) {
	p := writeOdooLog(t, 86400) // a day, about 10 MB
	since, until := day.Add(72050*time.Second), day.Add(72109*time.Second)
	lines, err := analysis.ReadLog(p, since, until, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	// 60 access lines and the one record with a traceback in the window
	// (after 72099).
	if len(lines) != 61 {
		t.Fatalf("got %d records, want 61", len(lines))
	}
	for _, l := range lines {
		if l.Time.Before(since) || l.Time.After(until.Add(time.Second)) {
			t.Errorf("record at %s is outside the window %s..%s", l.Time, since, until)
		}
	}
	var tb string
	for _, l := range lines {
		if strings.Contains(l.Message, "Traceback") {
			tb = l.Message
		}
	}
	if !strings.HasPrefix(tb, "4711 ERROR prod odoo.http: Exception during request handling.\nTraceback (most recent call last):\n") || !strings.HasSuffix(tb, "\nKeyError: 72099") {
		t.Errorf("traceback not attached to its record:\n%q", tb)
	}
	if lines[0].Priority != 6 || lines[len(lines)-1].Time != until {
		t.Errorf("first record priority %d, last at %s", lines[0].Priority, lines[len(lines)-1].Time)
	}
}

func TestReadLogBounds(t *testing.T) {
	p := writeOdooLog(t, 86400)
	for _, tt := range []struct {
		name         string
		since, until time.Time
		max          int64
		first, last  string
	}{
		{"window unknown: the tail", time.Time{}, time.Time{}, 4096, "", "KeyError: 86399"},
		{"window larger than the bound: its end", day.Add(time.Hour), day.Add(2 * time.Hour), 8192, "", "/web/record/7200 "},
		{"window before the file: from its start", day.Add(-time.Hour), day.Add(2 * time.Second), 1 << 20, "/web/record/0 ", "/web/record/2 "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lines, err := analysis.ReadLog(p, tt.since, tt.until, tt.max)
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) == 0 {
				t.Fatal("no lines")
			}
			var size int
			for _, l := range lines {
				size += len(l.Message) + 24
			}
			if int64(size) > tt.max+1024 {
				t.Errorf("read about %d bytes, bound %d", size, tt.max)
			}
			if !strings.Contains(lines[0].Message, tt.first) {
				t.Errorf("first line %q, want it to hold %q", lines[0].Message, tt.first)
			}
			if !strings.Contains(lines[len(lines)-1].Message, tt.last) {
				t.Errorf("last line %q, want it to hold %q", lines[len(lines)-1].Message, tt.last)
			}
			if lines[0].Time.IsZero() {
				t.Errorf("first line %q has no time: a partial line was kept", lines[0].Message)
			}
		})
	}
}

func TestReadLogHostileInput(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "odoo.log")
	huge := strings.Repeat("x", 10<<20)
	junk := string([]byte{0xff, 0xfe, 0x00, 0x1b, '[', '3', '1', 'm', 0xc3})
	text := "2026-11-25 10:00:00,000 1 INFO ? odoo: Odoo version 17.0\n" +
		"2026-11-25 10:00:01,000 1 ERROR ? odoo.x: " + huge + "\n" +
		"2026-11-25 10:00:02,000 1 ERROR ? odoo.y: " + junk + "\n" +
		"Traceback (most recent call last):\n" + strings.Repeat("  File \"/x.py\", line 1, in f\n    f()\n", 100000) +
		"RecursionError: maximum recursion depth exceeded\n"
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	lines, err := analysis.ReadLog(p, day, day.Add(24*time.Hour), 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 3 {
		t.Fatalf("got %d records, want 3", len(lines))
	}
	for _, l := range lines {
		if len(l.Message) > 64<<10 {
			t.Errorf("record of %d bytes: records must be bounded", len(l.Message))
		}
	}
	if !strings.HasSuffix(lines[2].Message, "RecursionError: maximum recursion depth exceeded") {
		t.Errorf("a long traceback lost its end, which names the exception: ...%q", lines[2].Message[len(lines[2].Message)-100:])
	}
	res := analysis.Analyze(analysis.Input{Unit: "odoo.service", Result: "exit-code", ExitCode: "exited", ExitStatus: "1", Lines: lines})
	if res.Exception == nil || res.Exception.Type != "RecursionError" || res.Exception.Frame != "/x.py:1 in f" {
		t.Errorf("exception = %+v, want RecursionError at /x.py:1 in f", res.Exception)
	}
}

// TestReadLogNothingInWindow: a run that wrote nothing to Odoo's log gets
// no lines, not another run's; a file without Odoo's times gets its tail.
func TestReadLogNothingInWindow(t *testing.T) {
	p := writeOdooLog(t, 100)
	lines, err := analysis.ReadLog(p, day.Add(time.Hour), day.Add(time.Hour+time.Minute), 1<<20)
	if err != nil || len(lines) != 0 {
		t.Fatalf("after the last record: %d lines, err %v; want none", len(lines), err)
	}
	lines, err = analysis.ReadLog(p, day.Add(10*time.Second+time.Millisecond), day.Add(10*time.Second+2*time.Millisecond), 1<<20)
	if err != nil || len(lines) != 0 {
		t.Fatalf("between two records: %d lines, err %v; want none", len(lines), err)
	}
	syslog := filepath.Join(t.TempDir(), "syslog")
	if err := os.WriteFile(syslog, []byte("Nov 25 10:00:01 erp1 Odoo Server 16.0:?:INFO:odoo:Odoo version 16.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lines, err = analysis.ReadLog(syslog, day.Add(time.Hour), day.Add(2*time.Hour), 1<<20)
	if err != nil || len(lines) != 1 {
		t.Fatalf("syslog file: %d lines, err %v; want its one line", len(lines), err)
	}
}

func TestReadLogErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ name, path, want string }{
		{"missing file", filepath.Join(dir, "nope.log"), "no such file or directory: check --odoo-log"},
		{"a directory", dir, "not a regular file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := analysis.ReadLog(tt.path, time.Time{}, time.Time{}, 0)
			if err == nil || !strings.HasPrefix(err.Error(), "analysis: read odoo log") || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("err = %v, want one naming %s and saying %q", err, tt.path, tt.want)
			}
		})
	}
}

func TestLogFileFromExecStart(t *testing.T) {
	for _, tt := range []struct {
		name          string
		argv          []string
		logfile, conf string
	}{
		{"debian package", []string{"/usr/bin/odoo", "--config", "/etc/odoo/odoo.conf", "--logfile", "/var/log/odoo/odoo-server.log"}, "/var/log/odoo/odoo-server.log", "/etc/odoo/odoo.conf"},
		{"equals forms", []string{"/opt/odoo/venv/bin/python3", "/opt/odoo/odoo-bin", "--config=/etc/odoo.conf", "--logfile=/var/log/odoo.log"}, "/var/log/odoo.log", "/etc/odoo.conf"},
		{"short config flag", []string{"/opt/odoo/odoo-bin", "-c", "/etc/odoo/odoo.conf"}, "", "/etc/odoo/odoo.conf"},
		{"short flag joined", []string{"/opt/odoo/odoo-bin", "-c/etc/odoo/odoo.conf", "--workers=4"}, "", "/etc/odoo/odoo.conf"},
		{"through a shell", []string{"/bin/sh", "-c", "exec /opt/odoo/odoo-bin -c '/etc/odoo/odoo.conf' --logfile /var/log/odoo.log"}, "/var/log/odoo.log", "/etc/odoo/odoo.conf"},
		{"neither", []string{"/usr/bin/odoo", "--workers", "4"}, "", ""},
		{"empty", nil, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, c := analysis.LogFileFromExecStart(tt.argv)
			if l != tt.logfile || c != tt.conf {
				t.Errorf("LogFileFromExecStart(%q) = %q, %q, want %q, %q", tt.argv, l, c, tt.logfile, tt.conf)
			}
		})
	}
}

func TestReadOdooConf(t *testing.T) {
	p := filepath.Join(t.TempDir(), "odoo.conf")
	conf := `[options]
; This is the password that allows database operations:
admin_passwd = Sup3rS3cret!
db_host = False
db_password = hunter2
logfile = /var/log/odoo/odoo-server.log
workers = 8
limit_memory_hard = 2684354560
limit_memory_soft = 2147483648
limit_time_real = 120
limit_time_cpu = 60.5
http_port = 8069

[queue_job]
logfile = /elsewhere.log
`
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := analysis.ReadOdooConf(p)
	if err != nil {
		t.Fatal(err)
	}
	want := analysis.OdooConf{LogFile: "/var/log/odoo/odoo-server.log", Workers: 8, LimitMemoryHard: 2684354560, LimitMemorySoft: 2147483648, LimitTimeReal: 120, LimitTimeCPU: 60, HTTPPort: 8069}
	if got != want {
		t.Errorf("ReadOdooConf = %+v, want %+v", got, want)
	}
	if s := fmt.Sprintf("%#v", got); strings.Contains(s, "Sup3rS3cret") || strings.Contains(s, "hunter2") {
		t.Errorf("a password was kept: %s", s)
	}
	wantSettings := analysis.Settings{Workers: 8, LimitMemoryHard: 2684354560, LimitMemorySoft: 2147483648, LimitTimeReal: 120, LimitTimeCPU: 60}
	if s := got.Settings(); !reflect.DeepEqual(s, wantSettings) {
		t.Errorf("Settings() = %+v, want %+v", s, wantSettings)
	}
	if _, err := analysis.ReadOdooConf(p + ".missing"); err == nil || !strings.HasPrefix(err.Error(), "analysis: read odoo config") {
		t.Errorf("missing file: err = %v", err)
	}
}
