package chat

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/notifiers/notifiertest"
	"github.com/odoo-notify/odoo-notify/report"
)

func TestFit(t *testing.T) {
	tests := []struct {
		name     string
		n, limit int
		want     int
	}{
		{"all fit", 10, 1000, 10},
		{"some fit", 10, 55, 5},
		{"none fit", 10, 10, 0},
		{"not even the head", 10, 9, -1},
		{"no lines", 0, 100, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fit(tt.n, tt.limit, func(k int) int { return 10 + 9*k }); got != tt.want {
				t.Errorf("Fit = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestEscapes(t *testing.T) {
	tests := []struct {
		name, in, want string
		f              func(string) string
	}{
		{"unmention", "@channel a@b @ x @all", "@\u200bchannel a@\u200bb @ x @\u200ball", Unmention},
		{"unfence", "```x``", "`\u200b`\u200b`x`\u200b`", Unfence},
		{"single backtick kept", "`x`", "`x`", Unfence},
		{"markdown", `*a* _b_ [c](d) \`, `\*a\* \_b\_ \[c\](d) \\`, EscapeMarkdown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRenderDropsPartsLast: when even the facts do not fit, the parts at
// the end go first, the title stays, and the message says so.
func TestRenderDropsPartsLast(t *testing.T) {
	plain := Markup{Service: "X", Text: func(s string) string { return s }, Code: func(s string) string { return s }, Block: func(s string) string { return s }, Len: Runes, Unit: "characters"}
	r := &report.Report{Host: "erp1", Unit: "odoo.service", Result: "signal", ExitCode: "killed", ExitStatus: "KILL", Summary: strings.Repeat("s", 500)}
	for i := range 5 {
		r.Problems = append(r.Problems, strings.Repeat(string(rune('a'+i)), 300))
	}
	got := plain.Render(New(r), 1200)
	if n := Runes(got); n > 1200 {
		t.Errorf("%d characters, want at most 1200", n)
	}
	if !strings.HasPrefix(got, "erp1: odoo.service failed (signal KILL)") || !strings.Contains(got, "more part(s) of the report not shown (cut to fit X's limit of 1200 characters)") {
		t.Errorf("got:\n%s", got)
	}
	if !strings.Contains(got, strings.Repeat("s", 500)) || strings.Contains(got, strings.Repeat("e", 300)) {
		t.Errorf("the summary should stay and the last note go:\n%s", got)
	}
}

// TestRenderIncident: a recovery notice says which incident it ends and
// shows no empty log excerpt.
func TestRenderIncident(t *testing.T) {
	plain := Markup{Service: "X", Text: func(s string) string { return s }, Code: func(s string) string { return s }, Block: func(s string) string { return s }, Len: Runes, Unit: "characters"}
	opened := time.Date(2026, 3, 14, 9, 26, 0, 0, time.UTC)
	r := &report.Report{Host: "erp1", Unit: "odoo.service", Event: report.EventResolved, Summary: "odoo.service is running again.",
		Incident: &report.Incident{ID: "inc-42", Opened: opened, Failures: 3, State: "resolved", Subject: "erp1: odoo.service failed (signal KILL)"}}
	got := plain.Render(New(r), 2000)
	for _, want := range []string{"[RESOLVED] erp1: odoo.service failed (signal KILL)", "Resolved: incident inc-42, opened 2026-03-14 09:26 UTC"} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "log lines") {
		t.Errorf("a recovery notice shows a log heading:\n%s", got)
	}
}

// TestErrorsPart: the errors the run logged come after the facts, most
// frequent first, as whole lines up to the part's bound, saying how many
// kinds were left out.
func TestErrorsPart(t *testing.T) {
	r := notifiertest.ErrorsReport(3)
	m := New(r)
	var part string
	for _, p := range m.After {
		if strings.HasPrefix(p, "Errors logged during the run:\n• "+notifiertest.FirstError+"\n• ") {
			part = p
		}
	}
	if part == "" {
		t.Fatalf("no errors part starting with the most frequent error in %q", m.After)
	}
	if n := Runes(part); n > maxPieceRunes {
		t.Errorf("errors part is %d characters, want at most %d", n, maxPieceRunes)
	}
	lines := strings.Split(part, "\n")
	shown := len(lines) - 2 // the heading and the note
	if shown < 2 || shown >= len(r.Errors) || lines[len(lines)-1] != fmt.Sprintf("… %d more kind(s) of error not shown", len(r.Errors)-shown) {
		t.Errorf("want some whole errors and a note counting the rest, got:\n%s", part)
	}
	for _, l := range lines[1 : len(lines)-1] {
		if !strings.HasPrefix(l, "• ") || Runes(l) > maxErrorRunes+2 {
			t.Errorf("line %q is not one error cut to %d characters", l, maxErrorRunes)
		}
	}
	r.Errors = r.Errors[:2]
	if got := New(r).After; !slices.Contains(got, "Errors logged during the run:\n• "+notifiertest.FirstError+"\n• "+report.TruncateRunes(r.Errors[1].String(), maxErrorRunes)) {
		t.Errorf("two errors should show whole, with no note: %q", got)
	}
}

// TestWatcherHeading: every chat channel names a hang's or a degraded
// spell's lines for what they are; a crash keeps "of the failed run".
func TestWatcherHeading(t *testing.T) {
	plain := Markup{Service: "X", Text: func(s string) string { return s }, Code: func(s string) string { return s }, Block: func(s string) string { return s }, Len: Runes, Unit: "characters"}
	reps := notifiertest.WatchReports()
	reps["crash"] = notifiertest.Report()
	for name, r := range reps {
		t.Run(name, func(t *testing.T) {
			got := plain.Render(New(r), 4000)
			want := r.WatcherHeading()
			if name == "crash" {
				want = "Last 3 log lines of the failed run:"
			} else if strings.Contains(got, "failed run") {
				t.Errorf("a report of the watcher speaks of a failed run:\n%s", got)
			}
			if want == "" || !strings.Contains(got, want) {
				t.Errorf("lacks the heading %q:\n%s", want, got)
			}
		})
	}
}
