package invite

import (
	"context"
	"errors"
	"time"
)

// Counter is the optional Store ability behind Manager.Count: counting
// invitations without reading them. memstore and sqlstore implement it.
type Counter interface {
	// Count returns how many of the tenant's invitations pass f at now
	// (Filter.Matches): as many as List would return, page after page,
	// with that filter. It never counts another tenant's invitations.
	Count(ctx context.Context, tenantID string, f Filter, now time.Time) (int, error)
}

// ErrNoCounter is returned by Manager.Count when the Store does not
// implement Counter.
var ErrNoCounter = errors.New("invite: the store cannot count invitations")

// Count returns how many of the tenant's invitations match f, with their
// effective states (an admin page's "3 open"), without reading them. It
// validates f as List does (a *ValidationError naming the field), and
// returns ErrNoCounter when the Store does not implement Counter.
func (m *Manager) Count(ctx context.Context, tenantID string, f Filter) (int, error) {
	var fe fieldErrs
	fe.checkText("TenantID", tenantID, MaxIDLen, true)
	m.checkFilter(&fe, &f)
	if err := fe.err(); err != nil {
		return 0, err
	}
	c, ok := m.store.(Counter)
	if !ok {
		return 0, ErrNoCounter
	}
	return c.Count(ctx, tenantID, f, m.now())
}
