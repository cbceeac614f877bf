package main

import (
	"testing"

	"github.com/odoo-notify/odoo-notify/internal/lazyre"
)

// TestPatternsCompile compiles every pattern the binary holds: they are
// compiled on first use, so a bad one would otherwise show only in the run
// that first needs it.
func TestPatternsCompile(t *testing.T) {
	if expr, err := lazyre.Check(); err != nil {
		t.Fatalf("pattern %q does not compile: %v", expr, err)
	}
}
