package invite

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// ResendOptions tunes Resend.
type ResendOptions struct {
	// Delivery: DeliverySend (default) sends through the Notifier;
	// DeliveryReturn only returns the new secret.
	Delivery Delivery
	// ExpiresIn is the new validity; default: the validity the invitation
	// was last given (ExpiresAt - IssuedAt: by Create, Resend, Upsert or
	// an Update of ExpiresAt), kept within Config's range.
	ExpiresIn time.Duration
}

// Resend mints a new secret (and short code, if the invitation has one),
// restarts the expiry and delivers it. The previous token stops working
// unless Config.KeepPreviousTokens. An expired invitation is renewed;
// accepted, rejected and revoked ones are a *TransitionError.
func (m *Manager) Resend(ctx context.Context, tenantID, id string, opts ResendOptions) (*Result, error) {
	if err := checkRef(tenantID, id); err != nil {
		return nil, err
	}
	var fe fieldErrs
	if opts.ExpiresIn != 0 {
		m.checkExpiry(&fe, "ExpiresIn", opts.ExpiresIn)
	}
	if opts.Delivery != DeliverySend && opts.Delivery != DeliveryReturn {
		fe.add("Delivery", "is not DeliverySend or DeliveryReturn")
	}
	if opts.Delivery == DeliverySend && m.cfg.Notifier == nil {
		fe.add("Delivery", "no Notifier is configured")
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	rec, c, err := m.mutate(ctx, m.byID(tenantID, id), func(cur *Record, now time.Time) (change, error) {
		inv := &cur.Invitation
		to, err := check(OpResend, inv, now)
		if err != nil {
			return change{}, err
		}
		renew := inv.StateAt(now) == StateExpired
		if opts.Delivery == DeliverySend {
			if ch, _ := ChannelFor(inv.Invitee); ch == "" {
				return change{}, &ValidationError{Fields: []FieldError{{Field: "Invitee", Reason: "has no email, phone or user id to deliver to", Err: ErrNoDeliveryChannel}}}
			}
		}
		validity := opts.ExpiresIn
		if validity == 0 {
			validity = min(max(inv.ExpiresAt.Sub(inv.IssuedAt), m.cfg.MinExpiry), m.cfg.MaxExpiry)
		}
		next := cur.shallow()
		s := &secrets{}
		if s.token, s.code, err = m.mint(next, inv.HasCode); err != nil {
			return change{}, err
		}
		if m.cfg.KeepPreviousTokens && !renew {
			prev := append([]PreviousToken{{Hash: cur.Credentials.TokenHash, ExpiresAt: inv.ExpiresAt}}, cur.Credentials.PreviousTokens...)
			prev = slices.DeleteFunc(prev, func(p PreviousToken) bool { return !now.Before(p.ExpiresAt) })
			next.Credentials.PreviousTokens = prev[:min(len(prev), MaxPreviousTokens)]
		}
		n := &next.Invitation
		n.State, n.IssuedAt, n.ExpiresAt = to, now, now.Add(validity).Truncate(time.Microsecond)
		n.ResendCount++
		if renew {
			n.ClosedAt = time.Time{}
		}
		// The link is built before the write: a failure must not commit a
		// secret nobody received (the old one would be dead already).
		if s.link, err = m.buildLink(n, s.token, s.code); err != nil {
			return change{}, err
		}
		c := write(next, EventResent, ActorFrom(ctx, Actor{Kind: ActorAdmin}))
		c.secrets = s
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	s := c.secrets
	res := &Result{Invitation: &rec.Invitation, Token: s.token, Code: s.code, Link: NewSecret(s.link)}
	if opts.Delivery == DeliverySend {
		m.deliver(ctx, rec, res, true)
	}
	return res, nil
}

// deliver sends res's secret for rec through the Notifier and, once it has
// been handed over, marks the invitation sent. A notifier failure is kept in
// res.DeliveryErr; the invitation stays as it was.
func (m *Manager) deliver(ctx context.Context, rec *Record, res *Result, resend bool) {
	inv := &rec.Invitation
	ch, to := ChannelFor(inv.Invitee)
	msg := Message{
		ID: messageID(inv), TenantID: inv.TenantID, InvitationID: inv.ID, Resend: resend,
		Channel: ch, To: to, Locale: inv.Locale, TemplateKey: inv.TemplateKey,
		Vars: Vars{Name: inv.Name(), InviteLink: res.Link, InvitedBy: inv.Inviter.Name, AccountName: inv.AccountName,
			ExpiresAt: inv.ExpiresAt, Code: res.Code},
	}
	if err := m.cfg.Notifier.Notify(ctx, msg); err != nil {
		m.cfg.Logger.WarnContext(ctx, "invite: delivery failed", "invitation_id", inv.ID, "tenant_id", inv.TenantID,
			"channel", string(ch), "error", err)
		res.DeliveryErr = fmt.Errorf("%w: %w", ErrDelivery, err)
		return
	}
	hash := rec.Credentials.TokenHash
	sent, c, err := m.mutate(ctx, m.startingAt(rec), func(cur *Record, now time.Time) (change, error) {
		if !cur.Credentials.TokenHash.Equal(hash) {
			return change{}, nil // re-sent meanwhile: that resend marks its own
		}
		c, err := markSent(cur, now, Actor{Kind: ActorSystem})
		if err != nil {
			return change{}, nil // accepted, revoked or lapsed meanwhile: nothing to mark
		}
		return c, nil
	})
	switch {
	case err != nil:
		m.cfg.Logger.WarnContext(ctx, "invite: marking invitation sent failed", "invitation_id", inv.ID, "error", err)
	case c.next != nil:
		res.Invitation = &sent.Invitation
	}
}

// markSent is the change recording a delivery of cur: the state becomes
// sent, SentAt now, and SendCount grows by one.
func markSent(cur *Record, now time.Time, actor Actor) (change, error) {
	to, err := check(OpMarkSent, &cur.Invitation, now)
	if err != nil {
		return change{}, err
	}
	next := cur.shallow()
	next.Invitation.State = to
	next.Invitation.SentAt = now
	next.Invitation.SendCount++
	return write(next, EventSent, actor), nil
}

// messageNamespace namespaces message ids (UUIDv5).
var messageNamespace = uuid.MustParse("6f1d2c3e-8a4b-4c5d-9e6f-7a8b9c0d1e2f")

// messageID is stable for one delivery: the invitation, the instant its
// current secret was minted and the version that minted it (two resends in
// the same microsecond differ in version). Delivering the same secret twice
// yields the same id, so notifiers can deduplicate; a resend (new secret)
// gets a new one.
func messageID(inv *Invitation) string {
	return uuid.NewSHA1(messageNamespace, fmt.Appendf(nil, "%s|%s|%d", inv.ID, inv.IssuedAt.Format(time.RFC3339Nano), inv.Version)).String()
}

// MarkSent records that the host delivered an invitation itself (one created
// or resent with DeliveryReturn): the state becomes sent, SentAt is now and
// SendCount grows by one. Closed and expired invitations are a
// *TransitionError.
func (m *Manager) MarkSent(ctx context.Context, tenantID, id string) (*Invitation, error) {
	if err := checkRef(tenantID, id); err != nil {
		return nil, err
	}
	actor := ActorFrom(ctx, Actor{Kind: ActorAdmin})
	rec, _, err := m.mutate(ctx, m.byID(tenantID, id), func(cur *Record, now time.Time) (change, error) {
		return markSent(cur, now, actor)
	})
	if err != nil {
		return nil, err
	}
	return &rec.Invitation, nil
}
