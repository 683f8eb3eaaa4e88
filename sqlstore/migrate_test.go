package sqlstore_test

import (
	"context"
	"database/sql"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/sqlstore"
)

// countingHandler counts the "applied migration" records logged.
type countingHandler struct {
	slog.Handler
	applied *atomic.Int64
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "sqlstore: applied migration" {
		h.applied.Add(1)
	}
	return nil
}

// freshStore returns an unmigrated Store on be (a new SQLite file, or a new
// prefix on the server) and its database.
func (be backend) freshStore(t *testing.T, cfg sqlstore.Config) (*sqlstore.Store, *sql.DB) {
	t.Helper()
	db := be.db(t)
	cfg.Dialect = be.dialect
	if cfg.TablePrefix == "" {
		cfg.TablePrefix = uniquePrefix(t)
	}
	if be.server {
		t.Cleanup(func() { dropTables(t, db, be.dialect, cfg.TablePrefix) })
	}
	st, err := sqlstore.New(db, cfg)
	require.NoError(t, err)
	return st, db
}

func TestMigrate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()

		t.Run("Idempotent", func(t *testing.T) {
			applied := &atomic.Int64{}
			st, db := be.freshStore(t, sqlstore.Config{Logger: slog.New(countingHandler{slog.DiscardHandler, applied})})
			for range 3 {
				require.NoError(t, st.Migrate(ctx))
			}
			n := embeddedCount(t, be.dialect)
			require.EqualValues(t, n, applied.Load(), "migrations applied")
			require.Equal(t, n, countRows(t, db, be.dialect, st.TablePrefix()+"schema_migrations", ""))
			m := manager(t, st)
			res := create(t, m, "migrated@example.com")
			_, err := m.Accept(ctx, res.Token.Reveal(), invite.AcceptInput{Subject: "s"})
			require.NoError(t, err)
		})

		t.Run("Concurrent", func(t *testing.T) {
			// Eight replicas start at once on an empty database.
			applied := &atomic.Int64{}
			cfg := sqlstore.Config{Logger: slog.New(countingHandler{slog.DiscardHandler, applied}), TablePrefix: uniquePrefix(t)}
			first, db := be.freshStore(t, cfg)
			stores := []*sqlstore.Store{first}
			for range 7 {
				cfg.Dialect = be.dialect
				st, err := sqlstore.New(db, cfg)
				require.NoError(t, err)
				stores = append(stores, st)
			}
			errs := make([]error, len(stores))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, st := range stores {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					errs[i] = st.Migrate(ctx)
				}()
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				require.NoError(t, err, "Migrate of replica %d", i)
			}
			n := embeddedCount(t, be.dialect)
			require.EqualValues(t, n, applied.Load(), "migrations applied across the replicas")
			require.Equal(t, n, countRows(t, db, be.dialect, first.TablePrefix()+"schema_migrations", ""))
			create(t, manager(t, stores[7]), "concurrent@example.com")
		})

		// Numbering problems fail before any statement: not even the
		// schema_migrations table is created.
		for _, tc := range []struct {
			name  string
			files fstest.MapFS
			want  string
		}{
			{"Gap", fstest.MapFS{"0001_a.sql": sqlFile("CREATE TABLE {{prefix}}a (x INT);"),
				"0003_c.sql": sqlFile("CREATE TABLE {{prefix}}c (x INT);")}, "gap"},
			{"Duplicate", fstest.MapFS{"0001_a.sql": sqlFile("CREATE TABLE {{prefix}}a (x INT);"),
				"0001_b.sql": sqlFile("CREATE TABLE {{prefix}}b (x INT);")}, "same number"},
			{"NotFromOne", fstest.MapFS{"0002_a.sql": sqlFile("CREATE TABLE {{prefix}}a (x INT);")}, "gap"},
			{"BadName", fstest.MapFS{"0001_a.sql": sqlFile("CREATE TABLE {{prefix}}a (x INT);"),
				"init.sql": sqlFile("CREATE TABLE {{prefix}}i (x INT);")}, "NNNN_name.sql"},
			{"Empty", fstest.MapFS{"0001_a.sql": sqlFile("-- nothing\n")}, "no statement"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st, db := be.freshStore(t, sqlstore.Config{})
				sqlstore.SetMigrationFS(st, tc.files)
				err := st.Migrate(ctx)
				var me *sqlstore.MigrationError
				require.ErrorAs(t, err, &me)
				require.Contains(t, err.Error(), tc.want)
				_, err = db.ExecContext(ctx, "SELECT version FROM "+st.TablePrefix()+"schema_migrations")
				require.Error(t, err, "schema_migrations exists: Migrate ran a statement before checking the numbering")
			})
		}

		t.Run("AppliedMigrationChanged", func(t *testing.T) {
			st, _ := be.freshStore(t, sqlstore.Config{})
			files := fstest.MapFS{"0001_a.sql": sqlFile("CREATE TABLE {{prefix}}users (x INT);")}
			sqlstore.SetMigrationFS(st, files)
			require.NoError(t, st.Migrate(ctx))
			files["0001_a.sql"] = sqlFile("CREATE TABLE {{prefix}}users (x INT, y INT);")
			var me *sqlstore.MigrationError
			require.ErrorAs(t, st.Migrate(ctx), &me)
			require.Equal(t, 1, me.Version)
			require.Contains(t, me.Error(), "other content")
		})

		t.Run("NewMigrationApplied", func(t *testing.T) {
			st, db := be.freshStore(t, sqlstore.Config{})
			files := fstest.MapFS{"0001_a.sql": sqlFile("CREATE TABLE {{prefix}}users (x INT);")}
			sqlstore.SetMigrationFS(st, files)
			require.NoError(t, st.Migrate(ctx))
			files["0002_b.sql"] = sqlFile("CREATE TABLE {{prefix}}outbox (x INT);\nINSERT INTO {{prefix}}outbox (x) VALUES (7);")
			require.NoError(t, st.Migrate(ctx))
			require.Equal(t, 1, countRows(t, db, be.dialect, st.TablePrefix()+"outbox", "x = 7"))
			require.Equal(t, 2, countRows(t, db, be.dialect, st.TablePrefix()+"schema_migrations", ""))
		})

		if be.dialect != sqlstore.MySQL {
			t.Run("FailedMigrationLeavesNothing", func(t *testing.T) {
				// DDL is transactional here: a failing statement undoes the
				// statements before it, and the migration is not recorded.
				st, db := be.freshStore(t, sqlstore.Config{})
				sqlstore.SetMigrationFS(st, fstest.MapFS{
					"0001_a.sql": sqlFile("CREATE TABLE {{prefix}}users (x INT);"),
					"0002_b.sql": sqlFile("CREATE TABLE {{prefix}}outbox (x INT);\nINSERT INTO {{prefix}}no_such_table (x) VALUES (1);"),
				})
				var me *sqlstore.MigrationError
				require.ErrorAs(t, st.Migrate(ctx), &me)
				require.Equal(t, 2, me.Version)
				require.Contains(t, me.Error(), "statement 2")
				require.Equal(t, 1, countRows(t, db, be.dialect, st.TablePrefix()+"schema_migrations", ""))
				_, err := db.ExecContext(ctx, "SELECT x FROM "+st.TablePrefix()+"outbox")
				require.Error(t, err, "the first statement of the failed migration was kept")
			})
		}
	})
}

// embeddedCount returns the number of embedded migrations of d.
func embeddedCount(t *testing.T, d sqlstore.Dialect) int {
	t.Helper()
	entries, err := fs.ReadDir(sqlstore.EmbeddedMigrations(d), ".")
	require.NoError(t, err)
	return len(entries)
}

func sqlFile(body string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("-- test migration\n" + body + "\n")}
}

// TestEmbeddedMigrations checks the shipped migrations: numbered from 1
// without a gap, each starting with a comment that says what it does.
func TestEmbeddedMigrations(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.Postgres, sqlstore.SQLite, sqlstore.MySQL} {
		fsys := sqlstore.EmbeddedMigrations(d)
		entries, err := fs.ReadDir(fsys, ".")
		require.NoError(t, err)
		require.NotEmpty(t, entries, "%s has no migration", d)
		for _, e := range entries {
			body, err := fs.ReadFile(fsys, e.Name())
			require.NoError(t, err)
			first, _, _ := strings.Cut(string(body), "\n")
			require.True(t, strings.HasPrefix(first, "-- "+strings.TrimSuffix(e.Name(), ".sql")+":"),
				"%s/%s must start with a comment naming it and saying what it does", d, e.Name())
		}
	}
}

// TestTablesNamesEveryTable holds Store.Tables to what Migrate creates:
// after a migration, the database has exactly those tables of the prefix,
// and once they are dropped, none is left.
func TestTablesNamesEveryTable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		st, db := be.freshStore(t, sqlstore.Config{})
		require.NoError(t, st.Migrate(t.Context()))
		require.ElementsMatch(t, st.Tables(), tablesOf(t, db, be.dialect, st.TablePrefix()))
		for _, table := range st.Tables() {
			_, err := db.ExecContext(t.Context(), "DROP TABLE "+table)
			require.NoError(t, err)
		}
		require.Empty(t, tablesOf(t, db, be.dialect, st.TablePrefix()))
	})
}

// tablesOf lists the tables of the database whose names start with prefix.
func tablesOf(t *testing.T, db *sql.DB, d sqlstore.Dialect, prefix string) []string {
	t.Helper()
	q := "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name LIKE $1"
	switch d {
	case sqlstore.SQLite:
		q = "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?"
	case sqlstore.MySQL:
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE ?"
	}
	// The prefix holds only a-z, 0-9 and _; _ is LIKE's one-character
	// wildcard, close enough here: a stray match would fail the test.
	rows, err := db.QueryContext(t.Context(), q, prefix+"%")
	require.NoError(t, err)
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(t, rows.Err())
	return names
}
