package invite

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// change is what a mutation decided, and what mutate hands back once it has
// committed.
type change struct {
	// next is the record to write, guarded by the version it was computed
	// from; nil writes nothing. mutate sets its Version and UpdatedAt.
	next *Record
	// event is the event the write causes; "" for none (a guard write,
	// which commits an answer without changing the invitation).
	event EventType
	actor Actor
	// answer is the error the operation returns once next has committed: a
	// recorded failure (a wrong code), or the refusal a guard write commits.
	answer error
	// replayed is set by accept: the same subject had accepted already.
	replayed bool
	// secrets is what Resend minted into next.
	secrets *secrets
	// queue is the message the write queues in the outbox, if any.
	queue *QueuedMessage
	// delivered names the outbox entry the write settles as delivered.
	delivered string
}

// secrets are the plaintext secrets minted into a record, and its link.
type secrets struct {
	token, code Secret
	link        string
}

// mutation computes the change of cur at now. An error aborts the
// operation without writing.
type mutation func(cur *Record, now time.Time) (change, error)

// write returns the change writing next with its event.
func write(next *Record, ev EventType, actor Actor) change {
	return change{next: next, event: ev, actor: actor}
}

// mutate is the one read-compute-compare-and-swap loop every change of an
// existing invitation goes through: it loads a record, computes its change
// and writes it guarded by the version it was computed from, re-reading and
// recomputing when another writer got there first. It returns the record
// as written (or as read, when the change writes nothing) and the change.
func (m *Manager) mutate(ctx context.Context, load func(context.Context) (*Record, error), fn mutation) (*Record, change, error) {
	for attempt := 0; ; attempt++ {
		cur, err := load(ctx)
		if err != nil {
			return nil, change{}, err
		}
		now := m.now()
		version := cur.Invitation.Version // fn's next may be cur itself (successor)
		c, err := fn(cur, now)
		if err != nil {
			return nil, change{}, err
		}
		if c.next == nil {
			return cur, c, nil
		}
		c.next.Invitation.Version = version + 1
		c.next.Invitation.UpdatedAt = now
		b := getBatch()
		w := Write{Record: c.next, Expect: version, Rotated: c.secrets != nil}
		if c.next != cur {
			w.Prev = cur
		}
		b.Writes = append(b.Writes, w)
		if c.event != "" {
			b.Events = m.appendEvent(ctx, b.Events, c.event, c.actor, &cur.Invitation, &c.next.Invitation, now)
		}
		if c.queue != nil {
			b.Messages = append(b.Messages, *c.queue)
		}
		if c.delivered != "" {
			b.Delivered = append(b.Delivered, c.delivered)
		}
		err = m.apply(ctx, b)
		putBatch(b)
		if err == nil {
			return c.next, c, nil
		}
		// A conflict: another writer got there first. Not found: the record
		// was deleted since it was read, and the next load answers as the
		// caller's lookup does for a missing record (ErrInvalidToken for a
		// token, say).
		if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound) || attempt >= maxRetries {
			return nil, change{}, err
		}
	}
}

// parseToken checks a token from the invitee: a blank one is a
// *ValidationError (the caller sent none), a malformed one ErrInvalidToken.
// tenantID, when set, must be a valid tenant id.
func (m *Manager) parseToken(token, tenantID string) (TokenHash, error) {
	var fe fieldErrs
	if strings.TrimSpace(token) == "" {
		fe.add("Token", "is required")
	}
	fe.checkText("TenantID", tenantID, MaxIDLen, false)
	if err := fe.err(); err != nil {
		return TokenHash{}, err
	}
	return ParseToken(m.cfg.TokenPrefix, token)
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
// nothing, or (with tenantID set) an invitation of another tenant, is
// ErrInvalidToken, and so is a previous token (one Resend replaced) unless
// Config.KeepPreviousTokens is on now; a previous token of an open
// invitation past its own expiry is ErrExpired (of a closed one, it answers
// as the current token would: an acceptance replays to its subject).
func (m *Manager) byToken(h TokenHash, tenantID string) func(context.Context) (*Record, error) {
	return func(ctx context.Context) (*Record, error) {
		rec, err := m.store.GetByTokenHash(ctx, h)
		if errors.Is(err, ErrNotFound) || (err == nil && tenantID != "" && rec.Invitation.TenantID != tenantID) {
			return nil, ErrInvalidToken
		}
		if err != nil {
			return nil, err
		}
		if !rec.Credentials.TokenHash.Equal(h) && !m.cfg.KeepPreviousTokens {
			// A token Resend kept valid while the option was on: the
			// current setting decides.
			return nil, ErrInvalidToken
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

// closeAs moves inv to the closed state to, bumping its version. An
// invitation closes when it is accepted, rejected or revoked, but expires
// at its expiry, whenever the sweep notices: that is its ClosedAt, so that
// retention counts from it.
func closeAs(inv *Invitation, to State, now time.Time, reason string) {
	inv.State = to
	inv.ClosedAt = now
	if to == StateExpired {
		inv.ClosedAt = inv.ExpiresAt
	}
	inv.UpdatedAt = now
	inv.Reason = reason
	inv.Version++
}
