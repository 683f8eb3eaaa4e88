package storetest

// The outbox suite, continued: dead letters, retention, stats and
// concurrent claimers.

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/invitekit/invite"
	"github.com/stretchr/testify/require"
)

func (o *outboxSuite) testDeadLetters(t *testing.T) {
	st := o.store(t)
	at := us(100)
	var deadA []string
	var deadB string
	for i := range 5 {
		tenant := tenantA
		if i == 2 {
			tenant = tenantB
		}
		_, _, m := queued(t, st, tenant, base)
		if tenant == tenantA {
			deadA = append(deadA, m.ID)
		} else {
			deadB = m.ID
		}
	}
	es := claim(t, st, "d1", at, 10, invite.OutboxMessage)
	require.Len(t, es, 5)
	var ss []invite.Settlement
	for _, e := range es {
		ss = append(ss, invite.Settlement{ID: e.ID, Attempt: 1, Outcome: invite.Dead, Error: "gave up"})
	}
	require.Equal(t, 5, settle(t, st, "d1", at, ss...))
	slices.Sort(deadA)

	var got []string
	after := ""
	for {
		page, err := st.ListDeadOutbox(t.Context(), tenantA, after, 3)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), 3)
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			require.Equal(t, tenantA, e.TenantID, "tenant isolation")
		}
		got = append(got, entryIDs(page)...)
		after = page[len(page)-1].ID
	}
	require.Equal(t, deadA, got, "by id, paged")

	// Re-drive: tenant-scoped; another tenant's id or a live entry is ignored.
	n, err := st.RedriveOutbox(t.Context(), tenantA, []string{deadA[0], deadA[1], deadB, newID()}, at.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	es = claim(t, st, "d2", at.Add(time.Hour-time.Microsecond), 10, invite.OutboxMessage)
	require.Empty(t, es, "due at the re-drive's time")
	es = claim(t, st, "d2", at.Add(time.Hour), 10, invite.OutboxMessage)
	require.ElementsMatch(t, deadA[:2], entryIDs(es))
	for _, e := range es {
		require.Equal(t, 1, e.Attempts, "a re-driven entry starts its attempts over")
		require.Equal(t, "gave up", e.LastError)
	}
	n, err = st.RedriveOutbox(t.Context(), tenantA, []string{deadA[0]}, at)
	require.NoError(t, err)
	require.Zero(t, n, "not dead any more")
	left, err := st.ListDeadOutbox(t.Context(), tenantB, "", 10)
	require.NoError(t, err)
	require.Equal(t, []string{deadB}, entryIDs(left))
	require.Equal(t, 3, stats(t, st).Dead)
}

func (o *outboxSuite) testRetention(t *testing.T) {
	t.Run("DeleteForgetsEarlierEntries", func(t *testing.T) {
		st := o.store(t)
		// r has four earlier entries: a pending event, a delivered one, a
		// dead one and a message.
		r := newRecord(tenantA)
		b := batch(ins(r))
		b.Messages = append(b.Messages, message(r, base, base))
		require.NoError(t, st.Apply(t.Context(), b))
		created := b.Events[0]
		u1, u2 := next(r), next(next(r))
		mustApply(t, st, upd(u1, 1))
		mustApply(t, st, upd(u2, 2))
		es := claim(t, st, "d1", us(1).Add(time.Hour), 10, invite.OutboxEvent)
		require.Len(t, es, 3)
		var pending string
		for _, e := range es {
			switch e.Event.New.Version {
			case 2:
				require.Equal(t, 1, settle(t, st, "d1", us(2), invite.Settlement{ID: e.ID, Attempt: 1, Outcome: invite.Delivered}))
			case 3:
				require.Equal(t, 1, settle(t, st, "d1", us(2), invite.Settlement{ID: e.ID, Attempt: 1, Outcome: invite.Dead}))
			default:
				pending = e.ID
				require.Equal(t, 1, settle(t, st, "d1", us(2), invite.Settlement{ID: e.ID, Attempt: 1, Outcome: invite.Retry, At: us(3)}))
			}
		}
		require.Equal(t, created.ID, pending)
		_, kev, kmsg := queued(t, st, tenantA, base)

		b = batch(del(u2))
		require.NoError(t, st.Apply(t.Context(), b))
		es = claim(t, st, "d2", us(10).Add(time.Hour), 10)
		require.ElementsMatch(t, []string{b.Events[0].ID, created.ID, kev.ID, kmsg.ID}, entryIDs(es),
			"the deletion's event, the event still owed, and another invitation's entries")
		dead, err := st.ListDeadOutbox(t.Context(), tenantA, "", 10)
		require.NoError(t, err)
		require.Empty(t, dead, "the dead event is forgotten")
		s := stats(t, st)
		require.Equal(t, 4, s.Pending)
	})

	t.Run("PurgeForgetsEntries", func(t *testing.T) {
		st := o.store(t)
		closed := closedRecord(tenantA)
		b := batch(ins(closed))
		b.Messages = append(b.Messages, message(closed, base, base))
		require.NoError(t, st.Apply(t.Context(), b))
		_, oev, omsg := queued(t, st, tenantB, base)
		// One of the closed invitation's entries is dead, one pending.
		es := claim(t, st, "d1", us(1), 1, invite.OutboxMessage)
		require.Len(t, es, 1)
		require.Equal(t, 1, settle(t, st, "d1", us(1), invite.Settlement{ID: b.Messages[0].ID, Attempt: 1, Outcome: invite.Dead}))

		n, err := st.Purge(t.Context(), closed.Invitation.ClosedAt.Add(time.Hour), 10)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		dead, err := st.ListDeadOutbox(t.Context(), tenantA, "", 10)
		require.NoError(t, err)
		require.Empty(t, dead)
		es = claim(t, st, "d2", us(2), 10)
		require.ElementsMatch(t, []string{oev.ID, omsg.ID}, entryIDs(es))
	})

	t.Run("PurgeOutbox", func(t *testing.T) {
		st := o.store(t)
		var ids []string
		for range 4 {
			_, _, m := queued(t, st, tenantA, base)
			ids = append(ids, m.ID)
		}
		es := claim(t, st, "d1", us(1), 10, invite.OutboxMessage)
		require.Len(t, es, 4)
		// Delivered at 10 and 20; one retried, one dead: only delivered
		// entries are purged, by their delivery time.
		require.Equal(t, 1, settle(t, st, "d1", us(10), invite.Settlement{ID: ids[0], Attempt: 1, Outcome: invite.Delivered}))
		require.Equal(t, 1, settle(t, st, "d1", us(20), invite.Settlement{ID: ids[1], Attempt: 1, Outcome: invite.Delivered}))
		require.Equal(t, 2, settle(t, st, "d1", us(20),
			invite.Settlement{ID: ids[2], Attempt: 1, Outcome: invite.Retry, At: us(30)},
			invite.Settlement{ID: ids[3], Attempt: 1, Outcome: invite.Dead}))
		n, err := st.PurgeOutbox(t.Context(), us(20), 10)
		require.NoError(t, err)
		require.Equal(t, 1, n, "delivered before the cutoff (exclusive)")
		n, err = st.PurgeOutbox(t.Context(), us(1000), 10)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		s := stats(t, st)
		require.Equal(t, 5, s.Pending, "the four created events and the retried message")
		require.Equal(t, 1, s.Dead)

		// The limit holds.
		for range 5 {
			_, _, m := queued(t, st, tenantA, base)
			es := claim(t, st, "d1", us(40), 1, invite.OutboxMessage)
			require.Equal(t, []string{m.ID}, entryIDs(es))
			require.Equal(t, 1, settle(t, st, "d1", us(40), invite.Settlement{ID: m.ID, Attempt: 1, Outcome: invite.Delivered}))
		}
		n, err = st.PurgeOutbox(t.Context(), us(41), 3)
		require.NoError(t, err)
		require.Equal(t, 3, n)
	})
}

func (o *outboxSuite) testStats(t *testing.T) {
	st := o.store(t)
	require.Equal(t, invite.OutboxStats{}, stats(t, st))
	r1 := newRecord(tenantA, created(us(10)))
	r2 := newRecord(tenantB, created(us(5)))
	for _, r := range []*invite.Record{r1, r2} {
		b := batch(ins(r))
		b.Messages = append(b.Messages, message(r, r.Invitation.CreatedAt, r.Invitation.CreatedAt))
		require.NoError(t, st.Apply(t.Context(), b))
	}
	s := stats(t, st)
	require.Equal(t, 4, s.Pending)
	require.Zero(t, s.Dead)
	requireTime(t, us(5), s.OldestPending, "OldestPending")

	// Claimed entries are still pending; delivered and dead ones are not.
	es := claim(t, st, "d1", us(20), 10)
	require.Len(t, es, 4)
	require.Equal(t, 4, stats(t, st).Pending)
	var ss []invite.Settlement
	for _, e := range es {
		out := invite.Delivered
		if e.TenantID == tenantB && e.Kind == invite.OutboxMessage {
			out = invite.Dead
		}
		if e.TenantID == tenantA && e.Kind == invite.OutboxEvent {
			out = invite.Retry
		}
		ss = append(ss, invite.Settlement{ID: e.ID, Attempt: 1, Outcome: out, At: us(30)})
	}
	require.Equal(t, 4, settle(t, st, "d1", us(20), ss...))
	s = stats(t, st)
	require.Equal(t, 1, s.Pending)
	require.Equal(t, 1, s.Dead)
	requireTime(t, us(10), s.OldestPending, "OldestPending")
}

func (o *outboxSuite) testConcurrentClaims(t *testing.T) {
	st := o.store(t)
	const entries, claimers = 120, 6
	for range entries / 2 {
		queued(t, st, tenantA, base)
	}
	var mu sync.Mutex
	seen := map[string]string{}
	var errs []error
	var wg sync.WaitGroup
	for c := range claimers {
		owner := "d" + string(rune('a'+c))
		wg.Go(func() {
			for {
				es, err := st.ClaimOutbox(t.Context(), owner, nil, us(1), time.Hour, 7)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				if len(es) == 0 {
					return
				}
				var ss []invite.Settlement
				mu.Lock()
				for _, e := range es {
					if prev, dup := seen[e.ID]; dup {
						errs = append(errs, errors.New("entry "+e.ID+" claimed by "+prev+" and "+owner))
					}
					seen[e.ID] = owner
					ss = append(ss, invite.Settlement{ID: e.ID, Attempt: e.Attempts, Outcome: invite.Delivered})
				}
				mu.Unlock()
				if _, err := st.SettleOutbox(t.Context(), owner, us(2), ss); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	require.Len(t, seen, entries, "every entry claimed exactly once")
	require.Zero(t, stats(t, st).Pending)
}
