package invite

import (
	"context"
)

// Get returns the tenant's invitation with its effective state (an open
// invitation past its expiry reads as expired).
func (m *Manager) Get(ctx context.Context, tenantID, id string) (*Invitation, error) {
	if err := checkRef(tenantID, id); err != nil {
		return nil, err
	}
	rec, err := m.store.Get(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	inv := &rec.Invitation
	inv.State = inv.StateAt(m.now())
	return inv, nil
}

// ListOptions selects and pages List.
type ListOptions struct {
	Filter
	// Cursor is Page.NextCursor of the previous page ("" for the first).
	Cursor string `json:"cursor,omitempty"`
	// Offset skips that many matching invitations before the page starts
	// (0 to MaxOffset), for hosts that page by number ("skip 200, take
	// 100"). It cannot be combined with Cursor. Prefer the cursor: the
	// store still reads every skipped invitation, so a page costs as much
	// as Offset+Limit rows, and invitations created or deleted between two
	// requests shift offset pages (one may be listed twice, or never),
	// which keyset pages never do.
	Offset int `json:"offset,omitempty"`
	// Limit is the page size: default DefaultPageSize, at most MaxPageSize.
	Limit int `json:"limit,omitempty"`
	// Descending lists newest first.
	Descending bool `json:"descending,omitempty"`
}

// Page is one page of List.
type Page struct {
	Invitations []*Invitation `json:"invitations"`
	// NextCursor continues the listing after this page (also after a page
	// asked for by Offset); "" when this is the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// List returns the tenant's invitations matching opts, oldest first (or
// newest first), a page at a time. With Cursor it pages by keyset: a
// listing never repeats or skips an invitation because others are created
// meanwhile. With Offset it pages by position (see ListOptions.Offset).
// Use Filter.UserID for the invitations of one user, Filter.Open for
// those still waiting for an answer, Count for how many match.
func (m *Manager) List(ctx context.Context, tenantID string, opts ListOptions) (*Page, error) {
	var fe fieldErrs
	fe.checkText("TenantID", tenantID, MaxIDLen, true)
	q := Query{Filter: opts.Filter, Now: m.now(), Limit: opts.Limit, Offset: opts.Offset, Descending: opts.Descending}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultPageSize
	case q.Limit < 0 || q.Limit > MaxPageSize:
		fe.add("Limit", "must be 1 to "+itoa(MaxPageSize))
	}
	switch {
	case q.Offset < 0 || q.Offset > MaxOffset:
		fe.add("Offset", "must be 0 to "+itoa(MaxOffset))
	case q.Offset > 0 && opts.Cursor != "":
		fe.add("Offset", "cannot be combined with Cursor: page by one or the other")
	}
	m.checkFilter(&fe, &q.Filter)
	if opts.Cursor != "" {
		c, err := ParseCursor(opts.Cursor)
		if err != nil {
			fe.add("Cursor", "is malformed")
		}
		q.After = c
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	items, next, err := m.store.List(ctx, tenantID, q)
	if err != nil {
		return nil, err
	}
	page := &Page{Invitations: items}
	for _, inv := range items {
		inv.State = inv.StateAt(q.Now)
	}
	if next != nil {
		page.NextCursor = next.String()
	}
	return page, nil
}

// Lookup returns what a registration form needs (invitee, inviter, tenant,
// pre-filled data, grants, expiry) for an open invitation; its Public
// method is the part to show the token holder. It never changes anything:
// mail link scanners fetch every link.
//
// An invitation that can no longer be accepted is a *TransitionError
// (matching ErrExpired, ErrAlreadyAccepted or ErrInvalidTransition as
// usual) whose Public field is the invitation's public view, so that the
// page can say who invited whom to what and that it was accepted, has
// expired, or was rejected or revoked:
//
//	var te *invite.TransitionError
//	if errors.As(err, &te) && te.Public != nil { /* render te.Public */ }
//
// A token that matches nothing (or another tenant's, with LookupIn) is
// ErrInvalidToken and carries nothing. So is a previous token Resend
// replaced, unless Config.KeepPreviousTokens; one past its own expiry
// while the invitation is still open matches ErrExpired, without a view
// (the invitation itself lives on under its newer link).
func (m *Manager) Lookup(ctx context.Context, token string) (*Invitation, error) {
	return m.LookupIn(ctx, "", token)
}

// LookupIn is Lookup pinned to a tenant: a token of another tenant is
// ErrInvalidToken. A host serving each tenant under its own path (or host
// name) uses it so that one tenant's page never shows another's
// invitation. tenantID "" pins nothing.
func (m *Manager) LookupIn(ctx context.Context, tenantID, token string) (*Invitation, error) {
	h, err := m.parseToken(token, tenantID)
	if err != nil {
		return nil, err
	}
	rec, err := m.byToken(h, tenantID)(ctx)
	if err != nil {
		return nil, err
	}
	inv := &rec.Invitation
	now := m.now()
	if _, err := check(OpAccept, inv, now); err != nil {
		if te, ok := err.(*TransitionError); ok {
			inv.State = inv.StateAt(now)
			te.Public = inv.Public()
		}
		return nil, err
	}
	return inv, nil
}
