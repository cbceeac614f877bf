package analysis_test

import (
	"strings"
	"testing"

	"github.com/odoo-notify/odoo-notify/analysis"
)

func TestLoggedErrors(t *testing.T) {
	request := func(at string) []string {
		return []string{
			"2026-11-25 " + at + ",001 800 ERROR prod odoo.http: Exception during request handling.",
			"Traceback (most recent call last):",
			`  File "/opt/odoo/odoo/http.py", line 2190, in __call__`,
			"KeyError: 'ir.http'",
		}
	}
	var ls []string
	ls = append(ls, request("10:01:00")...)
	ls = append(ls, "2026-11-25 10:02:00,000 800 ERROR prod odoo.sql_db: bad query: password=hunter2")
	ls = append(ls, request("10:31:02")...)
	in := analysis.Input{Unit: "odoo.service", Result: "exit-code", ExitCode: "exited", ExitStatus: "255", Lines: append(lines(ls...), dbRefused...)}
	res := analysis.Analyze(in)
	if len(res.Errors) != 3 {
		t.Fatalf("errors = %+v", res.Errors)
	}
	if e := res.Errors[0]; !e.Fatal || e.Type != "psycopg2.OperationalError" {
		t.Errorf("the fatal error comes first: %+v", e)
	}
	if got := res.Errors[1].String(); got != "2 x KeyError: 'ir.http' (request handling), first 10:01:00, last 10:31:02" {
		t.Errorf("request errors = %q", got)
	}
	r := reportOf("odoo.service", "", "", "", nil, res)
	red, _ := analysis.NewRedactor(nil)
	r = red.Report(r)
	if b, _ := r.JSON(); strings.Contains(string(b), "hunter2") {
		t.Errorf("a secret in a logged error left the host: %s", b)
	}
}
