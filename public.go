package invite

import (
	"slices"
	"time"
)

// PublicInvitation is the view of an invitation that its token holder may
// see: what a registration page, or a page saying that the invitation was
// already accepted, has expired or was revoked, shows the invitee. Its JSON
// form is snake_case, as Invitation's.
//
// The rule, field by field: it holds what the invitation's own message and
// registration form tell the invitee (who invites them, to which account,
// as whom, with which grants and pre-filled values, in which language,
// until when) and where the invitation stands, and nothing an
// administrator keeps for themselves. So it has the inviter's name but not
// their id; the invitee's email and phone but not the host's user id; the
// tenant id (the scope the token is a capability for, which links carry
// already) and the account's display name; and none of the invitation's
// id, idempotency key, metadata, client id, identity provider, redirect
// URI, link or template keys, the subject who accepted, the reason given
// on reject or revoke, delivery counters, version, or any secret or hash.
// Values are copies: changing them changes nothing stored.
type PublicInvitation struct {
	TenantID string `json:"tenant_id"`
	// AccountName is the tenant's display name.
	AccountName string `json:"account_name,omitempty"`
	// InviterName is the name of who sent the invitation.
	InviterName string `json:"inviter_name,omitempty"`
	// Email and Phone are the invitee's, as invited.
	Email      string `json:"email,omitempty"`
	Phone      string `json:"phone,omitempty"`
	GivenName  string `json:"given_name,omitempty"`
	FamilyName string `json:"family_name,omitempty"`
	// Roles and Groups are what accepting grants.
	Roles  []string `json:"roles,omitempty"`
	Groups []string `json:"groups,omitempty"`
	// Data and FormData are the pre-filled values (FormData per form id,
	// then field key).
	Data     map[string]string            `json:"data,omitempty"`
	FormData map[string]map[string]string `json:"form_data,omitempty"`
	// Locale is the language of the invitation (a BCP 47 tag), for the
	// page's own.
	Locale string `json:"locale,omitempty"`
	// RequireEmailMatch says that only Email can accept it.
	RequireEmailMatch bool `json:"require_email_match,omitempty"`
	// State is the invitation's state: the effective one (expired once
	// past ExpiresAt) in every view the Manager hands out.
	State State `json:"state"`
	// ExpiresAt is when the invitation expires (or expired).
	ExpiresAt time.Time `json:"expires_at"`
	// ClosedAt is when it was accepted, rejected or revoked, or, once
	// marked expired, its expiry; zero while it is open.
	ClosedAt time.Time `json:"closed_at,omitzero"`
}

// Public returns the invitation's public view (see PublicInvitation),
// with inv.State as its state: for an invitation a Manager returned, the
// effective state. Lookup's caller gets it this way; a closed invitation's
// comes inside Lookup's *TransitionError.
func (inv *Invitation) Public() *PublicInvitation {
	p := &PublicInvitation{
		TenantID: inv.TenantID, AccountName: inv.AccountName, InviterName: inv.Inviter.Name,
		Email: inv.Invitee.Email, Phone: inv.Invitee.Phone,
		GivenName: inv.GivenName, FamilyName: inv.FamilyName,
		Roles: slices.Clone(inv.Roles), Groups: slices.Clone(inv.Groups),
		Locale: inv.Locale, RequireEmailMatch: inv.RequireEmailMatch,
		State: inv.State, ExpiresAt: inv.ExpiresAt, ClosedAt: inv.ClosedAt,
	}
	p.Data, p.FormData = cloneData(inv.Data, inv.FormData)
	return p
}

// Name is the invitee's full name ("given family").
func (p *PublicInvitation) Name() string {
	return (&Invitation{GivenName: p.GivenName, FamilyName: p.FamilyName}).Name()
}
