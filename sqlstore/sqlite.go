package sqlstore

import (
	"context"
	"time"

	"github.com/invitekit/invite"
)

// sqlite is the SQLite dialect: ? placeholders, times as unix microseconds,
// partial indexes, one writer at a time.
type sqlite struct {
	txWrites
	transactionalDDL
	defaultTx
	// writes serialises the Store's write transactions (a channel of
	// capacity one, so that waiting honours the context).
	writes chan struct{}
}

func (*sqlite) placeholder(int) string { return "?" }

// timeValue is unix microseconds: the time columns are INTEGER.
func (*sqlite) timeValue(t time.Time) any { return t.UnixMicro() }

func (*sqlite) refusesNUL() bool { return false }

// lockWrites queues the Store's write transactions in the process: SQLite
// admits one writer at a time, and its busy handler would make concurrent
// writers of one process poll with sleeps of up to 100 ms instead of
// handing the lock on the moment it is free. Writers of other processes
// are kept apart by SQLite's locking and the busy timeout.
func (l *sqlite) lockWrites(ctx context.Context) (func(), error) {
	select {
	case l.writes <- struct{}{}:
		return func() { <-l.writes }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// currentReads is "": with one writer at a time, no row changes under a
// write transaction's reads.
func (*sqlite) currentReads() string { return "" }

func (*sqlite) openKey(kind, ph string) string { return partialOpenKey(kind, ph) }

func (*sqlite) due(ph string) (cond, order string) { return partialDue(ph) }

func (*sqlite) idOrder() string { return "id" } // TEXT compares byte for byte (BINARY)

func (*sqlite) filterColumn(c filterColumn) string {
	return [...]string{fcClientID: "json_extract(doc, '$.client_id')", fcTemplateKey: "json_extract(doc, '$.template_key')",
		fcEmail: "email_key"}[c]
}

func (*sqlite) holds(array, ph string) string {
	return "EXISTS (SELECT 1 FROM json_each(doc, '$." + array + "') WHERE value = " + ph + ")"
}

func (*sqlite) holdsArg(v string) any { return v }

func (*sqlite) resendCount() string { return "json_extract(doc, '$.resend_count')" }

func (*sqlite) nullSafeEqual() string { return "IS" }

// keptColumns: SQLite rewrites the entries of every index whose columns an
// UPDATE sets, changed or not. No Manager operation changes the first two;
// only an edit of the names changes the search keys (an accept, a reject,
// a resend never do).
func (*sqlite) keptColumns() []string {
	return []string{"idempotency_key", "created_at", "search_name", "search_family"}
}

// setsChangedOnly: see keptColumns.
func (*sqlite) setsChangedOnly() bool { return true }

// lockInviter: see dialect.
func (*sqlite) lockInviter(table string) string {
	return "INSERT INTO " + table + " (tenant_id, inviter_id) VALUES (?, ?) ON CONFLICT (tenant_id, inviter_id) DO UPDATE SET inviter_id = excluded.inviter_id"
}

// countOpenLock: see dialect.
func (*sqlite) countOpenLock() string { return "" }

func (*sqlite) outboxDue(ph string) (cond, order string) { return partialOutboxDue(ph) }

func (*sqlite) outboxPending() string { return partialOutboxPending() }

func (*sqlite) outboxDead(ph string) string { return partialOutboxDead(ph) }

// claim selects the due rows and updates them in one write transaction:
// with one writer at a time, nothing changes them in between.
func (*sqlite) claim(ctx context.Context, s *Store, c *claimRequest) ([]*invite.OutboxEntry, error) {
	return s.txClaim(ctx, c, "")
}

func (*sqlite) purgeOutbox(ctx context.Context, s *Store, before time.Time, limit int) (int, error) {
	return s.purgeOutboxByIDs(ctx, "IN (", ")", before, limit)
}

// purge selects the ids and deletes them, with their token and outbox
// rows, by them, in one transaction.
func (*sqlite) purge(ctx context.Context, s *Store, before time.Time, limit int) (int, error) {
	sel := "SELECT tenant_id, id FROM " + s.invitations + " WHERE state IN " + closedStates +
		" AND closed_at < ? ORDER BY closed_at LIMIT ?"
	return s.purgeInTx(ctx, sel, before, limit, func(ex DBTX, chunk [][2]string) (int64, error) {
		a := &args{dl: s.dl}
		in := "(VALUES " + pairTuples(a, chunk) + ")"
		n, err := affected(ex.ExecContext(ctx, "DELETE FROM "+s.invitations+" WHERE (tenant_id, id) IN "+in, a.vals...))
		if err != nil {
			return 0, wrap("purge", err)
		}
		for _, table := range []string{s.tokens, s.outbox} {
			if _, err := ex.ExecContext(ctx, "DELETE FROM "+table+" WHERE (tenant_id, invitation_id) IN "+in, a.vals...); err != nil {
				return 0, wrap("purge", err)
			}
		}
		return n, nil
	})
}

func (*sqlite) migrationsTable(table string) string {
	return "CREATE TABLE IF NOT EXISTS " + table +
		" (version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)"
}

// messageSlots: SQLite queues every message as an outbox row.
func (*sqlite) messageSlots() bool { return false }
