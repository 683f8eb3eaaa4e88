package invite

import (
	"net/mail"
	"strings"
	"unicode/utf8"
)

// emailRule is the reason given for a bad email address.
const emailRule = "is not a valid email address (ASCII, at most 256 bytes)"

// NormalizeEmail trims surrounding space, checks the address and returns
// its normal form, EmailKey's: at most MaxEmailLen bytes of ASCII, a bare
// addr-spec (no display name) with a dotted domain, no control characters,
// lower-cased. It reports false when invalid.
//
// Addresses with characters outside ASCII are refused: Unicode case
// mapping would let "ada@İbm.com" (U+0130) pass for ada@ibm.com, which
// IDNA maps to another domain. Config.EmailDomainToASCII lets a Manager
// take internationalised domains by converting them first.
func NormalizeEmail(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > MaxEmailLen || !isASCII(s) || hasControl(s) {
		return "", false
	}
	if !simpleEmail(s) && !parsedEmail(s) {
		return "", false
	}
	return EmailKey(s), true
}

// EmailKey is the form emails are compared and indexed in: ASCII letters
// lower-cased, nothing else changed (no Unicode case mapping, which maps
// distinct addresses together). Stores index Invitee.Keys, which use it.
func EmailKey(email string) string {
	for i := 0; i < len(email); i++ {
		if c := email[i]; 'A' <= c && c <= 'Z' {
			b := []byte(email)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return email
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// normalizeEmail is NormalizeEmail through Config.EmailDomainToASCII: a
// domain outside ASCII is converted first when the hook is set. The local
// part must be ASCII either way.
func (m *Manager) normalizeEmail(s string) (string, bool) {
	s = strings.TrimSpace(s)
	at := strings.LastIndexByte(s, '@')
	if m.cfg.EmailDomainToASCII != nil && at > 0 && !isASCII(s[at+1:]) && len(s) <= 4*MaxEmailLen {
		domain, err := m.cfg.EmailDomainToASCII(s[at+1:])
		if err != nil {
			return "", false
		}
		s = s[:at+1] + domain
	}
	return NormalizeEmail(s)
}

// parsedEmail is the full check: net/mail parses s as a bare addr-spec,
// and the domain is dotted.
func parsedEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	return at > 0 && strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") &&
		!strings.HasSuffix(domain, ".") && !strings.Contains(domain, "..")
}

// simpleEmail reports whether s is an address of the common shape that
// NormalizeEmail's full parse (net/mail) accepts unchanged, so the parse
// can be skipped: a dot-atom local part of ASCII atext, "@", and a domain
// of at least two dot-separated labels of ASCII letters, digits and
// hyphens. A false answer means only "parse it" (FuzzSimpleEmail checks
// that every true answer is one net/mail agrees with).
func simpleEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	for i := 0; i < len(local); i++ {
		c := local[i]
		if c == '.' {
			if i == 0 || i == len(local)-1 || local[i-1] == '.' {
				return false
			}
			continue
		}
		if c >= 0x80 || !atext[c] {
			return false
		}
	}
	dots := 0
	for i := 0; i < len(domain); i++ {
		c := domain[i]
		switch {
		case c == '.':
			if i == 0 || i == len(domain)-1 || domain[i-1] == '.' {
				return false
			}
			dots++
		case c == '-', c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		default:
			return false
		}
	}
	return dots > 0
}

// atext are the ASCII characters RFC 5322 allows in an atom.
var atext = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-/=?^_`{|}~" {
		t[c] = true
	}
	return t
}()

// normalizePhone is NormalizePhone, or Config.NormalizePhone when set
// (whose result must be E.164 in NormalizePhone's sense).
func (m *Manager) normalizePhone(s string) (string, bool) {
	if m.cfg.NormalizePhone == nil {
		return NormalizePhone(s)
	}
	if len(s) > MaxPhoneLen || !utf8.ValidString(s) {
		return "", false
	}
	p, err := m.cfg.NormalizePhone(s)
	if err != nil {
		return "", false
	}
	if n, ok := NormalizePhone(p); !ok || n != p {
		return "", false
	}
	return p, true
}

// NormalizePhone returns the E.164 form of a phone number written with an
// international prefix ("+" or "00"), dropping spaces, dots, dashes and
// parentheses: "+" and 7 to 15 digits (the shortest numbering plans, such
// as +290, have 7), the first not 0. It reports false
// when the input is not such a number or is longer than MaxPhoneLen.
func NormalizePhone(s string) (string, bool) {
	if len(s) > MaxPhoneLen {
		return "", false
	}
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	case strings.HasPrefix(s, "00"):
		s = s[2:]
	default:
		return "", false
	}
	digits := make([]byte, 0, 16)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return "", false
		}
	}
	if len(digits) < 7 || len(digits) > 15 || digits[0] == '0' {
		return "", false
	}
	return "+" + string(digits), true
}
