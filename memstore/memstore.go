// Package memstore is an in-memory invite.Store: for tests, prototypes and
// single-process hosts that can lose their invitations on restart.
//
// Lookups by id, token hash, idempotency key and open invitee key are O(1)
// (hash maps); List seeks its cursor by binary search in a per-tenant slice
// ordered by (CreatedAt, ID). Tenants are spread over 64 shards, each with
// its own lock, and the token index has 64 shards of its own, so unrelated
// tenants never contend.
//
// Each version of a record is kept encoded in one pointer-free byte slice
// (see codec.go): a write encodes the record it is given and a read decodes
// a new one, so a caller can never change stored state through a value it
// holds, and the garbage collector has little to trace however many
// invitations are stored. Events in a batch are not kept (memstore has no
// outbox); the Manager hands them to its EventSink, and builds none when it
// has no EventSink (memstore implements invite.EventDiscarder).
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
	// tokens maps every current and previous token hash to the entry of
	// its record, sharded by the hash's first byte.
	tokens [shardCount]tokenShard
}

type shard struct {
	mu      sync.RWMutex
	tenants map[string]*tenant
}

type tokenShard struct {
	mu sync.RWMutex
	m  map[invite.TokenHash]*entry
}

// entry is the store's slot for one invitation. The indexes point at
// entries, so a write that replaces the record (the common case) touches
// only the indexes whose keys change. A stored version is never modified:
// a write stores a new one.
type entry struct {
	sh *shard // whose lock guards the fields below
	id string
	// created is the record's CreatedAt, the entry's place in tenant.order.
	created time.Time
	// cur is the current version; nil once deleted.
	cur *stored
}

func (e *entry) cursor() invite.Cursor { return invite.Cursor{CreatedAt: e.created, ID: e.id} }

type tenant struct {
	byID map[string]*entry
	// open maps the invitee keys of records whose stored state is open.
	open map[invite.InviteeKey]*entry
	// idem maps idempotency keys.
	idem map[string]*entry
	// order holds the entries sorted by (created, id).
	order []*entry
}

var _ invite.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	s := &Store{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].tenants = make(map[string]*tenant)
		s.tokens[i].m = make(map[invite.TokenHash]*entry)
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
		t = &tenant{byID: map[string]*entry{}, open: map[invite.InviteeKey]*entry{}, idem: map[string]*entry{}}
		sh.tenants[id] = t
	}
	return t
}

// Apply implements invite.Store. It locks the shards of every tenant in the
// batch (in index order), applies the writes one by one while keeping an
// undo log, and rolls all of them back on the first failure. Token hashes
// are reserved in the token index as they are added and unindexed only once
// the batch has committed; a reader of the token index double-checks the
// hash against the record under the shard lock, so it sees either the old
// or the new state.
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
		clear(tx.undo) // drop references to records and entries
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
	undoCur         undoKind = iota // e.cur = cur
	undoCreated                     // e.created = created
	undoByID                        // t.byID[e.id] = e, or delete when prev is nil
	undoOpen                        // t.open[okey] = prev, or delete when prev is nil
	undoIdem                        // t.idem[key] = prev, or delete when prev is nil
	undoToken                       // unreserve tok.h if it still maps to tok.e
	undoTokenTake                   // give tok.h back to tok.e, its owner before the batch
	undoOrderInsert                 // t.order: remove index i
	undoOrderRemove                 // t.order: insert e at i
)

type undo struct {
	kind    undoKind
	t       *tenant
	e, prev *entry
	cur     *stored
	key     string
	okey    invite.InviteeKey
	created time.Time
	i       int
	tok     tokenRef
}

type tokenRef struct {
	h invite.TokenHash
	e *entry
}

func (tx *txn) rollback() {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		u := &tx.undo[i]
		t := u.t
		switch u.kind {
		case undoCur:
			u.e.cur = u.cur
		case undoCreated:
			u.e.created = u.created
		case undoByID:
			if u.prev == nil {
				delete(t.byID, u.e.id)
			} else {
				t.byID[u.e.id] = u.prev
			}
		case undoOpen:
			if u.prev == nil {
				delete(t.open, u.okey)
			} else {
				t.open[u.okey] = u.prev
			}
		case undoIdem:
			if u.prev == nil {
				delete(t.idem, u.key)
			} else {
				t.idem[u.key] = u.prev
			}
		case undoToken:
			ts := tx.s.tokenShard(u.tok.h)
			ts.mu.Lock()
			if ts.m[u.tok.h] == u.tok.e {
				delete(ts.m, u.tok.h)
			}
			ts.mu.Unlock()
		case undoTokenTake:
			ts := tx.s.tokenShard(u.tok.h)
			ts.mu.Lock()
			ts.m[u.tok.h] = u.tok.e
			ts.mu.Unlock()
		case undoOrderInsert:
			t.order = slices.Delete(t.order, u.i, u.i+1)
		case undoOrderRemove:
			t.order = slices.Insert(t.order, u.i, u.e)
		}
	}
}

func (tx *txn) commit() {
	for _, d := range tx.drop {
		ts := tx.s.tokenShard(d.h)
		ts.mu.Lock()
		if ts.m[d.h] == d.e {
			delete(ts.m, d.h)
		}
		ts.mu.Unlock()
	}
}

// write applies one write of the batch.
func (tx *txn) write(w invite.Write) error {
	inv := &w.Record.Invitation
	sh := tx.s.shardOf(inv.TenantID)
	t := sh.tenant(inv.TenantID, w.Expect == 0)
	var e *entry
	var old *stored
	if w.Expect == 0 {
		if _, ok := t.byID[inv.ID]; ok {
			return invite.ErrAlreadyExists
		}
	} else {
		if t != nil {
			e = t.byID[inv.ID]
		}
		if e == nil {
			return invite.ErrNotFound
		}
		old = e.cur
		if old.version != w.Expect {
			return invite.ErrConflict
		}
	}
	var next *stored
	if !w.Delete {
		next = encode(w.Record)
	}
	// Unindex the old version first, so that a batch may hand a key from
	// one record to another.
	if old != nil {
		tx.unindex(t, e, old, next)
	}
	if next == nil {
		delete(t.byID, e.id)
		tx.undo = append(tx.undo, undo{kind: undoByID, t: t, e: e, prev: e})
		tx.removeOrder(t, e)
		tx.setCur(e, nil)
		return nil
	}
	created := inv.CreatedAt.UTC()
	if e == nil {
		e = &entry{sh: sh, id: inv.ID, created: created}
		t.byID[e.id] = e
		tx.undo = append(tx.undo, undo{kind: undoByID, t: t, e: e})
		tx.insertOrder(t, e)
	} else if !e.created.Equal(created) {
		tx.removeOrder(t, e)
		tx.undo = append(tx.undo, undo{kind: undoCreated, e: e, created: e.created})
		e.created = created
		tx.insertOrder(t, e)
	}
	tx.setCur(e, next)
	return tx.index(t, e, old, next)
}

func (tx *txn) setCur(e *entry, st *stored) {
	tx.undo = append(tx.undo, undo{kind: undoCur, e: e, cur: e.cur})
	e.cur = st
}

// index adds next's idempotency key, open invitee keys and token hashes,
// pointing them at e. old is the version next replaces (nil for a new
// record): the token index already maps each of old's hashes to e.
func (tx *txn) index(t *tenant, e *entry, old, next *stored) error {
	if k := next.idem; k != "" {
		prev, had := t.idem[k]
		if had && prev != e {
			return invite.ErrAlreadyExists
		}
		if !had {
			t.idem[k] = e
			tx.undo = append(tx.undo, undo{kind: undoIdem, t: t, key: k})
		}
	}
	if next.open() {
		var buf [3]invite.InviteeKey
		keys := next.invitee.AppendKeys(buf[:0])
		for _, k := range keys {
			if got, ok := t.open[k]; ok && got != e {
				return invite.ErrAlreadyExists
			}
		}
		for _, k := range keys {
			if prev := t.open[k]; prev == nil {
				t.open[k] = e
				tx.undo = append(tx.undo, undo{kind: undoOpen, t: t, okey: k})
			}
		}
	}
	var buf [2]invite.TokenHash
	for _, h := range next.hashes(&buf) {
		if old != nil && old.hasHash(h) {
			continue // kept: unindex did not drop it
		}
		ts := tx.s.tokenShard(h)
		ts.mu.Lock()
		got, loaded := ts.m[h]
		if !loaded {
			ts.m[h] = e
		}
		ts.mu.Unlock()
		switch {
		case !loaded:
			tx.undo = append(tx.undo, undo{kind: undoToken, tok: tokenRef{h, e}})
		case got != e:
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
			ts.m[h] = e
			ts.mu.Unlock()
			tx.undo = append(tx.undo, undo{kind: undoTokenTake, tok: tokenRef{h, got}})
		default: // already ours: make sure commit does not drop it
			tx.drop = slices.DeleteFunc(tx.drop, func(d tokenRef) bool { return d.h == h })
		}
	}
	return nil
}

// unindex removes old's keys that next (nil on delete) does not keep; its
// token hashes are dropped at commit.
func (tx *txn) unindex(t *tenant, e *entry, old, next *stored) {
	if k := old.idem; k != "" && t.idem[k] == e && (next == nil || next.idem != k) {
		delete(t.idem, k)
		tx.undo = append(tx.undo, undo{kind: undoIdem, t: t, key: k, prev: e})
	}
	if old.open() {
		keep := next != nil && next.open() && next.invitee == old.invitee
		var buf [3]invite.InviteeKey
		for _, k := range old.invitee.AppendKeys(buf[:0]) {
			if !keep && t.open[k] == e {
				delete(t.open, k)
				tx.undo = append(tx.undo, undo{kind: undoOpen, t: t, okey: k, prev: e})
			}
		}
	}
	var buf [2]invite.TokenHash
	for _, h := range old.hashes(&buf) {
		if next == nil || !next.hasHash(h) {
			tx.drop = append(tx.drop, tokenRef{h, e})
		}
	}
}

// find returns the index of e (or where it would go) in t.order.
func find(t *tenant, c invite.Cursor) int {
	return sort.Search(len(t.order), func(j int) bool { return !t.order[j].cursor().Less(c) })
}

func (tx *txn) insertOrder(t *tenant, e *entry) {
	n := len(t.order)
	i := n
	if c := e.cursor(); n > 0 && c.Less(t.order[n-1].cursor()) {
		i = find(t, c)
	}
	t.order = slices.Insert(t.order, i, e)
	tx.undo = append(tx.undo, undo{kind: undoOrderInsert, t: t, i: i})
}

func (tx *txn) removeOrder(t *tenant, e *entry) {
	i := find(t, e.cursor())
	if i < len(t.order) && t.order[i] == e {
		t.order = slices.Delete(t.order, i, i+1)
		tx.undo = append(tx.undo, undo{kind: undoOrderRemove, t: t, i: i, e: e})
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
		if e := t.byID[id]; e != nil {
			return e.cur.decode(), nil
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
	e := ts.m[h]
	ts.mu.RUnlock()
	if e == nil {
		return nil, invite.ErrNotFound
	}
	e.sh.mu.RLock()
	cur := e.cur
	e.sh.mu.RUnlock()
	// The index may be a moment ahead of (or behind) the record during a
	// concurrent Apply: trust only the record. A version is immutable, so
	// it is decoded outside the lock.
	if cur != nil && cur.hasHash(h) {
		return cur.decode(), nil
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
		if e := t.idem[key]; e != nil {
			return e.cur.decode(), nil
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
	var found [3]*entry
	es := found[:0]
	var buf [3]invite.InviteeKey
	for _, k := range iv.AppendKeys(buf[:0]) {
		if e := t.open[k]; e != nil && !slices.Contains(es, e) {
			es = append(es, e)
		}
	}
	slices.SortFunc(es, func(a, b *entry) int {
		if a.cursor().Less(b.cursor()) {
			return -1
		}
		return 1
	})
	var recs []*invite.Record
	for _, e := range es {
		recs = append(recs, e.cur.decode())
	}
	return recs, nil
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
			i = sort.Search(n, func(j int) bool { return q.After.Less(t.order[j].cursor()) })
		}
	default:
		i, step = n-1, -1
		if q.After != nil {
			i = sort.Search(n, func(j int) bool { return !t.order[j].cursor().Less(*q.After) }) - 1
		}
	}
	out := make([]*invite.Invitation, 0, min(q.Limit, n))
	for ; i >= 0 && i < n; i += step {
		st := t.order[i].cur
		// Filter on the scalar fields; decode the collections of matches only.
		var r invite.Record
		if st.decodeInto(&r, false); !q.Matches(&r.Invitation, q.Now) {
			continue
		}
		if len(out) == q.Limit {
			return out, invite.CursorOf(out[len(out)-1]), nil
		}
		out = append(out, &st.decode().Invitation)
	}
	return out, nil, nil
}

// ListDue implements invite.Store. It scans every record: memstore keeps no
// expiry index.
func (s *Store) ListDue(ctx context.Context, now time.Time, limit int) ([]*invite.Record, error) {
	var due []*stored
	for i := range s.shards {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sh := &s.shards[i]
		sh.mu.RLock()
		for _, t := range sh.tenants {
			for _, e := range t.order {
				if st := e.cur; st.open() && !now.Before(st.expires) {
					due = append(due, st)
				}
			}
		}
		sh.mu.RUnlock()
	}
	slices.SortFunc(due, func(a, b *stored) int { return a.expires.Compare(b.expires) })
	due = due[:min(len(due), max(limit, 0))]
	recs := make([]*invite.Record, 0, len(due))
	for _, st := range due {
		recs = append(recs, st.decode())
	}
	return recs, nil
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
			var victims []*entry
			for _, e := range t.order {
				if n+len(victims) >= limit {
					break
				}
				st := e.cur
				if (st.state.Terminal() || st.state == invite.StateExpired) && st.closed.Before(before) {
					victims = append(victims, e)
				}
			}
			for _, e := range victims {
				var tx txn
				tx.s = s
				tx.unindex(t, e, e.cur, nil)
				tx.removeOrder(t, e)
				delete(t.byID, e.id)
				e.cur = nil
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

// DiscardsEvents implements invite.EventDiscarder: memstore keeps no
// outbox, so a Manager without an EventSink skips building events.
func (s *Store) DiscardsEvents() bool { return true }
