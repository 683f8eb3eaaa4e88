// Package memstore is an in-memory invite.Store for tests, prototypes and
// single-process hosts. Nothing is persisted: the invitations are lost when
// the process exits, and two processes never share them.
//
// It is deliberately plain. One sync.RWMutex guards everything: reads share
// it, and a write (Apply, Purge) holds it alone, so writes are serialised
// across all tenants. Records are kept in Go maps by tenant and id, with maps
// from every current and previous token hash, idempotency key and open
// invitee key to their record, and, per tenant, a slice ordered by
// (CreatedAt, ID) that List seeks by binary search. ListDue and Purge scan
// every record.
//
// Records are deep-copied on the way in and on the way out, so a caller never
// shares memory with the store; times are kept as given (nanoseconds
// included) and returned in UTC.
//
// Events in a batch are not kept (memstore has no outbox): the Manager hands
// them to its EventSink, and builds none when it has no EventSink (Store
// implements invite.EventDiscarder).
package memstore

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/invitekit/invite"
)

// Store is the in-memory store. The zero value is not usable; call New.
//
// Every record it holds is its own copy, never modified once stored (a
// write stores a new copy), so a reader may copy it out after releasing the
// lock.
type Store struct {
	mu      sync.RWMutex
	tenants map[string]*tenant
	// tokens maps every current and previous token hash (but the zero
	// hash) to its record, across tenants.
	tokens map[invite.TokenHash]*invite.Record
}

// tenant holds one tenant's records and indexes. A tenant without records
// is removed.
type tenant struct {
	byID map[string]*invite.Record
	idem map[string]*invite.Record
	// open maps the invitee keys of open (pending or sent) records.
	open map[invite.InviteeKey]*invite.Record
	// order holds the records sorted by (CreatedAt, ID).
	order []*invite.Record
}

// noTenant is what readers see of a tenant that holds nothing: its nil maps
// read as empty.
var noTenant = &tenant{}

var (
	_ invite.Store          = (*Store)(nil)
	_ invite.EventDiscarder = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{tenants: map[string]*tenant{}, tokens: map[invite.TokenHash]*invite.Record{}}
}

// DiscardsEvents implements invite.EventDiscarder: memstore keeps no
// outbox, so a Manager without an EventSink skips building events.
func (s *Store) DiscardsEvents() bool { return true }

// tenant returns the tenant with the given id, or noTenant.
func (s *Store) tenant(id string) *tenant {
	if t := s.tenants[id]; t != nil {
		return t
	}
	return noTenant
}

// Apply implements invite.Store. It copies the new versions, then, holding
// the lock, checks every write of the batch against the store and the
// earlier writes (check) and only then changes anything, so a batch that
// fails leaves no trace.
func (s *Store) Apply(ctx context.Context, b *invite.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	recs := make([]*invite.Record, len(b.Writes))
	for i, w := range b.Writes {
		switch {
		case w.Record == nil:
			return fmt.Errorf("%w: memstore: write %d has no Record", invite.ErrInvalid, i)
		case w.Delete && w.Expect <= 0:
			return fmt.Errorf("%w: memstore: write %d deletes without Expect", invite.ErrInvalid, i)
		case !w.Delete:
			recs[i] = copyIn(w.Record)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(b.Writes, recs); err != nil {
		return err
	}
	for i, w := range b.Writes {
		s.write(w.Record.Invitation.TenantID, w.Record.Invitation.ID, recs[i])
	}
	return nil
}

// check runs the writes, in order, against the store without changing it:
// each write sees the records the earlier ones removed (gone) or added. It
// returns the error of the first write that would fail; recs[i] is the new
// version of write i (nil when it deletes).
func (s *Store) check(ws []invite.Write, recs []*invite.Record) error {
	var gone, added []*invite.Record
	live := func(r *invite.Record) bool { return r != nil && !slices.Contains(gone, r) }
	for i, w := range ws {
		inv := &w.Record.Invitation
		t := s.tenant(inv.TenantID)
		// The record the write replaces: the tenant's with that id, as the
		// earlier writes left it.
		old := t.byID[inv.ID]
		for _, a := range added {
			if a.Invitation.TenantID == inv.TenantID && a.Invitation.ID == inv.ID {
				old = a
			}
		}
		if !live(old) {
			old = nil
		}
		switch {
		case w.Expect <= 0 && old != nil:
			return invite.ErrAlreadyExists
		case w.Expect > 0 && old == nil:
			return invite.ErrNotFound
		case w.Expect > 0 && old.Invitation.Version != w.Expect:
			return invite.ErrConflict
		case old != nil:
			gone = append(gone, old)
		}
		r := recs[i]
		if r == nil {
			continue
		}
		for h := range hashes(r) {
			if live(s.tokens[h]) {
				return invite.ErrAlreadyExists
			}
		}
		if k := r.Invitation.IdempotencyKey; k != "" && live(t.idem[k]) {
			return invite.ErrAlreadyExists
		}
		for _, k := range openKeys(r) {
			if live(t.open[k]) {
				return invite.ErrAlreadyExists
			}
		}
		for _, a := range added {
			if live(a) && clash(a, r) {
				return invite.ErrAlreadyExists
			}
		}
		added = append(added, r)
	}
	return nil
}

// clash reports whether a and b would share a token hash, an idempotency
// key or an open invitee key.
func clash(a, b *invite.Record) bool {
	for h := range hashes(a) {
		for g := range hashes(b) {
			if h == g {
				return true
			}
		}
	}
	if a.Invitation.TenantID != b.Invitation.TenantID {
		return false
	}
	if k := a.Invitation.IdempotencyKey; k != "" && k == b.Invitation.IdempotencyKey {
		return true
	}
	bk := openKeys(b)
	for _, k := range openKeys(a) {
		if slices.Contains(bk, k) {
			return true
		}
	}
	return false
}

// write replaces the tenant's record with that id, if any, by r, or deletes
// it when r is nil. check has vetted the change.
func (s *Store) write(tenantID, id string, r *invite.Record) {
	t := s.tenants[tenantID]
	if t == nil {
		t = &tenant{byID: map[string]*invite.Record{}, idem: map[string]*invite.Record{},
			open: map[invite.InviteeKey]*invite.Record{}}
		s.tenants[tenantID] = t
	}
	old := t.byID[id]
	if old != nil {
		s.unindex(t, old)
		i, _ := t.search(old)
		if r != nil && compare(r, key(old)) == 0 {
			t.order[i] = r // same place: the common update
			s.index(t, r)
			return
		}
		t.order = slices.Delete(t.order, i, i+1)
	}
	if r != nil {
		s.index(t, r)
		i, _ := t.search(r)
		t.order = slices.Insert(t.order, i, r)
	}
	if len(t.byID) == 0 {
		delete(s.tenants, tenantID)
	}
}

// index maps r's id and keys to r; it leaves t.order alone.
func (s *Store) index(t *tenant, r *invite.Record) {
	t.byID[r.Invitation.ID] = r
	for h := range hashes(r) {
		s.tokens[h] = r
	}
	if k := r.Invitation.IdempotencyKey; k != "" {
		t.idem[k] = r
	}
	for _, k := range openKeys(r) {
		t.open[k] = r
	}
}

// unindex removes what index added for r; it leaves t.order alone.
func (s *Store) unindex(t *tenant, r *invite.Record) {
	drop(t.byID, r.Invitation.ID, r)
	for h := range hashes(r) {
		drop(s.tokens, h, r)
	}
	drop(t.idem, r.Invitation.IdempotencyKey, r)
	for _, k := range openKeys(r) {
		drop(t.open, k, r)
	}
}

// drop deletes m[k] if it is r.
func drop[K comparable](m map[K]*invite.Record, k K, r *invite.Record) {
	if m[k] == r {
		delete(m, k)
	}
}

// hashes yields r's current and previous token hashes, but the zero hash.
func hashes(r *invite.Record) iter.Seq[invite.TokenHash] {
	return func(yield func(invite.TokenHash) bool) {
		if h := r.Credentials.TokenHash; !h.IsZero() && !yield(h) {
			return
		}
		for _, p := range r.Credentials.PreviousTokens {
			if !p.Hash.IsZero() && !yield(p.Hash) {
				return
			}
		}
	}
}

// openKeys returns r's invitee keys if r is open, else nothing.
func openKeys(r *invite.Record) []invite.InviteeKey {
	if !r.Invitation.State.Open() {
		return nil
	}
	return r.Invitation.Invitee.AppendKeys(nil)
}

// key is r's place in the order List uses.
func key(r *invite.Record) invite.Cursor {
	return invite.Cursor{CreatedAt: r.Invitation.CreatedAt, ID: r.Invitation.ID}
}

// compare orders r against the position c by (CreatedAt, ID), as
// invite.Cursor.Less does.
func compare(r *invite.Record, c invite.Cursor) int {
	if n := r.Invitation.CreatedAt.Compare(c.CreatedAt); n != 0 {
		return n
	}
	return strings.Compare(r.Invitation.ID, c.ID)
}

// search returns where r is, or would be, in t.order.
func (t *tenant) search(r *invite.Record) (int, bool) {
	return slices.BinarySearchFunc(t.order, key(r), compare)
}

// copyIn returns a deep copy of r with its times in UTC: what the store keeps.
func copyIn(r *invite.Record) *invite.Record {
	c := r.Clone()
	inv := &c.Invitation
	for _, t := range []*time.Time{&inv.CreatedAt, &inv.UpdatedAt, &inv.IssuedAt, &inv.ExpiresAt, &inv.SentAt, &inv.ClosedAt} {
		*t = t.UTC()
	}
	for i := range c.Credentials.PreviousTokens {
		p := &c.Credentials.PreviousTokens[i]
		p.ExpiresAt = p.ExpiresAt.UTC()
	}
	return c
}

// read returns a copy of the record find returns under the read lock.
func (s *Store) read(ctx context.Context, find func() *invite.Record) (*invite.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	r := find()
	s.mu.RUnlock()
	if r == nil {
		return nil, invite.ErrNotFound
	}
	return r.Clone(), nil
}

// Get implements invite.Store.
func (s *Store) Get(ctx context.Context, tenantID, id string) (*invite.Record, error) {
	return s.read(ctx, func() *invite.Record { return s.tenant(tenantID).byID[id] })
}

// GetByTokenHash implements invite.Store.
func (s *Store) GetByTokenHash(ctx context.Context, h invite.TokenHash) (*invite.Record, error) {
	return s.read(ctx, func() *invite.Record { return s.tokens[h] })
}

// GetByIdempotencyKey implements invite.Store.
func (s *Store) GetByIdempotencyKey(ctx context.Context, tenantID, key string) (*invite.Record, error) {
	return s.read(ctx, func() *invite.Record { return s.tenant(tenantID).idem[key] })
}

// FindOpen implements invite.Store.
func (s *Store) FindOpen(ctx context.Context, tenantID string, iv invite.Invitee) ([]*invite.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var found []*invite.Record
	s.mu.RLock()
	t := s.tenant(tenantID)
	for _, k := range iv.AppendKeys(nil) {
		if r := t.open[k]; r != nil && !slices.Contains(found, r) {
			found = append(found, r)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(found, func(a, b *invite.Record) int { return compare(a, key(b)) })
	return copyOut(found), nil
}

// List implements invite.Store.
func (s *Store) List(ctx context.Context, tenantID string, q invite.Query) ([]*invite.Invitation, *invite.Cursor, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if q.Limit <= 0 {
		return nil, nil, nil
	}
	var page []*invite.Record
	more := false
	s.mu.RLock()
	order := s.tenant(tenantID).order
	i, step := 0, 1
	if q.Descending {
		i, step = len(order)-1, -1
	}
	if c := q.After; c != nil {
		j, found := slices.BinarySearchFunc(order, *c, compare)
		switch {
		case q.Descending:
			i = j - 1 // the last one before the cursor
		case found:
			i = j + 1 // past the cursor's own record
		default:
			i = j
		}
	}
	for ; i >= 0 && i < len(order); i += step {
		if !q.Matches(&order[i].Invitation, q.Now) {
			continue
		}
		if len(page) == q.Limit {
			more = true
			break
		}
		page = append(page, order[i])
	}
	s.mu.RUnlock()
	out := make([]*invite.Invitation, len(page))
	for i, r := range page {
		out[i] = r.Invitation.Clone()
	}
	if more {
		return out, invite.CursorOf(out[len(out)-1]), nil
	}
	return out, nil, nil
}

// ListDue implements invite.Store. It scans every record: memstore keeps no
// expiry index. Records due at the same instant come by tenant and id.
func (s *Store) ListDue(ctx context.Context, now time.Time, limit int) ([]*invite.Record, error) {
	s.mu.RLock()
	due, err := s.scan(ctx, limit, func(inv *invite.Invitation) (time.Time, bool) {
		return inv.ExpiresAt, inv.State.Open() && !now.Before(inv.ExpiresAt)
	})
	s.mu.RUnlock()
	return copyOut(due), err
}

// Purge implements invite.Store. It deletes the records closed longest ago
// first.
func (s *Store) Purge(ctx context.Context, before time.Time, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	victims, err := s.scan(ctx, limit, func(inv *invite.Invitation) (time.Time, bool) {
		return inv.ClosedAt, (inv.State.Terminal() || inv.State == invite.StateExpired) && inv.ClosedAt.Before(before)
	})
	if err != nil {
		return 0, err
	}
	// Unindex each, then compact the order of each tenant touched once.
	purged := make(map[*invite.Record]bool, len(victims))
	touched := map[string]bool{}
	for _, r := range victims {
		purged[r], touched[r.Invitation.TenantID] = true, true
		s.unindex(s.tenants[r.Invitation.TenantID], r)
	}
	for id := range touched {
		t := s.tenants[id]
		t.order = slices.DeleteFunc(t.order, func(r *invite.Record) bool { return purged[r] })
		if len(t.byID) == 0 {
			delete(s.tenants, id)
		}
	}
	return len(victims), nil
}

// scan returns up to limit records, across tenants, that match, sorted by
// the time match returns with them, then by tenant and id. The caller
// holds the lock.
func (s *Store) scan(ctx context.Context, limit int, match func(*invite.Invitation) (time.Time, bool)) ([]*invite.Record, error) {
	if err := ctx.Err(); err != nil || limit <= 0 {
		return nil, err
	}
	type hit struct {
		at time.Time
		r  *invite.Record
	}
	var hits []hit
	for _, t := range s.tenants {
		for _, r := range t.order {
			if at, ok := match(&r.Invitation); ok {
				hits = append(hits, hit{at, r})
			}
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		x, y := &a.r.Invitation, &b.r.Invitation
		return cmp.Or(a.at.Compare(b.at), strings.Compare(x.TenantID, y.TenantID), strings.Compare(x.ID, y.ID))
	})
	out := make([]*invite.Record, min(limit, len(hits)))
	for i := range out {
		out[i] = hits[i].r
	}
	return out, nil
}

// copyOut returns copies of recs.
func copyOut(recs []*invite.Record) []*invite.Record {
	out := make([]*invite.Record, len(recs))
	for i, r := range recs {
		out[i] = r.Clone()
	}
	return out
}
