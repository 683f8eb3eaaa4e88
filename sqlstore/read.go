package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/invitekit/invite"
)

// Get implements invite.Store: one primary-key lookup.
func (s *Store) Get(ctx context.Context, tenantID, id string) (*invite.Record, error) {
	return scanRecord("get", s.db.QueryRowContext(ctx, s.reads().get, tenantID, id))
}

// GetByTokenHash implements invite.Store: one statement joining the tokens
// table (current and previous hashes, primary key) to the invitation it
// names.
func (s *Store) GetByTokenHash(ctx context.Context, h invite.TokenHash) (*invite.Record, error) {
	if h.IsZero() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("sqlstore: get by token hash: %w", invite.ErrNotFound)
	}
	return scanRecord("get by token hash", s.db.QueryRowContext(ctx, s.reads().getByTokenHash, h[:]))
}

// GetByIdempotencyKey implements invite.Store: one lookup in the unique
// (tenant_id, idempotency_key) index.
func (s *Store) GetByIdempotencyKey(ctx context.Context, tenantID, key string) (*invite.Record, error) {
	if key == "" {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("sqlstore: get by idempotency key: %w", invite.ErrNotFound)
	}
	return scanRecord("get by idempotency key", s.db.QueryRowContext(ctx, s.reads().getByIdempotencyKey, tenantID, key))
}

// FindOpen implements invite.Store: one statement, a UNION ALL of one
// lookup per invitee key in that key's unique index of open records.
func (s *Store) FindOpen(ctx context.Context, tenantID string, iv invite.Invitee) ([]*invite.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Each key kind ("email", "phone", "user") names its column.
	keys := iv.AppendKeys(nil)
	if len(keys) == 0 {
		return nil, nil
	}
	a := &args{d: s.d}
	parts := make([]string, len(keys))
	for i, k := range keys {
		// ? placeholders are positional: add the arguments in the order of the text.
		tenant := a.add(tenantID)
		cond := "state IN " + openStates + " AND " + k.Kind + "_key = "
		if s.d == MySQL {
			cond = "open_" + k.Kind + " = " // the generated column of the unique index
		}
		parts[i] = "SELECT " + recordColumns + " FROM " + s.invitations + " WHERE tenant_id = " + tenant + " AND " + cond + a.add(k.Value)
		if s.current {
			parts[i] = "(" + parts[i] + " FOR UPDATE)"
		}
	}
	rows, err := s.db.QueryContext(ctx, strings.Join(parts, " UNION ALL "), a.vals...)
	if err != nil {
		return nil, wrap("find open", err)
	}
	defer rows.Close()
	var out []*invite.Record
	for rows.Next() {
		r, err := scanRecord("find open", rows)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(out, func(o *invite.Record) bool { return o.Invitation.ID == r.Invitation.ID }) {
			out = append(out, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("find open", err)
	}
	slices.SortFunc(out, func(x, y *invite.Record) int {
		cx, cy := invite.CursorOf(&x.Invitation), invite.CursorOf(&y.Invitation)
		switch {
		case cx.Less(*cy):
			return -1
		case cy.Less(*cx):
			return 1
		}
		return 0
	})
	return out, nil
}

// List implements invite.Store in one statement on the (tenant_id,
// created_at, id) index: the filters in SQL (the effective state computed
// from state and expires_at at q.Now; Email compared lower-cased, as
// invite.Invitee.Keys lower-cases it), the keyset cursor as a range on
// created_at with the tie broken by id in byte order, and LIMIT q.Limit+1
// to learn whether another page follows.
func (s *Store) List(ctx context.Context, tenantID string, q invite.Query) ([]*invite.Invitation, *invite.Cursor, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if q.Limit <= 0 {
		return nil, nil, nil
	}
	a := &args{d: s.d}
	where := []string{"tenant_id = " + a.add(tenantID)}
	if c := s.stateCond(a, &q); c != "" {
		where = append(where, c)
	}
	for _, f := range []struct{ column, value string }{
		{"email_key", strings.ToLower(q.Email)}, {"phone_key", q.Phone}, {"user_key", q.UserID}, {"inviter_id", q.InviterID},
	} {
		if f.value != "" {
			where = append(where, f.column+" = "+a.add(f.value))
		}
	}
	if !q.CreatedFrom.IsZero() {
		where = append(where, "created_at >= "+a.add(s.d.timeValue(q.CreatedFrom)))
	}
	if !q.CreatedTo.IsZero() {
		where = append(where, "created_at < "+a.add(s.d.timeValue(q.CreatedTo)))
	}
	// id compares and sorts in byte order, as invite.Cursor.Less does.
	idCol := "id"
	if s.d == Postgres {
		idCol = `id COLLATE "C"`
	}
	dir, cmp, bound := "ASC", ">", ">="
	if q.Descending {
		dir, cmp, bound = "DESC", "<", "<="
	}
	if q.After != nil {
		// The redundant bound makes the cursor an index range on every
		// dialect; the OR breaks ties on created_at by id.
		at := s.d.timeValue(q.After.CreatedAt)
		where = append(where, "created_at "+bound+" "+a.add(at),
			"(created_at "+cmp+" "+a.add(at)+" OR (created_at = "+a.add(at)+" AND "+idCol+" "+cmp+" "+a.add(q.After.ID)+"))")
	}
	stmt := "SELECT doc FROM " + s.invitations + " WHERE " + strings.Join(where, " AND ") +
		" ORDER BY created_at " + dir + ", " + idCol + " " + dir + " LIMIT " + a.add(q.Limit+1)
	rows, err := s.db.QueryContext(ctx, stmt, a.vals...)
	if err != nil {
		return nil, nil, wrap("list", err)
	}
	defer rows.Close()
	out := make([]*invite.Invitation, 0, min(q.Limit+1, 256))
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, nil, wrap("list", err)
		}
		inv, err := decodeInvitation(doc)
		if err != nil {
			return nil, nil, &Error{Op: "list", Err: err}
		}
		out = append(out, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, wrap("list", err)
	}
	if len(out) > q.Limit {
		out = out[:q.Limit]
		return out, invite.CursorOf(out[len(out)-1]), nil
	}
	return out, nil, nil
}

func decodeInvitation(doc []byte) (*invite.Invitation, error) {
	inv := &invite.Invitation{}
	if err := json.Unmarshal(doc, inv); err != nil {
		return nil, fmt.Errorf("malformed invitation document: %w", err)
	}
	for _, t := range []*time.Time{&inv.CreatedAt, &inv.UpdatedAt, &inv.IssuedAt, &inv.ExpiresAt, &inv.SentAt, &inv.ClosedAt} {
		if !t.IsZero() {
			*t = t.UTC()
		}
	}
	return inv, nil
}

// stateCond returns the SQL condition of q's state filter on the effective
// state at q.Now (an open invitation whose expires_at is at or before now
// is expired), or "" when every state passes.
func (s *Store) stateCond(a *args, q *invite.Query) string {
	now := s.d.timeValue(q.Now)
	if len(q.States) == 0 {
		if q.IncludeExpired {
			return ""
		}
		return "(state IN ('accepted', 'rejected', 'revoked') OR (state IN " + openStates + " AND expires_at > " + a.add(now) + "))"
	}
	var open, closed []string
	expired := false
	for _, st := range q.States {
		lit := "'" + string(st) + "'" // only the known states below reach the SQL
		switch st {
		case invite.StatePending, invite.StateSent:
			if !slices.Contains(open, lit) {
				open = append(open, lit)
			}
		case invite.StateAccepted, invite.StateRejected, invite.StateRevoked:
			if !slices.Contains(closed, lit) {
				closed = append(closed, lit)
			}
		case invite.StateExpired:
			expired = true
		}
	}
	var ors []string
	if len(closed) > 0 {
		ors = append(ors, "state IN ("+strings.Join(closed, ", ")+")")
	}
	if len(open) > 0 {
		ors = append(ors, "(state IN ("+strings.Join(open, ", ")+") AND expires_at > "+a.add(now)+")")
	}
	if expired {
		ors = append(ors, "(state = 'expired' OR (state IN "+openStates+" AND expires_at <= "+a.add(now)+"))")
	}
	if len(ors) == 0 {
		return "1 = 0" // only unknown states: nothing matches
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

// ListDue implements invite.Store: an index range scan, soonest expiry
// first, on the index of open records by expires_at (on MySQL, of the
// generated column due_at).
func (s *Store) ListDue(ctx context.Context, now time.Time, limit int) ([]*invite.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	a := &args{d: s.d}
	cond := "state IN " + openStates + " AND expires_at <= " + a.add(s.d.timeValue(now)) + " ORDER BY expires_at"
	if s.d == MySQL {
		cond = "due_at <= ? ORDER BY due_at" // the generated column of the index
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+recordColumns+" FROM "+s.invitations+" WHERE "+cond+" LIMIT "+a.add(limit), a.vals...)
	if err != nil {
		return nil, wrap("list due", err)
	}
	defer rows.Close()
	var out []*invite.Record
	for rows.Next() {
		r, err := scanRecord("list due", rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list due", err)
	}
	return out, nil
}

// purgeChunk bounds the (tenant_id, id) pairs of one DELETE.
const purgeChunk = 500

// Purge implements invite.Store: it deletes up to limit closed records
// whose closed_at is before before, oldest first, with their token rows,
// atomically. On PostgreSQL it is one statement; on SQLite and MySQL a
// transaction that selects the ids and deletes by them, since MySQL cannot
// LIMIT a subquery on the table it deletes from. On MySQL the ids are
// selected without locks and then locked by primary key, re-checking the
// condition: a locking scan of the purge_at index would also lock the gap
// where every new open invitation's index entry goes, holding up every
// Create until the purge commits, and deadlocking batches that close one
// invitation and insert another.
func (s *Store) Purge(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if limit <= 0 {
		return 0, nil
	}
	if s.d == Postgres {
		// The DELETE re-checks the condition: a row changed since the
		// snapshot (an expired invitation renewed) is left alone.
		q := "WITH v AS (SELECT tenant_id, id FROM " + s.invitations + " WHERE state IN " + closedStates +
			" AND closed_at < $1 ORDER BY closed_at LIMIT $2)" +
			", d AS (DELETE FROM " + s.invitations + " i USING v WHERE i.tenant_id = v.tenant_id AND i.id = v.id" +
			" AND i.state IN " + closedStates + " AND i.closed_at < $1 RETURNING i.tenant_id, i.id)" +
			", k AS (DELETE FROM " + s.tokens + " t USING d WHERE t.tenant_id = d.tenant_id AND t.invitation_id = d.id)" +
			" SELECT count(*) FROM d"
		var n int
		err := s.retrying(ctx, func() error {
			return wrap("purge", s.db.QueryRowContext(ctx, q, s.d.timeValue(before), limit).Scan(&n))
		})
		if err != nil {
			return 0, err
		}
		return n, nil
	}
	var n int
	err := s.retrying(ctx, func() error {
		return s.atomically(ctx, "purge", func(ex DBTX) error {
			n = 0
			q := "SELECT tenant_id, id FROM " + s.invitations + " WHERE state IN " + closedStates +
				" AND closed_at < ? ORDER BY closed_at LIMIT ?"
			if s.d == MySQL {
				q = "SELECT tenant_id, id FROM " + s.invitations + " WHERE purge_at < ? ORDER BY purge_at LIMIT ?"
			}
			pairs, err := queryPairs(ctx, ex, q, s.d.timeValue(before), limit)
			if err != nil {
				return err
			}
			for len(pairs) > 0 {
				chunk := pairs[:min(len(pairs), purgeChunk)]
				pairs = pairs[len(chunk):]
				in, vals := s.pairsIn(chunk)
				if s.d == MySQL {
					// Lock the rows still due, by primary key (forced: the
					// optimizer may pick the purge_at index, whose scan
					// locks the gaps this avoids), skipping rows another
					// transaction holds: another replica's purge, or a
					// write; they are purged next time if still due.
					lock := "SELECT tenant_id, id FROM " + s.invitations + " FORCE INDEX (PRIMARY) WHERE (tenant_id, id) IN " + in +
						" AND purge_at < ? FOR UPDATE SKIP LOCKED"
					if chunk, err = queryPairs(ctx, ex, lock, append(vals, s.d.timeValue(before))...); err != nil {
						return err
					}
					// One row at a time: a multi-row DELETE scans the
					// primary key with next-key locks, which deadlocks
					// with other purges and with inserts.
					for _, p := range chunk {
						m, err := affected(ex.ExecContext(ctx, "DELETE FROM "+s.invitations+" WHERE tenant_id = ? AND id = ?", p[0], p[1]))
						if err != nil {
							return wrap("purge", err)
						}
						n += int(m)
						if _, err := ex.ExecContext(ctx, "DELETE FROM "+s.tokens+" WHERE tenant_id = ? AND invitation_id = ?", p[0], p[1]); err != nil {
							return wrap("purge", err)
						}
					}
					continue
				}
				m, err := affected(ex.ExecContext(ctx, "DELETE FROM "+s.invitations+" WHERE (tenant_id, id) IN "+in, vals...))
				if err != nil {
					return wrap("purge", err)
				}
				n += int(m)
				if _, err := ex.ExecContext(ctx, "DELETE FROM "+s.tokens+" WHERE (tenant_id, invitation_id) IN "+in, vals...); err != nil {
					return wrap("purge", err)
				}
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// pairsIn returns the right-hand side of a row-value IN over the pairs and
// its arguments: ((?, ?), ...) on MySQL, (VALUES (?, ?), ...) on SQLite.
func (s *Store) pairsIn(pairs [][2]string) (string, []any) {
	tuples := make([]string, len(pairs))
	vals := make([]any, 0, 2*len(pairs))
	for i, p := range pairs {
		tuples[i] = "(?, ?)"
		vals = append(vals, p[0], p[1])
	}
	if s.d == SQLite {
		return "(VALUES " + strings.Join(tuples, ", ") + ")", vals
	}
	return "(" + strings.Join(tuples, ", ") + ")", vals
}

// queryPairs runs q and returns the (tenant_id, id) pairs it selects.
func queryPairs(ctx context.Context, ex DBTX, q string, vals ...any) ([][2]string, error) {
	rows, err := ex.QueryContext(ctx, q, vals...)
	if err != nil {
		return nil, wrap("purge", err)
	}
	defer rows.Close()
	var pairs [][2]string
	for rows.Next() {
		var p [2]string
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			return nil, wrap("purge", err)
		}
		pairs = append(pairs, p)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("purge", err)
	}
	return pairs, nil
}
