package memstore

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/invitekit/invite"
)

// The outbox: one map from entry id to entry, guarded by the store's
// mutex, scanned whole by every claim (plain, not fast: memstore is for
// tests and single processes). Entries are stored as private copies and
// copied out.

var _ invite.Outbox = (*Store)(nil)

// The identifier rule of invite.Outbox, sqlstore's: an outbox entry's id
// is at most maxOutboxID bytes, a tenant id, an invitation id or an owner
// at most maxKeyBytes.
const (
	maxOutboxID = 255
	maxKeyBytes = 1024
)

// idProblem returns why s is not an identifier of at most max bytes, or
// "": it must be non-empty, valid UTF-8 and without control characters.
func idProblem(s string, max int) string {
	switch {
	case s == "":
		return "is required"
	case len(s) > max:
		return "is longer than " + strconv.Itoa(max) + " bytes"
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.ContainsFunc(s, unicode.IsControl):
		return "contains a control character"
	}
	return ""
}

// fieldList accumulates the invalid fields of a call.
type fieldList []invite.FieldError

// id adds field when v is not an identifier of at most max bytes.
func (fs *fieldList) id(field, v string, max int) {
	if p := idProblem(v, max); p != "" {
		fs.add(field, p)
	}
}

func (fs *fieldList) add(field, reason string) {
	*fs = append(*fs, invite.FieldError{Field: field, Reason: reason})
}

// err returns the fields as an *invite.ValidationError, or nil.
func (fs fieldList) err() error {
	if len(fs) == 0 {
		return nil
	}
	return &invite.ValidationError{Fields: fs}
}

// checkQueued adds to fs what is invalid in what b queues and settles.
func checkQueued(fs *fieldList, b *invite.Batch) {
	for i, ev := range b.Events {
		field := "Events[" + strconv.Itoa(i) + "]"
		fs.id(field+".ID", ev.ID, maxOutboxID)
		fs.id(field+".TenantID", ev.TenantID, maxKeyBytes)
		fs.id(field+".InvitationID", ev.InvitationID, maxKeyBytes)
	}
	for i, m := range b.Messages {
		field := "Messages[" + strconv.Itoa(i) + "]"
		fs.id(field+".ID", m.ID, maxOutboxID)
		fs.id(field+".TenantID", m.TenantID, maxKeyBytes)
		fs.id(field+".InvitationID", m.InvitationID, maxKeyBytes)
		if m.ResendCount < 0 {
			fs.add(field+".ResendCount", "must not be negative")
		}
	}
	for i, id := range b.Delivered {
		fs.id("Delivered["+strconv.Itoa(i)+"]", id, maxOutboxID)
	}
}

// queuedTwice reports whether b queues two entries under one id, or one
// under an id its Delivered names.
func queuedTwice(b *invite.Batch) bool {
	n := len(b.Events) + len(b.Messages)
	if n == 0 || n+len(b.Delivered) < 2 {
		return false
	}
	ids := make(map[string]bool, n+len(b.Delivered))
	for _, id := range b.Delivered {
		ids[id] = true
	}
	for _, ev := range b.Events {
		if ids[ev.ID] {
			return true
		}
		ids[ev.ID] = true
	}
	for _, m := range b.Messages {
		if ids[m.ID] {
			return true
		}
		ids[m.ID] = true
	}
	return false
}

// queueCollides reports whether b queues an entry under the id of one the
// outbox holds, whatever its state, even one b removes (sqlstore on
// PostgreSQL removes and inserts in one statement, which cannot see its own
// removals). The caller holds the lock.
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

// forgottenOnDelete reports whether the deletion of e's invitation
// removes e: all but its events still owed to the sink.
func forgottenOnDelete(e *invite.OutboxEntry) bool {
	return e.Kind == invite.OutboxMessage || !e.DeliveredAt.IsZero() || !e.DeadAt.IsZero()
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
			s.forget(inv.TenantID, inv.ID, forgottenOnDelete)
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

// ClaimOutbox implements invite.Outbox.
func (s *Store) ClaimOutbox(ctx context.Context, owner string, kinds []invite.OutboxKind, now time.Time, lease time.Duration, limit int) ([]*invite.OutboxEntry, error) {
	var fs fieldList
	fs.id("owner", owner, maxKeyBytes)
	if limit < 1 {
		fs.add("limit", "must be at least 1")
	}
	if lease <= 0 {
		fs.add("lease", "must be positive")
	}
	for i, k := range kinds {
		if !k.Valid() {
			fs.add("kinds["+strconv.Itoa(i)+"]", "is not an outbox kind")
		}
	}
	if err := fs.err(); err != nil {
		return nil, err
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
	var fs fieldList
	fs.id("owner", owner, maxKeyBytes)
	first := make(map[string]int, len(ss))
	for i, st := range ss {
		field := "settlements[" + strconv.Itoa(i) + "]"
		if p := idProblem(st.ID, maxOutboxID); p != "" {
			fs.add(field+".ID", p)
		} else if j, dup := first[st.ID]; dup {
			fs.add(field+".ID", "repeats the id of settlements["+strconv.Itoa(j)+"]")
		} else {
			first[st.ID] = i
		}
		if st.Outcome < invite.Delivered || st.Outcome > invite.Release {
			fs.add(field+".Outcome", "is not an outcome")
		}
	}
	if err := fs.err(); err != nil {
		return 0, err
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
	var fs fieldList
	fs.id("tenantID", tenantID, maxKeyBytes)
	if after != "" {
		fs.id("after", after, maxOutboxID)
	}
	if limit < 1 {
		fs.add("limit", "must be at least 1")
	}
	if err := fs.err(); err != nil {
		return nil, err
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
	var fs fieldList
	fs.id("tenantID", tenantID, maxKeyBytes)
	for i, id := range ids {
		fs.id("ids["+strconv.Itoa(i)+"]", id, maxOutboxID)
	}
	if err := fs.err(); err != nil {
		return 0, err
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
		return 0, (fieldList{{Field: "limit", Reason: "must be at least 1"}}).err()
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
