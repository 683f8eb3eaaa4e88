package main

import (
	"strings"
	"testing"
)

// TestRun keeps the quickstart working: run checks every expected outcome
// itself and returns an error on the first surprise.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(&out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "purged: 2") {
		t.Errorf("output does not end with the purge:\n%s", out.String())
	}
}
