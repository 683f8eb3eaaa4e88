package sqlstore

import (
	"context"
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
// an invitation row, and update, which sets every column of an invitation
// guarded by its version (the fallback of diffWrite's updates); and the
// set of the dialect's keptColumns.
func (s *Store) buildUpdates(q *queries) {
	for _, c := range s.dl.keptColumns() {
		q.kept |= column(c)
	}
	where := " WHERE tenant_id = ? AND id = ? AND version = ?"
	set := make([]string, 0, len(invitationColumns)-2)
	for _, c := range invitationColumns[2:] {
		set = append(set, c+" = ?")
	}
	q.update = bind(s.dl, "UPDATE "+s.invitations+" SET "+strings.Join(set, ", ")+where)
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
	// An update: it leaves alone the columns it can expect to be stored as
	// they are, checking that they are (see diffwrite.go). A lost race or a
	// missing invitation is an error; any other mismatch (a stale guess)
	// updates every column.
	vals := r.values()
	same := w.same
	if same == 0 {
		same = s.keptColumns(w.rotated)
	}
	if same == 0 {
		return s.rewrite(ctx, ex, w, vals) // MySQL's rotation: nothing to keep
	}
	return s.diffWrite(ctx, ex, w, same, vals)
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
