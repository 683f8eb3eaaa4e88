package invite_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

func TestUpdate(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	id := res.Invitation.ID
	e.clock.Advance(time.Minute)
	ctx := invite.WithActor(e.ctx(), invite.Actor{Kind: invite.ActorAdmin, ID: "root"})

	exp := e.clock.Now().Add(48 * time.Hour)
	name, roles, locale := "Augusta", []string{"admin", "billing"}, "en-GB"
	data := map[string]string{"team": "looms"}
	meta := json.RawMessage(`{"flags":["beta"]}`)
	inv, err := e.m.Update(ctx, invite.UpdateInput{TenantID: "t1", ID: id, Version: 1, ExpiresAt: &exp,
		GivenName: &name, Roles: &roles, Data: &data, Metadata: &meta, Locale: &locale})
	require.NoError(t, err)
	require.EqualValues(t, 2, inv.Version)
	require.Equal(t, "Augusta", inv.GivenName)
	require.Equal(t, "Lovelace", inv.FamilyName, "nil fields stay")
	require.Equal(t, roles, inv.Roles)
	require.Equal(t, data, inv.Data)
	require.JSONEq(t, string(meta), string(inv.Metadata))
	require.Equal(t, locale, inv.Locale)
	require.Equal(t, exp.UTC().Truncate(time.Microsecond), inv.ExpiresAt)
	require.Equal(t, managerNow(e.clock), inv.UpdatedAt)
	require.Equal(t, inv, e.get("t1", id))

	// The caller's values are not shared.
	roles[0] = "owner"
	data["team"] = "x"
	require.Equal(t, "admin", e.get("t1", id).Roles[0])
	require.Equal(t, "looms", e.get("t1", id).Data["team"])

	evs := e.events.Events()
	require.Equal(t, []invite.EventType{invite.EventCreated, invite.EventUpdated}, e.events.Types())
	require.Equal(t, invite.Actor{Kind: invite.ActorAdmin, ID: "root"}, evs[1].Actor)
	require.Equal(t, "Ada", evs[1].Old.GivenName)
	require.Equal(t, "Augusta", evs[1].New.GivenName)
	require.EqualValues(t, 1, evs[1].Old.Version)

	// Stale version: ErrConflict and no change.
	other := "Ada"
	_, err = e.m.Update(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: id, Version: 1, GivenName: &other})
	require.ErrorIs(t, err, invite.ErrConflict)
	require.Equal(t, "Augusta", e.get("t1", id).GivenName)
	require.EqualValues(t, 2, e.get("t1", id).Version)

	// Version 0 skips the check.
	inv, err = e.m.Update(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: id, GivenName: &other})
	require.NoError(t, err)
	require.EqualValues(t, 3, inv.Version)

	_, err = e.m.Update(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: "nope", GivenName: &other})
	require.ErrorIs(t, err, invite.ErrNotFound)
	_, err = e.m.Update(e.ctx(), invite.UpdateInput{TenantID: "t2", ID: id, GivenName: &other})
	require.ErrorIs(t, err, invite.ErrNotFound)
}

func TestUpdateRefusedWhenNotOpen(t *testing.T) {
	name := "X"
	cases := map[string]struct {
		close func(e *env, res *invite.Result)
		from  invite.State
	}{
		"accepted": {func(e *env, res *invite.Result) {
			_, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u"})
			require.NoError(e.t, err)
		}, invite.StateAccepted},
		"revoked": {func(e *env, res *invite.Result) {
			_, err := e.m.Revoke(e.ctx(), "t1", res.Invitation.ID, "")
			require.NoError(e.t, err)
		}, invite.StateRevoked},
		"expired": {func(e *env, _ *invite.Result) { e.clock.Advance(week) }, invite.StateExpired},
		"expired and swept": {func(e *env, _ *invite.Result) {
			e.clock.Advance(week)
			_, err := e.m.ExpireDue(e.ctx(), 0)
			require.NoError(e.t, err)
		}, invite.StateExpired},
	}
	for n, c := range cases {
		t.Run(n, func(t *testing.T) {
			e := newEnv(t)
			res := e.create(input("ada@example.com"))
			c.close(e, res)
			before := e.record("t1", res.Invitation.ID)
			exp := e.clock.Now().Add(24 * time.Hour)
			_, err := e.m.Update(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: res.Invitation.ID, GivenName: &name, ExpiresAt: &exp})
			requireTransition(t, err, c.from)
			require.Equal(t, before, e.record("t1", res.Invitation.ID), "nothing changed")
		})
	}
}

func TestConcurrentUpdatesWithSameVersion(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	const n = 12
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("name-%d", i)
			_, errs[i] = e.m.Update(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: res.Invitation.ID, Version: 1, GivenName: &name})
		})
	}
	wg.Wait()
	winners := 0
	for _, err := range errs {
		if err == nil {
			winners++
		} else {
			require.ErrorIs(t, err, invite.ErrConflict)
		}
	}
	require.Equal(t, 1, winners)
	require.EqualValues(t, 2, e.get("t1", res.Invitation.ID).Version)
}

// ---------------------------------------------------------------- delete

func TestDelete(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	id := res.Invitation.ID
	ctx := invite.WithActor(e.ctx(), invite.Actor{Kind: invite.ActorAdmin, ID: "root"})

	err := e.m.Delete(ctx, "t1", id, 7)
	require.ErrorIs(t, err, invite.ErrConflict)
	e.get("t1", id)
	require.ErrorIs(t, e.m.Delete(ctx, "t2", id, 0), invite.ErrNotFound)

	require.NoError(t, e.m.Delete(ctx, "t1", id, 1))
	_, err = e.m.Get(e.ctx(), "t1", id)
	require.ErrorIs(t, err, invite.ErrNotFound)
	_, err = e.m.Lookup(e.ctx(), res.Token.Reveal())
	require.ErrorIs(t, err, invite.ErrInvalidToken)
	require.ErrorIs(t, e.m.Delete(ctx, "t1", id, 0), invite.ErrNotFound)

	evs := e.events.Events()
	require.Equal(t, []invite.EventType{invite.EventCreated, invite.EventDeleted}, e.events.Types())
	require.Nil(t, evs[1].New)
	require.Equal(t, id, evs[1].Old.ID)
	require.Equal(t, id, evs[1].InvitationID)
	require.Equal(t, "root", evs[1].Actor.ID)

	// The invitee can be invited again.
	e.create(input("ada@example.com"))
}

// ---------------------------------------------------------------- resend

func TestRevoke(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	ctx := invite.WithActor(e.ctx(), invite.Actor{Kind: invite.ActorAdmin, ID: "root"})
	e.clock.Advance(time.Minute)
	inv, err := e.m.Revoke(ctx, "t1", res.Invitation.ID, "left the company")
	require.NoError(t, err)
	require.Equal(t, invite.StateRevoked, inv.State)
	require.Equal(t, "left the company", inv.Reason)
	require.Equal(t, managerNow(e.clock), inv.ClosedAt)
	require.EqualValues(t, 2, inv.Version)
	evs := e.events.Events()
	require.Equal(t, invite.EventRevoked, evs[1].Type)
	require.Equal(t, invite.Actor{Kind: invite.ActorAdmin, ID: "root"}, evs[1].Actor)
	require.Equal(t, invite.StatePending, evs[1].Old.State)
	require.Equal(t, invite.StateRevoked, evs[1].New.State)

	_, err = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u"})
	requireTransition(t, err, invite.StateRevoked)
	require.NotErrorIs(t, err, invite.ErrAlreadyAccepted)
	require.NotErrorIs(t, err, invite.ErrExpired)
	_, err = e.m.Revoke(ctx, "t2", res.Invitation.ID, "")
	require.ErrorIs(t, err, invite.ErrNotFound)

	// An expired invitation can be revoked; an accepted one cannot.
	in := input("bob@example.com")
	in.ExpiresIn = time.Hour
	exp := e.create(in)
	acc := e.create(input("carol@example.com"))
	_, err = e.m.Accept(e.ctx(), acc.Token.Reveal(), invite.AcceptInput{Subject: "carol"})
	require.NoError(t, err)
	e.clock.Advance(2 * time.Hour)
	inv, err = e.m.Revoke(ctx, "t1", exp.Invitation.ID, "")
	require.NoError(t, err)
	require.Equal(t, invite.StateRevoked, inv.State)
	_, err = e.m.Revoke(ctx, "t1", acc.Invitation.ID, "")
	requireTransition(t, err, invite.StateAccepted)
	require.ErrorIs(t, err, invite.ErrAlreadyAccepted)
}

// TestEmptyUpdateFollowsTheTable (review): an Update that changes nothing
// still answers a closed invitation with a *TransitionError.
func TestEmptyUpdateFollowsTheTable(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	_, err := e.m.Revoke(e.ctx(), "t1", res.Invitation.ID, "")
	require.NoError(t, err)
	_, err = e.m.Update(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: res.Invitation.ID})
	requireTransition(t, err, invite.StateRevoked)
}
