package invite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Revoke cancels an open invitation (or an expired one) in the tenant.
// reason is optional. An invitation already revoked (by Revoke, or
// superseded) is returned as it is, with no write and no event, so that
// an admin's retry is safe; its first Reason stays. An accepted or
// rejected invitation is a *TransitionError.
func (m *Manager) Revoke(ctx context.Context, tenantID, id, reason string) (*Invitation, error) {
	if err := checkRef(tenantID, id); err != nil {
		return nil, err
	}
	return m.close(ctx, m.byID(tenantID, id), OpRevoke, EventRevoked, ActorFrom(ctx, Actor{Kind: ActorAdmin}), reason, true)
}

// close moves the invitation load finds to the closed state op leads to.
// With idempotent set, an invitation already in that state is returned
// unchanged, without a write.
func (m *Manager) close(ctx context.Context, load func(context.Context) (*Record, error), op Operation, ev EventType, actor Actor, reason string, idempotent bool) (*Invitation, error) {
	var fe fieldErrs
	checkReason(&fe, reason)
	if err := fe.err(); err != nil {
		return nil, err
	}
	rec, _, err := m.mutate(ctx, load, func(cur *Record, now time.Time) (change, error) {
		if idempotent && cur.Invitation.State == op.target() {
			return change{}, nil // closed so already (a terminal state): nothing to write
		}
		to, err := check(op, &cur.Invitation, now)
		if err != nil {
			return change{}, err
		}
		next := m.successor(cur)
		closeAs(&next.Invitation, to, now, reason)
		return write(next, ev, actor), nil
	})
	if err != nil {
		return nil, err
	}
	return &rec.Invitation, nil
}

// checkReason checks the optional reason of a reject or revoke.
func checkReason(fe *fieldErrs, reason string) {
	if len(reason) > 1000 || !utf8.ValidString(reason) || hasControl(strings.ReplaceAll(reason, "\n", " ")) {
		fe.add("Reason", "is longer than 1000 bytes, not valid UTF-8 or contains control or invisible formatting characters")
	}
}

// UpdateInput changes an invitation. Nil fields stay as they are.
type UpdateInput struct {
	TenantID string `json:"tenant_id,omitempty"`
	ID       string `json:"id,omitempty"`
	// Version, when not 0, is the version the caller read: the update is
	// ErrConflict if the invitation changed since.
	Version            int64                         `json:"version,omitempty"`
	ExpiresAt          *time.Time                    `json:"expires_at,omitempty"`
	GivenName          *string                       `json:"given_name,omitempty"`
	FamilyName         *string                       `json:"family_name,omitempty"`
	Roles              *[]string                     `json:"roles,omitempty"`
	Groups             *[]string                     `json:"groups,omitempty"`
	Data               *map[string]string            `json:"data,omitempty"`
	FormData           *map[string]map[string]string `json:"form_data,omitempty"`
	Variables          *map[string]string            `json:"variables,omitempty"`
	Metadata           *json.RawMessage              `json:"metadata,omitempty"`
	IdentityProviderID *string                       `json:"identity_provider_id,omitempty"`
	RedirectURI        *string                       `json:"redirect_uri,omitempty"`
	Locale             *string                       `json:"locale,omitempty"`
}

// Update changes an open invitation's expiry, grants, data, names, identity
// provider, redirect URI or locale, with optimistic concurrency. Expired
// and closed invitations are a *TransitionError (use Resend to renew, or
// UpdateAndResend to renew with changes). The secret stays; the event is
// invitation.updated. An input that changes nothing writes nothing.
func (m *Manager) Update(ctx context.Context, in UpdateInput) (*Invitation, error) {
	rec, _, err := m.update(ctx, in, nil)
	if err != nil {
		return nil, err
	}
	return &rec.Invitation, nil
}

// UpdateAndResend is Update and Resend in one atomic write: it applies in
// (any of its fields, or none) and mints a new secret (and short code, if
// the invitation has one) for the edited invitation, so the message, link
// and code reflect the edits, then delivers it as Resend does (opts). With
// a Store that implements Outbox the message is queued in that same
// write, so a crash after it still delivers. The Result carries the new
// secret and link exactly as Resend's (Token, Code, Link; DeliveryErr
// when the Manager's own attempt failed).
//
// It follows the resend rules: the previous token stops working (unless
// Config.KeepPreviousTokens), an expired invitation is renewed as pending,
// and accepted, rejected and revoked ones are a *TransitionError. The
// validity restarts now and runs until in.ExpiresAt when set, else for
// opts.ExpiresIn, else for the validity last given; setting both
// in.ExpiresAt and opts.ExpiresIn is a *ValidationError. in.Version guards
// it as in Update. The one event is invitation.resent, whose Old and New
// show the edits too; ResendCount grows by one.
func (m *Manager) UpdateAndResend(ctx context.Context, in UpdateInput, opts ResendOptions) (*Result, error) {
	rec, c, err := m.update(ctx, in, &opts)
	if err != nil {
		return nil, err
	}
	return m.resendResult(ctx, rec, c, opts.Delivery == DeliverySend), nil
}

// update runs Update, and with resend set UpdateAndResend's write.
func (m *Manager) update(ctx context.Context, in UpdateInput, resend *ResendOptions) (*Record, change, error) {
	now := m.now()
	var fe fieldErrs
	fe.checkText("TenantID", in.TenantID, MaxIDLen, true)
	fe.checkText("ID", in.ID, MaxIDLen, true)
	if in.ExpiresAt != nil {
		m.checkExpiry(&fe, "ExpiresAt", in.ExpiresAt.Sub(now))
	}
	if resend != nil {
		m.checkResend(&fe, resend)
		if in.ExpiresAt != nil && resend.ExpiresIn != 0 {
			fe.add("ExpiresIn", "must not be set with ExpiresAt")
		}
	}
	// Names are trimmed as Create trims them (into new strings: the
	// pointers are the caller's).
	for _, name := range []**string{&in.GivenName, &in.FamilyName} {
		if *name != nil {
			trimmed := strings.TrimSpace(**name)
			*name = &trimmed
		}
	}
	if resend == nil && in == (UpdateInput{TenantID: in.TenantID, ID: in.ID, Version: in.Version}) {
		// Nothing to change: no write, no event.
		if err := fe.err(); err != nil {
			return nil, change{}, err
		}
		rec, err := m.store.Get(ctx, in.TenantID, in.ID)
		if err != nil {
			return nil, change{}, err
		}
		inv := &rec.Invitation
		if in.Version != 0 && inv.Version != in.Version {
			return nil, change{}, fmt.Errorf("%w: invitation %s is at version %d, not %d", ErrConflict, in.ID, inv.Version, in.Version)
		}
		if _, err := check(OpUpdate, inv, now); err != nil {
			return nil, change{}, err
		}
		inv.State = inv.StateAt(now)
		return rec, change{}, nil
	}
	if in.GivenName != nil {
		m.checkPersonName(&fe, "GivenName", *in.GivenName)
	}
	if in.FamilyName != nil {
		m.checkPersonName(&fe, "FamilyName", *in.FamilyName)
	}
	if in.Variables != nil {
		fe.checkVariables(*in.Variables, m.cfg.MaxDataBytes)
	}
	if in.Roles != nil {
		fe.checkList("Roles", *in.Roles)
	}
	if in.Groups != nil {
		fe.checkList("Groups", *in.Groups)
	}
	if in.IdentityProviderID != nil {
		fe.checkText("IdentityProviderID", *in.IdentityProviderID, MaxIDLen, false)
	}
	if in.RedirectURI != nil {
		m.checkRedirectURI(&fe, "RedirectURI", *in.RedirectURI)
	}
	if in.Locale != nil && *in.Locale != "" && !validLocale(*in.Locale) {
		fe.add("Locale", "is not a BCP 47 language tag")
	}
	if err := fe.err(); err != nil {
		return nil, change{}, err
	}
	actor := ActorFrom(ctx, Actor{Kind: ActorAdmin})
	return m.mutate(ctx, m.byID(in.TenantID, in.ID), func(cur *Record, now time.Time) (change, error) {
		if in.Version != 0 && cur.Invitation.Version != in.Version {
			return change{}, fmt.Errorf("%w: invitation %s is at version %d, not %d", ErrConflict, cur.Invitation.ID, cur.Invitation.Version, in.Version)
		}
		// Only an open invitation may be updated: a lapsed one revived with
		// a new ExpiresAt would keep its old secret (Resend renews it, and
		// so does an update with a resend).
		op := OpUpdate
		if resend != nil {
			op = OpResend
		}
		to, err := check(op, &cur.Invitation, now)
		if err != nil {
			return change{}, err
		}
		next := cur.shallow()
		inv := &next.Invitation
		if in.ExpiresAt != nil {
			// The validity restarts now (Resend renews it for as long).
			inv.IssuedAt, inv.ExpiresAt = now, in.ExpiresAt.UTC().Truncate(time.Microsecond)
		}
		setIf(&inv.GivenName, in.GivenName)
		setIf(&inv.FamilyName, in.FamilyName)
		if in.Roles != nil {
			inv.Roles = slices.Clone(*in.Roles)
		}
		if in.Groups != nil {
			inv.Groups = slices.Clone(*in.Groups)
		}
		if in.Data != nil {
			inv.Data, _ = cloneData(*in.Data, nil)
		}
		if in.FormData != nil {
			_, inv.FormData = cloneData(nil, *in.FormData)
		}
		if in.Metadata != nil {
			inv.Metadata = slices.Clone(*in.Metadata)
		}
		if in.Variables != nil {
			inv.Variables = maps.Clone(*in.Variables)
		}
		setIf(&inv.IdentityProviderID, in.IdentityProviderID)
		setIf(&inv.RedirectURI, in.RedirectURI)
		setIf(&inv.Locale, in.Locale)
		var dfe fieldErrs
		dfe.checkData(inv.Roles, inv.Groups, inv.Data, inv.FormData, inv.Metadata, m.cfg.MaxDataBytes)
		if err := dfe.err(); err != nil {
			return change{}, err
		}
		if resend == nil {
			return write(next, EventUpdated, actor), nil
		}
		expires := now.Add(m.resendValidity(&cur.Invitation, *resend))
		if in.ExpiresAt != nil {
			expires = *in.ExpiresAt
		}
		return m.resendChange(cur, next, to, expires, resend.Delivery == DeliverySend, actor, now)
	})
}

func setIf[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// Delete removes the invitation. version, when not 0, must be the stored
// version (else ErrConflict).
func (m *Manager) Delete(ctx context.Context, tenantID, id string, version int64) error {
	if err := checkRef(tenantID, id); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		cur, err := m.store.Get(ctx, tenantID, id)
		if err != nil {
			return err
		}
		if version != 0 && cur.Invitation.Version != version {
			return fmt.Errorf("%w: invitation %s is at version %d, not %d", ErrConflict, id, cur.Invitation.Version, version)
		}
		now := m.now()
		if _, err := check(OpDelete, &cur.Invitation, now); err != nil {
			return err
		}
		ev := m.appendEvent(ctx, nil, EventDeleted, Actor{Kind: ActorAdmin}, &cur.Invitation, nil, now)
		err = m.apply(ctx, &Batch{Writes: []Write{{Record: cur, Expect: cur.Invitation.Version, Delete: true}}, Events: ev})
		if err == nil || !errors.Is(err, ErrConflict) || attempt >= maxRetries {
			return err
		}
	}
}

// ForgetPreviousTokens invalidates the earlier tokens that Resend kept
// valid (Config.KeepPreviousTokens) for one invitation, so that only its
// current token works: for an earlier link that leaked. It writes (and
// emits invitation.updated) only when there is a token to forget.
func (m *Manager) ForgetPreviousTokens(ctx context.Context, tenantID, id string) (*Invitation, error) {
	if err := checkRef(tenantID, id); err != nil {
		return nil, err
	}
	actor := ActorFrom(ctx, Actor{Kind: ActorAdmin})
	rec, _, err := m.mutate(ctx, m.byID(tenantID, id), func(cur *Record, now time.Time) (change, error) {
		if _, err := check(OpForgetTokens, &cur.Invitation, now); err != nil {
			return change{}, err
		}
		if len(cur.Credentials.PreviousTokens) == 0 {
			return change{}, nil
		}
		next := cur.shallow()
		next.Credentials.PreviousTokens = nil
		return write(next, EventUpdated, actor), nil
	})
	if err != nil {
		return nil, err
	}
	inv := &rec.Invitation
	inv.State = inv.StateAt(m.now())
	return inv, nil
}
