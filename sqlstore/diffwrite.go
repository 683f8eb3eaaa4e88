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

// The update of a dialect whose writes set only what changed
// (dialect.setsChangedOnly, SQLite): SQLite rewrites the entries of every
// index on a column an UPDATE sets, changed or not, so an update that sets
// every column pays for a dozen index entries that stay the same. When
// invite.Write.Prev tells which columns a change leaves alone, the update
// sets the version, the document and the other columns, and requires the
// ones it leaves alone to be stored as the new record has them: Prev is a
// hint, never trusted. When that requirement fails (a Prev that is not what
// is stored, a row an older version of this package wrote without a
// column), the write falls back to the update of every column.

// sameColumns is a set of columns of invitationColumns, by index.
type sameColumns uint32

// diffColumn is a column an update may leave alone, and the comparison of
// two records that tells that its value is the same in both.
type diffColumn struct {
	name string
	same func(p, n *invite.Record) bool
}

// diffColumns are the columns of invitationColumns that an update may
// leave alone: all but the primary key, the version and the document,
// which every update writes.
var diffColumns = []diffColumn{
	{"state", func(p, n *invite.Record) bool { return p.Invitation.State == n.Invitation.State }},
	{"email_key", func(p, n *invite.Record) bool { return p.Invitation.Invitee.Email == n.Invitation.Invitee.Email }},
	{"phone_key", func(p, n *invite.Record) bool { return p.Invitation.Invitee.Phone == n.Invitation.Invitee.Phone }},
	{"user_key", func(p, n *invite.Record) bool { return p.Invitation.Invitee.UserID == n.Invitation.Invitee.UserID }},
	{"inviter_id", func(p, n *invite.Record) bool { return p.Invitation.Inviter.ID == n.Invitation.Inviter.ID }},
	{"idempotency_key", func(p, n *invite.Record) bool { return p.Invitation.IdempotencyKey == n.Invitation.IdempotencyKey }},
	{"created_at", func(p, n *invite.Record) bool { return sameTime(p.Invitation.CreatedAt, n.Invitation.CreatedAt) }},
	{"expires_at", func(p, n *invite.Record) bool { return sameTime(p.Invitation.ExpiresAt, n.Invitation.ExpiresAt) }},
	{"closed_at", func(p, n *invite.Record) bool { return sameTime(p.Invitation.ClosedAt, n.Invitation.ClosedAt) }},
	{"token_hash", func(p, n *invite.Record) bool { return p.Credentials.TokenHash == n.Credentials.TokenHash }},
	{"prev_tokens", func(p, n *invite.Record) bool {
		return slices.EqualFunc(p.Credentials.PreviousTokens, n.Credentials.PreviousTokens, func(a, b invite.PreviousToken) bool {
			return a.Hash == b.Hash && sameTime(a.ExpiresAt, b.ExpiresAt)
		})
	}},
	{"code_hash", func(p, n *invite.Record) bool { return bytes.Equal(p.Credentials.CodeHash, n.Credentials.CodeHash) }},
	{"code_failures", func(p, n *invite.Record) bool { return p.Credentials.CodeFailures == n.Credentials.CodeFailures }},
	{"request_digest", func(p, n *invite.Record) bool {
		return bytes.Equal(p.Credentials.RequestDigest, n.Credentials.RequestDigest)
	}},
	{"search_name", func(p, n *invite.Record) bool {
		return p.Invitation.GivenName == n.Invitation.GivenName && p.Invitation.FamilyName == n.Invitation.FamilyName
	}},
	{"search_family", func(p, n *invite.Record) bool { return p.Invitation.FamilyName == n.Invitation.FamilyName }},
}

// diffIndex holds the index in invitationColumns of each of diffColumns;
// tokenColumns are the columns the tokens table's rows follow.
var (
	diffIndex    = columnIndexes(diffColumns)
	tokenColumns = sameColumns(1)<<slices.Index(invitationColumns, "token_hash") |
		sameColumns(1)<<slices.Index(invitationColumns, "prev_tokens")
)

func columnIndexes(cs []diffColumn) []int {
	out := make([]int, len(cs))
	for i, c := range cs {
		out[i] = slices.Index(invitationColumns, c.name)
		if out[i] < 0 || out[i] >= 32 {
			panic("sqlstore: diffColumns names " + c.name + ", which invitationColumns lacks")
		}
	}
	return out
}

// sameTime reports whether a and b are stored alike (in UTC, to the
// microsecond).
func sameTime(a, b time.Time) bool { return utc(a).Equal(utc(b)) }

// unchanged returns the columns whose values prev and next share.
func unchanged(prev, next *invite.Record) sameColumns {
	var same sameColumns
	for i, c := range diffColumns {
		if c.same(prev, next) {
			same |= 1 << diffIndex[i]
		}
	}
	return same
}

// diffStatements holds the text of the updates by the columns they leave
// alone, up to maxCachedStatements of them (the edits a workload makes
// change a handful of column sets; the texts after those are built on each
// call); a Store and the Stores WithTx makes from it share one.
type diffStatements struct {
	m sync.Map // sameColumns -> string
	n atomic.Int32
}

// diffUpdate returns the update of w, of the values vals (in the order of
// invitationColumns), that leaves w.same alone, and its arguments: the
// values of the columns it sets, the key and expected version, then the
// values the columns it leaves alone must hold.
func (s *Store) diffUpdate(w *write, vals []any) (string, []any) {
	args := make([]any, 0, len(vals)+1)
	for i := 2; i < len(vals); i++ {
		if w.same&(1<<i) == 0 {
			args = append(args, vals[i])
		}
	}
	args = append(args, w.row.tenantID, w.row.id, w.expect)
	for i := 2; i < len(vals); i++ {
		if w.same&(1<<i) != 0 {
			args = append(args, vals[i])
		}
	}
	if q, ok := s.diffs.m.Load(w.same); ok {
		return q.(string), args
	}
	var set, guard []string
	for i, c := range invitationColumns[2:] {
		if w.same&(1<<(i+2)) == 0 {
			set = append(set, c+" = ?")
		} else {
			guard = append(guard, " AND "+c+" "+s.dl.nullSafeEqual()+" ?")
		}
	}
	q := bind(s.dl, "UPDATE "+s.invitations+" SET "+strings.Join(set, ", ")+
		" WHERE tenant_id = ? AND id = ? AND version = ?"+strings.Join(guard, ""))
	if s.diffs.n.Load() < maxCachedStatements {
		if _, loaded := s.diffs.m.LoadOrStore(w.same, q); !loaded {
			s.diffs.n.Add(1)
		}
	}
	return q, args
}

// diffWrite runs the update of w that leaves w.same alone (see
// diffUpdate), then brings the token rows in line when the token columns
// changed. An update that matches no row at the expected version falls
// back to the update of every column (rewrite).
func (s *Store) diffWrite(ctx context.Context, ex DBTX, w *write, vals []any) error {
	q, args := s.diffUpdate(w, vals)
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
	if w.same&tokenColumns == tokenColumns {
		return nil // stored as they were: the token rows are right
	}
	if err := s.deleteTokens(ctx, ex, w); err != nil {
		return err
	}
	return s.insertTokens(ctx, ex, w)
}
