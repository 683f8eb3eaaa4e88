package invite

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// shallow copies the record; its slices and maps stay shared. Mutations
// start from a shallow copy of the store's (private) copy and replace fields
// rather than change them in place, so nothing is cloned twice.
func (r *Record) shallow() *Record {
	c := *r
	return &c
}

// successor returns the record a mutation changes into the next version of
// cur: a shallow copy, or, when no events are built (the only reader of cur
// after the mutation), cur itself. A mutation that uses it must not read
// cur after changing the successor, nor change it before an error return.
func (m *Manager) successor(cur *Record) *Record {
	if m.events {
		return cur.shallow()
	}
	return cur
}

// mutation computes the next version of cur. It returns nil to write
// nothing. mutate sets Version and UpdatedAt.
type mutation func(cur *Record, now time.Time) (next *Record, ev EventType, actor Actor, err error)

// mutate loads a record, computes its next version and writes it guarded by
// the version it was computed from, re-reading and recomputing when another
// writer got there first. It reports whether it wrote.
func (m *Manager) mutate(ctx context.Context, load func(context.Context) (*Record, error), fn mutation) (*Record, bool, error) {
	for attempt := 0; ; attempt++ {
		cur, err := load(ctx)
		if err != nil {
			return nil, false, err
		}
		now := m.now()
		version := cur.Invitation.Version // fn's next may be cur itself (successor)
		next, ev, actor, err := fn(cur, now)
		if err != nil || next == nil {
			return cur, false, err
		}
		next.Invitation.Version = version + 1
		next.Invitation.UpdatedAt = now
		b := getBatch()
		b.Writes = append(b.Writes, Write{Record: next, Expect: version})
		if ev != "" {
			b.Events = m.appendEvent(ctx, b.Events, ev, actor, &cur.Invitation, &next.Invitation, now)
		}
		err = m.apply(ctx, b)
		putBatch(b)
		if err == nil {
			return next, true, nil
		}
		// A conflict: another writer got there first. Not found: the record
		// was deleted since it was read, and the next load answers as the
		// caller's lookup does for a missing record (ErrInvalidToken for a
		// token, say).
		if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound) || attempt >= maxRetries {
			return nil, false, err
		}
	}
}

// startingAt returns a loader that yields rec (already read) first and
// re-reads it from the store on every retry.
func (m *Manager) startingAt(rec *Record) func(context.Context) (*Record, error) {
	first := true
	return func(ctx context.Context) (*Record, error) {
		if first {
			first = false
			return rec, nil
		}
		return m.store.Get(ctx, rec.Invitation.TenantID, rec.Invitation.ID)
	}
}

func (m *Manager) byID(tenantID, id string) func(context.Context) (*Record, error) {
	return func(ctx context.Context) (*Record, error) { return m.store.Get(ctx, tenantID, id) }
}

// byToken loads the record a token hash belongs to. A hash that matches
// nothing is ErrInvalidToken; a previous token past its own expiry is
// ErrExpired.
func (m *Manager) byToken(h TokenHash) func(context.Context) (*Record, error) {
	return func(ctx context.Context) (*Record, error) {
		rec, err := m.store.GetByTokenHash(ctx, h)
		if errors.Is(err, ErrNotFound) {
			return nil, ErrInvalidToken
		}
		if err != nil {
			return nil, err
		}
		if !rec.Credentials.TokenHash.Equal(h) && rec.Invitation.State.Open() {
			// A token replaced by Resend (Config.KeepPreviousTokens) lives
			// until its own expiry, not the invitation's.
			for _, p := range rec.Credentials.PreviousTokens {
				if p.Hash.Equal(h) && !m.now().Before(p.ExpiresAt) {
					return nil, fmt.Errorf("%w: this link was replaced by a newer one and has expired", ErrExpired)
				}
			}
		}
		return rec, nil
	}
}
