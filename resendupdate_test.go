package invite_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// batchLog records what each Apply wrote: the writes, events, queued
// messages and settled entries of every batch.
type batchLog struct {
	outboxStore
	mu      sync.Mutex
	batches []batchShape
}

type batchShape struct {
	Writes, Events, Messages, Delivered int
	Rotated                             bool
	EventTypes                          []invite.EventType
}

func (s *batchLog) Apply(ctx context.Context, b *invite.Batch) error {
	err := s.outboxStore.Apply(ctx, b)
	if err == nil {
		sh := batchShape{Writes: len(b.Writes), Events: len(b.Events), Messages: len(b.Messages), Delivered: len(b.Delivered)}
		for _, w := range b.Writes {
			sh.Rotated = sh.Rotated || w.Rotated
		}
		for _, ev := range b.Events {
			sh.EventTypes = append(sh.EventTypes, ev.Type)
		}
		s.mu.Lock()
		s.batches = append(s.batches, sh)
		s.mu.Unlock()
	}
	return err
}

// take returns the batches recorded since the last call.
func (s *batchLog) take() []batchShape {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.batches
	s.batches = nil
	return b
}

// logged returns a Manager on e's store (same config) whose writes are
// recorded.
func (e *env) logged() (*invite.Manager, *batchLog) {
	e.t.Helper()
	log := &batchLog{outboxStore: e.store}
	m, err := invite.New(log, e.cfg)
	require.NoError(e.t, err)
	return m, log
}

func TestUpdateAndResend(t *testing.T) {
	e := newEnv(t)
	m, log := e.logged()
	res := e.create(input("ada@example.com"))
	id := res.Invitation.ID
	e.clock.Advance(time.Hour)
	now := managerNow(e.clock)
	ctx := invite.WithActor(e.ctx(), invite.Actor{Kind: invite.ActorAdmin, ID: "root"})
	log.take()

	name, uri := "Augusta", "https://app.example/join"
	out, err := m.UpdateAndResend(ctx, invite.UpdateInput{TenantID: "t1", ID: id, Version: 1, GivenName: &name, RedirectURI: &uri},
		invite.ResendOptions{})
	require.NoError(t, err)
	require.NoError(t, out.DeliveryErr)
	require.False(t, out.Token.IsZero())
	require.Contains(t, out.Link.Reveal(), "https://app.example/join?")
	require.Contains(t, out.Link.Reveal(), out.Token.Reveal())

	// One write carries the edit, the new secret, the event and the
	// queued message; the delivery's write settles it.
	require.Equal(t, []batchShape{
		{Writes: 1, Events: 1, Messages: 1, Rotated: true, EventTypes: []invite.EventType{invite.EventResent}},
		{Writes: 1, Events: 1, Delivered: 1, EventTypes: []invite.EventType{invite.EventSent}},
	}, log.take())

	inv := out.Invitation
	require.Equal(t, invite.StateSent, inv.State)
	require.Equal(t, "Augusta", inv.GivenName)
	require.Equal(t, uri, inv.RedirectURI)
	require.Equal(t, 1, inv.ResendCount)
	require.Equal(t, now, inv.LastResentAt)
	require.Equal(t, now, inv.IssuedAt)
	require.Equal(t, now.Add(week), inv.ExpiresAt, "the validity last given, from now")
	require.EqualValues(t, 3, inv.Version)
	require.Equal(t, inv, e.get("t1", id))

	msgs := e.notes.Messages()
	require.Len(t, msgs, 1)
	require.True(t, msgs[0].Resend)
	require.Equal(t, "Augusta Lovelace", msgs[0].Vars.Name, "the message shows the edit")
	require.Equal(t, out.Link.Reveal(), msgs[0].Vars.InviteLink.Reveal())

	_, err = e.m.Lookup(e.ctx(), res.Token.Reveal())
	require.ErrorIs(t, err, invite.ErrInvalidToken, "the old token is dead")
	got, err := e.m.Lookup(e.ctx(), out.Token.Reveal())
	require.NoError(t, err)
	require.Equal(t, id, got.ID)

	evs := e.events.Events()
	require.Equal(t, []invite.EventType{invite.EventCreated, invite.EventResent, invite.EventSent}, e.events.Types())
	require.Equal(t, invite.Actor{Kind: invite.ActorAdmin, ID: "root"}, evs[1].Actor)
	require.Equal(t, "Ada", evs[1].Old.GivenName)
	require.Equal(t, "Augusta", evs[1].New.GivenName)
	require.Equal(t, 1, evs[1].New.ResendCount)
}

func TestUpdateAndResendExpiry(t *testing.T) {
	cases := map[string]struct {
		in   func(now time.Time) invite.UpdateInput
		opts invite.ResendOptions
		want time.Duration // the new validity from now
	}{
		"last given": {in: func(time.Time) invite.UpdateInput { return invite.UpdateInput{} }, want: 3 * 24 * time.Hour},
		"ExpiresAt": {in: func(now time.Time) invite.UpdateInput {
			return invite.UpdateInput{ExpiresAt: ptr(now.Add(10 * time.Hour))}
		}, want: 10 * time.Hour},
		"ExpiresIn": {in: func(time.Time) invite.UpdateInput { return invite.UpdateInput{} },
			opts: invite.ResendOptions{ExpiresIn: 5 * time.Hour}, want: 5 * time.Hour},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			in := input("ada@example.com")
			in.ExpiresIn = 3 * 24 * time.Hour
			res := e.create(in)
			e.clock.Advance(time.Hour)
			now := managerNow(e.clock)
			up := c.in(now)
			up.TenantID, up.ID = "t1", res.Invitation.ID
			c.opts.Delivery = invite.DeliveryReturn
			out, err := e.m.UpdateAndResend(e.ctx(), up, c.opts)
			require.NoError(t, err)
			require.Equal(t, now, out.Invitation.IssuedAt)
			require.Equal(t, now.Add(c.want), out.Invitation.ExpiresAt)
		})
	}
}

// TestUpdateAndResendRenewsExpired: as Resend, it renews an expired
// invitation (which Update alone refuses).
func TestUpdateAndResendRenewsExpired(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	e.clock.Advance(week + time.Hour)
	_, err := e.m.ExpireDue(e.ctx(), 0)
	require.NoError(t, err)
	name := "Augusta"
	_, err = e.m.Update(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: res.Invitation.ID, GivenName: &name})
	requireTransition(t, err, invite.StateExpired)

	out, err := e.m.UpdateAndResend(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: res.Invitation.ID, GivenName: &name},
		invite.ResendOptions{Delivery: invite.DeliveryReturn})
	require.NoError(t, err)
	require.Equal(t, invite.StatePending, out.Invitation.State)
	require.True(t, out.Invitation.ClosedAt.IsZero())
	require.Equal(t, "Augusta", out.Invitation.GivenName)
	acc, err := e.m.Accept(e.ctx(), out.Token.Reveal(), invite.AcceptInput{Subject: "ada"})
	require.NoError(t, err)
	require.Equal(t, "Augusta", acc.Invitation.GivenName)
}

// TestUpdateAndResendRefusals: every refusal writes, queues and sends
// nothing.
func TestUpdateAndResendRefusals(t *testing.T) {
	bad, long := "x\x00", string(make([]byte, 300))
	cases := map[string]struct {
		setup func(e *env, res *invite.Result)
		env   func(c *invite.Config)
		in    invite.UpdateInput
		opts  invite.ResendOptions
		check func(t *testing.T, err error)
	}{
		"accepted": {setup: func(e *env, res *invite.Result) {
			_, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u"})
			require.NoError(e.t, err)
		}, check: func(t *testing.T, err error) { requireTransition(t, err, invite.StateAccepted) }},
		"revoked": {setup: func(e *env, res *invite.Result) {
			_, err := e.m.Revoke(e.ctx(), "t1", res.Invitation.ID, "")
			require.NoError(e.t, err)
		}, check: func(t *testing.T, err error) { requireTransition(t, err, invite.StateRevoked) }},
		"stale version": {in: invite.UpdateInput{Version: 7},
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, invite.ErrConflict) }},
		"bad input": {in: invite.UpdateInput{GivenName: &bad, IdentityProviderID: &long, ExpiresAt: ptr(time.Now().Add(time.Hour * 24))},
			opts: invite.ResendOptions{Delivery: 7, ExpiresIn: time.Hour},
			check: func(t *testing.T, err error) {
				requireValidation(t, err, "GivenName", "IdentityProviderID", "Delivery", "ExpiresIn")
			}},
		"expiry out of range": {opts: invite.ResendOptions{ExpiresIn: time.Minute, Delivery: invite.DeliveryReturn},
			check: func(t *testing.T, err error) { requireValidation(t, err, "ExpiresIn") }},
		"no notifier": {env: func(c *invite.Config) { c.Notifier = nil },
			check: func(t *testing.T, err error) { requireValidation(t, err, "Delivery") }},
		"data too large": {env: func(c *invite.Config) { c.MaxDataBytes = 64 },
			in:    invite.UpdateInput{Data: &map[string]string{"k": strings.Repeat("x", 100)}},
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, invite.ErrInvalid) }},
		"bad redirect": {in: invite.UpdateInput{RedirectURI: ptr("http://evil.example/")},
			check: func(t *testing.T, err error) { requireValidation(t, err, "RedirectURI") }},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var opts []func(*invite.Config)
			if c.env != nil {
				opts = append(opts, c.env)
			}
			e := newEnv(t, opts...)
			res := e.create(input("ada@example.com"))
			if c.setup != nil {
				c.setup(e, res)
			}
			before := e.record("t1", res.Invitation.ID)
			n := len(e.events.Events())
			stats, err := e.mem.OutboxStats(e.ctx())
			require.NoError(t, err)
			in := c.in
			in.TenantID, in.ID = "t1", res.Invitation.ID
			out, err := e.m.UpdateAndResend(e.ctx(), in, c.opts)
			require.Nil(t, out)
			c.check(t, err)
			require.Equal(t, before, e.record("t1", res.Invitation.ID), "nothing written")
			require.Len(t, e.events.Events(), n, "no event")
			require.Empty(t, e.notes.Messages(), "nothing sent")
			after, err := e.mem.OutboxStats(e.ctx())
			require.NoError(t, err)
			require.Equal(t, stats.Pending, after.Pending, "nothing queued")
		})
	}
}

// TestUpdateAndResendNotifierDown: the new secret is committed with its
// queued message; the dispatcher delivers it later.
func TestUpdateAndResendNotifierDown(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	smtp := errors.New("smtp down")
	e.notes.Fail(smtp)
	name := "Augusta"
	out, err := e.m.UpdateAndResend(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: res.Invitation.ID, GivenName: &name}, invite.ResendOptions{})
	require.NoError(t, err)
	require.ErrorIs(t, out.DeliveryErr, invite.ErrDelivery)
	require.ErrorIs(t, out.DeliveryErr, smtp)
	require.Equal(t, invite.StatePending, out.Invitation.State)
	require.Equal(t, "Augusta", e.get("t1", res.Invitation.ID).GivenName)
	require.Contains(t, e.logs.String(), "delivery failed")
	require.NotContains(t, e.logs.String(), out.Token.Reveal())

	e.notes.Fail(nil)
	e.clock.Advance(time.Hour)
	d, err := e.m.NewDispatcher(invite.DispatcherConfig{Kinds: []invite.OutboxKind{invite.OutboxMessage}})
	require.NoError(t, err)
	_, err = d.Drain(e.ctx())
	require.NoError(t, err)
	msgs := e.notes.Messages()
	require.Len(t, msgs, 1)
	require.True(t, msgs[0].Resend)
	require.Equal(t, "Augusta Lovelace", msgs[0].Vars.Name)
	require.Equal(t, invite.StateSent, e.get("t1", res.Invitation.ID).State)
}

func TestUpsertResendOnUpdate(t *testing.T) {
	e := newEnv(t)
	m, log := e.logged()
	in := input("ada@example.com")
	in.WithCode = true
	first, err := e.m.Upsert(e.ctx(), in)
	require.NoError(t, err)
	require.True(t, first.Created)
	e.clock.Advance(time.Hour)
	log.take()

	// Without ResendOnUpdate: the secret stays, nothing is sent.
	in.GivenName = "Augusta"
	up, err := m.Upsert(e.ctx(), in)
	require.NoError(t, err)
	require.False(t, up.Created)
	require.True(t, up.Token.IsZero())
	require.Equal(t, []invite.EventType{invite.EventUpdated}, log.take()[0].EventTypes)

	// With it: one write with the new secret and the queued message, then
	// the delivery.
	in.GivenName = "Ada"
	in.ResendOnUpdate = true
	in.Delivery = invite.DeliverySend
	re, err := m.Upsert(e.ctx(), in)
	require.NoError(t, err)
	require.False(t, re.Created)
	require.NoError(t, re.DeliveryErr)
	require.False(t, re.Token.IsZero())
	require.False(t, re.Code.IsZero(), "the invitation has a code: a new one")
	require.Equal(t, []batchShape{
		{Writes: 1, Events: 1, Messages: 1, Rotated: true, EventTypes: []invite.EventType{invite.EventResent}},
		{Writes: 1, Events: 1, Delivered: 1, EventTypes: []invite.EventType{invite.EventSent}},
	}, log.take())
	inv := re.Invitation
	require.Equal(t, first.Invitation.ID, inv.ID)
	require.Equal(t, invite.StateSent, inv.State)
	require.Equal(t, "Ada", inv.GivenName)
	require.Equal(t, 1, inv.ResendCount)
	require.Equal(t, managerNow(e.clock), inv.LastResentAt)
	msgs := e.notes.Messages()
	require.Len(t, msgs, 1)
	require.True(t, msgs[0].Resend)
	require.Equal(t, re.Code.Reveal(), msgs[0].Vars.Code.Reveal())
	_, err = e.m.Lookup(e.ctx(), first.Token.Reveal())
	require.ErrorIs(t, err, invite.ErrInvalidToken, "the old token is dead")
	_, err = e.m.Lookup(e.ctx(), re.Token.Reveal())
	require.NoError(t, err)

	// A later plain update keeps the resend history.
	in.ResendOnUpdate = false
	in.Delivery = invite.DeliveryReturn
	up, err = e.m.Upsert(e.ctx(), in)
	require.NoError(t, err)
	require.Equal(t, 1, up.Invitation.ResendCount)
	require.Equal(t, managerNow(e.clock), up.Invitation.LastResentAt)

	// DeliveryReturn: the secret comes back, nothing is sent.
	e.notes.Reset()
	in.ResendOnUpdate = true
	re2, err := e.m.Upsert(e.ctx(), in)
	require.NoError(t, err)
	require.False(t, re2.Token.IsZero())
	require.Equal(t, 2, re2.Invitation.ResendCount)
	require.Empty(t, e.notes.Messages())
	_, err = e.m.Lookup(e.ctx(), re2.Token.Reveal())
	require.NoError(t, err)

	// The create path is an ordinary Create.
	other := input("bob@example.com")
	other.ResendOnUpdate = true
	cr, err := e.m.Upsert(e.ctx(), other)
	require.NoError(t, err)
	require.True(t, cr.Created)
	require.Zero(t, cr.Invitation.ResendCount)

	// A resend on update validates its delivery as Create does.
	e2 := newEnv(t, func(c *invite.Config) { c.Notifier = nil })
	e2.create(input("ada@example.com"))
	bad := input("ada@example.com")
	bad.ResendOnUpdate, bad.Delivery = true, invite.DeliverySend
	_, err = e2.m.Upsert(e2.ctx(), bad)
	requireValidation(t, err, "Delivery")
}

// TestResendCountVisible: a resend shows on the invitation and in its JSON.
func TestResendCountVisible(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	b, err := json.Marshal(res.Invitation)
	require.NoError(t, err)
	require.Contains(t, string(b), `"resend_count":0`)
	require.NotContains(t, string(b), "last_resent_at", "never re-sent")

	for i := 1; i <= 2; i++ {
		e.clock.Advance(time.Hour)
		r, err := e.m.Resend(e.ctx(), "t1", res.Invitation.ID, invite.ResendOptions{Delivery: invite.DeliveryReturn})
		require.NoError(t, err)
		require.Equal(t, i, r.Invitation.ResendCount)
		require.Equal(t, managerNow(e.clock), r.Invitation.LastResentAt)
	}
	inv := e.get("t1", res.Invitation.ID)
	b, err = json.Marshal(inv)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b, &doc))
	require.EqualValues(t, 2, doc["resend_count"])
	require.Equal(t, managerNow(e.clock).Format(time.RFC3339Nano), doc["last_resent_at"])
	var back invite.Invitation
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, inv.LastResentAt, back.LastResentAt)
}

// TestResendOnUpdateLeaksNoSecret: the secrets UpdateAndResend and Upsert's
// resend mint reach only their Result's Reveal (and the notifier), never
// its printing, the events, the logs or an error.
func TestResendOnUpdateLeaksNoSecret(t *testing.T) {
	e := newEnv(t)
	in := input("ada@example.com")
	in.WithCode = true
	res := e.create(in)
	e.notes.Fail(errors.New("smtp: 554 rejected")) // so that the failure is logged
	name := "Augusta"
	up, err := e.m.UpdateAndResend(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: res.Invitation.ID, GivenName: &name},
		invite.ResendOptions{})
	require.NoError(t, err)
	in.ResendOnUpdate, in.Delivery = true, invite.DeliverySend
	ups, err := e.m.Upsert(e.ctx(), in)
	require.NoError(t, err)
	var forbidden []string
	var outs []string
	for _, r := range []*invite.Result{up, &ups.Result} {
		require.NotEmpty(t, r.Code.Reveal())
		forbidden = append(forbidden, secretForms(r.Token.Reveal(), r.Code.Reveal(), r.Link.Reveal())...)
		for _, verb := range fmtVerbs {
			outs = append(outs, fmt.Sprintf(verb, r), fmt.Sprintf(verb, *r))
		}
		b, err := json.Marshal(r)
		require.NoError(t, err)
		outs = append(outs, string(b), r.DeliveryErr.Error())
	}
	forbidden = append(forbidden, string(e.record("t1", res.Invitation.ID).Credentials.CodeHash))
	// A refused one's error.
	_, err = e.m.UpdateAndResend(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: res.Invitation.ID, Version: 1}, invite.ResendOptions{})
	require.ErrorIs(t, err, invite.ErrConflict)
	outs = append(outs, err.Error())
	b, err := json.Marshal(e.events.Events())
	require.NoError(t, err)
	outs = append(outs, string(b), fmt.Sprintf("%+v", e.events.Events()), e.logs.String())
	requireNoSecret(t, strings.Join(outs, "\n"), forbidden)
}
