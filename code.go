package invite

import (
	"context"
	"errors"
	"strings"
	"time"
)

// CodeRef names the invitation a short code is checked against: the tenant
// and either the invitation id or the invitee's email or phone.
type CodeRef struct {
	TenantID     string
	InvitationID string
	Email        string
	Phone        string
}

// VerifyCode checks a short code without consuming the invitation and
// returns it, like Lookup. A wrong code is ErrInvalidCode and counts as a
// failed attempt (event invitation.code_failed); after
// Config.CodeMaxAttempts failures in total every attempt is ErrCodeLocked.
// Wrong guesses count while the invitation is open or accepted (an accepted
// invitation's code still replays the acceptance to its subject).
// Each answer is committed against the version it was computed from, so
// parallel guesses cannot exceed the limit: an answer to a right code
// (success, or the error of a closed invitation) is a guard write that
// bumps Version and emits no event (the invitation itself does not change).
func (m *Manager) VerifyCode(ctx context.Context, ref CodeRef, code string) (*Invitation, error) {
	load, err := m.byCode(ref)
	if err != nil {
		return nil, err
	}
	rec, c, err := m.mutate(ctx, load, func(cur *Record, now time.Time) (change, error) {
		if c, err := m.codeFailure(cur, code, now); c.next != nil || err != nil {
			return c, err
		}
		// A guard write: it commits this answer (success, or the state
		// that forbids accepting) against the version it was computed
		// from, so parallel guesses cannot outrun the failure limit.
		_, answer := check(OpAccept, &cur.Invitation, now)
		return change{next: cur.shallow(), answer: answer}, nil
	})
	if err == nil {
		err = c.answer
	}
	if err != nil {
		return nil, err
	}
	return &rec.Invitation, nil
}

// AcceptCode is Accept with a short code instead of the link token. A wrong
// code counts as a failed attempt exactly as in VerifyCode, and an answer
// to a right code that accepts nothing (ErrEmailMismatch,
// ErrSubjectMismatch, a closed invitation) is a guard write as there. A
// replay to the subject that accepted writes nothing, as in Accept.
func (m *Manager) AcceptCode(ctx context.Context, ref CodeRef, code string, in AcceptInput) (*Acceptance, error) {
	if err := checkAccept(&in); err != nil {
		return nil, err
	}
	load, err := m.byCode(ref)
	if err != nil {
		return nil, err
	}
	return m.accept(ctx, load, in, &code)
}

// checkCode verifies code against cur's code hash at now. countable
// reports whether a failure is to be recorded: a wrong guess at the code of
// an open invitation, or of an accepted one (whose code still replays the
// acceptance to its subject), counts; an invitation without a code, one
// otherwise closed or a locked code answers without writing anything.
func (m *Manager) checkCode(cur *Record, code string, now time.Time) (countable bool, err error) {
	c := &cur.Credentials
	if !cur.Invitation.HasCode || len(c.CodeHash) == 0 {
		return false, ErrInvalidCode
	}
	if c.CodeFailures >= m.cfg.CodeMaxAttempts {
		return false, ErrCodeLocked
	}
	st := cur.Invitation.StateAt(now)
	countable = st.Open() || st == StateAccepted
	norm, ok := NormalizeCode(code)
	if !ok || len(norm) != m.cfg.CodeLength {
		return countable, ErrInvalidCode
	}
	match, err := CheckCodeHash(c.CodeHash, norm)
	if err != nil {
		return false, err
	}
	if !match {
		return countable, ErrInvalidCode
	}
	return false, nil
}

// codeFailure checks the code in cur. A right code is no change and no
// error; a countable failure is the write that records it (event
// invitation.code_failed) with the failure as its answer; any other
// failure is an error that writes nothing.
func (m *Manager) codeFailure(cur *Record, code string, now time.Time) (change, error) {
	countable, err := m.checkCode(cur, code, now)
	if err == nil || !countable {
		return change{}, err
	}
	next := cur.shallow()
	next.Credentials.CodeFailures++
	c := write(next, EventCodeFailed, Actor{Kind: ActorInvitee})
	c.answer = err
	return c, nil
}

// byCode resolves a CodeRef to its record loader. A ref that matches
// nothing is ErrInvalidCode, so codes cannot be used to probe for invitees.
func (m *Manager) byCode(ref CodeRef) (func(context.Context) (*Record, error), error) {
	var fe fieldErrs
	fe.checkText("TenantID", ref.TenantID, MaxIDLen, true)
	var iv Invitee
	ref.Email, ref.Phone = blankToEmpty(ref.Email), blankToEmpty(ref.Phone)
	switch {
	case ref.InvitationID != "":
		fe.checkText("InvitationID", ref.InvitationID, MaxIDLen, true)
	case ref.Email != "" || ref.Phone != "":
		iv = Invitee{Email: ref.Email, Phone: ref.Phone}
		fe.checkInvitee(&iv)
	default:
		fe.add("InvitationID", "or Email or Phone is required")
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	return func(ctx context.Context) (*Record, error) {
		if ref.InvitationID != "" {
			rec, err := m.store.Get(ctx, ref.TenantID, ref.InvitationID)
			if errors.Is(err, ErrNotFound) {
				return nil, ErrInvalidCode
			}
			return rec, err
		}
		open, err := m.store.FindOpen(ctx, ref.TenantID, iv)
		if err != nil {
			return nil, err
		}
		var found *Record
		for _, r := range open {
			if r.Invitation.HasCode && (found == nil || r.Invitation.StateAt(m.now()).Open()) {
				found = r
			}
		}
		if found == nil {
			// No open invitation: an accepted one may be retried (Accept is
			// idempotent for the same subject).
			page, _, err := m.store.List(ctx, ref.TenantID, Query{
				Filter: Filter{States: []State{StateAccepted}, Email: strings.ToLower(iv.Email), Phone: iv.Phone},
				Now:    m.now(), Limit: 10, Descending: true,
			})
			if err != nil {
				return nil, err
			}
			for _, inv := range page {
				if inv.HasCode {
					return m.store.Get(ctx, ref.TenantID, inv.ID)
				}
			}
			return nil, ErrInvalidCode
		}
		return found, nil
	}, nil
}
