// Package memstore is an in-memory invite.Store: for tests, prototypes and
// single-process hosts that can lose their invitations on restart.
//
// Lookups by id, token hash, idempotency key and open invitee key are O(1)
// (hash maps); List seeks its cursor by binary search in a per-tenant slice
// ordered by (CreatedAt, ID). Tenants are spread over 64 shards, each with its
// own lock, and the token index is a sync.Map, so unrelated tenants never
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
	// tokens maps every current and previous token hash to its record.
	tokens sync.Map // invite.TokenHash -> ref
}

type shard struct {
	mu      sync.RWMutex
	tenants map[string]*tenant
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
	}
	return s
}

func (s *Store) shardIndex(tenantID string) int {
	return int(maphash.String(s.seed, tenantID) % shardCount)
}

func (s *Store) shardOf(tenantID string) *shard { return &s.shards[s.shardIndex(tenantID)] }

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
// undo log, and rolls all of them back on the first failure.
func (s *Store) Apply(ctx context.Context, b *invite.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	idx := make([]int, 0, 2)
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
	tx := txn{s: s}
	for _, w := range b.Writes {
		if err := tx.write(w); err != nil {
			tx.rollback()
			return err
		}
	}
	tx.commit()
	return nil
}

// txn is one Apply in progress.
type txn struct {
	s    *Store
	undo []func()
	// dropTokens are token hashes to unindex once the batch commits.
	dropTokens []tokenRef
}

type tokenRef struct {
	h invite.TokenHash
	r ref
}

func (tx *txn) rollback() {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		tx.undo[i]()
	}
}

func (tx *txn) commit() {
	for _, d := range tx.dropTokens {
		tx.s.tokens.CompareAndDelete(d.h, d.r)
	}
}

func hashesOf(r *invite.Record) []invite.TokenHash {
	hs := make([]invite.TokenHash, 0, 1+len(r.Credentials.PreviousTokens))
	if !r.Credentials.TokenHash.IsZero() {
		hs = append(hs, r.Credentials.TokenHash)
	}
	for _, p := range r.Credentials.PreviousTokens {
		hs = append(hs, p.Hash)
	}
	return hs
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
	r := ref{inv.TenantID, inv.ID}
	var next *invite.Record
	if !w.Delete {
		next = w.Record.Clone()
	}
	// Unindex the old version first, so that a batch may hand a key from
	// one record to another.
	if old != nil {
		tx.unindex(t, old, next)
		tx.removeOrder(t, old)
		delete(t.byID, inv.ID)
		tx.undo = append(tx.undo, func() { t.byID[inv.ID] = old })
	}
	if next == nil {
		return nil
	}
	if err := tx.index(t, next, r, old); err != nil {
		return err
	}
	t.byID[inv.ID] = next
	tx.undo = append(tx.undo, func() { delete(t.byID, inv.ID) })
	tx.insertOrder(t, next)
	return nil
}

// index adds next's idempotency key, open invitee keys and token hashes.
func (tx *txn) index(t *tenant, next *invite.Record, r ref, old *invite.Record) error {
	inv := &next.Invitation
	if k := inv.IdempotencyKey; k != "" {
		if id, ok := t.idem[k]; ok && id != inv.ID {
			return invite.ErrAlreadyExists
		}
		prev, had := t.idem[k]
		t.idem[k] = inv.ID
		tx.undo = append(tx.undo, func() {
			if had {
				t.idem[k] = prev
			} else {
				delete(t.idem, k)
			}
		})
	}
	if inv.State.Open() {
		for _, k := range inv.Invitee.Keys() {
			if id, ok := t.open[k]; ok && id != inv.ID {
				return invite.ErrAlreadyExists
			}
		}
		for _, k := range inv.Invitee.Keys() {
			t.open[k] = inv.ID
			tx.undo = append(tx.undo, func() { delete(t.open, k) })
		}
	}
	for _, h := range hashesOf(next) {
		got, loaded := tx.s.tokens.LoadOrStore(h, r)
		if loaded {
			if got.(ref) != r {
				return invite.ErrAlreadyExists
			}
			// Already ours; make sure commit does not drop it.
			tx.dropTokens = slices.DeleteFunc(tx.dropTokens, func(d tokenRef) bool { return d.h == h })
			continue
		}
		tx.undo = append(tx.undo, func() { tx.s.tokens.CompareAndDelete(h, r) })
	}
	return nil
}

// unindex removes old's keys; token hashes are dropped at commit unless next
// keeps them.
func (tx *txn) unindex(t *tenant, old, next *invite.Record) {
	inv := &old.Invitation
	if k := inv.IdempotencyKey; k != "" && t.idem[k] == inv.ID {
		delete(t.idem, k)
		tx.undo = append(tx.undo, func() { t.idem[k] = inv.ID })
	}
	if inv.State.Open() {
		for _, k := range inv.Invitee.Keys() {
			if t.open[k] == inv.ID {
				delete(t.open, k)
				tx.undo = append(tx.undo, func() { t.open[k] = inv.ID })
			}
		}
	}
	r := ref{inv.TenantID, inv.ID}
	for _, h := range hashesOf(old) {
		if next == nil || !slices.Contains(hashesOf(next), h) {
			tx.dropTokens = append(tx.dropTokens, tokenRef{h, r})
		}
	}
}

func less(a, b *invite.Invitation) bool {
	return invite.Cursor{CreatedAt: a.CreatedAt, ID: a.ID}.Less(invite.Cursor{CreatedAt: b.CreatedAt, ID: b.ID})
}

func (tx *txn) insertOrder(t *tenant, r *invite.Record) {
	n := len(t.order)
	i := n
	if n > 0 && less(&r.Invitation, &t.order[n-1].Invitation) {
		i = sort.Search(n, func(j int) bool { return less(&r.Invitation, &t.order[j].Invitation) })
	}
	t.order = slices.Insert(t.order, i, r)
	tx.undo = append(tx.undo, func() { t.order = slices.Delete(t.order, i, i+1) })
}

func (tx *txn) removeOrder(t *tenant, r *invite.Record) {
	i := sort.Search(len(t.order), func(j int) bool { return !less(&t.order[j].Invitation, &r.Invitation) })
	if i < len(t.order) && t.order[i] == r {
		t.order = slices.Delete(t.order, i, i+1)
		tx.undo = append(tx.undo, func() { t.order = slices.Insert(t.order, i, r) })
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
	v, ok := s.tokens.Load(h)
	if !ok {
		return nil, invite.ErrNotFound
	}
	r := v.(ref)
	rec, err := s.Get(ctx, r.tenantID, r.id)
	if err != nil {
		return nil, err
	}
	// The index may be a moment ahead of (or behind) the record during a
	// concurrent Apply: trust only the record.
	if slices.Contains(hashesOf(rec), h) {
		return rec, nil
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
	return due[:min(len(due), limit)], nil
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
				tx := txn{s: s}
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
