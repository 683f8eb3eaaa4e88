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
	a := &args{dl: s.dl}
	parts := make([]string, len(keys))
	for i, k := range keys {
		// ? placeholders are positional: add the arguments in the order of the text.
		tenant := a.add(tenantID)
		parts[i] = "SELECT " + recordColumns + " FROM " + s.invitations + " WHERE tenant_id = " + tenant + " AND " +
			s.dl.openKey(k.Kind, a.add(k.Value))
		if s.current {
			parts[i] = "(" + parts[i] + s.dl.currentReads() + ")"
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
// created_at, id) index: the filters in SQL (filterWhere: the effective
// state computed from state and expires_at at q.Now; Email compared by
// invite.EmailKey, as invite.Invitee.Keys has it), the keyset cursor as a
// range on created_at with the tie broken by id in byte order, OFFSET
// q.Offset on that order, and LIMIT q.Limit+1 to learn whether another
// page follows.
func (s *Store) List(ctx context.Context, tenantID string, q invite.Query) ([]*invite.Invitation, *invite.Cursor, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if q.Limit <= 0 {
		return nil, nil, nil
	}
	a := &args{dl: s.dl}
	where := s.filterWhere(a, tenantID, &q.Filter, q.Now)
	// id compares and sorts in byte order, as invite.Cursor.Less does.
	idCol := s.dl.idOrder()
	dir, cmp, bound := "ASC", ">", ">="
	if q.Descending {
		dir, cmp, bound = "DESC", "<", "<="
	}
	if q.After != nil {
		// The redundant bound makes the cursor an index range on every
		// dialect; the OR breaks ties on created_at by id.
		at := s.dl.timeValue(q.After.CreatedAt)
		where = append(where, "created_at "+bound+" "+a.add(at),
			"(created_at "+cmp+" "+a.add(at)+" OR (created_at = "+a.add(at)+" AND "+idCol+" "+cmp+" "+a.add(q.After.ID)+"))")
	}
	stmt := "SELECT doc FROM " + s.invitations + " WHERE " + strings.Join(where, " AND ") +
		" ORDER BY created_at " + dir + ", " + idCol + " " + dir + " LIMIT " + a.add(q.Limit+1)
	if q.Offset > 0 {
		stmt += " OFFSET " + a.add(q.Offset)
	}
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
	a := &args{dl: s.dl}
	cond, order := s.dl.due(a.add(s.dl.timeValue(now)))
	rows, err := s.db.QueryContext(ctx, "SELECT "+recordColumns+" FROM "+s.invitations+" WHERE "+cond+
		" ORDER BY "+order+" LIMIT "+a.add(limit), a.vals...)
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

// Purge implements invite.Store: it deletes up to limit closed records
// whose closed_at is before before, oldest first, with their token rows
// and outbox rows, atomically. On PostgreSQL it is one statement; on SQLite and MySQL a
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
	var n int
	err := s.retrying(ctx, func() (err error) {
		n, err = s.dl.purge(ctx, s, before, limit)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// purgeChunk bounds the (tenant_id, id) pairs of one DELETE.
const purgeChunk = 500

// purgeInTx runs a purge in one transaction (or savepoint): sel, with the
// arguments before and limit, selects the (tenant_id, id) pairs to purge,
// and del deletes them and their token rows, up to purgeChunk at a time,
// returning how many invitations it deleted.
func (s *Store) purgeInTx(ctx context.Context, sel string, before time.Time, limit int,
	del func(ex DBTX, chunk [][2]string) (int64, error)) (int, error) {
	var n int
	err := s.atomically(ctx, "purge", func(ex DBTX) error {
		n = 0
		pairs, err := queryPairs(ctx, ex, bind(s.dl, sel), s.dl.timeValue(before), limit)
		if err != nil {
			return err
		}
		for len(pairs) > 0 {
			chunk := pairs[:min(len(pairs), purgeChunk)]
			pairs = pairs[len(chunk):]
			m, err := del(ex, chunk)
			if err != nil {
				return err
			}
			n += int(m)
		}
		return nil
	})
	return n, err
}

// pairTuples returns the row values ((tenant_id, id) pairs) of a
// multi-row IN, and adds their arguments to a.
func pairTuples(a *args, pairs [][2]string) string {
	tuples := make([]string, len(pairs))
	for i, p := range pairs {
		tuples[i] = "(" + a.add(p[0]) + ", " + a.add(p[1]) + ")"
	}
	return strings.Join(tuples, ", ")
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
