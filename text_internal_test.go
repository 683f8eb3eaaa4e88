package invite

import (
	"testing"

	"github.com/stretchr/testify/require"
)

var textSeeds = []string{"", " ", "\t \n", "Ada", " Ada ", "a\x00b", "a\rb", "a\x7fb", "Zoë", "a\u2028b",
	"\u00a0", "\u0085", "\xff", "ab\x1f", "x\u200by", "a\u200cb", "\u202e", "\t", "abcdefghij", "\u3000"}

// FuzzTextProblem checks textProblem's ASCII fast path: every verdict it
// gives must be the one the full check (textProblemSlow) gives, and so must
// hasControl's.
func FuzzTextProblem(f *testing.F) {
	for _, s := range textSeeds {
		f.Add(s, 5, true)
		f.Add(s, 100, false)
	}
	f.Fuzz(func(t *testing.T, s string, max int, required bool) {
		for _, joiners := range []bool{false, true} {
			if got, want := textVerdict(s, max, required, joiners), textProblemSlow(s, max, required, joiners); got != want {
				t.Fatalf("textVerdict(%q, %d, %v, %v) = %q, the full check says %q", s, max, required, joiners, got, want)
			}
		}
		if got, want := hasControl(s), hasControlRune(s, false); got != want {
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
		{"a\r\nBcc: x", 100, true, controlReason},
		{"a\x7f", 100, true, controlReason},
		{"a\u2028b", 100, true, controlReason},
		{"   ", 100, true, "is blank"},
		{"\u00a0", 100, true, "is blank"},
		{"\xff", 100, true, "is not valid UTF-8"},
		{"admin\u202eelor", 100, true, controlReason}, // right-to-left override
		{"ac\u200bme", 100, true, controlReason},      // zero-width space
		{"\ufeffacme", 100, true, controlReason},      // byte order mark
		{"a\u00adb", 100, true, controlReason},        // soft hyphen
		{"\u2066x\u2069", 100, true, controlReason},   // bidi isolates
		{"ac\u200dme", 100, true, controlReason},      // a joiner in an id
	} {
		require.Equal(t, tc.want, textProblem(tc.s, tc.max, tc.required), "%q", tc.s)
	}
	// Names may hold the joiners Persian and emoji need, nothing else.
	require.Equal(t, "", textVerdict("می\u200cخواهم", 100, true, true))
	require.Equal(t, "", textVerdict("👩\u200d💻", 100, true, true))
	require.Equal(t, controlReason, textVerdict("Ada\u202e", 100, true, true))
}
