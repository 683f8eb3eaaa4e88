package storetest

// The outbox suite, continued: messages queued with their invitation's
// insert and never claimed (a store may hold them apart from its other
// entries until they come due; they must behave as every other entry).

import (
	"testing"
	"time"

	"github.com/invitekit/invite"
	"github.com/stretchr/testify/require"
)

// later is when the messages of testHeldMessages come due: after every
// claim the subtests make before they mean to claim them.
var later = base.Add(time.Hour)

func (o *outboxSuite) testHeldMessages(t *testing.T) {
	claimMessages := func(t *testing.T, st outboxStore) []*invite.OutboxEntry {
		t.Helper()
		return claim(t, st, "d1", later.Add(time.Minute), 10, invite.OutboxMessage)
	}

	t.Run("ClaimedWhenDue", func(t *testing.T) {
		st := o.store(t)
		r, _, msg := queued(t, st, tenantA, later)
		require.Empty(t, claim(t, st, "d1", later.Add(-time.Microsecond), 10, invite.OutboxMessage), "not due yet")
		s := stats(t, st)
		require.Equal(t, 2, s.Pending, "the event and the message")
		requireTime(t, base, s.OldestPending, "OldestPending")
		es := claim(t, st, "d1", later, 10, invite.OutboxMessage)
		require.Len(t, es, 1)
		e := es[0]
		require.Equal(t, msg.ID, e.ID)
		require.Equal(t, invite.OutboxMessage, e.Kind)
		require.Equal(t, r.Invitation.TenantID, e.TenantID)
		require.Equal(t, r.Invitation.ID, e.InvitationID)
		require.Equal(t, 1, e.Attempts)
		require.Equal(t, "d1", e.Owner)
		requireTime(t, later.Add(lease), e.AvailableAt, "AvailableAt (the lease)")
		requireTime(t, base, e.CreatedAt, "CreatedAt")
		require.NotNil(t, e.Message)
		require.Equal(t, msg.ID, e.Message.ID)
		require.Equal(t, msg.Resend, e.Message.Resend)
		require.Equal(t, msg.ResendCount, e.Message.ResendCount)
		requireTime(t, later, e.Message.AvailableAt, "Message.AvailableAt")
		require.Equal(t, 2, stats(t, st).Pending, "claimed, still pending")
		require.Equal(t, 1, settle(t, st, "d1", later, invite.Settlement{ID: msg.ID, Attempt: 1, Outcome: invite.Delivered}))
		require.Equal(t, 1, stats(t, st).Pending)
	})

	t.Run("DeliveredByItsWrite", func(t *testing.T) {
		st := o.store(t)
		r, _, msg := queued(t, st, tenantA, later)
		b := &invite.Batch{Writes: []invite.Write{upd(next(r), 1)}, Delivered: []string{msg.ID}}
		require.NoError(t, st.Apply(t.Context(), b))
		require.Empty(t, claimMessages(t, st))
		require.Equal(t, 1, stats(t, st).Pending, "the created event alone")
	})

	t.Run("DeliveredByAnotherWrite", func(t *testing.T) {
		st := o.store(t)
		_, _, msg := queued(t, st, tenantA, later)
		other, _, kept := queued(t, st, tenantA, later)
		b := &invite.Batch{Writes: []invite.Write{upd(next(other), 1)}, Delivered: []string{msg.ID}}
		require.NoError(t, st.Apply(t.Context(), b))
		require.Equal(t, []string{kept.ID}, entryIDs(claimMessages(t, st)))
	})

	t.Run("DeliveredWithoutWrites", func(t *testing.T) {
		st := o.store(t)
		_, _, msg := queued(t, st, tenantA, later)
		_, _, kept := queued(t, st, tenantB, later)
		require.NoError(t, st.Apply(t.Context(), &invite.Batch{Delivered: []string{msg.ID}}))
		require.Equal(t, []string{kept.ID}, entryIDs(claimMessages(t, st)))
	})

	t.Run("DeliveredByAnInsert", func(t *testing.T) {
		st := o.store(t)
		_, _, msg := queued(t, st, tenantA, later)
		b := batch(ins(newRecord(tenantA)))
		b.Delivered = []string{msg.ID}
		require.NoError(t, st.Apply(t.Context(), b))
		require.Empty(t, claimMessages(t, st))
	})

	t.Run("DeletedWithItsInvitation", func(t *testing.T) {
		st := o.store(t)
		r, _, _ := queued(t, st, tenantA, later)
		_, _, kept := queued(t, st, tenantA, later)
		mustApply(t, st, del(r))
		require.Equal(t, []string{kept.ID}, entryIDs(claimMessages(t, st)))
	})

	t.Run("UpdatesKeepIt", func(t *testing.T) {
		// Writes of the invitation that settle nothing (an update, a
		// resend queueing a newer message) leave the message queued.
		st := o.store(t)
		r, _, msg := queued(t, st, tenantA, later)
		u := next(r)
		mustApply(t, st, upd(u, 1))
		b := batch(upd(next(u), 2))
		newer := message(r, base, later)
		b.Messages = append(b.Messages, newer)
		require.NoError(t, st.Apply(t.Context(), b))
		require.ElementsMatch(t, []string{msg.ID, newer.ID}, entryIDs(claimMessages(t, st)))
	})

	t.Run("TwoForOneInsert", func(t *testing.T) {
		st := o.store(t)
		r := newRecord(tenantA)
		b := batch(ins(r))
		m1, m2 := message(r, base, later), message(r, base, later)
		b.Messages = append(b.Messages, m1, m2)
		require.NoError(t, st.Apply(t.Context(), b))
		require.ElementsMatch(t, []string{m1.ID, m2.ID}, entryIDs(claimMessages(t, st)))
	})
}
