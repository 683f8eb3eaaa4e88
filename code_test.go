package invite_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

func codeInput(email, phone string) invite.CreateInput {
	in := input(email)
	in.Invitee.Phone = phone
	in.WithCode = true
	return in
}

func TestShortCodes(t *testing.T) {
	e := newEnv(t)
	res := e.create(codeInput("Ada@Example.com", "+44 20 7946 0958"))
	code := res.Code.Reveal()
	require.Len(t, code, 8)
	id := res.Invitation.ID
	rec := e.record("t1", id)
	require.True(t, strings.HasPrefix(string(rec.Credentials.CodeHash), "$argon2id$v=19$m=64,t=1,p=1$"))
	ok, err := invite.CheckCodeHash(rec.Credentials.CodeHash, code)
	require.NoError(t, err)
	require.True(t, ok)

	typed := strings.ToLower(code[:4]) + "-" + code[4:] + " "
	refs := map[string]invite.CodeRef{
		"id":    {TenantID: "t1", InvitationID: id},
		"email": {TenantID: "t1", Email: "ada@example.COM"},
		"phone": {TenantID: "t1", Phone: "0044 20 7946 0958"},
	}
	for name, ref := range refs {
		for _, c := range []string{code, typed} {
			inv, err := e.m.VerifyCode(e.ctx(), ref, c)
			require.NoError(t, err, name)
			require.Equal(t, id, inv.ID)
			require.Equal(t, invite.StatePending, inv.State)
		}
	}
	require.Equal(t, []invite.EventType{invite.EventCreated}, e.events.Types(), "a success emits no event")

	// Refs that match nothing are ErrInvalidCode (no probing for invitees).
	for name, ref := range map[string]invite.CodeRef{
		"other tenant": {TenantID: "t2", InvitationID: id},
		"unknown id":   {TenantID: "t1", InvitationID: "nope"},
		"other email":  {TenantID: "t1", Email: "bob@example.com"},
		"other phone":  {TenantID: "t1", Phone: "+15555550100"},
	} {
		_, err := e.m.VerifyCode(e.ctx(), ref, code)
		require.ErrorIs(t, err, invite.ErrInvalidCode, name)
	}

	// A code is bound to its invitation.
	other := e.create(codeInput("bob@example.com", ""))
	_, err = e.m.VerifyCode(e.ctx(), invite.CodeRef{TenantID: "t1", InvitationID: other.Invitation.ID}, code)
	require.ErrorIs(t, err, invite.ErrInvalidCode)
	// An invitation without a code has none to match.
	plain := e.create(input("carol@example.com"))
	_, err = e.m.VerifyCode(e.ctx(), invite.CodeRef{TenantID: "t1", InvitationID: plain.Invitation.ID}, code)
	require.ErrorIs(t, err, invite.ErrInvalidCode)

	acc, err := e.m.AcceptCode(e.ctx(), refs["email"], typed, invite.AcceptInput{Subject: "ada"})
	require.NoError(t, err)
	require.Equal(t, invite.StateAccepted, acc.Invitation.State)
	require.Equal(t, "ada", acc.Invitation.AcceptedBy)
	acc, err = e.m.AcceptCode(e.ctx(), refs["id"], code, invite.AcceptInput{Subject: "ada"})
	require.NoError(t, err)
	require.True(t, acc.Replayed)
	_, err = e.m.AcceptCode(e.ctx(), refs["id"], code, invite.AcceptInput{Subject: "eve"})
	require.ErrorIs(t, err, invite.ErrAlreadyAccepted)
}

func TestCodeRefValidation(t *testing.T) {
	e := newEnv(t)
	for name, c := range map[string]struct {
		ref   invite.CodeRef
		field string
	}{
		"empty":      {invite.CodeRef{}, "TenantID"},
		"no target":  {invite.CodeRef{TenantID: "t1"}, "InvitationID"},
		"bad email":  {invite.CodeRef{TenantID: "t1", Email: "nope"}, "Invitee.Email"},
		"bad phone":  {invite.CodeRef{TenantID: "t1", Phone: "123"}, "Invitee.Phone"},
		"control id": {invite.CodeRef{TenantID: "t1", InvitationID: "a\nb"}, "InvitationID"},
	} {
		_, err := e.m.VerifyCode(e.ctx(), c.ref, "ABCDEFGH")
		requireValidation(t, err, c.field)
		_, err = e.m.AcceptCode(e.ctx(), c.ref, "ABCDEFGH", invite.AcceptInput{Subject: "u"})
		requireValidation(t, err, c.field)
		_ = name
	}
}

func TestCodeLocksAfterMaxAttempts(t *testing.T) {
	for _, limit := range []int{0, 2} { // 0: the default, 5
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			e := newEnv(t, func(c *invite.Config) { c.CodeMaxAttempts = limit })
			want := limit
			if want == 0 {
				want = 5
			}
			res := e.create(codeInput("ada@example.com", ""))
			code := res.Code.Reveal()
			ref := invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}
			// Malformed guesses are refused before the store is read:
			// they cannot be right, so they tell and count nothing.
			for _, guess := range []string{"", "garbage!", "ABCD", strings.Repeat("Z", 9)} {
				_, err := e.m.VerifyCode(e.ctx(), ref, guess)
				require.ErrorIs(t, err, invite.ErrInvalidCode)
				_, err = e.m.AcceptCode(e.ctx(), ref, guess, invite.AcceptInput{Subject: "u"})
				require.ErrorIs(t, err, invite.ErrInvalidCode)
			}
			require.Zero(t, e.record("t1", res.Invitation.ID).Credentials.CodeFailures)
			for i := range want {
				guess := wrongCode(code, 0)
				var err error
				if i%2 == 0 {
					_, err = e.m.VerifyCode(e.ctx(), ref, guess)
				} else {
					_, err = e.m.AcceptCode(e.ctx(), ref, guess, invite.AcceptInput{Subject: "u"})
				}
				require.ErrorIs(t, err, invite.ErrInvalidCode, "attempt %d", i+1)
				require.NotErrorIs(t, err, invite.ErrCodeLocked)
			}
			_, err := e.m.VerifyCode(e.ctx(), ref, code)
			require.ErrorIs(t, err, invite.ErrCodeLocked)
			_, err = e.m.AcceptCode(e.ctx(), ref, code, invite.AcceptInput{Subject: "u"})
			require.ErrorIs(t, err, invite.ErrCodeLocked)
			_, err = e.m.VerifyCode(e.ctx(), invite.CodeRef{TenantID: "t1", Email: "ada@example.com"}, wrongCode(code, 0))
			require.ErrorIs(t, err, invite.ErrCodeLocked)
			require.Equal(t, want, e.record("t1", res.Invitation.ID).Credentials.CodeFailures)
			require.Equal(t, invite.StatePending, e.get("t1", res.Invitation.ID).State)

			var failed []invite.Event
			for _, ev := range e.events.Events() {
				if ev.Type == invite.EventCodeFailed {
					failed = append(failed, ev)
				}
			}
			require.Len(t, failed, want)
			for i, ev := range failed {
				require.Equal(t, invite.ActorInvitee, ev.Actor.Kind)
				require.Equal(t, ev.Old.Version+1, ev.New.Version)
				require.EqualValues(t, i+1, ev.Old.Version)
			}

			// The link token still works; a resend mints a fresh, unlocked code.
			_, err = e.m.Lookup(e.ctx(), res.Token.Reveal())
			require.NoError(t, err)
			r2, err := e.m.Resend(e.ctx(), "t1", res.Invitation.ID, invite.ResendOptions{Delivery: invite.DeliveryReturn})
			require.NoError(t, err)
			require.Zero(t, e.record("t1", res.Invitation.ID).Credentials.CodeFailures)
			acc, err := e.m.AcceptCode(e.ctx(), ref, r2.Code.Reveal(), invite.AcceptInput{Subject: "u"})
			require.NoError(t, err)
			require.Equal(t, invite.StateAccepted, acc.Invitation.State)
		})
	}
}

// wrongCode returns a well-formed code that differs from code: the n-th
// of such variants (its last two characters shifted), so that guessers
// can each send another one.
func wrongCode(code string, n int) string {
	a, b := invite.CodeAlphabet, []byte(code)
	shift := func(i, by int) { b[i] = a[(strings.IndexByte(a, b[i])+by)%len(a)] }
	shift(len(b)-1, n%(len(a)-1)+1) // never a whole turn: the last character differs
	shift(len(b)-2, n/(len(a)-1))
	return string(b)
}

func TestParallelCodeGuessesNeverExceedTheLimit(t *testing.T) {
	for _, viaAccept := range []bool{false, true} {
		t.Run(fmt.Sprintf("accept=%v", viaAccept), func(t *testing.T) {
			e := newEnv(t)
			res := e.create(codeInput("ada@example.com", ""))
			code := res.Code.Reveal()
			ref := invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}
			const guessers = 20
			errs := make([]error, guessers)
			checks := invite.CodeChecks(e.m)
			inParallel(guessers, func(i int) {
				guess := wrongCode(code, 0)
				if viaAccept {
					_, errs[i] = e.m.AcceptCode(e.ctx(), ref, guess, invite.AcceptInput{Subject: fmt.Sprint(i)})
				} else {
					_, errs[i] = e.m.VerifyCode(e.ctx(), ref, guess)
				}
			})
			// One argon2 check per guess, however many races it lost
			// (a retry reuses its verdict).
			require.LessOrEqual(t, invite.CodeChecks(e.m)-checks, int64(guessers))
			invalid := 0
			for _, err := range errs {
				require.Error(t, err)
				switch {
				case errors.Is(err, invite.ErrCodeLocked), errors.Is(err, invite.ErrConflict):
				case errors.Is(err, invite.ErrInvalidCode):
					invalid++
				default:
					t.Fatalf("unexpected answer: %v", err)
				}
			}
			require.LessOrEqual(t, invalid, 5, "more failures answered than CodeMaxAttempts")
			require.Positive(t, invalid)
			require.Equal(t, invalid, e.record("t1", res.Invitation.ID).Credentials.CodeFailures,
				"every failure answered was recorded, and only those")
			// Use up what is left of the limit, if anything, one at a time.
			for i := invalid; i < 5; i++ {
				_, err := e.m.VerifyCode(e.ctx(), ref, wrongCode(code, 0))
				require.ErrorIs(t, err, invite.ErrInvalidCode)
			}
			_, err := e.m.VerifyCode(e.ctx(), ref, code)
			require.ErrorIs(t, err, invite.ErrCodeLocked)
			_, err = e.m.AcceptCode(e.ctx(), ref, code, invite.AcceptInput{Subject: "u"})
			require.ErrorIs(t, err, invite.ErrCodeLocked)
			require.Equal(t, invite.StatePending, e.get("t1", res.Invitation.ID).State)
		})
	}
}

// ---------------------------------------------------------------- maintenance

// TestAcceptCodeRetryAfterAcceptance: acceptance by code is idempotent for
// the same subject also when the code is looked up by email or phone, which
// no longer finds the (now closed) invitation among the open ones.
func TestAcceptCodeRetryAfterAcceptance(t *testing.T) {
	e := newEnv(t)
	res := e.create(codeInput("ada@example.com", "+15555550100"))
	code := res.Code.Reveal()
	for _, ref := range []invite.CodeRef{
		{TenantID: "t1", Email: "ADA@example.com"},
		{TenantID: "t1", Phone: "001 555 555 0100"},
	} {
		acc, err := e.m.AcceptCode(e.ctx(), ref, code, invite.AcceptInput{Subject: "ada"})
		require.NoError(t, err)
		require.Equal(t, res.Invitation.ID, acc.Invitation.ID)
		require.Equal(t, "ada", acc.Invitation.AcceptedBy)
		_, err = e.m.AcceptCode(e.ctx(), ref, code, invite.AcceptInput{Subject: "eve"})
		require.ErrorIs(t, err, invite.ErrAlreadyAccepted)
		_, err = e.m.AcceptCode(e.ctx(), ref, wrongCode(code, 0), invite.AcceptInput{Subject: "ada"})
		require.ErrorIs(t, err, invite.ErrInvalidCode)
	}
	accepted := 0
	for _, ev := range e.events.Events() {
		if ev.Type == invite.EventAccepted {
			accepted++
		}
	}
	require.Equal(t, 1, accepted)
	// Another tenant still finds nothing.
	_, err := e.m.AcceptCode(e.ctx(), invite.CodeRef{TenantID: "t2", Email: "ada@example.com"}, code, invite.AcceptInput{Subject: "ada"})
	require.ErrorIs(t, err, invite.ErrInvalidCode)
}

func TestCodeAttemptsOnInvitationWithoutCodeWriteNothing(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com")) // no code
	ref := invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}
	for range 10 {
		_, err := e.m.VerifyCode(e.ctx(), ref, "ABCDEFGH")
		require.ErrorIs(t, err, invite.ErrInvalidCode)
		_, err = e.m.AcceptCode(e.ctx(), ref, "ABCDEFGH", invite.AcceptInput{Subject: "u"})
		require.ErrorIs(t, err, invite.ErrInvalidCode)
	}
	require.Equal(t, res.Invitation.Version, e.get("t1", res.Invitation.ID).Version)
	require.NotContains(t, e.events.Types(), invite.EventCodeFailed)
}

func TestCodeAttemptsOnClosedInvitationWriteNothing(t *testing.T) {
	e := newEnv(t)
	res := e.create(codeInput("ada@example.com", ""))
	rev, err := e.m.Revoke(e.ctx(), "t1", res.Invitation.ID, "")
	require.NoError(t, err)
	ref := invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}
	for range 3 {
		_, err := e.m.AcceptCode(e.ctx(), ref, wrongCode(res.Code.Reveal(), 0), invite.AcceptInput{Subject: "u1"})
		require.ErrorIs(t, err, invite.ErrInvalidCode)
	}
	require.Equal(t, rev.Version, e.get("t1", res.Invitation.ID).Version)
	require.NotContains(t, e.events.Types(), invite.EventCodeFailed)
}

// An accepted invitation's code still replays the acceptance to its
// subject, so wrong guesses at it count toward the limit as for an open
// one: otherwise guessing it would be unlimited.
func TestCodeAttemptsOnAcceptedInvitationCount(t *testing.T) {
	e := newEnv(t, func(c *invite.Config) { c.CodeMaxAttempts = 3 })
	res := e.create(codeInput("ada@example.com", ""))
	code := res.Code.Reveal()
	ref := invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}
	_, err := e.m.AcceptCode(e.ctx(), ref, code, invite.AcceptInput{Subject: "u1"})
	require.NoError(t, err)
	acc, err := e.m.AcceptCode(e.ctx(), ref, code, invite.AcceptInput{Subject: "u1"})
	require.NoError(t, err)
	require.True(t, acc.Replayed)
	for range 3 {
		_, err := e.m.AcceptCode(e.ctx(), ref, wrongCode(code, 0), invite.AcceptInput{Subject: "u1"})
		require.ErrorIs(t, err, invite.ErrInvalidCode)
	}
	require.Equal(t, 3, e.record("t1", res.Invitation.ID).Credentials.CodeFailures)
	_, err = e.m.AcceptCode(e.ctx(), ref, code, invite.AcceptInput{Subject: "u1"})
	require.ErrorIs(t, err, invite.ErrCodeLocked)
	require.Equal(t, invite.StateAccepted, e.get("t1", res.Invitation.ID).State)
}

func TestCodeDeadAfterLimitEvenWithSuccessesBetween(t *testing.T) {
	e := newEnv(t, func(c *invite.Config) { c.CodeMaxAttempts = 4 })
	res := e.create(codeInput("ada@example.com", ""))
	code := res.Code.Reveal()
	ref := invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}
	for round := range 2 {
		for range 2 {
			_, err := e.m.VerifyCode(e.ctx(), ref, wrongCode(code, 0))
			require.ErrorIs(t, err, invite.ErrInvalidCode, "round %d", round)
		}
		if round == 0 {
			_, err := e.m.VerifyCode(e.ctx(), ref, code)
			require.NoError(t, err)
		}
	}
	_, err := e.m.VerifyCode(e.ctx(), ref, code)
	require.ErrorIs(t, err, invite.ErrCodeLocked)
}

// TestCodeAnswersTellNothing (reference review: probing for invitees with
// codes): every well-formed guess costs exactly one argon2id check and
// matches ErrInvalidCode, whether the ref names an invitee with a code, an
// unknown one, a locked code, a closed invitation or one without a code; a
// malformed guess costs none and reads nothing.
func TestCodeAnswersTellNothing(t *testing.T) {
	e := newEnv(t, func(c *invite.Config) { c.CodeMaxAttempts = 1 })
	live := e.create(codeInput("live@example.com", ""))
	locked := e.create(codeInput("locked@example.com", ""))
	_, err := e.m.VerifyCode(e.ctx(), invite.CodeRef{TenantID: "t1", InvitationID: locked.Invitation.ID}, wrongCode(locked.Code.Reveal(), 0))
	require.ErrorIs(t, err, invite.ErrInvalidCode)
	revoked := e.create(codeInput("revoked@example.com", ""))
	_, err = e.m.Revoke(e.ctx(), "t1", revoked.Invitation.ID, "")
	require.NoError(t, err)
	plain := e.create(input("plain@example.com"))

	guess := "ABCDEFGH"
	for name, ref := range map[string]invite.CodeRef{
		"live":         {TenantID: "t1", Email: "live@example.com"},
		"unknown":      {TenantID: "t1", Email: "nobody@example.com"},
		"unknown id":   {TenantID: "t1", InvitationID: "no-such-id"},
		"other tenant": {TenantID: "t2", InvitationID: live.Invitation.ID},
		"locked":       {TenantID: "t1", InvitationID: locked.Invitation.ID},
		"revoked":      {TenantID: "t1", InvitationID: revoked.Invitation.ID},
		"no code":      {TenantID: "t1", InvitationID: plain.Invitation.ID},
	} {
		before := invite.CodeChecks(e.m)
		_, err := e.m.VerifyCode(e.ctx(), ref, guess)
		require.ErrorIs(t, err, invite.ErrInvalidCode, name)
		require.Equal(t, before+1, invite.CodeChecks(e.m), "%s: one check", name)
		_, err = e.m.AcceptCode(e.ctx(), ref, guess, invite.AcceptInput{Subject: "x"})
		require.ErrorIs(t, err, invite.ErrInvalidCode, name)
		require.Equal(t, before+2, invite.CodeChecks(e.m), "%s: one check", name)
	}
	before, reads := invite.CodeChecks(e.m), e.store.byToken.Load()
	_, err = e.m.VerifyCode(e.ctx(), invite.CodeRef{TenantID: "t1", Email: "live@example.com"}, "not a code!")
	require.ErrorIs(t, err, invite.ErrInvalidCode)
	require.Equal(t, before, invite.CodeChecks(e.m))
	require.Equal(t, reads, e.store.byToken.Load())
}

// TestCodeGuessesAtAClosedInvitationAreRefused: an expired (not yet swept)
// or revoked invitation's code can do nothing, so guesses at it are
// refused from the state, before any hashing of it: the right code is
// answered like a wrong one, and nothing is written.
func TestCodeGuessesAtAClosedInvitationAreRefused(t *testing.T) {
	e := newEnv(t)
	res := e.create(codeInput("ada@example.com", ""))
	ref := invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}
	e.clock.Advance(8 * 24 * time.Hour) // lapsed
	version := e.get("t1", res.Invitation.ID).Version
	for i := range 50 {
		_, err := e.m.VerifyCode(e.ctx(), ref, wrongCode(res.Code.Reveal(), i))
		require.ErrorIs(t, err, invite.ErrInvalidCode)
		require.NotErrorIs(t, err, invite.ErrCodeLocked)
	}
	_, err := e.m.AcceptCode(e.ctx(), ref, res.Code.Reveal(), invite.AcceptInput{Subject: "u"})
	require.ErrorIs(t, err, invite.ErrInvalidCode, "the right code is not told apart")
	require.NotErrorIs(t, err, invite.ErrExpired)
	rec := e.record("t1", res.Invitation.ID)
	require.Equal(t, version, rec.Invitation.Version, "nothing written")
	require.Zero(t, rec.Credentials.CodeFailures)
}

// TestCodeChecksAreBounded: a check waits for a free slot of
// Config.CodeCheckConcurrency and gives up when its context ends.
func TestCodeChecksAreBounded(t *testing.T) {
	e := newEnv(t, func(c *invite.Config) { c.CodeCheckConcurrency = 2 })
	res := e.create(codeInput("ada@example.com", ""))
	ref := invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}
	release := invite.HoldCodeSlots(e.m)
	ctx, cancel := context.WithTimeout(e.ctx(), 50*time.Millisecond)
	defer cancel()
	_, err := e.m.VerifyCode(ctx, ref, res.Code.Reveal())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	_, err = e.m.VerifyCode(ctx, invite.CodeRef{TenantID: "t1", Email: "nobody@example.com"}, res.Code.Reveal())
	require.ErrorIs(t, err, context.DeadlineExceeded, "a miss waits as a check does")
	release()
	_, err = e.m.VerifyCode(e.ctx(), ref, res.Code.Reveal())
	require.NoError(t, err)

	_, err = invite.New(e.mem, invite.Config{CodeCheckConcurrency: -1})
	requireValidation(t, err, "CodeCheckConcurrency")
}

// TestAcceptCodePinnedToTenant (review): AcceptInput.TenantID pins a code
// as it pins a token.
func TestAcceptCodePinnedToTenant(t *testing.T) {
	e := newEnv(t)
	res := e.create(codeInput("ada@example.com", ""))
	ref := invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}
	_, err := e.m.AcceptCode(e.ctx(), ref, res.Code.Reveal(), invite.AcceptInput{Subject: "u", TenantID: "other"})
	require.ErrorIs(t, err, invite.ErrInvalidCode)
	require.Equal(t, invite.StatePending, e.get("t1", res.Invitation.ID).State, "not accepted")
	_, err = e.m.AcceptCode(e.ctx(), ref, res.Code.Reveal(), invite.AcceptInput{Subject: "u", TenantID: "t1"})
	require.NoError(t, err)
}
