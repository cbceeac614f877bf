package facts

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/analysis"
	"github.com/odoo-notify/odoo-notify/report"
)

func TestReport(t *testing.T) {
	f := Merge(unit, "", Told{Env: ptr(env), DBus: ptr(dbus), Journal: ptr(jour), Crashes: crashes})
	f.Host = "erp1"
	f.Problems = append(f.Problems, "cannot read /etc/odoo/odoo.conf")
	f.LogSource = "journal"
	for i := range 5 {
		f.Lines = append(f.Lines, report.Line{Time: t0, Priority: 6, Message: strings.Repeat("x", i)})
	}
	res := analysis.Result{Cause: "oom-kill", Summary: "The kernel's OOM killer killed odoo.service.", Hints: []string{"raise MemoryMax"}}
	causes := map[string]string{invocation(0): "db-unreachable", invocation(1): "oom-kill"}
	created := t0.Add(time.Hour)

	got := f.Report(res, causes, 3, created)
	want := &report.Report{
		Host: "erp1", Unit: unit, InvocationID: invocation(1), Result: "signal", ExitCode: "killed", ExitStatus: "KILL",
		NRestarts: 3, StartLimitHit: true, StartedAt: dbus.StartedAt, ExitedAt: dbus.ExitedAt, StateSource: SourceEnv,
		Summary: res.Summary, Cause: "oom-kill", Hints: res.Hints,
		Crashes: []report.Crash{
			{Time: crashes[0].Time, InvocationID: invocation(0), Result: "exit-code", ExitCode: "exited", ExitStatus: "1", Cause: "db-unreachable"},
			{Time: crashes[1].Time, InvocationID: invocation(1), Result: "signal", ExitCode: "killed", ExitStatus: "KILL", Cause: "oom-kill"},
		},
		Lines:     f.Lines[2:],
		LogSource: "journal",
		Problems:  []string{"cannot read /etc/odoo/odoo.conf"},
		Created:   created,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Report:\ngot  %+v\nwant %+v", got, want)
	}

	// The report is a value of its own: changing it leaves the facts as
	// they were.
	got.Lines[0].Message = "changed"
	got.Problems[0] = "changed"
	if f.Lines[2].Message != "xx" || f.Problems[0] != "cannot read /etc/odoo/odoo.conf" {
		t.Errorf("the report shares its lines or problems with the facts: %q, %q", f.Lines[2].Message, f.Problems[0])
	}
}

// TestReportLines: a journal that holds no line of the run gives "lines": [],
// one that could not be read "lines": null, as the JSON contract has it.
func TestReportLines(t *testing.T) {
	for _, tt := range []struct {
		name  string
		lines []report.Line
		want  string
	}{
		{"journal not readable", nil, `"lines":null`},
		{"no line of the run", []report.Line{}, `"lines":[]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := Facts{State: State{Unit: unit}, Lines: tt.lines}
			b, err := json.Marshal(f.Report(analysis.Result{}, nil, 50, t0))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tt.want) {
				t.Errorf("got %s, want %s in it", b, tt.want)
			}
		})
	}
}
