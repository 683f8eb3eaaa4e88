package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/sqlstore"
)

// createUsers creates the host's own table, next to the store's.
func createUsers(t *testing.T, db *sql.DB, prefix string) string {
	t.Helper()
	table := prefix + "users"
	_, err := db.ExecContext(context.Background(),
		"CREATE TABLE "+table+" (id VARCHAR(255) NOT NULL PRIMARY KEY, email VARCHAR(255) NOT NULL)")
	require.NoError(t, err)
	return table
}

func insertUser(t *testing.T, be backend, tx *sql.Tx, table, id, email string) {
	t.Helper()
	q := "INSERT INTO " + table + " (id, email) VALUES (?, ?)"
	if be.dialect == sqlstore.Postgres {
		q = rebind(q)
	}
	_, err := tx.ExecContext(context.Background(), q, id, email)
	require.NoError(t, err)
}

// TestHostTransaction accepts an invitation and inserts the host's user row
// in one host transaction: both commit, or neither does.
func TestHostTransaction(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		st, db := be.newStore(t)
		users := createUsers(t, db, st.TablePrefix())
		m := manager(t, st)
		res := create(t, m, "host.tx@example.com")
		id := res.Invitation.ID
		outboxRows := func() int { return countRows(t, db, be.dialect, st.TablePrefix()+"outbox", "invitation_id = ?", id) }

		t.Run("Rollback", func(t *testing.T) {
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			acc, err := m.WithStore(st.WithTx(tx)).Accept(ctx, res.Token.Reveal(), invite.AcceptInput{Subject: "user-1"})
			require.NoError(t, err)
			require.Equal(t, invite.StateAccepted, acc.Invitation.State)
			insertUser(t, be, tx, users, "user-1", "host.tx@example.com")
			// Inside the transaction the acceptance is visible.
			inTx, err := st.WithTx(tx).Get(ctx, "tenant-1", id)
			require.NoError(t, err)
			require.Equal(t, invite.StateAccepted, inTx.Invitation.State)
			require.NoError(t, tx.Rollback())

			got, err := st.Get(ctx, "tenant-1", id)
			require.NoError(t, err)
			require.Equal(t, invite.StatePending, got.Invitation.State, "the acceptance rolled back with the host")
			require.EqualValues(t, 1, got.Invitation.Version)
			require.Zero(t, countRows(t, db, be.dialect, users, ""), "the user row rolled back")
			require.Equal(t, 1, outboxRows(), "only the created event is in the outbox")
		})

		t.Run("Commit", func(t *testing.T) {
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			_, err = m.WithStore(st.WithTx(tx)).Accept(ctx, res.Token.Reveal(), invite.AcceptInput{Subject: "user-2"})
			require.NoError(t, err)
			insertUser(t, be, tx, users, "user-2", "host.tx@example.com")
			require.NoError(t, tx.Commit())

			got, err := st.Get(ctx, "tenant-1", id)
			require.NoError(t, err)
			require.Equal(t, invite.StateAccepted, got.Invitation.State)
			require.Equal(t, "user-2", got.Invitation.AcceptedBy)
			require.Equal(t, 1, countRows(t, db, be.dialect, users, "id = ?", "user-2"))
			require.Equal(t, 2, outboxRows(), "the accepted event committed with the host")
		})

		t.Run("FailedWriteLeavesTransactionUsable", func(t *testing.T) {
			// A write that fails inside the host's transaction is undone on
			// its own (a savepoint): on PostgreSQL the transaction would
			// otherwise be aborted, and the Manager's follow-up read (FindOpen
			// after the collision) would fail.
			live := create(t, m, "taken@example.com")
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			txm := m.WithStore(st.WithTx(tx))
			_, err = txm.Create(ctx, invite.CreateInput{TenantID: "tenant-1", Invitee: invite.Invitee{Email: "Taken@example.com"},
				Delivery: invite.DeliveryReturn})
			require.ErrorIs(t, err, invite.ErrAlreadyExists)
			var exists *invite.ExistsError
			require.ErrorAs(t, err, &exists)
			require.Equal(t, live.Invitation.ID, exists.ID, "the Manager read the blocking invitation inside the transaction")
			insertUser(t, be, tx, users, "user-3", "taken@example.com")
			fresh, err := txm.Create(ctx, invite.CreateInput{TenantID: "tenant-1", Invitee: invite.Invitee{Email: "fresh@example.com"},
				Delivery: invite.DeliveryReturn})
			require.NoError(t, err)
			require.NoError(t, tx.Commit())
			require.Equal(t, 1, countRows(t, db, be.dialect, users, "id = ?", "user-3"))
			_, err = st.Get(ctx, "tenant-1", fresh.Invitation.ID)
			require.NoError(t, err)
		})

		t.Run("FailedBatchIsUndoneInside", func(t *testing.T) {
			// Every write of a failing batch is undone inside the host's
			// transaction, which goes on and commits the host's own work.
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			txs := st.WithTx(tx)
			fresh := &invite.Record{Invitation: *res.Invitation.Clone()}
			fresh.Invitation.ID, fresh.Invitation.Version, fresh.Invitation.IdempotencyKey = "fresh-in-batch", 1, ""
			fresh.Invitation.Invitee = invite.Invitee{Email: "batch@example.com"}
			fresh.Credentials.TokenHash[0] = 1
			missing := &invite.Record{Invitation: *fresh.Invitation.Clone()}
			missing.Invitation.ID, missing.Invitation.Version = "missing", 2
			err = txs.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: fresh}, {Record: missing, Expect: 1}},
				Events: []invite.Event{{ID: "ev-batch", Type: invite.EventCreated, TenantID: "tenant-1", InvitationID: "fresh-in-batch"}}})
			require.ErrorIs(t, err, invite.ErrNotFound)
			_, err = txs.Get(ctx, "tenant-1", "fresh-in-batch")
			require.ErrorIs(t, err, invite.ErrNotFound, "the batch's insert is undone inside the transaction")
			insertUser(t, be, tx, users, "user-4", "batch@example.com")
			require.NoError(t, tx.Commit())
			_, err = st.Get(ctx, "tenant-1", "fresh-in-batch")
			require.ErrorIs(t, err, invite.ErrNotFound)
			require.Zero(t, countRows(t, db, be.dialect, st.TablePrefix()+"outbox", "id = ?", "ev-batch"))
			require.Equal(t, 1, countRows(t, db, be.dialect, users, "id = ?", "user-4"))
		})

		t.Run("MigrateRefusesTransaction", func(t *testing.T) {
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback() }()
			var me *sqlstore.MigrationError
			require.ErrorAs(t, st.WithTx(tx).Migrate(ctx), &me)
		})
	})
}

// TestOutbox checks that every change writes its events into the outbox in
// the same atomic write, with the columns a dispatcher needs, and nothing
// secret in the payload.
func TestOutbox(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		st, db := be.newStore(t)
		m := manager(t, st)
		res, err := m.Create(ctx, invite.CreateInput{TenantID: "tenant-1", Invitee: invite.Invitee{Email: "outbox@example.com"},
			Delivery: invite.DeliveryReturn, WithCode: true})
		require.NoError(t, err)
		_, err = m.Accept(ctx, res.Token.Reveal(), invite.AcceptInput{Subject: "user-1"})
		require.NoError(t, err)
		rec, err := st.Get(ctx, "tenant-1", res.Invitation.ID)
		require.NoError(t, err)

		q := "SELECT id, tenant_id, type, payload, attempts, delivered_at IS NULL, last_error IS NULL, available_at = created_at FROM " +
			st.TablePrefix() + "outbox WHERE invitation_id = ? ORDER BY created_at, id"
		if be.dialect == sqlstore.Postgres {
			q = rebind(q)
		}
		rows, err := db.QueryContext(ctx, q, res.Invitation.ID)
		require.NoError(t, err)
		defer rows.Close()
		var types []string
		for rows.Next() {
			var id, tenant, typ string
			var payload []byte
			var attempts int
			var undelivered, noError, availableNow bool
			require.NoError(t, rows.Scan(&id, &tenant, &typ, &payload, &attempts, &undelivered, &noError, &availableNow))
			types = append(types, typ)
			var ev invite.Event
			require.NoError(t, json.Unmarshal(payload, &ev), "payload is the event's JSON")
			require.Equal(t, id, ev.ID, "the row id is the event id")
			require.Equal(t, "tenant-1", tenant)
			require.Equal(t, typ, string(ev.Type))
			require.Zero(t, attempts)
			require.True(t, undelivered && noError && availableNow, "a new outbox row is due at once and undelivered")
			for _, secret := range []string{res.Token.Reveal(), res.Code.Reveal(), hex.EncodeToString(rec.Credentials.TokenHash[:]),
				string(rec.Credentials.CodeHash)} {
				require.NotContains(t, string(payload), secret, "the payload carries no secret and no hash of one")
			}
		}
		require.NoError(t, rows.Err())
		require.Equal(t, []string{string(invite.EventCreated), string(invite.EventAccepted)}, types)

		// A batch that fails writes no event.
		before := countRows(t, db, be.dialect, st.TablePrefix()+"outbox", "")
		_, err = m.Create(ctx, invite.CreateInput{TenantID: "tenant-1", Invitee: invite.Invitee{Email: "dup@example.com"},
			Delivery: invite.DeliveryReturn, IdempotencyKey: "k1"})
		require.NoError(t, err)
		_, err = m.Create(ctx, invite.CreateInput{TenantID: "tenant-1", Invitee: invite.Invitee{Email: "DUP@example.com"},
			Delivery: invite.DeliveryReturn})
		require.ErrorIs(t, err, invite.ErrAlreadyExists)
		require.Equal(t, before+1, countRows(t, db, be.dialect, st.TablePrefix()+"outbox", ""),
			"only the successful Create wrote an event")
	})
}

// countingDB counts the statements a Store sends through it, and the
// transactions it begins (whose statements go to the *sql.Tx, uncounted).
type countingDB struct {
	*sql.DB
	statements, begins atomic.Int64
}

func (c *countingDB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	c.statements.Add(1)
	return c.DB.ExecContext(ctx, q, args...)
}

func (c *countingDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	c.statements.Add(1)
	return c.DB.QueryContext(ctx, q, args...)
}

func (c *countingDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	c.statements.Add(1)
	return c.DB.QueryRowContext(ctx, q, args...)
}

func (c *countingDB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	c.begins.Add(1)
	return c.DB.BeginTx(ctx, opts)
}

// TestRoundTrips counts what Create and Accept cost: on PostgreSQL, Create
// is one statement and Accept two (the lookup and one guarded write), with
// no transaction; elsewhere each write is one transaction. In send mode,
// marking the message sent (and settling its outbox row) is one more.
func TestRoundTrips(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		migrated, db := be.newStore(t)
		c := &countingDB{DB: db}
		st, err := sqlstore.New(c, sqlstore.Config{Dialect: be.dialect, TablePrefix: migrated.TablePrefix()})
		require.NoError(t, err)
		m := manager(t, st)

		count := func(fn func()) (int64, int64) {
			s0, b0 := c.statements.Load(), c.begins.Load()
			fn()
			return c.statements.Load() - s0, c.begins.Load() - b0
		}
		var res *invite.Result
		stmts, begins := count(func() { res = create(t, m, "round.trips@example.com") })
		t.Logf("%s Create: %d statements outside a transaction, %d transactions", be.name, stmts, begins)
		if be.dialect == sqlstore.Postgres {
			require.Equal(t, [2]int64{1, 0}, [2]int64{stmts, begins}, "Create on PostgreSQL: one statement")
		} else {
			require.Equal(t, [2]int64{0, 1}, [2]int64{stmts, begins}, "Create: one transaction")
		}
		stmts, begins = count(func() {
			_, err := m.Accept(ctx, res.Token.Reveal(), invite.AcceptInput{Subject: "user-1"})
			require.NoError(t, err)
		})
		t.Logf("%s Accept: %d statements outside a transaction, %d transactions", be.name, stmts, begins)
		if be.dialect == sqlstore.Postgres {
			require.Equal(t, [2]int64{2, 0}, [2]int64{stmts, begins}, "Accept on PostgreSQL: lookup and one guarded write")
		} else {
			require.Equal(t, [2]int64{1, 1}, [2]int64{stmts, begins}, "Accept: lookup, then one transaction")
		}
		// A lost race costs one more statement: the SELECT telling
		// ErrConflict from ErrNotFound.
		rec, err := st.Get(ctx, "tenant-1", res.Invitation.ID)
		require.NoError(t, err)
		stale := rec.Clone()
		stale.Invitation.Version = 2 // computed from version 1, but 2 is stored
		stmts, begins = count(func() {
			err := st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: stale, Expect: 1}}})
			require.ErrorIs(t, err, invite.ErrConflict)
			require.False(t, strings.Contains(err.Error(), hex.EncodeToString(rec.Credentials.TokenHash[:])))
		})
		if be.dialect == sqlstore.Postgres {
			require.Equal(t, [2]int64{2, 0}, [2]int64{stmts, begins})
		}

		// In send mode, without an event sink: the invitation and its
		// message row, then, once the notifier took the message, the
		// invitation marked sent and the message row settled: one
		// statement each on PostgreSQL, one transaction each elsewhere.
		var sent atomic.Int64
		send, err := invite.New(st, invite.Config{CodeHashParams: invite.CodeHashParams{Time: 1, MemoryKiB: 64, Threads: 1},
			LinkTemplate: "https://app.example.com/invite?token={token}",
			Notifier:     invite.NotifierFunc(func(context.Context, invite.Message) error { sent.Add(1); return nil })})
		require.NoError(t, err)
		events := countRows(t, db, be.dialect, st.TablePrefix()+"outbox", "kind = 'event'")
		stmts, begins = count(func() {
			_, err := send.Create(ctx, invite.CreateInput{TenantID: "tenant-1", Invitee: invite.Invitee{Email: "sent@example.com"},
				Delivery: invite.DeliverySend})
			require.NoError(t, err)
		})
		t.Logf("%s Create and send: %d statements outside a transaction, %d transactions", be.name, stmts, begins)
		require.EqualValues(t, 1, sent.Load())
		if be.dialect == sqlstore.Postgres {
			require.Equal(t, [2]int64{2, 0}, [2]int64{stmts, begins}, "Create and send on PostgreSQL: two statements")
		} else {
			require.Equal(t, [2]int64{0, 2}, [2]int64{stmts, begins}, "Create and send: two transactions")
		}
		require.Zero(t, countRows(t, db, be.dialect, st.TablePrefix()+"outbox", "kind = 'message'"),
			"the message row is settled (deleted)")
		require.Equal(t, events, countRows(t, db, be.dialect, st.TablePrefix()+"outbox", "kind = 'event'"), "no event without a sink")
	})
}
