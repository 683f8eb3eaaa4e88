package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

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
	// pgDelete deletes the row, guarded by its version, and its token rows.
	pgDelete
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
}

// counted reports whether the statement ends in SELECT count(*) FROM w
// (run with QueryRow). The others run with Exec, and their rows affected
// is nonzero exactly when they wrote the invitation row: the invitation
// row itself, or the outbox rows, inserted only when it was written.
func (sh pgShape) counted() bool { return sh.kind == pgUpdate || sh.kind == pgDelete }

// The arguments of a statement, in order (see pgShape.args): the invitation
// row's values in the order of invitationColumns ($1 the tenant, $2 the
// id), or only the tenant and id for a delete; then, except for an insert,
// the expected version; then, for pgUpdateKeep, the token_hash and
// prev_tokens the stored row must have, or, for pgInsert and pgUpdate, the
// token hashes; then six per event.
const (
	pgRowArgs    = 17 // len(invitationColumns)
	pgEventArgs  = 6  // id, tenant_id, invitation_id, type, payload, created_at
	pgTenantArg  = "$1"
	pgIDArg      = "$2"
	pgExpectArg  = "$18" // after the row, in an update
	pgDeleteArgs = 3     // tenant, id, expected version
)

// nargs is the number of arguments of the statement.
func (sh pgShape) nargs() int {
	n := pgRowArgs
	switch sh.kind {
	case pgInsert:
		n += sh.hashes
	case pgUpdateKeep:
		n += 1 + 2
	case pgUpdate:
		n += 1 + sh.hashes
	case pgDelete:
		n = pgDeleteArgs
	}
	return n + pgEventArgs*sh.events
}

// args returns the arguments of the statement of shape sh for w and evs.
func (sh pgShape) args(w *write, evs []event) []any {
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
	case pgUpdateKeep:
		a = append(r.appendValues(a), w.expect, r.tokenHash, r.prevTokens)
	case pgUpdate:
		a = append(r.appendValues(a), w.expect)
		for _, h := range r.hashes {
			a = append(a, h)
		}
	}
	for i := range evs {
		e := &evs[i]
		a = append(a, e.id, e.tenantID, e.invitationID, e.typ, e.payload, e.at)
	}
	return a
}

// ph is the placeholder of the argument numbered n (from 1).
func ph(n int) string { return "$" + strconv.Itoa(n) }

// pgBuild returns the text of the statement of shape sh.
func (s *Store) pgBuild(sh pgShape) string {
	var q strings.Builder
	// The first argument after the row (and the expected version, the
	// stored token columns or the hashes): the events'.
	firstEvent := sh.nargs() - pgEventArgs*sh.events + 1
	switch sh.kind {
	case pgInsert:
		// The invitation, then its token rows, then the outbox rows, the
		// last statement being the main one and the others CTEs. An insert
		// either inserts its row or fails the whole statement, so nothing
		// is guarded.
		parts := []string{"INSERT INTO " + s.invitations + " (" + strings.Join(invitationColumns, ", ") + ") VALUES (" +
			phList(1, pgRowArgs, "", ", ") + ")"}
		if sh.hashes > 0 {
			tuples := make([]string, sh.hashes)
			for i := range tuples {
				tuples[i] = "(" + ph(pgRowArgs+1+i) + ", " + pgTenantArg + ", " + pgIDArg + ")"
			}
			parts = append(parts, "INSERT INTO "+s.tokens+" (token_hash, tenant_id, invitation_id) VALUES "+strings.Join(tuples, ", "))
		}
		if sh.events > 0 {
			tuples := make([]string, sh.events)
			for i := range tuples {
				n := firstEvent + pgEventArgs*i
				tuples[i] = "(" + phList(n, 6, "", ", ") + ", " + ph(n+5) + ")"
			}
			parts = append(parts, "INSERT INTO "+s.outbox+" ("+outboxColumns+") VALUES "+strings.Join(tuples, ", "))
		}
		const names = "wk" // the CTEs: the invitation (w), its token rows (k)
		for i, p := range parts[:len(parts)-1] {
			sep := ", "
			if i == 0 {
				sep = "WITH "
			}
			q.WriteString(sep + names[i:i+1] + " AS (" + p + ")")
		}
		if len(parts) > 1 {
			q.WriteString(" ")
		}
		q.WriteString(parts[len(parts)-1])
		return q.String()
	case pgDelete:
		q.WriteString("WITH w AS (DELETE FROM " + s.invitations + " WHERE tenant_id = $1 AND id = $2 AND version = $3 RETURNING 1)")
		q.WriteString(", k AS (DELETE FROM " + s.tokens + " WHERE tenant_id = $1 AND invitation_id = $2 AND EXISTS (SELECT 1 FROM w))")
		s.pgOutboxCTE(&q, firstEvent, sh.events)
		q.WriteString(" SELECT count(*) FROM w")
		return q.String()
	}
	set := make([]string, 0, pgRowArgs-2)
	for i := 2; i < pgRowArgs; i++ {
		set = append(set, invitationColumns[i]+" = "+ph(i+1))
	}
	update := "UPDATE " + s.invitations + " SET " + strings.Join(set, ", ") +
		" WHERE tenant_id = " + pgTenantArg + " AND id = " + pgIDArg + " AND version = " + pgExpectArg
	if sh.kind == pgUpdateKeep {
		update += " AND token_hash IS NOT DISTINCT FROM $19::bytea AND prev_tokens IS NOT DISTINCT FROM $20::jsonb"
		if sh.events == 0 {
			return update // rows affected: 1 or 0
		}
		// The outbox rows are the main statement: as many rows affected as
		// events when the update matched, none otherwise.
		return "WITH w AS (" + update + " RETURNING 1) " + s.pgOutboxInsert(firstEvent, sh.events)
	}
	q.WriteString("WITH w AS (" + update + " RETURNING 1)")
	hashes := phList(pgRowArgs+2, sh.hashes, "", ", ")
	q.WriteString(", d AS (DELETE FROM " + s.tokens + " WHERE tenant_id = $1 AND invitation_id = $2 AND EXISTS (SELECT 1 FROM w)")
	if sh.hashes > 0 {
		q.WriteString(" AND token_hash NOT IN (" + hashes + ")")
	}
	q.WriteString(")")
	if sh.hashes > 0 {
		q.WriteString(", k AS (INSERT INTO " + s.tokens + " (token_hash, tenant_id, invitation_id) SELECT v.h, $1, $2 FROM (VALUES " +
			phList(pgRowArgs+2, sh.hashes, "(", "::bytea), (") + "::bytea)) AS v (h)" +
			" WHERE EXISTS (SELECT 1 FROM w) AND NOT EXISTS (SELECT 1 FROM " + s.tokens +
			" x WHERE x.token_hash = v.h AND x.tenant_id = $1 AND x.invitation_id = $2))")
	}
	s.pgOutboxCTE(&q, firstEvent, sh.events)
	q.WriteString(" SELECT count(*) FROM w")
	return q.String()
}

// outboxColumns are the columns an outbox insert writes: created_at and
// available_at both take the event's time.
const outboxColumns = "id, tenant_id, invitation_id, type, payload, created_at, available_at"

// phList returns count placeholders from $first, the first preceded by
// open and each following one by sep.
func phList(first, count int, open, sep string) string {
	if count == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(open)
	for i := range count {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(ph(first + i))
	}
	return b.String()
}

// pgOutboxInsert returns the INSERT of n outbox rows, from the arguments
// numbered from first, done only when "w" touched a row.
func (s *Store) pgOutboxInsert(first, n int) string {
	tuples := make([]string, n)
	for i := range tuples {
		a := first + pgEventArgs*i
		tuples[i] = "(" + ph(a) + "::text, " + ph(a+1) + "::text, " + ph(a+2) + "::text, " + ph(a+3) + "::text, " +
			ph(a+4) + "::jsonb, " + ph(a+5) + "::timestamptz)"
	}
	return "INSERT INTO " + s.outbox + " (" + outboxColumns + ")" +
		" SELECT v.id, v.tenant_id, v.invitation_id, v.type, v.payload, v.created_at, v.created_at" +
		" FROM (VALUES " + strings.Join(tuples, ", ") + ") AS v (id, tenant_id, invitation_id, type, payload, created_at)" +
		" WHERE EXISTS (SELECT 1 FROM w)"
}

// pgOutboxCTE appends the CTE "o" inserting n outbox rows when "w" touched
// a row.
func (s *Store) pgOutboxCTE(q *strings.Builder, first, n int) {
	if n > 0 {
		q.WriteString(", o AS (" + s.pgOutboxInsert(first, n) + ")")
	}
}

// stmtCache holds the text of the PostgreSQL write statements by shape,
// copied on write: the hot path reads it without a lock or an allocation.
// A Store and the Stores WithTx makes from it share one.
type stmtCache struct {
	mu sync.Mutex // serialises writers
	m  atomic.Pointer[map[pgShape]string]
}

// A shape with more hashes or events than maxCachedCount is built on every
// call (a large batch); the cache holds at most maxCachedShapes.
const (
	maxCachedCount  = 16
	maxCachedShapes = 128
)

// pgStatement returns the text of the statement of shape sh.
func (s *Store) pgStatement(sh pgShape) string {
	c := s.pgStmts
	if m := c.m.Load(); m != nil {
		if q, ok := (*m)[sh]; ok {
			return q
		}
	}
	q := s.pgBuild(sh)
	if sh.hashes > maxCachedCount || sh.events > maxCachedCount {
		return q
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil && len(*old) >= maxCachedShapes {
		return q
	}
	m := make(map[pgShape]string, 1+lenOf(old))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[sh] = q
	c.m.Store(&m)
	return q
}

func lenOf(m *map[pgShape]string) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// pgWrite runs w, with evs, as one PostgreSQL statement: the invitation
// row written guarded by its version, its token rows brought in line and
// evs inserted into the outbox, all only when the row was written (see
// pgBuild).
func (s *Store) pgWrite(ctx context.Context, ex DBTX, w *write, evs []event) error {
	sh := pgShape{events: len(evs)}
	switch {
	case w.delete:
		sh.kind = pgDelete
	case w.expect == 0:
		sh.kind, sh.hashes = pgInsert, len(w.row.hashes)
	default:
		// Most updates (accept, reject, revoke, expire, update) keep the
		// token hashes: try the statement that also requires the stored
		// token columns to be unchanged and so leaves the tokens table
		// alone (Accept stays at two statements: lookup and this write).
		if n, err := s.pgExec(ctx, ex, pgShape{kind: pgUpdateKeep, events: len(evs)}, w, evs); err != nil || n > 0 {
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
	n, err := s.pgExec(ctx, ex, sh, w, evs)
	if err != nil {
		return err
	}
	if n == 0 {
		return s.missing(ctx, ex, w)
	}
	return nil
}

// pgExec runs the statement of shape sh for w and evs. It returns a
// nonzero count when the statement wrote the invitation row.
func (s *Store) pgExec(ctx context.Context, ex DBTX, sh pgShape, w *write, evs []event) (int64, error) {
	q, args := s.pgStatement(sh), sh.args(w, evs)
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
