package analysis_test

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/odoo-notify/odoo-notify/analysis"
	"github.com/odoo-notify/odoo-notify/internal/corpus"
	"github.com/odoo-notify/odoo-notify/report"
)

// Case is one corpus entry (internal/corpus).
type Case = corpus.Case

func loadCorpus(t testing.TB) []Case { return corpus.Load(t, "testdata/corpus") }

// journalLines reads NAME.log as the journal would hold it: one message
// per line.
func journalLines(t testing.TB, path string) []report.Line {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []report.Line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, report.Line{Priority: 6, Message: sc.Text()})
	}
	return out
}

func caseInput(t testing.TB, c Case) analysis.Input {
	t.Helper()
	in := analysis.Input{
		Unit: "odoo.service", Result: c.Result, ExitCode: c.ExitCode, ExitStatus: c.ExitStatus,
		NRestarts: c.NRestarts, StartLimitHit: c.StartLimitHit, Crashes: c.Crashes, Settings: c.Settings,
	}
	for _, k := range c.Kernel {
		in.Kernel = append(in.Kernel, report.Line{Priority: 3, Message: k})
	}
	switch c.Source {
	case "journal":
		in.Lines = journalLines(t, c.Log)
	case "file":
		lines, err := analysis.ReadLog(c.Log, c.Since, c.Until, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if c.Want.Lines > 0 && len(lines) != c.Want.Lines {
			t.Errorf("ReadLog returned %d records, want %d", len(lines), c.Want.Lines)
		}
		in.Lines = lines
	default:
		t.Fatalf("source %q: want journal or file", c.Source)
	}
	return in
}

func TestCorpus(t *testing.T) {
	cs := loadCorpus(t)
	if len(cs) < 15 {
		t.Fatalf("corpus holds %d cases, want at least 15", len(cs))
	}
	red, err := analysis.NewRedactor(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		t.Run(c.Name, func(t *testing.T) {
			in := caseInput(t, c)
			if c.Want.Secret != "" && !strings.Contains(joinLines(in.Lines), c.Want.Secret) {
				t.Fatalf("the log does not hold the secret %q: the redaction check would prove nothing", c.Want.Secret)
			}
			r := &report.Report{Host: "erp1", Unit: "odoo.service", Result: c.Result, ExitCode: c.ExitCode, ExitStatus: c.ExitStatus, Lines: in.Lines}
			analysis.Apply(r, analysis.Analyze(in))
			red.Report(r)
			corpus.CheckReport(t, c.Want, r)
		})
	}
}

func joinLines(ls []report.Line) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.Message + "\n")
	}
	return b.String()
}
