package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"
)

// TestPreparedCache checks the SQLite Store's statement cache: statements
// run prepared, in and out of its transactions, up to the bound, and the
// texts past it and the ones that fail to prepare still run (and fail) as
// they would unprepared.
func TestPreparedCache(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "p.db")+"?_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	s, err := New(db, Config{Dialect: SQLite})
	require.NoError(t, err)
	require.NotNil(t, s.stmts, "a Store on a *sql.DB keeps its statements prepared")
	require.NoError(t, s.Migrate(ctx))
	cached := len(s.stmts.m)

	_, err = s.db.ExecContext(ctx, "CREATE TABLE t (n INTEGER)")
	require.NoError(t, err)
	for i := range maxCachedStatements + 10 {
		_, err := s.db.ExecContext(ctx, "INSERT INTO t (n) VALUES ("+strconv.Itoa(i)+")")
		require.NoError(t, err)
	}
	require.Len(t, s.stmts.m, maxCachedStatements, "bounded")
	require.Greater(t, maxCachedStatements, cached, "the migration's statements leave room")

	// Past the bound, and inside the Store's own transaction.
	var n int
	require.NoError(t, s.atomically(ctx, "test", func(ex DBTX) error {
		if _, err := ex.ExecContext(ctx, "INSERT INTO t (n) VALUES (?)", -1); err != nil {
			return err
		}
		return ex.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n)
	}))
	require.Equal(t, maxCachedStatements+11, n)

	// A statement that does not prepare fails as it would unprepared, and
	// is not cached.
	require.NoError(t, s.stmts.close())
	_, err = s.db.ExecContext(ctx, "INSERT INTO missing (n) VALUES (1)")
	require.ErrorContains(t, err, "no such table")
	require.Empty(t, s.stmts.m)
	rows, err := s.db.QueryContext(ctx, "SELECT n FROM t WHERE n = ?", -1)
	require.NoError(t, err)
	require.True(t, rows.Next())
	require.NoError(t, rows.Close())
	require.Len(t, s.stmts.m, 1)

	// A Store on a host's transaction runs the host's statements as given.
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, isTx := s.WithTx(tx).db.(*sql.Tx)
	require.True(t, isTx)
}
