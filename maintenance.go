package invite

import (
	"context"
	"errors"
	"time"
)

// ExpireDue marks up to limit (default 1,000) open invitations past their
// expiry as expired, across tenants, each with its event, and returns how
// many it marked. Run it periodically; reads treat such invitations as
// expired already.
func (m *Manager) ExpireDue(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	due, err := m.store.ListDue(ctx, m.now(), limit)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, rec := range due {
		wrote, err := m.expire(ctx, rec)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if wrote {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// expire marks rec expired (with its event) if it is still open and past
// its expiry, starting from rec and re-reading on conflict.
func (m *Manager) expire(ctx context.Context, rec *Record) (bool, error) {
	_, c, err := m.mutate(ctx, m.startingAt(rec), func(cur *Record, now time.Time) (change, error) {
		if !cur.Invitation.State.Open() {
			return change{}, nil // closed already (or materialised as expired)
		}
		to, err := check(OpExpire, &cur.Invitation, now)
		if err != nil {
			return change{}, nil // not due (any more): renewed meanwhile
		}
		next := cur.shallow()
		closeAs(&next.Invitation, to, now, "")
		return write(next, EventExpired, Actor{Kind: ActorSystem}), nil
	})
	return c.next != nil, err
}

// Purge deletes up to limit (default 1,000) accepted, rejected, revoked and
// expired invitations closed more than retention ago, across tenants, and
// returns how many it deleted. An expired invitation closed at its expiry,
// swept or not: Purge first marks up to limit lapsed invitations expired,
// as ExpireDue does (with their events), so that one whose expiry is past
// the retention goes even if no sweep ran. Deleting is retention, not a
// change: it emits no events.
func (m *Manager) Purge(ctx context.Context, retention time.Duration, limit int) (int, error) {
	if retention < 0 {
		return 0, &ValidationError{Fields: []FieldError{newFieldError("Retention", "must not be negative", nil)}}
	}
	if limit <= 0 {
		limit = 1000
	}
	before := m.now().Add(-retention)
	// A sweep that fails for some records must not hold up the retention
	// of the others: purge anyway, and report both.
	_, expireErr := m.ExpireDue(ctx, limit)
	n, err := m.store.Purge(ctx, before, limit)
	return n, errors.Join(err, expireErr)
}
