// Package memstore is an in-memory invite.Store: for tests, prototypes and
// single-process hosts that can lose their invitations on restart.
//
// Lookups by id, token hash, idempotency key and open invitee key are O(1)
// (hash maps); List seeks its cursor by binary search in a per-tenant slice
// ordered by (CreatedAt, ID). Tenants are spread over 64 shards, each with its
// own lock, and the token index has 64 shards of its own, so unrelated tenants never
// contend. Every record going in or out is deep-copied: a caller can never
// change stored state through a value it holds. Events in a batch are not
// kept (memstore has no outbox); the Manager hands them to its EventSink.
package memstore

import (
	"context"
	"hash/maphash"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/invitekit/invite"
)

const shardCount = 64

// Store is the in-memory store. The zero value is not usable; call New.
type Store struct {
	seed   maphash.Seed
	shards [shardCount]shard
	// tokens maps every current and previous token hash to its record,
	// sharded by the hash's first byte.
	tokens [shardCount]tokenShard
}

type shard struct {
	mu      sync.RWMutex
	tenants map[string]*tenant
}

type tokenShard struct {
	mu sync.RWMutex
	m  map[invite.TokenHash]ref
}

type ref struct{ tenantID, id string }

type tenant struct {
	byID map[string]*invite.Record
	// open maps the invitee keys of records whose stored state is open.
	open map[string]string
	// idem maps idempotency keys.
	idem map[string]string
	// order holds the records sorted by (CreatedAt, ID).
	order []*invite.Record
}

var _ invite.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	s := &Store{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].tenants = make(map[string]*tenant)
		s.tokens[i].m = make(map[invite.TokenHash]ref)
	}
	return s
}

func (s *Store) shardIndex(tenantID string) int {
	return int(maphash.String(s.seed, tenantID) % shardCount)
}

func (s *Store) shardOf(tenantID string) *shard { return &s.shards[s.shardIndex(tenantID)] }

func (s *Store) tokenShard(h invite.TokenHash) *tokenShard { return &s.tokens[h[0]%shardCount] }

func (sh *shard) tenant(id string, create bool) *tenant {
	t := sh.tenants[id]
	if t == nil && create {
		t = &tenant{byID: map[string]*invite.Record{}, open: map[string]string{}, idem: map[string]string{}}
		sh.tenants[id] = t
	}
	return t
}

// Apply implements invite.Store. It locks the shards of every tenant in the
// batch (in index order), applies the writes one by one while keeping an
// undo log, and rolls all of them back on the first failure. Token hashes
// are reserved in the token index as they are added and unindexed only once
// the batch has committed, so a concurrent GetByTokenHash sees either the
// old or the new state (it double-checks against the record).
func (s *Store) Apply(ctx context.Context, b *invite.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var idxBuf [4]int
	idx := idxBuf[:0]
	for _, w := range b.Writes {
		if i := s.shardIndex(w.Record.Invitation.TenantID); !slices.Contains(idx, i) {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	for _, i := range idx {
		s.shards[i].mu.Lock()
	}
	defer func() {
		for _, i := range idx {
			s.shards[i].mu.Unlock()
		}
	}()
	tx := txPool.Get().(*txn)
	tx.s = s
	defer func() {
		clear(tx.undo) // drop references to records and tenants
		clear(tx.drop)
		tx.s, tx.undo, tx.drop = nil, tx.undo[:0], tx.drop[:0]
		txPool.Put(tx)
	}()
	for _, w := range b.Writes {
		if err := tx.write(w); err != nil {
			tx.rollback()
			return err
		}
	}
	tx.commit()
	return nil
}

// txn is one Apply in progress. Its logs are reused through txPool, so a
// typical batch allocates nothing for them.
type txn struct {
	s    *Store
	undo []undo
	// drop are token hashes to unindex once the batch commits.
	drop []tokenRef
}

var txPool = sync.Pool{New: func() any { return new(txn) }}

type undoKind uint8

const (
	undoRecord      undoKind = iota // t.byID[key] = rec, or delete when rec is nil
	undoOpen                        // t.open[key] = prev, or delete when prev is ""
	undoIdem                        // t.idem[key] = prev, or delete when prev is ""
	undoToken                       // unreserve h if it still maps to r
	undoTokenTake                   // give h back to r, its owner before the batch
	undoOrderSet                    // t.order[i] = rec
	undoOrderInsert                 // t.order: remove index i
	undoOrderRemove                 // t.order: insert rec at i
)

type undo struct {
	kind      undoKind
	t         *tenant
	key, prev string
	rec       *invite.Record
	i         int
	tok       tokenRef
}

type tokenRef struct {
	h invite.TokenHash
	r ref
}

func (tx *txn) rollback() {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		u := &tx.undo[i]
		t := u.t
		switch u.kind {
		case undoRecord:
			if u.rec == nil {
				delete(t.byID, u.key)
			} else {
				t.byID[u.key] = u.rec
			}
		case undoOpen:
			restore(t.open, u.key, u.prev)
		case undoIdem:
			restore(t.idem, u.key, u.prev)
		case undoToken:
			ts := tx.s.tokenShard(u.tok.h)
			ts.mu.Lock()
			if ts.m[u.tok.h] == u.tok.r {
				delete(ts.m, u.tok.h)
			}
			ts.mu.Unlock()
		case undoTokenTake:
			ts := tx.s.tokenShard(u.tok.h)
			ts.mu.Lock()
			ts.m[u.tok.h] = u.tok.r
			ts.mu.Unlock()
		case undoOrderSet:
			t.order[u.i] = u.rec
		case undoOrderInsert:
			t.order = slices.Delete(t.order, u.i, u.i+1)
		case undoOrderRemove:
			t.order = slices.Insert(t.order, u.i, u.rec)
		}
	}
}

func restore(m map[string]string, key, prev string) {
	if prev == "" {
		delete(m, key)
	} else {
		m[key] = prev
	}
}

func (tx *txn) commit() {
	for _, d := range tx.drop {
		ts := tx.s.tokenShard(d.h)
		ts.mu.Lock()
		if ts.m[d.h] == d.r {
			delete(ts.m, d.h)
		}
		ts.mu.Unlock()
	}
}

// hashes returns the record's current and previous token hashes, in buf
// when they fit.
func hashes(r *invite.Record, buf *[2]invite.TokenHash) []invite.TokenHash {
	hs := buf[:0]
	if !r.Credentials.TokenHash.IsZero() {
		hs = append(hs, r.Credentials.TokenHash)
	}
	for _, p := range r.Credentials.PreviousTokens {
		hs = append(hs, p.Hash)
	}
	return hs
}

func hasHash(r *invite.Record, h invite.TokenHash) bool {
	if r.Credentials.TokenHash == h {
		return true
	}
	for _, p := range r.Credentials.PreviousTokens {
		if p.Hash == h {
			return true
		}
	}
	return false
}

func (tx *txn) write(w invite.Write) error {
	inv := &w.Record.Invitation
	sh := tx.s.shardOf(inv.TenantID)
	t := sh.tenant(inv.TenantID, w.Expect == 0)
	var old *invite.Record
	if w.Expect == 0 {
		if _, ok := t.byID[inv.ID]; ok {
			return invite.ErrAlreadyExists
		}
	} else {
		if t == nil || t.byID[inv.ID] == nil {
			return invite.ErrNotFound
		}
		old = t.byID[inv.ID]
		if old.Invitation.Version != w.Expect {
			return invite.ErrConflict
		}
	}
	var next *invite.Record
	if !w.Delete {
		next = w.Record.Clone()
		toUTC(&next.Invitation)
	}
	// Unindex the old version first, so that a batch may hand a key from
	// one record to another.
	if old != nil {
		tx.unindex(t, old, next)
		delete(t.byID, inv.ID)
		tx.undo = append(tx.undo, undo{kind: undoRecord, t: t, key: inv.ID, rec: old})
	}
	if next == nil {
		tx.removeOrder(t, old)
		return nil
	}
	if err := tx.index(t, next); err != nil {
		return err
	}
	t.byID[inv.ID] = next
	tx.undo = append(tx.undo, undo{kind: undoRecord, t: t, key: inv.ID})
	if old != nil && cursorOf(old) == cursorOf(next) {
		i := tx.find(t, old)
		t.order[i] = next
		tx.undo = append(tx.undo, undo{kind: undoOrderSet, t: t, i: i, rec: old})
		return nil
	}
	if old != nil {
		tx.removeOrder(t, old)
	}
	tx.insertOrder(t, next)
	return nil
}

// toUTC keeps every stored time in UTC, as the contract promises readers.
func toUTC(inv *invite.Invitation) {
	for _, t := range []*time.Time{&inv.CreatedAt, &inv.UpdatedAt, &inv.IssuedAt, &inv.ExpiresAt, &inv.SentAt, &inv.ClosedAt} {
		*t = t.UTC()
	}
}

// index adds next's idempotency key, open invitee keys and token hashes.
func (tx *txn) index(t *tenant, next *invite.Record) error {
	inv := &next.Invitation
	if k := inv.IdempotencyKey; k != "" {
		prev, had := t.idem[k]
		if had && prev != inv.ID {
			return invite.ErrAlreadyExists
		}
		t.idem[k] = inv.ID
		tx.undo = append(tx.undo, undo{kind: undoIdem, t: t, key: k, prev: prev})
	}
	if inv.State.Open() {
		keys := inv.Invitee.Keys()
		for _, k := range keys {
			if id, ok := t.open[k]; ok && id != inv.ID {
				return invite.ErrAlreadyExists
			}
		}
		for _, k := range keys {
			prev := t.open[k]
			t.open[k] = inv.ID
			tx.undo = append(tx.undo, undo{kind: undoOpen, t: t, key: k, prev: prev})
		}
	}
	r := ref{inv.TenantID, inv.ID}
	var buf [2]invite.TokenHash
	for _, h := range hashes(next, &buf) {
		ts := tx.s.tokenShard(h)
		ts.mu.Lock()
		got, loaded := ts.m[h]
		if !loaded {
			ts.m[h] = r
		}
		ts.mu.Unlock()
		switch {
		case !loaded:
			tx.undo = append(tx.undo, undo{kind: undoToken, tok: tokenRef{h, r}})
		case got != r:
			// Another record's, unless an earlier write of this batch
			// released it (deleted that record or rotated the hash away):
			// then it is taken over. The batch holds the lock of got's
			// tenant, so no other Apply can move the entry meanwhile.
			i := slices.Index(tx.drop, tokenRef{h, got})
			if i < 0 {
				return invite.ErrAlreadyExists
			}
			tx.drop = slices.Delete(tx.drop, i, i+1)
			ts.mu.Lock()
			ts.m[h] = r
			ts.mu.Unlock()
			tx.undo = append(tx.undo, undo{kind: undoTokenTake, tok: tokenRef{h, got}})
		default: // already ours: make sure commit does not drop it
			tx.drop = slices.DeleteFunc(tx.drop, func(d tokenRef) bool { return d.h == h })
		}
	}
	return nil
}

// unindex removes old's keys; its token hashes are dropped at commit unless
// next keeps them.
func (tx *txn) unindex(t *tenant, old, next *invite.Record) {
	inv := &old.Invitation
	if k := inv.IdempotencyKey; k != "" && t.idem[k] == inv.ID {
		delete(t.idem, k)
		tx.undo = append(tx.undo, undo{kind: undoIdem, t: t, key: k, prev: inv.ID})
	}
	if inv.State.Open() {
		for _, k := range inv.Invitee.Keys() {
			if t.open[k] == inv.ID {
				delete(t.open, k)
				tx.undo = append(tx.undo, undo{kind: undoOpen, t: t, key: k, prev: inv.ID})
			}
		}
	}
	r := ref{inv.TenantID, inv.ID}
	var buf [2]invite.TokenHash
	for _, h := range hashes(old, &buf) {
		if next == nil || !hasHash(next, h) {
			tx.drop = append(tx.drop, tokenRef{h, r})
		}
	}
}

func less(a, b *invite.Invitation) bool {
	return invite.Cursor{CreatedAt: a.CreatedAt, ID: a.ID}.Less(invite.Cursor{CreatedAt: b.CreatedAt, ID: b.ID})
}

// find returns r's index in t.order.
func (tx *txn) find(t *tenant, r *invite.Record) int {
	return sort.Search(len(t.order), func(j int) bool { return !less(&t.order[j].Invitation, &r.Invitation) })
}

func (tx *txn) insertOrder(t *tenant, r *invite.Record) {
	n := len(t.order)
	i := n
	if n > 0 && less(&r.Invitation, &t.order[n-1].Invitation) {
		i = sort.Search(n, func(j int) bool { return less(&r.Invitation, &t.order[j].Invitation) })
	}
	t.order = slices.Insert(t.order, i, r)
	tx.undo = append(tx.undo, undo{kind: undoOrderInsert, t: t, i: i})
}

func (tx *txn) removeOrder(t *tenant, r *invite.Record) {
	i := tx.find(t, r)
	if i < len(t.order) && t.order[i] == r {
		t.order = slices.Delete(t.order, i, i+1)
		tx.undo = append(tx.undo, undo{kind: undoOrderRemove, t: t, i: i, rec: r})
	}
}

// Get implements invite.Store.
func (s *Store) Get(ctx context.Context, tenantID, id string) (*invite.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sh := s.shardOf(tenantID)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if t := sh.tenants[tenantID]; t != nil {
		if r := t.byID[id]; r != nil {
			return r.Clone(), nil
		}
	}
	return nil, invite.ErrNotFound
}

// GetByTokenHash implements invite.Store.
func (s *Store) GetByTokenHash(ctx context.Context, h invite.TokenHash) (*invite.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ts := s.tokenShard(h)
	ts.mu.RLock()
	r, ok := ts.m[h]
	ts.mu.RUnlock()
	if !ok {
		return nil, invite.ErrNotFound
	}
	sh := s.shardOf(r.tenantID)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	// The index may be a moment ahead of (or behind) the record during a
	// concurrent Apply: trust only the record.
	if t := sh.tenants[r.tenantID]; t != nil {
		if rec := t.byID[r.id]; rec != nil && hasHash(rec, h) {
			return rec.Clone(), nil
		}
	}
	return nil, invite.ErrNotFound
}

// GetByIdempotencyKey implements invite.Store.
func (s *Store) GetByIdempotencyKey(ctx context.Context, tenantID, key string) (*invite.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sh := s.shardOf(tenantID)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if t := sh.tenants[tenantID]; t != nil {
		if id, ok := t.idem[key]; ok {
			return t.byID[id].Clone(), nil
		}
	}
	return nil, invite.ErrNotFound
}

// FindOpen implements invite.Store.
func (s *Store) FindOpen(ctx context.Context, tenantID string, iv invite.Invitee) ([]*invite.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sh := s.shardOf(tenantID)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	t := sh.tenants[tenantID]
	if t == nil {
		return nil, nil
	}
	var out []*invite.Record
	for _, k := range iv.Keys() {
		id, ok := t.open[k]
		if ok && !slices.ContainsFunc(out, func(r *invite.Record) bool { return r.Invitation.ID == id }) {
			out = append(out, t.byID[id].Clone())
		}
	}
	slices.SortFunc(out, func(a, b *invite.Record) int {
		if less(&a.Invitation, &b.Invitation) {
			return -1
		}
		return 1
	})
	return out, nil
}

// List implements invite.Store.
func (s *Store) List(ctx context.Context, tenantID string, q invite.Query) ([]*invite.Invitation, *invite.Cursor, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	sh := s.shardOf(tenantID)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	t := sh.tenants[tenantID]
	if t == nil || q.Limit <= 0 {
		return nil, nil, nil
	}
	q.Email = strings.ToLower(q.Email)
	n := len(t.order)
	var i, step int
	switch {
	case !q.Descending:
		i, step = 0, 1
		if q.After != nil {
			i = sort.Search(n, func(j int) bool { return q.After.Less(cursorOf(t.order[j])) })
		}
	default:
		i, step = n-1, -1
		if q.After != nil {
			i = sort.Search(n, func(j int) bool { return !cursorOf(t.order[j]).Less(*q.After) }) - 1
		}
	}
	out := make([]*invite.Invitation, 0, min(q.Limit, n))
	for ; i >= 0 && i < n; i += step {
		inv := &t.order[i].Invitation
		if !q.Matches(inv, q.Now) {
			continue
		}
		if len(out) == q.Limit {
			return out, invite.CursorOf(out[len(out)-1]), nil
		}
		out = append(out, inv.Clone())
	}
	return out, nil, nil
}

func cursorOf(r *invite.Record) invite.Cursor {
	return invite.Cursor{CreatedAt: r.Invitation.CreatedAt, ID: r.Invitation.ID}
}

// ListDue implements invite.Store. It scans every record: memstore keeps no
// expiry index.
func (s *Store) ListDue(ctx context.Context, now time.Time, limit int) ([]*invite.Record, error) {
	var due []*invite.Record
	for i := range s.shards {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sh := &s.shards[i]
		sh.mu.RLock()
		for _, t := range sh.tenants {
			for _, r := range t.order {
				if r.Invitation.State.Open() && !now.Before(r.Invitation.ExpiresAt) {
					due = append(due, r.Clone())
				}
			}
		}
		sh.mu.RUnlock()
	}
	slices.SortFunc(due, func(a, b *invite.Record) int { return a.Invitation.ExpiresAt.Compare(b.Invitation.ExpiresAt) })
	return due[:min(len(due), max(limit, 0))], nil
}

// Purge implements invite.Store.
func (s *Store) Purge(ctx context.Context, before time.Time, limit int) (int, error) {
	n := 0
	for i := range s.shards {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		sh := &s.shards[i]
		sh.mu.Lock()
		for id, t := range sh.tenants {
			var victims []*invite.Record
			for _, r := range t.order {
				if n+len(victims) >= limit {
					break
				}
				st := r.Invitation.State
				if (st.Terminal() || st == invite.StateExpired) && r.Invitation.ClosedAt.Before(before) {
					victims = append(victims, r)
				}
			}
			for _, r := range victims {
				var tx txn
				tx.s = s
				tx.unindex(t, r, nil)
				tx.removeOrder(t, r)
				delete(t.byID, r.Invitation.ID)
				tx.commit()
			}
			n += len(victims)
			if len(t.byID) == 0 {
				delete(sh.tenants, id)
			}
		}
		sh.mu.Unlock()
	}
	return n, nil
}
