package journal

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/internal/testenv"
)

// benchGenerator names the layout of the generated journals; a cache made
// by another layout is rebuilt.
const benchGenerator = "v2"

// benchSizes are the two journals RunLines is measured on: about 1 MB and
// about 1 GB of journal files holding the same failed run at their end.
var benchSizes = []struct {
	name    string
	entries int
}{
	{name: "small_1MB", entries: 2_500},
	{name: "large_1GB", entries: 3_400_000},
}

// benchFailedRun is the invocation id of the failed run in the bench
// journals.
var benchFailedRun = invocation(0xfa11ed)

// benchCache is where the generated journals are kept between runs:
// $ODOO_NOTIFY_BENCH_CACHE or /var/tmp/odoo-notify-bench.
func benchCache() string {
	if d := os.Getenv("ODOO_NOTIFY_BENCH_CACHE"); d != "" {
		return d
	}
	return "/var/tmp/odoo-notify-bench"
}

// benchJournal returns the directory of a generated journal of about
// entries entries, generating it on first use. journal-remote rotates its
// output at its maximum file size, so the journal is a directory.
func benchJournal(b *testing.B, name string, entries int) string {
	b.Helper()
	dir := filepath.Join(benchCache(), name)
	stamp := fmt.Sprintf("%s %d\n", benchGenerator, entries)
	marker := filepath.Join(dir, "complete")
	if got, err := os.ReadFile(marker); err == nil && string(got) == stamp {
		return dir
	}
	b.Logf("generating %s (%d entries) in %s, once", name, entries, dir)
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	testenv.ImportJournal(b, filepath.Join(dir, "system.journal"), func(w io.Writer) error {
		return writeBenchExport(w, entries)
	})
	if err := os.WriteFile(marker, []byte(stamp), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// writeBenchExport writes a busy server's journal: odoo.service restarted
// every 20,000 entries, nginx, postgresql and the kernel around it, and at
// the end the failed run whose 200 lines are interleaved with the others.
func writeBenchExport(w io.Writer, entries int) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	at := t0
	n := 0
	emit := func(fields ...kv) {
		at = at.Add(time.Millisecond)
		n++
		bw.WriteString("__REALTIME_TIMESTAMP=")
		bw.WriteString(strconv.FormatInt(at.UnixMicro(), 10))
		bw.WriteString("\n__MONOTONIC_TIMESTAMP=")
		bw.WriteString(strconv.FormatInt(1_000_000+at.Sub(t0).Microseconds(), 10))
		bw.WriteString("\n_BOOT_ID=" + bootID + "\n")
		for _, f := range fields {
			bw.WriteString(f.k)
			bw.WriteByte('=')
			bw.WriteString(f.v)
			bw.WriteByte('\n')
		}
		bw.WriteByte('\n')
	}
	odoo := func(id string, i int) {
		emit(kv{"_TRANSPORT", "stdout"}, kv{"PRIORITY", "6"}, kv{"SYSLOG_IDENTIFIER", "odoo"}, kv{"_PID", "4242"},
			kv{"_SYSTEMD_UNIT", "odoo.service"}, kv{"_SYSTEMD_INVOCATION_ID", id},
			kv{"MESSAGE", fmt.Sprintf("2026-11-25 14:00:00,%03d 4242 INFO prod werkzeug: 10.0.0.%d - - \"POST /web/dataset/call_kw/sale.order/read HTTP/1.1\" 200 - %d 0.%03d 0.%03d", i%1000, i%250, i%97, i%1000, (i*7)%1000)})
	}
	other := func(i int) {
		switch i % 3 {
		case 0:
			emit(kv{"_TRANSPORT", "stdout"}, kv{"PRIORITY", "6"}, kv{"SYSLOG_IDENTIFIER", "nginx"}, kv{"_PID", "800"},
				kv{"_SYSTEMD_UNIT", "nginx.service"}, kv{"_SYSTEMD_INVOCATION_ID", invocation(0x800)},
				kv{"MESSAGE", fmt.Sprintf("10.1.%d.%d - - [25/Nov/2026:14:00:00 +0000] \"GET /web/assets/%d/web.assets_frontend.min.js HTTP/1.1\" 200 %d", i%200, i%250, i, i%99991)})
		case 1:
			emit(kv{"_TRANSPORT", "syslog"}, kv{"PRIORITY", "6"}, kv{"SYSLOG_IDENTIFIER", "postgres"}, kv{"_PID", "900"},
				kv{"_SYSTEMD_UNIT", "postgresql@15-main.service"}, kv{"_SYSTEMD_INVOCATION_ID", invocation(0x900)},
				kv{"MESSAGE", fmt.Sprintf("LOG:  duration: %d.%03d ms  statement: SELECT id FROM sale_order WHERE id = %d", i%500, i%1000, i)})
		default:
			emit(kv{"_TRANSPORT", "kernel"}, kv{"PRIORITY", "5"}, kv{"SYSLOG_IDENTIFIER", "kernel"},
				kv{"MESSAGE", fmt.Sprintf("audit: type=1400 audit(%d.123:%d): apparmor=\"ALLOWED\" operation=\"open\" profile=\"odoo\" name=\"/var/lib/odoo/filestore/prod/%02x/%d\"", 1764000000+i, i, i%256, i)})
		}
	}
	systemd := func(id, msgID, msg string, extra ...kv) {
		emit(append([]kv{{"_TRANSPORT", "journal"}, {"PRIORITY", "6"}, {"SYSLOG_IDENTIFIER", "systemd"}, {"_PID", "1"},
			{"_SYSTEMD_UNIT", "init.scope"}, {"UNIT", "odoo.service"}, {"INVOCATION_ID", id},
			{"MESSAGE_ID", msgID}, {"MESSAGE", msg}}, extra...)...)
	}

	const tailEntries = 600 // the failed run: 200 of its lines among 400 others
	run := 0
	for i := 0; n < entries-tailEntries; i++ {
		if i%20_000 == 0 {
			if run > 0 {
				systemd(invocation(run), msgUnitFailed, "odoo.service: Failed with result 'exit-code'.", kv{"UNIT_RESULT", "exit-code"})
			}
			run++
			systemd(invocation(run), msgUnitStarted, "Started odoo.service - Odoo.")
		}
		if i%2 == 0 {
			odoo(invocation(run), i)
		} else {
			other(i)
		}
	}
	systemd(benchFailedRun, msgUnitStarted, "Started odoo.service - Odoo.")
	for i := 0; i < 200; i++ {
		odoo(benchFailedRun, i)
		other(i)
		other(i + 1)
	}
	systemd(benchFailedRun, msgProcessExit, "odoo.service: Main process exited, code=killed, status=9/KILL",
		kv{"EXIT_CODE", "killed"}, kv{"EXIT_STATUS", "9"})
	systemd(benchFailedRun, msgUnitFailed, "odoo.service: Failed with result 'signal'.", kv{"UNIT_RESULT", "signal"})
	return bw.Flush()
}

// dirSize is the total size of the journal files in dir.
func dirSize(b *testing.B, dir string) int64 {
	var total int64
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && strings.Contains(e.Name(), ".journal") {
			total += info.Size()
		}
	}
	return total
}

// BenchmarkRunLines reads the failed run's last 50 lines from a ~1 MB and a
// ~1 GB journal. ns/op of the two should be close: RunLines seeks from the
// tail through the invocation id's index. The large case also reports
// ratio_to_small, its ns/op over the small case's.
//
//	go test -run '^$' -bench RunLines ./journal/
func BenchmarkRunLines(b *testing.B) {
	dirs := make([]string, len(benchSizes))
	for i, size := range benchSizes {
		dirs[i] = benchJournal(b, size.name, size.entries)
	}
	cases := []struct {
		name string
		id   string
	}{
		{name: "run", id: benchFailedRun},
		{name: "unit_no_id", id: ""},
	}
	for _, c := range cases {
		var smallNs float64
		for i, size := range benchSizes {
			b.Run(c.name+"/"+size.name, func(b *testing.B) {
				j, err := OpenDir(dirs[i])
				if err != nil {
					b.Fatal(err)
				}
				defer j.Close()
				// The lines must be the failed run's, or the figure means nothing.
				got, err := j.RunLines("odoo.service", c.id, 50)
				if err != nil || len(got) != 50 || got[49].Message != "odoo.service: Failed with result 'signal'." {
					b.Fatalf("RunLines: %d lines, %v", len(got), err)
				}
				for b.Loop() {
					if _, err := j.RunLines("odoo.service", c.id, 50); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(dirSize(b, dirs[i]))/(1<<20), "journal_MB")
				ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				if i == 0 {
					smallNs = ns
				} else if smallNs > 0 {
					b.ReportMetric(ns/smallNs, "ratio_to_small")
				}
			})
		}
	}
}

// BenchmarkOpenRunLines is what one odoo-notify run pays: open the
// journal directory, read the run's last 50 lines, close.
//
//	go test -run '^$' -bench OpenRunLines ./journal/
func BenchmarkOpenRunLines(b *testing.B) {
	var smallNs float64
	for i, size := range benchSizes {
		dir := benchJournal(b, size.name, size.entries)
		b.Run(size.name, func(b *testing.B) {
			for b.Loop() {
				j, err := OpenDir(dir)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := j.RunLines("odoo.service", benchFailedRun, 50); err != nil {
					b.Fatal(err)
				}
				j.Close()
			}
			b.ReportMetric(float64(dirSize(b, dir))/(1<<20), "journal_MB")
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if i == 0 {
				smallNs = ns
			} else if smallNs > 0 {
				b.ReportMetric(ns/smallNs, "ratio_to_small")
			}
		})
	}
}
