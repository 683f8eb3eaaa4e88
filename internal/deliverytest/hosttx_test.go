package deliverytest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// TestHostTransaction creates invitations (send mode) inside host
// transactions (sqlstore's WithTx). Nothing is sent inline, and no secret
// is returned. A dispatcher drained after the host rolled back finds
// nothing to deliver; after a host commit it delivers the invitation with
// a fresh secret, whose link Manager.Accept takes. The rolled-back
// invitation is never delivered, nor any of its events published.
func TestHostTransaction(t *testing.T) {
	for _, be := range only(backends(t), "SQLite", "Postgres", "MySQL") {
		t.Run(be.name, func(t *testing.T) {
			fx := be.open(t)
			ctx := t.Context()
			notifier := &flakyNotifier{}
			sink := &flakySink{}
			m, err := invite.New(fx.Store, config(notifier, sink, nil))
			require.NoError(t, err)
			d, err := m.NewDispatcher(invite.DispatcherConfig{ID: "host"})
			require.NoError(t, err)

			create := func(commit bool) *invite.Result {
				t.Helper()
				tx, err := fx.DB.BeginTx(ctx, nil)
				require.NoError(t, err)
				defer func() { _ = tx.Rollback() }()
				res, err := m.WithStore(fx.SQL.WithTx(tx)).Create(ctx, invite.CreateInput{TenantID: tenant, Invitee: invite.Invitee{Email: email("host")}})
				require.NoError(t, err)
				require.NoError(t, res.DeliveryErr)
				require.True(t, res.Token.IsZero() && res.Link.IsZero(), "a secret was returned from inside a host transaction")
				require.Equal(t, invite.StatePending, res.Invitation.State)
				require.Empty(t, notifier.sent(), "sent inside a host transaction")
				require.Empty(t, sink.published(), "published inside a host transaction")
				if commit {
					require.NoError(t, tx.Commit())
				} else {
					require.NoError(t, tx.Rollback())
				}
				return res
			}

			rolledBack := create(false)
			n, err := d.Drain(ctx)
			require.NoError(t, err)
			require.Zero(t, n, "the dispatcher found entries of a rolled-back transaction")
			require.Empty(t, notifier.sent(), "a rolled-back invitation was delivered")
			require.Empty(t, sink.published(), "a rolled-back invitation's event was published")
			_, err = fx.Store.Get(ctx, tenant, rolledBack.Invitation.ID)
			require.ErrorIs(t, err, invite.ErrNotFound)

			committed := create(true)
			_, err = d.Drain(ctx)
			require.NoError(t, err)
			msgs := notifier.sent()
			require.Len(t, msgs, 1, "messages after the commit")
			require.Equal(t, committed.Invitation.ID, msgs[0].Msg.InvitationID)
			var types []invite.EventType
			for _, p := range sink.published() {
				require.Equal(t, committed.Invitation.ID, p.Event.InvitationID, "event %s of another invitation", p.Event.Type)
				types = append(types, p.Event.Type)
			}
			require.ElementsMatch(t, []invite.EventType{invite.EventCreated, invite.EventSent}, types)
			inv, err := m.Get(ctx, tenant, committed.Invitation.ID)
			require.NoError(t, err)
			require.Equal(t, invite.StateSent, inv.State)
			require.Equal(t, 1, inv.SendCount)

			s := outboxStats(t, fx.Store)
			require.Zero(t, s.Pending, "pending entries")
			require.Zero(t, s.Dead, "dead entries")

			acc, err := m.Accept(ctx, msgs[0].Token, invite.AcceptInput{Subject: "user-1"})
			require.NoError(t, err, "the delivered link's token")
			require.Equal(t, committed.Invitation.ID, acc.Invitation.ID)
		})
	}
}
