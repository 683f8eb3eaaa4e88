package sqlstore

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/invitekit/invite"
)

// The update of txWrite (SQLite, MySQL): it sets the version, the document
// and the columns that may have changed, and requires the others (its
// "same" columns) to be stored as the new record has them. When that
// requirement fails at the expected version, it falls back to the update
// of every column. Which columns are the same is only ever a guess:
//
//   - given invite.Write.Prev, on a dialect that sets only what changed
//     (SQLite, which rewrites the entries of every index on a column an
//     UPDATE sets, changed or not), the columns whose values Prev and the
//     new record share (unchanged);
//   - otherwise the token columns, unless the write rotates the tokens,
//     and the dialect's keptColumns (the columns an update practically
//     never changes).
//
// When the token columns are among the same ones, the token rows are left
// alone; otherwise they are rewritten.

// sameColumns is a set of columns of invitationColumns, by index.
type sameColumns uint32

// column returns the set of the named column of invitationColumns.
func column(name string) sameColumns {
	i := slices.Index(invitationColumns, name)
	if i < 0 || i >= 32 {
		panic("sqlstore: no column " + name)
	}
	return 1 << i
}

var (
	// tokenColumns are the columns the tokens table's rows follow.
	tokenColumns = column("token_hash") | column("prev_tokens")
	// alwaysSet are the columns every update sets: the version and the
	// document (the key is never set).
	alwaysSet = column("tenant_id") | column("id") | column("version") | column("doc")
)

// keptColumns returns the same columns of an update without Prev: the
// token columns, unless rotated, and the dialect's keptColumns.
func (s *Store) keptColumns(rotated bool) sameColumns {
	if rotated {
		return s.q.kept
	}
	return s.q.kept | tokenColumns
}

// unchanged returns the columns whose stored values prev and the row next
// share (none when prev cannot be encoded).
func unchanged(dl dialect, prev *invite.Record, next *row) sameColumns {
	p, ferrs := encodeColumns(dl, &prev.Invitation, &prev.Credentials)
	if len(ferrs) > 0 {
		return 0
	}
	var same sameColumns
	pv, nv := p.values(), next.values()
	for i := range pv {
		if alwaysSet&(1<<i) == 0 && sameValue(pv[i], nv[i]) {
			same |= 1 << i
		}
	}
	return same
}

// sameValue reports whether two column values are equal.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	}
	return a == b
}

// diffStatements holds the text of the updates by their same columns, up
// to maxCachedStatements of them (the edits a workload makes change a
// handful of column sets; the texts after those are built on each call);
// a Store and the Stores WithTx makes from it share one.
type diffStatements struct {
	m sync.Map // sameColumns -> string
	n atomic.Int32
}

// diffUpdate returns the update of w, of the values vals (in the order of
// invitationColumns), that leaves same alone, and its arguments: the
// values of the columns it sets, the key and expected version, then the
// values the columns it leaves alone must hold.
func (s *Store) diffUpdate(w *write, same sameColumns, vals []any) (string, []any) {
	args := make([]any, 0, len(vals)+1)
	for i := 2; i < len(vals); i++ {
		if same&(1<<i) == 0 {
			args = append(args, vals[i])
		}
	}
	args = append(args, w.row.tenantID, w.row.id, w.expect)
	for i := 2; i < len(vals); i++ {
		if same&(1<<i) != 0 {
			args = append(args, vals[i])
		}
	}
	if q, ok := s.diffs.m.Load(same); ok {
		return q.(string), args
	}
	var set, guard []string
	for i, c := range invitationColumns[2:] {
		if same&(1<<(i+2)) == 0 {
			set = append(set, c+" = ?")
		} else {
			guard = append(guard, " AND "+c+" "+s.dl.nullSafeEqual()+" ?")
		}
	}
	q := bind(s.dl, "UPDATE "+s.invitations+" SET "+strings.Join(set, ", ")+
		" WHERE tenant_id = ? AND id = ? AND version = ?"+strings.Join(guard, ""))
	if s.diffs.n.Load() < maxCachedStatements {
		if _, loaded := s.diffs.m.LoadOrStore(same, q); !loaded {
			s.diffs.n.Add(1)
		}
	}
	return q, args
}

// diffWrite runs the update of w that leaves same alone (see diffUpdate),
// then brings the token rows in line when the token columns may have
// changed. An update that matches no row at the expected version falls
// back to the update of every column (rewrite).
func (s *Store) diffWrite(ctx context.Context, ex DBTX, w *write, same sameColumns, vals []any) error {
	q, args := s.diffUpdate(w, same, vals)
	n, err := affected(ex.ExecContext(ctx, q, args...))
	if err != nil {
		return wrap(w.op(), err)
	}
	if n == 0 {
		if v, err := s.storedVersion(ctx, ex, w); err != nil {
			return err
		} else if v != w.expect {
			return s.conflict(w, v)
		}
		return s.rewrite(ctx, ex, w, vals)
	}
	if same&tokenColumns == tokenColumns {
		return nil // stored as they were: the token rows are right
	}
	if err := s.deleteTokens(ctx, ex, w); err != nil {
		return err
	}
	return s.insertTokens(ctx, ex, w)
}
