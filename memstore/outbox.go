package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/invitekit/invite"
)

// The outbox: one map from entry id to entry, guarded by the store's
// mutex, scanned whole by every claim (plain, not fast: memstore is for
// tests and single processes). Entries are stored as private copies and
// copied out.

var _ invite.Outbox = (*Store)(nil)

// checkQueued validates what b queues and settles, before anything is
// written.
func checkQueued(b *invite.Batch) error {
	var fields []invite.FieldError
	bad := func(field, reason string) { fields = append(fields, invite.FieldError{Field: field, Reason: reason}) }
	for i, ev := range b.Events {
		if ev.ID == "" || ev.TenantID == "" || ev.InvitationID == "" {
			bad(fmt.Sprintf("Events[%d]", i), "needs an ID, a TenantID and an InvitationID")
		}
	}
	for i, m := range b.Messages {
		if m.ID == "" || m.TenantID == "" || m.InvitationID == "" {
			bad(fmt.Sprintf("Messages[%d]", i), "needs an ID, a TenantID and an InvitationID")
		}
	}
	for i, id := range b.Delivered {
		if id == "" {
			bad(fmt.Sprintf("Delivered[%d]", i), "is empty")
		}
	}
	if len(fields) > 0 {
		return &invite.ValidationError{Fields: fields}
	}
	return nil
}

// queueCollides reports whether b queues an entry under an id the outbox
// holds already. The caller holds the lock.
func (s *Store) queueCollides(b *invite.Batch) bool {
	for _, ev := range b.Events {
		if s.outbox[ev.ID] != nil {
			return true
		}
	}
	for _, m := range b.Messages {
		if s.outbox[m.ID] != nil {
			return true
		}
	}
	return false
}

// queue applies the outbox part of b, whose writes have been applied: the
// deleted invitations' earlier entries and the delivered ones go (the
// write records their delivery), then b's entries come. The caller holds
// the lock.
func (s *Store) queue(b *invite.Batch) {
	for _, id := range b.Delivered {
		delete(s.outbox, id)
	}
	for _, w := range b.Writes {
		if w.Delete {
			inv := &w.Record.Invitation
			s.forget(inv.TenantID, inv.ID, func(e *invite.OutboxEntry) bool {
				return e.Kind == invite.OutboxMessage || !e.DeliveredAt.IsZero() || !e.DeadAt.IsZero()
			})
		}
	}
	for _, ev := range b.Events {
		e := &invite.OutboxEntry{ID: ev.ID, Kind: invite.OutboxEvent, TenantID: ev.TenantID, InvitationID: ev.InvitationID,
			CreatedAt: ev.Time.UTC(), AvailableAt: ev.Time.UTC(), Event: copyEvent(&ev)}
		s.outbox[e.ID] = e
	}
	for _, m := range b.Messages {
		m.CreatedAt, m.AvailableAt = m.CreatedAt.UTC(), m.AvailableAt.UTC()
		e := &invite.OutboxEntry{ID: m.ID, Kind: invite.OutboxMessage, TenantID: m.TenantID, InvitationID: m.InvitationID,
			CreatedAt: m.CreatedAt, AvailableAt: m.AvailableAt, Message: &m}
		s.outbox[e.ID] = e
	}
}

// forget removes the entries of the invitation that match. The caller
// holds the lock.
func (s *Store) forget(tenantID, id string, match func(*invite.OutboxEntry) bool) {
	for k, e := range s.outbox {
		if e.TenantID == tenantID && e.InvitationID == id && match(e) {
			delete(s.outbox, k)
		}
	}
}

// copyEvent returns a copy of ev that shares no memory with it.
func copyEvent(ev *invite.Event) *invite.Event {
	c := *ev
	c.Time = c.Time.UTC()
	if c.Old != nil {
		c.Old = &copyIn(&invite.Record{Invitation: *c.Old}).Invitation
	}
	if c.New != nil {
		c.New = &copyIn(&invite.Record{Invitation: *c.New}).Invitation
	}
	return &c
}

// copyEntry returns a copy of e for a caller.
func copyEntry(e *invite.OutboxEntry) *invite.OutboxEntry {
	c := *e
	if c.Event != nil {
		c.Event = copyEvent(c.Event)
	}
	if c.Message != nil {
		m := *c.Message
		c.Message = &m
	}
	return &c
}

func due(e *invite.OutboxEntry, now time.Time) bool {
	return e.DeliveredAt.IsZero() && e.DeadAt.IsZero() && !e.AvailableAt.After(now)
}

func validationError(field, reason string) error {
	return &invite.ValidationError{Fields: []invite.FieldError{{Field: field, Reason: reason}}}
}

// ClaimOutbox implements invite.Outbox.
func (s *Store) ClaimOutbox(ctx context.Context, owner string, kinds []invite.OutboxKind, now time.Time, lease time.Duration, limit int) ([]*invite.OutboxEntry, error) {
	switch {
	case owner == "":
		return nil, validationError("owner", "is required")
	case limit < 1:
		return nil, validationError("limit", "must be at least 1")
	case lease <= 0:
		return nil, validationError("lease", "must be positive")
	}
	for _, k := range kinds {
		if !k.Valid() {
			return nil, validationError("kinds", "holds an unknown kind")
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now = now.UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []*invite.OutboxEntry
	for _, e := range s.outbox {
		if due(e, now) && (len(kinds) == 0 || slices.Contains(kinds, e.Kind)) {
			found = append(found, e)
		}
	}
	slices.SortFunc(found, func(a, b *invite.OutboxEntry) int {
		return cmp.Or(a.AvailableAt.Compare(b.AvailableAt), cmp.Compare(a.ID, b.ID))
	})
	found = found[:min(limit, len(found))]
	out := make([]*invite.OutboxEntry, len(found))
	for i, e := range found {
		c := *e
		c.Owner, c.Attempts, c.AvailableAt = owner, e.Attempts+1, now.Add(lease).Truncate(time.Microsecond)
		s.outbox[e.ID] = &c
		out[i] = copyEntry(&c)
	}
	return out, nil
}

// SettleOutbox implements invite.Outbox.
func (s *Store) SettleOutbox(ctx context.Context, owner string, now time.Time, ss []invite.Settlement) (int, error) {
	if owner == "" {
		return 0, validationError("owner", "is required")
	}
	for i, st := range ss {
		if st.Outcome < invite.Delivered || st.Outcome > invite.Release || st.ID == "" {
			return 0, validationError(fmt.Sprintf("settlements[%d]", i), "needs an ID and an Outcome")
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now = now.UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, st := range ss {
		e := s.outbox[st.ID]
		if e == nil || e.Owner != owner || e.Attempts != st.Attempt || !e.DeliveredAt.IsZero() || !e.DeadAt.IsZero() {
			continue
		}
		c := *e
		if st.Error != "" {
			c.LastError = st.Error
		}
		switch st.Outcome {
		case invite.Delivered:
			c.DeliveredAt = now
		case invite.Retry:
			c.AvailableAt = st.At.UTC()
		case invite.Dead:
			c.DeadAt = now
		case invite.Release:
			c.AvailableAt = st.At.UTC()
			c.Attempts--
		}
		s.outbox[st.ID] = &c
		n++
	}
	return n, nil
}

// ListDeadOutbox implements invite.Outbox.
func (s *Store) ListDeadOutbox(ctx context.Context, tenantID, after string, limit int) ([]*invite.OutboxEntry, error) {
	switch {
	case tenantID == "":
		return nil, validationError("tenantID", "is required")
	case limit < 1:
		return nil, validationError("limit", "must be at least 1")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var found []*invite.OutboxEntry
	for _, e := range s.outbox {
		if e.TenantID == tenantID && !e.DeadAt.IsZero() && e.ID > after {
			found = append(found, e)
		}
	}
	slices.SortFunc(found, func(a, b *invite.OutboxEntry) int { return cmp.Compare(a.ID, b.ID) })
	found = found[:min(limit, len(found))]
	for i, e := range found {
		found[i] = copyEntry(e)
	}
	return found, nil
}

// RedriveOutbox implements invite.Outbox.
func (s *Store) RedriveOutbox(ctx context.Context, tenantID string, ids []string, now time.Time) (int, error) {
	if tenantID == "" {
		return 0, validationError("tenantID", "is required")
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, id := range ids {
		e := s.outbox[id]
		if e == nil || e.TenantID != tenantID || e.DeadAt.IsZero() {
			continue
		}
		c := *e
		c.DeadAt, c.Attempts, c.Owner, c.AvailableAt = time.Time{}, 0, "", now.UTC()
		s.outbox[id] = &c
		n++
	}
	return n, nil
}

// PurgeOutbox implements invite.Outbox.
func (s *Store) PurgeOutbox(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, validationError("limit", "must be at least 1")
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []*invite.OutboxEntry
	for _, e := range s.outbox {
		if !e.DeliveredAt.IsZero() && e.DeliveredAt.Before(before) {
			found = append(found, e)
		}
	}
	slices.SortFunc(found, func(a, b *invite.OutboxEntry) int {
		return cmp.Or(a.DeliveredAt.Compare(b.DeliveredAt), cmp.Compare(a.ID, b.ID))
	})
	found = found[:min(limit, len(found))]
	for _, e := range found {
		delete(s.outbox, e.ID)
	}
	return len(found), nil
}

// OutboxStats implements invite.Outbox.
func (s *Store) OutboxStats(ctx context.Context) (invite.OutboxStats, error) {
	if err := ctx.Err(); err != nil {
		return invite.OutboxStats{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var st invite.OutboxStats
	for _, e := range s.outbox {
		switch {
		case !e.DeadAt.IsZero():
			st.Dead++
		case e.DeliveredAt.IsZero():
			st.Pending++
			if st.OldestPending.IsZero() || e.CreatedAt.Before(st.OldestPending) {
				st.OldestPending = e.CreatedAt
			}
		}
	}
	return st, nil
}
