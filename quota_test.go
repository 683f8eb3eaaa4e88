package invite_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/memstore"
)

func TestInviterQuota(t *testing.T) {
	e := newEnv(t, func(c *invite.Config) { c.MaxOpenPerInviter = 2 })
	byAnn := func(email string) invite.CreateInput {
		in := input(email)
		in.Inviter = invite.Inviter{ID: "ann", Name: "Ann"}
		return in
	}
	first := e.create(byAnn("a@example.com"))
	e.create(byAnn("b@example.com"))

	_, err := e.m.Create(e.ctx(), byAnn("c@example.com"))
	require.ErrorIs(t, err, invite.ErrQuotaExceeded)
	var qe *invite.QuotaError
	require.ErrorAs(t, err, &qe)
	require.Equal(t, invite.QuotaError{TenantID: "t1", InviterID: "ann", Limit: 2}, *qe)
	require.Equal(t, 2, e.count("t1"), "nothing created")

	// Re-inviting an address the inviter already invited: the open one is
	// in the way first, and replacing it takes no more of the limit.
	_, err = e.m.Create(e.ctx(), byAnn("a@example.com"))
	require.ErrorIs(t, err, invite.ErrAlreadyExists)
	again := byAnn("a@example.com")
	again.Supersede = true
	e.create(again)
	require.Equal(t, invite.StateRevoked, e.get("t1", first.Invitation.ID).State)

	// Per call: a higher limit, or none; another inviter, or none, is not
	// counted.
	over := byAnn("c@example.com")
	over.InviterLimit = 3
	e.create(over)
	unlimited := byAnn("d@example.com")
	unlimited.InviterLimit = -1
	e.create(unlimited)
	e.create(input("e@example.com")) // Grace Hopper's first
	anon := input("f@example.com")
	anon.Inviter = invite.Inviter{Name: "nobody in particular"}
	e.create(anon)

	// Ann holds four open ones now; closing three frees places.
	_, err = e.m.Create(e.ctx(), byAnn("g@example.com"))
	require.ErrorIs(t, err, invite.ErrQuotaExceeded)
	page, err := e.m.List(e.ctx(), "t1", invite.ListOptions{Filter: invite.Filter{InviterID: "ann", Open: true}})
	require.NoError(t, err)
	require.Len(t, page.Invitations, 4)
	for _, inv := range page.Invitations[:3] {
		_, err := e.m.Revoke(e.ctx(), "t1", inv.ID, "")
		require.NoError(t, err)
	}
	e.create(byAnn("g@example.com"))
}

// TestInviterQuotaConcurrent: concurrent creates at the limit never all
// pass (storetest holds every store to it; this is the Manager's path).
func TestInviterQuotaConcurrent(t *testing.T) {
	e := newEnv(t, func(c *invite.Config) { c.MaxOpenPerInviter = 3 })
	var mu sync.Mutex
	outcomes := map[string]int{}
	inParallel(16, func(i int) {
		in := input(fmt.Sprintf("racer-%d@example.com", i))
		in.Inviter.ID = "racer"
		_, err := e.m.Create(e.ctx(), in)
		key := "ok"
		if err != nil {
			key = err.Error()
			if errors.Is(err, invite.ErrQuotaExceeded) {
				key = "quota"
			}
		}
		mu.Lock()
		outcomes[key]++
		mu.Unlock()
	})
	require.Equal(t, map[string]int{"ok": 3, "quota": 13}, outcomes)
}

func TestInviterQuotaNeedsAStoreThatEnforcesIt(t *testing.T) {
	_, err := invite.New(plainStore{memstore.New()}, invite.Config{MaxOpenPerInviter: 5})
	requireValidation(t, err, "MaxOpenPerInviter")
	_, err = invite.New(memstore.New(), invite.Config{MaxOpenPerInviter: -1})
	requireValidation(t, err, "MaxOpenPerInviter")

	m, err := invite.New(plainStore{memstore.New()}, invite.Config{})
	require.NoError(t, err)
	in := input("x@example.com")
	in.InviterLimit = 2
	_, err = m.Create(context.Background(), in)
	requireValidation(t, err, "InviterLimit")
	in.InviterLimit = -1 // no limit: nothing to enforce
	_, err = m.Create(context.Background(), in)
	require.NoError(t, err)
}
