package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetest"
	"github.com/stretchr/testify/require"
)

// testStateChanges runs the Manager's admin state changes on the store:
// an admin's acceptance racing the invitee's, a revoke repeated, an
// update that resends, and the public view of a closed invitation.
func (s *suite) testStateChanges(t *testing.T) {
	t.Run("AdminAcceptRace", s.testAdminAcceptRace)

	t.Run("RevokeTwice", func(t *testing.T) {
		st := s.store(t)
		m := manager(t, st, nil)
		res := create(t, m, invite.CreateInput{TenantID: tenantA, Invitee: invite.Invitee{Email: newEmail()}})
		first, err := m.Revoke(t.Context(), tenantA, res.Invitation.ID, "first")
		require.NoError(t, err, "Revoke")
		again, err := m.Revoke(t.Context(), tenantA, res.Invitation.ID, "second")
		require.NoError(t, err, "Revoke of a revoked invitation")
		requireInvitationEqual(t, first, again, "the second Revoke")
		rec := mustGet(t, st, tenantA, res.Invitation.ID)
		require.EqualValues(t, 2, rec.Invitation.Version, "the second Revoke wrote")
		require.Equal(t, "first", rec.Invitation.Reason)
	})

	t.Run("UpdateAndResend", func(t *testing.T) {
		st := s.store(t)
		clk := invitetest.NewClock(time.Now().UTC())
		down := errors.New("notifier down")
		m, err := invite.New(st, invite.Config{Now: clk.Now, CodeHashParams: invitetest.FastCodeHash,
			LinkTemplate: "https://app.example/i/{{.Token}}",
			Notifier:     invite.NotifierFunc(func(context.Context, invite.Message) error { return down })})
		require.NoError(t, err, "invite.New")
		res := create(t, m, invite.CreateInput{TenantID: tenantA, Invitee: invite.Invitee{Email: newEmail()}, WithCode: true})
		ob, isOutbox := st.(invite.Outbox)
		var before invite.OutboxStats
		if isOutbox {
			before, err = ob.OutboxStats(t.Context())
			require.NoError(t, err, "OutboxStats")
		}
		clk.Advance(time.Hour)
		name := "Augusta"
		out, err := m.UpdateAndResend(t.Context(), invite.UpdateInput{TenantID: tenantA, ID: res.Invitation.ID, Version: 1, GivenName: &name},
			invite.ResendOptions{})
		require.NoError(t, err, "UpdateAndResend")
		require.ErrorIs(t, out.DeliveryErr, down)
		require.False(t, out.Token.IsZero())

		rec := mustGet(t, st, tenantA, res.Invitation.ID)
		require.EqualValues(t, 2, rec.Invitation.Version, "the edit and the new secret are one write")
		require.Equal(t, "Augusta", rec.Invitation.GivenName)
		require.Equal(t, 1, rec.Invitation.ResendCount)
		requireTime(t, out.Invitation.LastResentAt, rec.Invitation.LastResentAt, "LastResentAt")
		require.False(t, rec.Invitation.LastResentAt.IsZero())
		requireRecordEqual(t, &invite.Record{Invitation: *out.Invitation, Credentials: rec.Credentials}, rec, "Get after UpdateAndResend")

		_, err = m.Lookup(t.Context(), res.Token.Reveal())
		require.ErrorIs(t, err, invite.ErrInvalidToken, "the replaced token")
		got, err := m.Lookup(t.Context(), out.Token.Reveal())
		require.NoError(t, err, "the new token")
		require.Equal(t, "Augusta", got.GivenName)
		if isOutbox {
			after, err := ob.OutboxStats(t.Context())
			require.NoError(t, err, "OutboxStats")
			require.Equal(t, before.Pending+1, after.Pending, "the message is queued with the write")
		}
	})

	t.Run("LookupClosedPublicView", func(t *testing.T) {
		st := s.store(t)
		m := manager(t, st, nil)
		res := create(t, m, invite.CreateInput{TenantID: tenantA, Invitee: invite.Invitee{Email: newEmail()},
			Inviter: invite.Inviter{ID: "admin-7", Name: "Grace"}, AccountName: "Acme", Roles: []string{"admin"},
			Metadata: []byte(`{"internal":true}`), IdempotencyKey: "idem-" + newID()})
		acc, err := m.AcceptByID(t.Context(), tenantA, res.Invitation.ID, invite.AdminAcceptInput{Subject: "u1"})
		require.NoError(t, err, "AcceptByID")
		_, err = m.Lookup(t.Context(), res.Token.Reveal())
		require.ErrorIs(t, err, invite.ErrAlreadyAccepted)
		var te *invite.TransitionError
		require.True(t, errors.As(err, &te), "want *TransitionError, got %v", err)
		require.NotNil(t, te.Public, "the view")
		require.Equal(t, acc.Invitation.Public(), te.Public)
		require.Equal(t, "Grace", te.Public.InviterName)
		require.Equal(t, []string{"admin"}, te.Public.Roles)
	})
}

// testAdminAcceptRace has admins (AcceptByID) and invitees (Accept) accept
// one invitation at once, with different subjects, round after round:
// exactly one wins each round, every other gets ErrAlreadyAccepted, and
// the acceptance is one write.
func (s *suite) testAdminAcceptRace(t *testing.T) {
	st := s.store(t)
	m := manager(t, st, nil)
	n := max(2, s.opts.AcceptRaceGoroutines/2)
	for round := range s.opts.SameSubjectRounds {
		res := create(t, m, invite.CreateInput{TenantID: tenantA, Invitee: invite.Invitee{Email: newEmail()}})
		token := res.Token.Reveal()
		type outcome struct {
			acc *invite.Acceptance
			err error
		}
		outs := race(n, func(i int) outcome {
			subject := fmt.Sprintf("subject-%d", i)
			var acc *invite.Acceptance
			var err error
			if i%2 == 0 {
				acc, err = m.AcceptByID(t.Context(), tenantA, res.Invitation.ID, invite.AdminAcceptInput{Subject: subject})
			} else {
				acc, err = m.Accept(t.Context(), token, invite.AcceptInput{Subject: subject})
			}
			return outcome{acc, err}
		})
		winner := -1
		for i, o := range outs {
			if o.err == nil && !o.acc.Replayed {
				require.Equal(t, -1, winner, "round %d: subjects %d and %d both accepted", round, winner, i)
				winner = i
				continue
			}
			require.True(t, errors.Is(o.err, invite.ErrAlreadyAccepted),
				"round %d: losing subject %d: got %v, want ErrAlreadyAccepted", round, i, o.err)
		}
		require.NotEqual(t, -1, winner, "round %d: nobody accepted", round)
		rec := mustGet(t, st, tenantA, res.Invitation.ID)
		require.Equal(t, fmt.Sprintf("subject-%d", winner), rec.Invitation.AcceptedBy, "round %d: the stored subject is the winner's", round)
		require.EqualValues(t, 2, rec.Invitation.Version, "round %d: one acceptance is one write", round)
	}
}
