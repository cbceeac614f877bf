package report

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func withErrors() *Report {
	r := sample()
	at := func(h, m, s int) time.Time { return time.Date(2026, 11, 25, h, m, s, 0, time.UTC) }
	r.Errors = []LoggedError{
		{Type: "psycopg2.OperationalError", Message: "connection refused", Count: 1, First: at(10, 31, 5), Last: at(10, 31, 5), Fatal: true},
		{Type: "KeyError", Message: "'ir.http'", Context: "request handling", Count: 14, First: at(10, 1, 0), Last: at(10, 31, 2)},
		{Type: "odoo.sql_db", Message: "bad query: <script>", Count: 1},
	}
	return r
}

func TestLoggedErrorString(t *testing.T) {
	r := withErrors()
	for i, want := range []string{
		"1 x psycopg2.OperationalError: connection refused, at 10:31:05, ended the run",
		"14 x KeyError: 'ir.http' (request handling), first 10:01:00, last 10:31:02",
		"1 x odoo.sql_db: bad query: <script>",
	} {
		if got := r.Errors[i].String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
	long := LoggedError{Type: "ValueError", Message: strings.Repeat("x\n", 5000), Count: 2}
	if s := long.String(); len(s) > 300 || strings.Contains(s, "\n") {
		t.Errorf("a long message gave %d bytes (%q...): one line of a few hundred bytes is the bound", len(s), s[:40])
	}
}

func TestErrorsInEveryRendering(t *testing.T) {
	r := withErrors()
	text := r.Text()
	if !strings.Contains(text, "Errors logged during the run:\n  1 x psycopg2.OperationalError") || !strings.Contains(text, "14 x KeyError: 'ir.http' (request handling)") {
		t.Errorf("text rendering lacks the errors:\n%s", text)
	}
	h, err := r.HTML()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h, "<li>14 x KeyError: &#39;ir.http&#39; (request handling)") || strings.Contains(h, "<script>") {
		t.Errorf("HTML rendering lacks the errors or does not escape them:\n%s", h)
	}
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Errors []map[string]any `json:"errors"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Errors) != 3 {
		t.Fatalf("JSON errors = %v", m.Errors)
	}
	for _, k := range []string{"type", "message", "count", "first", "last", "fatal"} {
		if _, ok := m.Errors[0][k]; !ok {
			t.Errorf("a JSON error lacks %q: %v", k, m.Errors[0])
		}
	}
	if m.Errors[1]["context"] != "request handling" || m.Errors[1]["count"] != 14.0 || m.Errors[0]["fatal"] != true {
		t.Errorf("JSON errors = %v", m.Errors)
	}
	if _, ok := m.Errors[2]["first"]; ok {
		t.Errorf("an error without a time has no first: %v", m.Errors[2])
	}
	if b, _ := sample().JSON(); strings.Contains(string(b), `"errors"`) {
		t.Errorf("a report without errors has no errors key: %s", b)
	}
}
