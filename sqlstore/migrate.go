package sqlstore

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"
)

// migrations holds the schema of each dialect as numbered files,
// migrations/<dialect>/NNNN_name.sql. Each file starts with a comment
// saying what it does. Its statements are separated by a semicolon at the
// end of a line; lines starting with -- are comments; {{prefix}} stands for
// Config.TablePrefix.
//
//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql migrations/mysql/*.sql
var migrations embed.FS

func dialectMigrations(d Dialect) fs.FS {
	sub, err := fs.Sub(migrations, "migrations/"+d.String())
	if err != nil {
		panic("sqlstore: embedded migrations: " + err.Error()) // the embed pattern guarantees the directory
	}
	return sub
}

// migration is one numbered migration file.
type migration struct {
	version    int
	name       string // the file name
	checksum   string // hex SHA-256 of the file
	statements []string
}

// MigrationError reports a migration that failed, or a set of migrations
// that cannot be applied: a gap or a duplicate in the numbering, a file
// whose name is not NNNN_name.sql, or an applied migration whose file has
// changed since. It wraps the database's error, if any.
type MigrationError struct {
	// Version is the migration's number (0 when the problem is the set).
	Version int
	// File is the migration's file name ("" when the problem is the set).
	File string
	// Reason says what is wrong.
	Reason string
	// Err is the underlying error, or nil.
	Err error
}

func (e *MigrationError) Error() string {
	var b strings.Builder
	b.WriteString("sqlstore: migrate")
	if e.File != "" {
		b.WriteString(" " + e.File)
	}
	b.WriteString(": " + e.Reason)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *MigrationError) Unwrap() error { return e.Err }

// loadMigrations reads and checks the migrations of fsys's root: files
// named NNNN_name.sql (other files are an error), numbered 1, 2, 3, ...
// without a gap or a duplicate, each holding at least one statement.
func loadMigrations(fsys fs.FS, prefix string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, &MigrationError{Reason: "reading the migrations", Err: err}
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		num, rest, ok := strings.Cut(name, "_")
		v, convErr := strconv.Atoi(num)
		if !ok || convErr != nil || v < 1 || num[0] == '+' || !strings.HasSuffix(rest, ".sql") || len(rest) <= len(".sql") {
			return nil, &MigrationError{File: name, Reason: "is not named NNNN_name.sql with NNNN a positive number"}
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, &MigrationError{Version: v, File: name, Reason: "reading the file", Err: err}
		}
		sum := sha256.Sum256(body)
		stmts := splitStatements(strings.ReplaceAll(string(body), "{{prefix}}", prefix))
		if len(stmts) == 0 {
			return nil, &MigrationError{Version: v, File: name, Reason: "holds no statement"}
		}
		ms = append(ms, migration{version: v, name: name, checksum: hex.EncodeToString(sum[:]), statements: stmts})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		switch {
		case i > 0 && m.version == ms[i-1].version:
			return nil, &MigrationError{Version: m.version, File: m.name,
				Reason: "has the same number as " + ms[i-1].name}
		case m.version != i+1:
			return nil, &MigrationError{Version: m.version, File: m.name,
				Reason: "leaves a gap: migration " + strconv.Itoa(i+1) + " is missing"}
		}
	}
	return ms, nil
}

// splitStatements splits a migration into its statements: a statement ends
// with a semicolon at the end of a line; whole-line -- comments and blank
// lines are dropped.
func splitStatements(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(strings.TrimRight(line, " \t\r"))
		cur.WriteString("\n")
		if strings.HasSuffix(t, ";") {
			stmt := strings.TrimSpace(cur.String())
			out = append(out, strings.TrimSpace(strings.TrimSuffix(stmt, ";")))
			cur.Reset()
		}
	}
	if rest := strings.TrimSpace(cur.String()); rest != "" {
		out = append(out, rest)
	}
	return out
}

// Migrate creates or updates the Store's tables: it applies, in order, every
// embedded migration of the dialect that the database has not recorded in
// <prefix>schema_migrations, and records each. It is idempotent (a
// database that is up to date costs two statements), and safe when several
// processes call it at once against one database: each migration is applied
// exactly once, and every caller returns when the schema is complete.
//
//   - PostgreSQL and SQLite: each migration runs in a transaction that
//     first inserts its row into schema_migrations. A concurrent migrator
//     inserting the same row waits for that transaction, then finds the row
//     taken (a unique violation) and moves on: DDL is transactional there,
//     so a migration is applied whole or not at all. No advisory lock is
//     used. On SQLite the database must be opened with a busy timeout (see
//     the package documentation).
//   - MySQL and MariaDB: DDL commits implicitly, so Migrate holds the named
//     lock GET_LOCK('invite:<hash of database and prefix>') on a dedicated
//     connection while it applies migrations, waiting up to
//     Config.MigrationLockTimeout for it. Every statement of the MySQL
//     migrations is written to be re-run safely (CREATE TABLE IF NOT
//     EXISTS), so a migration interrupted half-way is completed by the next
//     Migrate.
//
// Migrate fails fast, before any statement, on a gap or a duplicate in the
// numbering, and when an applied migration's file has changed (its SHA-256
// is recorded): a *MigrationError. Migrations recorded by a newer version
// of this package, beyond the embedded ones, are left alone. Migrate needs
// the *sql.DB or *sql.Conn the Store was created with: it refuses to run on
// a Store bound to a transaction (WithTx).
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := loadMigrations(s.migrationFS, s.cfg.TablePrefix)
	if err != nil {
		return err
	}
	if s.begin == nil {
		return &MigrationError{Reason: "needs the Store's *sql.DB or *sql.Conn, not a transaction"}
	}
	return s.dl.migrate(ctx, s, ms)
}

// migrateInTx applies the missing migrations, each in a transaction whose
// first statement claims its row in schema_migrations (PostgreSQL, SQLite:
// DDL is transactional there).
func (s *Store) migrateInTx(ctx context.Context, ms []migration) error {
	if err := s.createMigrationsTable(ctx); err != nil {
		return err
	}
	applied, err := s.appliedMigrations(ctx, s.db, ms)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if _, ok := applied[m.version]; ok {
			continue
		}
		if err := s.applyTransactional(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// createMigrationsTable creates schema_migrations when it is missing, in a
// transaction of its own: SQLite then takes its write lock at BEGIN, where
// the busy timeout applies (a bare CREATE TABLE racing another
// connection's DDL may fail at once with SQLITE_BUSY). PostgreSQL's CREATE
// TABLE IF NOT EXISTS is not safe against a concurrent twin either (it may
// fail with 23505, 42P07 or 42710): the loser tries again, and then finds
// the table.
func (s *Store) createMigrationsTable(ctx context.Context) error {
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		err = s.atomically(ctx, "migrate", func(tx DBTX) error {
			_, err := tx.ExecContext(ctx, s.dl.migrationsTable(s.migrations))
			return err
		})
		if err == nil {
			return nil
		}
		var st sqlStater
		var sc sqliteCoder
		raced := (errors.As(err, &st) && (st.SQLState() == "23505" || st.SQLState() == "42P07" || st.SQLState() == "42710")) ||
			(errors.As(err, &sc) && sc.Code()&0xFF == sqliteBusy)
		if !raced || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
		}
	}
	return &MigrationError{Reason: "creating " + s.migrations, Err: wrap("migrate", err)}
}

// appliedMigrations returns the recorded migrations by version, with their
// checksums, and fails when a recorded checksum differs from the embedded
// migration's.
func (s *Store) appliedMigrations(ctx context.Context, ex DBTX, ms []migration) (map[int]string, error) {
	rows, err := ex.QueryContext(ctx, "SELECT version, checksum FROM "+s.migrations)
	if err != nil {
		return nil, &MigrationError{Reason: "reading " + s.migrations, Err: wrap("migrate", err)}
	}
	defer rows.Close()
	applied := map[int]string{}
	for rows.Next() {
		var v int
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, &MigrationError{Reason: "reading " + s.migrations, Err: wrap("migrate", err)}
		}
		applied[v] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, &MigrationError{Reason: "reading " + s.migrations, Err: wrap("migrate", err)}
	}
	for _, m := range ms {
		if sum, ok := applied[m.version]; ok && sum != m.checksum {
			return nil, &MigrationError{Version: m.version, File: m.name,
				Reason: "was applied with other content (checksum " + sum + "); applied migrations must not change"}
		}
	}
	return applied, nil
}

// recordMigration is the INSERT of m's row into schema_migrations.
func (s *Store) recordMigration(ctx context.Context, ex DBTX, m migration) error {
	q := bind(s.dl, "INSERT INTO "+s.migrations+" (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)")
	_, err := ex.ExecContext(ctx, q, m.version, m.name, m.checksum, s.dl.timeValue(time.Now()))
	return err
}

// applyTransactional applies m in one transaction whose first statement
// claims m's row in schema_migrations (PostgreSQL, SQLite).
func (s *Store) applyTransactional(ctx context.Context, m migration) error {
	start := time.Now()
	release, err := s.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer release()
	tx, err := s.begin.BeginTx(ctx, nil)
	if err != nil {
		return &MigrationError{Version: m.version, File: m.name, Reason: "beginning a transaction", Err: wrap("migrate", err)}
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	if err := s.recordMigration(ctx, tx, m); err != nil {
		if isUniqueViolation(err) {
			return nil // applied by a concurrent migrator, which committed first
		}
		return &MigrationError{Version: m.version, File: m.name, Reason: "recording the migration", Err: wrap("migrate", err)}
	}
	for i, stmt := range m.statements {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return &MigrationError{Version: m.version, File: m.name,
				Reason: "statement " + strconv.Itoa(i+1) + " failed (nothing of the migration was applied)", Err: wrap("migrate", err)}
		}
	}
	if err := s.runFillIn(ctx, tx, nil, m); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		if isUniqueViolation(err) {
			return nil
		}
		return &MigrationError{Version: m.version, File: m.name, Reason: "committing", Err: wrap("migrate", err)}
	}
	s.logMigration(ctx, m, start)
	return nil
}

// logMigration logs that m, begun at start, was applied.
func (s *Store) logMigration(ctx context.Context, m migration, start time.Time) {
	s.cfg.Logger.InfoContext(ctx, "sqlstore: applied migration", "dialect", s.d.String(), "version", m.version,
		"file", m.name, "prefix", s.cfg.TablePrefix, "duration", time.Since(start))
}
