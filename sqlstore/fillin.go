package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/invitekit/invite"
)

// fillIns complete migrations with what SQL cannot compute, by the
// migration's file name: Migrate runs one after the migration's
// statements and before it records the migration. On PostgreSQL and
// SQLite it runs in the migration's transaction (the table stays locked
// until it ends); on MySQL, under the migration lock, in a transaction
// per batch, and a fill-in cut short is run again, whole, by the next
// Migrate. A fill-in must be safe to run again over rows it already
// filled, and must not undo a write made meanwhile by a process of this
// version.
var fillIns = map[string]func(ctx context.Context, s *Store, b batcher) (int, error){
	"0005_search_keys.sql": fillSearchKeys,
}

// fillInBatch is the number of rows a fill-in reads at a time (a
// variable for the tests).
var fillInBatch = 500

// batcher runs each batch of a fill-in: on ex directly (PostgreSQL,
// SQLite: the migration's transaction), or in a transaction of its own
// (MySQL).
type batcher func(ctx context.Context, fn func(ex DBTX) error) error

// keyedRow is a row of the invitations table and its search keys.
type keyedRow struct {
	tenantID, id string
	version      int64
	full, family any
}

// fillSearchKeys sets search_name and search_family (0005_search_keys) on
// every invitation row that has a name, from its document, in
// primary-key order, a batch at a time. It returns the number of rows it
// wrote.
func fillSearchKeys(ctx context.Context, s *Store, run batcher) (int, error) {
	after := "(tenant_id, id) > (?, ?)" // a row-value range on the primary key
	if s.d == MySQL {
		after = "(tenant_id > ? OR (tenant_id = ? AND id > ?))" // which MySQL's range optimiser reads best
	}
	sel := bind(s.dl, "SELECT tenant_id, id, version, doc FROM "+s.invitations+" WHERE "+after+
		" ORDER BY tenant_id, id LIMIT "+strconv.Itoa(fillInBatch))
	var tenant, id string
	filled := 0
	for {
		var n int
		err := run(ctx, func(ex DBTX) error {
			var args []any
			if s.d == MySQL {
				args = []any{tenant, tenant, id}
			} else {
				args = []any{tenant, id}
			}
			batch, read, err := readNames(ctx, ex, sel, args)
			if err != nil {
				return err
			}
			n = read.n
			if n > 0 {
				tenant, id = read.lastTenant, read.lastID
			}
			if err := s.writeSearchKeys(ctx, ex, batch); err != nil {
				return err
			}
			filled += len(batch)
			return nil
		})
		if err != nil {
			return filled, err
		}
		if n < fillInBatch {
			return filled, nil
		}
	}
}

// batchRead says how many rows a batch read, and the key of the last.
type batchRead struct {
	n                  int
	lastTenant, lastID string
}

// readNames reads a batch of rows and returns those with a name, with
// their keys.
func readNames(ctx context.Context, ex DBTX, sel string, args []any) ([]keyedRow, batchRead, error) {
	rows, err := ex.QueryContext(ctx, sel, args...)
	if err != nil {
		return nil, batchRead{}, err
	}
	defer rows.Close()
	var batch []keyedRow
	var read batchRead
	for rows.Next() {
		var r keyedRow
		var doc string
		if err := rows.Scan(&r.tenantID, &r.id, &r.version, &doc); err != nil {
			return nil, read, err
		}
		read.n++
		read.lastTenant, read.lastID = r.tenantID, r.id
		var names struct {
			Given  string `json:"given_name"`
			Family string `json:"family_name"`
		}
		if err := json.Unmarshal([]byte(doc), &names); err != nil {
			return nil, read, err
		}
		inv := invite.Invitation{GivenName: names.Given, FamilyName: names.Family}
		if full, family := inv.NameKeys(); full != "" {
			r.full, r.family = nullString(full), nullString(family)
			batch = append(batch, r)
		}
	}
	return batch, read, rows.Err()
}

// writeSearchKeys writes a batch's keys: on PostgreSQL in one UPDATE from
// a VALUES list, on MySQL in one UPDATE joined to the rows as a derived
// table (one round trip each), on SQLite a row at a time (no round
// trips). On MySQL, whose batches run outside the migration's lock on the
// table, a row whose version changed since it was read is left alone: a
// process of this version wrote it meanwhile, with its keys.
func (s *Store) writeSearchKeys(ctx context.Context, ex DBTX, batch []keyedRow) error {
	switch {
	case len(batch) == 0:
		return nil
	case s.d == MySQL:
		var q strings.Builder
		q.WriteString("UPDATE " + s.invitations + " AS t JOIN (")
		args := make([]any, 0, 5*len(batch))
		for i, r := range batch {
			if i > 0 {
				q.WriteString(" UNION ALL ")
			}
			q.WriteString("SELECT ? AS tenant_id, ? AS id, ? AS version, ? AS n, ? AS f")
			args = append(args, r.tenantID, r.id, r.version, r.full, r.family)
		}
		q.WriteString(") AS v ON t.tenant_id = v.tenant_id AND t.id = v.id AND t.version = v.version" +
			" SET t.search_name = v.n, t.search_family = v.f")
		_, err := ex.ExecContext(ctx, q.String(), args...)
		return err
	case s.d == Postgres:
		var q strings.Builder
		q.WriteString("UPDATE " + s.invitations + " AS t SET search_name = v.n, search_family = v.f FROM (VALUES ")
		args := make([]any, 0, 4*len(batch))
		for i, r := range batch {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(placeholders(s.dl, 4*i+1, 4, "(", ", ") + ")")
			args = append(args, r.tenantID, r.id, r.full, r.family)
		}
		q.WriteString(") AS v (tenant_id, id, n, f) WHERE t.tenant_id = v.tenant_id AND t.id = v.id")
		_, err := ex.ExecContext(ctx, q.String(), args...)
		return err
	}
	upd := bind(s.dl, "UPDATE "+s.invitations+" SET search_name = ?, search_family = ? WHERE tenant_id = ? AND id = ?")
	for _, r := range batch {
		if _, err := ex.ExecContext(ctx, upd, r.full, r.family, r.tenantID, r.id); err != nil {
			return err
		}
	}
	return nil
}

// runFillIn runs m's fill-in, if it has one: each batch on ex (the
// migration's transaction), or, when ex is nil, in a transaction of its
// own on conn.
func (s *Store) runFillIn(ctx context.Context, ex DBTX, conn *sql.Conn, m migration) error {
	fill := fillIns[m.name]
	if fill == nil {
		return nil
	}
	run := func(ctx context.Context, fn func(ex DBTX) error) error { return fn(ex) }
	if ex == nil {
		run = func(ctx context.Context, fn func(ex DBTX) error) error {
			tx, err := conn.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer func() { _ = tx.Rollback() }() // a no-op after Commit
			if err := fn(tx); err != nil {
				return err
			}
			return tx.Commit()
		}
	}
	start := time.Now()
	n, err := fill(ctx, s, run)
	if err != nil {
		return &MigrationError{Version: m.version, File: m.name, Reason: "filling in the rows written before it", Err: wrap("migrate", err)}
	}
	s.cfg.Logger.InfoContext(ctx, "sqlstore: filled in rows for a migration", "dialect", s.d.String(), "version", m.version,
		"file", m.name, "rows", n, "duration", time.Since(start))
	return nil
}
