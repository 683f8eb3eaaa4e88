package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/sqlstore"
)

// outboxIDs returns the ids of the outbox rows of prefix matching where,
// sorted.
func outboxIDs(t *testing.T, be backend, db *sql.DB, prefix, where string, args ...any) []string {
	t.Helper()
	q := "SELECT id FROM " + prefix + "outbox WHERE " + where
	if be.dialect == sqlstore.Postgres {
		q = rebind(q)
	}
	rows, err := db.QueryContext(context.Background(), q, args...)
	require.NoError(t, err)
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	slices.Sort(ids)
	return ids
}

func entryIDs(es []*invite.OutboxEntry) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

// TestOutboxLifecycle walks outbox entries through every state: queued by
// Apply, claimed, retried, dead-lettered, listed, re-driven, released,
// delivered (by a settlement, and by a later batch), purged; and checks
// that claimed entries decode to what was queued.
func TestOutboxLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		st, db := be.newStore(t)
		m := manager(t, st)
		res := create(t, m, "queue@example.com")
		before, err := st.Get(ctx, "tenant-1", res.Invitation.ID)
		require.NoError(t, err)
		_, err = m.Accept(ctx, res.Token.Reveal(), invite.AcceptInput{Subject: "user-1"})
		require.NoError(t, err)
		after, err := st.Get(ctx, "tenant-1", res.Invitation.ID)
		require.NoError(t, err)

		// The two events are due; the message is due a second from now.
		now := time.Now().UTC().Truncate(time.Microsecond).Add(time.Minute)
		msg := invite.QueuedMessage{ID: "msg-1", TenantID: "tenant-1", InvitationID: res.Invitation.ID, Resend: true,
			ResendCount: 2, CreatedAt: now, AvailableAt: now.Add(time.Second)}
		require.NoError(t, st.Apply(ctx, &invite.Batch{Messages: []invite.QueuedMessage{msg}}))
		stats, err := st.OutboxStats(ctx)
		require.NoError(t, err)
		require.Equal(t, 3, stats.Pending)
		require.Zero(t, stats.Dead)
		require.Equal(t, before.Invitation.CreatedAt, stats.OldestPending, "the created event is the oldest")

		none, err := st.ClaimOutbox(ctx, "a", []invite.OutboxKind{invite.OutboxMessage}, now, time.Minute, 10)
		require.NoError(t, err)
		require.Empty(t, none, "the message is not due yet")

		evs, err := st.ClaimOutbox(ctx, "a", []invite.OutboxKind{invite.OutboxEvent}, now, time.Minute, 10)
		require.NoError(t, err)
		require.Len(t, evs, 2)
		created, accepted := evs[0], evs[1]
		require.Equal(t, invite.EventCreated, created.Event.Type, "soonest first")
		require.Equal(t, invite.EventAccepted, accepted.Event.Type)
		for _, e := range evs {
			require.Equal(t, invite.OutboxEvent, e.Kind)
			require.Equal(t, e.ID, e.Event.ID)
			require.Equal(t, "tenant-1", e.TenantID)
			require.Equal(t, res.Invitation.ID, e.InvitationID)
			require.Equal(t, 1, e.Attempts)
			require.Equal(t, "a", e.Owner)
			require.Equal(t, now.Add(time.Minute), e.AvailableAt)
			require.Equal(t, e.Event.Time, e.CreatedAt)
			require.Nil(t, e.Message)
		}
		require.Nil(t, created.Event.Old)
		require.Equal(t, &before.Invitation, created.Event.New, "the created event's New round-trips")
		require.Equal(t, &before.Invitation, accepted.Event.Old, "the accepted event's Old round-trips")
		require.Equal(t, &after.Invitation, accepted.Event.New, "the accepted event's New round-trips")

		later := now.Add(2 * time.Second)
		msgs, err := st.ClaimOutbox(ctx, "b", nil, later, time.Minute, 10)
		require.NoError(t, err)
		require.Equal(t, []string{"msg-1"}, entryIDs(msgs), "the events are leased to a")
		got := msgs[0]
		require.Equal(t, invite.OutboxMessage, got.Kind)
		require.Equal(t, &msg, got.Message, "the message round-trips")
		require.Equal(t, now, got.CreatedAt)
		require.Equal(t, later.Add(time.Minute), got.AvailableAt)

		// Settlements apply to the claim they answer only.
		n, err := st.SettleOutbox(ctx, "a", later, []invite.Settlement{{ID: "msg-1", Attempt: 1, Outcome: invite.Delivered}})
		require.NoError(t, err)
		require.Zero(t, n, "another owner's claim")
		n, err = st.SettleOutbox(ctx, "b", later, []invite.Settlement{{ID: "msg-1", Attempt: 2, Outcome: invite.Delivered}})
		require.NoError(t, err)
		require.Zero(t, n, "another attempt")
		// A retry at the very end of the lease changes no value but the
		// error: it still counts.
		n, err = st.SettleOutbox(ctx, "b", later, []invite.Settlement{{ID: "msg-1", Attempt: 1, Outcome: invite.Retry,
			At: later.Add(time.Minute)}})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		n, err = st.SettleOutbox(ctx, "b", later, []invite.Settlement{{ID: "msg-1", Attempt: 1, Outcome: invite.Retry,
			At: later.Add(3 * time.Second), Error: "smtp: 451"}})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		again, err := st.ClaimOutbox(ctx, "b", nil, later.Add(3*time.Second), time.Minute, 10)
		require.NoError(t, err)
		require.Equal(t, []string{"msg-1"}, entryIDs(again))
		require.Equal(t, 2, again[0].Attempts)
		require.Equal(t, "smtp: 451", again[0].LastError)

		// Dead letters, listed per tenant and re-driven.
		n, err = st.SettleOutbox(ctx, "b", later, []invite.Settlement{{ID: "msg-1", Attempt: 2, Outcome: invite.Dead, Error: "smtp: 550"}})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		stats, err = st.OutboxStats(ctx)
		require.NoError(t, err)
		require.Equal(t, invite.OutboxStats{Pending: 2, Dead: 1, OldestPending: before.Invitation.CreatedAt}, stats)
		dead, err := st.ListDeadOutbox(ctx, "tenant-1", "", 10)
		require.NoError(t, err)
		require.Equal(t, []string{"msg-1"}, entryIDs(dead))
		require.Equal(t, later, dead[0].DeadAt)
		require.Equal(t, "smtp: 550", dead[0].LastError)
		dead, err = st.ListDeadOutbox(ctx, "tenant-1", "msg-1", 10)
		require.NoError(t, err)
		require.Empty(t, dead)
		dead, err = st.ListDeadOutbox(ctx, "tenant-2", "", 10)
		require.NoError(t, err)
		require.Empty(t, dead)
		n, err = st.RedriveOutbox(ctx, "tenant-2", []string{"msg-1"}, later)
		require.NoError(t, err)
		require.Zero(t, n, "another tenant's")
		redriveAt := later.Add(4 * time.Second)
		n, err = st.RedriveOutbox(ctx, "tenant-1", []string{"msg-1", "no-such-id"}, redriveAt)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		n, err = st.RedriveOutbox(ctx, "tenant-1", []string{"msg-1"}, redriveAt)
		require.NoError(t, err)
		require.Zero(t, n, "no longer dead")

		// Released: due again, the attempt not counted.
		c1, err := st.ClaimOutbox(ctx, "c", nil, redriveAt, time.Minute, 10)
		require.NoError(t, err)
		require.Equal(t, []string{"msg-1"}, entryIDs(c1))
		require.Equal(t, 1, c1[0].Attempts, "a re-drive starts the attempts anew")
		require.Equal(t, "smtp: 550", c1[0].LastError, "the last error stays")
		n, err = st.SettleOutbox(ctx, "c", redriveAt, []invite.Settlement{{ID: "msg-1", Attempt: 1, Outcome: invite.Release, At: redriveAt}})
		require.NoError(t, err)
		require.Equal(t, 1, n)

		// A lease that runs out: the next claim takes the entry over.
		c2, err := st.ClaimOutbox(ctx, "c", nil, redriveAt, time.Second, 10)
		require.NoError(t, err)
		require.Equal(t, 1, c2[0].Attempts, "the released attempt did not count")
		c3, err := st.ClaimOutbox(ctx, "d", nil, redriveAt.Add(time.Second), time.Minute, 10)
		require.NoError(t, err)
		require.Equal(t, []string{"msg-1"}, entryIDs(c3))
		require.Equal(t, 2, c3[0].Attempts)
		n, err = st.SettleOutbox(ctx, "c", redriveAt, []invite.Settlement{{ID: "msg-1", Attempt: 1, Outcome: invite.Delivered}})
		require.NoError(t, err)
		require.Zero(t, n, "the lease ran out and d holds the claim")

		// Several outcomes in one call.
		n, err = st.SettleOutbox(ctx, "d", redriveAt, []invite.Settlement{
			{ID: "msg-1", Attempt: 2, Outcome: invite.Delivered, Error: "dropped: accepted"},
			{ID: created.ID, Attempt: 1, Outcome: invite.Retry, At: redriveAt},
		})
		require.NoError(t, err)
		require.Equal(t, 1, n, "the event is a's")
		n, err = st.SettleOutbox(ctx, "a", redriveAt, []invite.Settlement{
			{ID: created.ID, Attempt: 1, Outcome: invite.Delivered},
			{ID: "msg-1", Attempt: 2, Outcome: invite.Retry, At: redriveAt},
		})
		require.NoError(t, err)
		require.Equal(t, 1, n, "msg-1 is delivered")

		// A later batch settles the accepted event, whoever holds its
		// claim: its row is deleted.
		require.NoError(t, st.Apply(ctx, &invite.Batch{Delivered: []string{accepted.ID, "no-such-id"}}))
		require.Empty(t, outboxIDs(t, be, db, st.TablePrefix(), "id = ?", accepted.ID))
		stats, err = st.OutboxStats(ctx)
		require.NoError(t, err)
		require.Equal(t, invite.OutboxStats{}, stats)

		// Retention.
		n, err = st.PurgeOutbox(ctx, time.Now().Add(-time.Hour), 10)
		require.NoError(t, err)
		require.Zero(t, n, "delivered later")
		n, err = st.PurgeOutbox(ctx, now.Add(time.Hour), 1)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		n, err = st.PurgeOutbox(ctx, now.Add(time.Hour), 10)
		require.NoError(t, err)
		require.Equal(t, 1, n, "the two settled through SettleOutbox")
	})
}

// TestOutboxDeleteAndPurge checks that a Delete removes the outbox rows of
// the invitation's earlier batches but the events still owed, and keeps
// its own, and that Purge removes every row of the invitations it purges,
// and nothing else.
func TestOutboxDeleteAndPurge(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		st, db := be.newStore(t)
		p := st.TablePrefix()
		m := manager(t, st)
		gone := create(t, m, "gone@example.com").Invitation
		kept := create(t, m, "kept@example.com").Invitation
		now := time.Now().UTC().Truncate(time.Microsecond)
		queue := func(id, inv string) invite.QueuedMessage {
			return invite.QueuedMessage{ID: id, TenantID: "tenant-1", InvitationID: inv, CreatedAt: now, AvailableAt: now}
		}
		require.NoError(t, st.Apply(ctx, &invite.Batch{Messages: []invite.QueuedMessage{queue("m-gone", gone.ID), queue("m-kept", kept.ID)}}))
		rec, err := st.Get(ctx, "tenant-1", gone.ID)
		require.NoError(t, err)
		goneEvent := outboxIDs(t, be, db, p, "invitation_id = ? AND kind = 'event'", gone.ID)
		require.Len(t, goneEvent, 1, "the created event")
		require.Len(t, outboxIDs(t, be, db, p, "invitation_id = ?", gone.ID), 2)
		// Delivered, it goes with the Delete.
		claimed, err := st.ClaimOutbox(ctx, "pub", []invite.OutboxKind{invite.OutboxEvent}, now.Add(time.Hour), time.Minute, 10)
		require.NoError(t, err)
		var ss []invite.Settlement
		for _, e := range claimed {
			if e.ID == goneEvent[0] {
				ss = append(ss, invite.Settlement{ID: e.ID, Attempt: e.Attempts, Outcome: invite.Delivered})
			} else {
				ss = append(ss, invite.Settlement{ID: e.ID, Attempt: e.Attempts, Outcome: invite.Release, At: now})
			}
		}
		settled, err := st.SettleOutbox(ctx, "pub", now.Add(time.Hour), ss)
		require.NoError(t, err)
		require.Equal(t, 2, settled, "gone's and kept's created events")

		// The Delete with its own event and message, settling another
		// invitation's message (on PostgreSQL, the write is split in two
		// statements).
		require.NoError(t, st.Apply(ctx, &invite.Batch{
			Writes:    []invite.Write{{Record: rec, Expect: rec.Invitation.Version, Delete: true}},
			Events:    []invite.Event{{ID: "ev-deleted", Type: invite.EventDeleted, Time: now, TenantID: "tenant-1", InvitationID: gone.ID}},
			Messages:  []invite.QueuedMessage{queue("m-gone-2", gone.ID)},
			Delivered: []string{"m-kept"},
		}))
		require.Equal(t, []string{"ev-deleted", "m-gone-2"}, outboxIDs(t, be, db, p, "invitation_id = ?", gone.ID),
			"the earlier rows are gone, the batch's own stay")
		require.Len(t, outboxIDs(t, be, db, p, "invitation_id = ?", kept.ID), 1, "another invitation's event stays")
		require.Empty(t, outboxIDs(t, be, db, p, "id = 'm-kept' OR delivered_at IS NOT NULL"), "the settled message is deleted")
		stats, err := st.OutboxStats(ctx)
		require.NoError(t, err)
		require.Equal(t, 3, stats.Pending, "kept's created event, gone's deleted event and message")

		// The lone Delete without Delivered: PostgreSQL's one statement.
		other := create(t, m, "other@example.com").Invitation
		rec, err = st.Get(ctx, "tenant-1", other.ID)
		require.NoError(t, err)
		require.NoError(t, st.Apply(ctx, &invite.Batch{Messages: []invite.QueuedMessage{queue("m-other", other.ID)}}))
		owed := outboxIDs(t, be, db, p, "invitation_id = ? AND kind = 'event'", other.ID)
		require.Len(t, owed, 1, "the created event")
		require.NoError(t, st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: rec, Expect: rec.Invitation.Version, Delete: true}},
			Events: []invite.Event{{ID: "ev-deleted-2", Type: invite.EventDeleted, Time: now, TenantID: "tenant-1", InvitationID: other.ID}}}))
		require.ElementsMatch(t, []string{"ev-deleted-2", owed[0]}, outboxIDs(t, be, db, p, "invitation_id = ?", other.ID),
			"the message is gone, the event still owed stays")

		// Purge: the revoked invitation's rows go, with it.
		_, err = m.Revoke(ctx, "tenant-1", kept.ID, "")
		require.NoError(t, err)
		require.Len(t, outboxIDs(t, be, db, p, "invitation_id = ?", kept.ID), 2, "its created and revoked events")
		live := create(t, m, "live@example.com").Invitation
		n, err := st.Purge(ctx, time.Now().Add(time.Hour), 10)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Empty(t, outboxIDs(t, be, db, p, "invitation_id = ?", kept.ID))
		require.Len(t, outboxIDs(t, be, db, p, "invitation_id = ?", live.ID), 1, "an open invitation's rows stay")
		require.Len(t, outboxIDs(t, be, db, p, "invitation_id = ?", gone.ID), 2)
	})
}

// TestOutboxValidation checks that bad input is an *invite.ValidationError
// naming the field or argument, before any statement runs.
func TestOutboxValidation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		st, db := be.newStore(t)
		fieldsOf := func(err error) []string {
			t.Helper()
			var ve *invite.ValidationError
			require.ErrorAs(t, err, &ve)
			var fs []string
			for _, f := range ve.Fields {
				fs = append(fs, f.Field)
			}
			return fs
		}
		now := time.Now()
		err := st.Apply(ctx, &invite.Batch{
			Messages: []invite.QueuedMessage{
				{ID: "", TenantID: "t", InvitationID: "i"},
				{ID: "ok", TenantID: "", InvitationID: "i\xff"},
				{ID: strings.Repeat("x", 256), TenantID: "t", InvitationID: "i"},
			},
			Delivered: []string{"fine", "", "nul\x00"},
			Events:    []invite.Event{{ID: "bad\x01", Type: invite.EventCreated, Time: now}},
		})
		require.ElementsMatch(t, []string{"Events[0].ID", "Events[0].TenantID", "Events[0].InvitationID", "Messages[0].ID", "Messages[1].TenantID", "Messages[1].InvitationID",
			"Messages[2].ID", "Delivered[1]", "Delivered[2]"}, fieldsOf(err))
		require.Zero(t, countRows(t, db, be.dialect, st.TablePrefix()+"outbox", ""))

		_, err = st.ClaimOutbox(ctx, "", []invite.OutboxKind{invite.OutboxEvent, "mail"}, now, 0, 0)
		require.ElementsMatch(t, []string{"owner", "kinds[1]", "lease", "limit"}, fieldsOf(err))
		_, err = st.SettleOutbox(ctx, "", now, []invite.Settlement{{ID: "", Outcome: invite.Delivered}, {ID: "x", Outcome: 9}})
		require.ElementsMatch(t, []string{"owner", "settlements[0].ID", "settlements[1].Outcome"}, fieldsOf(err))
		_, err = st.ListDeadOutbox(ctx, "", "", 0)
		require.ElementsMatch(t, []string{"tenantID", "limit"}, fieldsOf(err))
		_, err = st.RedriveOutbox(ctx, "", []string{"x"}, now)
		require.ElementsMatch(t, []string{"tenantID"}, fieldsOf(err))

		// A transport's error is stored whatever bytes it holds.
		require.NoError(t, st.Apply(ctx, &invite.Batch{Messages: []invite.QueuedMessage{{ID: "m", TenantID: "t", InvitationID: "i"}}}))
		c, err := st.ClaimOutbox(ctx, "o", nil, time.Now().Add(time.Second), time.Minute, 1)
		require.NoError(t, err)
		require.Len(t, c, 1)
		n, err := st.SettleOutbox(ctx, "o", now, []invite.Settlement{{ID: "m", Attempt: 1, Outcome: invite.Dead,
			Error: "bad \xff byte, nul \x00, " + strings.Repeat("long ", 1000)}})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		dead, err := st.ListDeadOutbox(ctx, "t", "", 1)
		require.NoError(t, err)
		require.Len(t, dead, 1)
		require.True(t, strings.HasPrefix(dead[0].LastError, "bad \uFFFD byte, nul \uFFFD, long"), dead[0].LastError)
		require.LessOrEqual(t, len(dead[0].LastError), 4096)
	})
}

// TestOutboxConcurrentClaims races claimers with distinct owners over many
// due entries: every entry is claimed exactly once.
func TestOutboxConcurrentClaims(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		st, db := be.newStore(t)
		const entries, claimers = 400, 8
		now := time.Now().UTC().Truncate(time.Microsecond)
		msgs := make([]invite.QueuedMessage, entries)
		for i := range msgs {
			msgs[i] = invite.QueuedMessage{ID: fmt.Sprintf("m-%04d", i), TenantID: "t", InvitationID: fmt.Sprintf("i-%d", i%50),
				CreatedAt: now, AvailableAt: now.Add(time.Duration(i%13) * time.Millisecond)}
		}
		require.NoError(t, st.Apply(ctx, &invite.Batch{Messages: msgs}))
		claimed := make([][]string, claimers)
		errs := make([]error, claimers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range claimers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				owner := fmt.Sprintf("owner-%d", g)
				for {
					es, err := st.ClaimOutbox(ctx, owner, nil, now.Add(time.Second), time.Minute, 7)
					if err != nil {
						errs[g] = err
						return
					}
					if len(es) == 0 {
						return
					}
					for _, e := range es {
						if e.Owner != owner || e.Attempts != 1 {
							errs[g] = fmt.Errorf("%s claimed as %s, attempt %d", e.ID, e.Owner, e.Attempts)
							return
						}
						claimed[g] = append(claimed[g], e.ID)
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		seen := map[string]int{}
		for g := range claimers {
			require.NoError(t, errs[g], "claimer %d", g)
			for _, id := range claimed[g] {
				if prev, ok := seen[id]; ok {
					t.Fatalf("%s claimed by owner-%d and owner-%d", id, prev, g)
				}
				seen[id] = g
			}
		}
		require.Len(t, seen, entries)
		require.Equal(t, entries, countRows(t, db, be.dialect, st.TablePrefix()+"outbox", "attempts = 1"))
	})
}

// TestOutboxHostTransaction checks InHostTransaction, and that a claim in
// a host's transaction rolls back with it.
func TestOutboxHostTransaction(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		st, db := be.newStore(t)
		require.False(t, st.InHostTransaction())
		now := time.Now().UTC().Truncate(time.Microsecond)
		require.NoError(t, st.Apply(ctx, &invite.Batch{Messages: []invite.QueuedMessage{{ID: "m", TenantID: "t", InvitationID: "i",
			CreatedAt: now}}}))
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		in := st.WithTx(tx)
		require.True(t, in.InHostTransaction())
		c, err := in.ClaimOutbox(ctx, "o", nil, now, time.Minute, 10)
		require.NoError(t, err)
		require.Len(t, c, 1)
		n, err := in.SettleOutbox(ctx, "o", now, []invite.Settlement{{ID: "m", Attempt: 1, Outcome: invite.Delivered}})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.NoError(t, tx.Rollback())
		c, err = st.ClaimOutbox(ctx, "o", nil, now, time.Minute, 10)
		require.NoError(t, err)
		require.Len(t, c, 1, "the host's rollback undid the claim and the settlement")
		require.Equal(t, 1, c[0].Attempts)
	})
}

// TestMigrateOutbox upgrades a database at migration 0001 holding
// undelivered outbox rows: 0002 marks them delivered at their created_at
// (no dispatcher replays them), leaves delivered rows alone, and the store
// works. On MySQL, whose DDL is not transactional, 0002 re-runs safely and
// then leaves new rows alone.
func TestMigrateOutbox(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		st, db := be.freshStore(t, sqlstore.Config{})
		p := st.TablePrefix()
		embedded := sqlstore.EmbeddedMigrations(be.dialect)
		init, err := fs.ReadFile(embedded, "0001_init.sql")
		require.NoError(t, err)
		sqlstore.SetMigrationFS(st, fstest.MapFS{"0001_init.sql": &fstest.MapFile{Data: init}})
		require.NoError(t, st.Migrate(ctx))

		created := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
		delivered := created.Add(time.Hour)
		timeArg := func(t time.Time) any {
			if be.dialect == sqlstore.SQLite {
				return t.UnixMicro()
			}
			return t
		}
		q := "INSERT INTO " + p + "outbox (id, tenant_id, invitation_id, type, payload, created_at, available_at, delivered_at)" +
			" VALUES (?, 't', 'i', 'invitation.created', '{}', ?, ?, ?)"
		if be.dialect == sqlstore.Postgres {
			q = rebind(q)
		}
		for _, r := range []struct {
			id        string
			delivered any
		}{{"old-1", nil}, {"old-2", nil}, {"done", timeArg(delivered)}} {
			_, err := db.ExecContext(ctx, q, r.id, timeArg(created), timeArg(created), r.delivered)
			require.NoError(t, err)
		}

		sqlstore.SetMigrationFS(st, embedded)
		require.NoError(t, st.Migrate(ctx))
		stats, err := st.OutboxStats(ctx)
		require.NoError(t, err)
		require.Equal(t, invite.OutboxStats{}, stats, "nothing is pending after the upgrade")
		n, err := st.PurgeOutbox(ctx, created.Add(time.Second), 10)
		require.NoError(t, err)
		require.Equal(t, 2, n, "the old rows were delivered at their created_at")
		require.Equal(t, []string{"done"}, outboxIDs(t, be, db, p, "kind = 'event'"))

		m := manager(t, st)
		res := create(t, m, "upgraded@example.com")
		require.NoError(t, st.Apply(ctx, &invite.Batch{Messages: []invite.QueuedMessage{{ID: "new", TenantID: "tenant-1",
			InvitationID: res.Invitation.ID}}}))
		if be.dialect == sqlstore.MySQL {
			// An interrupted migration is run again: its steps check the
			// schema and do nothing more.
			_, err := db.ExecContext(ctx, "DELETE FROM "+p+"schema_migrations WHERE version = 2")
			require.NoError(t, err)
			require.NoError(t, st.Migrate(ctx))
		}
		stats, err = st.OutboxStats(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, stats.Pending, "the created event and the message")
	})
}
