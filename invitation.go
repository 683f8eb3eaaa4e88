package invite

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Invitee is who an invitation is for: an email address, a phone number, an
// existing user id, or several of them. Each identifier is a key of its own:
// a tenant holds at most one open invitation per email (case-insensitive),
// per phone (E.164) and per user id.
type Invitee struct {
	Email  string `json:"email,omitempty"`
	Phone  string `json:"phone,omitempty"`
	UserID string `json:"user_id,omitempty"`
}

// Keys returns the invitee's uniqueness keys: "email:" + the lower-cased
// email, "phone:" + the E.164 phone, "user:" + the user id, for the ones set.
// Stores index open invitations by these keys (or by AppendKeys' parts).
func (iv Invitee) Keys() []string {
	var buf [3]InviteeKey
	keys := make([]string, 0, 3)
	for _, k := range iv.AppendKeys(buf[:0]) {
		keys = append(keys, k.Kind+":"+k.Value)
	}
	return keys
}

// InviteeKey is one uniqueness key of an invitee, in parts: Kind is
// "email", "phone" or "user", Value the lower-cased email, the phone or the
// user id.
type InviteeKey struct{ Kind, Value string }

// AppendKeys appends the invitee's keys (those Keys joins with ":") to dst;
// with a dst of capacity 3 it allocates nothing for ASCII emails.
func (iv Invitee) AppendKeys(dst []InviteeKey) []InviteeKey {
	if iv.Email != "" {
		dst = append(dst, InviteeKey{"email", emailKey(iv.Email)})
	}
	if iv.Phone != "" {
		dst = append(dst, InviteeKey{"phone", iv.Phone})
	}
	if iv.UserID != "" {
		dst = append(dst, InviteeKey{"user", iv.UserID})
	}
	return dst
}

// emailKey is the form emails are matched in: lower-cased (Unicode
// lower case, as strings.ToLower), so stores can index it.
func emailKey(email string) string { return strings.ToLower(email) }

// IsZero reports whether no identifier is set.
func (iv Invitee) IsZero() bool { return iv == Invitee{} }

// Inviter is who sent the invitation, as the host knows them.
type Inviter struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// Invitation is one invitation as hosts see it. It carries no secret and no
// hash of one: it is safe to log, to put in events and to serialise to JSON.
// Values returned by the Manager are copies the caller may modify.
type Invitation struct {
	ID       string  `json:"id"`
	TenantID string  `json:"tenant_id"`
	Invitee  Invitee `json:"invitee"`
	// GivenName and FamilyName pre-fill the registration form.
	GivenName  string  `json:"given_name,omitempty"`
	FamilyName string  `json:"family_name,omitempty"`
	Inviter    Inviter `json:"inviter"`
	// AccountName is the tenant's display name for messages ({{account_name}}).
	AccountName string `json:"account_name,omitempty"`
	// Roles and Groups are granted by the host on acceptance.
	Roles  []string `json:"roles,omitempty"`
	Groups []string `json:"groups,omitempty"`
	// Data holds free pre-filled fields; FormData holds pre-filled values per
	// form id, then field key (reference 000's RequestFieldsValues).
	Data     map[string]string            `json:"data,omitempty"`
	FormData map[string]map[string]string `json:"form_data,omitempty"`
	// Metadata is the host's own JSON (permissions, flags); the library only
	// checks that it is valid JSON and within the size limit.
	Metadata           json.RawMessage `json:"metadata,omitempty"`
	ClientID           string          `json:"client_id,omitempty"`
	IdentityProviderID string          `json:"identity_provider_id,omitempty"`
	// RedirectURI is where the invitation link points (the client's login or
	// registration page).
	RedirectURI  string `json:"redirect_uri,omitempty"`
	LinkTemplate string `json:"link_template,omitempty"`
	TemplateKey  string `json:"template_key,omitempty"`
	Locale       string `json:"locale,omitempty"`
	// RequireEmailMatch binds acceptance to the invited email.
	RequireEmailMatch bool `json:"require_email_match,omitempty"`
	// HasCode reports whether a short code was minted with the current secret.
	HasCode bool  `json:"has_code,omitempty"`
	State   State `json:"state"`
	// IssuedAt is when the invitation's current validity began: when its
	// secret was minted (Create, Resend), or when Upsert or an Update of
	// ExpiresAt last restarted it. ExpiresAt is when the secret and the
	// invitation expire.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// SentAt is the last successful delivery (zero if never); SendCount
	// counts them.
	SentAt    time.Time `json:"sent_at,omitzero"`
	SendCount int       `json:"send_count"`
	// ClosedAt is when the invitation was accepted, rejected, revoked or
	// marked expired.
	ClosedAt time.Time `json:"closed_at,omitzero"`
	// AcceptedBy is the host's subject (user id) that accepted it.
	AcceptedBy string `json:"accepted_by,omitempty"`
	// Reason is the optional reason given on reject or revoke.
	Reason         string `json:"reason,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Version increases by one with every change (optimistic concurrency).
	Version int64 `json:"version"`
}

// Clone returns a deep copy.
func (inv *Invitation) Clone() *Invitation {
	c := *inv
	c.cloneCollections()
	return &c
}

// cloneCollections replaces inv's slices and maps with copies.
func (inv *Invitation) cloneCollections() {
	inv.Roles, inv.Groups = cloneLists(inv.Roles, inv.Groups)
	inv.Metadata = slices.Clone(inv.Metadata)
	inv.Data, inv.FormData = cloneData(inv.Data, inv.FormData)
}

// cloneLists copies roles and groups into one allocation. Each copy's
// capacity is its length, so appending to one never writes into the other.
// A nil list stays nil, an empty one empty.
func cloneLists(roles, groups []string) ([]string, []string) {
	if roles == nil || groups == nil {
		return slices.Clone(roles), slices.Clone(groups)
	}
	all := make([]string, len(roles)+len(groups))
	n := copy(all, roles)
	copy(all[n:], groups)
	return all[:n:n], all[n:]
}

// cloneData deep-copies pre-filled data.
func cloneData(data map[string]string, form map[string]map[string]string) (map[string]string, map[string]map[string]string) {
	data = maps.Clone(data)
	if form != nil {
		c := make(map[string]map[string]string, len(form))
		for k, v := range form {
			c[k] = maps.Clone(v)
		}
		form = c
	}
	return data, form
}

// Name is the invitee's full name ("given family"), as used for {{name}}.
func (inv *Invitation) Name() string {
	return strings.TrimSpace(inv.GivenName + " " + inv.FamilyName)
}

// Delivery says what Create (or Resend) does with the new secret.
type Delivery int

const (
	// DeliverySend sends the link (and code) through the Notifier. It is
	// the default.
	DeliverySend Delivery = iota
	// DeliveryReturn returns the secret to the caller and sends nothing
	// (reference 002's returnCode, devise's skip_invitation).
	DeliveryReturn
)

// CreateInput describes a new invitation. Only TenantID and one invitee
// identifier are required.
type CreateInput struct {
	TenantID    string
	Invitee     Invitee
	GivenName   string
	FamilyName  string
	Inviter     Inviter
	AccountName string
	Roles       []string
	Groups      []string
	Data        map[string]string
	FormData    map[string]map[string]string
	Metadata    json.RawMessage
	ClientID    string
	// IdentityProviderID is the identity provider the invitee must use.
	IdentityProviderID string
	// RedirectURI is an absolute https URI (http only for localhost) the
	// link points to.
	RedirectURI string
	// LinkTemplate overrides Config.LinkTemplate for this invitation.
	LinkTemplate string
	// TemplateKey selects the message template; default
	// Config.DefaultTemplateKey. Must be one of Config.TemplateKeys.
	TemplateKey string
	// Locale is a BCP 47 language tag for the message ("de", "pt-BR").
	Locale string
	// ExpiresIn is the validity; default Config.DefaultExpiry. ExpiresAt,
	// when set, wins. Either must fall within Config.MinExpiry..MaxExpiry.
	ExpiresIn time.Duration
	ExpiresAt time.Time
	Delivery  Delivery
	// WithCode also mints a short code (for SMS or typed entry).
	WithCode bool
	// RequireEmailMatch binds acceptance to Invitee.Email (also forced on by
	// Config.RequireEmailMatch).
	RequireEmailMatch bool
	// Supersede revokes the invitee's open invitations instead of failing
	// with ErrAlreadyExists.
	Supersede bool
	// IdempotencyKey makes a retried Create (same tenant and key) return the
	// first invitation instead of creating a second one.
	IdempotencyKey string
}

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

func hasControl(s string) bool {
	if ascii, ctl, _ := scanASCII(s); ascii {
		return ctl
	}
	return hasControlRune(s)
}

// hasControlRune is hasControl for any input, rune by rune.
func hasControlRune(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return true
		}
	}
	return false
}

// checkText validates a single-line text field: valid UTF-8, no control
// characters (they could split a mail header), at most max runes.
func (fe *fieldErrs) checkText(field, s string, max int, required bool) {
	if reason := textProblem(s, max, required); reason != "" {
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
	if ascii, control, blank := scanASCII(s); ascii && s != "" {
		// The same verdicts as below: ASCII is valid UTF-8, one rune per
		// byte, and its control characters are exactly C0 and DEL.
		switch {
		case control:
			return "contains control characters"
		case len(s) > max:
			return "is longer than " + itoa(max) + " characters"
		case blank:
			return "is blank"
		}
		return ""
	}
	return textProblemSlow(s, max, required)
}

// textProblemSlow is textProblem for any input, without the ASCII scan
// (FuzzTextProblem holds the fast path to it).
func textProblemSlow(s string, max int, required bool) string {
	switch {
	case s == "":
		if required {
			return "is required"
		}
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case hasControlRune(s):
		return "contains control characters"
	case utf8.RuneCountInString(s) > max:
		return "is longer than " + itoa(max) + " characters"
	case strings.TrimSpace(s) == "":
		return "is blank"
	}
	return ""
}

func itoa(n int) string { return strconv.Itoa(n) }

// NormalizeEmail trims surrounding space and checks the address: at most
// MaxEmailLen bytes, a bare addr-spec (no display name) with a dotted
// domain, no control characters. It reports false when invalid.
func NormalizeEmail(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > MaxEmailLen || hasControl(s) || !utf8.ValidString(s) {
		return "", false
	}
	if !simpleEmail(s) && !parsedEmail(s) {
		return "", false
	}
	return s, true
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
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" {
		fe.add(field, "must be an absolute URI")
		return
	}
	switch u.Scheme {
	case "https":
	case "http":
		switch strings.ToLower(u.Hostname()) {
		case "localhost", "127.0.0.1", "::1":
		default:
			fe.add(field, "must use https (http only for localhost)")
		}
	default:
		fe.add(field, "must use https (http only for localhost)")
	}
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
			fe.add(field+"["+itoa(i)+"]", reason)
		}
	}
}

// checkData validates the pre-filled data and metadata and returns nothing;
// the combined JSON size must stay within max bytes.
func (fe *fieldErrs) checkData(data map[string]string, form map[string]map[string]string, meta json.RawMessage, max int) {
	size := len(meta)
	// Field names are built only for bad entries.
	for k, v := range data {
		if reason := textProblem(k, MaxIDLen, true); reason != "" {
			fe.add("Data["+strconv.Quote(k)+"]", reason)
		}
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			fe.add("Data["+strconv.Quote(k)+"]", "value is not valid UTF-8 or contains NUL")
		}
		size += len(k) + len(v) + 6
	}
	for id, fields := range form {
		if reason := textProblem(id, MaxIDLen, true); reason != "" {
			fe.add("FormData["+strconv.Quote(id)+"]", reason)
		}
		size += len(id) + 6
		for k, v := range fields {
			if reason := textProblem(k, MaxIDLen, true); reason != "" {
				fe.add("FormData["+strconv.Quote(id)+"]["+strconv.Quote(k)+"]", reason)
			}
			if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
				fe.add("FormData["+strconv.Quote(id)+"]["+strconv.Quote(k)+"]", "value is not valid UTF-8 or contains NUL")
			}
			size += len(k) + len(v) + 6
		}
	}
	// NUL (\u0000) is valid JSON but no PostgreSQL jsonb can store it, so
	// no store accepts it.
	if len(meta) > 0 && (!json.Valid(meta) || bytes.Contains(meta, []byte(`\u0000`))) {
		fe.add("Metadata", "is not valid JSON or contains \\u0000")
	}
	if size > max {
		fe.add("Data", "pre-filled data and metadata exceed "+itoa(max)+" bytes")
	}
}

// checkInvitee normalises and validates the identifiers in place.
func (fe *fieldErrs) checkInvitee(iv *Invitee) {
	if iv.Email != "" {
		if e, ok := NormalizeEmail(iv.Email); ok {
			iv.Email = e
		} else {
			fe.add("Invitee.Email", "is not a valid email address of at most "+itoa(MaxEmailLen)+" bytes")
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
