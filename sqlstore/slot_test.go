package sqlstore_test

// Messages held in invitation rows (PostgreSQL, pgslot.go) under
// concurrency: the claim moving them to the outbox (promote) against the
// writes that settle or forget them.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/sqlstore"
)

// postgresBackend returns the PostgreSQL backend, or skips t.
func postgresBackend(t *testing.T) backend {
	t.Helper()
	for _, be := range backends(t) {
		if be.dialect == sqlstore.Postgres {
			return be
		}
	}
	t.Skip("PostgreSQL is not configured")
	return backend{}
}

// heldInsert is the batch inserting r with one message of id for it, due
// at due: an insert that holds its message in r's row.
func heldInsert(r *invite.Record, id string, due time.Time) *invite.Batch {
	inv := &r.Invitation
	return &invite.Batch{Writes: []invite.Write{{Record: r}}, Messages: []invite.QueuedMessage{{ID: id, TenantID: inv.TenantID,
		InvitationID: inv.ID, CreatedAt: inv.CreatedAt, AvailableAt: due}}}
}

// successor is r for an update: version bumped, UpdatedAt later.
func successor(r *invite.Record) *invite.Record {
	n := r.Clone()
	n.Invitation.Version++
	n.Invitation.UpdatedAt = n.Invitation.UpdatedAt.Add(time.Minute)
	return n
}

// TestSlotClaimsVsMarkSentStress inserts invitations whose messages are
// due at once while claimers claim and settle them and writers mark a
// third of the invitations sent (Delivered naming the message), update a
// third settling an id held nowhere, and leave the rest alone. Nothing may
// fail, no message may be claimed twice, every message not settled by its
// write must be claimed, and at the end nothing is pending.
func TestSlotClaimsVsMarkSentStress(t *testing.T) {
	be := postgresBackend(t)
	st, db := be.newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n, inserters, writers, claimers = 900, 4, 6, 4
	due := time.Now().UTC().Add(-time.Second).Truncate(time.Microsecond)

	type item struct {
		r    *invite.Record
		msg  string
		mode int // 0 marked sent, 1 updated, 2 left alone
	}
	var (
		mu      sync.Mutex
		claimed = map[string]int{}
		marked  = map[string]bool{}
		failed  []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failed = append(failed, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	items := make(chan item, n)
	var producers, claiming sync.WaitGroup
	var done atomic.Bool

	for g := range claimers {
		claiming.Add(1)
		go func() {
			defer claiming.Done()
			owner := fmt.Sprintf("claimer-%d", g)
			for ctx.Err() == nil {
				finished := done.Load() // read before the claim: a claim after it sees every message
				mu.Lock()
				settled := maps.Clone(marked) // committed before the claim starts: never claimed
				mu.Unlock()
				es, err := st.ClaimOutbox(ctx, owner, []invite.OutboxKind{invite.OutboxMessage}, time.Now(), time.Hour, 5)
				if err != nil {
					fail("%s: claim: %s", owner, describe(err))
					return
				}
				if len(es) == 0 {
					if finished {
						return
					}
					time.Sleep(time.Millisecond)
					continue
				}
				ss := make([]invite.Settlement, len(es))
				mu.Lock()
				for i, e := range es {
					if settled[e.ID] {
						failed = append(failed, e.ID+": claimed after the write settling it committed")
					}
					claimed[e.ID]++
					ss[i] = invite.Settlement{ID: e.ID, Attempt: e.Attempts, Outcome: invite.Delivered}
				}
				mu.Unlock()
				if _, err := st.SettleOutbox(ctx, owner, time.Now(), ss); err != nil {
					fail("%s: settle: %s", owner, describe(err))
					return
				}
			}
		}()
	}
	var writing sync.WaitGroup
	for g := range writers {
		writing.Add(1)
		go func() {
			defer writing.Done()
			for it := range items {
				b := &invite.Batch{Writes: []invite.Write{{Record: successor(it.r), Expect: 1}}}
				switch it.mode {
				case 2:
					continue
				case 0:
					b.Delivered = []string{it.msg}
				case 1:
					// Settles an id held nowhere: the message stays.
					b.Delivered = []string{"gone-" + it.msg}
				}
				if err := st.Apply(ctx, b); err != nil {
					fail("writer %d: %s: %s", g, it.r.Invitation.ID, describe(err))
					continue
				}
				if it.mode == 0 {
					mu.Lock()
					marked[it.msg] = true
					mu.Unlock()
				}
			}
		}()
	}
	for g := range inserters {
		producers.Add(1)
		go func() {
			defer producers.Done()
			for i := g; i < n; i += inserters {
				r := validRecord("t", fmt.Sprintf("inv-%d", i), fmt.Sprintf("inv-%d@example.com", i))
				id := fmt.Sprintf("msg-%d", i)
				if err := st.Apply(ctx, heldInsert(r, id, due)); err != nil {
					fail("inserter %d: %s: %s", g, id, describe(err))
					continue
				}
				items <- item{r: r, msg: id, mode: i % 3}
			}
		}()
	}
	producers.Wait()
	close(items)
	writing.Wait()
	done.Store(true)
	claiming.Wait()
	require.Empty(t, failed)

	twice := 0
	for i := range n {
		id := fmt.Sprintf("msg-%d", i)
		switch c := claimed[id]; {
		case c > 1:
			t.Errorf("%s claimed %d times", id, c)
		case c == 0 && !marked[id]:
			t.Errorf("%s lost: never claimed, and no write settled it (mode %d)", id, i%3)
		case c == 1 && marked[id]:
			twice++ // the accepted race: its write ran with the claim moving it
		}
		if i%3 == 0 && !marked[id] {
			t.Errorf("%s: its mark-sent write did not commit", id)
		}
	}
	// A mark-sent write that ran with the claim moving its message still
	// deletes the moved row (it runs again on a later snapshot).
	survived := countRows(t, db, be.dialect, st.TablePrefix()+"outbox", "id LIKE 'msg-%' AND CAST(substr(id, 5) AS integer) % 3 = 0")
	t.Logf("%d claimed, %d settled by their write, %d both", len(claimed), len(marked), twice)
	require.Zero(t, survived, "outbox rows outliving the mark-sent write that settled them")

	s, err := st.OutboxStats(ctx)
	require.NoError(t, err)
	p := st.TablePrefix()
	left := countRows(t, db, be.dialect, p+"outbox", "delivered_at IS NULL AND dead_at IS NULL") +
		countRows(t, db, be.dialect, p+"invitations", "msg_due IS NOT NULL")
	require.Equal(t, left, s.Pending, "OutboxStats.Pending counts what is left")
	require.Zero(t, s.Pending, "nothing is left")
	require.True(t, s.OldestPending.IsZero())
}

// stallID begins a transaction inserting an outbox row of id, left
// uncommitted: a claim moving the held message of id then waits for it
// (INSERT ... ON CONFLICT) while it holds that invitation's row, which is
// the window the tests below widen.
func stallID(t *testing.T, db *sql.DB, st *sqlstore.Store, id string) *sql.Tx {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), nil)
	require.NoError(t, err)
	_, err = tx.Exec("INSERT INTO "+st.TablePrefix()+"outbox (id, kind, tenant_id, invitation_id, type, payload, created_at, available_at)"+
		" VALUES ($1, 'event', 'stall', 'stall', 'stall', '{}', now(), now() + interval '1 day')", id)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })
	return tx
}

// waitLocked waits until n sessions running a statement on st's tables
// wait for a lock.
func waitLocked(t *testing.T, db *sql.DB, st *sqlstore.Store, n int) {
	t.Helper()
	require.True(t, waitLockedOr(t, db, st, n, nil), "%d sessions never waited for a lock", n)
}

// promoteWhile runs a claim whose promote holds the row of the held
// message id (stalled by stallID) while op runs, until op waits for a
// lock too; then lets both finish and returns op's error.
func promoteWhile(t *testing.T, db *sql.DB, st *sqlstore.Store, id string, op func() error) error {
	t.Helper()
	ctx := context.Background()
	stall := stallID(t, db, st, id)
	claimed := make(chan error, 1)
	go func() {
		_, err := st.ClaimOutbox(ctx, "d1", nil, time.Now(), time.Hour, 10)
		claimed <- err
	}()
	waitLocked(t, db, st, 1)
	opErr := make(chan error, 1)
	go func() { opErr <- op() }()
	if !waitLockedOr(t, db, st, 2, opErr) {
		t.Logf("op did not wait: %v", <-opErr)
		t.FailNow()
	}
	require.NoError(t, stall.Rollback())
	require.NoError(t, <-claimed, "ClaimOutbox")
	return <-opErr
}

// outboxOf counts the outbox rows of an invitation, or of an id.
func outboxOf(t *testing.T, db *sql.DB, be backend, st *sqlstore.Store, where string, arg string) int {
	t.Helper()
	return countRows(t, db, be.dialect, st.TablePrefix()+"outbox", where, arg)
}

// TestSlotPurgeDuringPromote: the same for Purge ("Purge must also remove
// every entry of the invitations it purges"), which leaves an invitation
// whose message moved under it for its next call.
func TestSlotPurgeDuringPromote(t *testing.T) {
	be := postgresBackend(t)
	st, db := be.newStore(t)
	ctx := context.Background()
	r := validRecord("t", "pur", "pur@example.com")
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	inv := &r.Invitation
	inv.CreatedAt, inv.UpdatedAt, inv.IssuedAt, inv.ExpiresAt = at, at, at, at.Add(time.Minute)
	inv.State, inv.ClosedAt = invite.StateRevoked, at
	require.NoError(t, st.Apply(ctx, heldInsert(r, "m-pur", at)))
	var purged int
	err := promoteWhile(t, db, st, "m-pur", func() (err error) {
		purged, err = st.Purge(ctx, time.Now(), 10)
		return err
	})
	require.NoError(t, err, "Purge")
	if purged == 0 {
		// The row changed under the purge (its message moved): left for
		// the next call.
		n, err := st.Purge(ctx, time.Now(), 10)
		require.NoError(t, err)
		require.Equal(t, 1, n, "the next Purge")
	}
	_, err = st.Get(ctx, "t", "pur")
	require.ErrorIs(t, err, invite.ErrNotFound, "purged")
	require.Zero(t, outboxOf(t, db, be, st, "invitation_id = ?", "pur"), "the purged invitation's message is still queued")
}

// TestSlotWritesDuringPromote: a write that waits for the invitation row
// while a claim moves its held message, with a snapshot that predates the
// moved outbox row, must still remove that row: a Delete forgets the
// invitation's entries, and a batch of Delivered ids alone settles them
// (invite.Outbox). The Delete runs again on a later snapshot; the batch
// empties the slots before it deletes the rows.
func TestSlotWritesDuringPromote(t *testing.T) {
	be := postgresBackend(t)
	for _, c := range []struct {
		name  string
		write func(r *invite.Record) *invite.Batch
	}{
		{"Delete", func(r *invite.Record) *invite.Batch {
			return &invite.Batch{Writes: []invite.Write{{Record: r, Expect: 1, Delete: true}}}
		}},
		{"DeliveredWithoutWrites", func(*invite.Record) *invite.Batch { return &invite.Batch{Delivered: []string{"m-1"}} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, db := be.newStore(t)
			ctx := context.Background()
			r := validRecord("t", "inv-1", "inv-1@example.com")
			require.NoError(t, st.Apply(ctx, heldInsert(r, "m-1", time.Now().Add(-time.Minute))))
			require.NoError(t, promoteWhile(t, db, st, "m-1", func() error { return st.Apply(ctx, c.write(r)) }), "Apply")
			require.Zero(t, outboxOf(t, db, be, st, "id = ?", "m-1"), "the message is still queued")
		})
	}
}

// TestSlotInsertDuringPromoteCollides: an insert holding the id of a
// message held on another invitation's row when its batch starts must be
// invite.ErrAlreadyExists, even while a claim moves that message. The
// claim runs in a host's transaction (WithTx) to hold its window open; on
// the Store's own connections the window is the promote statement's
// commit. The insert waits for the claim on the unique index of msg_id,
// which the moved message keeps (its check of the outbox ran on a
// snapshot without the moved row): were the id released, the insert would
// commit and its own message be dropped by the claim that moves it.
func TestSlotInsertDuringPromoteCollides(t *testing.T) {
	be := postgresBackend(t)
	st, db := be.newStore(t)
	ctx := context.Background()
	r1 := validRecord("t", "first", "first@example.com")
	require.NoError(t, st.Apply(ctx, heldInsert(r1, "m-same", time.Now().Add(-time.Minute))))
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	es, err := st.WithTx(tx).ClaimOutbox(ctx, "d1", nil, time.Now(), time.Hour, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"m-same"}, entryIDs(es))

	r2 := validRecord("t", "second", "second@example.com")
	inserted := make(chan error, 1)
	go func() { inserted <- st.Apply(ctx, heldInsert(r2, "m-same", time.Now().Add(-time.Minute))) }()
	if !waitLockedOr(t, db, st, 1, inserted) {
		require.ErrorIs(t, <-inserted, invite.ErrAlreadyExists)
		return
	}
	require.NoError(t, tx.Commit())
	err = <-inserted
	if errors.Is(err, invite.ErrAlreadyExists) {
		return
	}
	require.NoError(t, err)
	// Committed: then its message must be delivered.
	var got []string
	for {
		es, err := st.ClaimOutbox(ctx, "d2", nil, time.Now(), time.Hour, 10)
		require.NoError(t, err)
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			got = append(got, e.InvitationID)
		}
	}
	require.Contains(t, got, "second", "the insert of a taken id committed, and its message is lost (claims returned %v)", got)
}

// waitLockedOr waits until n sessions running a statement on st's tables
// wait for a lock (true), for up to 10 seconds; it gives up (false) when c
// has a result: the statement expected to wait finished instead.
func waitLockedOr(t *testing.T, db *sql.DB, st *sqlstore.Store, n int, c chan error) bool {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if len(c) > 0 {
			return false
		}
		var k int
		require.NoError(t, db.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND position($1 in query) > 0",
			st.TablePrefix()).Scan(&k))
		if k >= n {
			return true
		}
	}
	return false
}
