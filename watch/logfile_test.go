package watch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFileLogs reads a dump from Odoo's own log file: the records from the
// time asked, each line with its record's PID.
func TestFileLogs(t *testing.T) {
	p := filepath.Join(t.TempDir(), "odoo.log")
	log := "2026-12-02 15:38:40,100 4654 INFO prod werkzeug: GET /web/health 200\n" +
		"2026-12-02 15:38:47,828 4676 INFO prod odoo.tools.misc: \n" +
		"# Thread: <Thread(Worker WorkerHTTP (4676) workthread, started daemon 1)> (db:prod) (uid:4) (url:http://erp/hang) (qc:5 qt:0.057 pt:22.676)\n" +
		"File: \"/opt/odoo-addons/hang_test/controllers/main.py\", line 11, in sleep\n" +
		"  time.sleep(float(seconds))\n" +
		"2026-12-02 15:38:47,900 4654 INFO prod odoo.tools.misc: \n" +
		"# Thread: <_MainThread(MainThread, started 2)> (db:prod) (uid:n/a) (url:n/a) (qc:n/a qt:n/a pt:n/a)\n" +
		"File: \"/opt/odoo/odoo/service/server.py\", line 896, in sleep\n" +
		"  ready = select.select(fd_in, [], [], self.beat)\n"
	if err := os.WriteFile(p, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 12, 2, 15, 38, 47, 500_000_000, time.UTC)
	lines, err := FileLogs{Path: p, Loc: time.UTC}.Since(context.Background(), "", since)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 8 || lines[0].PID != 4676 || lines[3].PID != 4676 || lines[4].PID != 4654 {
		t.Fatalf("lines %+v", lines)
	}
	threads := Parse(lines)
	busy := Busy(threads)
	if len(threads) != 2 || len(busy) != 1 || busy[0].URL != "http://erp/hang" || busy[0].PID != 4676 {
		t.Errorf("threads %+v, busy %+v", threads, busy)
	}
	if _, err := (FileLogs{Path: filepath.Join(t.TempDir(), "none.log")}).Since(context.Background(), "", since); err == nil {
		t.Error("a missing log file is no error")
	}
}
