package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/invitekit/invite"
)

// postgres is the PostgreSQL dialect (and CockroachDB's, YugabyteDB's): $n
// placeholders, partial indexes, and a write of one invitation as one
// statement (see postgres.write).
type postgres struct {
	serverWrites
	transactionalDDL
	// stmts caches the text of the write statements.
	stmts *stmtCache
}

func (*postgres) placeholder(n int) string { return "$" + strconv.Itoa(n) }

func (*postgres) timeValue(t time.Time) any { return utc(t) }

func (*postgres) refusesNUL() bool { return true }

// currentReads is "": at READ COMMITTED every statement reads the current
// rows; at SERIALIZABLE a write computed from a stale read fails (40001).
func (*postgres) currentReads() string { return "" }

func (*postgres) openKey(kind, ph string) string { return partialOpenKey(kind, ph) }

func (*postgres) due(ph string) (cond, order string) { return partialDue(ph) }

func (*postgres) idOrder() string { return `id COLLATE "C"` }

func (*postgres) filterColumn(c filterColumn) string {
	return [...]string{fcClientID: "(doc->>'client_id')", fcTemplateKey: "(doc->>'template_key')",
		fcEmail: `email_key COLLATE "C"`}[c]
}

func (*postgres) holds(array, ph string) string { return "doc->'" + array + "' @> " + ph + "::jsonb" }

func (*postgres) holdsArg(v string) any { return holdsArgJSON(v, true) }

func (*postgres) resendCount() string { return "(doc->>'resend_count')::bigint" }

func (*postgres) nullSafeEqual() string { return "IS NOT DISTINCT FROM" }

func (*postgres) keptColumns() []string { return nil }

// setsChangedOnly: PostgreSQL's updates are one statement each (write).
func (*postgres) setsChangedOnly() bool { return false }

// lockInviter: see dialect.
func (*postgres) lockInviter(table string) string {
	return "INSERT INTO " + table + " (tenant_id, inviter_id) VALUES (?, ?) ON CONFLICT (tenant_id, inviter_id) DO UPDATE SET inviter_id = EXCLUDED.inviter_id"
}

// countOpenLock: see dialect.
func (*postgres) countOpenLock() string { return "" }

func (*postgres) outboxDue(ph string) (cond, order string) { return partialOutboxDue(ph) }

func (*postgres) outboxPending() string { return partialOutboxPending() }

func (*postgres) outboxDead(ph string) string { return partialOutboxDead(ph) }

// queueTx is the default: READ COMMITTED, where a locking read re-checks
// the rows it waited for.
func (*postgres) queueTx() *sql.TxOptions { return nil }

func (*postgres) typed(ph, pgType string) string { return ph + "::" + pgType }

func (*postgres) countsChangedRows() bool { return false }

// messageSlots: see pgslot.go.
func (*postgres) messageSlots() bool { return true }

// claim is one statement: an UPDATE of the rows a CTE selects with FOR
// UPDATE SKIP LOCKED (rows another claim holds are skipped), returning
// them with their available_at before the claim, which orders them.
func (pg *postgres) claim(ctx context.Context, s *Store, c *claimRequest) ([]*invite.OutboxEntry, error) {
	if len(c.kinds) == 0 || slices.Contains(c.kinds, string(invite.OutboxMessage)) {
		if err := pg.promote(ctx, s, c.now, c.limit); err != nil {
			return nil, err
		}
	}
	a := &args{dl: pg}
	owner, until := a.add(c.owner), a.add(pg.timeValue(c.until))
	cond, order := pg.outboxDue(a.add(pg.timeValue(c.now)))
	cond += c.kindCond(a)
	q := "WITH c AS (SELECT id, available_at FROM " + s.outbox + " WHERE " + cond + " ORDER BY " + order + ", " + pg.idOrder() +
		" LIMIT " + a.add(c.limit) + " FOR UPDATE SKIP LOCKED)" +
		" UPDATE " + s.outbox + " o SET attempts = o.attempts + 1, owner = " + owner + ", available_at = " + until +
		" FROM c WHERE o.id = c.id RETURNING o." + strings.ReplaceAll(entryColumns, ", ", ", o.") + ", c.available_at"
	rows, err := s.db.QueryContext(ctx, q, a.vals...)
	if err != nil {
		return nil, wrap("claim outbox", err)
	}
	defer rows.Close()
	type claimed struct {
		e    *invite.OutboxEntry
		prev time.Time
	}
	var cs []claimed
	for rows.Next() {
		var cl claimed
		if cl.e, err = scanEntry("claim outbox", rows, timeDest{&cl.prev}); err != nil {
			return nil, err
		}
		cs = append(cs, cl)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("claim outbox", err)
	}
	slices.SortFunc(cs, func(x, y claimed) int {
		if c := x.prev.Compare(y.prev); c != 0 {
			return c
		}
		return strings.Compare(x.e.ID, y.e.ID)
	})
	out := make([]*invite.OutboxEntry, len(cs))
	for i := range cs {
		out[i] = cs[i].e
	}
	return out, nil
}

// purgeOutbox deletes by = ANY(ARRAY(subquery)): the ids are looked up by
// primary key, where id IN (subquery) may be planned as a hash join over
// the whole table.
func (pg *postgres) purgeOutbox(ctx context.Context, s *Store, before time.Time, limit int) (int, error) {
	return s.purgeOutboxByIDs(ctx, "= ANY(ARRAY(", "))", before, limit)
}

// apply runs a lone write, on a Store that owns its transactions, as one
// statement with no transaction around it, unless it is a delete that also
// settles delivered ids (two statements: see write) or an insert under an
// inviter's limit (quota.go). Larger batches, and
// batches in a host's transaction, run in a transaction (or savepoint): a
// statement a write, the last one writing the outbox too.
func (pg *postgres) apply(ctx context.Context, s *Store, ws []write, ob *outboxWrite) error {
	if len(ws) == 1 && s.begin != nil && !(ws[0].delete && len(ob.delivered) > 0) && ws[0].limit == 0 {
		return pg.write(ctx, s, s.db, &ws[0], ob)
	}
	return s.applyInTx(ctx, ws, ob, pg.write)
}

// purge is one statement, deleting the invitations, their token rows and
// their outbox rows. The DELETE re-checks the condition: a row
// changed since the snapshot (an expired invitation renewed, or its held
// message moved to the outbox by a claim, a row the snapshot lacks: see
// pgslot.go) is left alone, for a later call.
func (pg *postgres) purge(ctx context.Context, s *Store, before time.Time, limit int) (int, error) {
	at, lim := pg.placeholder(1), pg.placeholder(2)
	q := "WITH v AS (SELECT tenant_id, id, msg_due FROM " + s.invitations + " WHERE state IN " + closedStates +
		" AND closed_at < " + at + " ORDER BY closed_at LIMIT " + lim + ")" +
		", d AS (DELETE FROM " + s.invitations + " i USING v WHERE i.tenant_id = v.tenant_id AND i.id = v.id" +
		" AND i.state IN " + closedStates + " AND i.closed_at < " + at + " AND i.msg_due IS NOT DISTINCT FROM v.msg_due" +
		" RETURNING i.tenant_id, i.id)" +
		", k AS (DELETE FROM " + s.tokens + " t USING d WHERE t.tenant_id = d.tenant_id AND t.invitation_id = d.id)" +
		", o AS (DELETE FROM " + s.outbox + " b USING d WHERE b.tenant_id = d.tenant_id AND b.invitation_id = d.id)" +
		" SELECT count(*) FROM d"
	var n int
	if err := s.db.QueryRowContext(ctx, q, pg.timeValue(before), limit).Scan(&n); err != nil {
		return 0, wrap("purge", err)
	}
	return n, nil
}

func (*postgres) migrationsTable(table string) string {
	return "CREATE TABLE IF NOT EXISTS " + table +
		" (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL)"
}

// pgKind is what a PostgreSQL write statement does to the invitation row.
type pgKind uint8

const (
	// pgInsert inserts the row, its token rows and the outbox rows.
	pgInsert pgKind = iota
	// pgUpdateKeep updates the row guarded by its version and by the stored
	// token columns being equal to the new ones, and so leaves the tokens
	// table alone: accept, reject, revoke, expire, a failed code.
	pgUpdateKeep
	// pgUpdate updates the row guarded by its version alone and brings its
	// token rows in line (a rotation: Resend).
	pgUpdate
	// pgDelete deletes the row, guarded by its version, its token rows and
	// the outbox rows of earlier batches that a Delete removes.
	pgDelete
	// pgSettleHeld is pgUpdateKeep settling the lone delivered id that the
	// row holds, unmoved, in its slot, which it empties: the mark-sent
	// after a Create, a plain UPDATE (see pgslot.go). Without the slot it
	// matches nothing, and pg.write runs the general statement.
	pgSettleHeld
)

// pgShape is what the text of a PostgreSQL write statement depends on,
// beside the Store's table names: the same shape is the same text, so that
// it is built once (see stmtCache) and prepared once per connection by the
// driver. The statement's arguments follow from the shape (see
// pgShape.args).
type pgShape struct {
	kind pgKind
	// hashes is the number of token hashes bound (pgInsert, pgUpdate).
	hashes int
	// events is the number of outbox rows inserted.
	events int
	// delivered is the number of outbox ids settled as delivered (never
	// with pgDelete: see write).
	delivered int
	// slot: the insert holds its invitation's queued message in the
	// row's message columns instead of an outbox row (see pgslot.go).
	slot bool
}

// counted reports whether the statement ends in SELECT count(*) FROM w
// (run with QueryRow). The others run with Exec, and their rows affected
// is nonzero exactly when they wrote the invitation row: the invitation
// row itself, or the outbox rows, inserted only when it was written.
func (sh pgShape) counted() bool {
	return sh.kind == pgUpdate || sh.kind == pgDelete || (sh.kind == pgUpdateKeep && sh.events == 0 && sh.delivered > 0)
}

// The arguments of a statement, in order (see pgShape.args), numbered from
// 1: the row's values in the order of rowColumns; then, except for an
// insert, the expected version; then the extra arguments: for
// pgUpdateKeep the token_hash and prev_tokens the stored row must have
// (pgKeptColumns), for pgInsert and pgUpdate the token hashes; then the
// values of each outbox row, in the order of eventColumns; then the ids
// settled as delivered; then, for an insert holding a message in its
// slot, the message's values in the order of slotColumns.

// pgKeptColumns are the stored columns, and their types, that pgUpdateKeep
// requires equal to extra arguments, in order.
var pgKeptColumns = [...]struct{ name, typ string }{{"token_hash", "bytea"}, {"prev_tokens", "jsonb"}}

// rowColumns returns the columns whose values the statement binds first:
// invitationColumns, or for a delete only the primary key, its first two.
func (sh pgShape) rowColumns() []string {
	if sh.kind == pgDelete {
		return invitationColumns[:2]
	}
	return invitationColumns
}

// column returns the number of the argument of the row's column c.
func (sh pgShape) column(c string) int {
	for i, name := range sh.rowColumns() {
		if name == c {
			return i + 1
		}
	}
	panic("sqlstore: no argument for column " + c)
}

// expectArg is the number of the expected version's argument (none for an
// insert).
func (sh pgShape) expectArg() int { return len(sh.rowColumns()) + 1 }

// firstExtra is the number of the first extra argument.
func (sh pgShape) firstExtra() int {
	if sh.kind == pgInsert {
		return len(sh.rowColumns()) + 1
	}
	return sh.expectArg() + 1
}

// extras is the number of extra arguments.
func (sh pgShape) extras() int {
	switch sh.kind {
	case pgUpdateKeep, pgSettleHeld:
		return len(pgKeptColumns)
	case pgInsert, pgUpdate:
		return sh.hashes
	}
	return 0
}

// firstEvent is the number of the first event's first argument.
func (sh pgShape) firstEvent() int { return sh.firstExtra() + sh.extras() }

// firstDelivered is the number of the first delivered id's argument.
func (sh pgShape) firstDelivered() int { return sh.firstEvent() + len(eventColumns)*sh.events }

// nargs is the number of arguments of the statement.
func (sh pgShape) nargs() int {
	return sh.firstSlot() - 1 + sh.slots()
}

// firstSlot is the number of the first argument of the slot's message.
func (sh pgShape) firstSlot() int { return sh.firstDelivered() + sh.delivered }

// slots is the number of arguments of the slot's message.
func (sh pgShape) slots() int {
	if sh.slot {
		return len(slotColumns)
	}
	return 0
}

// args returns the arguments of the statement of shape sh for w and o.
func (sh pgShape) args(w *write, o pgOutbox) []any {
	a := make([]any, 0, sh.nargs())
	r := &w.row
	switch sh.kind {
	case pgDelete:
		a = append(a, r.tenantID, r.id, w.expect)
	case pgInsert:
		a = r.appendValues(a)
		for _, h := range r.hashes {
			a = append(a, h)
		}
	case pgUpdateKeep, pgSettleHeld:
		a = append(r.appendValues(a), w.expect, r.tokenHash, r.prevTokens) // pgKeptColumns
	case pgUpdate:
		a = append(r.appendValues(a), w.expect)
		for _, h := range r.hashes {
			a = append(a, h)
		}
	}
	for i := range o.rows {
		a = o.rows[i].appendValues(a)
	}
	for _, id := range o.delivered {
		a = append(a, id)
	}
	if o.slot != nil {
		a = o.slot.appendSlot(a)
	}
	return a
}

// build returns the text of the statement of shape sh on s's tables.
func (pg *postgres) build(s *Store, sh pgShape) string {
	ph := pg.placeholder
	tenant, id := ph(sh.column("tenant_id")), ph(sh.column("id"))
	var q strings.Builder
	switch sh.kind {
	case pgInsert:
		// The invitation, then its token rows, then the outbox rows, the
		// last statement being the main one and the others CTEs. An insert
		// either inserts its row or fails the whole statement, so nothing
		// is guarded.
		cols, vals := strings.Join(invitationColumns, ", "), placeholders(pg, 1, len(invitationColumns), "", ", ")
		if sh.slot {
			cols += ", " + strings.Join(slotColumns[:], ", ")
			vals += ", " + pg.slotValues(s, sh.firstSlot())
		}
		parts := []string{"INSERT INTO " + s.invitations + " (" + cols + ") VALUES (" + vals + ")"}
		if sh.hashes > 0 {
			parts = append(parts, "INSERT INTO "+s.tokens+" (token_hash, tenant_id, invitation_id) VALUES "+
				placeholders(pg, sh.firstExtra(), sh.hashes, "(", ", "+tenant+", "+id+"), (")+", "+tenant+", "+id+")")
		}
		if sh.events > 0 {
			tuples := make([]string, sh.events)
			for i := range tuples {
				n := sh.firstEvent() + len(eventColumns)*i
				tuples[i] = "(" + s.freeID(ph(n)) + ", " + placeholders(pg, n+1, len(eventColumns)-1, "", ", ") + ")"
			}
			parts = append(parts, "INSERT INTO "+s.outbox+" ("+outboxColumns+") VALUES "+strings.Join(tuples, ", "))
		}
		// The CTEs: the invitation (w), its token rows (k), the settled
		// outbox rows and slots (u, m); the last insert is the main
		// statement, whose rows affected are nonzero.
		ctes := make([]string, 0, len(parts))
		const names = "wk"
		for i, p := range parts[:len(parts)-1] {
			ctes = append(ctes, names[i:i+1]+" AS ("+p+")")
		}
		ctes = append(ctes, pg.deliveredCTEs(s, sh, false)...)
		if len(ctes) > 0 {
			q.WriteString("WITH " + strings.Join(ctes, ", ") + " ")
		}
		q.WriteString(parts[len(parts)-1])
		return q.String()
	case pgDelete:
		q.WriteString("WITH " + pg.heldCTE(s, tenant, id) + ", w AS (DELETE FROM " + s.invitations + " WHERE tenant_id = " + tenant +
			" AND id = " + id + " AND version = " + ph(sh.expectArg()) + " AND " + slotUnmoved + " RETURNING 1)")
		q.WriteString(", k AS (DELETE FROM " + s.tokens + " WHERE tenant_id = " + tenant + " AND invitation_id = " + id +
			" AND EXISTS (SELECT 1 FROM w))")
		// The outbox rows of earlier batches that a Delete removes (see
		// forgotten): the rows o inserts are not in the statement's
		// snapshot, and stay.
		q.WriteString(", x AS (DELETE FROM " + s.outbox + " WHERE tenant_id = " + tenant + " AND invitation_id = " + id +
			" AND " + forgotten + " AND EXISTS (SELECT 1 FROM w))")
		pg.outboxCTE(&q, s, sh)
		q.WriteString(" SELECT count(*) FROM w")
		return q.String()
	}
	set := make([]string, 0, len(invitationColumns)-2)
	for _, c := range invitationColumns[2:] {
		set = append(set, c+" = "+ph(sh.column(c)))
	}
	if sh.kind == pgSettleHeld {
		set = append(set, emptySlot)
	} else if sh.delivered > 0 {
		set = append(set, pg.clearSlot(sh)...)
	}
	update := "UPDATE " + s.invitations + " SET " + strings.Join(set, ", ") +
		" WHERE tenant_id = " + tenant + " AND id = " + id + " AND version = " + ph(sh.expectArg())
	if sh.kind == pgSettleHeld {
		for i, c := range pgKeptColumns {
			update += " AND " + c.name + " " + pg.nullSafeEqual() + " " + ph(sh.firstExtra()+i) + "::" + c.typ
		}
		// Held and not moved, as the row it waited for (if any) has it:
		// no outbox row of the id exists, nor a slot of it elsewhere.
		return update + " AND msg_id = " + ph(sh.firstDelivered()) + " AND msg_due IS NOT NULL" // rows affected: 1 or 0
	}
	with := "WITH "
	if sh.delivered > 0 {
		with += pg.heldCTE(s, tenant, id) + ", "
		update += " AND " + slotUnmoved
	}
	if sh.kind == pgUpdateKeep {
		for i, c := range pgKeptColumns {
			update += " AND " + c.name + " " + pg.nullSafeEqual() + " " + ph(sh.firstExtra()+i) + "::" + c.typ
		}
		switch {
		case sh.events == 0 && sh.delivered == 0:
			return update // rows affected: 1 or 0
		case sh.events == 0:
			// Settling delivered rows, whose count says nothing of the
			// update: counted.
			return with + "w AS (" + update + " RETURNING 1), " + strings.Join(pg.deliveredCTEs(s, sh, true), ", ") + " SELECT count(*) FROM w"
		}
		// The outbox rows are the main statement: as many rows affected as
		// events when the update matched, none otherwise.
		q.WriteString(with + "w AS (" + update + " RETURNING 1)")
		pg.deliveredCTE(&q, s, sh)
		q.WriteString(" " + pg.outboxInsert(s, sh))
		return q.String()
	}
	q.WriteString(with + "w AS (" + update + " RETURNING 1)")
	q.WriteString(", d AS (DELETE FROM " + s.tokens + " WHERE tenant_id = " + tenant + " AND invitation_id = " + id +
		" AND EXISTS (SELECT 1 FROM w)")
	if sh.hashes > 0 {
		q.WriteString(" AND token_hash NOT IN (" + placeholders(pg, sh.firstExtra(), sh.hashes, "", ", ") + ")")
	}
	q.WriteString(")")
	if sh.hashes > 0 {
		q.WriteString(", k AS (INSERT INTO " + s.tokens + " (token_hash, tenant_id, invitation_id) SELECT v.h, " + tenant + ", " + id +
			" FROM (VALUES " + placeholders(pg, sh.firstExtra(), sh.hashes, "(", "::bytea), (") + "::bytea)) AS v (h)" +
			" WHERE EXISTS (SELECT 1 FROM w) AND NOT EXISTS (SELECT 1 FROM " + s.tokens +
			" x WHERE x.token_hash = v.h AND x.tenant_id = " + tenant + " AND x.invitation_id = " + id + "))")
	}
	pg.outboxCTE(&q, s, sh)
	pg.deliveredCTE(&q, s, sh)
	q.WriteString(" SELECT count(*) FROM w")
	return q.String()
}

// pgEventTypes are the types of eventColumns, which a statement names
// where nothing else tells PostgreSQL a value's type.
var pgEventTypes = [len(eventColumns)]string{"text", "text", "text", "text", "text", "jsonb", "timestamptz", "timestamptz"}

// outboxInsert returns the INSERT of the outbox rows of the statement of
// shape sh, done only when "w" touched a row.
func (pg *postgres) outboxInsert(s *Store, sh pgShape) string {
	tuples := make([]string, sh.events)
	cols := make([]string, len(eventColumns))
	for i := range tuples {
		first := sh.firstEvent() + len(eventColumns)*i
		for j, typ := range pgEventTypes {
			cols[j] = pg.placeholder(first+j) + "::" + typ
		}
		tuples[i] = "(" + strings.Join(cols, ", ") + ")"
	}
	v := s.freeID("v.id") + ", v." + strings.Join(eventColumns[1:], ", v.")
	return "INSERT INTO " + s.outbox + " (" + outboxColumns + ")" +
		" SELECT " + v +
		" FROM (VALUES " + strings.Join(tuples, ", ") + ") AS v (" + strings.Join(eventColumns[:], ", ") + ")" +
		" WHERE EXISTS (SELECT 1 FROM w)"
}

// outboxCTE appends the CTE "o" inserting the outbox rows of the statement
// of shape sh, when it has any, done only when "w" touched a row.
func (pg *postgres) outboxCTE(q *strings.Builder, s *Store, sh pgShape) {
	if sh.events > 0 {
		q.WriteString(", o AS (" + pg.outboxInsert(s, sh) + ")")
	}
}

// write runs w, with the outbox rows and delivered ids of ob (nil: none),
// as one statement: the invitation row written guarded by its version,
// its token rows brought in line, the outbox rows inserted and the
// delivered ones settled, all only when the row was written (see build).
// A delete that settles delivered ids runs them as a second statement
// (apply runs it in a transaction): the rows the delete removes may be
// among them, and one statement must not change a row twice.
func (pg *postgres) write(ctx context.Context, s *Store, ex DBTX, w *write, ob *outboxWrite) error {
	var o pgOutbox
	if ob != nil {
		o = pgOutbox{rows: ob.rows, delivered: ob.delivered}
	}
	split := w.delete && len(o.delivered) > 0
	if split {
		o.delivered = nil
	}
	if w.expect == 0 && !w.delete {
		o.slot, o.rows = slotFor(w, o.rows)
	}
	sh := pgShape{events: len(o.rows), delivered: len(o.delivered), slot: o.slot != nil}
	switch {
	case w.delete:
		sh.kind = pgDelete
	case w.expect == 0:
		sh.kind, sh.hashes = pgInsert, len(w.row.hashes)
	case w.rotated:
		// New token hashes (a resend, a delivery's fresh secret): the
		// full statement at once.
		sh.kind, sh.hashes = pgUpdate, len(w.row.hashes)
	default:
		// Most updates (accept, reject, revoke, expire, update, marking a
		// message sent) keep the token hashes: try the statement that also
		// requires the stored token columns to be unchanged and so leaves
		// the tokens table alone (Accept stays at two statements: lookup
		// and this write).
		if w.expect == 1 && sh.events == 0 && sh.delivered == 1 {
			// An update of an inserted row settling one id: most likely
			// the message its insert holds (Create, then the Manager's
			// attempt marking it sent). Otherwise, on to the statements
			// below.
			held := pgShape{kind: pgSettleHeld, delivered: 1}
			if n, err := pg.exec(ctx, s, ex, held, w, o); err != nil || n > 0 {
				return err
			}
		}
		keep := pgShape{kind: pgUpdateKeep, events: sh.events, delivered: sh.delivered}
		if n, err := pg.exec(ctx, s, ex, keep, w, o); err != nil || n > 0 {
			return err
		}
		// No row: a lost race (answered by one SELECT, as before) or new
		// token hashes (a rotation: run the full statement).
		v, err := s.storedVersion(ctx, ex, w)
		if err != nil {
			return err
		}
		if v != w.expect {
			return s.conflict(w, v)
		}
		sh.kind, sh.hashes = pgUpdate, len(w.row.hashes)
	}
	n, err := pg.exec(ctx, s, ex, sh, w, o)
	for moves := 0; err == nil && n == 0 && sh.slotGuarded() && moves < 2; moves++ {
		// The row's held message may have moved since the statement's
		// snapshot (slotUnmoved): when the version is still the one
		// expected, run it again, on a snapshot that has the moved row.
		var v int64
		if v, err = s.storedVersion(ctx, ex, w); err != nil {
			return err
		}
		if v != w.expect {
			return s.conflict(w, v)
		}
		n, err = pg.exec(ctx, s, ex, sh, w, o)
	}
	if err != nil {
		return err
	}
	if n == 0 {
		return s.missing(ctx, ex, w)
	}
	if split {
		return s.settleDelivered(ctx, ex, ob)
	}
	return nil
}

// pgOutbox is what a write statement writes to the outbox: rows to insert,
// ids to settle as delivered (removed), and the message an insert holds
// in its slot (nil: none).
type pgOutbox struct {
	rows      []event
	delivered []string
	slot      *event
}

// exec runs the statement of shape sh for w and o. It returns a nonzero
// count when the statement wrote the invitation row.
func (pg *postgres) exec(ctx context.Context, s *Store, ex DBTX, sh pgShape, w *write, o pgOutbox) (int64, error) {
	q, args := pg.statement(s, sh), sh.args(w, o)
	var n int64
	var err error
	if sh.counted() {
		err = ex.QueryRowContext(ctx, q, args...).Scan(&n)
	} else {
		n, err = affected(ex.ExecContext(ctx, q, args...))
	}
	if err != nil {
		return 0, wrap(w.op(), err)
	}
	return n, nil
}
