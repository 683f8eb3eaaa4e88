package invite

import (
	"bytes"
	"encoding/json"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on input sizes.
const (
	MaxNameLen     = 100
	MaxEmailLen    = 256
	MaxPhoneLen    = 50
	MaxIDLen       = 255
	MaxListItems   = 1000
	MaxBatchSize   = 1000
	maxTemplateLen = 2048
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

// emailRule is the reason given for a bad email address.
const emailRule = "is not a valid email address (ASCII, at most 256 bytes)"

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

// checkRedirectURI accepts an absolute https URI, or http for a loopback
// host (local development).
func (fe *fieldErrs) checkRedirectURI(field, s string) {
	if s == "" {
		return
	}
	if len(s) > maxTemplateLen || !utf8.ValidString(s) || hasControl(s) {
		fe.add(field, "is too long, not valid UTF-8 or contains control characters")
		return
	}
	if reason := uriProblem(s); reason != "" {
		fe.add(field, reason)
	}
}

// uriProblem is "" for an absolute https URI (http for a loopback host),
// else what is wrong with s.
func uriProblem(s string) string {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "must be an absolute URI"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		switch strings.ToLower(u.Hostname()) {
		case "localhost", "127.0.0.1", "::1":
			return ""
		}
	}
	return "must use https (http only for localhost)"
}

// linkProblem is "" when link may be sent as an invitation link: an
// absolute https URL (http for a loopback host) to one of hosts (any host
// when hosts is empty). Otherwise it says what is wrong, as the end of a
// sentence starting "renders a link that".
func linkProblem(link string, hosts []string) string {
	if reason := uriProblem(link); reason != "" {
		return "is not an absolute https URL (http only for localhost)"
	}
	if len(hosts) == 0 {
		return ""
	}
	u, _ := url.Parse(link) // parsed by uriProblem
	host := strings.ToLower(u.Hostname())
	for _, h := range hosts {
		h = strings.ToLower(h)
		if host == h || (strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) && len(host) > len(h)-1) {
			return ""
		}
	}
	return "points to a host outside Config.LinkHosts"
}

// validHostPattern accepts a host name (letters, digits, '-', '.') or one
// with a leading "*." for its subdomains.
func validHostPattern(h string) bool {
	h = strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > 253 || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") || strings.Contains(h, "..") {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// validLocale accepts BCP 47-shaped tags: a 2-8 letter language and
// alphanumeric subtags of 1-8 characters separated by '-' (or '_').
func validLocale(s string) bool {
	if len(s) > 35 {
		return false
	}
	// Split, not FieldsFunc: an empty subtag ("en__US", "_en", "en_") is
	// malformed, and FieldsFunc would drop it silently.
	for i, part := range strings.Split(strings.ReplaceAll(s, "_", "-"), "-") {
		if len(part) < 1 || len(part) > 8 || (i == 0 && len(part) < 2) {
			return false
		}
		for _, c := range part {
			isAlpha := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
			if !isAlpha && (i == 0 || !(c >= '0' && c <= '9')) {
				return false
			}
		}
	}
	return s != "" && !strings.HasPrefix(s, "-") && !strings.HasSuffix(s, "-") && !strings.Contains(s, "--")
}

func (fe *fieldErrs) checkList(field string, items []string) {
	if len(items) > MaxListItems {
		fe.add(field, "has more than "+itoa(MaxListItems)+" items")
		return
	}
	for i, s := range items {
		if reason := textProblem(s, MaxIDLen, true); reason != "" {
			fe.addNamed(func() string { return field + "[" + itoa(i) + "]" }, reason)
		}
	}
}

// checkData validates the pre-filled data and metadata. The invitation's
// variable-size content, roles and groups (checked item by item by
// checkList) with the data and metadata, must stay within max bytes of
// JSON, so that the whole invitation document (every other field has its
// own small bound) stays within about max plus a few KiB.
func (fe *fieldErrs) checkData(roles, groups []string, data map[string]string, form map[string]map[string]string, meta json.RawMessage, max int) {
	// The size first: an oversized input is refused without looking at
	// (or quoting) any of its entries.
	size := len(meta)
	for _, s := range roles {
		size += len(s) + 3
	}
	for _, s := range groups {
		size += len(s) + 3
	}
	for k, v := range data {
		size += len(k) + len(v) + 6
	}
	for id, fields := range form {
		size += len(id) + 6
		for k, v := range fields {
			size += len(k) + len(v) + 6
		}
	}
	if size > max {
		fe.add("Data", "roles, groups, pre-filled data and metadata together exceed "+itoa(max)+" bytes")
		return
	}
	// Field names are built only for bad entries.
	for k, v := range data {
		if reason := textProblem(k, MaxIDLen, true); reason != "" {
			fe.addNamed(func() string { return "Data[" + quoteKey(k) + "]" }, reason)
		}
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			fe.addNamed(func() string { return "Data[" + quoteKey(k) + "]" }, "value is not valid UTF-8 or contains NUL")
		}
	}
	for id, fields := range form {
		if reason := textProblem(id, MaxIDLen, true); reason != "" {
			fe.addNamed(func() string { return "FormData[" + quoteKey(id) + "]" }, reason)
		}
		for k, v := range fields {
			if reason := textProblem(k, MaxIDLen, true); reason != "" {
				fe.addNamed(func() string { return "FormData[" + quoteKey(id) + "][" + quoteKey(k) + "]" }, reason)
			}
			if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
				fe.addNamed(func() string { return "FormData[" + quoteKey(id) + "][" + quoteKey(k) + "]" }, "value is not valid UTF-8 or contains NUL")
			}
		}
	}
	// NUL (\u0000) is valid JSON but no PostgreSQL jsonb can store it, so
	// no store accepts it.
	if len(meta) > 0 && (!json.Valid(meta) || bytes.Contains(meta, []byte(`\u0000`))) {
		fe.add("Metadata", "is not valid JSON or contains \\u0000")
	} else if jsonDepth(meta) > MaxMetadataDepth {
		fe.add("Metadata", "nests deeper than "+itoa(MaxMetadataDepth)+" levels")
	}
}

// MaxMetadataDepth bounds how deeply Metadata may nest objects and arrays
// (some databases refuse deeper documents).
const MaxMetadataDepth = 20

// jsonDepth returns how deeply the valid JSON document doc nests objects and
// arrays (0 for a scalar).
func jsonDepth(doc []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(doc); i++ {
		switch c := doc[i]; {
		case inString && c == '\\':
			i++ // skip the escaped character
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// maxQuotedKey bounds how much of a key a field name quotes.
const maxQuotedKey = 64

// quoteKey quotes a map key for a field name, cut to maxQuotedKey bytes
// (at a rune boundary) and marked with "…" when cut.
func quoteKey(k string) string {
	if len(k) <= maxQuotedKey {
		return strconv.Quote(k)
	}
	cut := maxQuotedKey
	for cut > 0 && !utf8.RuneStart(k[cut]) {
		cut--
	}
	return strconv.Quote(k[:cut] + "…")
}

// checkInvitee normalises and validates the identifiers in place. A blank
// email or phone (white space only, as a form may send it) counts as
// absent.
func (m *Manager) checkInvitee(fe *fieldErrs, iv *Invitee) {
	iv.Email, iv.Phone = blankToEmpty(iv.Email), blankToEmpty(iv.Phone)
	if iv.Email != "" {
		if e, ok := m.normalizeEmail(iv.Email); ok {
			iv.Email = e
		} else {
			fe.add("Invitee.Email", emailRule)
		}
	}
	if iv.Phone != "" {
		if p, ok := NormalizePhone(iv.Phone); ok {
			iv.Phone = p
		} else {
			fe.add("Invitee.Phone", "is not an international (E.164) phone number of at most "+itoa(MaxPhoneLen)+" characters")
		}
	}
	fe.checkText("Invitee.UserID", iv.UserID, MaxIDLen, false)
}

// blankToEmpty returns "" for a string of white space only, else s.
func blankToEmpty(s string) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return s
}

func checkRef(tenantID, id string) error {
	var fe fieldErrs
	fe.checkText("TenantID", tenantID, MaxIDLen, true)
	fe.checkText("ID", id, MaxIDLen, true)
	return fe.err()
}

func (m *Manager) checkExpiry(fe *fieldErrs, field string, d time.Duration) {
	if d < m.cfg.MinExpiry || d > m.cfg.MaxExpiry {
		fe.add(field, "must be between "+m.cfg.MinExpiry.String()+" and "+m.cfg.MaxExpiry.String()+" from now")
	}
}

// checkCreate validates and normalises in (in place) as of now and returns
// the validity the new invitation gets.
func (m *Manager) checkCreate(in *CreateInput, now time.Time) (time.Duration, error) {
	var fe fieldErrs
	fe.checkText("TenantID", in.TenantID, MaxIDLen, true)
	m.checkInvitee(&fe, &in.Invitee)
	fe.checkName("GivenName", in.GivenName)
	fe.checkName("FamilyName", in.FamilyName)
	fe.checkText("Inviter.ID", in.Inviter.ID, MaxIDLen, false)
	fe.checkName("Inviter.Name", in.Inviter.Name)
	fe.checkName("AccountName", in.AccountName)
	fe.checkList("Roles", in.Roles)
	fe.checkList("Groups", in.Groups)
	fe.checkData(in.Roles, in.Groups, in.Data, in.FormData, in.Metadata, m.cfg.MaxDataBytes)
	fe.checkText("ClientID", in.ClientID, MaxIDLen, false)
	fe.checkText("IdentityProviderID", in.IdentityProviderID, MaxIDLen, false)
	fe.checkRedirectURI("RedirectURI", in.RedirectURI)
	fe.checkText("IdempotencyKey", in.IdempotencyKey, MaxIDLen, false)
	if in.LinkTemplate != "" {
		if len(in.LinkTemplate) > maxTemplateLen || hasControl(in.LinkTemplate) {
			fe.add("LinkTemplate", "is longer than "+itoa(maxTemplateLen)+" bytes or contains control characters")
		} else if _, err := parseLinkTemplate(in.LinkTemplate); err != nil {
			fe.add("LinkTemplate", "does not parse: "+err.Error())
		}
	}
	if in.TemplateKey == "" {
		in.TemplateKey = m.cfg.DefaultTemplateKey
	} else if !slices.Contains(m.cfg.TemplateKeys, in.TemplateKey) {
		fe.addErr("TemplateKey", "is not a known template key", ErrUnknownTemplate)
	}
	if in.Locale != "" && !validLocale(in.Locale) {
		fe.add("Locale", "is not a BCP 47 language tag")
	}
	validity := in.ExpiresIn
	switch {
	case !in.ExpiresAt.IsZero():
		validity = in.ExpiresAt.Sub(now)
		m.checkExpiry(&fe, "ExpiresAt", validity)
	case validity == 0:
		validity = m.cfg.DefaultExpiry
	default:
		m.checkExpiry(&fe, "ExpiresIn", validity)
	}
	if in.RequireEmailMatch && in.Invitee.Email == "" {
		fe.add("RequireEmailMatch", "needs Invitee.Email")
	}
	if in.Invitee.IsZero() {
		fe.addErr("Invitee", "needs an email, phone or user id", ErrNoDeliveryChannel)
	}
	switch in.Delivery {
	case DeliverySend:
		if m.cfg.Notifier == nil {
			fe.add("Delivery", "no Notifier is configured (use DeliveryReturn)")
		}
		if !in.WithCode && in.LinkTemplate == "" && m.link == nil && in.RedirectURI == "" {
			fe.add("LinkTemplate", "nothing to deliver: set Config.LinkTemplate, LinkTemplate or RedirectURI, or WithCode")
		}
	case DeliveryReturn:
	default:
		fe.add("Delivery", "is not DeliverySend or DeliveryReturn")
	}
	return validity, fe.err()
}
