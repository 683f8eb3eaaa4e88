package invite

import (
	"slices"
	"strings"
	"time"
	"unicode"
)

// Filter selects invitations in List and Count. The zero Filter keeps
// every invitation that is not expired. Every field set narrows the
// selection: an invitation is kept when it passes all of them.
type Filter struct {
	// States keeps invitations whose effective state is one of these.
	// An invitation that was delivered is StateSent, not StatePending:
	// ask for both (or set Open) for the invitations still waiting for an
	// answer.
	States []State `json:"states,omitempty"`
	// Open keeps invitations whose effective state is pending or sent:
	// those the invitee can still accept. It adds StatePending and
	// StateSent to States (Open with States{StateAccepted} keeps open and
	// accepted invitations).
	Open bool `json:"open,omitempty"`
	// Email (case-insensitive), Phone (E.164), UserID and InviterID match
	// exactly when set.
	Email     string `json:"email,omitempty"`
	Phone     string `json:"phone,omitempty"`
	UserID    string `json:"user_id,omitempty"`
	InviterID string `json:"inviter_id,omitempty"`
	// ClientID and TemplateKey match the invitation's exactly when set.
	ClientID    string `json:"client_id,omitempty"`
	TemplateKey string `json:"template_key,omitempty"`
	// Role and Group keep invitations whose Roles (Groups) hold this one,
	// compared exactly.
	Role  string `json:"role,omitempty"`
	Group string `json:"group,omitempty"`
	// Resent, when set, keeps the invitations that were re-sent (true:
	// ResendCount above zero) or never re-sent (false: ResendCount zero);
	// nil keeps both. It looks at ResendCount only, whatever the state: an
	// accepted invitation that was re-sent before passes true. With Open
	// it splits the invitations still waiting for an answer into those
	// that got a new link and those that still have their first, with
	// paging and Count as for any other filter. In JSON it is absent
	// (nil), true or false; in Go, set it with new(true) or new(false).
	Resent *bool `json:"resent,omitempty"`
	// Search keeps invitations whose invitee's name or email starts with
	// it: the full name (GivenName, a space, FamilyName; or whichever of
	// the two is set), the FamilyName alone, or the email. Letters match
	// whatever their case, in every script: names compare in SearchKey's
	// form ("ada" finds "Ada Lovelace", "öd" finds "Ödön", "анна" finds
	// "Анна"), emails in EmailKey's ("ada" finds "ADA@example.com"). The
	// text is otherwise taken as written: accents are not ignored ("e"
	// does not find "É"), nothing is normalised, and % and _ are not
	// wildcards. List and Count trim the white space around it and refuse
	// more than MaxSearchLen characters.
	Search string `json:"search,omitempty"`
	// CreatedFrom (inclusive) and CreatedTo (exclusive) bound CreatedAt.
	CreatedFrom time.Time `json:"created_from,omitzero"`
	CreatedTo   time.Time `json:"created_to,omitzero"`
	// IncludeExpired keeps invitations whose effective state is expired;
	// without it they are left out unless States names StateExpired.
	IncludeExpired bool `json:"include_expired,omitempty"`
}

// MaxSearchLen bounds Filter.Search, in characters.
const MaxSearchLen = 100

// MaxOffset bounds ListOptions.Offset (and Query.Offset).
const MaxOffset = 10_000

// Query is what the Manager asks Store.List for.
type Query struct {
	Filter
	// Now is the instant effective states are computed at.
	Now time.Time
	// After is the cursor returned by the previous page (nil: from the start).
	After *Cursor
	// Offset is how many matching invitations to skip (after After, if
	// set) before the page starts. The Manager passes 0..MaxOffset, and 0
	// whenever After is set.
	Offset int
	// Limit is the page size (the Manager passes 1..MaxPageSize).
	Limit int
	// Descending orders newest first.
	Descending bool
}

// WantedStates returns the states f keeps by name: States, with
// StatePending and StateSent added when Open is set, without duplicates;
// nil when f names none (then every state passes but expired, unless
// IncludeExpired).
func (f *Filter) WantedStates() []State {
	if !f.Open {
		return f.States
	}
	out := make([]State, 0, len(f.States)+2)
	for _, s := range append([]State{StatePending, StateSent}, f.States...) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Matches reports whether inv passes the filter at now. Stores that filter
// in Go use it so every backend agrees.
func (f *Filter) Matches(inv *Invitation, now time.Time) bool {
	st := inv.StateAt(now)
	if states := f.WantedStates(); len(states) > 0 {
		if !slices.Contains(states, st) {
			return false
		}
	} else if st == StateExpired && !f.IncludeExpired {
		return false
	}
	if f.Email != "" && EmailKey(inv.Invitee.Email) != EmailKey(f.Email) {
		return false
	}
	if (f.Phone != "" && inv.Invitee.Phone != f.Phone) || (f.UserID != "" && inv.Invitee.UserID != f.UserID) ||
		(f.InviterID != "" && inv.Inviter.ID != f.InviterID) {
		return false
	}
	if (f.ClientID != "" && inv.ClientID != f.ClientID) || (f.TemplateKey != "" && inv.TemplateKey != f.TemplateKey) ||
		(f.Role != "" && !slices.Contains(inv.Roles, f.Role)) || (f.Group != "" && !slices.Contains(inv.Groups, f.Group)) {
		return false
	}
	if f.Resent != nil && (inv.ResendCount > 0) != *f.Resent {
		return false
	}
	if f.Search != "" && !searchMatches(inv, f.Search) {
		return false
	}
	if !f.CreatedFrom.IsZero() && inv.CreatedAt.Before(f.CreatedFrom) {
		return false
	}
	if !f.CreatedTo.IsZero() && !inv.CreatedAt.Before(f.CreatedTo) {
		return false
	}
	return true
}

// searchMatches reports whether inv's name keys start with SearchKey(search)
// or its email's key with EmailKey(search).
func searchMatches(inv *Invitation, search string) bool {
	full, family := inv.NameKeys()
	prefix := SearchKey(search)
	if (full != "" && strings.HasPrefix(full, prefix)) || (family != "" && strings.HasPrefix(family, prefix)) {
		return true
	}
	return inv.Invitee.Email != "" && strings.HasPrefix(EmailKey(inv.Invitee.Email), EmailKey(search))
}

// NameKeys returns the keys of the invitee's name that Filter.Search
// matches by prefix, in SearchKey's form: the full name (GivenName and
// FamilyName joined by a space, or whichever of the two is set) and the
// FamilyName alone; "" for one not set. A store that indexes the search
// keeps both, rewritten on every write of the invitation.
func (inv *Invitation) NameKeys() (full, family string) {
	switch {
	case inv.GivenName == "":
		full = inv.FamilyName
	case inv.FamilyName == "":
		full = inv.GivenName
	default:
		full = inv.GivenName + " " + inv.FamilyName
	}
	return SearchKey(full), SearchKey(inv.FamilyName)
}

// SearchKey is the form Filter.Search compares names in: every character
// that has case variants in its lower-case form, reached through its
// upper case, so that every case variant of a letter has the same key:
// all those strings.EqualFold equates ("K", "k" and the Kelvin sign; "Σ",
// "σ" and "ς"; "ẞ" and "ß"), and also the Turkish "İ" and "ı", which
// become "i". Every other character is kept as it is; the length in
// characters does not change. It is Unicode's simple case mapping: "ß"
// does not become "ss", and no accent is removed.
func SearchKey(s string) string {
	return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, s)
}

// checkFilter validates f in place for List and Count, with fe collecting
// the bad fields: every filter must be something every store can compare
// against (text without NUL, control or format characters, times in
// years 1-9999), and Email and Phone are normalised as stored. States and
// Resent are copied: the store never shares them with the caller.
func (m *Manager) checkFilter(fe *fieldErrs, f *Filter) {
	f.States = slices.Clone(f.States)
	if f.Resent != nil {
		f.Resent = new(*f.Resent)
	}
	for i, s := range f.States {
		if !s.Valid() {
			fe.add("States["+itoa(i)+"]", "is not a state")
		}
	}
	for _, t := range []struct{ field, v string }{
		{"UserID", f.UserID}, {"InviterID", f.InviterID}, {"ClientID", f.ClientID},
		{"TemplateKey", f.TemplateKey}, {"Role", f.Role}, {"Group", f.Group},
	} {
		fe.checkText(t.field, t.v, MaxIDLen, false)
	}
	// A search box sends what was typed: the white space around it is
	// dropped, and text of white space only searches nothing. Names may
	// hold the zero-width joiners, so the search may too.
	f.Search = strings.TrimSpace(f.Search)
	if reason := textVerdict(f.Search, MaxSearchLen, false, true); reason != "" {
		fe.add("Search", reason)
	}
	for _, t := range []struct {
		field string
		at    time.Time
	}{{"CreatedFrom", f.CreatedFrom}, {"CreatedTo", f.CreatedTo}} {
		if !t.at.IsZero() && !storableTime(t.at) {
			fe.add(t.field, "must fall in the years 1 to 9999")
		}
	}
	if f.Email != "" {
		fe.checkText("Email", f.Email, MaxEmailLen, false)
		if e, ok := m.normalizeEmail(f.Email); ok {
			f.Email = e
		} else {
			f.Email = EmailKey(strings.TrimSpace(f.Email)) // matches nothing stored since the check above
		}
	}
	if f.Phone != "" {
		p, ok := m.normalizePhone(f.Phone)
		if !ok {
			fe.add("Phone", "is not an international (E.164) phone number")
		}
		f.Phone = p
	}
}
