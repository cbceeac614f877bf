package config

import (
	"regexp"
	"testing"
)

// TestSlackChannel checks the hand-written check against the rule it
// replaces: a channel id, or a #name of up to 80 letters, digits, - and _.
func TestSlackChannel(t *testing.T) {
	rule := regexp.MustCompile(`^([CGD][A-Z0-9]{6,}|#[-_a-z0-9\p{L}]{1,80})$`)
	long := "#"
	for range 80 {
		long += "é"
	}
	for _, s := range []string{
		"C0123456", "G0AB12CD", "D123456", "C12345", "c0123456", "X0123456", "C01234a6", "",
		"#ops", "#ops-alerts_2", "#", "#Ops", "#équipe", "#运维", "#ops alerts", "#ops.alerts",
		long, long + "é", "#\xff", "ops", "#ops\n", "C0123456\n",
	} {
		if got, want := slackChannel(s), rule.MatchString(s); got != want {
			t.Errorf("slackChannel(%q) = %v, want %v", s, got, want)
		}
	}
}
