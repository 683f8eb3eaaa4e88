// Package memstore is an in-memory invite.Store: for tests, prototypes and
// single-process hosts that can lose their invitations on restart.
//
// Lookups by id, token hash, idempotency key and open invitee key are O(1)
// (hash tables); List seeks its cursor by binary search in a per-tenant slice
// ordered by (CreatedAt, ID). Tenants are spread over 64 shards, each with
// its own lock, and the token index has 64 shards of its own, so unrelated
// tenants never contend.
//
// Each version of a record is kept encoded in one pointer-free byte slice
// (see codec.go): a write encodes the record it is given and a read decodes
// a new one, so a caller can never change stored state through a value it
// holds. A record lives in a slot of its shard; the indexes map hashes of
// their keys to slot numbers (keyindex.go, hashtable.go), so none of them
// holds a pointer and the garbage collector has about two pointers per
// invitation to follow (the slot's blob and id), however many invitations
// are stored. A record whose state, invitee email, phone or user id, or
// idempotency key is longer than 65,535 bytes, or that has more than
// 65,535 roles and groups together or 65,534 previous tokens, does not fit
// that encoding and is refused with an error matching invite.ErrInvalid
// (the Manager's validation keeps far below these). Events in a batch are
// not kept (memstore has no outbox); the Manager hands them to its
// EventSink, and builds none when it has no EventSink (memstore implements
// invite.EventDiscarder).
package memstore

import (
	"context"
	"errors"
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
	seed maphash.Seed
	// collide makes every index key hash alike (tests: every lookup past a
	// tenant's first key goes through spill, see keyIndex).
	collide bool
	shards  [shardCount]shard
	// tokens maps every current and previous token hash to the slot of its
	// record, sharded by the hash's first byte (see hashTable).
	tokens [shardCount]tokenShard
}

// A shard holds the tenants whose ids hash to it and the slots of their
// invitations.
type shard struct {
	mu      sync.RWMutex
	tenants map[string]*tenant
	// numbered holds the shard's tenants by number (tenant.num); nil
	// entries are numbers free for reuse, listed in freeNums.
	numbered []*tenant
	freeNums []uint32
	slots    []slot
	// free lists slots released by committed deletes, for reuse.
	free []uint32
}

// slot is the store's place for one invitation. A write that replaces the
// record (the common case) changes cur and touches only the indexes whose
// keys change. A blob is never modified: a write stores a new one.
type slot struct {
	// cur is the current version; nil when the slot is free.
	cur blob
	// id is the record's id, a view of cur (of the last version while a
	// delete commits), so that a slot keeps no object of its own alive.
	id string
	// sec and nsec are the record's CreatedAt, its place in tenant.order.
	sec  int64
	nsec int32
	// tn is the number of the record's tenant in its shard (shard.numbered).
	tn uint32
}

// before orders slots by (created, id), as invite.Cursor.Less does.
func (sl *slot) before(sec int64, nsec int32, id string) bool {
	if sl.sec != sec {
		return sl.sec < sec
	}
	if sl.nsec != nsec {
		return sl.nsec < nsec
	}
	return sl.id < id
}

func (sl *slot) less(o *slot) bool { return sl.before(o.sec, o.nsec, o.id) }

// orderEntry is a slot's place in tenant.order: the record's CreatedAt
// (as slot.sec and slot.nsec) and the slot. Ties go by the slot's id.
type orderEntry struct {
	sec  int64
	nsec int32
	e    uint32
}

// ref names a slot in the store: shard index and slot number.
type ref uint64

func refOf(shard int, slot uint32) ref { return ref(shard)<<32 | ref(slot) }
func (r ref) shard() int               { return int(r >> 32) }
func (r ref) slot() uint32             { return uint32(r) }

type tokenShard struct {
	mu sync.RWMutex
	t  hashTable // keyed
}

var _ invite.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	s := &Store{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].tenants = make(map[string]*tenant)
		s.tokens[i].t.keyed = true
	}
	return s
}

func (s *Store) shardIndex(tenantID string) int {
	return int(maphash.String(s.seed, tenantID) % shardCount)
}

func (s *Store) shardOf(tenantID string) *shard { return &s.shards[s.shardIndex(tenantID)] }

func (s *Store) tokenShard(h invite.TokenHash) *tokenShard { return &s.tokens[h[0]%shardCount] }

// hashToken is h's hash in the token index.
func (s *Store) hashToken(h *invite.TokenHash) uint64 {
	if s.collide {
		return 0
	}
	return maphash.Bytes(s.seed, h[:])
}

// tokenRef returns the slot the token index maps h to. Without the lock of
// that slot's shard the answer may be a moment stale: callers check the
// slot's record.
func (s *Store) tokenRef(h invite.TokenHash) (ref, bool) {
	ts := s.tokenShard(h)
	ts.mu.RLock()
	r, ok := ts.t.get(s.hashToken(&h), &h)
	ts.mu.RUnlock()
	return ref(r), ok
}

// tokenCandidate returns the slot of the first key in the token index
// whose hash is h's: usually h's own, but the caller must check that the
// slot's record holds h (and, as with tokenRef, that it still does).
func (s *Store) tokenCandidate(h invite.TokenHash) (ref, bool) {
	ts := s.tokenShard(h)
	ts.mu.RLock()
	r, ok := ts.t.candidate(s.hashToken(&h))
	ts.mu.RUnlock()
	return ref(r), ok
}

// The token index's writes, each under the token shard's lock.

func (s *Store) getToken(ts *tokenShard, h *invite.TokenHash) (ref, bool) {
	r, ok := ts.t.get(s.hashToken(h), h)
	return ref(r), ok
}

func (s *Store) setToken(ts *tokenShard, h *invite.TokenHash, r ref) {
	ts.t.set(s.hashToken(h), h, uint64(r))
}

func (s *Store) delToken(ts *tokenShard, h *invite.TokenHash, r ref) {
	ts.t.del(s.hashToken(h), h, uint64(r))
}

// tenant returns the tenant of sh with the given id, creating it if asked.
func (s *Store) tenant(sh *shard, id string, create bool) *tenant {
	t := sh.tenants[id]
	if t == nil && create {
		t = newTenant(s, sh)
		if n := len(sh.freeNums); n > 0 {
			t.num, sh.freeNums = sh.freeNums[n-1], sh.freeNums[:n-1]
			sh.numbered[t.num] = t
		} else {
			t.num = uint32(len(sh.numbered))
			sh.numbered = append(sh.numbered, t)
		}
		sh.tenants[id] = t
	}
	return t
}

// dropTenant removes t, which holds no invitation, from sh.
func (sh *shard) dropTenant(id string, t *tenant) {
	delete(sh.tenants, id)
	sh.numbered[t.num] = nil
	sh.freeNums = append(sh.freeNums, t.num)
}

// maxSlots is how many slots a shard can have: the open index keeps a slot
// number and a key kind in 32 bits.
const maxSlots = 1 << 30

// alloc returns a free slot for a new record.
func (sh *shard) alloc() (uint32, error) {
	if n := len(sh.free); n > 0 {
		i := sh.free[n-1]
		sh.free = sh.free[:n-1]
		return i, nil
	}
	if len(sh.slots) >= maxSlots {
		return 0, errors.New("memstore: too many invitations in one shard")
	}
	sh.slots = append(sh.slots, slot{})
	return uint32(len(sh.slots) - 1), nil
}

// release frees slot i for reuse.
func (sh *shard) release(i uint32) {
	sh.slots[i] = slot{}
	sh.free = append(sh.free, i)
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
	// The shard of each write (most batches have one) and the shards to
	// lock, in index order.
	var siBuf, idxBuf [4]int
	si, idx := siBuf[:0], idxBuf[:0]
	for _, w := range b.Writes {
		i := s.shardIndex(w.Record.Invitation.TenantID)
		si = append(si, i)
		if !slices.Contains(idx, i) {
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
		clear(tx.undo) // drop references to blobs and tenants
		tx.s, tx.undo, tx.drop, tx.freed = nil, tx.undo[:0], tx.drop[:0], tx.freed[:0]
		txPool.Put(tx)
	}()
	for k, w := range b.Writes {
		if err := tx.write(w, si[k]); err != nil {
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
	// freed are the slots of deleted records, released at commit.
	freed []ref
	// touched keeps what prefetch read, so that the reads stay.
	touched uint64
}

var txPool = sync.Pool{New: func() any { return new(txn) }}

type undoKind uint8

const (
	undoCur         undoKind = iota // slot.cur, slot.id = cur, key
	undoCreated                     // slot.sec, slot.nsec = sec, nsec
	undoAlloc                       // release the slot
	undoByID                        // map key to e in t.byID, or unmap it when !had
	undoOpen                        // map okey to e in t.open, or unmap it when !had
	undoIdem                        // map key to e in t.idem, or unmap it when !had
	undoToken                       // unreserve tok.h if it still maps to tok.r
	undoTokenTake                   // give tok.h back to tok.r, its owner before the batch
	undoOrderInsert                 // t.order: remove index i
	undoOrderRemove                 // t.order: insert (sec, nsec, e) at i
)

type undo struct {
	kind undoKind
	had  bool
	sh   *shard
	t    *tenant
	e    uint32
	nsec int32
	sec  int64
	i    int
	cur  blob
	key  string
	okey invite.InviteeKey
	tok  tokenRef
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
		case undoCur:
			u.sh.slots[u.e].cur, u.sh.slots[u.e].id = u.cur, u.key
		case undoCreated:
			u.sh.slots[u.e].sec, u.sh.slots[u.e].nsec = u.sec, u.nsec
		case undoAlloc:
			u.sh.release(u.e)
		case undoByID:
			if u.had {
				t.setID(u.key, u.e)
			} else {
				t.delID(u.key, u.e)
			}
		case undoOpen:
			if u.had {
				t.setOpen(u.okey, u.e)
			} else {
				t.delOpen(u.okey, u.e)
			}
		case undoIdem:
			if u.had {
				t.setIdem(u.key, u.e)
			} else {
				t.delIdem(u.key, u.e)
			}
		case undoToken:
			ts := tx.s.tokenShard(u.tok.h)
			ts.mu.Lock()
			tx.s.delToken(ts, &u.tok.h, u.tok.r)
			ts.mu.Unlock()
		case undoTokenTake:
			ts := tx.s.tokenShard(u.tok.h)
			ts.mu.Lock()
			tx.s.setToken(ts, &u.tok.h, u.tok.r)
			ts.mu.Unlock()
		case undoOrderInsert:
			t.order = slices.Delete(t.order, u.i, u.i+1)
		case undoOrderRemove:
			t.order = slices.Insert(t.order, u.i, orderEntry{u.sec, u.nsec, u.e})
		}
	}
}

func (tx *txn) commit() {
	for _, d := range tx.drop {
		ts := tx.s.tokenShard(d.h)
		ts.mu.Lock()
		tx.s.delToken(ts, &d.h, d.r)
		ts.mu.Unlock()
	}
	for _, r := range tx.freed {
		tx.s.shards[r.shard()].release(r.slot())
	}
}

// write applies one write of the batch to shard si, its tenant's.
func (tx *txn) write(w invite.Write, si int) error {
	if !w.Delete {
		if err := checkLimits(w.Record); err != nil {
			return err
		}
	}
	inv := &w.Record.Invitation
	sh := &tx.s.shards[si]
	var t *tenant
	var e uint32
	var old blob
	var oldH header
	if w.Expect == 0 {
		t = tx.s.tenant(sh, inv.TenantID, true)
		tx.prefetch(t, w.Record)
		if _, ok := t.getID(inv.ID); ok {
			return invite.ErrAlreadyExists
		}
	} else {
		var ok bool
		if e, t, old, oldH, ok = tx.viaToken(sh, si, w.Record); !ok {
			if t = tx.s.tenant(sh, inv.TenantID, false); t != nil {
				e, ok = t.getID(inv.ID)
			}
			if !ok {
				return invite.ErrNotFound
			}
			old = sh.slots[e].cur
			oldH = old.header()
		}
		if oldH.version != w.Expect {
			return invite.ErrConflict
		}
	}
	var next blob
	var nextH header
	if !w.Delete {
		next, nextH = encode(w.Record)
	}
	// Unindex the old version first, so that a batch may hand a key from
	// one record to another.
	if old != nil {
		tx.unindex(t, si, e, &oldH, next, &nextH)
	}
	if next == nil {
		id := sh.slots[e].id
		t.delID(id, e)
		tx.undo = append(tx.undo, undo{kind: undoByID, t: t, key: id, e: e, had: true})
		tx.removeOrder(sh, t, e)
		tx.setCur(sh, e, nil, id)
		tx.freed = append(tx.freed, refOf(si, e))
		return nil
	}
	id, _ := next.names(&nextH)
	created := inv.CreatedAt
	sec, nsec := created.Unix(), int32(created.Nanosecond())
	if old == nil {
		var err error
		if e, err = sh.alloc(); err != nil {
			return err
		}
		tx.undo = append(tx.undo, undo{kind: undoAlloc, sh: sh, e: e})
		sl := &sh.slots[e]
		sl.id, sl.sec, sl.nsec, sl.tn = id, sec, nsec, t.num
		t.setID(sl.id, e)
		tx.undo = append(tx.undo, undo{kind: undoByID, t: t, key: sl.id, e: e})
		tx.insertOrder(sh, t, e)
	} else if sl := &sh.slots[e]; sl.sec != sec || sl.nsec != nsec {
		tx.removeOrder(sh, t, e)
		tx.undo = append(tx.undo, undo{kind: undoCreated, sh: sh, e: e, sec: sl.sec, nsec: sl.nsec})
		sl.sec, sl.nsec = sec, nsec
		tx.insertOrder(sh, t, e)
	}
	tx.setCur(sh, e, next, id)
	return tx.index(t, si, e, old, &oldH, &nextH)
}

// prefetch touches the places in t's id and open-invitee indexes and in
// the token index where inserting r will look, before the lookups that
// need them one at a time: with a large store each is a cache miss, and
// touched together they cost about one. The token shard's read lock is
// taken first and released last because an atomic instruction waits for
// the reads before it.
func (tx *txn) prefetch(t *tenant, r *invite.Record) {
	h := r.Credentials.TokenHash
	// Hashes first, so that the reads follow each other closely enough
	// for the processor to have them all in flight.
	th, ih := tx.s.hashToken(&h), t.hashString(r.Invitation.ID)
	var kh [3]uint64
	nk := 0
	if r.Invitation.State.Open() {
		var buf [3]invite.InviteeKey
		for _, k := range r.Invitation.Invitee.AppendKeys(buf[:0]) {
			kh[nk] = t.hashKey(k)
			nk++
		}
	}
	ts := tx.s.tokenShard(h)
	ts.mu.RLock()
	v := ts.t.touch(th) + t.byID.m.touch(ih)
	for _, h := range kh[:nk] {
		v += t.open.m.touch(h)
	}
	ts.mu.RUnlock()
	tx.touched += v
}

// viaToken finds the slot of the record an update replaces through the
// token index, when the update keeps the record's token hash (accepting,
// rejecting, revoking, updating, expiring: every change but a new secret).
// The caller read the record by that hash a moment ago, so this path
// touches memory still in cache, where the tenant's id index is cold. The
// slot found is the record's only if its current version has the record's
// id and tenant; otherwise ok is false and the caller looks the id up.
func (tx *txn) viaToken(sh *shard, si int, r *invite.Record) (e uint32, t *tenant, cur blob, h header, ok bool) {
	th := r.Credentials.TokenHash
	if th.IsZero() {
		return 0, nil, nil, header{}, false
	}
	// A candidate is enough: the slot is taken only if it holds the
	// record's id and tenant.
	ref, found := tx.s.tokenCandidate(th)
	if !found || ref.shard() != si || int(ref.slot()) >= len(sh.slots) {
		return 0, nil, nil, header{}, false
	}
	sl := &sh.slots[ref.slot()]
	if sl.cur == nil || sl.id != r.Invitation.ID {
		return 0, nil, nil, header{}, false
	}
	h = sl.cur.header()
	if _, tenantID := sl.cur.names(&h); tenantID != r.Invitation.TenantID {
		return 0, nil, nil, header{}, false
	}
	return ref.slot(), sh.numbered[sl.tn], sl.cur, h, true
}

// setCur makes b the current version of slot e; id is the record's id, a
// view of b (so that the slot holds no other object).
func (tx *txn) setCur(sh *shard, e uint32, b blob, id string) {
	sl := &sh.slots[e]
	tx.undo = append(tx.undo, undo{kind: undoCur, sh: sh, e: e, cur: sl.cur, key: sl.id})
	sl.cur, sl.id = b, id
}

// index adds next's idempotency key, open invitee keys and token hashes,
// pointing them at slot e of shard si. old is the version next replaces
// (nil for a new record): the token index already maps each of old's hashes
// to e.
func (tx *txn) index(t *tenant, si int, e uint32, old blob, oldH, next *header) error {
	if k := next.idem; k != "" {
		prev, had := t.getIdem(k)
		if had && prev != e {
			return invite.ErrAlreadyExists
		}
		if !had {
			t.setIdem(k, e)
			tx.undo = append(tx.undo, undo{kind: undoIdem, t: t, key: k, e: e})
		}
	}
	if next.open() {
		var buf [3]invite.InviteeKey
		keys := next.invitee.AppendKeys(buf[:0])
		for _, k := range keys {
			if got, ok := t.getOpen(k); ok && got != e {
				return invite.ErrAlreadyExists
			}
		}
		for _, k := range keys {
			if _, ok := t.getOpen(k); !ok {
				t.setOpen(k, e)
				tx.undo = append(tx.undo, undo{kind: undoOpen, t: t, okey: k, e: e})
			}
		}
	}
	r := refOf(si, e)
	var buf [2]invite.TokenHash
	for _, h := range next.hashes(&buf) {
		if old != nil && oldH.hasHash(h) {
			continue // kept: unindex did not drop it
		}
		ts := tx.s.tokenShard(h)
		ts.mu.Lock()
		got, loaded := tx.s.getToken(ts, &h)
		if !loaded {
			tx.s.setToken(ts, &h, r)
		}
		ts.mu.Unlock()
		switch {
		case !loaded:
			tx.undo = append(tx.undo, undo{kind: undoToken, tok: tokenRef{h, r}})
		case got != r:
			// Another record's, unless an earlier write of this batch
			// released it (deleted that record or rotated the hash away):
			// then it is taken over. The batch holds the lock of got's
			// tenant, so no other Apply can move the record meanwhile.
			i := slices.Index(tx.drop, tokenRef{h, got})
			if i < 0 {
				return invite.ErrAlreadyExists
			}
			tx.drop = slices.Delete(tx.drop, i, i+1)
			ts.mu.Lock()
			tx.s.setToken(ts, &h, r)
			ts.mu.Unlock()
			tx.undo = append(tx.undo, undo{kind: undoTokenTake, tok: tokenRef{h, got}})
		default: // already ours: make sure commit does not drop it
			tx.drop = slices.DeleteFunc(tx.drop, func(d tokenRef) bool { return d.h == h })
		}
	}
	return nil
}

// unindex removes the keys of old (slot e of shard si) that next (nil on
// delete) does not keep; its token hashes are dropped at commit.
func (tx *txn) unindex(t *tenant, si int, e uint32, old *header, next blob, nextH *header) {
	if k := old.idem; k != "" && (next == nil || nextH.idem != k) {
		if t.delIdem(k, e) {
			tx.undo = append(tx.undo, undo{kind: undoIdem, t: t, key: k, e: e, had: true})
		}
	}
	if old.open() {
		keep := next != nil && nextH.open() && nextH.invitee == old.invitee
		var buf [3]invite.InviteeKey
		for _, k := range old.invitee.AppendKeys(buf[:0]) {
			if !keep && t.delOpen(k, e) {
				tx.undo = append(tx.undo, undo{kind: undoOpen, t: t, okey: k, e: e, had: true})
			}
		}
	}
	r := refOf(si, e)
	var buf [2]invite.TokenHash
	for _, h := range old.hashes(&buf) {
		if next == nil || !nextH.hasHash(h) {
			tx.drop = append(tx.drop, tokenRef{h, r})
		}
	}
}

// find returns the index in t.order of the first slot not before
// (sec, nsec, id).
func find(sh *shard, t *tenant, sec int64, nsec int32, id string) int {
	return sort.Search(len(t.order), func(j int) bool { return !sh.before(&t.order[j], sec, nsec, id) })
}

// before reports whether o comes before (sec, nsec, id); only a tie on the
// time reads o's slot.
func (sh *shard) before(o *orderEntry, sec int64, nsec int32, id string) bool {
	if o.sec != sec {
		return o.sec < sec
	}
	if o.nsec != nsec {
		return o.nsec < nsec
	}
	return sh.slots[o.e].id < id
}

func (tx *txn) insertOrder(sh *shard, t *tenant, e uint32) {
	sl := &sh.slots[e]
	n := len(t.order)
	i := n
	// Most records are their tenant's newest: compare with the last entry.
	if n > 0 && !sh.before(&t.order[n-1], sl.sec, sl.nsec, sl.id) {
		i = find(sh, t, sl.sec, sl.nsec, sl.id)
	}
	t.order = slices.Insert(t.order, i, orderEntry{sl.sec, sl.nsec, e})
	tx.undo = append(tx.undo, undo{kind: undoOrderInsert, t: t, i: i})
}

func (tx *txn) removeOrder(sh *shard, t *tenant, e uint32) {
	sl := &sh.slots[e]
	i := find(sh, t, sl.sec, sl.nsec, sl.id)
	if i < len(t.order) && t.order[i].e == e {
		t.order = slices.Delete(t.order, i, i+1)
		tx.undo = append(tx.undo, undo{kind: undoOrderRemove, t: t, i: i, e: e, sec: sl.sec, nsec: sl.nsec})
	}
}

// Get implements invite.Store.
func (s *Store) Get(ctx context.Context, tenantID, id string) (*invite.Record, error) {
	return s.getIn(ctx, tenantID, func(t *tenant) (uint32, bool) { return t.getID(id) })
}

// getIn returns a copy of the record that find names in the tenant's
// indexes.
func (s *Store) getIn(ctx context.Context, tenantID string, find func(*tenant) (uint32, bool)) (*invite.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sh := s.shardOf(tenantID)
	sh.mu.RLock()
	var cur blob
	if t := sh.tenants[tenantID]; t != nil {
		if e, ok := find(t); ok {
			cur = sh.slots[e].cur
		}
	}
	sh.mu.RUnlock()
	// A blob is immutable: it is decoded outside the lock.
	if cur == nil {
		return nil, invite.ErrNotFound
	}
	return cur.decode(), nil
}

// GetByTokenHash implements invite.Store.
//
// It reads the slot the token index names (the first entry with h's
// hash, see hashTable), without holding the index's lock while it locks
// the shard (Apply takes them in the other order), so
// the answer may be a moment stale: a batch may have moved the hash to
// another record (handing over a deleted record's hash) or been rolled back
// in between. It trusts only the slot's record, and when that does not
// hold the hash it looks again with the shard locked: every change to the
// index entries naming a shard's slots is made by an Apply holding that
// shard's lock, so an entry read under the lock is the committed one.
func (s *Store) GetByTokenHash(ctx context.Context, h invite.TokenHash) (*invite.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, ok := s.tokenCandidate(h)
	if !ok {
		return nil, invite.ErrNotFound
	}
	sh := &s.shards[r.shard()]
	sh.mu.RLock()
	var cur blob
	if int(r.slot()) < len(sh.slots) {
		cur = sh.slots[r.slot()].cur
	}
	sh.mu.RUnlock()
	// A blob is immutable, so it is decoded outside the lock.
	if cur != nil {
		if hd := cur.header(); hd.hasHash(h) {
			return cur.decodeWith(&hd), nil
		}
	}
	// The hash moved since the index was read, or the entry read was
	// another key's with the same hash: look it up exactly, and follow it.
	// Each move is another batch's commit or rollback, so this loops only
	// while batches keep handing the hash from shard to shard.
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cur, moved := s.slotBlobLocked(r, h)
		if !moved {
			if cur == nil {
				return nil, invite.ErrNotFound
			}
			return cur.decode(), nil
		}
		if r, ok = s.tokenRef(h); !ok {
			return nil, invite.ErrNotFound
		}
	}
}

// slotBlobLocked looks h up in the token index with r's shard locked. When
// the index maps h to a slot of another shard it reports moved. Otherwise
// it returns the current version of the slot h maps to if that holds h,
// or nil: the hash is nobody's.
func (s *Store) slotBlobLocked(r ref, h invite.TokenHash) (cur blob, moved bool) {
	sh := &s.shards[r.shard()]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	now, ok := s.tokenRef(h)
	switch {
	case !ok:
		return nil, false
	case now.shard() != r.shard():
		return nil, true
	}
	if r = now; int(r.slot()) < len(sh.slots) {
		if cur := sh.slots[r.slot()].cur; cur != nil {
			if hd := cur.header(); hd.hasHash(h) {
				return cur, false
			}
		}
	}
	return nil, false
}

// GetByIdempotencyKey implements invite.Store.
func (s *Store) GetByIdempotencyKey(ctx context.Context, tenantID, key string) (*invite.Record, error) {
	return s.getIn(ctx, tenantID, func(t *tenant) (uint32, bool) { return t.getIdem(key) })
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
	var found [3]uint32
	es := found[:0]
	var buf [3]invite.InviteeKey
	for _, k := range iv.AppendKeys(buf[:0]) {
		if e, ok := t.getOpen(k); ok && !slices.Contains(es, e) {
			es = append(es, e)
		}
	}
	slices.SortFunc(es, func(a, b uint32) int {
		if sh.slots[a].less(&sh.slots[b]) {
			return -1
		}
		return 1
	})
	var recs []*invite.Record
	for _, e := range es {
		recs = append(recs, sh.slots[e].cur.decode())
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
		if c := q.After; c != nil {
			// the first slot after the cursor: past the cursor's own slot
			sec, nsec := c.CreatedAt.Unix(), int32(c.CreatedAt.Nanosecond())
			if i = find(sh, t, sec, nsec, c.ID); i < n {
				if o := &t.order[i]; o.sec == sec && o.nsec == nsec && sh.slots[o.e].id == c.ID {
					i++
				}
			}
		}
	default:
		i, step = n-1, -1
		if c := q.After; c != nil {
			i = find(sh, t, c.CreatedAt.Unix(), int32(c.CreatedAt.Nanosecond()), c.ID) - 1
		}
	}
	out := make([]*invite.Invitation, 0, min(q.Limit, n))
	for ; i >= 0 && i < n; i += step {
		cur := sh.slots[t.order[i].e].cur
		// Filter on the scalar fields; decode the collections of matches only.
		var r invite.Record
		hd := cur.header()
		if cur.decodeInto(&hd, &r, false, nil); !q.Matches(&r.Invitation, q.Now) {
			continue
		}
		if len(out) == q.Limit {
			return out, invite.CursorOf(out[len(out)-1]), nil
		}
		out = append(out, &cur.decodeWith(&hd).Invitation)
	}
	return out, nil, nil
}

// ListDue implements invite.Store. It scans every record: memstore keeps no
// expiry index.
func (s *Store) ListDue(ctx context.Context, now time.Time, limit int) ([]*invite.Record, error) {
	type due struct {
		cur     blob
		expires time.Time
	}
	var dues []due
	for i := range s.shards {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sh := &s.shards[i]
		sh.mu.RLock()
		for _, t := range sh.tenants {
			for _, o := range t.order {
				cur := sh.slots[o.e].cur
				if hd := cur.header(); hd.open() && !now.Before(hd.expires) {
					dues = append(dues, due{cur, hd.expires})
				}
			}
		}
		sh.mu.RUnlock()
	}
	slices.SortFunc(dues, func(a, b due) int { return a.expires.Compare(b.expires) })
	dues = dues[:min(len(dues), max(limit, 0))]
	recs := make([]*invite.Record, 0, len(dues))
	for _, d := range dues {
		recs = append(recs, d.cur.decode())
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
			type victim struct {
				e  uint32
				hd header
			}
			var victims []victim
			for _, o := range t.order {
				if n+len(victims) >= limit {
					break
				}
				hd := sh.slots[o.e].cur.header()
				if (hd.state.Terminal() || hd.state == invite.StateExpired) && hd.closed.Before(before) {
					victims = append(victims, victim{o.e, hd})
				}
			}
			tx := txn{s: s} // its undo log goes unused: nothing here fails
			for _, v := range victims {
				tx.unindex(t, i, v.e, &v.hd, nil, nil)
				tx.removeOrder(sh, t, v.e)
				t.delID(sh.slots[v.e].id, v.e)
				tx.freed = append(tx.freed, refOf(i, v.e))
			}
			tx.commit()
			n += len(victims)
			if t.byID.len() == 0 {
				sh.dropTenant(id, t)
			}
		}
		sh.mu.Unlock()
	}
	return n, nil
}

// DiscardsEvents implements invite.EventDiscarder: memstore keeps no
// outbox, so a Manager without an EventSink skips building events.
func (s *Store) DiscardsEvents() bool { return true }
