package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// testQuota checks Write.OpenLimit on a store that implements
// invite.OpenLimiter (and is skipped on one that does not): the inviter's
// open, unexpired invitations are counted with the batch applied, a batch
// over the limit writes nothing, other inviters and tenants are not
// counted, and concurrent inserts at the limit never all pass.
func (s *suite) testQuota(t *testing.T) {
	limited := func(t *testing.T) invite.Store {
		t.Helper()
		st := s.store(t)
		ol, ok := st.(invite.OpenLimiter)
		if !ok || !ol.EnforcesOpenLimit() {
			t.Skipf("%T does not enforce Write.OpenLimit", st)
		}
		return st
	}
	by := func(inviter string) func(*invite.Record) {
		return func(r *invite.Record) { r.Invitation.Inviter = invite.Inviter{ID: inviter, Name: "Inviter " + inviter} }
	}
	limit := func(r *invite.Record, n int) invite.Write { return invite.Write{Record: r, OpenLimit: n} }

	t.Run("Counts", func(t *testing.T) {
		st := limited(t)
		a1, a2 := newRecord(tenantA, by("ann")), newRecord(tenantA, by("ann"))
		require.NoError(t, apply(t, st, limit(a1, 2)))
		require.NoError(t, apply(t, st, limit(a2, 2)))
		// Not counted: another inviter, another tenant, a closed or an
		// expired invitation of the same inviter.
		mustInsert(t, st, newRecord(tenantA, by("bob")), newRecord(tenantB, by("ann")),
			newRecord(tenantA, by("ann"), state(invite.StateAccepted)),
			newRecord(tenantA, by("ann"), created(base.Add(-10*24*time.Hour)), expires(base)))
		over := newRecord(tenantA, by("ann"))
		err := apply(t, st, limit(over, 2))
		require.ErrorIs(t, err, invite.ErrQuotaExceeded)
		requireGone(t, st, over)
		require.NoError(t, apply(t, st, limit(newRecord(tenantA, by("ann")), 3)), "a higher limit")
		require.NoError(t, apply(t, st, limit(newRecord(tenantB, by("ann")), 2)), "the other tenant holds one")
		require.NoError(t, apply(t, st, limit(newRecord(tenantA, by("bob")), 2)))
		require.NoError(t, apply(t, st, ins(newRecord(tenantA, by("ann")))), "no limit")
	})

	t.Run("BatchIsCounted", func(t *testing.T) {
		st := limited(t)
		a1 := newRecord(tenantA, by("ann"))
		require.NoError(t, apply(t, st, limit(a1, 1)))
		// Closing the inviter's open invitation in the same batch frees
		// its place (a re-invite that supersedes it).
		closed := next(a1, state(invite.StateRevoked))
		repl := newRecord(tenantA, by("ann"))
		require.NoError(t, apply(t, st, upd(closed, 1), limit(repl, 1)))
		requireStored(t, st, repl)
		// Two inserts in one batch over the limit: neither is written,
		// nor the batch's other writes.
		x, y := newRecord(tenantA, by("cy")), newRecord(tenantA, by("cy"))
		other := newRecord(tenantA, by("dee"))
		err := apply(t, st, ins(other), limit(x, 1), limit(y, 1))
		require.ErrorIs(t, err, invite.ErrQuotaExceeded)
		requireGone(t, st, x)
		requireGone(t, st, y)
		requireGone(t, st, other)
		require.NoError(t, apply(t, st, limit(x, 2), limit(y, 2)))
	})

	t.Run("Concurrent", func(t *testing.T) {
		st := limited(t)
		const lim = 3
		for round := range s.opts.ConcurrentRounds {
			inviter := "racer-" + newID()
			var passed, refused atomic.Int32
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make(chan error, s.opts.ConcurrentGoroutines)
			for range s.opts.ConcurrentGoroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					err := st.Apply(t.Context(), batch(limit(newRecord(tenantA, by(inviter)), lim)))
					switch {
					case err == nil:
						passed.Add(1)
					case errors.Is(err, invite.ErrQuotaExceeded):
						refused.Add(1)
					default:
						errs <- err
					}
				}()
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err, "round %d", round)
			}
			require.EqualValues(t, lim, passed.Load(), "round %d: exactly the limit passes", round)
			require.EqualValues(t, s.opts.ConcurrentGoroutines-lim, refused.Load(), "round %d", round)
		}
	})
}
