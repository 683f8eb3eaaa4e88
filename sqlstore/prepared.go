package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// preparedCache keeps the statements a Store runs prepared, on SQLite, where
// the driver parses and plans a statement's text on every call (a fifth of
// the work of a short write): each distinct text is prepared once on the
// Store's *sql.DB, which then keeps it prepared on every connection that
// runs it. It caches up to maxCachedStatements texts (the fixed
// statements, and the shapes of the batched ones a workload uses); the
// texts after those run unprepared. PostgreSQL's driver caches prepared
// statements itself; MySQL's is not given a cache.
type preparedCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// maxCachedStatements bounds a Store's cache.
const maxCachedStatements = 256

func newPreparedCache(db *sql.DB) *preparedCache {
	return &preparedCache{db: db, m: make(map[string]*sql.Stmt)}
}

// stmt returns the prepared statement of q, or nil when the cache is full
// (q then runs unprepared). An error preparing q is returned, not cached.
//
// inTx says that the caller holds one of the pool's connections in a
// transaction: preparing takes another, which a pool of one connection
// never has, so there q runs unprepared until it is prepared outside a
// transaction. (The Store's own transactions on SQLite run one at a time,
// so a pool of two or more always has a connection for it, soon.)
func (c *preparedCache) stmt(ctx context.Context, q string, inTx bool) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[q]; ok {
		return st, nil
	}
	if len(c.m) >= maxCachedStatements || inTx && c.db.Stats().MaxOpenConnections == 1 {
		return nil, nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.m[q] = st
	return st, nil
}

// close closes the cached statements.
func (c *preparedCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first error
	for q, st := range c.m {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
		delete(c.m, q)
	}
	return first
}

// cachedDB is the Store's *sql.DB running its statements prepared.
type cachedDB struct {
	*sql.DB
	c *preparedCache
}

func (d cachedDB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := d.c.stmt(ctx, q, false)
	if err != nil || st == nil {
		return d.DB.ExecContext(ctx, q, args...)
	}
	return st.ExecContext(ctx, args...)
}

func (d cachedDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := d.c.stmt(ctx, q, false)
	if err != nil || st == nil {
		return d.DB.QueryContext(ctx, q, args...)
	}
	return st.QueryContext(ctx, args...)
}

func (d cachedDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := d.c.stmt(ctx, q, false)
	if err != nil || st == nil {
		return d.DB.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// cachedTx is one of the Store's own transactions running its statements
// prepared (database/sql prepares the cached statement on the
// transaction's connection when it is not prepared there yet).
type cachedTx struct {
	tx *sql.Tx
	c  *preparedCache
}

func (t cachedTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := t.c.stmt(ctx, q, true)
	if err != nil || st == nil {
		return t.tx.ExecContext(ctx, q, args...)
	}
	return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

func (t cachedTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := t.c.stmt(ctx, q, true)
	if err != nil || st == nil {
		return t.tx.QueryContext(ctx, q, args...)
	}
	return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

func (t cachedTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := t.c.stmt(ctx, q, true)
	if err != nil || st == nil {
		return t.tx.QueryRowContext(ctx, q, args...)
	}
	return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}
