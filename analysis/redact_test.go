package analysis_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/odoo-notify/odoo-notify/analysis"
	"github.com/odoo-notify/odoo-notify/report"
)

func TestRedact(t *testing.T) {
	red, err := analysis.NewRedactor([]string{`INV-\d{6}`})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, in, secret, keep string
	}{
		{"odoo.conf admin_passwd", "admin_passwd = Sup3rS3cret!", "Sup3rS3cret!", "admin_passwd = <redacted>"},
		{"odoo.conf db_password", "db_password=hunter2", "hunter2", "db_password=<redacted>"},
		{"config dump as a dict", `{'db_password': 'hunter2', 'db_user': 'odoo'}`, "hunter2", "'db_user': 'odoo'"},
		{"password in a URL", "connecting to postgresql://odoo:pa55word@db:5432/prod", "pa55word", "postgresql://odoo:<redacted>@db:5432/prod"},
		{"password in a libpq DSN", "dsn: dbname=prod user=odoo password=pa55word host=db", "pa55word", "user=odoo password=<redacted> host=db"},
		{"session id cookie", "Cookie: session_id=8c4a5b0e1f2d3c4b5a69788796a5b4c3d2e1f0a9; frontend_lang=en_US", "8c4a5b0e1f2d3c4b5a69788796a5b4c3d2e1f0a9", "frontend_lang=en_US"},
		{"Authorization header", "Authorization: Basic b2RvbzpwYTU1d29yZA==", "b2RvbzpwYTU1d29yZA==", "Authorization: <redacted>"},
		{"bearer token", `requests.exceptions.HTTPError: 401 for token Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc`, "eyJhbGciOiJIUzI1NiJ9", "Bearer <redacted>"},
		{"Slack webhook URL", "post https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX failed", "XXXXXXXXXXXXXXXX", "failed"},
		{"api key", "api_key: 0123456789abcdef", "0123456789abcdef", "api_key: <redacted>"},
		{"configured extra pattern", "invoice INV-004211 failed to post", "INV-004211", "invoice <redacted> failed"},
		{"psycopg2's auth error stays readable", `FATAL:  password authentication failed for user "odoo"`, "", `password authentication failed for user "odoo"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := red.Redact(tt.in)
			if tt.secret != "" && strings.Contains(got, tt.secret) {
				t.Errorf("Redact(%q) = %q: the secret is still there", tt.in, got)
			}
			if !strings.Contains(got, tt.keep) {
				t.Errorf("Redact(%q) = %q, want it to keep %q", tt.in, got, tt.keep)
			}
		})
	}
}

func TestNewRedactorRejectsBadPattern(t *testing.T) {
	_, err := analysis.NewRedactor([]string{`ok`, `(unclosed`})
	if err == nil || !strings.Contains(err.Error(), "redact: pattern 2") {
		t.Fatalf("err = %v, want one naming pattern 2", err)
	}
}

func TestRedactReport(t *testing.T) {
	red, _ := analysis.NewRedactor(nil)
	r := &report.Report{
		Summary: "login with password=hunter2 failed",
		Lines:   []report.Line{{Message: "db_password = hunter2"}},
		Exception: &report.Exception{Type: "ValueError", Message: "bad DSN postgresql://odoo:hunter2@db/prod",
			Traceback: "Traceback (most recent call last):\nValueError: bad DSN postgresql://odoo:hunter2@db/prod"},
		Hints:        []string{"use password=hunter2"},
		Errors:       []report.LoggedError{{Type: "ValueError", Message: "password=hunter2", Count: 2}},
		LinesProblem: "journal not readable: password=hunter2",
		Problems:     []string{"cannot read password=hunter2"},
		Crashes:      []report.Crash{{InvocationID: "0123", Cause: "db-unreachable"}},
		Held:         &report.Held{Count: 1, Results: []string{"exit-code"}},
		Incident:     &report.Incident{ID: "i1", Failures: 2},
		Hang: &report.Hang{URL: "http://odoo:hunter2@127.0.0.1:8069/web/health",
			Probes:  []report.Probe{{Status: 500, Body: "db_password = hunter2"}},
			Threads: []report.Thread{{URL: "http://127.0.0.1:8069/web/login?password=hunter2", Frames: []report.Frame{{File: "x.py", Code: "login(password='hunter2')"}}}}},
		Degraded: &report.Degraded{State: "updated", Summary: "1 failed request (most: ValueError: password=hunter2)",
			New: "1 failed request (most: ValueError: password=hunter2)", Examples: []string{"ERROR prod odoo.http: password=hunter2"},
			Counts: []report.DegradedCount{{Kind: "request-errors", N: 1}}},
	}
	before := r.Clone()
	red2 := red.Report(r)
	b, err := red2.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "hunter2") || strings.Contains(red2.Text(), "hunter2") || strings.Contains(red2.Subject(), "hunter2") {
		t.Fatalf("secret left in the redacted report:\n%s", b)
	}
	if !reflect.DeepEqual(r, before) {
		t.Fatalf("Report wrote into the report it was given: a report shared elsewhere would change under its user\ngot  %+v\nwant %+v", r, before)
	}
	// The copy shares nothing a later stage could write through.
	red2.Crashes[0].Cause = "changed"
	red2.Held.Results[0] = "changed"
	red2.Incident.Failures = 9
	red2.Hang.Probes[0].Body, red2.Hang.Threads[0].Frames[0].Code = "changed", "changed"
	red2.Degraded.Examples[0], red2.Degraded.Counts[0].N = "changed", 9
	if !reflect.DeepEqual(r, before) {
		t.Fatalf("the redacted copy shares its crashes, held, incident, hang or degraded block with the report it came from")
	}
}
