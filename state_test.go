package invite_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetest"
)

// TestEveryOperationFollowsTheTable walks every (operation, state) pair:
// the operation is run on an invitation in that state through the
// Manager, and must succeed and leave the state the table names exactly
// when the table allows it, and otherwise refuse with a *TransitionError
// naming the operation and the state, or (for the sweeps, which skip what
// they may not touch) leave the invitation in its state. An operation added
// to Operations without a driver here fails the test.
func TestEveryOperationFollowsTheTable(t *testing.T) {
	type fixture struct {
		h     *invitetest.Harness
		inv   *invite.Invitation
		token string
	}
	// run performs op on f.inv; the error is the operation's own (sweeps
	// return none).
	run := map[invite.Operation]func(t *testing.T, f fixture) error{
		invite.OpAccept: func(t *testing.T, f fixture) error {
			_, err := f.h.Accept(t.Context(), f.token, invite.AcceptInput{Subject: "someone-new"})
			return err
		},
		invite.OpReject: func(t *testing.T, f fixture) error {
			_, err := f.h.Reject(t.Context(), f.token, "")
			return err
		},
		invite.OpRevoke: func(t *testing.T, f fixture) error {
			_, err := f.h.Revoke(t.Context(), f.inv.TenantID, f.inv.ID, "")
			return err
		},
		invite.OpResend: func(t *testing.T, f fixture) error {
			_, err := f.h.Resend(t.Context(), f.inv.TenantID, f.inv.ID, invite.ResendOptions{Delivery: invite.DeliveryReturn})
			return err
		},
		invite.OpUpdate: func(t *testing.T, f fixture) error {
			name := "Renamed"
			_, err := f.h.Update(t.Context(), invite.UpdateInput{TenantID: f.inv.TenantID, ID: f.inv.ID, GivenName: &name})
			return err
		},
		invite.OpMarkSent: func(t *testing.T, f fixture) error {
			_, err := f.h.MarkSent(t.Context(), f.inv.TenantID, f.inv.ID)
			return err
		},
		invite.OpExpire: func(t *testing.T, f fixture) error {
			_, err := f.h.ExpireDue(t.Context(), 0)
			return err
		},
		invite.OpSupersede: func(t *testing.T, f fixture) error {
			_, err := f.h.Create(t.Context(), invite.CreateInput{TenantID: f.inv.TenantID, Invitee: f.inv.Invitee,
				Delivery: invite.DeliveryReturn, Supersede: true})
			return err
		},
		invite.OpDelete: func(t *testing.T, f fixture) error {
			return f.h.Delete(t.Context(), f.inv.TenantID, f.inv.ID, 0)
		},
		invite.OpCodeAttempt: func(t *testing.T, f fixture) error {
			// A wrong guess: counted where the table allows a check.
			_, err := f.h.VerifyCode(t.Context(), invite.CodeRef{TenantID: "t1", InvitationID: f.inv.ID}, "ZZZZZZZZ")
			if !errors.Is(err, invite.ErrInvalidCode) {
				return fmt.Errorf("a wrong code answered %v", err)
			}
			return nil
		},
		invite.OpForgetTokens: func(t *testing.T, f fixture) error {
			_, err := f.h.ForgetPreviousTokens(t.Context(), f.inv.TenantID, f.inv.ID)
			return err
		},
	}
	// The sweeps skip what they may not touch, and a code guess is
	// answered alike whatever the state (to tell nothing): no error.
	sweeps := map[invite.Operation]bool{invite.OpExpire: true, invite.OpSupersede: true, invite.OpCodeAttempt: true}
	// An operation repeated on the state it leads to is a replay, outside
	// the table as an accept by the same subject is: no error, no write.
	replays := map[invite.Operation]invite.State{invite.OpRevoke: invite.StateRevoked}
	// into puts a fresh invitation into the effective state s.
	into := func(t *testing.T, s invite.State) fixture {
		h := invitetest.NewManager(t, invite.Config{KeepPreviousTokens: true})
		res, err := h.Create(t.Context(), invite.CreateInput{TenantID: "t1", Invitee: invite.Invitee{Email: "ada@example.com"},
			Delivery: invite.DeliveryReturn, ExpiresIn: time.Hour, WithCode: true})
		require.NoError(t, err)
		// A resend, so that there is an earlier token to forget.
		res, err = h.Resend(t.Context(), "t1", res.Invitation.ID, invite.ResendOptions{Delivery: invite.DeliveryReturn})
		require.NoError(t, err)
		f := fixture{h: h, inv: res.Invitation, token: res.Token.Reveal()}
		switch s {
		case invite.StateSent:
			_, err = h.MarkSent(t.Context(), "t1", f.inv.ID)
		case invite.StateAccepted:
			_, err = h.Accept(t.Context(), f.token, invite.AcceptInput{Subject: "ada"})
		case invite.StateRejected:
			_, err = h.Reject(t.Context(), f.token, "")
		case invite.StateRevoked:
			_, err = h.Revoke(t.Context(), "t1", f.inv.ID, "")
		case invite.StateExpired:
			h.Clock.Advance(2 * time.Hour) // lapsed, not yet swept
		}
		require.NoError(t, err)
		got, err := h.Get(t.Context(), "t1", f.inv.ID)
		require.NoError(t, err)
		require.Equal(t, s, got.State)
		f.inv = got
		return f
	}

	for _, op := range invite.Operations {
		require.Contains(t, run, op, "no driver for operation %s", op)
		for _, from := range invite.States {
			t.Run(string(op)+"/"+string(from), func(t *testing.T) {
				f := into(t, from)
				want, allowed := op.Next(from)
				err := run[op](t, f)
				after, gerr := f.h.Get(t.Context(), "t1", f.inv.ID)
				switch {
				case allowed && op == invite.OpDelete:
					require.NoError(t, err)
					require.ErrorIs(t, gerr, invite.ErrNotFound)
				case allowed:
					require.NoError(t, err)
					require.NoError(t, gerr)
					require.Equal(t, want, after.State)
					require.Greater(t, after.Version, f.inv.Version, "the operation wrote")
				case replays[op] == from:
					require.NoError(t, err)
					require.NoError(t, gerr)
					require.Equal(t, f.inv.Version, after.Version, "a replay writes nothing")
				case sweeps[op]:
					require.NoError(t, err)
					require.NoError(t, gerr)
					// Left alone, or (a lapsed blocker of Create) expired by
					// OpExpire rather than superseded: the state stays.
					require.Equal(t, from, after.State, "a sweep skipped it")
					if op == invite.OpCodeAttempt {
						require.Equal(t, f.inv.Version, after.Version, "a refused guess writes nothing")
					}
				default:
					var te *invite.TransitionError
					require.True(t, errors.As(err, &te), "want *TransitionError, got %v", err)
					require.Equal(t, op, te.Op)
					require.Equal(t, from, te.From)
					require.ErrorIs(t, err, invite.ErrInvalidTransition)
					require.NoError(t, gerr)
					require.Equal(t, f.inv.Version, after.Version, "a refused operation wrote nothing")
				}
			})
		}
	}
}

// TestCanTransition: the lifecycle's moves, spelled out (not derived from
// the table, so that a change to the table that changes them shows).
func TestCanTransition(t *testing.T) {
	P, S, A, J, R, E := invite.StatePending, invite.StateSent, invite.StateAccepted, invite.StateRejected, invite.StateRevoked, invite.StateExpired
	allowed := map[[2]invite.State]bool{
		{P, P}: true, {P, S}: true, {P, A}: true, {P, J}: true, {P, R}: true, {P, E}: true,
		{S, S}: true, {S, A}: true, {S, J}: true, {S, R}: true, {S, E}: true,
		{E, P}: true, {E, R}: true,
	}
	for _, from := range invite.States {
		for _, to := range invite.States {
			require.Equal(t, allowed[[2]invite.State{from, to}], invite.CanTransition(from, to), "%s -> %s", from, to)
		}
	}
}

func TestStatePredicates(t *testing.T) {
	for _, s := range invite.States {
		require.True(t, s.Valid())
		require.False(t, s.Open() && s.Terminal(), "%s", s)
	}
	require.False(t, invite.State("done").Valid())
	require.True(t, invite.StateSent.Open())
	require.False(t, invite.StateExpired.Open())
	require.True(t, invite.StateRevoked.Terminal())
}
