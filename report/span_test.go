package report

import (
	"testing"
	"time"
)

func TestSpan(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second:               "45 s",
		7 * time.Minute:                "7 min",
		2*time.Hour + 5*time.Minute:    "2 h 5 min",
		3 * time.Hour:                  "3 h",
		76 * time.Hour:                 "3 d 4 h",
		-time.Second:                   "0 s",
		7*time.Minute + 20*time.Second: "7 min",
	} {
		if got := Span(d); got != want {
			t.Errorf("Span(%s) = %q, want %q", d, got, want)
		}
	}
}
