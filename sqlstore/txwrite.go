package sqlstore

import (
	"context"
	"slices"
	"strings"
)

// The write path of the dialects that write an invitation with plain
// statements inside a transaction (SQLite, MySQL): txWrite, a writeFunc.

// txWrites is embedded by those dialects: their apply runs every batch in
// a transaction (or savepoint), txWrite a write.
type txWrites struct{}

func (txWrites) apply(ctx context.Context, s *Store, ws []write, ob *outboxWrite) error {
	return s.applyInTx(ctx, ws, ob, txWrite)
}

// buildUpdates builds txWrite's statements into q: insert and delete of
// an invitation row; update, which sets every column of an invitation
// guarded by its version; and updateKeep, which also requires the
// keptColumns (indexes in invitationColumns: the token columns and the
// dialect's keptColumns) to be stored as the new values, and leaves them
// out of its SET. updateKeep's arguments: the other columns, the tenant,
// the id, the expected version, then the kept columns.
func (s *Store) buildUpdates(q *queries) {
	kept := append([]string{"token_hash", "prev_tokens"}, s.dl.keptColumns()...)
	var set, keepSet, guard []string
	for i, c := range invitationColumns[2:] {
		set = append(set, c+" = ?")
		if slices.Contains(kept, c) {
			q.keptColumns = append(q.keptColumns, i+2)
			guard = append(guard, " AND "+c+" "+s.dl.nullSafeEqual()+" ?")
		} else {
			keepSet = append(keepSet, c+" = ?")
		}
	}
	update := "UPDATE " + s.invitations + " SET "
	where := " WHERE tenant_id = ? AND id = ? AND version = ?"
	q.update = bind(s.dl, update+strings.Join(set, ", ")+where)
	q.updateKeep = bind(s.dl, update+strings.Join(keepSet, ", ")+where+strings.Join(guard, ""))
	q.insert = "INSERT INTO " + s.invitations + " (" + strings.Join(invitationColumns, ", ") + ") VALUES (" +
		placeholders(s.dl, 1, len(invitationColumns), "", ", ") + ")"
	q.delete = bind(s.dl, "DELETE FROM "+s.invitations+where)
}

// txWrite runs w inside the caller's transaction: the invitation row first
// (guarded by version for updates and deletes), then its token rows (and,
// for a delete, the outbox rows it removes); then it writes ob to the
// outbox.
func txWrite(ctx context.Context, s *Store, ex DBTX, w *write, ob *outboxWrite) error {
	if err := txWriteRow(ctx, s, ex, w); err != nil {
		return err
	}
	return s.writeOutbox(ctx, ex, ob)
}

func txWriteRow(ctx context.Context, s *Store, ex DBTX, w *write) error {
	r := &w.row
	switch {
	case w.expect == 0:
		if _, err := ex.ExecContext(ctx, s.q.insert, r.values()...); err != nil {
			if isUniqueViolation(err) {
				// The row it collides with may be newer than a host
				// transaction's snapshot: the Manager's FindOpen must see it.
				s.staleSnapshot()
			}
			return wrap(w.op(), err)
		}
		return s.insertTokens(ctx, ex, w)
	case w.delete:
		if n, err := affected(ex.ExecContext(ctx, s.q.delete, r.tenantID, r.id, w.expect)); err != nil {
			return wrap(w.op(), err)
		} else if n == 0 {
			return s.missing(ctx, ex, w)
		}
		if err := s.deleteTokens(ctx, ex, w); err != nil {
			return err
		}
		return s.forgetOutbox(ctx, ex, w)
	}
	// An update. Given the record it was computed from, on a dialect that
	// sets only what changed, it leaves the unchanged columns alone
	// (diffWrite).
	vals := r.values()
	if w.same != 0 {
		return s.diffWrite(ctx, ex, w, vals)
	}
	// Otherwise the first attempt also requires the stored token columns
	// (and, on SQLite, the columns an update practically never changes) to
	// equal the new ones, and leaves them out of its SET: when it matches,
	// the token rows are already right and are left alone (accept, reject,
	// revoke, expire, a failed code). When it does not, the stored version
	// tells a lost race or a missing invitation (an error) from another
	// change (a resend's new tokens): that one updates the row under the
	// version guard alone and rewrites its token rows.
	if w.rotated {
		// New token hashes (a resend, a delivery's fresh secret): the
		// attempt that keeps the token rows would match nothing.
		return s.rewrite(ctx, ex, w, vals)
	}
	args := make([]any, 0, len(vals)+len(s.q.keptColumns))
	for i := 2; i < len(vals); i++ {
		if !slices.Contains(s.q.keptColumns, i) {
			args = append(args, vals[i])
		}
	}
	args = append(args, r.tenantID, r.id, w.expect)
	for _, i := range s.q.keptColumns {
		args = append(args, vals[i])
	}
	n, err := affected(ex.ExecContext(ctx, s.q.updateKeep, args...))
	if err != nil {
		return wrap(w.op(), err)
	}
	if n > 0 {
		return nil
	}
	if v, err := s.storedVersion(ctx, ex, w); err != nil {
		return err
	} else if v != w.expect {
		return s.conflict(w, v)
	}
	return s.rewrite(ctx, ex, w, vals)
}

// rewrite updates w's row under the version guard alone, with all of
// vals, and rewrites its token rows.
func (s *Store) rewrite(ctx context.Context, ex DBTX, w *write, vals []any) error {
	r := &w.row
	base := append(vals[2:len(vals):len(vals)], r.tenantID, r.id, w.expect)
	if n, err := affected(ex.ExecContext(ctx, s.q.update, base...)); err != nil {
		return wrap(w.op(), err)
	} else if n == 0 {
		return s.missing(ctx, ex, w)
	}
	if err := s.deleteTokens(ctx, ex, w); err != nil {
		return err
	}
	return s.insertTokens(ctx, ex, w)
}

func (s *Store) insertTokens(ctx context.Context, ex DBTX, w *write) error {
	r := &w.row
	if len(r.hashes) == 0 {
		return nil
	}
	a := &args{dl: s.dl}
	tuples := make([]string, len(r.hashes))
	for i, h := range r.hashes {
		tuples[i] = "(" + a.add(h) + ", " + a.add(r.tenantID) + ", " + a.add(r.id) + ")"
	}
	q := "INSERT INTO " + s.tokens + " (token_hash, tenant_id, invitation_id) VALUES " + strings.Join(tuples, ", ")
	if _, err := ex.ExecContext(ctx, q, a.vals...); err != nil {
		return wrap(w.op(), err)
	}
	return nil
}

func (s *Store) deleteTokens(ctx context.Context, ex DBTX, w *write) error {
	if _, err := ex.ExecContext(ctx, s.q.deleteTokens, w.row.tenantID, w.row.id); err != nil {
		return wrap(w.op(), err)
	}
	return nil
}

// forgetOutbox deletes the outbox rows of w's invitation that a Delete
// removes (see forgotten): the rows of the batch are inserted after it.
func (s *Store) forgetOutbox(ctx context.Context, ex DBTX, w *write) error {
	if _, err := ex.ExecContext(ctx, s.q.forgetOutbox, w.row.tenantID, w.row.id); err != nil {
		return wrap(w.op(), err)
	}
	return nil
}
