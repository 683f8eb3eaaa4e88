package invite

import (
	"context"
	"slices"
	"strings"
	"time"
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
	Cursor string
	// Limit is the page size: default DefaultPageSize, at most MaxPageSize.
	Limit int
	// Descending lists newest first.
	Descending bool
}

// Page is one page of List.
type Page struct {
	Invitations []*Invitation
	// NextCursor continues the listing; "" when this is the last page.
	NextCursor string
}

// List returns the tenant's invitations matching opts, oldest first (or
// newest first), with keyset pagination: a listing never repeats or skips
// an invitation because others are created meanwhile. Use Filter.UserID for
// the invitations of one user.
func (m *Manager) List(ctx context.Context, tenantID string, opts ListOptions) (*Page, error) {
	var fe fieldErrs
	fe.checkText("TenantID", tenantID, MaxIDLen, true)
	q := Query{Filter: opts.Filter, Now: m.now(), Limit: opts.Limit, Descending: opts.Descending}
	q.States = slices.Clone(q.States)
	switch {
	case q.Limit == 0:
		q.Limit = DefaultPageSize
	case q.Limit < 0 || q.Limit > MaxPageSize:
		fe.add("Limit", "must be 1 to "+itoa(MaxPageSize))
	}
	for i, s := range q.States {
		if !s.Valid() {
			fe.add("States["+itoa(i)+"]", "is not a state")
		}
	}
	// Every filter must be something every store can compare against:
	// text without NUL, control or format characters, times in years
	// 1-9999.
	fe.checkText("UserID", q.UserID, MaxIDLen, false)
	fe.checkText("InviterID", q.InviterID, MaxIDLen, false)
	for _, t := range []struct {
		field string
		at    time.Time
	}{{"CreatedFrom", q.CreatedFrom}, {"CreatedTo", q.CreatedTo}} {
		if !t.at.IsZero() && !storableTime(t.at) {
			fe.add(t.field, "must fall in the years 1 to 9999")
		}
	}
	if q.Email != "" {
		fe.checkText("Email", q.Email, MaxEmailLen, false)
		if e, ok := m.normalizeEmail(q.Email); ok {
			q.Email = e
		} else {
			q.Email = EmailKey(strings.TrimSpace(q.Email)) // matches nothing stored since the check above
		}
	}
	if q.Phone != "" {
		p, ok := m.normalizePhone(q.Phone)
		if !ok {
			fe.add("Phone", "is not an international (E.164) phone number")
		}
		q.Phone = p
	}
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
