package invite

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"
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

// Keys returns the invitee's uniqueness keys: "email:" + EmailKey(email), "phone:" + the E.164 phone, "user:" + the user id, for the ones set.
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
// "email", "phone" or "user", Value the EmailKey of the email, the phone or
// the user id.
type InviteeKey struct{ Kind, Value string }

// AppendKeys appends the invitee's keys (those Keys joins with ":") to dst;
// with a dst of capacity 3 it allocates nothing for ASCII emails.
func (iv Invitee) AppendKeys(dst []InviteeKey) []InviteeKey {
	if iv.Email != "" {
		dst = append(dst, InviteeKey{"email", EmailKey(iv.Email)})
	}
	if iv.Phone != "" {
		dst = append(dst, InviteeKey{"phone", iv.Phone})
	}
	if iv.UserID != "" {
		dst = append(dst, InviteeKey{"user", iv.UserID})
	}
	return dst
}

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
	// form id, then field key, for hosts whose registration has several
	// forms.
	Data     map[string]string            `json:"data,omitempty"`
	FormData map[string]map[string]string `json:"form_data,omitempty"`
	// Variables are the host's own template variables for the
	// invitation's messages (an application name, custom fields), by name;
	// Message.Vars.Custom carries them. They are shown to the invitee:
	// never put a secret in one.
	Variables map[string]string `json:"variables,omitempty"`
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
	HasCode bool `json:"has_code,omitempty"`
	// State is where the invitation is in its lifecycle. Every Manager
	// method returns the effective state (Invitation.StateAt: an open
	// invitation past ExpiresAt reads as expired); a Store holds and
	// returns the stored state, which stays pending or sent until
	// ExpireDue (or a Create that it blocks) marks it expired.
	State State `json:"state"`
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
	// ResendCount counts the times the invitation was re-sent: each
	// Resend, UpdateAndResend, and Upsert with ResendOnUpdate that updated
	// it, whether the Manager delivered the new secret or returned it
	// (DeliveryReturn). Zero means the invitation still has the secret it
	// was created with; a host shows "re-sent 2 times" from it.
	// LastResentAt is when the latest of them happened (zero if never).
	ResendCount  int       `json:"resend_count"`
	LastResentAt time.Time `json:"last_resent_at,omitzero"`
	// ClosedAt is when the invitation was accepted, rejected or revoked,
	// or, once marked expired, its ExpiresAt (retention counts from it).
	ClosedAt time.Time `json:"closed_at,omitzero"`
	// AcceptedBy is the host's subject (user id) that accepted it.
	AcceptedBy string `json:"accepted_by,omitempty"`
	// Reason is the optional reason given on reject or revoke.
	Reason         string `json:"reason,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Version increases by one with every write (optimistic concurrency):
	// every change, and also the guard writes that commit a short-code
	// answer without changing anything else (no event), so an admin's
	// Update with an old Version may meet ErrConflict after an invitee
	// only verified a code.
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
	inv.Variables = maps.Clone(inv.Variables)
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
