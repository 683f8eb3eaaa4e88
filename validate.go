package invite

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on input sizes.
const (
	MaxNameLen   = 100
	MaxEmailLen  = 256
	MaxPhoneLen  = 50
	MaxIDLen     = 255
	MaxListItems = 1000
	MaxBatchSize = 1000
	// MaxVariableLen bounds the value of a template variable
	// (CreateInput.Variables), in characters.
	MaxVariableLen = 1000
	maxTemplateLen = 2048
)

// builtinVars are the names of the variables every message has (Vars.Map).
var builtinVars = []string{"name", "given_name", "family_name", "invite_link", "invited_by", "account_name", "expires_at", "code"}

// checkVariables checks template variables: at most max bytes together,
// names of 1 to 64 of [a-z0-9_] starting with a letter and not built in,
// values text of at most MaxVariableLen characters.
func (fe *fieldErrs) checkVariables(vars map[string]string, max int) {
	size := 0
	for k, v := range vars {
		size += len(k) + len(v) + 6
	}
	if size > max {
		fe.add("Variables", "together exceed "+itoa(max)+" bytes")
		return
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		field := func() string { return "Variables[" + quoteKey(k) + "]" }
		if !validVarName(k) {
			fe.addNamed(field, "is not a variable name (1 to 64 lower-case letters, digits and underscores, starting with a letter)")
		} else if slices.Contains(builtinVars, k) {
			fe.addNamed(field, "conflicts with the built-in variable of that name")
		}
		if reason := textProblem(vars[k], MaxVariableLen, false); reason != "" {
			fe.addNamed(field, reason)
		}
	}
}

// validVarName reports whether s is a template variable name.
func validVarName(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
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
		} else if len(strings.TrimSpace(iv.Email)) > MaxEmailLen {
			fe.add("Invitee.Email", "is longer than "+itoa(MaxEmailLen)+" bytes")
		} else {
			fe.add("Invitee.Email", emailRule)
		}
	}
	if iv.Phone != "" {
		if p, ok := m.normalizePhone(iv.Phone); ok {
			iv.Phone = p
		} else if utf8.RuneCountInString(iv.Phone) > MaxPhoneLen {
			fe.add("Invitee.Phone", "is longer than "+itoa(MaxPhoneLen)+" characters")
		} else {
			reason := "is not an international (E.164) phone number of at most " + itoa(MaxPhoneLen) + " characters"
			if m.cfg.NormalizePhone != nil {
				reason = "is not a valid phone number of at most " + itoa(MaxPhoneLen) + " characters"
			}
			fe.add("Invitee.Phone", reason)
		}
	}
	fe.checkText("Invitee.UserID", iv.UserID, MaxIDLen, false)
}

// checkPersonName checks the invitee's given or family name: required
// with Config.RequireNames.
func (m *Manager) checkPersonName(fe *fieldErrs, field, s string) {
	if m.cfg.RequireNames && strings.TrimSpace(s) == "" {
		fe.add(field, "is required")
		return
	}
	fe.checkName(field, s)
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
		fe.add(field, "must be between "+humanDuration(m.cfg.MinExpiry)+" and "+humanDuration(m.cfg.MaxExpiry)+" from now")
	}
}

// expiresIn is an input's ExpiresIn, from whichever of ExpiresIn (d),
// ExpiresInSeconds (secs) and ExpiresInDays (days) is set (0 when none
// is): a second one set is a conflict; a count given as 0, negative or
// absurd is out of range.
func (m *Manager) expiresIn(fe *fieldErrs, d time.Duration, secs *int64, days *int) time.Duration {
	set := "ExpiresIn"
	if d == 0 {
		set = ""
	}
	var nDays *int64
	if days != nil {
		n := int64(*days)
		nDays = &n
	}
	for _, f := range []struct {
		name  string
		n     *int64
		scale time.Duration
	}{{"ExpiresInSeconds", secs, time.Second}, {"ExpiresInDays", nDays, 24 * time.Hour}} {
		switch {
		case f.n == nil:
		case set != "":
			fe.add(f.name, "must not be set with "+set)
		case *f.n <= 0 || *f.n > int64(m.cfg.MaxExpiry/f.scale)+1:
			fe.add(f.name, "must be between "+humanDuration(m.cfg.MinExpiry)+" and "+humanDuration(m.cfg.MaxExpiry))
			set = f.name
		default:
			d, set = time.Duration(*f.n)*f.scale, f.name
		}
	}
	return d
}

// expiryField names the expiry field an input set: ExpiresIn, or the
// form a JSON client wrote (ExpiresInSeconds, ExpiresInDays), so that an
// out-of-range validity points at what the client sent.
func expiryField(d time.Duration, secs *int64, days *int) string {
	switch {
	case d != 0:
		return "ExpiresIn"
	case secs != nil:
		return "ExpiresInSeconds"
	case days != nil:
		return "ExpiresInDays"
	}
	return "ExpiresIn"
}

// humanDuration says d the way a person would: "90 days", "1 hour",
// "15 minutes", "1 day and 12 hours"; d.String() when it is not a whole
// number of seconds.
func humanDuration(d time.Duration) string {
	if d <= 0 || d%time.Second != 0 {
		return d.String()
	}
	units := []struct {
		name string
		size time.Duration
	}{{"day", 24 * time.Hour}, {"hour", time.Hour}, {"minute", time.Minute}, {"second", time.Second}}
	var parts []string
	for _, u := range units {
		if n := d / u.size; n > 0 {
			s := itoa(int(n)) + " " + u.name
			if n > 1 {
				s += "s"
			}
			parts = append(parts, s)
			d -= n * u.size
		}
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// checkCreate validates and normalises in (in place) as of now and returns
// the validity the new invitation gets.
func (m *Manager) checkCreate(in *CreateInput, now time.Time) (time.Duration, error) {
	var fe fieldErrs
	fe.checkText("TenantID", in.TenantID, MaxIDLen, true)
	m.checkInvitee(&fe, &in.Invitee)
	m.checkPersonName(&fe, "GivenName", in.GivenName)
	m.checkPersonName(&fe, "FamilyName", in.FamilyName)
	fe.checkText("Inviter.ID", in.Inviter.ID, MaxIDLen, false)
	fe.checkName("Inviter.Name", in.Inviter.Name)
	fe.checkName("AccountName", in.AccountName)
	fe.checkList("Roles", in.Roles)
	fe.checkList("Groups", in.Groups)
	fe.checkData(in.Roles, in.Groups, in.Data, in.FormData, in.Metadata, m.cfg.MaxDataBytes)
	fe.checkVariables(in.Variables, m.cfg.MaxDataBytes)
	fe.checkText("ClientID", in.ClientID, MaxIDLen, false)
	fe.checkText("IdentityProviderID", in.IdentityProviderID, MaxIDLen, false)
	m.checkRedirectURI(&fe, "RedirectURI", in.RedirectURI)
	fe.checkText("IdempotencyKey", in.IdempotencyKey, MaxIDLen, false)
	if in.LinkTemplate != "" {
		if len(in.LinkTemplate) > maxTemplateLen || hasControl(in.LinkTemplate) {
			fe.add("LinkTemplate", "is longer than "+itoa(maxTemplateLen)+" bytes or contains control characters")
		} else if t, err := parseLinkTemplate(in.LinkTemplate); err != nil {
			fe.add("LinkTemplate", "does not parse: "+err.Error())
		} else if reason := linkProblem(renderSample(t), m.cfg.LinkHosts); reason != "" {
			fe.add("LinkTemplate", "renders a link that "+reason)
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
	validity := m.expiresIn(&fe, in.ExpiresIn, in.ExpiresInSeconds, in.ExpiresInDays)
	switch {
	case !in.ExpiresAt.IsZero():
		validity = in.ExpiresAt.Sub(now)
		m.checkExpiry(&fe, "ExpiresAt", validity)
	case validity == 0:
		validity = m.cfg.DefaultExpiry
	default:
		m.checkExpiry(&fe, expiryField(in.ExpiresIn, in.ExpiresInSeconds, in.ExpiresInDays), validity)
	}
	if in.InviterLimit > 0 && !m.limits {
		fe.add("InviterLimit", "needs a store that enforces it (OpenLimiter)")
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
