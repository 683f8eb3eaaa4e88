package sqlstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// The update that sets only what changed (SQLite, given Write.Prev) must
// never trust Prev: these run on every backend, where the outcome must be
// the same whatever the dialect does with it.

// TestUpdateWithAnUntruePrev gives Apply a Prev that claims the email and
// the token stayed as they are: the write must still store the new email
// and token, and the old token must stop working.
func TestUpdateWithAnUntruePrev(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		st, db := be.newStore(t)
		m := manager(t, st)
		ctx := t.Context()
		res := create(t, m, "before@example.com")
		cur, err := st.Get(ctx, "tenant-1", res.Invitation.ID)
		require.NoError(t, err)

		token, hash, err := invite.MintToken(invite.DefaultTokenPrefix)
		require.NoError(t, err)
		next := *cur
		next.Invitation.Invitee.Email = "after@example.com"
		next.Invitation.Version++
		next.Credentials.TokenHash = hash
		untrue := next // "nothing of these changed"
		untrue.Invitation.Version = cur.Invitation.Version
		require.NoError(t, st.Apply(ctx, &invite.Batch{Writes: []invite.Write{
			{Record: &next, Expect: cur.Invitation.Version, Rotated: true, Prev: &untrue}}}))

		got, err := st.Get(ctx, "tenant-1", res.Invitation.ID)
		require.NoError(t, err)
		require.Equal(t, "after@example.com", got.Invitation.Invitee.Email)
		p := st.TablePrefix()
		require.Equal(t, 1, countRows(t, db, be.dialect, p+"invitations", "email_key = ?", "after@example.com"))
		require.Zero(t, countRows(t, db, be.dialect, p+"invitations", "email_key = ?", "before@example.com"))
		_, err = m.Lookup(ctx, token.Reveal())
		require.NoError(t, err, "the new token")
		_, err = m.Lookup(ctx, res.Token.Reveal())
		require.ErrorIs(t, err, invite.ErrInvalidToken, "the old token")
	})
}

// TestUpdateRepairsWhatAnOlderVersionLeftOut: a row whose search keys are
// missing (as an older version of this package writes them) gets them
// back from any write of the invitation, though the names did not change.
func TestUpdateRepairsWhatAnOlderVersionLeftOut(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		st, db := be.newStore(t)
		m := manager(t, st)
		ctx := t.Context()
		res, err := m.Create(ctx, invite.CreateInput{TenantID: "tenant-1", Invitee: invite.Invitee{Email: "ada@example.com"},
			GivenName: "Ada", FamilyName: "Lovelace", Delivery: invite.DeliveryReturn})
		require.NoError(t, err)
		p := st.TablePrefix()
		_, err = db.ExecContext(ctx, "UPDATE "+p+"invitations SET search_name = NULL, search_family = NULL")
		require.NoError(t, err)
		require.Zero(t, countRows(t, db, be.dialect, p+"invitations", "search_family = ?", "lovelace"))

		_, err = m.MarkSent(ctx, "tenant-1", res.Invitation.ID)
		require.NoError(t, err)
		require.Equal(t, 1, countRows(t, db, be.dialect, p+"invitations", "search_family = ? AND search_name = ?",
			"lovelace", "ada lovelace"))
	})
}

// TestResendThroughTheManager: a resend (Prev given, the token columns
// changed) leaves exactly the new token working, and an accept after it
// (Prev given, the token columns unchanged) closes the invitation.
func TestResendThroughTheManager(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		st, db := be.newStore(t)
		m := manager(t, st)
		ctx := t.Context()
		res := create(t, m, "resent@example.com")
		again, err := m.Resend(ctx, "tenant-1", res.Invitation.ID, invite.ResendOptions{Delivery: invite.DeliveryReturn})
		require.NoError(t, err)
		_, err = m.Lookup(ctx, res.Token.Reveal())
		require.ErrorIs(t, err, invite.ErrInvalidToken, "the first token")
		p := st.TablePrefix()
		require.Equal(t, 1, countRows(t, db, be.dialect, p+"tokens", "invitation_id = ?", res.Invitation.ID))

		acc, err := m.Accept(ctx, again.Token.Reveal(), invite.AcceptInput{Subject: "user-1"})
		require.NoError(t, err)
		require.Equal(t, invite.StateAccepted, acc.Invitation.State)
		require.Zero(t, countRows(t, db, be.dialect, p+"invitations", "state IN ('pending', 'sent')"))
		require.Equal(t, 1, countRows(t, db, be.dialect, p+"invitations", "closed_at IS NOT NULL"))
	})
}
