package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/internal/testenv"
)

// timed is an entry at its own time.
type timed struct {
	at time.Time
	e  entry
}

// writeFiles writes parts as rotated journal files of one boot into a new
// directory (one file per part, as journald rotates), and all of them into
// one file; it returns both.
func writeFiles(t *testing.T, parts [][]timed) (dir, single string) {
	t.Helper()
	dir = t.TempDir()
	var all []timed
	for i, p := range parts {
		testenv.ImportJournal(t, filepath.Join(dir, fmt.Sprintf("system@%d.journal", i)), exportOf(p))
		all = append(all, p...)
	}
	single = filepath.Join(t.TempDir(), "system.journal")
	testenv.ImportJournal(t, single, exportOf(all))
	return dir, single
}

func exportOf(entries []timed) func(io.Writer) error {
	return func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		for _, te := range entries {
			fmt.Fprintf(bw, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0b0e1f2a3b4c5d6e7f8091a2b3c4d5e6\nPRIORITY=6\n",
				te.at.UnixMicro(), te.at.Sub(testenv.JournalStart).Microseconds()+1_000_000)
			keys := make([]string, 0, len(te.e))
			for k := range te.e {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				testenv.ExportField(bw, k, te.e[k])
			}
			bw.WriteByte('\n')
		}
		return bw.Flush()
	}
}

// A report reads only the journal files of the failed run's time; it must
// be the report the whole journal gives: a quiet run that started days
// before it crashed still shows its first lines, a crash loop its earlier
// runs, the kernel's OOM line its cause.
func TestPreviewAcrossRotatedJournalFiles(t *testing.T) {
	start := testenv.JournalStart
	at := func(d time.Duration) time.Time { return start.Add(d) }
	other := func(d time.Duration, msg string) timed {
		return timed{at(d), entry{"_SYSTEMD_UNIT": "nginx.service", "_SYSTEMD_INVOCATION_ID": "cccccccccccccccccccccccccccccccc", "_TRANSPORT": "stdout", "MESSAGE": msg}}
	}
	started := func(d time.Duration, inv string) timed {
		return timed{at(d), systemdLine(inv, "Started odoo.service - Odoo.", "MESSAGE_ID", "39f53479d3a045ac8e11786248231fbf")}
	}
	killed := func(d time.Duration, inv string) []timed {
		return []timed{
			{at(d - time.Minute), entry{"_TRANSPORT": "kernel", "SYSLOG_IDENTIFIER": "kernel", "PRIORITY": "3",
				"MESSAGE": "Out of memory: Killed process 4242 (python3) total-vm:4000000kB, anon-rss:3900000kB"}},
			{at(d), systemdLine(inv, "odoo.service: Main process exited, code=killed, status=9/KILL", "MESSAGE_ID", "98e322203f7a4ed290d09fe03c09fe15", "EXIT_CODE", "killed", "EXIT_STATUS", "9")},
			{at(d + time.Second), systemdLine(inv, "odoo.service: Failed with result 'signal'.", "MESSAGE_ID", "d9b373ed55a64feb8242e02dbe79a49c", "UNIT_RESULT", "signal")},
			{at(d + 2*time.Second), systemdLine(inv, "odoo.service: Scheduled restart job, restart counter is at 1.", "MESSAGE_ID", "5eb03494b6584870a536b337290809b3", "N_RESTARTS", "1")},
		}
	}
	const run1, run2, run3 = "11111111111111111111111111111111", "22222222222222222222222222222222", "33333333333333333333333333333333"
	day := 24 * time.Hour
	parts := [][]timed{
		// Day 1: run 1 starts and says so, once.
		{started(0, run1), {at(time.Second), odooLine(run1, "run 1: Odoo version 17.0 serving")}, other(time.Minute, "GET / 200")},
		// Days 2 and 3: only nginx.
		{other(day, "GET /a 200"), other(2*day, "GET /b 200")},
		// Day 4: the OOM killer ends run 1; run 2 starts and is killed too.
		append(append(append(killed(3*day, run1), started(3*day+5*time.Second, run2),
			timed{at(3*day + 6*time.Second), odooLine(run2, "run 2: Odoo version 17.0 serving")}),
			killed(3*day+10*time.Minute, run2)...),
			started(3*day+10*time.Minute+5*time.Second, run3)),
		// Days 5 to 7: run 3 serves.
		{{at(4 * day), odooLine(run3, "run 3: serving")}, other(5*day, "GET /c 200"), other(6*day, "GET /d 200")},
	}
	// The same days without run 2: run 1, quiet for three days, is the
	// failed run.
	alone := [][]timed{parts[0], parts[1], killed(3*day, run1), parts[3][1:]}
	cfg := writeFile(t, t.TempDir(), "config.toml", "[general]\nhostname = \"erp1\"\n")
	preview := func(args ...string) map[string]any {
		t.Helper()
		out, errOut, code := cli(t, nil, append([]string{"preview", "odoo.service", "--format", "json", "--config", cfg}, args...)...)
		if code != 0 {
			t.Fatalf("preview %v: exit %d\n%s", args, code, errOut)
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		delete(r, "created")
		return r
	}
	tests := []struct {
		name  string
		parts [][]timed
		want  []string
	}{
		{name: "a crash loop: the last run, the first in its history", parts: parts,
			want: []string{`"invocation_id": "` + run2, "run 2: Odoo version 17.0 serving", `"cause": "oom-kill"`, `"invocation_id": "` + run1}},
		{name: "a run that started three days before it crashed", parts: alone,
			want: []string{`"invocation_id": "` + run1, "run 1: Odoo version 17.0 serving", `"cause": "oom-kill"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, single := writeFiles(t, tt.parts)
			rotated, whole := preview("--journal-dir", dir), preview("--journal-file", single)
			a, _ := json.MarshalIndent(rotated, "", " ")
			b, _ := json.MarshalIndent(whole, "", " ")
			if string(a) != string(b) {
				t.Errorf("the report from rotated files differs from the one from a single file:\n%s\nwant\n%s", a, b)
			}
			for _, want := range tt.want {
				if !strings.Contains(string(a), want) {
					t.Errorf("report lacks %s:\n%s", want, a)
				}
			}
		})
	}
}
