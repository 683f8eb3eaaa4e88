package invite_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

func TestEventsChainThroughTheLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := invite.WithActor(e.ctx(), invite.Actor{Kind: invite.ActorAdmin, ID: "root"})
	var times []time.Time
	step := func() { e.clock.Advance(time.Minute); times = append(times, managerNow(e.clock)) }

	step()
	in := codeInput("ada@example.com", "")
	in.Delivery = invite.DeliverySend
	res, err := e.m.Create(ctx, in)
	require.NoError(t, err)
	id := res.Invitation.ID
	step()
	name := "Augusta"
	_, err = e.m.Update(ctx, invite.UpdateInput{TenantID: "t1", ID: id, GivenName: &name})
	require.NoError(t, err)
	step()
	r2, err := e.m.Resend(ctx, "t1", id, invite.ResendOptions{})
	require.NoError(t, err)
	step()
	_, err = e.m.VerifyCode(ctx, invite.CodeRef{TenantID: "t1", InvitationID: id}, wrongCode(r2.Code.Reveal(), 0))
	require.ErrorIs(t, err, invite.ErrInvalidCode)
	step()
	_, err = e.m.Accept(ctx, r2.Token.Reveal(), invite.AcceptInput{Subject: "ada"})
	require.NoError(t, err)
	step()
	require.NoError(t, e.m.Delete(ctx, "t1", id, 0))

	evs := e.events.Events()
	require.Equal(t, []invite.EventType{
		invite.EventCreated, invite.EventSent, invite.EventUpdated, invite.EventResent, invite.EventSent,
		invite.EventCodeFailed, invite.EventAccepted, invite.EventDeleted,
	}, e.events.Types())
	wantTimes := []time.Time{times[0], times[0], times[1], times[2], times[2], times[3], times[4], times[5]}
	wantActors := []invite.Actor{
		{Kind: invite.ActorAdmin, ID: "root"}, {Kind: invite.ActorSystem}, {Kind: invite.ActorAdmin, ID: "root"},
		{Kind: invite.ActorAdmin, ID: "root"}, {Kind: invite.ActorSystem}, {Kind: invite.ActorInvitee},
		{Kind: invite.ActorInvitee, ID: "ada"}, {Kind: invite.ActorAdmin, ID: "root"},
	}
	seen := map[string]bool{}
	for i, ev := range evs {
		requireUUIDv7(t, ev.ID)
		require.False(t, seen[ev.ID], "duplicate event id")
		seen[ev.ID] = true
		if i > 0 {
			require.Greater(t, ev.ID, evs[i-1].ID, "UUIDv7 ids are time-ordered")
			// Each event's Old is the previous event's New.
			require.Equal(t, evs[i-1].New, ev.Old, "event %d (%s)", i, ev.Type)
		}
		require.Equal(t, wantTimes[i], ev.Time, "event %d (%s)", i, ev.Type)
		require.Equal(t, wantActors[i], ev.Actor, "event %d (%s)", i, ev.Type)
		require.Equal(t, "t1", ev.TenantID)
		require.Equal(t, id, ev.InvitationID)
		if ev.New != nil {
			require.Equal(t, ev.Time, ev.New.UpdatedAt)
			if ev.Old != nil {
				require.Equal(t, ev.Old.Version+1, ev.New.Version)
			}
		}
	}
	require.Nil(t, evs[0].Old)
	require.Nil(t, evs[len(evs)-1].New)
	require.Equal(t, "Ada", evs[2].Old.GivenName)
	require.Equal(t, "Augusta", evs[2].New.GivenName)
	require.Equal(t, invite.StateAccepted, evs[6].New.State)
}

// TestConcurrentLifecycleKeepsEventsConsistent runs every operation in
// parallel on a handful of invitations (for the race detector) and then
// checks that each invitation's events form one unbroken version chain
// ending at the stored version.
func TestConcurrentLifecycleKeepsEventsConsistent(t *testing.T) {
	e := newEnv(t)
	const n = 8
	res := make([]*invite.Result, n)
	for i := range n {
		res[i] = e.create(codeInput(fmt.Sprintf("u%d@example.com", i), ""))
	}
	var wg sync.WaitGroup
	for i := range n {
		r := res[i]
		id := r.Invitation.ID
		wg.Go(func() { _, _ = e.m.Accept(e.ctx(), r.Token.Reveal(), invite.AcceptInput{Subject: "s"}) })
		wg.Go(func() { _, _ = e.m.Resend(e.ctx(), "t1", id, invite.ResendOptions{}) })
		wg.Go(func() { _, _ = e.m.VerifyCode(e.ctx(), invite.CodeRef{TenantID: "t1", InvitationID: id}, "ZZZZZZZZ") })
		wg.Go(func() {
			name := "X"
			_, _ = e.m.Update(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: id, GivenName: &name})
		})
		wg.Go(func() {
			if i%3 == 0 {
				_, _ = e.m.Revoke(e.ctx(), "t1", id, "")
			}
		})
		wg.Go(func() { _, _ = e.m.List(e.ctx(), "t1", invite.ListOptions{Limit: 3}) })
		wg.Go(func() { _, _ = e.m.ExpireDue(e.ctx(), 0) })
	}
	wg.Wait()
	byID := map[string][]invite.Event{}
	for _, ev := range e.events.Events() {
		byID[ev.InvitationID] = append(byID[ev.InvitationID], ev)
	}
	for i := range n {
		id := res[i].Invitation.ID
		evs := byID[id]
		// Events of one invitation may reach the sink out of order (each is
		// published after its own commit), so order them by version.
		slices.SortFunc(evs, func(a, b invite.Event) int { return int(a.New.Version - b.New.Version) })
		require.Equal(t, invite.EventCreated, evs[0].Type)
		require.EqualValues(t, 1, evs[0].New.Version)
		for j := 1; j < len(evs); j++ {
			// Writes without events (a verified code) would be the only
			// gaps; here no code verifies, so the chain is exact.
			require.Equal(t, evs[j].Old.Version+1, evs[j].New.Version)
			require.Equal(t, evs[j-1].New, evs[j].Old, "invitation %d: event %d (%s)", i, j, evs[j].Type)
		}
		require.Equal(t, evs[len(evs)-1].New.Version, e.get("t1", id).Version)
		accepted := 0
		for _, ev := range evs {
			if ev.Type == invite.EventAccepted {
				accepted++
			}
		}
		require.LessOrEqual(t, accepted, 1)
	}
}

// ---------------------------------------------------------------- links
