package invite

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
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
// returns it, like Lookup.
//
// Every failure is an error matching ErrInvalidCode, so that a public
// endpoint answering ErrInvalidCode gives one answer whatever went wrong:
// a wrong or malformed code, a ref that matches no invitation, an
// invitation without a code, one that is expired, rejected or revoked, and
// a code locked after Config.CodeMaxAttempts failures (ErrCodeLocked,
// which also matches ErrInvalidCode). Every well-formed code costs one
// argon2id check (at most one per call, however many races it loses),
// whether or not there is a code to check it against, so that the hashing
// does not tell an invitee apart from nobody. The store work still
// differs (a counted failure is a write, and finding an accepted
// invitation by email takes more reads): limit guesses per client and per
// reference (see the rate-limiting example).
//
// A wrong code counts as a failed attempt (event invitation.code_failed)
// at an open invitation and at an accepted one (whose code still replays
// the acceptance to its subject). Each answer is committed against the
// version it was computed from, so parallel guesses cannot exceed the
// limit: an answer to a right code (success, or ErrAlreadyAccepted) is a
// guard write that bumps Version and emits no event. At most
// Config.CodeCheckConcurrency checks run at once; the others wait, or
// return when ctx ends.
func (m *Manager) VerifyCode(ctx context.Context, ref CodeRef, code string) (*Invitation, error) {
	norm, load, err := m.byCode(ref, code)
	if err != nil {
		return nil, err
	}
	memo := &codeMemo{}
	rec, c, err := m.mutate(ctx, load, func(cur *Record, now time.Time) (change, error) {
		if c, err := m.codeFailure(ctx, cur, norm, now, memo); c.next != nil || err != nil {
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

// AcceptCode is Accept with a short code instead of the link token. A
// failure is answered, and a wrong code counted, exactly as in VerifyCode,
// and an answer to a right code that accepts nothing (ErrEmailMismatch,
// ErrSubjectMismatch, ErrAlreadyAccepted) is a guard write as there. A
// replay to the subject that accepted writes nothing, as in Accept.
func (m *Manager) AcceptCode(ctx context.Context, ref CodeRef, code string, in AcceptInput) (*Acceptance, error) {
	if err := m.checkAccept(&in); err != nil {
		return nil, err
	}
	norm, load, err := m.byCode(ref, code)
	if err != nil {
		return nil, err
	}
	if in.TenantID != "" && in.TenantID != ref.TenantID {
		// Pinned to another tenant than the ref names: nothing to accept.
		return nil, m.codes.miss(ctx, norm, ErrInvalidCode)
	}
	return m.accept(ctx, load, in, &norm, Actor{})
}

// checkCode verifies the normalised code against cur's code hash at now,
// deciding from the state before any hashing. countable reports whether a
// failure is to be recorded: a wrong guess at the code of an open
// invitation, or of an accepted one, counts. An invitation without a code,
// one expired, rejected or revoked (whose code can do nothing), and a
// locked code are answered after the same work on a dummy hash, without
// checking the code and without writing.
func (m *Manager) checkCode(ctx context.Context, cur *Record, norm string, now time.Time, memo *codeMemo) (countable bool, err error) {
	c := &cur.Credentials
	_, stateErr := check(OpCodeAttempt, &cur.Invitation, now)
	// An answer without a check costs one on the dummy hash, unless this
	// call already checked on an earlier try (it lost a race meanwhile).
	miss := func(answer error) error {
		if memo.hash != nil {
			return answer
		}
		return m.codes.miss(ctx, norm, answer)
	}
	switch {
	case !cur.Invitation.HasCode || len(c.CodeHash) == 0 || stateErr != nil:
		return false, miss(ErrInvalidCode)
	case c.CodeFailures >= m.cfg.CodeMaxAttempts:
		return false, miss(ErrCodeLocked)
	}
	match := memo.match
	if !bytes.Equal(memo.hash, c.CodeHash) {
		if match, err = m.codes.check(ctx, c.CodeHash, norm); err != nil {
			return false, err
		}
		memo.hash, memo.match = c.CodeHash, match
	}
	if !match {
		return true, ErrInvalidCode
	}
	return false, nil
}

// codeFailure checks the code in cur. A right code is no change and no
// error; a countable failure is the write that records it (event
// invitation.code_failed) with the failure as its answer; any other
// failure is an error that writes nothing.
func (m *Manager) codeFailure(ctx context.Context, cur *Record, norm string, now time.Time, memo *codeMemo) (change, error) {
	countable, err := m.checkCode(ctx, cur, norm, now, memo)
	if err == nil || !countable {
		return change{}, err
	}
	next := cur.shallow()
	next.Credentials.CodeFailures++
	c := write(next, EventCodeFailed, Actor{Kind: ActorInvitee})
	c.answer = err
	return c, nil
}

// byCode checks a CodeRef and the code typed, and returns the normalised
// code and the loader of the invitation. A malformed code is
// ErrInvalidCode before the store is touched (it cannot be right, so it
// tells nothing and counts as nothing); a ref that matches no invitation is
// ErrInvalidCode after a dummy check (see VerifyCode), so that codes cannot
// be used to probe for invitees.
func (m *Manager) byCode(ref CodeRef, code string) (string, func(context.Context) (*Record, error), error) {
	var fe fieldErrs
	fe.checkText("TenantID", ref.TenantID, MaxIDLen, true)
	var iv Invitee
	ref.Email, ref.Phone = blankToEmpty(ref.Email), blankToEmpty(ref.Phone)
	switch {
	case ref.InvitationID != "":
		fe.checkText("InvitationID", ref.InvitationID, MaxIDLen, true)
	case ref.Email != "" || ref.Phone != "":
		iv = Invitee{Email: ref.Email, Phone: ref.Phone}
		m.checkInvitee(&fe, &iv)
	default:
		fe.add("InvitationID", "or Email or Phone is required")
	}
	if err := fe.err(); err != nil {
		return "", nil, err
	}
	norm, ok := NormalizeCode(code)
	if !ok || len(norm) != m.cfg.CodeLength {
		return "", nil, ErrInvalidCode
	}
	return norm, func(ctx context.Context) (*Record, error) {
		if ref.InvitationID != "" {
			rec, err := m.store.Get(ctx, ref.TenantID, ref.InvitationID)
			if errors.Is(err, ErrNotFound) {
				return nil, m.codes.miss(ctx, norm, ErrInvalidCode)
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
			return nil, m.codes.miss(ctx, norm, ErrInvalidCode)
		}
		return found, nil
	}, nil
}

// codeMemo keeps a check's verdict across the retries of one call: the
// stored hash changes only with Resend, so a retry after a lost race does
// not hash the same code against the same hash again.
type codeMemo struct {
	hash  []byte
	match bool
}

// codeGuard bounds and equalises the argon2id work of short-code checks.
// Managers made by WithStore share their original's.
type codeGuard struct {
	// sem holds a token for every check running.
	sem    chan struct{}
	params CodeHashParams
	// dummy is a hash of no code, minted on first use with params: what a
	// miss is checked against.
	once  sync.Once
	dummy []byte
	// checks counts the hashes computed (for tests).
	checks atomic.Int64
}

func newCodeGuard(concurrency int, p CodeHashParams) *codeGuard {
	return &codeGuard{sem: make(chan struct{}, concurrency), params: p}
}

// check runs one argon2id verification of code against encoded, waiting
// for a free slot first (or returning ctx's error).
func (g *codeGuard) check(ctx context.Context, encoded []byte, code string) (bool, error) {
	select {
	case g.sem <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-g.sem }()
	g.checks.Add(1)
	return CheckCodeHash(encoded, code)
}

// miss does the work of a check against the dummy hash and returns answer
// (or ctx's error), so that an answer without a real check takes as long
// as one with.
func (g *codeGuard) miss(ctx context.Context, code string, answer error) error {
	g.once.Do(func() { g.dummy = hashCode("", g.params) })
	if _, err := g.check(ctx, g.dummy, code); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return answer
}
