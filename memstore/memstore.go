// Package memstore is an in-memory invite.Store for tests, prototypes and
// single-process hosts. Nothing is persisted: the invitations are lost when
// the process exits, and two processes never share them.
//
// It is deliberately plain. One sync.RWMutex guards everything: reads share
// it, a write holds it alone, so writes are serialised across all tenants.
// Go maps lead to each record by tenant and id, by current or previous
// token hash, by idempotency key and by open invitee key; per tenant, a
// slice sorted by (CreatedAt, ID) serves List by binary search (its
// filters and offset run over the slice from there) and Count, which scans
// the tenant's records (Store implements invite.Counter). ListDue and
// Purge scan every record. Records are deep-copied in and out, so a caller
// never shares memory with the store; times come back in UTC.
//
// Store implements invite.Outbox with the same semantics as the SQL
// stores (claims with leases, retries, dead letters, re-drive, retention),
// in memory: what is queued and not yet delivered is lost with the process,
// so memstore's delivery guarantee ends where the process does.
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
	// outbox holds the queued events and messages by id (outbox.go).
	outbox map[string]*invite.OutboxEntry
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

// noTenant is what readers see of a tenant that holds nothing: nil maps
// read as empty.
var noTenant = &tenant{}

var (
	_ invite.Store   = (*Store)(nil)
	_ invite.Counter = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{tenants: map[string]*tenant{}, tokens: map[invite.TokenHash]*invite.Record{},
		outbox: map[string]*invite.OutboxEntry{}}
}

func (s *Store) tenant(id string) *tenant {
	if t := s.tenants[id]; t != nil {
		return t
	}
	return noTenant
}

// Apply implements invite.Store. As sqlstore does, it refuses with an
// *invite.ValidationError a write with a nil Record, no TenantID or ID, a
// negative Expect, a Delete without Expect, an invalid State, or a Version
// other than Expect+1 (at least 1 on an insert), and what invite.Outbox
// refuses of its events, messages and delivered ids; a batch queueing an
// entry under an id taken (by another of its entries, or by one the outbox
// keeps) is invite.ErrAlreadyExists. It copies the new
// versions, then, holding the lock, applies the writes in order, each
// checked against the store as the earlier ones left it. When one fails,
// it writes back what the earlier ones replaced, last first, so a failed
// batch leaves no trace; readers wait for the lock and never see it.
func (s *Store) Apply(ctx context.Context, b *invite.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var fs fieldList
	for i, w := range b.Writes {
		if field, reason := malformed(w); field != "" {
			fs.add(fmt.Sprintf("Writes[%d]%s", i, field), reason)
		}
	}
	checkQueued(&fs, b)
	if err := fs.err(); err != nil {
		return err
	}
	recs := make([]*invite.Record, len(b.Writes))
	for i, w := range b.Writes {
		if !w.Delete {
			recs[i] = copyIn(w.Record)
		}
	}
	if queuedTwice(b) {
		return fmt.Errorf("memstore: apply: an outbox id queued twice, or queued and delivered: %w", invite.ErrAlreadyExists)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	olds := make([]*invite.Record, len(b.Writes))
	// undo writes back what the first n writes replaced, last first.
	undo := func(n int) {
		for j := n - 1; j >= 0; j-- {
			s.write(b.Writes[j].Record.Invitation.TenantID, b.Writes[j].Record.Invitation.ID, olds[j])
		}
	}
	for i, w := range b.Writes {
		old, err := s.check(w, recs[i])
		if err != nil {
			undo(i)
			return err
		}
		olds[i] = old
		s.write(w.Record.Invitation.TenantID, w.Record.Invitation.ID, recs[i])
	}
	// As in sqlstore, the outbox entries come after the writes, and the
	// inviters' limits are counted with the batch applied.
	if s.queueCollides(b) {
		undo(len(b.Writes))
		return fmt.Errorf("memstore: apply: an outbox entry with that id exists: %w", invite.ErrAlreadyExists)
	}
	for _, w := range b.Writes {
		if w.OpenLimit > 0 && w.Expect == 0 && !w.Delete && s.openOf(&w.Record.Invitation) > w.OpenLimit {
			undo(len(b.Writes))
			return invite.ErrQuotaExceeded
		}
	}
	s.queue(b)
	return nil
}

// EnforcesOpenLimit implements invite.OpenLimiter: Apply enforces
// Write.OpenLimit under the Store's lock.
func (s *Store) EnforcesOpenLimit() bool { return true }

// openOf counts the open invitations of inv's inviter in its tenant that
// expire after inv's creation. The caller holds the lock.
func (s *Store) openOf(inv *invite.Invitation) int {
	t := s.tenants[inv.TenantID]
	if t == nil {
		return 0
	}
	n := 0
	for _, r := range t.byID {
		o := &r.Invitation
		if o.Inviter.ID == inv.Inviter.ID && o.State.Open() && o.ExpiresAt.After(inv.CreatedAt) {
			n++
		}
	}
	return n
}

// malformed returns the field and the reason that make w a write no store
// applies, or two empty strings.
func malformed(w invite.Write) (field, reason string) {
	if w.Record == nil {
		return ".Record", "is nil"
	}
	inv := &w.Record.Invitation
	switch {
	case inv.TenantID == "" || inv.ID == "":
		return ".Record.Invitation", "needs a TenantID and an ID"
	case w.Expect < 0:
		return ".Expect", "must not be negative"
	case w.Delete && w.Expect == 0:
		return ".Delete", "needs Expect, the version deleted"
	case w.Delete:
	case !inv.State.Valid():
		return ".Record.Invitation.State", "is not a state"
	case w.Expect == 0 && inv.Version < 1:
		return ".Record.Invitation.Version", "must be at least 1 on an insert"
	case w.Expect > 0 && inv.Version != w.Expect+1:
		return ".Record.Invitation.Version", "must be Expect+1 on an update"
	}
	return "", ""
}

// check returns the record w replaces (nil when w inserts), or the error
// why w cannot apply to the store as it is; r is w's new version (nil when
// w deletes).
func (s *Store) check(w invite.Write, r *invite.Record) (*invite.Record, error) {
	inv := &w.Record.Invitation
	t := s.tenant(inv.TenantID)
	old := t.byID[inv.ID]
	switch {
	case w.Expect == 0 && old != nil:
		return nil, invite.ErrAlreadyExists
	case w.Expect > 0 && old == nil:
		return nil, invite.ErrNotFound
	case w.Expect > 0 && old.Invitation.Version != w.Expect:
		return nil, invite.ErrConflict
	case r == nil:
		return old, nil
	}
	// A key is taken if another record than the one replaced holds it.
	taken := func(holder *invite.Record) bool { return holder != nil && holder != old }
	for h := range hashes(r) {
		if taken(s.tokens[h]) {
			return nil, invite.ErrAlreadyExists
		}
	}
	if k := r.Invitation.IdempotencyKey; k != "" && taken(t.idem[k]) {
		return nil, invite.ErrAlreadyExists
	}
	for k := range openKeys(r) {
		if taken(t.open[k]) {
			return nil, invite.ErrAlreadyExists
		}
	}
	return old, nil
}

// write replaces the tenant's record with that id, if any, by r, or deletes
// it when r is nil: a change check allowed, or Apply putting back an
// earlier version.
func (s *Store) write(tenantID, id string, r *invite.Record) {
	t := s.tenants[tenantID]
	if t == nil {
		t = &tenant{byID: map[string]*invite.Record{}, idem: map[string]*invite.Record{},
			open: map[invite.InviteeKey]*invite.Record{}}
		s.tenants[tenantID] = t
	}
	if old := t.byID[id]; old != nil {
		s.unindex(t, old)
		i := t.search(old)
		if r != nil && compareKeys(key(r), key(old)) == 0 {
			t.order[i] = r // the common update: same place
			s.index(t, r)
			return
		}
		t.order = slices.Delete(t.order, i, i+1)
	}
	if r != nil {
		s.index(t, r)
		t.order = slices.Insert(t.order, t.search(r), r)
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
	for k := range openKeys(r) {
		t.open[k] = r
	}
}

// unindex removes what index added for r.
func (s *Store) unindex(t *tenant, r *invite.Record) {
	drop(t.byID, r.Invitation.ID, r)
	for h := range hashes(r) {
		drop(s.tokens, h, r)
	}
	drop(t.idem, r.Invitation.IdempotencyKey, r)
	for k := range openKeys(r) {
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

// openKeys yields r's invitee keys if r is open, else nothing.
func openKeys(r *invite.Record) iter.Seq[invite.InviteeKey] {
	return func(yield func(invite.InviteeKey) bool) {
		if !r.Invitation.State.Open() {
			return
		}
		var buf [3]invite.InviteeKey
		for _, k := range r.Invitation.Invitee.AppendKeys(buf[:0]) {
			if !yield(k) {
				return
			}
		}
	}
}

// key is r's position in the order List uses.
func key(r *invite.Record) invite.Cursor {
	return invite.Cursor{CreatedAt: r.Invitation.CreatedAt, ID: r.Invitation.ID}
}

// compareKeys orders positions by (CreatedAt, ID), as invite.Cursor.Less
// does.
func compareKeys(a, b invite.Cursor) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

func compare(r *invite.Record, c invite.Cursor) int { return compareKeys(key(r), c) }

// search returns where r is, or would be, in t.order. Most new records are
// their tenant's newest: the last place is tried first.
func (t *tenant) search(r *invite.Record) int {
	k := key(r)
	if n := len(t.order); n == 0 || compare(t.order[n-1], k) < 0 {
		return n
	}
	i, _ := slices.BinarySearchFunc(t.order, k, compare)
	return i
}

// copyIn returns a deep copy of r with its times in UTC: what the store keeps.
func copyIn(r *invite.Record) *invite.Record {
	c := r.Clone()
	inv := &c.Invitation
	for _, t := range []*time.Time{&inv.CreatedAt, &inv.UpdatedAt, &inv.IssuedAt, &inv.ExpiresAt, &inv.SentAt, &inv.ClosedAt, &inv.LastResentAt} {
		*t = t.UTC()
	}
	for i := range c.Credentials.PreviousTokens {
		p := &c.Credentials.PreviousTokens[i]
		p.ExpiresAt = p.ExpiresAt.UTC()
	}
	return c
}

// copyOut returns copies of recs.
func copyOut(recs []*invite.Record) []*invite.Record {
	out := make([]*invite.Record, len(recs))
	for i, r := range recs {
		out[i] = r.Clone()
	}
	return out
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
	var buf [3]invite.InviteeKey
	s.mu.RLock()
	t := s.tenant(tenantID)
	for _, k := range iv.AppendKeys(buf[:0]) {
		if r := t.open[k]; r != nil && !slices.Contains(found, r) {
			found = append(found, r)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(found, func(a, b *invite.Record) int { return compareKeys(key(a), key(b)) })
	return copyOut(found), nil
}

// List implements invite.Store.
func (s *Store) List(ctx context.Context, tenantID string, q invite.Query) ([]*invite.Invitation, *invite.Cursor, error) {
	if err := ctx.Err(); err != nil || q.Limit <= 0 {
		return nil, nil, err
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
	skip := q.Offset
	for ; i >= 0 && i < len(order); i += step {
		r := order[i]
		if !q.Matches(&r.Invitation, q.Now) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		if len(page) == q.Limit {
			more = true
			break
		}
		page = append(page, r)
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

// Count implements invite.Counter: it runs Filter.Matches over the
// tenant's records.
func (s *Store) Count(ctx context.Context, tenantID string, f invite.Filter, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	s.mu.RLock()
	for _, r := range s.tenant(tenantID).order {
		if f.Matches(&r.Invitation, now) {
			n++
		}
	}
	s.mu.RUnlock()
	return n, nil
}

// ListDue implements invite.Store. It scans every record: memstore keeps no
// expiry index. Records due at the same instant come by tenant and id.
func (s *Store) ListDue(ctx context.Context, now time.Time, limit int) ([]*invite.Record, error) {
	s.mu.RLock()
	due, err := s.scan(ctx, limit, func(inv *invite.Invitation) bool {
		return inv.State.Open() && !now.Before(inv.ExpiresAt)
	}, func(inv *invite.Invitation) time.Time { return inv.ExpiresAt })
	s.mu.RUnlock()
	return copyOut(due), err
}

// Purge implements invite.Store. It deletes the records closed longest ago
// first.
func (s *Store) Purge(ctx context.Context, before time.Time, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	victims, err := s.scan(ctx, limit, func(inv *invite.Invitation) bool {
		return (inv.State.Terminal() || inv.State == invite.StateExpired) && inv.ClosedAt.Before(before)
	}, func(inv *invite.Invitation) time.Time { return inv.ClosedAt })
	for _, r := range victims {
		s.unindex(s.tenants[r.Invitation.TenantID], r)
		s.forget(r.Invitation.TenantID, r.Invitation.ID, func(*invite.OutboxEntry) bool { return true })
	}
	if len(victims) > 0 { // then drop them from every order at once
		for id, t := range s.tenants {
			t.order = slices.DeleteFunc(t.order, func(r *invite.Record) bool { return t.byID[r.Invitation.ID] != r })
			if len(t.byID) == 0 {
				delete(s.tenants, id)
			}
		}
	}
	return len(victims), err
}

// scan returns up to limit records, across tenants, that match, sorted by
// at, then by tenant and id. The caller holds the lock.
func (s *Store) scan(ctx context.Context, limit int, match func(*invite.Invitation) bool,
	at func(*invite.Invitation) time.Time) ([]*invite.Record, error) {
	if err := ctx.Err(); err != nil || limit <= 0 {
		return nil, err
	}
	var found []*invite.Record
	for _, t := range s.tenants {
		for _, r := range t.order {
			if match(&r.Invitation) {
				found = append(found, r)
			}
		}
	}
	slices.SortFunc(found, func(a, b *invite.Record) int {
		x, y := &a.Invitation, &b.Invitation
		return cmp.Or(at(x).Compare(at(y)), strings.Compare(x.TenantID, y.TenantID), strings.Compare(x.ID, y.ID))
	})
	return found[:min(limit, len(found))], nil
}
