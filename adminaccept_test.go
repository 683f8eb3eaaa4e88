package invite_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// TestAcceptByID: an admin accepts on the invitee's behalf, with the grants
// handed back and the admin named in the event.
func TestAcceptByID(t *testing.T) {
	e := newEnv(t)
	in := input("ada@example.com")
	in.Groups = []string{"engineers"}
	in.Data = map[string]string{"team": "looms"}
	res := e.create(in)
	id := res.Invitation.ID
	e.clock.Advance(time.Minute)

	acc, err := e.m.AcceptByID(e.ctx(), "t1", id, invite.AdminAcceptInput{Subject: "user-1",
		Actor: invite.Actor{ID: "root"}})
	require.NoError(t, err)
	require.False(t, acc.Replayed)
	inv := acc.Invitation
	require.Equal(t, invite.StateAccepted, inv.State)
	require.Equal(t, "user-1", inv.AcceptedBy)
	require.Equal(t, managerNow(e.clock), inv.ClosedAt)
	require.Equal(t, []string{"member"}, inv.Roles)
	require.Equal(t, []string{"engineers"}, inv.Groups)
	require.Equal(t, map[string]string{"team": "looms"}, inv.Data)
	require.EqualValues(t, 2, inv.Version)
	require.Equal(t, inv, e.get("t1", id))

	evs := e.events.Events()
	require.Equal(t, []invite.EventType{invite.EventCreated, invite.EventAccepted}, e.events.Types())
	require.Equal(t, invite.Actor{Kind: invite.ActorAdmin, ID: "root"}, evs[1].Actor)
	require.Equal(t, "user-1", evs[1].New.AcceptedBy)
	require.Equal(t, invite.StatePending, evs[1].Old.State)

	// The same subject again, by either path: a replay, nothing written.
	acc, err = e.m.AcceptByID(e.ctx(), "t1", id, invite.AdminAcceptInput{Subject: "user-1"})
	require.NoError(t, err)
	require.True(t, acc.Replayed)
	acc, err = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "user-1"})
	require.NoError(t, err)
	require.True(t, acc.Replayed)
	require.EqualValues(t, 2, e.get("t1", id).Version)
	require.Len(t, e.events.Events(), 2)

	// Another subject: ErrAlreadyAccepted.
	_, err = e.m.AcceptByID(e.ctx(), "t1", id, invite.AdminAcceptInput{Subject: "user-2"})
	require.ErrorIs(t, err, invite.ErrAlreadyAccepted)
	requireTransition(t, err, invite.StateAccepted)
	require.Equal(t, "user-1", e.get("t1", id).AcceptedBy)
}

func TestAcceptByIDActor(t *testing.T) {
	cases := map[string]struct {
		ctx   invite.Actor // set with WithActor, when not zero
		input invite.Actor
		want  invite.Actor
	}{
		"anonymous admin":          {want: invite.Actor{Kind: invite.ActorAdmin}},
		"the context's":            {ctx: invite.Actor{Kind: invite.ActorAdmin, ID: "ctx"}, want: invite.Actor{Kind: invite.ActorAdmin, ID: "ctx"}},
		"the input's":              {input: invite.Actor{ID: "in"}, want: invite.Actor{Kind: invite.ActorAdmin, ID: "in"}},
		"the input's over the ctx": {ctx: invite.Actor{Kind: invite.ActorAdmin, ID: "ctx"}, input: invite.Actor{ID: "in"}, want: invite.Actor{Kind: invite.ActorAdmin, ID: "in"}},
		"a system actor":           {input: invite.Actor{Kind: invite.ActorSystem, ID: "scim"}, want: invite.Actor{Kind: invite.ActorSystem, ID: "scim"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			a := e.create(input("ada@example.com"))
			b := e.create(input("bob@example.com"))
			ctx := e.ctx()
			if c.ctx != (invite.Actor{}) {
				ctx = invite.WithActor(ctx, c.ctx)
			}
			_, err := e.m.AcceptByID(ctx, "t1", a.Invitation.ID, invite.AdminAcceptInput{Subject: "ada", Actor: c.input})
			require.NoError(t, err)
			_, err = e.m.RejectByID(ctx, "t1", b.Invitation.ID, invite.AdminRejectInput{Actor: c.input})
			require.NoError(t, err)
			evs := e.events.Events()
			require.Len(t, evs, 4)
			require.Equal(t, invite.EventAccepted, evs[2].Type)
			require.Equal(t, c.want, evs[2].Actor)
			require.Equal(t, invite.EventRejected, evs[3].Type)
			require.Equal(t, c.want, evs[3].Actor)
		})
	}
}

func TestAcceptByIDRefusals(t *testing.T) {
	type setup func(e *env) (id string)
	open := func(in invite.CreateInput) setup {
		return func(e *env) string { return e.create(in).Invitation.ID }
	}
	bound := input("ada@example.com")
	bound.RequireEmailMatch = true
	forUser := input("")
	forUser.Invitee = invite.Invitee{UserID: "user-9"}
	cases := map[string]struct {
		setup   setup
		tenant  string
		in      invite.AdminAcceptInput
		want    error
		fields  []string
		from    invite.State
		consume bool
	}{
		"another tenant": {setup: open(input("ada@example.com")), tenant: "t2", in: invite.AdminAcceptInput{Subject: "u"},
			want: invite.ErrNotFound},
		"expired": {setup: func(e *env) string {
			id := e.create(input("ada@example.com")).Invitation.ID
			e.clock.Advance(week)
			return id
		}, in: invite.AdminAcceptInput{Subject: "u"}, want: invite.ErrExpired, from: invite.StateExpired},
		"revoked": {setup: func(e *env) string {
			id := e.create(input("ada@example.com")).Invitation.ID
			_, err := e.m.Revoke(e.ctx(), "t1", id, "")
			require.NoError(e.t, err)
			return id
		}, in: invite.AdminAcceptInput{Subject: "u"}, want: invite.ErrInvalidTransition, from: invite.StateRevoked},
		"email binding":   {setup: open(bound), in: invite.AdminAcceptInput{Subject: "u", Email: "bob@example.com"}, want: invite.ErrEmailMismatch},
		"another user id": {setup: open(forUser), in: invite.AdminAcceptInput{Subject: "user-8"}, want: invite.ErrSubjectMismatch},
		"no subject":      {setup: open(input("ada@example.com")), in: invite.AdminAcceptInput{}, fields: []string{"Subject"}},
		"bad input": {setup: open(input("ada@example.com")), tenant: "t\x00", in: invite.AdminAcceptInput{Subject: "u\n",
			Email: "nope", Actor: invite.Actor{Kind: invite.ActorInvitee, ID: "x\x00"}},
			fields: []string{"TenantID", "Subject", "Email", "Actor.Kind", "Actor.ID"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			id := c.setup(e)
			before := e.record("t1", id)
			n := len(e.events.Events())
			tenant := c.tenant
			if tenant == "" {
				tenant = "t1"
			}
			acc, err := e.m.AcceptByID(e.ctx(), tenant, id, c.in)
			require.Nil(t, acc)
			switch {
			case len(c.fields) > 0:
				requireValidation(t, err, c.fields...)
			case c.from != "":
				requireTransition(t, err, c.from)
				require.ErrorIs(t, err, c.want)
			default:
				require.ErrorIs(t, err, c.want)
			}
			require.Equal(t, before, e.record("t1", id), "nothing written")
			require.Len(t, e.events.Events(), n, "no event")
		})
	}

	// With the invited email, the binding passes.
	e := newEnv(t)
	id := e.create(bound).Invitation.ID
	acc, err := e.m.AcceptByID(e.ctx(), "t1", id, invite.AdminAcceptInput{Subject: "u", Email: "ADA@example.com"})
	require.NoError(t, err)
	require.Equal(t, invite.StateAccepted, acc.Invitation.State)
}

// TestRaceAdminAcceptVsInviteeAccept: an admin's AcceptByID and the
// invitee's Accept (and AcceptCode) race on one invitation; exactly one
// acceptance wins, the other is ErrAlreadyAccepted, or a replay when both
// name the same subject.
func TestRaceAdminAcceptVsInviteeAccept(t *testing.T) {
	for _, same := range []bool{false, true} {
		t.Run(fmt.Sprintf("same subject %t", same), func(t *testing.T) {
			e := newEnv(t)
			for round := range 30 {
				in := input(fmt.Sprintf("r%d@example.com", round))
				in.WithCode = true
				res := e.create(in)
				adminSubject, inviteeSubject, codeSubject := "admin-pick", "self", "by-code"
				if same {
					adminSubject, inviteeSubject, codeSubject = "u", "u", "u"
				}
				var accs [3]*invite.Acceptance
				var errs [3]error
				concurrently(
					func() {
						accs[0], errs[0] = e.m.AcceptByID(e.ctx(), "t1", res.Invitation.ID, invite.AdminAcceptInput{Subject: adminSubject})
					},
					func() {
						accs[1], errs[1] = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: inviteeSubject})
					},
					func() {
						accs[2], errs[2] = e.m.AcceptCode(e.ctx(), invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID},
							res.Code.Reveal(), invite.AcceptInput{Subject: codeSubject})
					},
				)
				winners := 0
				subjects := []string{adminSubject, inviteeSubject, codeSubject}
				for i := range accs {
					switch {
					case errs[i] == nil && !accs[i].Replayed:
						winners++
						require.Equal(t, subjects[i], e.get("t1", res.Invitation.ID).AcceptedBy, "round %d", round)
					case errs[i] == nil:
						require.True(t, same, "round %d: a replay to another subject", round)
					default:
						require.False(t, same, "round %d: %v", round, errs[i])
						require.ErrorIs(t, errs[i], invite.ErrAlreadyAccepted, "round %d", round)
					}
				}
				// (A losing AcceptCode commits its answer with a guard
				// write, so the version says nothing here; the events do.)
				require.Equal(t, 1, winners, "round %d", round)
			}
			accepted := 0
			for _, ev := range e.events.Events() {
				if ev.Type == invite.EventAccepted {
					accepted++
				}
			}
			require.Equal(t, 30, accepted)
		})
	}
}

func TestRejectByID(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	id := res.Invitation.ID
	ctx := invite.WithActor(e.ctx(), invite.Actor{Kind: invite.ActorAdmin, ID: "root"})
	e.clock.Advance(time.Minute)

	inv, err := e.m.RejectByID(ctx, "t1", id, invite.AdminRejectInput{Reason: "declined by phone"})
	require.NoError(t, err)
	require.Equal(t, invite.StateRejected, inv.State)
	require.Equal(t, "declined by phone", inv.Reason)
	require.Equal(t, managerNow(e.clock), inv.ClosedAt)
	require.EqualValues(t, 2, inv.Version)
	evs := e.events.Events()
	require.Equal(t, invite.EventRejected, evs[1].Type)
	require.Equal(t, invite.Actor{Kind: invite.ActorAdmin, ID: "root"}, evs[1].Actor)

	// Again: the invitation as it is, no write, no event, the first reason.
	again, err := e.m.RejectByID(ctx, "t1", id, invite.AdminRejectInput{Reason: "other"})
	require.NoError(t, err)
	require.Equal(t, inv, again)
	require.Len(t, e.events.Events(), 2)
	// The invitee's token is dead.
	_, err = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u"})
	requireTransition(t, err, invite.StateRejected)

	// Refusals write nothing.
	acc := e.create(input("bob@example.com"))
	_, err = e.m.Accept(e.ctx(), acc.Token.Reveal(), invite.AcceptInput{Subject: "bob"})
	require.NoError(t, err)
	in := input("carol@example.com")
	in.ExpiresIn = time.Hour
	exp := e.create(in)
	e.clock.Advance(time.Hour)
	for _, c := range []struct {
		tenant, id string
		in         invite.AdminRejectInput
		check      func(err error)
	}{
		{"t1", acc.Invitation.ID, invite.AdminRejectInput{}, func(err error) { requireTransition(t, err, invite.StateAccepted) }},
		{"t1", exp.Invitation.ID, invite.AdminRejectInput{}, func(err error) { require.ErrorIs(t, err, invite.ErrExpired) }},
		{"t2", acc.Invitation.ID, invite.AdminRejectInput{}, func(err error) { require.ErrorIs(t, err, invite.ErrNotFound) }},
		{"t1", exp.Invitation.ID, invite.AdminRejectInput{Reason: "bad\x00", Actor: invite.Actor{Kind: "robot"}},
			func(err error) { requireValidation(t, err, "Reason", "Actor.Kind") }},
	} {
		before := e.record("t1", c.id)
		_, err := e.m.RejectByID(ctx, c.tenant, c.id, c.in)
		c.check(err)
		require.Equal(t, before, e.record("t1", c.id))
	}
}

// TestRevokeTwice: revoking a revoked invitation returns it unchanged,
// writing nothing and emitting nothing.
func TestRevokeTwice(t *testing.T) {
	for _, how := range []string{"revoked", "superseded"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t)
			res := e.create(input("ada@example.com"))
			id := res.Invitation.ID
			if how == "revoked" {
				_, err := e.m.Revoke(e.ctx(), "t1", id, "first")
				require.NoError(t, err)
			} else {
				in := input("ada@example.com")
				in.Supersede = true
				e.create(in)
			}
			before := e.record("t1", id)
			n := len(e.events.Events())
			e.clock.Advance(time.Hour)
			inv, err := e.m.Revoke(e.ctx(), "t1", id, "second")
			require.NoError(t, err)
			require.Equal(t, invite.StateRevoked, inv.State)
			require.Equal(t, before.Invitation, *inv, "the invitation as stored")
			require.Equal(t, before, e.record("t1", id), "no write")
			require.Len(t, e.events.Events(), n, "no event")
			require.NotEqual(t, "second", inv.Reason)
		})
	}
}

// TestAdminInputFieldCodes: the new inputs' field errors carry the codes a
// client acts on.
func TestAdminInputFieldCodes(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	codes := func(err error) map[string]string {
		t.Helper()
		ve := requireValidation(t, err)
		out := map[string]string{}
		for _, f := range ve.Fields {
			out[f.Field] = f.Code
		}
		return out
	}
	_, err := e.m.AcceptByID(e.ctx(), "t1", res.Invitation.ID, invite.AdminAcceptInput{Actor: invite.Actor{Kind: "robot"}})
	require.Equal(t, map[string]string{"Subject": invite.CodeRequired, "Actor.Kind": invite.CodeUnknown}, codes(err))
	_, err = e.m.UpdateAndResend(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: res.Invitation.ID,
		ExpiresAt: ptr(e.clock.Now().Add(48 * time.Hour))}, invite.ResendOptions{ExpiresIn: 24 * time.Hour})
	require.Equal(t, map[string]string{"ExpiresIn": invite.CodeConflict}, codes(err))
}
