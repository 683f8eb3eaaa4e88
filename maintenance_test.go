package invite_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

func TestExpireDue(t *testing.T) {
	e := newEnv(t)
	short := input("a@example.com")
	short.ExpiresIn = time.Hour
	a := e.create(short)
	e.clock.Advance(time.Minute)
	short.TenantID = "t2"
	b := e.create(short)
	e.clock.Advance(time.Minute)
	short.TenantID = "t3"
	short.ExpiresIn = 90 * time.Minute
	c := e.create(short)
	long := e.create(input("z@example.com"))
	closed := e.create(func() invite.CreateInput { in := input("r@example.com"); in.ExpiresIn = time.Hour; return in }())
	_, err := e.m.Revoke(e.ctx(), "t1", closed.Invitation.ID, "")
	require.NoError(t, err)

	n, err := e.m.ExpireDue(e.ctx(), 0)
	require.NoError(t, err)
	require.Zero(t, n, "nothing is due yet")

	e.clock.Advance(2 * time.Hour)
	e.events.Reset()
	n, err = e.m.ExpireDue(e.ctx(), 2)
	require.NoError(t, err)
	require.Equal(t, 2, n, "the limit holds")
	n, err = e.m.ExpireDue(e.ctx(), 0)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = e.m.ExpireDue(e.ctx(), 0)
	require.NoError(t, err)
	require.Zero(t, n, "a second sweep finds nothing")

	evs := e.events.Events()
	require.Len(t, evs, 3)
	var got []string
	for _, ev := range evs {
		require.Equal(t, invite.EventExpired, ev.Type)
		require.Equal(t, invite.Actor{Kind: invite.ActorSystem}, ev.Actor)
		require.Equal(t, invite.StatePending, ev.Old.State)
		require.Equal(t, invite.StateExpired, ev.New.State)
		require.Equal(t, ev.New.ExpiresAt, ev.New.ClosedAt, "an invitation closes at its expiry, not at the sweep")
		require.Equal(t, managerNow(e.clock), ev.New.UpdatedAt)
		require.Equal(t, ev.TenantID, ev.New.TenantID)
		got = append(got, ev.InvitationID)
	}
	require.Equal(t, []string{a.Invitation.ID, b.Invitation.ID, c.Invitation.ID}, got, "soonest expiry first")
	for _, r := range []*invite.Result{a, b, c} {
		rec := e.record(r.Invitation.TenantID, r.Invitation.ID)
		require.Equal(t, invite.StateExpired, rec.Invitation.State)
	}
	require.Equal(t, invite.StatePending, e.get("t1", long.Invitation.ID).State)
	require.Equal(t, invite.StateRevoked, e.get("t1", closed.Invitation.ID).State)
}

func TestPurge(t *testing.T) {
	e := newEnv(t)
	acc := e.create(input("a@example.com"))
	_, err := e.m.Accept(e.ctx(), acc.Token.Reveal(), invite.AcceptInput{Subject: "a"})
	require.NoError(t, err)
	e.clock.Advance(24 * time.Hour)
	rev := e.create(input("b@example.com"))
	_, err = e.m.Revoke(e.ctx(), "t1", rev.Invitation.ID, "")
	require.NoError(t, err)
	in := input("c@example.com")
	in.ExpiresIn = time.Hour
	exp := e.create(in)
	open := e.create(withExpiry(input("d@example.com"), 30*24*time.Hour)) // still open at the end
	e.clock.Advance(2 * time.Hour)
	_, err = e.m.ExpireDue(e.ctx(), 0)
	require.NoError(t, err)
	e.clock.Advance(10 * 24 * time.Hour)
	e.events.Reset()

	// Closed more than 11 days ago: only the accepted one.
	n, err := e.m.Purge(e.ctx(), 11*24*time.Hour, 0)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = e.m.Get(e.ctx(), "t1", acc.Invitation.ID)
	require.ErrorIs(t, err, invite.ErrNotFound)
	e.get("t1", rev.Invitation.ID)

	n, err = e.m.Purge(e.ctx(), 0, 1)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the limit holds")
	n, err = e.m.Purge(e.ctx(), 0, 0)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	for _, r := range []*invite.Result{rev, exp} {
		_, err = e.m.Get(e.ctx(), "t1", r.Invitation.ID)
		require.ErrorIs(t, err, invite.ErrNotFound)
	}
	e.get("t1", open.Invitation.ID) // open invitations are never purged
	require.Empty(t, e.events.Events(), "purging emits no events")

	_, err = e.m.Purge(e.ctx(), -time.Second, 0)
	requireValidation(t, err, "Retention")
}

// ---------------------------------------------------------------- events

// TestPurgeCountsFromTheExpiry (review: retention counted from the sweep,
// and a never-swept invitation was never purged): an invitation that
// lapsed before the retention goes, swept late or not at all; one that
// lapsed inside it stays.
func TestPurgeCountsFromTheExpiry(t *testing.T) {
	e := newEnv(t)
	early := e.create(withExpiry(input("early@example.com"), time.Hour))
	swept := e.create(withExpiry(input("swept@example.com"), time.Hour))
	e.clock.Advance(29 * 24 * time.Hour) // both lapsed 29 days ago
	n, err := e.m.ExpireDue(e.ctx(), 1)  // sweeps one of them, today
	require.NoError(t, err)
	require.Equal(t, 1, n)
	late := e.create(withExpiry(input("late@example.com"), time.Hour))
	e.clock.Advance(2 * time.Hour) // lapsed an hour ago

	n, err = e.m.Purge(e.ctx(), 7*24*time.Hour, 0)
	require.NoError(t, err)
	require.Equal(t, 2, n, "both lapsed 29 days ago, swept today or never")
	for _, id := range []string{early.Invitation.ID, swept.Invitation.ID} {
		_, err := e.m.Get(e.ctx(), "t1", id)
		require.ErrorIs(t, err, invite.ErrNotFound)
	}
	require.Equal(t, invite.StateExpired, e.record("t1", late.Invitation.ID).Invitation.State, "swept, inside the retention")
}

func withExpiry(in invite.CreateInput, d time.Duration) invite.CreateInput {
	in.ExpiresIn = d
	return in
}
