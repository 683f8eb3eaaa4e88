package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/invitekit/invite"
)

// mysql is the dialect of MySQL and MariaDB: ? placeholders, STORED
// generated columns where the others have partial indexes, and DDL that
// commits implicitly.
type mysql struct {
	serverWrites
	txWrites
}

func (mysql) placeholder(int) string { return "?" }

func (mysql) timeValue(t time.Time) any { return utc(t) }

func (mysql) refusesNUL() bool { return false }

// currentReads is FOR UPDATE: at REPEATABLE READ a transaction's plain
// reads see its snapshot, its writes and locking reads the current rows.
func (mysql) currentReads() string { return " FOR UPDATE" }

// openKey compares the generated column of the unique index, which holds
// the key while the state is open and NULL otherwise.
func (mysql) openKey(kind, ph string) string { return "open_" + kind + " = " + ph }

// due compares the generated column due_at, expires_at while the state is
// open, of the index.
func (mysql) due(ph string) (cond, order string) { return "due_at <= " + ph, "due_at" }

func (mysql) idOrder() string { return "id" } // VARBINARY: byte order

// filterColumn: the generated columns of 0003_filters (VARBINARY: byte
// order).
func (mysql) filterColumn(c filterColumn) string {
	return [...]string{fcClientID: "client_key", fcTemplateKey: "template_key", fcEmail: "email_key"}[c]
}

func (mysql) holds(array, ph string) string {
	return "JSON_CONTAINS(doc, " + ph + ", '$." + array + "')"
}

func (mysql) holdsArg(v string) any { return holdsArgJSON(v, false) }

// resendCount casts the JSON value: MySQL's JSON_EXTRACT returns JSON,
// MariaDB's text.
func (mysql) resendCount() string { return "CAST(JSON_EXTRACT(doc, '$.resend_count') AS SIGNED)" }

func (mysql) nullSafeEqual() string { return "<=>" }

func (mysql) keptColumns() []string { return nil }

// setsChangedOnly: InnoDB leaves alone the index entries whose values an
// update does not change, whatever it sets.
func (mysql) setsChangedOnly() bool { return false }

// lockInviter: see dialect.
func (mysql) lockInviter(table string) string {
	return "INSERT INTO " + table + " (tenant_id, inviter_id) VALUES (?, ?) ON DUPLICATE KEY UPDATE inviter_id = VALUES(inviter_id)"
}

// countOpenLock: see dialect.
func (mysql) countOpenLock() string { return " LOCK IN SHARE MODE" }

// outboxDue compares the generated column due_at, available_at while the
// row is neither delivered nor dead, of the claim's index.
func (mysql) outboxDue(ph string) (cond, order string) { return "due_at <= " + ph, "due_at" }

func (mysql) outboxPending() string { return "due_at IS NOT NULL" }

// outboxDead compares the generated column dead_tenant, tenant_id while
// the row is dead and undelivered, of the index of dead rows.
func (mysql) outboxDead(ph string) string {
	if ph == "" {
		return "dead_tenant IS NOT NULL"
	}
	return "dead_tenant = " + ph
}

// queueTx is READ COMMITTED: at REPEATABLE READ, a locking scan of the
// claim's index (or a DELETE's) also locks the gaps between the rows it
// reads, where the rows of concurrent writes go, and holds up their
// inserts until it commits.
func (mysql) queueTx() *sql.TxOptions { return &sql.TxOptions{Isolation: sql.LevelReadCommitted} }

func (mysql) typed(ph, _ string) string { return ph }

// countsChangedRows: the driver reports the rows an UPDATE changed
// (without the clientFoundRows DSN parameter).
func (mysql) countsChangedRows() bool { return true }

// claim selects the due rows with FOR UPDATE SKIP LOCKED and updates them
// by id, in one READ COMMITTED transaction (see queueTx).
func (mysql) claim(ctx context.Context, s *Store, c *claimRequest) ([]*invite.OutboxEntry, error) {
	return s.txClaim(ctx, c, " FOR UPDATE SKIP LOCKED")
}

// purgeOutbox is one DELETE ... ORDER BY delivered_at LIMIT, at READ
// COMMITTED (see queueTx).
func (my mysql) purgeOutbox(ctx context.Context, s *Store, before time.Time, limit int) (int, error) {
	var n int64
	err := s.atomicallyWith(ctx, "purge outbox", my.queueTx(), func(ex DBTX) (err error) {
		n, err = affected(ex.ExecContext(ctx, "DELETE FROM "+s.outbox+" WHERE delivered_at < ? ORDER BY delivered_at LIMIT ?",
			my.timeValue(before), limit))
		if err != nil {
			return wrap("purge outbox", err)
		}
		return nil
	})
	return int(n), err
}

// purge runs in one transaction: it selects the ids without locks, by the
// generated column purge_at, and then locks those still due by primary key,
// re-checking the condition: a locking scan of the purge_at index would
// also lock the gap where every new open invitation's index entry goes,
// holding up every Create until the purge commits, and deadlocking batches
// that close one invitation and insert another. (MySQL cannot LIMIT a
// subquery on the table it deletes from.)
func (my mysql) purge(ctx context.Context, s *Store, before time.Time, limit int) (int, error) {
	sel := "SELECT tenant_id, id FROM " + s.invitations + " WHERE purge_at < ? ORDER BY purge_at LIMIT ?"
	return s.purgeInTx(ctx, sel, before, limit, func(ex DBTX, chunk [][2]string) (int64, error) {
		// Lock the rows still due, by primary key (forced: the optimizer
		// may pick the purge_at index, whose scan locks the gaps this
		// avoids), skipping rows another transaction holds: another
		// replica's purge, or a write; they are purged next time if still
		// due.
		a := &args{dl: my}
		lock := "SELECT tenant_id, id FROM " + s.invitations + " FORCE INDEX (PRIMARY) WHERE (tenant_id, id) IN (" + pairTuples(a, chunk) + ")" +
			" AND purge_at < " + a.add(my.timeValue(before)) + " FOR UPDATE SKIP LOCKED"
		locked, err := queryPairs(ctx, ex, lock, a.vals...)
		if err != nil {
			return 0, err
		}
		// One invitation at a time (its row, token rows and outbox rows):
		// a multi-row DELETE scans the primary key with next-key locks,
		// which deadlocks with other purges and with inserts.
		var n int64
		for _, p := range locked {
			m, err := affected(ex.ExecContext(ctx, "DELETE FROM "+s.invitations+" WHERE tenant_id = ? AND id = ?", p[0], p[1]))
			if err != nil {
				return 0, wrap("purge", err)
			}
			n += m
			for _, q := range [...]string{s.q.deleteTokens, s.q.deleteOutbox} {
				if _, err := ex.ExecContext(ctx, q, p[0], p[1]); err != nil {
					return 0, wrap("purge", err)
				}
			}
		}
		return n, nil
	})
}

// migrate applies the missing migrations under a named lock, held on one
// dedicated connection (see Store.Migrate): DDL commits implicitly, so a
// migration cannot claim its row in a transaction of its own.
func (mysql) migrate(ctx context.Context, s *Store, ms []migration) error {
	var conn *sql.Conn
	switch x := s.db.(type) {
	case *sql.Conn:
		conn = x
	case conner:
		c, err := x.Conn(ctx)
		if err != nil {
			return &MigrationError{Reason: "getting a connection", Err: wrap("migrate", err)}
		}
		defer c.Close()
		conn = c
	default:
		return &MigrationError{Reason: "needs a *sql.DB or *sql.Conn on MySQL, to hold GET_LOCK on one connection"}
	}
	// The lock is server-wide: its name covers the database and the prefix,
	// within MySQL's 64 characters.
	lockName := "CONCAT('invite:', SHA1(CONCAT(DATABASE(), '.', ?)))"
	timeout := int64((s.cfg.MigrationLockTimeout + time.Second - 1) / time.Second)
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK("+lockName+", ?)", s.cfg.TablePrefix, timeout).Scan(&got); err != nil {
		return &MigrationError{Reason: "taking the migration lock", Err: wrap("migrate", err)}
	}
	if !got.Valid || got.Int64 != 1 {
		return &MigrationError{Reason: "another process held the migration lock for " + s.cfg.MigrationLockTimeout.String(),
			Err: &Error{Op: "migrate", Err: errors.New("GET_LOCK timed out"), Retryable: true}}
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK("+lockName+")", s.cfg.TablePrefix)
	}()
	if _, err := conn.ExecContext(ctx, s.dl.migrationsTable(s.migrations)); err != nil {
		return &MigrationError{Reason: "creating " + s.migrations, Err: wrap("migrate", err)}
	}
	applied, err := s.appliedMigrations(ctx, conn, ms)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if _, ok := applied[m.version]; ok {
			continue
		}
		start := time.Now()
		for i, stmt := range m.statements {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return &MigrationError{Version: m.version, File: m.name,
					Reason: "statement " + strconv.Itoa(i+1) + " failed (MySQL DDL is not transactional: the statements before it stay applied, and the next Migrate re-runs the migration)",
					Err:    wrap("migrate", err)}
			}
		}
		if err := s.runFillIn(ctx, nil, conn, m); err != nil {
			return err
		}
		if err := s.recordMigration(ctx, conn, m); err != nil {
			return &MigrationError{Version: m.version, File: m.name, Reason: "recording the migration", Err: wrap("migrate", err)}
		}
		s.logMigration(ctx, m, start)
	}
	return nil
}

func (mysql) migrationsTable(table string) string {
	return "CREATE TABLE IF NOT EXISTS " + table +
		" (version INT PRIMARY KEY, name VARCHAR(255) NOT NULL, checksum CHAR(64) NOT NULL, applied_at DATETIME(6) NOT NULL)" +
		" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
}

// conner is a *sql.DB: it hands out a dedicated connection.
type conner interface {
	Conn(ctx context.Context) (*sql.Conn, error)
}

// messageSlots: MySQL queues every message as an outbox row.
func (mysql) messageSlots() bool { return false }
