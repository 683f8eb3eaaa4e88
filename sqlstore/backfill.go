package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"time"

	"github.com/invitekit/invite"
)

// fillIns complete migrations with what SQL cannot compute, by the
// migration's file name: Migrate runs one after the migration's
// statements and before it records the migration, in the migration's
// transaction on PostgreSQL and SQLite, under the migration lock on MySQL
// (where a fill-in that fails is run again, whole, by the next Migrate). A
// fill-in must be safe to run again over rows it already filled.
var fillIns = map[string]func(ctx context.Context, s *Store, ex DBTX) (int, error){
	"0005_search_keys.sql": fillSearchKeys,
}

// fillInBatch is the number of rows a fill-in reads at a time (a
// variable for the tests).
var fillInBatch = 500

// fillSearchKeys sets search_name and search_family (0005_search_keys) on
// every invitation row from its document's names, in primary-key order,
// a batch at a time. It returns the number of rows it wrote.
func fillSearchKeys(ctx context.Context, s *Store, ex DBTX) (int, error) {
	sel := bind(s.dl, "SELECT tenant_id, id, doc FROM "+s.invitations+
		" WHERE tenant_id > ? OR (tenant_id = ? AND id > ?) ORDER BY tenant_id, id LIMIT "+strconv.Itoa(fillInBatch))
	upd := bind(s.dl, "UPDATE "+s.invitations+" SET search_name = ?, search_family = ? WHERE tenant_id = ? AND id = ?")
	type named struct {
		tenantID, id string
		full, family any
	}
	var tenant, id string
	filled := 0
	for {
		rows, err := ex.QueryContext(ctx, sel, tenant, tenant, id)
		if err != nil {
			return filled, err
		}
		var batch []named
		n := 0
		for rows.Next() {
			var doc string
			if err := rows.Scan(&tenant, &id, &doc); err != nil {
				rows.Close()
				return filled, err
			}
			n++
			var names struct {
				Given  string `json:"given_name"`
				Family string `json:"family_name"`
			}
			if err := json.Unmarshal([]byte(doc), &names); err != nil {
				rows.Close()
				return filled, err
			}
			inv := invite.Invitation{GivenName: names.Given, FamilyName: names.Family}
			if full, family := inv.NameKeys(); full != "" {
				batch = append(batch, named{tenant, id, nullString(full), nullString(family)})
			}
		}
		if err := rows.Close(); err != nil {
			return filled, err
		}
		if err := rows.Err(); err != nil {
			return filled, err
		}
		for _, r := range batch {
			if _, err := ex.ExecContext(ctx, upd, r.full, r.family, r.tenantID, r.id); err != nil {
				return filled, err
			}
		}
		filled += len(batch)
		if n < fillInBatch {
			return filled, nil
		}
	}
}

// runFillIn runs m's fill-in, if it has one, on ex.
func (s *Store) runFillIn(ctx context.Context, ex DBTX, m migration) error {
	fill := fillIns[m.name]
	if fill == nil {
		return nil
	}
	start := time.Now()
	n, err := fill(ctx, s, ex)
	if err != nil {
		return &MigrationError{Version: m.version, File: m.name, Reason: "filling in the rows written before it", Err: wrap("migrate", err)}
	}
	s.cfg.Logger.InfoContext(ctx, "sqlstore: filled in rows for a migration", "dialect", s.d.String(), "version", m.version,
		"file", m.name, "rows", n, "duration", time.Since(start))
	return nil
}

// fillInTx runs m's fill-in, if it has one, in a transaction of its own on
// conn (MySQL, whose migrations run outside transactions).
func (s *Store) fillInTx(ctx context.Context, conn *sql.Conn, m migration) error {
	if fillIns[m.name] == nil {
		return nil
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return &MigrationError{Version: m.version, File: m.name, Reason: "beginning a transaction", Err: wrap("migrate", err)}
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	if err := s.runFillIn(ctx, tx, m); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return &MigrationError{Version: m.version, File: m.name, Reason: "committing the fill-in", Err: wrap("migrate", err)}
	}
	return nil
}
