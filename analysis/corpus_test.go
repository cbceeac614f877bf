package analysis_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/analysis"
	"github.com/odoo-notify/odoo-notify/internal/corpus"
	"github.com/odoo-notify/odoo-notify/report"
)

// Case is one corpus entry (internal/corpus).
type Case = corpus.Case

func loadCorpus(t testing.TB) []Case { return corpus.Load(t, "testdata/corpus") }

// allCases is the hand-built set and the public one.
func allCases(t testing.TB) []Case {
	return append(loadCorpus(t), corpus.Public(t, "testdata/corpus")...)
}

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
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, report.Line{Priority: 6, Message: sc.Text()})
	}
	return out
}

var (
	// dmesgRe is dmesg's "[ 7063.247407] " or "[Sun Mar 30 08:24:00 2025] ".
	dmesgRe = regexp.MustCompile(`^\[\s*(?:\d+\.\d+|[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d [\d:]{8} \d{4})\] `)
	// tagRe is a syslog tag after a dmesg stamp: journalctl -o
	// short-monotonic writes "[   24.136505] systemd[1]: ".
	tagAfterStampRe = regexp.MustCompile(`^\[[^\]]*\] \S+\[\d+\]: `)
)

// kernelLine says a pasted line is the kernel's: journald gives those to the
// dispatcher apart (_TRANSPORT=kernel), a paste mixes them in.
func kernelLine(s string) bool {
	head := s
	if len(head) > 120 {
		head = head[:120]
	}
	if strings.Contains(head, " kernel: ") {
		return true
	}
	if dmesgRe.MatchString(s) {
		return !tagAfterStampRe.MatchString(s)
	}
	for _, p := range []string{"Killed process ", "Out of memory: ", "oom-kill:", "Memory cgroup out of memory"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func caseInput(t testing.TB, c Case) analysis.Input {
	t.Helper()
	in := analysis.Input{
		Unit: c.UnitName(), Program: c.Program, Result: c.Result, ExitCode: c.ExitCode, ExitStatus: c.ExitStatus,
		NRestarts: c.NRestarts, StartLimitHit: c.StartLimitHit, Crashes: c.Crashes, Settings: c.Settings,
	}
	for _, k := range c.Kernel {
		in.Kernel = append(in.Kernel, report.Line{Priority: 3, Message: k})
	}
	switch c.Source {
	case "journal":
		in.Lines = journalLines(t, c.Log)
	case "paste":
		for _, l := range journalLines(t, c.Log) {
			if kernelLine(l.Message) {
				in.Kernel = append(in.Kernel, l)
			} else {
				in.Lines = append(in.Lines, l)
			}
		}
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
		t.Fatalf("source %q: want journal, paste or file", c.Source)
	}
	return in
}

// analyse runs a case as dispatch would: analysis, then redaction.
func analyse(t testing.TB, red *analysis.Redactor, c Case) (*report.Report, analysis.Input) {
	t.Helper()
	in := caseInput(t, c)
	r := reportOf(c.UnitName(), c.Result, c.ExitCode, c.ExitStatus, in.Lines, analysis.Analyze(in))
	r = red.Report(r)
	return r, in
}

func TestCorpus(t *testing.T) {
	cs := allCases(t)
	if len(cs) < 100 {
		t.Fatalf("corpus holds %d cases, want at least 100", len(cs))
	}
	red, err := analysis.NewRedactor(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		t.Run(c.Name, func(t *testing.T) {
			if c.KnownMiss != "" {
				t.Skipf("known miss: %s", c.KnownMiss)
			}
			r, in := analyse(t, red, c)
			if c.Want.Secret != "" && !strings.Contains(joinLines(in.Lines), c.Want.Secret) {
				t.Fatalf("the log does not hold the secret %q: the redaction check would prove nothing", c.Want.Secret)
			}
			corpus.CheckReport(t, c.Want, r)
		})
	}
}

// right says the report has the cause and the exception type the case
// wants: what the score counts.
func right(w corpus.Want, r *report.Report) bool {
	if r.Cause != w.Cause {
		return false
	}
	switch {
	case w.ExceptionType != "":
		return r.Exception != nil && r.Exception.Type == w.ExceptionType
	case w.NoException:
		return r.Exception == nil
	}
	return true
}

type tally struct{ right, all int }

func (n tally) String() string {
	return fmt.Sprintf("%3d/%3d %.2f", n.right, n.all, float64(n.right)/float64(max(n.all, 1)))
}

// TestCorpusScore prints the score per cause, per shape and overall (go test
// -run TestCorpusScore -v ./analysis/) and holds it at issue 11's bar: 0.95
// overall, no shape under 0.9.
func TestCorpusScore(t *testing.T) {
	red, err := analysis.NewRedactor(nil)
	if err != nil {
		t.Fatal(err)
	}
	byCause, byShape := map[string]*tally{}, map[string]*tally{}
	var all, public, noise tally
	var misses []string
	add := func(m map[string]*tally, k string, ok bool) {
		if m[k] == nil {
			m[k] = &tally{}
		}
		m[k].all++
		if ok {
			m[k].right++
		}
	}
	for _, c := range allCases(t) {
		r, _ := analyse(t, red, c)
		ok := right(c.Want, r)
		add(byCause, c.Want.Cause, ok)
		shapes := c.Shapes
		if c.Origin == nil {
			shapes = append(shapes, "hand-built")
		}
		for _, s := range shapes {
			add(byShape, s, ok)
		}
		for _, n := range []*tally{&all} {
			n.all++
			if ok {
				n.right++
			}
		}
		if c.Origin != nil {
			public.all++
			if ok {
				public.right++
			}
		}
		if c.Noise {
			noise.all++
			if ok {
				noise.right++
			}
		}
		if !ok {
			got := r.Cause
			if r.Exception != nil {
				got += " " + r.Exception.Type
			}
			misses = append(misses, fmt.Sprintf("%s: got %s, want %s %s", c.Name, got, c.Want.Cause, c.Want.ExceptionType))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "corpus score (cause and exception type)\n")
	for _, part := range []struct {
		title string
		m     map[string]*tally
	}{{"cause", byCause}, {"shape", byShape}} {
		keys := make([]string, 0, len(part.m))
		for k := range part.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  %-5s %-20s %s\n", part.title, k, part.m[k])
		}
	}
	fmt.Fprintf(&b, "  noise cases                %s\n", noise)
	fmt.Fprintf(&b, "  public cases               %s\n", public)
	fmt.Fprintf(&b, "  overall                    %s\n", all)
	for _, m := range misses {
		fmt.Fprintf(&b, "  miss: %s\n", m)
	}
	t.Log("\n" + b.String())
	if score := float64(all.right) / float64(all.all); score < 0.95 {
		t.Errorf("overall score %.2f, want at least 0.95", score)
	}
	for k, n := range byShape {
		if float64(n.right)/float64(n.all) < 0.9 {
			t.Errorf("shape %s scores %s, want at least 0.9", k, n)
		}
	}
	if noise.all*5 < all.all {
		t.Errorf("%d noise cases of %d, want at least a fifth", noise.all, all.all)
	}
}

func joinLines(ls []report.Line) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.Message + "\n")
	}
	return b.String()
}

// variant is one way the same lines reach the dispatcher with other bytes
// around them.
type variant struct {
	name string
	// crlf ends each line with CR LF: a Windows paste, or a container run
	// with a TTY (docker run -t), whose driver turns every LF into CR LF.
	crlf bool
	// stamp puts docker's RFC 3339 time before each of the program's lines,
	// as docker logs -t (and the json-file driver's "time") gives them.
	stamp bool
}

var (
	// stampRe is docker's time on a line that has it already (the docker
	// cases were copied with it).
	stampRe = regexp.MustCompile(`^(?:[\w.-]+\s+\| ?)?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d`)
	// composeNameRe is docker compose's "odoo_1  | ".
	composeNameRe = regexp.MustCompile(`^[A-Za-z0-9][\w.-]{0,63}\s+\| ?`)
)

var variants = []variant{{"crlf", true, false}, {"docker-t", false, true}, {"docker-t+crlf", true, true}}

// rewrite writes the case's log again as v gives it and returns the case
// reading that copy. The kernel's lines in a paste keep their own form:
// docker does not write them. An Odoo log file gets no docker time: the
// program writes it, not docker.
func (v variant) rewrite(t testing.TB, c Case) Case {
	t.Helper()
	b, err := os.ReadFile(c.Log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	at := time.Date(2024, 3, 5, 9, 14, 2, 118_000_000, time.UTC)
	for i, l := range lines {
		if v.stamp && c.Source != "file" && !(c.Source == "paste" && kernelLine(l)) && !stampRe.MatchString(l) {
			// docker compose logs -t puts the time after the service's
			// name; a viewer that joined the lines with commas puts its
			// comma before all of it.
			k := 0
			if m := composeNameRe.FindStringIndex(l); m != nil {
				k = m[1]
			} else if strings.HasPrefix(l, ",") {
				k = 1
			}
			l = l[:k] + at.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano) + " " + l[k:]
		}
		if v.crlf {
			l += "\r"
		}
		lines[i] = l
	}
	c.Log = filepath.Join(t.TempDir(), filepath.Base(c.Log))
	if err := os.WriteFile(c.Log, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// answer is what the score counts: the cause and the exception's type.
func answer(r *report.Report) string {
	if r.Exception != nil {
		return r.Cause + " " + r.Exception.Type
	}
	return r.Cause
}

// TestCorpusVariants scores every case again with CRLF line ends, with
// docker's time before each line, and with both, and requires the answer
// the plain lines give (go test -run TestCorpusVariants -v ./analysis/
// prints the scores).
func TestCorpusVariants(t *testing.T) {
	red, err := analysis.NewRedactor(nil)
	if err != nil {
		t.Fatal(err)
	}
	cs := allCases(t)
	var b strings.Builder
	for _, v := range variants {
		var n tally
		for _, c := range cs {
			plain, _ := analyse(t, red, c)
			r, _ := analyse(t, red, v.rewrite(t, c))
			n.all++
			if right(c.Want, r) {
				n.right++
			}
			if answer(r) != answer(plain) {
				t.Errorf("%s, %s: got %q, the plain lines give %q (summary: %s)", v.name, c.Name, answer(r), answer(plain), r.Summary)
			}
		}
		fmt.Fprintf(&b, "  %-14s %s\n", v.name, n)
	}
	t.Log("corpus score per variant (cause and exception type)\n" + b.String())
}
