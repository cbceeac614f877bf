package report

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func sample() *Report {
	return &Report{
		Host: "erp1", Unit: "odoo.service", InvocationID: "0123456789abcdef0123456789abcdef",
		Result: "signal", ExitCode: "killed", ExitStatus: "KILL",
		Lines: []Line{{Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Priority: 3, Message: "worker died"}},
	}
}

func TestSubject(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *Report)
		want string
	}{
		{"signal", func(r *Report) {}, "erp1: odoo.service failed (signal KILL)"},
		{"exit status", func(r *Report) { r.Result, r.ExitCode, r.ExitStatus = "exit-code", "exited", "3" }, "erp1: odoo.service failed (exit status 3)"},
		{"core dump", func(r *Report) { r.Result, r.ExitCode, r.ExitStatus = "core-dump", "dumped", "SEGV" }, "erp1: odoo.service failed (core dump, signal SEGV)"},
		{"watchdog", func(r *Report) { r.Result, r.ExitStatus = "watchdog", "ABRT" }, "erp1: odoo.service failed (watchdog, signal ABRT)"},
		{"start limit", func(r *Report) { r.Result, r.ExitCode, r.ExitStatus, r.NRestarts = "start-limit-hit", "", "", 5 }, "erp1: odoo.service failed (start limit hit after 5 restarts)"},
		{"crash loop under Restart=on-failure", func(r *Report) {
			r.Result, r.ExitCode, r.ExitStatus, r.NRestarts, r.StartLimitHit = "exit-code", "exited", "3", 5, true
		}, "erp1: odoo.service failed (start limit hit after 5 restarts, last: exit status 3)"},
		{"exception", func(r *Report) {
			r.Exception = &Exception{Type: "psycopg2.OperationalError", Message: "connection to server refused\r\nBcc: x@y"}
		}, "erp1: odoo.service crashed: psycopg2.OperationalError: connection to server refused  Bcc: x@y"},
		{"nothing known", func(r *Report) { r.Result, r.ExitCode, r.ExitStatus = "", "", "" }, "erp1: odoo.service failed (unknown result)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sample()
			tt.edit(r)
			if got := r.Subject(); got != tt.want {
				t.Errorf("Subject() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTruncateOnRuneBoundary(t *testing.T) {
	s := strings.Repeat("é", 100) // 2 bytes each
	got := Truncate(s, 51)
	if !utf8.ValidString(got) || len(got) > 51 || !strings.HasSuffix(got, CutMark) {
		t.Errorf("Truncate: %q (%d bytes) is not valid, within 51 bytes and marked", got, len(got))
	}
	got = TruncateRunes(s, 20)
	if n := utf8.RuneCountInString(got); n > 20 || !strings.HasSuffix(got, CutMark) {
		t.Errorf("TruncateRunes: %d runes, %q", n, got)
	}
	if Truncate("short", 10) != "short" {
		t.Error("Truncate changed a short string")
	}
}

func TestJSONContract(t *testing.T) {
	r := sample()
	r.Lines = append(r.Lines, Line{Message: "bad \xff\xfe bytes"})
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not valid JSON: %v", err)
	}
	for _, k := range []string{"schema", "test", "host", "unit", "invocation_id", "result", "exit_code", "exit_status", "n_restarts", "summary", "lines"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if m["schema"] != Schema {
		t.Errorf("schema = %v", m["schema"])
	}
	lines := m["lines"].([]any)
	last := lines[1].(map[string]any)
	if last["message"] != "bad \uFFFD\uFFFD bytes" {
		t.Errorf("invalid UTF-8 line came out as %q", last["message"])
	}
	for _, k := range []string{"time", "priority", "message"} {
		if _, ok := lines[0].(map[string]any)[k]; !ok {
			t.Errorf("line lacks %q", k)
		}
	}
	huge := sample()
	huge.Lines[0].Message = strings.Repeat("y", 10<<20)
	if b, _ := huge.JSON(); len(b) > 2*MaxJSONLineBytes || !strings.Contains(string(b), CutMark) {
		t.Errorf("a 10 MB line gave %d bytes of JSON, want it cut to %d with %q", len(b), MaxJSONLineBytes, CutMark)
	}
	empty := &Report{Host: "h", Unit: "u"}
	b, _ = empty.JSON()
	if !strings.Contains(string(b), `"lines":[]`) {
		t.Errorf("a report without lines must have an empty array, got %s", b)
	}
}

func TestHTMLEscapesLogText(t *testing.T) {
	r := sample()
	r.Lines = []Line{{Message: `<script>alert(1)</script> & <!channel>`}}
	h, err := r.HTML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, "<script>") || !strings.Contains(h, "&lt;script&gt;") {
		t.Errorf("log text not escaped in HTML:\n%s", h)
	}
}

func TestTextCutsHugeLines(t *testing.T) {
	r := sample()
	r.Lines = []Line{{Message: strings.Repeat("x", 10<<20)}}
	txt := r.Text()
	if len(txt) > 2*MaxLineBytes || !strings.Contains(txt, CutMark) {
		t.Errorf("a 10 MB line gave %d bytes of text, want it cut with %q", len(txt), CutMark)
	}
}

func TestTextSaysWhyLinesAreMissing(t *testing.T) {
	r := sample()
	r.Lines = nil
	r.LinesProblem = "journal not readable: permission denied"
	if !strings.Contains(r.Text(), "(journal not readable: permission denied)") {
		t.Errorf("text does not say why the excerpt is empty:\n%s", r.Text())
	}
}
