package storetest

import (
	"testing"
	"time"

	"github.com/invitekit/invite"
	"github.com/stretchr/testify/require"
)

func (s *suite) testTimePrecision(t *testing.T) {
	// Every time field with its own microsecond part, the extremes included.
	sec := base.Truncate(time.Second)
	micro := func(r *invite.Record, open bool) {
		inv := &r.Invitation
		inv.CreatedAt = sec.Add(time.Microsecond)
		inv.IssuedAt = sec.Add(time.Second + 999_999*time.Microsecond)
		inv.SentAt = sec.Add(2*time.Second + 500_001*time.Microsecond)
		inv.UpdatedAt = sec.Add(3*time.Second + 10*time.Microsecond)
		inv.ExpiresAt = sec.Add(time.Hour + 987_654*time.Microsecond)
		if !open {
			inv.ClosedAt = sec.Add(4*time.Second + 123_457*time.Microsecond)
			inv.UpdatedAt = inv.ClosedAt
		}
		r.Credentials.PreviousTokens[0].ExpiresAt = sec.Add(30*time.Minute + 7*time.Microsecond)
		r.Credentials.PreviousTokens[1].ExpiresAt = sec.Add(20*time.Minute + 999_999*time.Microsecond)
	}

	t.Run("RoundTrip", func(t *testing.T) {
		st := s.store(t)
		open, closed := fullRecord(tenantA), closedRecord(tenantA)
		micro(open, true)
		micro(closed, false)
		closed.Invitation.CreatedAt = closed.Invitation.CreatedAt.Add(time.Microsecond)
		mustInsert(t, st, open, closed)

		for _, r := range []*invite.Record{open, closed} {
			requireStored(t, st, r)
			requireTokenFinds(t, st, r.Credentials.TokenHash, r)
			requireTokenFinds(t, st, r.Credentials.PreviousTokens[1].Hash, r)
			got, err := st.GetByIdempotencyKey(t.Context(), tenantA, r.Invitation.IdempotencyKey)
			require.NoError(t, err)
			requireRecordEqual(t, r, got, "GetByIdempotencyKey")
		}
		requireOpen(t, st, tenantA, open.Invitation.Invitee, open)
		invs, _ := listAll(t, st, tenantA, invite.Query{Now: sec, Limit: 1, Filter: all})
		require.Len(t, invs, 2)
		requireInvitationEqual(t, &open.Invitation, invs[0], "List")
		requireInvitationEqual(t, &closed.Invitation, invs[1], "List")
		due, err := st.ListDue(t.Context(), open.Invitation.ExpiresAt, 10)
		require.NoError(t, err)
		require.Len(t, due, 1)
		requireRecordEqual(t, open, due[0], "ListDue")

		// And through an update.
		u := next(open, func(r *invite.Record) {
			r.Invitation.ExpiresAt = r.Invitation.ExpiresAt.Add(24*time.Hour + 1*time.Microsecond)
			r.Invitation.UpdatedAt = r.Invitation.UpdatedAt.Add(999_999 * time.Microsecond)
		})
		mustApply(t, st, upd(u, 1))
		requireStored(t, st, u)
	})

	t.Run("OrderByMicroseconds", func(t *testing.T) {
		st := s.store(t)
		// CreatedAt a microsecond apart, against the id order: a store that
		// kept milliseconds would fall back to the ids.
		recs := make([]*invite.Record, 5)
		for i := range recs {
			recs[i] = newRecord(tenantA, created(sec.Add(time.Duration(len(recs)-i)*time.Microsecond)))
		}
		mustInsert(t, st, recs...)
		for _, desc := range []bool{false, true} {
			got, _ := listAll(t, st, tenantA, invite.Query{Now: sec, Limit: 2, Descending: desc, Filter: all})
			require.Equal(t, sortedIDs(recs, desc), invitationIDs(got), direction(desc))
		}
		got, _ := listAll(t, st, tenantA, invite.Query{Now: sec, Limit: 10, Filter: invite.Filter{
			CreatedFrom: sec.Add(2 * time.Microsecond), CreatedTo: sec.Add(4 * time.Microsecond)}})
		require.Equal(t, []string{recs[3].Invitation.ID, recs[2].Invitation.ID}, invitationIDs(got), "CreatedFrom/CreatedTo at the microsecond")
	})
}

func (s *suite) testListDue(t *testing.T) {
	now := base
	past := created(base.Add(-10 * 24 * time.Hour))
	type rec = *invite.Record
	setup := func(t *testing.T) (invite.Store, []rec) {
		st := s.store(t)
		a1 := newRecord(tenantA, past, expires(now.Add(-3*time.Hour)))
		a3 := newRecord(tenantA, past, expires(now.Add(-2*time.Hour)), state(invite.StateSent))
		b1 := newRecord(tenantB, past, expires(now.Add(-time.Hour)))
		c1 := newRecord(tenantC, past, expires(now)) // due at the instant
		notYet := newRecord(tenantA, past, expires(now.Add(time.Microsecond)))
		accepted := newRecord(tenantB, past, expires(now.Add(-5*time.Hour)), state(invite.StateAccepted))
		expired := newRecord(tenantC, past, expires(now.Add(-4*time.Hour)), state(invite.StateExpired))
		revoked := newRecord(tenantC, past, expires(now.Add(-6*time.Hour)), state(invite.StateRevoked))
		mustInsert(t, st, c1, notYet, b1, accepted, a3, expired, a1, revoked)
		return st, []rec{a1, a3, b1, c1}
	}

	t.Run("AcrossTenantsSoonestFirst", func(t *testing.T) {
		st, want := setup(t)
		got, err := st.ListDue(t.Context(), now, 100)
		require.NoError(t, err)
		require.Equal(t, recordIDs(want), recordIDs(got))
		for i := range want {
			requireRecordEqual(t, want[i], got[i], "ListDue")
		}
	})

	t.Run("Limit", func(t *testing.T) {
		st, want := setup(t)
		for _, limit := range []int{1, 2, 4} {
			got, err := st.ListDue(t.Context(), now, limit)
			require.NoError(t, err)
			require.Equal(t, recordIDs(want[:limit]), recordIDs(got), "limit %d", limit)
		}
	})

	t.Run("NothingDue", func(t *testing.T) {
		st, _ := setup(t)
		got, err := st.ListDue(t.Context(), now.Add(-3*time.Hour-time.Microsecond), 100)
		require.NoError(t, err)
		require.Empty(t, got)
	})
}

func (s *suite) testPurge(t *testing.T) {
	before := base
	past := created(base.Add(-10 * 24 * time.Hour))
	t.Run("ClosedBeforeCutoff", func(t *testing.T) {
		st := s.store(t)
		withCreds := func(r *invite.Record) {
			r.Invitation.IdempotencyKey = "key-" + r.Invitation.ID
			previous(newHash())(r)
		}
		purged := []*invite.Record{
			newRecord(tenantA, past, withCreds, state(invite.StateAccepted, before.Add(-3*time.Hour))),
			newRecord(tenantB, past, withCreds, state(invite.StateRejected, before.Add(-2*time.Hour))),
			newRecord(tenantC, past, withCreds, state(invite.StateRevoked, before.Add(-time.Hour))),
			newRecord(tenantA, past, withCreds, state(invite.StateExpired, before.Add(-time.Microsecond))),
		}
		kept := []*invite.Record{
			newRecord(tenantA, past, withCreds, state(invite.StateAccepted, before)), // not before the cutoff
			newRecord(tenantB, past, withCreds, state(invite.StateRevoked, before.Add(time.Hour))),
			// Open records are never purged: not when past their expiry, not
			// even with a ClosedAt (a renewed invitation).
			newRecord(tenantA, past, withCreds, expires(before.Add(-24*time.Hour)), state(invite.StatePending, before.Add(-5*time.Hour))),
			newRecord(tenantC, past, withCreds, expires(before.Add(-24*time.Hour)), state(invite.StateSent)),
		}
		mustInsert(t, st, append(append([]*invite.Record{}, kept[:2]...), append(purged, kept[2:]...)...)...)

		n, err := st.Purge(t.Context(), before, 100)
		require.NoError(t, err)
		require.Equal(t, len(purged), n, "purged")
		n, err = st.Purge(t.Context(), before, 100)
		require.NoError(t, err)
		require.Zero(t, n, "purged by a second pass")

		for _, r := range purged {
			requireGone(t, st, r)
			requireTokenNotFound(t, st, r.Credentials.TokenHash)
			requireTokenNotFound(t, st, r.Credentials.PreviousTokens[0].Hash)
			_, err := st.GetByIdempotencyKey(t.Context(), r.Invitation.TenantID, r.Invitation.IdempotencyKey)
			require.ErrorIs(t, err, invite.ErrNotFound, "GetByIdempotencyKey of a purged record")
		}
		for _, r := range kept {
			requireStored(t, st, r)
			requireTokenFinds(t, st, r.Credentials.TokenHash, r)
		}
		// The purged records' token hashes and idempotency keys are free.
		for _, r := range purged {
			reuse := newRecord(r.Invitation.TenantID, idemKey(r.Invitation.IdempotencyKey), func(n *invite.Record) {
				n.Credentials.TokenHash = r.Credentials.TokenHash
				n.Credentials.PreviousTokens = r.Credentials.PreviousTokens
			})
			mustInsert(t, st, reuse)
			requireTokenFinds(t, st, r.Credentials.TokenHash, reuse)
		}
	})

	t.Run("Limit", func(t *testing.T) {
		st := s.store(t)
		var purgeable []*invite.Record
		for i, tenant := range []string{tenantA, tenantB, tenantC, tenantA, tenantB} {
			purgeable = append(purgeable, newRecord(tenant, past, state(invite.StateRevoked, before.Add(-time.Duration(i+1)*time.Minute))))
		}
		keep := newRecord(tenantA, past)
		mustInsert(t, st, append(purgeable, keep)...)
		for i, want := range []int{2, 2, 1, 0} {
			n, err := st.Purge(t.Context(), before, 2)
			require.NoError(t, err)
			require.Equal(t, want, n, "pass %d with limit 2", i+1)
		}
		for _, r := range purgeable {
			requireGone(t, st, r)
		}
		requireStored(t, st, keep)
	})

	t.Run("NeverOpen", func(t *testing.T) {
		st := s.store(t)
		recs := []*invite.Record{
			newRecord(tenantA, past, expires(before.Add(-24*time.Hour))),
			newRecord(tenantB, past, expires(before.Add(-24*time.Hour)), state(invite.StateSent)),
			newRecord(tenantC, past, state(invite.StatePending, before.Add(-time.Hour))),
		}
		mustInsert(t, st, recs...)
		n, err := st.Purge(t.Context(), before.Add(365*24*time.Hour), 100)
		require.NoError(t, err)
		require.Zero(t, n)
		for _, r := range recs {
			requireStored(t, st, r)
		}
	})
}
