package invite

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// hasControl reports whether s holds a rune no text field may hold (see
// forbiddenRune).
func hasControl(s string) bool {
	if ascii, ctl, _ := scanASCII(s); ascii {
		return ctl
	}
	return hasControlRune(s, false)
}

// hasControlRune is hasControl for any input, rune by rune; joiners allows
// the zero-width (non-)joiner.
func hasControlRune(s string, joiners bool) bool {
	for _, r := range s {
		if forbiddenRune(r, joiners) {
			return true
		}
	}
	return false
}

// forbiddenRune reports whether r may not appear in a text field: control
// characters (they could split a mail header), the line and paragraph
// separators, and format characters (Unicode category Cf: bidirectional
// overrides, zero-width spaces, which reorder or hide text where it is
// shown, so that "acme" and "ac\u200bme" would look alike). joiners allows
// the zero-width non-joiner and joiner (U+200C, U+200D), which names in
// Persian and Indic scripts and emoji sequences need.
func forbiddenRune(r rune, joiners bool) bool {
	switch {
	case r < utf8.RuneSelf:
		return r < 0x20 || r == 0x7f
	case joiners && (r == '\u200c' || r == '\u200d'):
		return false
	}
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r)
}

// checkText validates a single-line text field such as an id, a role or a
// key: valid UTF-8, no control or format characters, at most max runes.
func (fe *fieldErrs) checkText(field, s string, max int, required bool) {
	if reason := textProblem(s, max, required); reason != "" {
		fe.add(field, reason)
	}
}

// checkName validates a name shown to people (an invitee's, the inviter's,
// the account's): as checkText, with the zero-width joiners allowed.
func (fe *fieldErrs) checkName(field, s string) {
	if reason := textVerdict(s, MaxNameLen, false, true); reason != "" {
		fe.add(field, reason)
	}
}

// scanASCII reports whether s is all ASCII and, if so, whether it has a
// control character and whether it is all white space: one pass that
// answers textProblem's questions for the common case.
func scanASCII(s string) (ascii, control, blank bool) {
	blank = true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			return false, false, false
		case c < 0x20 || c == 0x7f:
			control = true
			if c < '\t' || c > '\r' {
				blank = false
			}
		case c != ' ':
			blank = false
		}
	}
	return true, control, blank
}

// textProblem is checkText's verdict: "" when s is fine, else the reason.
// Callers that compose field names build them only for a bad value.
func textProblem(s string, max int, required bool) string {
	return textVerdict(s, max, required, false)
}

// textVerdict is textProblem, with the zero-width joiners allowed when
// joiners is set.
func textVerdict(s string, max int, required, joiners bool) string {
	if ascii, control, blank := scanASCII(s); ascii && s != "" {
		// The same verdicts as below: ASCII is valid UTF-8, one rune per
		// byte, and its control characters are exactly C0 and DEL.
		switch {
		case control:
			return controlReason
		case len(s) > max:
			return "is longer than " + itoa(max) + " characters"
		case blank:
			return "is blank"
		}
		return ""
	}
	return textProblemSlow(s, max, required, joiners)
}

// controlReason is the reason given for a forbidden rune.
const controlReason = "contains control or invisible formatting characters"

// textProblemSlow is textVerdict for any input, without the ASCII scan
// (FuzzTextProblem holds the fast path to it).
func textProblemSlow(s string, max int, required, joiners bool) string {
	switch {
	case s == "":
		if required {
			return "is required"
		}
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case hasControlRune(s, joiners):
		return controlReason
	case utf8.RuneCountInString(s) > max:
		return "is longer than " + itoa(max) + " characters"
	case strings.TrimSpace(s) == "":
		return "is blank"
	}
	return ""
}

func itoa(n int) string { return strconv.Itoa(n) }
