package invite

import (
	"context"
	"time"
)

// AcceptInput is who accepts an invitation.
type AcceptInput struct {
	// Subject is the host's id of the accepting user (new or existing).
	// Required.
	Subject string
	// Email is the subject's verified email, checked when acceptance is
	// bound to the invited email.
	Email string
	// TenantID, when set, pins the acceptance to one tenant: a token of
	// another tenant is ErrInvalidToken and is not consumed. (A token names
	// its own tenant; a host serving tenants on separate paths sets this.)
	TenantID string
}

// Acceptance is the outcome of Accept: the accepted invitation, carrying
// the roles, groups, data and metadata for the host to apply.
type Acceptance struct {
	Invitation *Invitation
	// Replayed is true when the same subject had already accepted: the
	// call is idempotent and the host may apply the grants again safely.
	Replayed bool
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
	return m.accept(ctx, m.byToken(h, in.TenantID), in, nil)
}

func (m *Manager) checkAccept(in *AcceptInput) error {
	var fe fieldErrs
	fe.checkText("Subject", in.Subject, MaxIDLen, true)
	fe.checkText("TenantID", in.TenantID, MaxIDLen, false)
	if in.Email = blankToEmpty(in.Email); in.Email != "" {
		e, ok := m.normalizeEmail(in.Email)
		if !ok {
			fe.add("Email", emailRule)
		}
		in.Email = e
	}
	return fe.err()
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
func (m *Manager) accept(ctx context.Context, load func(context.Context) (*Record, error), in AcceptInput, code *string) (*Acceptance, error) {
	memo := &codeMemo{}
	rec, c, err := m.mutate(ctx, load, func(cur *Record, now time.Time) (change, error) {
		if code == nil {
			return m.acceptNext(cur, &in, now)
		}
		if c, err := m.codeFailure(ctx, cur, *code, now, memo); c.next != nil || err != nil {
			return c, err
		}
		c, err := m.acceptNext(cur, &in, now)
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
// subject), or the refusal.
func (m *Manager) acceptNext(cur *Record, in *AcceptInput, now time.Time) (change, error) {
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
	return write(next, EventAccepted, Actor{Kind: ActorInvitee, ID: in.Subject}), nil
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
	return m.close(ctx, m.byToken(h, tenantID), OpReject, EventRejected, Actor{Kind: ActorInvitee}, reason)
}
