package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/invitekit/invite"
	"github.com/stretchr/testify/require"
)

func (s *suite) testCAS(t *testing.T) {
	t.Run("StaleExpect", func(t *testing.T) {
		st := s.store(t)
		rec := newRecord(tenantA)
		mustInsert(t, st, rec)
		v2 := next(rec, func(r *invite.Record) { r.Invitation.Reason = "v2" })
		mustApply(t, st, upd(v2, 1))

		stale := next(rec, func(r *invite.Record) { r.Invitation.Reason = "stale" })
		require.ErrorIs(t, apply(t, st, upd(stale, 1)), invite.ErrConflict, "update from version 1 of version 2")
		ahead := next(v2, func(r *invite.Record) { r.Invitation.Version = 6 })
		require.ErrorIs(t, apply(t, st, upd(ahead, 5)), invite.ErrConflict, "update from version 5 of version 2")
		require.ErrorIs(t, apply(t, st, invite.Write{Record: rec, Expect: 1, Delete: true}), invite.ErrConflict,
			"delete from version 1 of version 2")
		requireStored(t, st, v2)
	})

	t.Run("Missing", func(t *testing.T) {
		st := s.store(t)
		present := newRecord(tenantA)
		mustInsert(t, st, present)
		missing := newRecord(tenantA)
		require.ErrorIs(t, apply(t, st, upd(next(missing), 1)), invite.ErrNotFound, "update of a missing id")
		require.ErrorIs(t, apply(t, st, del(missing)), invite.ErrNotFound, "delete of a missing id")
		elsewhere := newRecord("no-such-tenant")
		require.ErrorIs(t, apply(t, st, upd(next(elsewhere), 1)), invite.ErrNotFound, "update in an unknown tenant")
		require.ErrorIs(t, apply(t, st, del(elsewhere)), invite.ErrNotFound, "delete in an unknown tenant")
		requireGone(t, st, missing)
		requireStored(t, st, present)
	})

	n := s.opts.ConcurrentGoroutines
	t.Run("ConcurrentUpdates", func(t *testing.T) {
		st := s.store(t)
		for round := range s.opts.ConcurrentRounds {
			rec := newRecord(tenantA)
			mustInsert(t, st, rec)
			ups := make([]*invite.Record, n)
			for i := range ups {
				ups[i] = next(rec, func(r *invite.Record) { r.Invitation.Reason = fmt.Sprintf("writer %d", i) })
			}
			errs := race(n, func(i int) error { return st.Apply(t.Context(), batch(upd(ups[i], 1))) })
			winner := -1
			for i, err := range errs {
				if err == nil {
					require.Equal(t, -1, winner, "round %d: updates %d and %d from version 1 both succeeded", round, winner, i)
					winner = i
					continue
				}
				require.True(t, errors.Is(err, invite.ErrConflict), "round %d: losing update %d: got %v, want ErrConflict", round, i, err)
			}
			require.NotEqual(t, -1, winner, "round %d: no update succeeded", round)
			requireStored(t, st, ups[winner])
		}
	})

	t.Run("ConcurrentUpdatesAndDelete", func(t *testing.T) {
		st := s.store(t)
		for round := range s.opts.ConcurrentRounds {
			rec := newRecord(tenantA)
			mustInsert(t, st, rec)
			errs := race(n, func(i int) error {
				if i == round%n {
					return st.Apply(t.Context(), batch(del(rec)))
				}
				u := next(rec, func(r *invite.Record) { r.Invitation.Reason = fmt.Sprintf("writer %d", i) })
				return st.Apply(t.Context(), batch(upd(u, 1)))
			})
			wins := 0
			for i, err := range errs {
				if err == nil {
					wins++
					continue
				}
				// A loser finds the record changed, or gone.
				require.True(t, errors.Is(err, invite.ErrConflict) || errors.Is(err, invite.ErrNotFound),
					"round %d: losing write %d: got %v, want ErrConflict or ErrNotFound", round, i, err)
			}
			require.Equal(t, 1, wins, "round %d: writes from version 1 that succeeded", round)
			if errs[round%n] == nil {
				requireGone(t, st, rec)
			} else {
				require.EqualValues(t, 2, mustGet(t, st, tenantA, rec.Invitation.ID).Invitation.Version)
			}
		}
	})
}

func (s *suite) testTenantIsolation(t *testing.T) {
	setup := func(t *testing.T) (invite.Store, *invite.Record) {
		st := s.store(t)
		rec := fullRecord(tenantA)
		mustInsert(t, st, rec)
		// tenantB exists and holds something, so "unknown tenant" is not the
		// only thing tested.
		mustInsert(t, st, newRecord(tenantB))
		return st, rec
	}
	for _, tc := range []struct {
		name string
		op   func(t *testing.T, st invite.Store, rec *invite.Record)
	}{
		{"Get", func(t *testing.T, st invite.Store, rec *invite.Record) {
			_, err := st.Get(t.Context(), tenantB, rec.Invitation.ID)
			require.ErrorIs(t, err, invite.ErrNotFound)
		}},
		{"GetByIdempotencyKey", func(t *testing.T, st invite.Store, rec *invite.Record) {
			_, err := st.GetByIdempotencyKey(t.Context(), tenantB, rec.Invitation.IdempotencyKey)
			require.ErrorIs(t, err, invite.ErrNotFound)
		}},
		{"FindOpen", func(t *testing.T, st invite.Store, rec *invite.Record) {
			requireOpen(t, st, tenantB, rec.Invitation.Invitee)
		}},
		{"List", func(t *testing.T, st invite.Store, rec *invite.Record) {
			all, _ := listAll(t, st, tenantB, invite.Query{Now: base, Limit: 100, Filter: invite.Filter{IncludeExpired: true}})
			require.NotContains(t, invitationIDs(all), rec.Invitation.ID)
			require.Len(t, all, 1)
			all, _ = listAll(t, st, tenantB, invite.Query{Now: base, Limit: 100, Filter: invite.Filter{Email: rec.Invitation.Invitee.Email}})
			require.Empty(t, all)
		}},
		{"Update", func(t *testing.T, st invite.Store, rec *invite.Record) {
			u := next(rec, func(r *invite.Record) { r.Invitation.TenantID = tenantB })
			require.ErrorIs(t, apply(t, st, upd(u, 1)), invite.ErrNotFound)
		}},
		{"Delete", func(t *testing.T, st invite.Store, rec *invite.Record) {
			d := rec.Clone()
			d.Invitation.TenantID = tenantB
			require.ErrorIs(t, apply(t, st, del(d)), invite.ErrNotFound)
		}},
		{"GetByTokenHashNamesItsTenant", func(t *testing.T, st invite.Store, rec *invite.Record) {
			requireTokenFinds(t, st, rec.Credentials.TokenHash, rec)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, rec := setup(t)
			tc.op(t, st, rec)
			requireStored(t, st, rec)
			requireOpen(t, st, tenantA, rec.Invitation.Invitee, rec)
		})
	}
}
