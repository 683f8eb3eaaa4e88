package sqlstore

import (
	"sync"
	"sync/atomic"
)

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

// statement returns the text of the statement of shape sh on s's tables.
func (pg *postgres) statement(s *Store, sh pgShape) string {
	c := pg.stmts
	if m := c.m.Load(); m != nil {
		if q, ok := (*m)[sh]; ok {
			return q
		}
	}
	q := pg.build(s, sh)
	if sh.hashes > maxCachedCount || sh.events > maxCachedCount || sh.delivered > maxCachedCount {
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
