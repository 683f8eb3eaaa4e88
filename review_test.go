package invite_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// Regression tests for the issues found in review.

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

func TestUpsertIsNotBlockedByALapsedInvitationOnAnotherKey(t *testing.T) {
	e := newEnv(t)
	byPhone := input("")
	byPhone.Invitee = invite.Invitee{Phone: "+4930123456"}
	byPhone.ExpiresIn = time.Hour
	lapsed := e.create(byPhone)
	live := e.create(input("ada@example.com"))
	e.clock.Advance(2 * time.Hour)

	both := input("ada@example.com")
	both.Invitee.Phone = "+4930123456"
	up, err := e.m.Upsert(e.ctx(), both)
	require.NoError(t, err)
	require.False(t, up.Created)
	require.Equal(t, live.Invitation.ID, up.Invitation.ID)
	require.Equal(t, "+4930123456", up.Invitation.Invitee.Phone)
	got := e.get("t1", lapsed.Invitation.ID)
	require.Equal(t, invite.StateExpired, got.State)
	require.False(t, got.ClosedAt.IsZero(), "the lapsed invitation was closed, with its event")
	require.Contains(t, e.events.Types(), invite.EventExpired)
}

func TestResendStoresMicrosecondExpiry(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	out, err := e.m.Resend(e.ctx(), "t1", res.Invitation.ID, invite.ResendOptions{
		Delivery: invite.DeliveryReturn, ExpiresIn: 2*time.Hour + 789*time.Nanosecond})
	require.NoError(t, err)
	require.Zero(t, out.Invitation.ExpiresAt.Nanosecond()%1000)
	require.Equal(t, out.Invitation.ExpiresAt, e.get("t1", res.Invitation.ID).ExpiresAt)
}

func TestAcceptPinnedToTenant(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com")) // tenant t1
	_, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u1", TenantID: "t2"})
	require.ErrorIs(t, err, invite.ErrInvalidToken)
	require.Equal(t, invite.StatePending, e.get("t1", res.Invitation.ID).State, "not consumed")
	acc, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u1", TenantID: "t1"})
	require.NoError(t, err)
	require.Equal(t, invite.StateAccepted, acc.Invitation.State)
}

func TestCreateNeedsAnInviteeInEveryDeliveryMode(t *testing.T) {
	e := newEnv(t)
	in := input("")
	in.Invitee = invite.Invitee{}
	_, err := e.m.Create(e.ctx(), in)
	requireValidation(t, err, "Invitee")
	require.ErrorIs(t, err, invite.ErrNoDeliveryChannel)
	require.Zero(t, e.count("t1"))
}
