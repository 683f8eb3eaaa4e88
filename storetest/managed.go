package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetest"
	"github.com/stretchr/testify/require"
)

// manager returns a Manager on st; now may be nil for the wall clock.
func manager(t *testing.T, st invite.Store, now func() time.Time) *invite.Manager {
	t.Helper()
	m, err := invite.New(st, invite.Config{Now: now, CodeHashParams: invitetest.FastCodeHash})
	require.NoError(t, err, "invite.New")
	return m
}

func create(t *testing.T, m *invite.Manager, in invite.CreateInput) *invite.Result {
	t.Helper()
	in.Delivery = invite.DeliveryReturn
	res, err := m.Create(t.Context(), in)
	require.NoError(t, err, "Create")
	return res
}

// testManager runs the Manager's guarantees that rest on the store: the
// single-use accept under concurrency, and the uniqueness rules of Create.
func (s *suite) testManager(t *testing.T) {
	t.Run("AcceptRace", s.testAcceptRace)
	t.Run("AcceptRaceSameSubject", s.testAcceptRaceSameSubject)
	t.Run("StateChanges", s.testStateChanges)

	t.Run("CreateReplacesExpired", func(t *testing.T) {
		st := s.store(t)
		clk := invitetest.NewClock(time.Now().UTC())
		m := manager(t, st, clk.Now)
		iv := invite.Invitee{Email: newEmail(), Phone: newPhone()}
		old := create(t, m, invite.CreateInput{TenantID: tenantA, Invitee: iv, ExpiresIn: time.Hour})

		// Still live: a second Create is refused.
		_, err := m.Create(t.Context(), invite.CreateInput{TenantID: tenantA, Invitee: invite.Invitee{Email: iv.Email}, Delivery: invite.DeliveryReturn})
		require.ErrorIs(t, err, invite.ErrAlreadyExists, "Create while the first invitation is live")

		clk.Advance(2 * time.Hour)
		fresh := create(t, m, invite.CreateInput{TenantID: tenantA, Invitee: invite.Invitee{Email: iv.Email}})
		require.Equal(t, invite.StatePending, fresh.Invitation.State)

		prev := mustGet(t, st, tenantA, old.Invitation.ID)
		require.Equal(t, invite.StateExpired, prev.Invitation.State, "the lapsed invitation is marked expired")
		require.EqualValues(t, 2, prev.Invitation.Version)
		requireTime(t, prev.Invitation.ExpiresAt, prev.Invitation.ClosedAt, "ClosedAt of the lapsed invitation is its expiry")
		requireOpen(t, st, tenantA, iv, mustGet(t, st, tenantA, fresh.Invitation.ID))

		_, err = m.Accept(t.Context(), old.Token.Reveal(), invite.AcceptInput{Subject: "late"})
		require.ErrorIs(t, err, invite.ErrExpired, "accepting the lapsed invitation")
		acc, err := m.Accept(t.Context(), fresh.Token.Reveal(), invite.AcceptInput{Subject: "on-time"})
		require.NoError(t, err, "accepting the new invitation")
		require.False(t, acc.Replayed)
	})

	t.Run("Supersede", func(t *testing.T) {
		st := s.store(t)
		m := manager(t, st, nil)
		iv := invite.Invitee{Email: newEmail(), UserID: "user-" + newID()}
		old := create(t, m, invite.CreateInput{TenantID: tenantA, Invitee: iv})
		fresh := create(t, m, invite.CreateInput{TenantID: tenantA, Invitee: invite.Invitee{UserID: iv.UserID}, Supersede: true})

		prev := mustGet(t, st, tenantA, old.Invitation.ID)
		require.Equal(t, invite.StateRevoked, prev.Invitation.State, "the superseded invitation is revoked")
		require.False(t, prev.Invitation.ClosedAt.IsZero(), "ClosedAt of the superseded invitation")
		requireOpen(t, st, tenantA, iv, mustGet(t, st, tenantA, fresh.Invitation.ID))

		_, err := m.Accept(t.Context(), old.Token.Reveal(), invite.AcceptInput{Subject: iv.UserID})
		require.ErrorIs(t, err, invite.ErrInvalidTransition, "accepting the superseded invitation")
		_, err = m.Accept(t.Context(), fresh.Token.Reveal(), invite.AcceptInput{Subject: iv.UserID})
		require.NoError(t, err, "accepting the new invitation")
	})

	t.Run("IdempotentCreate", func(t *testing.T) {
		st := s.store(t)
		m := manager(t, st, nil)
		in := invite.CreateInput{TenantID: tenantA, Invitee: invite.Invitee{Email: newEmail()}, IdempotencyKey: "create-1"}
		first := create(t, m, in)
		again := create(t, m, in)
		require.True(t, again.Replayed, "second Create with the same key")
		require.Equal(t, first.Invitation.ID, again.Invitation.ID)
		require.True(t, again.Token.IsZero(), "a replay returns no token")

		// The same key in another tenant is another invitation.
		in.TenantID = tenantB
		other := create(t, m, in)
		require.False(t, other.Replayed)
		require.NotEqual(t, first.Invitation.ID, other.Invitation.ID)
	})
}

// testAcceptRace has many goroutines accept one token with different
// subjects, round after round: exactly one wins each round, every other
// gets ErrAlreadyAccepted.
func (s *suite) testAcceptRace(t *testing.T) {
	st := s.store(t)
	m := manager(t, st, nil)
	n := s.opts.AcceptRaceGoroutines
	for round := range s.opts.AcceptRaceRounds {
		res := create(t, m, invite.CreateInput{TenantID: tenantA, Invitee: invite.Invitee{Email: fmt.Sprintf("race-%d-%s@example.com", round, newID())}})
		token := res.Token.Reveal()
		type outcome struct {
			acc *invite.Acceptance
			err error
		}
		outs := race(n, func(i int) outcome {
			acc, err := m.Accept(t.Context(), token, invite.AcceptInput{Subject: fmt.Sprintf("subject-%d", i)})
			return outcome{acc, err}
		})
		winner := -1
		for i, o := range outs {
			if o.err == nil && !o.acc.Replayed {
				require.Equal(t, -1, winner, "round %d: subjects %d and %d both accepted", round, winner, i)
				winner = i
				continue
			}
			require.Error(t, o.err, "round %d: subject %d got a replayed acceptance of another subject's invitation", round, i)
			require.True(t, errors.Is(o.err, invite.ErrAlreadyAccepted),
				"round %d: losing subject %d: got %v, want ErrAlreadyAccepted", round, i, o.err)
		}
		require.NotEqual(t, -1, winner, "round %d: nobody accepted", round)
		rec := mustGet(t, st, tenantA, res.Invitation.ID)
		require.Equal(t, invite.StateAccepted, rec.Invitation.State, "round %d", round)
		require.Equal(t, fmt.Sprintf("subject-%d", winner), rec.Invitation.AcceptedBy, "round %d: the stored subject is the winner's", round)
		require.EqualValues(t, 2, rec.Invitation.Version, "round %d: one acceptance is one write", round)
	}
}

// testAcceptRaceSameSubject has many goroutines accept one token with the
// same subject: one acceptance, every other call a replay, no error.
func (s *suite) testAcceptRaceSameSubject(t *testing.T) {
	st := s.store(t)
	m := manager(t, st, nil)
	n := s.opts.AcceptRaceGoroutines
	for round := range s.opts.SameSubjectRounds {
		res := create(t, m, invite.CreateInput{TenantID: tenantA, Invitee: invite.Invitee{Email: fmt.Sprintf("same-%d-%s@example.com", round, newID())}})
		token := res.Token.Reveal()
		type outcome struct {
			acc *invite.Acceptance
			err error
		}
		outs := race(n, func(i int) outcome {
			acc, err := m.Accept(t.Context(), token, invite.AcceptInput{Subject: "the-subject"})
			return outcome{acc, err}
		})
		real := 0
		for i, o := range outs {
			require.NoError(t, o.err, "round %d: call %d", round, i)
			require.Equal(t, res.Invitation.ID, o.acc.Invitation.ID)
			require.Equal(t, invite.StateAccepted, o.acc.Invitation.State, "round %d: call %d", round, i)
			if !o.acc.Replayed {
				real++
			}
		}
		require.Equal(t, 1, real, "round %d: acceptances that were not replays", round)
		rec := mustGet(t, st, tenantA, res.Invitation.ID)
		require.Equal(t, "the-subject", rec.Invitation.AcceptedBy)
		require.EqualValues(t, 2, rec.Invitation.Version, "round %d: one acceptance is one write", round)
	}
}
