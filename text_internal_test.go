package invite

import (
	"testing"

	"github.com/stretchr/testify/require"
)

var textSeeds = []string{"", " ", "\t \n", "Ada", " Ada ", "a\x00b", "a\rb", "a\x7fb", "Zoë", "a\u2028b",
	"\u00a0", "\u0085", "\xff", "ab\x1f", "x\u200by", "\t", "abcdefghij", "\u3000"}

// FuzzTextProblem checks textProblem's ASCII fast path: every verdict it
// gives must be the one the full check (textProblemSlow) gives, and so must
// hasControl's.
func FuzzTextProblem(f *testing.F) {
	for _, s := range textSeeds {
		f.Add(s, 5, true)
		f.Add(s, 100, false)
	}
	f.Fuzz(func(t *testing.T, s string, max int, required bool) {
		if got, want := textProblem(s, max, required), textProblemSlow(s, max, required); got != want {
			t.Fatalf("textProblem(%q, %d, %v) = %q, the full check says %q", s, max, required, got, want)
		}
		if got, want := hasControl(s), hasControlRune(s); got != want {
			t.Fatalf("hasControl(%q) = %v, the rune check says %v", s, got, want)
		}
	})
}

func TestTextProblem(t *testing.T) {
	for _, tc := range []struct {
		s        string
		max      int
		required bool
		want     string
	}{
		{"", 10, true, "is required"},
		{"", 10, false, ""},
		{"Ada", 10, true, ""},
		{"Ada", 2, true, "is longer than 2 characters"},
		{"Zoë", 3, true, ""},
		{"Zoë", 2, true, "is longer than 2 characters"},
		{"a\r\nBcc: x", 100, true, "contains control characters"},
		{"a\x7f", 100, true, "contains control characters"},
		{"a\u2028b", 100, true, "contains control characters"},
		{"   ", 100, true, "is blank"},
		{"\u00a0", 100, true, "is blank"},
		{"\xff", 100, true, "is not valid UTF-8"},
	} {
		require.Equal(t, tc.want, textProblem(tc.s, tc.max, tc.required), "%q", tc.s)
	}
}
