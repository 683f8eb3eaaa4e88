package invite

import (
	"context"
	"time"
)

// AcceptInput is who accepts an invitation.
type AcceptInput struct {
	// Subject is the host's id of the accepting user (new or existing).
	// Required.
	Subject string `json:"subject"`
	// Email is the subject's verified email, checked when acceptance is
	// bound to the invited email.
	Email string `json:"email,omitempty"`
	// TenantID, when set, pins the acceptance to one tenant: a token of
	// another tenant is ErrInvalidToken and is not consumed. (A token names
	// its own tenant; a host serving tenants on separate paths sets this.)
	TenantID string `json:"tenant_id,omitempty"`
}

// Acceptance is the outcome of Accept, AcceptCode and AcceptByID: the
// accepted invitation, carrying the roles, groups, data and metadata for
// the host to apply.
type Acceptance struct {
	Invitation *Invitation `json:"invitation"`
	// Replayed is true when the same subject had already accepted: the
	// call is idempotent and the host may apply the grants again safely.
	Replayed bool `json:"replayed"`
}

// Accept accepts the invitation the token belongs to, exactly once under any
// concurrency. Accepting again with the same subject returns the same
// acceptance (Replayed); with another subject it is ErrAlreadyAccepted. An
// expired invitation is ErrExpired; a bound email that differs is
// ErrEmailMismatch and an invitation for another user id is
// ErrSubjectMismatch, and neither consumes the invitation.
func (m *Manager) Accept(ctx context.Context, token string, in AcceptInput) (*Acceptance, error) {
	if err := m.checkAccept(&in); err != nil {
		return nil, err
	}
	h, err := m.parseToken(token, in.TenantID)
	if err != nil {
		return nil, err
	}
	return m.accept(ctx, m.byToken(h, in.TenantID), in, nil, Actor{})
}

func (m *Manager) checkAccept(in *AcceptInput) error {
	var fe fieldErrs
	m.checkAcceptInto(&fe, in)
	return fe.err()
}

// checkAcceptInto validates and normalises in (in place) into fe.
func (m *Manager) checkAcceptInto(fe *fieldErrs, in *AcceptInput) {
	fe.checkText("Subject", in.Subject, MaxIDLen, true)
	fe.checkText("TenantID", in.TenantID, MaxIDLen, false)
	if in.Email = blankToEmpty(in.Email); in.Email != "" {
		e, ok := m.normalizeEmail(in.Email)
		if !ok {
			fe.add("Email", emailRule)
		}
		in.Email = e
	}
}

// accept runs the acceptance. With code set it first checks the short code;
// a wrong code is recorded as a failed attempt, guarded by the version it was
// checked at, so parallel guesses cannot exceed the limit. After a right
// code every answer is committed the same way: the acceptance itself, or,
// for a mismatch or a closed invitation, a guard write (as in VerifyCode).
// Otherwise, in a burst of parallel guesses, the right one would be
// answered from a version that the wrong ones have since locked, and the
// answer (even ErrEmailMismatch) tells the guesser the code. A replay to
// the subject that accepted writes nothing: it must stay idempotent (the
// same Version, and parallel replays all succeed), and it answers only a
// caller who names that subject.
//
// by is the actor the event names: the zero Actor for the invitee (the
// subject), an admin's for AcceptByID.
func (m *Manager) accept(ctx context.Context, load func(context.Context) (*Record, error), in AcceptInput, code *string, by Actor) (*Acceptance, error) {
	memo := &codeMemo{}
	rec, c, err := m.mutate(ctx, load, func(cur *Record, now time.Time) (change, error) {
		if code == nil {
			return m.acceptNext(cur, &in, now, by)
		}
		if c, err := m.codeFailure(ctx, cur, *code, now, memo); c.next != nil || err != nil {
			return c, err
		}
		c, err := m.acceptNext(cur, &in, now, by)
		if err != nil {
			return change{next: cur.shallow(), answer: err}, nil // the guard write
		}
		return c, nil
	})
	if err == nil {
		err = c.answer
	}
	if err != nil {
		return nil, err
	}
	return &Acceptance{Invitation: &rec.Invitation, Replayed: c.replayed}, nil
}

// acceptNext is accept's mutation once any code has been checked: the
// accepted version of cur, or nothing to write (a replay by the same
// subject), or the refusal. by is the event's actor (zero: the invitee).
func (m *Manager) acceptNext(cur *Record, in *AcceptInput, now time.Time, by Actor) (change, error) {
	inv := &cur.Invitation
	if inv.State == StateAccepted && inv.AcceptedBy == in.Subject {
		return change{replayed: true}, nil
	}
	to, err := check(OpAccept, inv, now)
	if err != nil {
		return change{}, err
	}
	if inv.Invitee.UserID != "" && inv.Invitee.UserID != in.Subject {
		return change{}, ErrSubjectMismatch
	}
	if (m.cfg.RequireEmailMatch || inv.RequireEmailMatch) && inv.Invitee.Email != "" &&
		EmailKey(inv.Invitee.Email) != EmailKey(in.Email) {
		return change{}, ErrEmailMismatch
	}
	next := m.successor(cur)
	next.Invitation.State = to
	next.Invitation.AcceptedBy = in.Subject
	next.Invitation.ClosedAt = now
	if by == (Actor{}) {
		by = Actor{Kind: ActorInvitee, ID: in.Subject}
	}
	return write(next, EventAccepted, by), nil
}

// Reject records that the invitee declined the invitation the token belongs
// to. reason is optional (at most 1,000 characters).
func (m *Manager) Reject(ctx context.Context, token, reason string) (*Invitation, error) {
	return m.RejectIn(ctx, "", token, reason)
}

// RejectIn is Reject pinned to a tenant, as LookupIn is: a token of another
// tenant is ErrInvalidToken and rejects nothing.
func (m *Manager) RejectIn(ctx context.Context, tenantID, token, reason string) (*Invitation, error) {
	h, err := m.parseToken(token, tenantID)
	if err != nil {
		return nil, err
	}
	return m.close(ctx, m.byToken(h, tenantID), OpReject, EventRejected, Actor{Kind: ActorInvitee}, reason, false)
}

// AdminAcceptInput is an administrator's acceptance of an invitation on
// the invitee's behalf (AcceptByID).
type AdminAcceptInput struct {
	// Subject is the host's id of the user the invitation is accepted for
	// (new or existing). Required.
	Subject string `json:"subject"`
	// Email is the subject's verified email, checked as in AcceptInput
	// when acceptance is bound to the invited email.
	Email string `json:"email,omitempty"`
	// Actor names the administrator in the event. Kind may be ActorAdmin
	// (the default when empty) or ActorSystem (an automated process); a
	// zero Actor takes the context's (WithActor), else an anonymous admin.
	Actor Actor `json:"actor"`
}

// AcceptByID accepts the tenant's invitation id on the invitee's behalf,
// for an administrator who learnt of the acceptance some other way (a
// support call, a provisioning system). It gives the same guarantees as
// Accept, through the same compare-and-swap write: exactly one acceptance
// under any concurrency, whether the competitor is the invitee's Accept,
// AcceptCode or another AcceptByID; accepting again for the same subject
// (by either path) is a replay (Acceptance.Replayed, nothing written), and
// for another subject ErrAlreadyAccepted; an expired invitation is
// ErrExpired and a rejected or revoked one a *TransitionError; the email
// binding (ErrEmailMismatch) and an invitation for another user id
// (ErrSubjectMismatch) refuse it without consuming it. Another tenant's
// invitation is ErrNotFound. The invitation.accepted event names the
// admin as its Actor and the subject as New.AcceptedBy. No token is
// needed: the caller is trusted as every admin call is, so the host must
// authorise it as such.
func (m *Manager) AcceptByID(ctx context.Context, tenantID, id string, in AdminAcceptInput) (*Acceptance, error) {
	acc := AcceptInput{Subject: in.Subject, Email: in.Email}
	fe := refErrs(tenantID, id)
	m.checkAcceptInto(&fe, &acc)
	actor := checkAdminActor(&fe, in.Actor)
	if err := fe.err(); err != nil {
		return nil, err
	}
	if in.Actor != (Actor{}) {
		ctx = WithActor(ctx, actor) // the input's actor wins over the context's
	}
	return m.accept(ctx, m.byID(tenantID, id), acc, nil, ActorFrom(ctx, actor))
}

// AdminRejectInput is an administrator's record that the invitee declined
// (RejectByID).
type AdminRejectInput struct {
	// Reason is optional, as for Reject (at most 1,000 bytes).
	Reason string `json:"reason,omitempty"`
	// Actor names the administrator in the event, as in AdminAcceptInput.
	Actor Actor `json:"actor"`
}

// RejectByID records that the invitee declined the tenant's invitation id,
// on their behalf: an open invitation becomes rejected, with the admin as
// the event's Actor. An expired invitation is ErrExpired, an accepted or
// revoked one a *TransitionError; another tenant's is ErrNotFound. An
// invitation already rejected (by the invitee or an admin) is returned as
// it is, with no write and no event, so that an admin's retry is safe; its
// first Reason stays.
func (m *Manager) RejectByID(ctx context.Context, tenantID, id string, in AdminRejectInput) (*Invitation, error) {
	fe := refErrs(tenantID, id)
	checkReason(&fe, in.Reason)
	actor := checkAdminActor(&fe, in.Actor)
	if err := fe.err(); err != nil {
		return nil, err
	}
	if in.Actor != (Actor{}) {
		ctx = WithActor(ctx, actor)
	}
	return m.close(ctx, m.byID(tenantID, id), OpReject, EventRejected, ActorFrom(ctx, actor), in.Reason, true)
}

// refErrs checks the tenant and id an admin call names.
func refErrs(tenantID, id string) fieldErrs {
	var fe fieldErrs
	fe.checkText("TenantID", tenantID, MaxIDLen, true)
	fe.checkText("ID", id, MaxIDLen, true)
	return fe
}

// checkAdminActor checks the Actor of an admin input and returns it with
// its default kind (admin).
func checkAdminActor(fe *fieldErrs, a Actor) Actor {
	switch a.Kind {
	case "":
		a.Kind = ActorAdmin
	case ActorAdmin, ActorSystem:
	default:
		fe.add("Actor.Kind", "is not one of "+ActorAdmin+", "+ActorSystem)
	}
	fe.checkText("Actor.ID", a.ID, MaxIDLen, false)
	return a
}
