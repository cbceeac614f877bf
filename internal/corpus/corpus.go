// Package corpus reads the corpus of failure logs in analysis/testdata/corpus,
// each with what the analysis must find: the analysis tests run it through the
// analysis and score it, the command's tests run the top-level cases through
// preview with real journal files. Only tests import it.
//
// The cases in public/ are lines people posted in public issue threads,
// copied verbatim (trimmed where the case's notes say so), each with its
// source; the top-level ones are the older hand-built set.
package corpus

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/analysis"
	"github.com/odoo-notify/odoo-notify/report"
)

// Case is one corpus entry: NAME.log holds the failed run's lines as Odoo,
// journald, syslog or docker compose wrote them; NAME.json holds what
// systemd and the kernel said, and what the analysis must find.
type Case struct {
	Name string `json:"-"`
	Log  string `json:"-"`
	// Source is "journal" (each line of NAME.log is one journal message),
	// "file" (NAME.log is Odoo's log file, read with ReadLog) or "paste"
	// (the lines as a person posted them: journal messages with whatever
	// prefixes they carried, the kernel's lines among them).
	Source string `json:"source"`
	// Unit is the failed unit, odoo.service when empty; Program is its
	// main program's name when the thread says it.
	Unit    string `json:"unit"`
	Program string `json:"program"`
	// Origin says where a public case was copied from.
	Origin *Origin `json:"origin"`
	// Shapes name the shapes of log the case stands for (issue 11's list);
	// Odoo is the Odoo version, "" for other programs; Noise says the
	// right answer is not the traceback that is there.
	Shapes []string `json:"shapes"`
	Odoo   string   `json:"odoo"`
	Noise  bool     `json:"noise"`
	// KnownMiss says why the analysis still gets this case wrong; the
	// case is scored as it comes out but its detailed checks are skipped.
	KnownMiss  string    `json:"known_miss"`
	Since      time.Time `json:"since"`
	Until      time.Time `json:"until"`
	Result     string    `json:"result"`
	ExitCode   string    `json:"exit_code"`
	ExitStatus string    `json:"exit_status"`
	NRestarts  int       `json:"n_restarts"`
	// StartLimitHit: systemd 252 keeps the run's result and says
	// "Start request repeated too quickly".
	StartLimitHit bool              `json:"start_limit_hit"`
	Kernel        []string          `json:"kernel"`
	Crashes       []report.Crash    `json:"crashes"`
	Settings      analysis.Settings `json:"settings"`
	Want          Want              `json:"want"`
}

// Origin is the public thread a case was copied from.
type Origin struct {
	Ref       string `json:"ref"` // owner/repo#number
	URL       string `json:"url"`
	Commenter string `json:"commenter"`
	Notes     string `json:"notes"`
}

// UnitName is the case's unit, odoo.service by default.
func (c Case) UnitName() string {
	if c.Unit == "" {
		return "odoo.service"
	}
	return c.Unit
}

// Want is what a person must see in the report.
type Want struct {
	Cause         string `json:"cause"`
	ExceptionType string `json:"exception_type"`
	// Message, Summary, Hints and Traceback are substrings.
	Message     string   `json:"message"`
	Frame       string   `json:"frame"`
	Summary     []string `json:"summary"`
	Hints       []string `json:"hints"`
	Traceback   []string `json:"traceback"`
	NoException bool     `json:"no_exception"`
	// Secret is in the log and must not be in the redacted report.
	Secret string `json:"secret"`
	// Lines is how many lines ReadLog must return for a file case.
	Lines int `json:"lines"`
}

// Load reads every case in dir (analysis/testdata/corpus), not the public
// ones below it.
func Load(t testing.TB, dir string) []Case {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s: %v", dir, err)
	}
	return load(t, files)
}

// Public reads the public cases (dir/public) and checks each names its
// source.
func Public(t testing.TB, dir string) []Case {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "public", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no public corpus in %s/public: %v", dir, err)
	}
	cs := load(t, files)
	for _, c := range cs {
		if o := c.Origin; o == nil || o.Ref == "" || o.URL == "" || o.Commenter == "" || o.Notes == "" {
			t.Errorf("%s: a public case names its thread (ref, url), its commenter and notes on what was kept", c.Name)
		}
		if len(c.Shapes) == 0 {
			t.Errorf("%s: no shapes", c.Name)
		}
	}
	return cs
}

func load(t testing.TB, files []string) []Case {
	t.Helper()
	var cs []Case
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c Case
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		c.Name = strings.TrimSuffix(filepath.Base(f), ".json")
		c.Log = strings.TrimSuffix(f, ".json") + ".log"
		cs = append(cs, c)
	}
	return cs
}

// CheckReport asserts what a person reading the report must see. The CLI
// tests use it too, on the report dispatch would send.
func CheckReport(t testing.TB, w Want, r *report.Report) {
	t.Helper()
	if r.Cause != w.Cause {
		t.Errorf("cause = %q, want %q (summary: %s)", r.Cause, w.Cause, r.Summary)
	}
	x := r.Exception
	switch {
	case w.ExceptionType != "" && x == nil:
		t.Errorf("no exception, want %s", w.ExceptionType)
	case w.NoException && x != nil:
		t.Errorf("exception %s: %s, want none", x.Type, x.Message)
	case x != nil && w.ExceptionType != "":
		if x.Type != w.ExceptionType {
			t.Errorf("exception type = %q, want %q", x.Type, w.ExceptionType)
		}
		if !strings.Contains(x.Message, w.Message) {
			t.Errorf("exception message = %q, want it to hold %q", x.Message, w.Message)
		}
		if x.Frame != w.Frame {
			t.Errorf("frame = %q, want %q", x.Frame, w.Frame)
		}
		for _, s := range w.Traceback {
			if !strings.Contains(x.Traceback, s) {
				t.Errorf("traceback lacks %q:\n%s", s, x.Traceback)
			}
		}
		if want := r.Unit + " crashed: " + w.ExceptionType; !strings.Contains(r.Subject(), want) {
			t.Errorf("subject = %q, want it to hold %q", r.Subject(), want)
		}
	}
	for _, s := range w.Summary {
		if !strings.Contains(r.Summary, s) {
			t.Errorf("summary = %q, want it to hold %q", r.Summary, s)
		}
	}
	hints := strings.Join(r.Hints, "\n")
	for _, s := range w.Hints {
		if !strings.Contains(hints, s) {
			t.Errorf("hints = %q, want them to hold %q", hints, s)
		}
	}
	text := r.Text()
	if r.Cause != "" && !strings.Contains(text, "Cause:      "+r.Cause) {
		t.Errorf("text rendering does not show the cause:\n%s", text)
	}
	if w.Secret != "" {
		b, _ := r.JSON()
		if strings.Contains(string(b), w.Secret) || strings.Contains(text, w.Secret) {
			t.Errorf("secret %q left in the report:\n%s", w.Secret, b)
		}
	}
}
