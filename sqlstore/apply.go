package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/invitekit/invite"
)

// write is one invite.Write, validated and encoded.
type write struct {
	row    row
	expect int64
	delete bool
	// rotated: the update brings new token hashes (invite.Write.Rotated),
	// so the attempt that keeps the token rows would match nothing.
	rotated bool
	// same, when not zero, are the columns invite.Write.Prev shows the
	// update leaves alone, on a dialect that sets only what changed (see
	// diffwrite.go).
	same sameColumns
	// limit is the insert's invite.Write.OpenLimit (0: none, or no
	// inviter), for inviter's invitations open after at (see quota.go).
	limit   int
	inviter string
	at      any
}

// outboxWrite is what a batch writes to the outbox, validated and encoded:
// the rows of its events and messages, and the ids it settles as
// delivered.
type outboxWrite struct {
	rows []event
	// delivered are the ids of Batch.Delivered, whose rows are deleted.
	delivered []string
}

// Apply implements invite.Store and the duties invite.Outbox adds to it:
// it commits every write of b, in order, together with one outbox row per
// event (kind "event") and per message (kind "message") of b, and deletes
// the outbox rows b.Delivered names (the write records their delivery),
// atomically. A Delete
// also deletes the outbox rows the invitation's earlier batches queued
// (the batch's own rows stay).
//
// An insert collides (invite.ErrAlreadyExists) on the primary key (tenant
// and id), on the unique token hash of the tokens table, on the tenant's
// idempotency key and, for an open record, on the partial (or, on MySQL,
// generated-column) unique index of each invitee key among the tenant's
// open records. An update or delete is guarded by the version it was
// computed from (WHERE tenant_id = ? AND id = ? AND version = ?); when it
// matches no row, one more SELECT tells invite.ErrNotFound from
// invite.ErrConflict. Updates rewrite the token rows only when the token
// hashes changed.
//
// On PostgreSQL a batch of one write is one statement (a data-modifying
// CTE writing the invitation, its token rows and the outbox rows, and
// settling the delivered ones), with no transaction around it, except a
// Delete that also settles delivered ids. Larger batches, and every batch
// on SQLite and MySQL, run in one transaction (see DBTX and WithTx). When
// the database aborts that statement or transaction to resolve a deadlock
// or a serialisation failure, Apply runs it again, up to eight times in
// all; in a host's transaction it returns the error instead (the database
// rolled the host's transaction back).
//
// Apply validates b first, and reports every problem in one
// *invite.ValidationError before any statement runs: a nil record, an
// empty tenant or id, an invalid state, a negative Expect, a Delete
// without Expect, a Version other than Expect+1 on an update or below 1 on
// an insert, Metadata that is not JSON, an event or a message whose ID,
// TenantID or InvitationID is not an identifier (see invite.Outbox: empty,
// too long, not UTF-8 or holding a control character), a delivered id that
// is not, a message's negative ResendCount, and, on PostgreSQL, a U+0000
// in any string of an invitation or event (jsonb cannot hold it). Two
// entries of the batch with one id, or one with an id of its Delivered,
// are invite.ErrAlreadyExists before any statement runs; one with the id
// of a row the outbox holds (or, on PostgreSQL, of a message held on an
// invitation row: see doc.go) is invite.ErrAlreadyExists from the
// database's constraints, and nothing of the batch is written.
func (s *Store) Apply(ctx context.Context, b *invite.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b == nil || (len(b.Writes) == 0 && len(b.Events) == 0 && len(b.Messages) == 0 && len(b.Delivered) == 0) {
		return nil
	}
	ws, fields := s.prepareWrites(b.Writes)
	ob := &outboxWrite{rows: make([]event, len(b.Events), len(b.Events)+len(b.Messages))}
	for i := range b.Events {
		var err error
		ev := &b.Events[i]
		if ob.rows[i], err = encodeEvent(s.dl, i, ev, writtenDoc(b.Writes, ws, ev.New)); err != nil {
			var ve *invite.ValidationError
			if !errors.As(err, &ve) {
				return err
			}
			fields = append(fields, ve.Fields...)
		}
	}
	for i := range b.Messages {
		row, ferrs := encodeMessage(s.dl, i, &b.Messages[i])
		fields = append(fields, ferrs...)
		ob.rows = append(ob.rows, row)
	}
	for i, id := range b.Delivered {
		if p := textProblem(id, maxOutboxID); p != "" {
			fields = append(fields, invite.FieldError{Field: "Delivered[" + strconv.Itoa(i) + "]", Reason: p})
		}
	}
	if len(fields) > 0 {
		return &invite.ValidationError{Fields: fields}
	}
	if queuedTwice(ob.rows, b.Delivered) {
		// The primary key would refuse it, but not everywhere: a row
		// named by Delivered is deleted before the insert on SQLite and
		// MySQL, in the same statement (which cannot see the deletion)
		// on PostgreSQL.
		return fmt.Errorf("sqlstore: apply: an outbox id queued twice, or queued and delivered: %w", invite.ErrAlreadyExists)
	}
	ob.delivered = b.Delivered
	return s.retrying(ctx, func() error { return s.dl.apply(ctx, s, ws, ob) })
}

// queuedTwice reports whether rows holds two rows of one id, or one of an
// id of delivered.
func queuedTwice(rows []event, delivered []string) bool {
	if len(rows)*(len(rows)+len(delivered)) <= 64 { // the usual batch: no map
		for i := range rows {
			if slices.Contains(delivered, rows[i].id) {
				return true
			}
			for j := range i {
				if rows[j].id == rows[i].id {
					return true
				}
			}
		}
		return false
	}
	ids := make(map[string]struct{}, len(rows)+len(delivered))
	for _, id := range delivered {
		ids[id] = struct{}{}
	}
	for i := range rows {
		if _, dup := ids[rows[i].id]; dup {
			return true
		}
		ids[rows[i].id] = struct{}{}
	}
	return false
}

// writeFunc runs the write w inside ex and, when ob is not nil, writes ob
// to the outbox after it.
type writeFunc func(ctx context.Context, s *Store, ex DBTX, w *write, ob *outboxWrite) error

// applyInTx runs the writes, in order, with write, and writes the outbox
// with the last one, in one transaction (or savepoint).
func (s *Store) applyInTx(ctx context.Context, ws []write, ob *outboxWrite, write writeFunc) error {
	return s.atomically(ctx, "apply", func(ex DBTX) error {
		if len(ws) == 0 {
			return s.writeOutbox(ctx, ex, ob)
		}
		if err := s.lockInviters(ctx, ex, ws); err != nil {
			return err
		}
		for i := range ws {
			var attached *outboxWrite
			if i == len(ws)-1 {
				attached = ob
			}
			if err := write(ctx, s, ex, &ws[i], attached); err != nil {
				return err
			}
		}
		return s.checkLimits(ctx, ex, ws)
	})
}

// prepareWrites validates and encodes the writes. It returns the field
// errors of every invalid one.
func (s *Store) prepareWrites(in []invite.Write) ([]write, []invite.FieldError) {
	out := make([]write, len(in))
	var fields []invite.FieldError
	for i, w := range in {
		bad := func(field, reason string) {
			fields = append(fields, invite.FieldError{Field: "Writes[" + strconv.Itoa(i) + "]" + field, Reason: reason})
		}
		if w.Record == nil {
			bad(".Record", "is nil")
			continue
		}
		inv := &w.Record.Invitation
		if inv.TenantID == "" {
			bad(".Record.Invitation.TenantID", "is required")
		}
		if inv.ID == "" {
			bad(".Record.Invitation.ID", "is required")
		}
		switch {
		case w.Expect < 0:
			bad(".Expect", "must not be negative")
		case w.Delete && w.Expect == 0:
			bad(".Delete", "needs Expect, the version deleted")
		case w.Delete:
		case !inv.State.Valid():
			bad(".Record.Invitation.State", "is not a state")
		case w.Expect == 0 && inv.Version < 1:
			bad(".Record.Invitation.Version", "must be at least 1 on an insert")
		case w.Expect > 0 && inv.Version != w.Expect+1:
			bad(".Record.Invitation.Version", "must be Expect+1 on an update")
		}
		out[i] = write{expect: w.Expect, delete: w.Delete, rotated: w.Rotated}
		if w.Delete {
			out[i].row = row{tenantID: inv.TenantID, id: inv.ID}
			continue
		}
		rw, ferrs := encodeRecord(s.dl, w.Record)
		for _, fe := range ferrs {
			bad(".Record."+fe.Field, fe.Reason)
		}
		out[i].row = rw
		if w.Prev != nil && w.Expect > 0 && s.dl.setsChangedOnly() {
			out[i].same = unchanged(s.dl, w.Prev, &out[i].row)
		}
		if w.OpenLimit > 0 && w.Expect == 0 && inv.Inviter.ID != "" {
			out[i].limit, out[i].inviter, out[i].at = w.OpenLimit, inv.Inviter.ID, s.dl.timeValue(utc(inv.CreatedAt))
		}
	}
	return out, fields
}

// writtenDoc returns the document encoded for the write of in (encoded as
// ws) whose Invitation inv is, when it is exactly json.Marshal(inv), or "".
// An event's New is usually the invitation its batch writes (the
// Manager's Create, Accept, ...): its payload then reuses that encoding.
func writtenDoc(in []invite.Write, ws []write, inv *invite.Invitation) string {
	if inv == nil {
		return ""
	}
	for i := range in {
		if r := in[i].Record; r != nil && &r.Invitation == inv && !in[i].Delete && ws[i].row.exactDoc {
			return ws[i].row.doc
		}
	}
	return ""
}

// op names a write in errors.
func (w *write) op() string { return "apply: invitation " + w.row.id }

// missing tells why a guarded update or delete of w matched no row: the
// invitation is not in the tenant (invite.ErrNotFound) or has another
// version (invite.ErrConflict).
func (s *Store) missing(ctx context.Context, ex DBTX, w *write) error {
	v, err := s.storedVersion(ctx, ex, w)
	if err != nil {
		return err
	}
	if v == w.expect && s.staleSnapshot() {
		if v, err = s.storedVersion(ctx, ex, w); err != nil {
			return err
		}
	}
	return s.conflict(w, v)
}

// staleSnapshot is called when a guarded write matched no row although a
// plain read finds the version it expects, or an insert collided with a
// row. On a host's MySQL transaction at REPEATABLE READ that means (or may
// mean) the transaction's snapshot is older than the row: writes read
// current rows, plain reads the snapshot, so the Manager's re-read and
// retry would compute from the same stale rows every time (a version that
// lost, no sign of the invitation an insert collided with). On a host's
// transaction, where the dialect has currentReads, it switches the Store
// to locking reads, which read current rows (see current), and reports
// whether it did. Elsewhere a plain read sees current rows, and it
// reports false.
func (s *Store) staleSnapshot() bool {
	if s.q.locked == nil || s.begin != nil || s.current {
		return false
	}
	s.current = true
	return true
}

// storedVersion returns the stored version of w's invitation, or an error
// matching invite.ErrNotFound when the tenant holds no such invitation.
func (s *Store) storedVersion(ctx context.Context, ex DBTX, w *write) (int64, error) {
	var v int64
	err := ex.QueryRowContext(ctx, s.reads().version, w.row.tenantID, w.row.id).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, fmt.Errorf("sqlstore: %s: %w", w.op(), invite.ErrNotFound)
	case err != nil:
		return 0, wrap(w.op(), err)
	}
	return v, nil
}

func (s *Store) conflict(w *write, stored int64) error {
	return fmt.Errorf("sqlstore: %s: stored version %d, expected %d: %w", w.op(), stored, w.expect, invite.ErrConflict)
}

func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// eventsPerStatement bounds a multi-row outbox INSERT, and the ids of an
// IN list: 8 placeholders a row stays far below every dialect's limit
// (SQLite's 32766 is the lowest).
const eventsPerStatement = 200

// writeOutbox settles ob's delivered ids and then inserts its rows.
func (s *Store) writeOutbox(ctx context.Context, ex DBTX, ob *outboxWrite) error {
	if ob == nil {
		return nil
	}
	if err := s.settleDelivered(ctx, ex, ob); err != nil {
		return err
	}
	return s.insertEvents(ctx, ex, ob.rows)
}

// settleDelivered deletes the outbox rows of ob.delivered, and empties
// the slots holding them (see pgslot.go): the write that names them
// records their delivery on the invitation (marked sent), so a row kept
// until PurgeOutbox would serve nothing.
func (s *Store) settleDelivered(ctx context.Context, ex DBTX, ob *outboxWrite) error {
	ids := ob.delivered
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), eventsPerStatement)]
		ids = ids[len(chunk):]
		// The slots first: a claim moving one of them to the outbox
		// meanwhile has committed when this UPDATE has waited for its
		// row, and the DELETE after it, on a later snapshot (READ
		// COMMITTED), finds the moved row.
		if err := s.clearSlots(ctx, ex, chunk); err != nil {
			return err
		}
		a := &args{dl: s.dl}
		q := "DELETE FROM " + s.outbox + " WHERE id IN (" + addAll(a, chunk) + ")"
		if _, err := ex.ExecContext(ctx, q, a.vals...); err != nil {
			return wrap("apply: outbox", err)
		}
	}
	return nil
}

// addAll adds vs to a and returns their placeholders, separated by commas.
func addAll(a *args, vs []string) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.add(v))
	}
	return b.String()
}

// insertEvents inserts the outbox rows evs, in statements of up to
// eventsPerStatement rows.
func (s *Store) insertEvents(ctx context.Context, ex DBTX, evs []event) error {
	for len(evs) > 0 {
		chunk := evs[:min(len(evs), eventsPerStatement)]
		evs = evs[len(chunk):]
		a := &args{dl: s.dl}
		tuples := make([]string, len(chunk))
		for i := range chunk {
			vals := chunk[i].appendValues(make([]any, 0, len(eventColumns)))
			ph := make([]string, len(vals))
			for j, v := range vals {
				ph[j] = a.add(v)
			}
			ph[0] = s.freeID(ph[0])
			tuples[i] = "(" + strings.Join(ph, ", ") + ")"
		}
		q := "INSERT INTO " + s.outbox + " (" + outboxColumns + ") VALUES " + strings.Join(tuples, ", ")
		if _, err := ex.ExecContext(ctx, q, a.vals...); err != nil {
			return wrap("apply: outbox", err)
		}
	}
	return nil
}
