package analysis_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/analysis"
)

// fuzzSeeds are the corpus logs, a 10 MB line and binary junk.
func fuzzSeeds(f *testing.F) []string {
	files, _ := filepath.Glob("testdata/corpus/*.log")
	var seeds []string
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, string(b))
	}
	return append(seeds,
		strings.Repeat("x", 10<<20),
		"Traceback (most recent call last):\n"+strings.Repeat("#012", 1<<20),
		string([]byte{0xff, 0xfe, 0x00, '\n', 0x1b, '[', '\n', 0xc3, 0x28, '\n'}),
		"Nov 25 10:00:01 erp1 Odoo Server 16.0:?:ERROR:odoo:x#012Traceback (most recent call last):#012  File \"a\", line 1, in b#012E: m",
	)
}

// FuzzAnalyze: no panic and bounded results on any lines, kernel lines and
// systemd facts.
func FuzzAnalyze(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, "Out of memory: Killed process 1 (odoo)", "exit-code", "KILL")
	}
	f.Fuzz(func(t *testing.T, text, kernel, result, status string) {
		in := analysis.Input{Unit: "odoo.service", Result: result, ExitCode: "killed", ExitStatus: status,
			Lines: lines(strings.Split(text, "\n")...), Kernel: lines(kernel)}
		res := analysis.Analyze(in)
		if res.Cause == "" || res.Summary == "" {
			t.Fatalf("no cause or summary: %+v", res)
		}
		if strings.ContainsAny(res.Summary, "\r\n") {
			t.Fatalf("summary spans lines: %q", res.Summary)
		}
		if x := res.Exception; x != nil && (len(x.Traceback) > 64<<10 || len(x.Message) > 2048 || len(x.Type) > 256 || len(x.Frame) > 64<<10) {
			t.Fatalf("exception not bounded: %d/%d/%d", len(x.Type), len(x.Message), len(x.Traceback))
		}
		r := reportOf("odoo.service", "", "", "", nil, res)
		red, _ := analysis.NewRedactor(nil)
		r = red.Report(r)
		if _, err := r.JSON(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzReadLog: no panic, every record bounded, on any file content and
// window.
func FuzzReadLog(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add([]byte(s), int64(0), int64(3600), int64(1<<20))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, since, length, max int64) {
		p := filepath.Join(dir, "odoo.log")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var s, u time.Time
		if since != 0 {
			s = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC).Add(time.Duration(since%86400) * time.Second)
			u = s.Add(time.Duration(length%86400) * time.Second)
		}
		max %= 4 << 20
		got, err := analysis.ReadLog(p, s, u, max)
		if err != nil {
			t.Fatal(err)
		}
		bound := max
		if bound <= 0 {
			bound = analysis.DefaultLogBytes
		}
		var total int64
		for _, l := range got {
			if len(l.Message) > 64<<10 {
				t.Fatalf("record of %d bytes", len(l.Message))
			}
			total += int64(len(l.Message))
		}
		if total > bound+int64(len(got))*32 {
			t.Fatalf("read %d bytes of records, bound %d", total, bound)
		}
	})
}
