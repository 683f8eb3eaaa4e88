package invite

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
)

// ResendOptions tunes Resend and UpdateAndResend.
type ResendOptions struct {
	// Delivery: DeliverySend (default) sends through the Notifier;
	// DeliveryReturn only returns the new secret.
	Delivery Delivery `json:"delivery,omitempty"`
	// ExpiresIn is the new validity; default: the validity the invitation
	// was last given (ExpiresAt - IssuedAt: by Create, Resend, Upsert or
	// an Update of ExpiresAt), kept within Config's range.
	ExpiresIn time.Duration `json:"-"`
	// ExpiresInSeconds and ExpiresInDays give ExpiresIn in whole seconds
	// or days, for JSON input (new(3) in Go); at most one of the three
	// may be set. nil (a JSON member left out or null) is not given; a
	// count that is given must be at least 1: 0 is out of range, never
	// the default validity.
	ExpiresInSeconds *int64 `json:"expires_in_seconds,omitempty"`
	ExpiresInDays    *int   `json:"expires_in_days,omitempty"`
}

// Resend mints a new secret (and short code, if the invitation has one),
// restarts the expiry and delivers it. The previous token stops working
// unless Config.KeepPreviousTokens. An expired invitation is renewed;
// accepted, rejected and revoked ones are a *TransitionError. Every resend
// adds one to Invitation.ResendCount and sets LastResentAt; the event is
// invitation.resent. UpdateAndResend does the same with edits, in one
// write.
func (m *Manager) Resend(ctx context.Context, tenantID, id string, opts ResendOptions) (*Result, error) {
	if err := checkRef(tenantID, id); err != nil {
		return nil, err
	}
	var fe fieldErrs
	m.checkResend(&fe, &opts)
	if err := fe.err(); err != nil {
		return nil, err
	}
	send := opts.Delivery == DeliverySend
	rec, c, err := m.mutate(ctx, m.byID(tenantID, id), func(cur *Record, now time.Time) (change, error) {
		inv := &cur.Invitation
		to, err := check(OpResend, inv, now)
		if err != nil {
			return change{}, err
		}
		next := cur.shallow()
		return m.resendChange(cur, next, to, now.Add(m.resendValidity(inv, opts)), send, ActorFrom(ctx, Actor{Kind: ActorAdmin}), now)
	})
	if err != nil {
		return nil, err
	}
	return m.resendResult(ctx, rec, c, send), nil
}

// checkResend validates the options of a resend into fe.
func (m *Manager) checkResend(fe *fieldErrs, opts *ResendOptions) {
	field := expiryField(opts.ExpiresIn, opts.ExpiresInSeconds, opts.ExpiresInDays)
	opts.ExpiresIn = m.expiresIn(fe, opts.ExpiresIn, opts.ExpiresInSeconds, opts.ExpiresInDays)
	if opts.ExpiresIn != 0 {
		m.checkExpiry(fe, field, opts.ExpiresIn)
	}
	if opts.Delivery != DeliverySend && opts.Delivery != DeliveryReturn {
		fe.add("Delivery", "is not DeliverySend or DeliveryReturn")
	}
	if opts.Delivery == DeliverySend && m.cfg.Notifier == nil {
		fe.add("Delivery", "no Notifier is configured")
	}
}

// resendValidity is the validity a resend of inv gives it: opts.ExpiresIn,
// or the validity inv was last given, kept within Config's range.
func (m *Manager) resendValidity(inv *Invitation, opts ResendOptions) time.Duration {
	if opts.ExpiresIn != 0 {
		return opts.ExpiresIn
	}
	return min(max(inv.ExpiresAt.Sub(inv.IssuedAt), m.cfg.MinExpiry), m.cfg.MaxExpiry)
}

// resendChange turns next, a shallow copy of cur (possibly edited
// already), into a resend of it at now: a fresh secret (and code, if next
// has HasCode), the state to, a validity running from now to expiresAt, one
// more ResendCount and LastResentAt now. It builds the link before
// anything is written (a failure must not commit a secret nobody
// received: the old one would be dead already) and, with send, queues the
// message in the same write. The change's event is invitation.resent.
func (m *Manager) resendChange(cur, next *Record, to State, expiresAt time.Time, send bool, actor Actor, now time.Time) (change, error) {
	if send {
		if ch, _ := ChannelFor(next.Invitation.Invitee); ch == "" {
			return change{}, &ValidationError{Fields: []FieldError{newFieldError("Invitee", "has no email, phone or user id to deliver to", ErrNoDeliveryChannel)}}
		}
	}
	renew := cur.Invitation.StateAt(now) == StateExpired
	s := &secrets{}
	var err error
	if s.token, s.code, err = m.mint(next, next.Invitation.HasCode); err != nil {
		return change{}, err
	}
	if m.cfg.KeepPreviousTokens && !renew {
		next.Credentials.PreviousTokens = keptTokens(cur, now)
	}
	n := &next.Invitation
	n.State, n.IssuedAt, n.ExpiresAt = to, now, expiresAt.UTC().Truncate(time.Microsecond)
	n.ResendCount++
	n.LastResentAt = now
	if renew {
		n.ClosedAt = time.Time{}
	}
	if s.link, err = m.buildLink(n, s.token, s.code); err != nil {
		return change{}, err
	}
	c := write(next, EventResent, actor)
	c.secrets = s
	if send {
		c.queue = m.queueMessage(n, true, now)
	}
	return c, nil
}

// resendResult is the Result of a committed resend (c wrote rec), after
// the Manager's delivery attempt when send is set.
func (m *Manager) resendResult(ctx context.Context, rec *Record, c change, send bool) *Result {
	s := c.secrets
	res := &Result{Invitation: &rec.Invitation, Token: s.token, Code: s.code, Link: NewSecret(s.link)}
	if send {
		m.deliver(ctx, rec, res, c.queue, true)
	}
	return res
}

// queueMessage returns the outbox entry for delivering inv's current
// secret, or nil when the store has no Outbox. A Dispatcher may claim it
// once the Manager's own attempt has had its time (twice
// InlineDeliveryTimeout), or at once inside a host transaction, where the
// Manager makes no attempt.
func (m *Manager) queueMessage(inv *Invitation, resend bool, now time.Time) *QueuedMessage {
	if m.outbox == nil {
		return nil
	}
	due := now
	if !m.hostTx {
		due = now.Add(2 * m.cfg.InlineDeliveryTimeout)
	}
	return &QueuedMessage{ID: newID(now), TenantID: inv.TenantID, InvitationID: inv.ID, Resend: resend,
		ResendCount: inv.ResendCount, CreatedAt: now, AvailableAt: due}
}

// message is the Message delivering inv's secrets under the id id.
func message(inv *Invitation, id string, resend bool, link string, code Secret) Message {
	ch, to := ChannelFor(inv.Invitee)
	return Message{
		ID: id, TenantID: inv.TenantID, InvitationID: inv.ID, Resend: resend,
		Channel: ch, To: to, Locale: inv.Locale, TemplateKey: inv.TemplateKey,
		Vars: Vars{Name: inv.Name(), GivenName: inv.GivenName, FamilyName: inv.FamilyName, InviteLink: NewSecret(link),
			InvitedBy: inv.Inviter.Name, AccountName: inv.AccountName, ExpiresAt: inv.ExpiresAt, Code: code,
			Roles: slices.Clone(inv.Roles), Groups: slices.Clone(inv.Groups), Custom: maps.Clone(inv.Variables)},
	}
}

// deliver makes the Manager's attempt to send res's secret for rec right
// after the write that minted it, and, once the Notifier has taken it,
// marks the invitation sent (settling queued, the message's outbox entry,
// in the same write). A notifier failure is kept in res.DeliveryErr; the
// invitation stays as it was, and queued stays for a Dispatcher.
//
// Inside a host transaction nothing is sent, since the host may still roll
// back. With an Outbox, the Dispatcher mints and sends a secret of its own
// once the host has committed, so res carries none. Without one, nothing
// would ever send it: res keeps the secret for the caller to deliver after
// the commit, and res.DeliveryErr says so (ErrNoOutbox).
func (m *Manager) deliver(ctx context.Context, rec *Record, res *Result, queued *QueuedMessage, resend bool) {
	if m.hostTx {
		if queued != nil {
			res.Token, res.Code, res.Link = Secret{}, Secret{}, Secret{}
			return
		}
		res.DeliveryErr = fmt.Errorf("%w: %w: inside a host transaction, messages are sent only through an Outbox; deliver the link after the commit, then MarkSent", ErrDelivery, ErrNoOutbox)
		return
	}
	inv := &rec.Invitation
	id := newID(m.now())
	if queued != nil {
		id = queued.ID
	}
	msg := message(inv, id, resend, res.Link.Reveal(), res.Code)
	nctx, cancel := context.WithTimeout(ctx, m.cfg.InlineDeliveryTimeout)
	err := m.cfg.Notifier.Notify(nctx, msg)
	cancel()
	if err != nil {
		m.cfg.Logger.WarnContext(ctx, "invite: delivery failed", "invitation_id", inv.ID, "tenant_id", inv.TenantID,
			"channel", string(msg.Channel), "message_id", id, "error", err)
		res.DeliveryErr = fmt.Errorf("%w: %w", ErrDelivery, err)
		return
	}
	if sent := m.recordSent(ctx, rec, queued); sent != nil {
		res.Invitation = &sent.Invitation
	}
}

// recordSent marks rec's invitation sent after its current secret was
// handed to the Notifier, settling queued (when not nil) in the same write,
// and returns the invitation as written; nil when there was nothing to mark
// (re-sent, accepted, revoked or lapsed meanwhile) or the write failed.
func (m *Manager) recordSent(ctx context.Context, rec *Record, queued *QueuedMessage) *Record {
	hash := rec.Credentials.TokenHash
	sent, c, err := m.mutate(ctx, m.startingAt(rec), func(cur *Record, now time.Time) (change, error) {
		if !cur.Credentials.TokenHash.Equal(hash) {
			return change{}, nil // a new secret meanwhile: its delivery marks its own
		}
		c, err := markSent(cur, now, Actor{Kind: ActorSystem})
		if err != nil {
			return change{}, nil // accepted, revoked or lapsed meanwhile: nothing to mark
		}
		if queued != nil {
			c.delivered = queued.ID
		}
		return c, nil
	})
	if err != nil {
		m.cfg.Logger.WarnContext(ctx, "invite: marking invitation sent failed", "invitation_id", rec.Invitation.ID, "error", err)
		return nil
	}
	if c.next == nil {
		return nil
	}
	return sent
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
