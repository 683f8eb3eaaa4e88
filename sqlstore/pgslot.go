package sqlstore

// Queued messages held on their invitation's row (PostgreSQL, migration
// 0006_message_slot).
//
// Create in send mode queues a message with the invitation it inserts,
// and the Manager's own attempt right after usually delivers it: the
// write marking the invitation sent then settles it. As an outbox row,
// that message is an insert into a table of three indexes and a delete
// soon after, about a fifth of Create's throughput. So an insert that
// queues exactly one message for its own invitation holds it in the
// row's message columns (its slot) instead, and the update that settles
// it empties them: work the row's write does anyway. That update is first
// tried as a plain UPDATE requiring the row to hold the id, unmoved
// (pgSettleHeld), when it is the first update of the row settling one id;
// only when that matches nothing does the general statement run.
//
// Everything else sees outbox rows: ClaimOutbox first moves the due slots
// (msg_due reached: the Manager's attempt failed, or never ran) into
// outbox rows, one statement that inserts each row and empties its slot
// but for msg_id (see promote); OutboxStats counts the held messages as
// pending entries. Delivered ids empty the slots holding them (the
// written row's in its own UPDATE, others' by msg_id), and delete their
// outbox rows, as before. A deleted or purged invitation takes its slot
// with it.
//
// Writes whose statement must see the outbox row of a message a claim
// has just moved, although their snapshot predates it (a mark-sent
// settling it, a Delete forgetting it), require the row's msg_due to be
// the snapshot's (slotUnmoved) and run again when it is not; Purge leaves
// such a row for its next call; a batch of Delivered ids alone empties
// the slots before it deletes the rows. One case is left: a Delivered id
// held by another invitation than the batch writes (the Manager never
// writes one) whose message a claim moves meanwhile is delivered again.
//
// Ids stay unique across slots and outbox rows: the unique index of
// msg_id (held and moved messages), and each write's check of the other
// place (freeID, slotValues), which on a taken id stores '' where the
// *_id_free constraints refuse it, failing the statement as a whole
// (wrap reports invite.ErrAlreadyExists). Two concurrent batches, one
// holding an id in a slot and the other queueing it as an outbox row,
// can both pass that check (the Manager's ids never collide); the claim
// moving the slot then keeps the outbox row and drops the slot's message,
// and a write settling the id before that empties the slot but leaves the
// outbox row, which is delivered again.

import (
	"context"
	"strings"
	"time"

	"github.com/invitekit/invite"
)

// slotColumns are the invitation's message columns, in the order a
// statement binds them (event.appendSlot).
var slotColumns = [...]string{"msg_id", "msg_payload", "msg_created", "msg_due"}

// emptySlot is the SET list emptying a slot (or a moved message's id).
const emptySlot = "msg_id = NULL, msg_payload = NULL, msg_created = NULL, msg_due = NULL"

// heldCTE is the CTE "held" of a write of the row tenant, id that must
// see the outbox row of a message a claim moved (a mark-sent settling it,
// a delete forgetting it): the row's msg_id and msg_due as the statement's
// snapshot has them. The write requires msg_due unchanged (slotUnmoved);
// a mark-sent also skips the lookups of a lone delivered id elsewhere
// when the row holds it (deliveredCTEs).
func (pg *postgres) heldCTE(s *Store, tenant, id string) string {
	return "held AS (SELECT msg_id, msg_due FROM " + s.invitations + " WHERE tenant_id = " + tenant + " AND id = " + id + ")"
}

// slotUnmoved is the condition, on a statement with heldCTE, that the
// row's msg_due is its snapshot's. A claim that moved the message after
// the snapshot was taken changed msg_due, and the write, re-checking its
// condition on the row it waited for, matches nothing: pg.write runs it
// again, on a snapshot that has the moved row.
const slotUnmoved = "msg_due IS NOT DISTINCT FROM (SELECT held.msg_due FROM held)"

// appendSlot appends the message row's values held in a slot to dst, in
// the order of slotColumns.
func (e *event) appendSlot(dst []any) []any {
	return append(dst, e.id, e.payload, e.at, e.availableAt)
}

// slotFor returns the row among rows that the insert w holds in its slot,
// the only message of w's invitation, and the other rows (nil when none
// is left); or nil and rows when there is no such row.
func slotFor(w *write, rows []event) (*event, []event) {
	at := -1
	for i := range rows {
		r := &rows[i]
		if r.kind == string(invite.OutboxMessage) && r.tenantID == w.row.tenantID && r.invitationID == w.row.id {
			if at >= 0 {
				return nil, rows
			}
			at = i
		}
	}
	if at < 0 {
		return nil, rows
	}
	var rest []event
	if len(rows) > 1 {
		rest = append(append(make([]event, 0, len(rows)-1), rows[:at]...), rows[at+1:]...)
	}
	return &rows[at], rest
}

// slotValues returns the values of an insert's slot columns, bound from
// the argument numbered first: the message id, or ” when an outbox row
// holds it.
func (pg *postgres) slotValues(s *Store, first int) string {
	id := pg.placeholder(first)
	return "CASE WHEN EXISTS (SELECT 1 FROM " + s.outbox + " WHERE id = " + id + ") THEN '' ELSE " + id + " END, " +
		pg.placeholder(first+1) + "::jsonb, " + pg.placeholder(first+2) + "::timestamptz, " + pg.placeholder(first+3) + "::timestamptz"
}

// freeID returns the id an outbox insert stores for the id id: id, or ”
// when a slot holds it (on a dialect with slots; id elsewhere).
func (s *Store) freeID(id string) string {
	if !s.dl.messageSlots() {
		return id
	}
	return "CASE WHEN EXISTS (SELECT 1 FROM " + s.invitations + " WHERE msg_id = " + id + ") THEN '' ELSE " + id + " END"
}

// clearSlot returns the SET items of an update of shape sh that empty the
// row's slot when it holds one of the ids the statement settles.
func (pg *postgres) clearSlot(sh pgShape) []string {
	held := "msg_id IN (" + placeholders(pg, sh.firstDelivered(), sh.delivered, "", ", ") + ")"
	set := make([]string, len(slotColumns))
	for i, c := range slotColumns {
		set[i] = c + " = CASE WHEN " + held + " THEN NULL ELSE " + c + " END"
	}
	return set
}

// promote moves up to limit slots due at now into outbox rows, in one
// statement: the rows are locked FOR UPDATE SKIP LOCKED (a row being
// written is left for the next claim) and re-checked, their messages
// inserted as outbox rows as the insert that queued them would have, and
// their slots emptied but for msg_id, which keeps the id taken in the
// unique index (an insert holding the same id meanwhile collides, instead
// of committing beside the new outbox row) until a write settling the id
// empties it.
func (pg *postgres) promote(ctx context.Context, s *Store, now time.Time, limit int) error {
	q := "WITH p AS (SELECT tenant_id, id, " + strings.Join(slotColumns[:], ", ") + " FROM " + s.invitations +
		" WHERE msg_due <= $1 ORDER BY msg_due LIMIT $2 FOR UPDATE SKIP LOCKED)" +
		", e AS (UPDATE " + s.invitations + " i SET msg_payload = NULL, msg_created = NULL, msg_due = NULL" +
		" FROM p WHERE i.tenant_id = p.tenant_id AND i.id = p.id)" +
		" INSERT INTO " + s.outbox + " (" + outboxColumns + ")" +
		" SELECT p.msg_id, '" + string(invite.OutboxMessage) + "', p.tenant_id, p.id, '" + messageType + "', p.msg_payload, p.msg_created, p.msg_due FROM p" +
		" ON CONFLICT (id) DO NOTHING"
	if _, err := s.db.ExecContext(ctx, q, pg.timeValue(now), limit); err != nil {
		return wrap("claim outbox", err)
	}
	return nil
}

// clearSlots empties the slots holding the ids a batch settles as
// delivered, on a dialect that has them (see settleDelivered).
func (s *Store) clearSlots(ctx context.Context, ex DBTX, ids []string) error {
	if !s.dl.messageSlots() {
		return nil
	}
	a := &args{dl: s.dl}
	q := "UPDATE " + s.invitations + " SET " + emptySlot + " WHERE msg_id IN (" + addAll(a, ids) + ")"
	if _, err := ex.ExecContext(ctx, q, a.vals...); err != nil {
		return wrap("apply: outbox", err)
	}
	return nil
}

// slotGuarded reports whether the statement requires the row's held
// message not to have moved since its snapshot (see slotUnmoved).
func (sh pgShape) slotGuarded() bool {
	return sh.kind == pgDelete || (sh.delivered > 0 && (sh.kind == pgUpdate || sh.kind == pgUpdateKeep))
}

// deliveredCTEs returns the CTEs settling the delivered ids of the
// statement of shape sh (none without any; see settleDelivered): "u"
// deletes their outbox rows, "m" empties the slots holding them on other
// invitations' rows (the row the statement updates empties its own: see
// clearSlot). When guarded (an update), both act only when "w" touched a
// row, and, for a lone id, only when the row did not hold it (see
// heldCTE): the usual mark-sent then costs no lookup of either.
func (pg *postgres) deliveredCTEs(s *Store, sh pgShape, guarded bool) []string {
	if sh.delivered == 0 {
		return nil
	}
	ids := placeholders(pg, sh.firstDelivered(), sh.delivered, "", ", ")
	u := "DELETE FROM " + s.outbox + " WHERE id IN (" + ids + ")"
	m := "UPDATE " + s.invitations + " SET " + emptySlot + " WHERE msg_id IN (" + ids + ")" +
		" AND (tenant_id <> " + pg.placeholder(sh.column("tenant_id")) + " OR id <> " + pg.placeholder(sh.column("id")) + ")"
	if guarded {
		cond := " AND EXISTS (SELECT 1 FROM w)"
		if sh.delivered == 1 {
			cond += " AND NOT EXISTS (SELECT 1 FROM held WHERE held.msg_due IS NOT NULL AND held.msg_id = " + ids + ")"
		}
		u += cond
		m += cond
	}
	return []string{"u AS (" + u + ")", "m AS (" + m + ")"}
}

// deliveredCTE appends the CTEs of deliveredCTEs, guarded.
func (pg *postgres) deliveredCTE(q *strings.Builder, s *Store, sh pgShape) {
	for _, c := range pg.deliveredCTEs(s, sh, true) {
		q.WriteString(", " + c)
	}
}
