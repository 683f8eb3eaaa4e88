package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// TestUpdateEveryColumn stores an update that keeps the token hashes but
// changes the columns a first attempt may require unchanged (created_at,
// idempotency_key) and every other column: the update takes the fallback
// and stores them all, and the token still finds the invitation.
func TestUpdateEveryColumn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		st, _ := be.newStore(t)
		res := create(t, manager(t, st), "every.column@example.com")
		rec, err := st.Get(ctx, res.Invitation.TenantID, res.Invitation.ID)
		require.NoError(t, err)

		next := rec.Clone()
		inv := &next.Invitation
		inv.CreatedAt = inv.CreatedAt.Add(-time.Hour)
		inv.IdempotencyKey = "key-after"
		inv.Invitee.Phone = "+15550100"
		inv.Inviter.ID = "inviter-after"
		inv.ExpiresAt = inv.ExpiresAt.Add(time.Hour)
		inv.UpdatedAt = inv.UpdatedAt.Add(time.Minute)
		inv.Version++
		require.NoError(t, st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: next, Expect: rec.Invitation.Version}}}))

		got, err := st.Get(ctx, inv.TenantID, inv.ID)
		require.NoError(t, err)
		require.True(t, got.Invitation.CreatedAt.Equal(inv.CreatedAt))
		require.Equal(t, inv.Version, got.Invitation.Version)
		byKey, err := st.GetByIdempotencyKey(ctx, inv.TenantID, "key-after")
		require.NoError(t, err)
		require.Equal(t, inv.ID, byKey.Invitation.ID)
		open, err := st.FindOpen(ctx, inv.TenantID, invite.Invitee{Phone: "+15550100"})
		require.NoError(t, err)
		require.Len(t, open, 1)
		page, _, err := st.List(ctx, inv.TenantID, invite.Query{Limit: 10, Now: time.Now(), Filter: invite.Filter{InviterID: "inviter-after"}})
		require.NoError(t, err)
		require.Len(t, page, 1)
		byToken, err := st.GetByTokenHash(ctx, rec.Credentials.TokenHash)
		require.NoError(t, err)
		require.Equal(t, inv.Version, byToken.Invitation.Version)
	})
}
