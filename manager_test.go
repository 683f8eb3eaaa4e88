package invite_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

const week = 7 * 24 * time.Hour

func requireUUIDv7(t *testing.T, s string) {
	t.Helper()
	u, err := uuid.Parse(s)
	require.NoError(t, err, s)
	require.EqualValues(t, 7, u.Version(), s)
}

// ---------------------------------------------------------------- create

func TestCreateReturnsSecretAndStoresOnlyItsHash(t *testing.T) {
	e := newEnv(t)
	now := managerNow(e.clock)
	res := e.create(input("Ada@Example.com"))
	inv := res.Invitation

	requireUUIDv7(t, inv.ID)
	require.Equal(t, "t1", inv.TenantID)
	require.Equal(t, "Ada@Example.com", inv.Invitee.Email)
	require.Equal(t, invite.StatePending, inv.State)
	require.EqualValues(t, 1, inv.Version)
	require.Equal(t, now, inv.CreatedAt)
	require.Equal(t, time.UTC, inv.CreatedAt.Location())
	require.Equal(t, now, inv.IssuedAt)
	require.Equal(t, now.Add(week), inv.ExpiresAt)
	require.Zero(t, inv.SendCount)
	require.True(t, inv.SentAt.IsZero())
	require.False(t, inv.HasCode)
	require.Equal(t, "invite", inv.TemplateKey)
	require.Equal(t, []string{"member"}, inv.Roles)
	require.True(t, res.Code.IsZero())
	require.False(t, res.Replayed)

	tok := res.Token.Reveal()
	h, err := invite.ParseToken(invite.DefaultTokenPrefix, tok)
	require.NoError(t, err)
	rec := e.record("t1", inv.ID)
	require.Equal(t, invite.TokenHash(sha256.Sum256([]byte(tok))), rec.Credentials.TokenHash)
	require.True(t, rec.Credentials.TokenHash.Equal(h))
	require.Empty(t, rec.Credentials.CodeHash)
	require.Empty(t, rec.Credentials.PreviousTokens)

	// The link is the redirect URI with the token as a query parameter.
	u, err := url.Parse(res.Link.Reveal())
	require.NoError(t, err)
	require.Equal(t, "https", u.Scheme)
	require.Equal(t, "app.example", u.Host)
	require.Equal(t, "/register", u.Path)
	require.Equal(t, tok, u.Query().Get("token"))

	require.Empty(t, e.notes.Messages(), "DeliveryReturn sent something")
	evs := e.events.Events()
	require.Len(t, evs, 1)
	require.Equal(t, invite.EventCreated, evs[0].Type)
	require.Nil(t, evs[0].Old)
	require.Equal(t, inv.ID, evs[0].New.ID)
	require.Equal(t, invite.Actor{Kind: invite.ActorAdmin}, evs[0].Actor)

	// The caller's input is not shared with the store.
	in := input("bob@example.com")
	in.Data = map[string]string{"k": "v"}
	res2 := e.create(in)
	in.Roles[0] = "owner"
	in.Data["k"] = "changed"
	got := e.get("t1", res2.Invitation.ID)
	require.Equal(t, []string{"member"}, got.Roles)
	require.Equal(t, "v", got.Data["k"])
}

func TestCreateExpiry(t *testing.T) {
	e := newEnv(t)
	now := managerNow(e.clock)
	in := input("a@example.com")
	in.ExpiresIn = 36 * time.Hour
	require.Equal(t, now.Add(36*time.Hour), e.create(in).Invitation.ExpiresAt)

	in = input("b@example.com")
	at := now.Add(48 * time.Hour).Add(123 * time.Nanosecond)
	in.ExpiresAt = at
	in.ExpiresIn = 2 * time.Hour // ExpiresAt wins
	require.Equal(t, at.Truncate(time.Microsecond), e.create(in).Invitation.ExpiresAt)

	e2 := newEnv(t, func(c *invite.Config) {
		c.DefaultExpiry, c.MinExpiry, c.MaxExpiry = 2*time.Hour, time.Minute, 3*time.Hour
	})
	require.Equal(t, managerNow(e2.clock).Add(2*time.Hour), e2.create(input("a@example.com")).Invitation.ExpiresAt)
	in = input("b@example.com")
	in.ExpiresIn = 4 * time.Hour
	_, err := e2.m.Create(e2.ctx(), in)
	requireValidation(t, err, "ExpiresIn")
}

func TestCreateSendsThroughNotifier(t *testing.T) {
	e := newEnv(t)
	now := managerNow(e.clock)
	in := input("ada@example.com")
	in.Delivery = invite.DeliverySend
	in.WithCode = true
	in.Locale = "pt-BR"
	res := e.create(in)

	msgs := e.notes.Messages()
	require.Len(t, msgs, 1)
	msg := msgs[0]
	_, err := uuid.Parse(msg.ID)
	require.NoError(t, err, msg.ID)
	require.Equal(t, "t1", msg.TenantID)
	require.Equal(t, res.Invitation.ID, msg.InvitationID)
	require.False(t, msg.Resend)
	require.Equal(t, invite.ChannelEmail, msg.Channel)
	require.Equal(t, "ada@example.com", msg.To)
	require.Equal(t, "pt-BR", msg.Locale)
	require.Equal(t, "invite", msg.TemplateKey)
	require.Equal(t, "Ada Lovelace", msg.Vars.Name)
	require.Equal(t, "Grace Hopper", msg.Vars.InvitedBy)
	require.Equal(t, "Analytical Engines", msg.Vars.AccountName)
	require.Equal(t, res.Invitation.ExpiresAt, msg.Vars.ExpiresAt)
	require.Equal(t, res.Link.Reveal(), msg.Vars.InviteLink.Reveal())
	require.Contains(t, msg.Vars.InviteLink.Reveal(), res.Token.Reveal())
	require.Equal(t, res.Code.Reveal(), msg.Vars.Code.Reveal())
	require.Len(t, res.Code.Reveal(), 8)
	vars := msg.Vars.Map()
	require.Equal(t, map[string]string{
		"name": "Ada Lovelace", "invite_link": res.Link.Reveal(), "invited_by": "Grace Hopper",
		"account_name": "Analytical Engines", "expires_at": now.Add(week).Format(time.RFC3339), "code": res.Code.Reveal(),
	}, vars)

	inv := res.Invitation
	require.Equal(t, invite.StateSent, inv.State)
	require.Equal(t, 1, inv.SendCount)
	require.Equal(t, now, inv.SentAt)
	require.EqualValues(t, 2, inv.Version)
	require.True(t, inv.HasCode)
	require.Equal(t, inv, e.get("t1", inv.ID))

	evs := e.events.Events()
	require.Equal(t, []invite.EventType{invite.EventCreated, invite.EventSent}, e.events.Types())
	require.Equal(t, evs[0].New, evs[1].Old)
	require.Equal(t, invite.StateSent, evs[1].New.State)
	require.Equal(t, invite.ActorSystem, evs[1].Actor.Kind)
}

func TestDeliveryChannels(t *testing.T) {
	cases := []struct {
		name    string
		invitee invite.Invitee
		channel invite.Channel
		to      string
	}{
		{"email", invite.Invitee{Email: "ada@example.com"}, invite.ChannelEmail, "ada@example.com"},
		{"phone", invite.Invitee{Phone: "+44 20 7946 0958"}, invite.ChannelSMS, "+442079460958"},
		{"user", invite.Invitee{UserID: "user-42"}, invite.ChannelUser, "user-42"},
		{"email wins", invite.Invitee{Email: "ada@example.com", Phone: "+442079460958", UserID: "u"}, invite.ChannelEmail, "ada@example.com"},
		{"phone before user", invite.Invitee{Phone: "0044 20 7946 0958", UserID: "u"}, invite.ChannelSMS, "+442079460958"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			in := input("")
			in.Invitee = c.invitee
			in.Delivery = invite.DeliverySend
			in.WithCode = true
			in.RedirectURI = ""
			e.create(in)
			msgs := e.notes.Messages()
			require.Len(t, msgs, 1)
			require.Equal(t, c.channel, msgs[0].Channel)
			require.Equal(t, c.to, msgs[0].To)
			require.Empty(t, msgs[0].Vars.InviteLink.Reveal())
			require.Len(t, msgs[0].Vars.Code.Reveal(), 8)
		})
	}
}

func TestNotifierFailureLeavesInvitationPendingAndResendRetries(t *testing.T) {
	e := newEnv(t)
	smtp := errors.New("smtp: connection refused")
	e.notes.Fail(smtp)
	in := input("ada@example.com")
	in.Delivery = invite.DeliverySend
	res, err := e.m.Create(e.ctx(), in)
	require.NoError(t, err, "the invitation exists although delivery failed")
	require.ErrorIs(t, res.DeliveryErr, invite.ErrDelivery)
	require.ErrorIs(t, res.DeliveryErr, smtp)
	require.False(t, res.Token.IsZero(), "the caller may deliver the token another way")
	require.Equal(t, invite.StatePending, res.Invitation.State)
	require.Zero(t, res.Invitation.SendCount)
	inv := e.get("t1", res.Invitation.ID)
	require.Equal(t, invite.StatePending, inv.State)
	require.EqualValues(t, 1, inv.Version)
	require.True(t, inv.SentAt.IsZero())
	require.Equal(t, []invite.EventType{invite.EventCreated}, e.events.Types())

	// A resend while the notifier is still down fails the same way.
	r1, err := e.m.Resend(e.ctx(), "t1", inv.ID, invite.ResendOptions{})
	require.NoError(t, err)
	require.ErrorIs(t, r1.DeliveryErr, invite.ErrDelivery)
	require.Equal(t, invite.StatePending, e.get("t1", inv.ID).State)

	e.notes.Fail(nil)
	e.clock.Advance(time.Hour)
	r2, err := e.m.Resend(e.ctx(), "t1", inv.ID, invite.ResendOptions{})
	require.NoError(t, err)
	require.NoError(t, r2.DeliveryErr)
	require.Equal(t, invite.StateSent, r2.Invitation.State)
	require.Equal(t, 1, r2.Invitation.SendCount)
	require.Equal(t, managerNow(e.clock), r2.Invitation.SentAt)
	msgs := e.notes.Messages()
	require.Len(t, msgs, 1)
	require.True(t, msgs[0].Resend)
	require.Contains(t, msgs[0].Vars.InviteLink.Reveal(), r2.Token.Reveal())

	// Only the last token works.
	for _, old := range []invite.Secret{res.Token, r1.Token} {
		_, err = e.m.Lookup(e.ctx(), old.Reveal())
		require.ErrorIs(t, err, invite.ErrInvalidToken)
	}
	_, err = e.m.Lookup(e.ctx(), r2.Token.Reveal())
	require.NoError(t, err)
	require.Equal(t, []invite.EventType{invite.EventCreated, invite.EventResent, invite.EventResent, invite.EventSent}, e.events.Types())
}

func TestCreateWithoutNotifier(t *testing.T) {
	e := newEnv(t, func(c *invite.Config) { c.Notifier = nil })
	in := input("ada@example.com")
	in.Delivery = invite.DeliverySend
	_, err := e.m.Create(e.ctx(), in)
	requireValidation(t, err, "Delivery")
	require.Zero(t, e.count("t1"))
	// DeliveryReturn needs no notifier.
	res := e.create(input("ada@example.com"))
	_, err = e.m.Resend(e.ctx(), "t1", res.Invitation.ID, invite.ResendOptions{})
	requireValidation(t, err, "Delivery")
	_, err = e.m.Resend(e.ctx(), "t1", res.Invitation.ID, invite.ResendOptions{Delivery: invite.DeliveryReturn})
	require.NoError(t, err)
}

// ---------------------------------------------------------------- uniqueness

func TestOpenInvitationBlocksSameInvitee(t *testing.T) {
	cases := []struct {
		name          string
		first, second invite.Invitee
	}{
		{"email case-insensitive", invite.Invitee{Email: "Ada@Example.com"}, invite.Invitee{Email: "ada@example.COM"}},
		{"email with spaces", invite.Invitee{Email: "ada@example.com"}, invite.Invitee{Email: "  ada@example.com "}},
		{"phone formats", invite.Invitee{Phone: "+49 30 1234567"}, invite.Invitee{Phone: "0049 (30) 123-4567"}},
		{"user id", invite.Invitee{UserID: "u-1"}, invite.Invitee{UserID: "u-1"}},
		{"one shared key", invite.Invitee{Email: "ada@example.com", Phone: "+4930123456"}, invite.Invitee{Email: "other@example.com", Phone: "+49.30.123456"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			in := input("")
			in.Invitee = c.first
			first := e.create(in)
			in.Invitee = c.second
			_, err := e.m.Create(e.ctx(), in)
			require.ErrorIs(t, err, invite.ErrAlreadyExists)
			require.Equal(t, 1, e.count("t1"))

			// Another tenant is not blocked.
			in2 := in
			in2.TenantID = "t2"
			e.create(in2)

			// Supersede revokes the open one in the same step.
			e.events.Reset()
			in.Supersede = true
			second := e.create(in)
			old := e.get("t1", first.Invitation.ID)
			require.Equal(t, invite.StateRevoked, old.State)
			require.Equal(t, "superseded", old.Reason)
			require.Equal(t, managerNow(e.clock), old.ClosedAt)
			require.Equal(t, []invite.EventType{invite.EventRevoked, invite.EventCreated}, e.events.Types())
			evs := e.events.Events()
			require.Equal(t, first.Invitation.ID, evs[0].InvitationID)
			require.Equal(t, invite.StatePending, evs[0].Old.State)
			require.Equal(t, second.Invitation.ID, evs[1].InvitationID)
			_, err = e.m.Accept(e.ctx(), first.Token.Reveal(), invite.AcceptInput{Subject: "u-1"})
			requireTransition(t, err, invite.StateRevoked)
			_, err = e.m.Accept(e.ctx(), second.Token.Reveal(), invite.AcceptInput{Subject: "u-1"})
			require.NoError(t, err)
		})
	}
}

func TestClosedInvitationsNeverBlock(t *testing.T) {
	cases := map[string]func(e *env, res *invite.Result){
		"accepted": func(e *env, res *invite.Result) {
			_, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u"})
			require.NoError(e.t, err)
		},
		"rejected": func(e *env, res *invite.Result) {
			_, err := e.m.Reject(e.ctx(), res.Token.Reveal(), "")
			require.NoError(e.t, err)
		},
		"revoked": func(e *env, res *invite.Result) {
			_, err := e.m.Revoke(e.ctx(), "t1", res.Invitation.ID, "")
			require.NoError(e.t, err)
		},
		"expired": func(e *env, _ *invite.Result) { e.clock.Advance(week) },
		"expired and swept": func(e *env, _ *invite.Result) {
			e.clock.Advance(week + time.Second)
			n, err := e.m.ExpireDue(e.ctx(), 0)
			require.NoError(e.t, err)
			require.Equal(e.t, 1, n)
		},
	}
	for name, closeIt := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			first := e.create(input("ada@example.com"))
			closeIt(e, first)
			state := e.get("t1", first.Invitation.ID).State
			e.events.Reset()
			second := e.create(input("ADA@example.com"))
			require.NotEqual(t, first.Invitation.ID, second.Invitation.ID)
			require.Equal(t, state, e.get("t1", first.Invitation.ID).State)
			if name == "expired" {
				// The lapsed one is marked expired in the same batch.
				require.Equal(t, invite.StateExpired, e.record("t1", first.Invitation.ID).Invitation.State)
				require.Equal(t, []invite.EventType{invite.EventExpired, invite.EventCreated}, e.events.Types())
				require.Equal(t, invite.ActorSystem, e.events.Events()[0].Actor.Kind)
			} else {
				require.Equal(t, []invite.EventType{invite.EventCreated}, e.events.Types())
			}
		})
	}
}

func TestConcurrentCreateSameInvitee(t *testing.T) {
	e := newEnv(t)
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			in := input(fmt.Sprintf("%s@example.com", []string{"ada", "ADA", "Ada"}[i%3]))
			_, errs[i] = e.m.Create(e.ctx(), in)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		require.ErrorIs(t, err, invite.ErrAlreadyExists)
	}
	require.Equal(t, 1, ok)
	require.Equal(t, 1, e.count("t1"))
}

// ---------------------------------------------------------------- idempotency

func TestIdempotencyKeyReplaysFirstResult(t *testing.T) {
	e := newEnv(t)
	in := input("ada@example.com")
	in.IdempotencyKey = "req-1"
	first := e.create(in)
	require.False(t, first.Replayed)

	e.clock.Advance(time.Minute)
	again := e.create(in)
	require.True(t, again.Replayed)
	require.Equal(t, first.Invitation.ID, again.Invitation.ID)
	require.Equal(t, first.Invitation.CreatedAt, again.Invitation.CreatedAt)
	require.True(t, again.Token.IsZero(), "the plaintext was never kept")
	require.True(t, again.Link.IsZero())
	require.Equal(t, 1, e.count("t1"))
	require.Equal(t, []invite.EventType{invite.EventCreated}, e.events.Types())

	// Same key for another invitee: a conflict, nothing created.
	other := input("bob@example.com")
	other.IdempotencyKey = "req-1"
	_, err := e.m.Create(e.ctx(), other)
	require.ErrorIs(t, err, invite.ErrConflict)
	require.Equal(t, 1, e.count("t1"))

	// Keys are per tenant.
	in2 := in
	in2.TenantID = "t2"
	r2 := e.create(in2)
	require.False(t, r2.Replayed)
	require.NotEqual(t, first.Invitation.ID, r2.Invitation.ID)

	// The replay reports the invitation as it is now.
	_, err = e.m.Accept(e.ctx(), first.Token.Reveal(), invite.AcceptInput{Subject: "u"})
	require.NoError(t, err)
	again = e.create(in)
	require.True(t, again.Replayed)
	require.Equal(t, invite.StateAccepted, again.Invitation.State)
	require.Equal(t, 1, e.count("t1"))
}

func TestIdempotencyKeyConcurrent(t *testing.T) {
	e := newEnv(t)
	const n = 16
	results := make([]*invite.Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			in := input("ada@example.com")
			in.IdempotencyKey = "req-1"
			results[i], errs[i] = e.m.Create(e.ctx(), in)
		})
	}
	wg.Wait()
	fresh := 0
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, results[0].Invitation.ID, results[i].Invitation.ID)
		if !results[i].Replayed {
			fresh++
			require.False(t, results[i].Token.IsZero())
		}
	}
	require.Equal(t, 1, fresh)
	require.Equal(t, 1, e.count("t1"))
}

// ---------------------------------------------------------------- batch

func TestCreateBatchPerItemResults(t *testing.T) {
	e := newEnv(t)
	bad := input("not an email")
	unknown := input("carol@example.com")
	unknown.TemplateKey = "nope"
	items, err := e.m.CreateBatch(e.ctx(), []invite.CreateInput{
		input("ada@example.com"), bad, input("bob@example.com"), input("ADA@example.com"), unknown,
	})
	require.NoError(t, err)
	require.Len(t, items, 5)
	require.NoError(t, items[0].Err)
	require.False(t, items[0].Result.Token.IsZero())
	requireValidation(t, items[1].Err, "Invitee.Email")
	require.Nil(t, items[1].Result)
	require.NoError(t, items[2].Err)
	require.Equal(t, "bob@example.com", items[2].Result.Invitation.Invitee.Email)
	require.ErrorIs(t, items[3].Err, invite.ErrAlreadyExists)
	require.ErrorIs(t, items[4].Err, invite.ErrUnknownTemplate)
	require.Equal(t, 2, e.count("t1"))
	for _, i := range []int{0, 2} {
		_, err := e.m.Lookup(e.ctx(), items[i].Result.Token.Reveal())
		require.NoError(t, err)
	}
}

func TestCreateBatchLimits(t *testing.T) {
	e := newEnv(t)
	ins := make([]invite.CreateInput, invite.MaxBatchSize+1)
	for i := range ins {
		ins[i] = input(fmt.Sprintf("u%d@example.com", i))
	}
	items, err := e.m.CreateBatch(e.ctx(), ins)
	requireValidation(t, err, "Batch")
	require.Nil(t, items)
	require.Zero(t, e.count("t1"))

	items, err = e.m.CreateBatch(e.ctx(), ins[:invite.MaxBatchSize])
	require.NoError(t, err)
	require.Len(t, items, invite.MaxBatchSize)
	for _, it := range items {
		require.NoError(t, it.Err)
	}
	require.Equal(t, invite.MaxBatchSize, e.count("t1"))

	ctx, cancel := context.WithCancel(e.ctx())
	cancel()
	items, err = e.m.CreateBatch(ctx, []invite.CreateInput{input("x@example.com"), input("y@example.com")})
	require.NoError(t, err)
	for _, it := range items {
		require.ErrorIs(t, it.Err, context.Canceled)
	}
}

// ---------------------------------------------------------------- upsert

func TestUpsert(t *testing.T) {
	e := newEnv(t)
	in := input("ada@example.com")
	in.Data = map[string]string{"team": "engines"}
	r1, err := e.m.Upsert(e.ctx(), in)
	require.NoError(t, err)
	require.True(t, r1.Created)
	require.False(t, r1.Token.IsZero())

	e.clock.Advance(3 * time.Hour)
	in2 := input("ADA@example.com")
	in2.GivenName = "Augusta"
	in2.Roles = []string{"admin"}
	in2.Data = map[string]string{"team": "looms"}
	in2.ExpiresIn = 48 * time.Hour
	r2, err := e.m.Upsert(e.ctx(), in2)
	require.NoError(t, err)
	require.False(t, r2.Created)
	require.True(t, r2.Token.IsZero(), "an update returns no secret")
	require.Equal(t, r1.Invitation.ID, r2.Invitation.ID)
	require.Equal(t, "Augusta", r2.Invitation.GivenName)
	require.Equal(t, []string{"admin"}, r2.Invitation.Roles)
	require.Equal(t, "looms", r2.Invitation.Data["team"])
	require.Equal(t, managerNow(e.clock).Add(48*time.Hour), r2.Invitation.ExpiresAt, "expiry restarts")
	require.Equal(t, r1.Invitation.CreatedAt, r2.Invitation.CreatedAt)
	require.EqualValues(t, 2, r2.Invitation.Version)
	require.Equal(t, 1, e.count("t1"))
	require.Empty(t, e.notes.Messages())

	// The first secret still works and sees the new data.
	got, err := e.m.Lookup(e.ctx(), r1.Token.Reveal())
	require.NoError(t, err)
	require.Equal(t, "looms", got.Data["team"])

	require.Equal(t, []invite.EventType{invite.EventCreated, invite.EventUpdated}, e.events.Types())
	upd := e.events.Events()[1]
	require.Equal(t, "engines", upd.Old.Data["team"])
	require.Equal(t, "looms", upd.New.Data["team"])

	// Once accepted, an upsert creates a new invitation.
	_, err = e.m.Accept(e.ctx(), r1.Token.Reveal(), invite.AcceptInput{Subject: "u"})
	require.NoError(t, err)
	r3, err := e.m.Upsert(e.ctx(), in2)
	require.NoError(t, err)
	require.True(t, r3.Created)
	require.NotEqual(t, r1.Invitation.ID, r3.Invitation.ID)

	// A lapsed one is not refreshed either.
	e.clock.Advance(49 * time.Hour)
	r4, err := e.m.Upsert(e.ctx(), in2)
	require.NoError(t, err)
	require.True(t, r4.Created)
	require.Equal(t, invite.StateExpired, e.get("t1", r3.Invitation.ID).State)

	// Invalid input stores nothing.
	before := e.count("t1")
	_, err = e.m.Upsert(e.ctx(), input("nope"))
	requireValidation(t, err, "Invitee.Email")
	require.Equal(t, before, e.count("t1"))
}

func TestUpsertAmbiguousInvitee(t *testing.T) {
	e := newEnv(t)
	a := input("ada@example.com")
	e.create(a)
	b := input("")
	b.Invitee = invite.Invitee{Phone: "+4930123456"}
	e.create(b)
	both := input("ada@example.com")
	both.Invitee.Phone = "+4930123456"
	_, err := e.m.Upsert(e.ctx(), both)
	require.ErrorIs(t, err, invite.ErrConflict)
}

// ---------------------------------------------------------------- reads

func TestGet(t *testing.T) {
	e := newEnv(t)
	in := input("ada@example.com")
	in.Data = map[string]string{"k": "v"}
	in.ExpiresIn = 2 * time.Hour
	res := e.create(in)
	id := res.Invitation.ID

	_, err := e.m.Get(e.ctx(), "t2", id)
	require.ErrorIs(t, err, invite.ErrNotFound)
	_, err = e.m.Get(e.ctx(), "t1", "no-such-id")
	require.ErrorIs(t, err, invite.ErrNotFound)
	_, err = e.m.Get(e.ctx(), "", id)
	requireValidation(t, err, "TenantID")
	_, err = e.m.Get(e.ctx(), "t1", "")
	requireValidation(t, err, "ID")

	// Values returned are copies.
	got := e.get("t1", id)
	got.Roles[0] = "owner"
	got.Data["k"] = "changed"
	res.Invitation.Data["k"] = "changed too"
	again := e.get("t1", id)
	require.Equal(t, "member", again.Roles[0])
	require.Equal(t, "v", again.Data["k"])

	// Expiry is derived on read.
	e.clock.Advance(2*time.Hour - time.Microsecond)
	require.Equal(t, invite.StatePending, e.get("t1", id).State)
	e.clock.Advance(time.Microsecond)
	require.Equal(t, invite.StateExpired, e.get("t1", id).State)
	require.Equal(t, invite.StatePending, e.record("t1", id).Invitation.State, "reads do not write")
}

func TestListPagination(t *testing.T) {
	e := newEnv(t)
	var want []string
	for i := range 250 {
		if i%3 == 0 {
			e.clock.Advance(time.Second) // the others share CreatedAt: ID breaks ties
		}
		want = append(want, e.create(input(fmt.Sprintf("u%03d@example.com", i))).Invitation.ID)
	}
	all := func(desc bool, limit int) ([]*invite.Invitation, []int) {
		t.Helper()
		var got []*invite.Invitation
		var sizes []int
		cursor := ""
		for {
			page, err := e.m.List(e.ctx(), "t1", invite.ListOptions{Cursor: cursor, Limit: limit, Descending: desc})
			require.NoError(t, err)
			sizes = append(sizes, len(page.Invitations))
			got = append(got, page.Invitations...)
			if page.NextCursor == "" {
				return got, sizes
			}
			require.Less(t, len(sizes), 100, "pagination does not end")
			cursor = page.NextCursor
		}
	}
	ids := func(invs []*invite.Invitation) []string {
		var out []string
		for _, inv := range invs {
			out = append(out, inv.ID)
		}
		return out
	}
	sorted := func(invs []*invite.Invitation) bool {
		return slices.IsSortedFunc(invs, func(a, b *invite.Invitation) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
	}

	got, sizes := all(false, 0)
	require.Equal(t, []int{100, 100, 50}, sizes, "default page size is 100")
	require.ElementsMatch(t, want, ids(got))
	require.True(t, sorted(got))

	got, sizes = all(true, 60)
	require.Equal(t, []int{60, 60, 60, 60, 10}, sizes)
	require.ElementsMatch(t, want, ids(got))
	slices.Reverse(got)
	require.True(t, sorted(got))

	got, sizes = all(false, 125)
	require.Equal(t, []int{125, 125}, sizes, "no empty last page")
	require.Len(t, got, 250)

	page, err := e.m.List(e.ctx(), "t1", invite.ListOptions{Limit: invite.MaxPageSize})
	require.NoError(t, err)
	require.Len(t, page.Invitations, 250)
	require.Empty(t, page.NextCursor)

	// Invitations created between pages are neither repeated nor skipped.
	page, err = e.m.List(e.ctx(), "t1", invite.ListOptions{Limit: 100})
	require.NoError(t, err)
	seen := ids(page.Invitations)
	for i := range 5 {
		e.clock.Advance(time.Second)
		want = append(want, e.create(input(fmt.Sprintf("late%d@example.com", i))).Invitation.ID)
	}
	cursor := page.NextCursor
	for cursor != "" {
		page, err = e.m.List(e.ctx(), "t1", invite.ListOptions{Limit: 100, Cursor: cursor})
		require.NoError(t, err)
		seen = append(seen, ids(page.Invitations)...)
		cursor = page.NextCursor
	}
	require.ElementsMatch(t, want, seen)

	// Other tenants see none of it.
	page, err = e.m.List(e.ctx(), "t2", invite.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, page.Invitations)
	require.Empty(t, page.NextCursor)
}

func TestListFilters(t *testing.T) {
	e := newEnv(t)
	t0 := managerNow(e.clock)
	mk := func(iv invite.Invitee, inviter string, expiresIn time.Duration) *invite.Result {
		in := input("")
		in.Invitee = iv
		in.Inviter.ID = inviter
		in.ExpiresIn = expiresIn
		e.clock.Advance(time.Minute)
		return e.create(in)
	}
	a := mk(invite.Invitee{Email: "Ada@Example.com"}, "i1", week)
	b := mk(invite.Invitee{Phone: "+49 30 123456"}, "i2", week)
	c := mk(invite.Invitee{UserID: "u-3"}, "i1", week)
	d := mk(invite.Invitee{Email: "dan@example.com"}, "i2", time.Hour)
	_, err := e.m.Accept(e.ctx(), b.Token.Reveal(), invite.AcceptInput{Subject: "s"})
	require.NoError(t, err)
	_, err = e.m.Revoke(e.ctx(), "t1", c.Invitation.ID, "")
	require.NoError(t, err)
	e.clock.Advance(2 * time.Hour) // d lapses

	ids := func(f invite.Filter) []string {
		t.Helper()
		page, err := e.m.List(e.ctx(), "t1", invite.ListOptions{Filter: f})
		require.NoError(t, err)
		var out []string
		for _, inv := range page.Invitations {
			out = append(out, inv.ID)
			require.Equal(t, e.get("t1", inv.ID).State, inv.State, "List reports the effective state")
		}
		return out
	}
	A, B, C, D := a.Invitation.ID, b.Invitation.ID, c.Invitation.ID, d.Invitation.ID
	cases := []struct {
		name   string
		filter invite.Filter
		want   []string
	}{
		{"zero filter hides expired", invite.Filter{}, []string{A, B, C}},
		{"include expired", invite.Filter{IncludeExpired: true}, []string{A, B, C, D}},
		{"accepted", invite.Filter{States: []invite.State{invite.StateAccepted}}, []string{B}},
		{"expired by state", invite.Filter{States: []invite.State{invite.StateExpired}}, []string{D}},
		{"pending or revoked", invite.Filter{States: []invite.State{invite.StatePending, invite.StateRevoked}}, []string{A, C}},
		{"email any case", invite.Filter{Email: "ada@EXAMPLE.com"}, []string{A}},
		{"email expired", invite.Filter{Email: "dan@example.com"}, nil},
		{"phone any format", invite.Filter{Phone: "0049 (30) 12-34-56"}, []string{B}},
		{"user", invite.Filter{UserID: "u-3"}, []string{C}},
		{"inviter", invite.Filter{InviterID: "i2", IncludeExpired: true}, []string{B, D}},
		{"created from", invite.Filter{CreatedFrom: c.Invitation.CreatedAt, IncludeExpired: true}, []string{C, D}},
		{"created to is exclusive", invite.Filter{CreatedTo: c.Invitation.CreatedAt}, []string{A, B}},
		{"window", invite.Filter{CreatedFrom: t0, CreatedTo: t0.Add(90 * time.Second)}, []string{A}},
		{"nothing", invite.Filter{Email: "zed@example.com"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, ids(c.filter))
		})
	}
}

// ---------------------------------------------------------------- update

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

// Resend renews the validity the invitation was last given: an Upsert or
// an Update of ExpiresAt restarts it, so a later Resend does not add the
// time that had passed before them.
func TestResendRenewsTheValidityLastGiven(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com")) // the default, 7 days
	id := res.Invitation.ID

	e.clock.Advance(6 * 24 * time.Hour)
	in := input("ada@example.com")
	in.ExpiresIn = 48 * time.Hour
	up, err := e.m.Upsert(e.ctx(), in)
	require.NoError(t, err)
	require.False(t, up.Created)
	require.Equal(t, managerNow(e.clock), up.Invitation.IssuedAt)
	e.clock.Advance(time.Hour)
	r, err := e.m.Resend(e.ctx(), "t1", id, invite.ResendOptions{Delivery: invite.DeliveryReturn})
	require.NoError(t, err)
	require.Equal(t, managerNow(e.clock).Add(48*time.Hour), r.Invitation.ExpiresAt, "48 h again, not 7 days and 48 h")

	e.clock.Advance(time.Hour)
	exp := managerNow(e.clock).Add(10 * time.Hour)
	inv, err := e.m.Update(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: id, ExpiresAt: &exp})
	require.NoError(t, err)
	require.Equal(t, managerNow(e.clock), inv.IssuedAt)
	e.clock.Advance(time.Hour)
	r, err = e.m.Resend(e.ctx(), "t1", id, invite.ResendOptions{Delivery: invite.DeliveryReturn})
	require.NoError(t, err)
	require.Equal(t, managerNow(e.clock).Add(10*time.Hour), r.Invitation.ExpiresAt, "the 10 h the update gave")

	// Other updates leave the validity alone.
	e.clock.Advance(time.Hour)
	name := "Augusta"
	_, err = e.m.Update(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: id, GivenName: &name})
	require.NoError(t, err)
	r, err = e.m.Resend(e.ctx(), "t1", id, invite.ResendOptions{Delivery: invite.DeliveryReturn})
	require.NoError(t, err)
	require.Equal(t, managerNow(e.clock).Add(10*time.Hour), r.Invitation.ExpiresAt)
}

func TestResendMintsNewSecretAndRestartsExpiry(t *testing.T) {
	e := newEnv(t)
	in := input("ada@example.com")
	in.ExpiresIn = 48 * time.Hour
	in.WithCode = true
	res := e.create(in)
	id := res.Invitation.ID
	e.clock.Advance(30 * time.Hour)

	r2, err := e.m.Resend(e.ctx(), "t1", id, invite.ResendOptions{Delivery: invite.DeliveryReturn})
	require.NoError(t, err)
	now := managerNow(e.clock)
	require.NotEqual(t, res.Token.Reveal(), r2.Token.Reveal())
	require.NotEqual(t, res.Code.Reveal(), r2.Code.Reveal())
	require.Equal(t, now, r2.Invitation.IssuedAt)
	require.Equal(t, now.Add(48*time.Hour), r2.Invitation.ExpiresAt, "the previous validity again")
	require.Equal(t, invite.StatePending, r2.Invitation.State)
	require.Zero(t, r2.Invitation.SendCount, "DeliveryReturn sends nothing")
	require.EqualValues(t, 2, r2.Invitation.Version)
	require.Contains(t, r2.Link.Reveal(), r2.Token.Reveal())

	_, err = e.m.Lookup(e.ctx(), res.Token.Reveal())
	require.ErrorIs(t, err, invite.ErrInvalidToken, "the old token stops working")
	_, err = e.m.Lookup(e.ctx(), r2.Token.Reveal())
	require.NoError(t, err)
	ref := invite.CodeRef{TenantID: "t1", InvitationID: id}
	_, err = e.m.VerifyCode(e.ctx(), ref, res.Code.Reveal())
	require.ErrorIs(t, err, invite.ErrInvalidCode, "the old code stops working")
	_, err = e.m.VerifyCode(e.ctx(), ref, r2.Code.Reveal())
	require.NoError(t, err)

	// An explicit validity, then delivery: SendCount and SentAt follow.
	e.clock.Advance(time.Hour)
	r3, err := e.m.Resend(e.ctx(), "t1", id, invite.ResendOptions{ExpiresIn: 2 * time.Hour})
	require.NoError(t, err)
	require.Equal(t, managerNow(e.clock).Add(2*time.Hour), r3.Invitation.ExpiresAt)
	require.Equal(t, invite.StateSent, r3.Invitation.State)
	require.Equal(t, 1, r3.Invitation.SendCount)
	require.Equal(t, managerNow(e.clock), r3.Invitation.SentAt)
	e.clock.Advance(time.Minute)
	r4, err := e.m.Resend(e.ctx(), "t1", id, invite.ResendOptions{})
	require.NoError(t, err)
	require.Equal(t, 2, r4.Invitation.SendCount)
	require.Equal(t, managerNow(e.clock), r4.Invitation.SentAt)
	require.Equal(t, managerNow(e.clock).Add(2*time.Hour), r4.Invitation.ExpiresAt)
	// Each delivery of a new secret is a new message: a notifier that
	// deduplicates on Message.ID must not drop it, even when the clock has
	// not moved between two resends.
	r5, err := e.m.Resend(e.ctx(), "t1", id, invite.ResendOptions{})
	require.NoError(t, err)
	msgs := e.notes.Messages()
	require.Len(t, msgs, 3)
	require.True(t, msgs[0].Resend && msgs[1].Resend && msgs[2].Resend)
	require.NotEqual(t, msgs[0].ID, msgs[1].ID)
	require.NotEqual(t, msgs[1].ID, msgs[2].ID, "same message id for two different secrets")
	require.Contains(t, msgs[2].Vars.InviteLink.Reveal(), r5.Token.Reveal())

	_, err = e.m.Resend(e.ctx(), "t1", id, invite.ResendOptions{ExpiresIn: time.Minute})
	requireValidation(t, err, "ExpiresIn")
	_, err = e.m.Resend(e.ctx(), "t1", id, invite.ResendOptions{Delivery: 9})
	requireValidation(t, err, "Delivery")
	_, err = e.m.Resend(e.ctx(), "t2", id, invite.ResendOptions{})
	require.ErrorIs(t, err, invite.ErrNotFound)
	require.Equal(t, 3, e.get("t1", id).SendCount)
}

func TestResendRenewsExpired(t *testing.T) {
	for _, swept := range []bool{false, true} {
		t.Run(fmt.Sprintf("swept=%v", swept), func(t *testing.T) {
			e := newEnv(t)
			in := input("ada@example.com")
			in.ExpiresIn = time.Hour
			res := e.create(in)
			e.clock.Advance(3 * time.Hour)
			if swept {
				n, err := e.m.ExpireDue(e.ctx(), 0)
				require.NoError(t, err)
				require.Equal(t, 1, n)
			}
			_, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u"})
			require.ErrorIs(t, err, invite.ErrExpired)

			r2, err := e.m.Resend(e.ctx(), "t1", res.Invitation.ID, invite.ResendOptions{})
			require.NoError(t, err)
			require.Equal(t, invite.StateSent, r2.Invitation.State)
			require.True(t, r2.Invitation.ClosedAt.IsZero())
			require.Equal(t, managerNow(e.clock).Add(time.Hour), r2.Invitation.ExpiresAt)
			_, err = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u"})
			require.ErrorIs(t, err, invite.ErrInvalidToken)
			acc, err := e.m.Accept(e.ctx(), r2.Token.Reveal(), invite.AcceptInput{Subject: "u"})
			require.NoError(t, err)
			require.Equal(t, invite.StateAccepted, acc.Invitation.State)
		})
	}
}

func TestResendRefusedForTerminalStates(t *testing.T) {
	cases := map[invite.State]func(e *env, res *invite.Result) error{
		invite.StateAccepted: func(e *env, res *invite.Result) error {
			_, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u"})
			return err
		},
		invite.StateRejected: func(e *env, res *invite.Result) error {
			_, err := e.m.Reject(e.ctx(), res.Token.Reveal(), "")
			return err
		},
		invite.StateRevoked: func(e *env, res *invite.Result) error {
			_, err := e.m.Revoke(e.ctx(), "t1", res.Invitation.ID, "")
			return err
		},
	}
	for state, closeIt := range cases {
		t.Run(string(state), func(t *testing.T) {
			e := newEnv(t)
			res := e.create(input("ada@example.com"))
			require.NoError(t, closeIt(e, res))
			before := e.record("t1", res.Invitation.ID)
			n := len(e.events.Events())
			r, err := e.m.Resend(e.ctx(), "t1", res.Invitation.ID, invite.ResendOptions{})
			requireTransition(t, err, state)
			require.Nil(t, r)
			require.Equal(t, before, e.record("t1", res.Invitation.ID))
			require.Len(t, e.events.Events(), n)
			require.Empty(t, e.notes.Messages())
		})
	}
}

func TestKeepPreviousTokens(t *testing.T) {
	e := newEnv(t, func(c *invite.Config) { c.KeepPreviousTokens = true })
	res := e.create(input("ada@example.com")) // expires at t0+7d
	t0 := managerNow(e.clock)
	e.clock.Advance(24 * time.Hour)
	r2, err := e.m.Resend(e.ctx(), "t1", res.Invitation.ID, invite.ResendOptions{Delivery: invite.DeliveryReturn})
	require.NoError(t, err)
	e.clock.Advance(24 * time.Hour)
	r3, err := e.m.Resend(e.ctx(), "t1", res.Invitation.ID, invite.ResendOptions{Delivery: invite.DeliveryReturn})
	require.NoError(t, err)
	require.Len(t, e.record("t1", res.Invitation.ID).Credentials.PreviousTokens, 2)

	for _, tok := range []invite.Secret{res.Token, r2.Token, r3.Token} {
		inv, err := e.m.Lookup(e.ctx(), tok.Reveal())
		require.NoError(t, err)
		require.Equal(t, res.Invitation.ID, inv.ID)
	}

	// The first token lapses at its own expiry; the later ones still work.
	e.clock.Advance(t0.Add(week).Sub(managerNow(e.clock)))
	_, err = e.m.Lookup(e.ctx(), res.Token.Reveal())
	require.ErrorIs(t, err, invite.ErrExpired)
	_, err = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u"})
	require.ErrorIs(t, err, invite.ErrExpired)
	require.Equal(t, invite.StatePending, e.get("t1", res.Invitation.ID).State, "an old token's expiry does not expire the invitation")
	_, err = e.m.Lookup(e.ctx(), r2.Token.Reveal())
	require.NoError(t, err)

	acc, err := e.m.Accept(e.ctx(), r2.Token.Reveal(), invite.AcceptInput{Subject: "u"})
	require.NoError(t, err)
	require.Equal(t, invite.StateAccepted, acc.Invitation.State)
	// The latest token now sees the acceptance, as a replay for the same subject.
	acc, err = e.m.Accept(e.ctx(), r3.Token.Reveal(), invite.AcceptInput{Subject: "u"})
	require.NoError(t, err)
	require.True(t, acc.Replayed)
}

// ---------------------------------------------------------------- revoke, reject, lookup

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
	_, err = e.m.Revoke(ctx, "t1", res.Invitation.ID, "")
	requireTransition(t, err, invite.StateRevoked)
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

func TestReject(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	inv, err := e.m.Reject(e.ctx(), res.Token.Reveal(), "not interested,\nthanks")
	require.NoError(t, err)
	require.Equal(t, invite.StateRejected, inv.State)
	require.Equal(t, "not interested,\nthanks", inv.Reason)
	require.Equal(t, managerNow(e.clock), inv.ClosedAt)
	ev := e.events.Events()[1]
	require.Equal(t, invite.EventRejected, ev.Type)
	require.Equal(t, invite.ActorInvitee, ev.Actor.Kind)

	_, err = e.m.Reject(e.ctx(), res.Token.Reveal(), "")
	requireTransition(t, err, invite.StateRejected)
	_, err = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u"})
	requireTransition(t, err, invite.StateRejected)

	in := input("bob@example.com")
	in.ExpiresIn = time.Hour
	exp := e.create(in)
	e.clock.Advance(time.Hour)
	_, err = e.m.Reject(e.ctx(), exp.Token.Reveal(), "")
	require.ErrorIs(t, err, invite.ErrExpired)
	require.Equal(t, invite.StateExpired, e.get("t1", exp.Invitation.ID).State)
}

func TestLookupNeverMutates(t *testing.T) {
	e := newEnv(t)
	in := input("ada@example.com")
	in.Data = map[string]string{"company": "Engines Ltd"}
	in.WithCode = true
	res := e.create(in)
	before := e.record("t1", res.Invitation.ID)
	nEvents := len(e.events.Events())
	for range 5 {
		inv, err := e.m.Lookup(e.ctx(), res.Token.Reveal())
		require.NoError(t, err)
		require.Equal(t, res.Invitation.ID, inv.ID)
		require.Equal(t, "Engines Ltd", inv.Data["company"])
		require.Equal(t, "Grace Hopper", inv.Inviter.Name)
		inv.Data["company"] = "changed" // a copy
	}
	require.Equal(t, before, e.record("t1", res.Invitation.ID))
	require.Len(t, e.events.Events(), nEvents)

	e.clock.Advance(week)
	_, err := e.m.Lookup(e.ctx(), res.Token.Reveal())
	require.ErrorIs(t, err, invite.ErrExpired)
	require.Equal(t, before, e.record("t1", res.Invitation.ID))

	acc := e.create(input("bob@example.com"))
	_, err = e.m.Accept(e.ctx(), acc.Token.Reveal(), invite.AcceptInput{Subject: "bob"})
	require.NoError(t, err)
	_, err = e.m.Lookup(e.ctx(), acc.Token.Reveal())
	require.ErrorIs(t, err, invite.ErrAlreadyAccepted)
}

// ---------------------------------------------------------------- accept

func TestAccept(t *testing.T) {
	e := newEnv(t)
	in := input("ada@example.com")
	in.Groups = []string{"engineers"}
	in.Metadata = []byte(`{"seat":"pro"}`)
	res := e.create(in)
	e.clock.Advance(time.Hour)

	acc, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "user-1"})
	require.NoError(t, err)
	require.False(t, acc.Replayed)
	inv := acc.Invitation
	require.Equal(t, invite.StateAccepted, inv.State)
	require.Equal(t, "user-1", inv.AcceptedBy)
	require.Equal(t, managerNow(e.clock), inv.ClosedAt)
	require.Equal(t, []string{"member"}, inv.Roles)
	require.Equal(t, []string{"engineers"}, inv.Groups)
	require.JSONEq(t, `{"seat":"pro"}`, string(inv.Metadata))
	require.EqualValues(t, 2, inv.Version)
	ev := e.events.Events()[1]
	require.Equal(t, invite.EventAccepted, ev.Type)
	require.Equal(t, invite.Actor{Kind: invite.ActorInvitee, ID: "user-1"}, ev.Actor)

	// Same subject again: a replay, nothing written.
	acc, err = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "user-1"})
	require.NoError(t, err)
	require.True(t, acc.Replayed)
	require.Equal(t, "user-1", acc.Invitation.AcceptedBy)
	require.EqualValues(t, 2, e.get("t1", inv.ID).Version)
	require.Len(t, e.events.Events(), 2)

	// Another subject: ErrAlreadyAccepted.
	_, err = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "user-2"})
	require.ErrorIs(t, err, invite.ErrAlreadyAccepted)
	requireTransition(t, err, invite.StateAccepted)
	require.Equal(t, "user-1", e.get("t1", inv.ID).AcceptedBy)

	_, err = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{})
	requireValidation(t, err, "Subject")
	_, err = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u\r\n"})
	requireValidation(t, err, "Subject")
	_, err = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u", Email: "bad"})
	requireValidation(t, err, "Email")
}

func TestAcceptExpiryBoundary(t *testing.T) {
	e := newEnv(t)
	in := input("ada@example.com")
	in.ExpiresIn = time.Hour
	a := e.create(in)
	b := e.create(input("bob@example.com"))
	_, err := e.m.Update(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: b.Invitation.ID, ExpiresAt: ptr(a.Invitation.ExpiresAt)})
	require.NoError(t, err)

	e.clock.Advance(time.Hour - time.Microsecond)
	_, err = e.m.Accept(e.ctx(), a.Token.Reveal(), invite.AcceptInput{Subject: "a"})
	require.NoError(t, err, "one microsecond before expiry")
	e.clock.Advance(time.Microsecond)
	_, err = e.m.Accept(e.ctx(), b.Token.Reveal(), invite.AcceptInput{Subject: "b"})
	require.ErrorIs(t, err, invite.ErrExpired, "at ExpiresAt")
	requireTransition(t, err, invite.StateExpired)
	require.NotErrorIs(t, err, invite.ErrAlreadyAccepted)
	require.Equal(t, invite.StatePending, e.record("t1", b.Invitation.ID).Invitation.State)
}

func ptr[T any](v T) *T { return &v }

func TestAcceptEmailMatch(t *testing.T) {
	type setup struct {
		name   string
		global bool
		per    bool
	}
	for _, s := range []setup{{"config", true, false}, {"invitation", false, true}} {
		t.Run(s.name, func(t *testing.T) {
			e := newEnv(t, func(c *invite.Config) { c.RequireEmailMatch = s.global })
			in := input("Ada@Example.com")
			in.RequireEmailMatch = s.per
			res := e.create(in)
			require.True(t, res.Invitation.RequireEmailMatch)
			for _, email := range []string{"", "bob@example.com", "ada@example.org"} {
				_, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u", Email: email})
				require.ErrorIs(t, err, invite.ErrEmailMismatch, email)
			}
			require.Equal(t, invite.StatePending, e.get("t1", res.Invitation.ID).State, "a mismatch does not consume")
			require.EqualValues(t, 1, e.get("t1", res.Invitation.ID).Version)
			acc, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u", Email: "ada@EXAMPLE.com"})
			require.NoError(t, err)
			require.Equal(t, invite.StateAccepted, acc.Invitation.State)
		})
	}

	// Without the binding any email is fine, and so is a phone invitee under
	// the global setting.
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	_, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u", Email: "other@example.com"})
	require.NoError(t, err)
	e = newEnv(t, func(c *invite.Config) { c.RequireEmailMatch = true })
	in := input("")
	in.Invitee = invite.Invitee{Phone: "+15555550100"}
	res = e.create(in)
	require.False(t, res.Invitation.RequireEmailMatch)
	_, err = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u"})
	require.NoError(t, err)
}

func TestAcceptSubjectMismatch(t *testing.T) {
	e := newEnv(t)
	in := input("")
	in.Invitee = invite.Invitee{UserID: "user-9"}
	res := e.create(in)
	_, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "user-8"})
	require.ErrorIs(t, err, invite.ErrSubjectMismatch)
	require.Equal(t, invite.StatePending, e.get("t1", res.Invitation.ID).State)
	acc, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "user-9"})
	require.NoError(t, err)
	require.Equal(t, "user-9", acc.Invitation.AcceptedBy)
}

func TestConcurrentAcceptHasOneWinner(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	const n = 20
	accs := make([]*invite.Acceptance, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			accs[i], errs[i] = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: fmt.Sprintf("user-%d", i)})
		})
	}
	wg.Wait()
	var winner string
	for i := range n {
		if errs[i] == nil {
			require.Empty(t, winner, "two winners")
			winner = accs[i].Invitation.AcceptedBy
			require.Equal(t, fmt.Sprintf("user-%d", i), winner)
			continue
		}
		require.ErrorIs(t, errs[i], invite.ErrAlreadyAccepted)
	}
	require.NotEmpty(t, winner)
	require.Equal(t, winner, e.get("t1", res.Invitation.ID).AcceptedBy)
	accepted := 0
	for _, ev := range e.events.Events() {
		if ev.Type == invite.EventAccepted {
			accepted++
		}
	}
	require.Equal(t, 1, accepted)

	// The same subject in parallel: every call succeeds, one is the real one.
	res = e.create(input("bob@example.com"))
	for i := range n {
		wg.Go(func() {
			accs[i], errs[i] = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "bob"})
		})
	}
	wg.Wait()
	fresh := 0
	for i := range n {
		require.NoError(t, errs[i])
		if !accs[i].Replayed {
			fresh++
		}
	}
	require.Equal(t, 1, fresh)
}

// ---------------------------------------------------------------- short codes

func codeInput(email, phone string) invite.CreateInput {
	in := input(email)
	in.Invitee.Phone = phone
	in.WithCode = true
	return in
}

func TestShortCodes(t *testing.T) {
	e := newEnv(t)
	res := e.create(codeInput("Ada@Example.com", "+44 20 7946 0958"))
	code := res.Code.Reveal()
	require.Len(t, code, 8)
	id := res.Invitation.ID
	rec := e.record("t1", id)
	require.True(t, strings.HasPrefix(string(rec.Credentials.CodeHash), "$argon2id$v=19$m=64,t=1,p=1$"))
	ok, err := invite.CheckCodeHash(rec.Credentials.CodeHash, code)
	require.NoError(t, err)
	require.True(t, ok)

	typed := strings.ToLower(code[:4]) + "-" + code[4:] + " "
	refs := map[string]invite.CodeRef{
		"id":    {TenantID: "t1", InvitationID: id},
		"email": {TenantID: "t1", Email: "ada@example.COM"},
		"phone": {TenantID: "t1", Phone: "0044 20 7946 0958"},
	}
	for name, ref := range refs {
		for _, c := range []string{code, typed} {
			inv, err := e.m.VerifyCode(e.ctx(), ref, c)
			require.NoError(t, err, name)
			require.Equal(t, id, inv.ID)
			require.Equal(t, invite.StatePending, inv.State)
		}
	}
	require.Equal(t, []invite.EventType{invite.EventCreated}, e.events.Types(), "a success emits no event")

	// Refs that match nothing are ErrInvalidCode (no probing for invitees).
	for name, ref := range map[string]invite.CodeRef{
		"other tenant": {TenantID: "t2", InvitationID: id},
		"unknown id":   {TenantID: "t1", InvitationID: "nope"},
		"other email":  {TenantID: "t1", Email: "bob@example.com"},
		"other phone":  {TenantID: "t1", Phone: "+15555550100"},
	} {
		_, err := e.m.VerifyCode(e.ctx(), ref, code)
		require.ErrorIs(t, err, invite.ErrInvalidCode, name)
	}

	// A code is bound to its invitation.
	other := e.create(codeInput("bob@example.com", ""))
	_, err = e.m.VerifyCode(e.ctx(), invite.CodeRef{TenantID: "t1", InvitationID: other.Invitation.ID}, code)
	require.ErrorIs(t, err, invite.ErrInvalidCode)
	// An invitation without a code has none to match.
	plain := e.create(input("carol@example.com"))
	_, err = e.m.VerifyCode(e.ctx(), invite.CodeRef{TenantID: "t1", InvitationID: plain.Invitation.ID}, code)
	require.ErrorIs(t, err, invite.ErrInvalidCode)

	acc, err := e.m.AcceptCode(e.ctx(), refs["email"], typed, invite.AcceptInput{Subject: "ada"})
	require.NoError(t, err)
	require.Equal(t, invite.StateAccepted, acc.Invitation.State)
	require.Equal(t, "ada", acc.Invitation.AcceptedBy)
	acc, err = e.m.AcceptCode(e.ctx(), refs["id"], code, invite.AcceptInput{Subject: "ada"})
	require.NoError(t, err)
	require.True(t, acc.Replayed)
	_, err = e.m.AcceptCode(e.ctx(), refs["id"], code, invite.AcceptInput{Subject: "eve"})
	require.ErrorIs(t, err, invite.ErrAlreadyAccepted)
}

func TestCodeRefValidation(t *testing.T) {
	e := newEnv(t)
	for name, c := range map[string]struct {
		ref   invite.CodeRef
		field string
	}{
		"empty":      {invite.CodeRef{}, "TenantID"},
		"no target":  {invite.CodeRef{TenantID: "t1"}, "InvitationID"},
		"bad email":  {invite.CodeRef{TenantID: "t1", Email: "nope"}, "Invitee.Email"},
		"bad phone":  {invite.CodeRef{TenantID: "t1", Phone: "123"}, "Invitee.Phone"},
		"control id": {invite.CodeRef{TenantID: "t1", InvitationID: "a\nb"}, "InvitationID"},
	} {
		_, err := e.m.VerifyCode(e.ctx(), c.ref, "ABCDEFGH")
		requireValidation(t, err, c.field)
		_, err = e.m.AcceptCode(e.ctx(), c.ref, "ABCDEFGH", invite.AcceptInput{Subject: "u"})
		requireValidation(t, err, c.field)
		_ = name
	}
}

func TestCodeLocksAfterMaxAttempts(t *testing.T) {
	for _, limit := range []int{0, 2} { // 0: the default, 5
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			e := newEnv(t, func(c *invite.Config) { c.CodeMaxAttempts = limit })
			want := limit
			if want == 0 {
				want = 5
			}
			res := e.create(codeInput("ada@example.com", ""))
			code := res.Code.Reveal()
			ref := invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}
			wrong := []string{"", "garbage!", "ABCD", strings.Repeat("Z", 9)}
			for i := range want {
				guess := wrongCode(code, 0)
				if i < len(wrong) {
					guess = wrong[i] // malformed guesses count too
				}
				var err error
				if i%2 == 0 {
					_, err = e.m.VerifyCode(e.ctx(), ref, guess)
				} else {
					_, err = e.m.AcceptCode(e.ctx(), ref, guess, invite.AcceptInput{Subject: "u"})
				}
				require.ErrorIs(t, err, invite.ErrInvalidCode, "attempt %d", i+1)
				require.NotErrorIs(t, err, invite.ErrCodeLocked)
			}
			_, err := e.m.VerifyCode(e.ctx(), ref, code)
			require.ErrorIs(t, err, invite.ErrCodeLocked)
			_, err = e.m.AcceptCode(e.ctx(), ref, code, invite.AcceptInput{Subject: "u"})
			require.ErrorIs(t, err, invite.ErrCodeLocked)
			_, err = e.m.VerifyCode(e.ctx(), invite.CodeRef{TenantID: "t1", Email: "ada@example.com"}, wrongCode(code, 0))
			require.ErrorIs(t, err, invite.ErrCodeLocked)
			require.Equal(t, want, e.record("t1", res.Invitation.ID).Credentials.CodeFailures)
			require.Equal(t, invite.StatePending, e.get("t1", res.Invitation.ID).State)

			var failed []invite.Event
			for _, ev := range e.events.Events() {
				if ev.Type == invite.EventCodeFailed {
					failed = append(failed, ev)
				}
			}
			require.Len(t, failed, want)
			for i, ev := range failed {
				require.Equal(t, invite.ActorInvitee, ev.Actor.Kind)
				require.Equal(t, ev.Old.Version+1, ev.New.Version)
				require.EqualValues(t, i+1, ev.Old.Version)
			}

			// The link token still works; a resend mints a fresh, unlocked code.
			_, err = e.m.Lookup(e.ctx(), res.Token.Reveal())
			require.NoError(t, err)
			r2, err := e.m.Resend(e.ctx(), "t1", res.Invitation.ID, invite.ResendOptions{Delivery: invite.DeliveryReturn})
			require.NoError(t, err)
			require.Zero(t, e.record("t1", res.Invitation.ID).Credentials.CodeFailures)
			acc, err := e.m.AcceptCode(e.ctx(), ref, r2.Code.Reveal(), invite.AcceptInput{Subject: "u"})
			require.NoError(t, err)
			require.Equal(t, invite.StateAccepted, acc.Invitation.State)
		})
	}
}

// wrongCode returns a well-formed code that differs from code: the n-th
// of such variants (its last two characters shifted), so that guessers
// can each send another one.
func wrongCode(code string, n int) string {
	a, b := invite.CodeAlphabet, []byte(code)
	shift := func(i, by int) { b[i] = a[(strings.IndexByte(a, b[i])+by)%len(a)] }
	shift(len(b)-1, n%(len(a)-1)+1) // never a whole turn: the last character differs
	shift(len(b)-2, n/(len(a)-1))
	return string(b)
}

func TestParallelCodeGuessesNeverExceedTheLimit(t *testing.T) {
	for _, viaAccept := range []bool{false, true} {
		t.Run(fmt.Sprintf("accept=%v", viaAccept), func(t *testing.T) {
			e := newEnv(t)
			res := e.create(codeInput("ada@example.com", ""))
			code := res.Code.Reveal()
			ref := invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}
			const guessers = 20
			errs := make([]error, guessers)
			inParallel(guessers, func(i int) {
				guess := wrongCode(code, 0)
				if viaAccept {
					_, errs[i] = e.m.AcceptCode(e.ctx(), ref, guess, invite.AcceptInput{Subject: fmt.Sprint(i)})
				} else {
					_, errs[i] = e.m.VerifyCode(e.ctx(), ref, guess)
				}
			})
			invalid := 0
			for _, err := range errs {
				require.Error(t, err)
				if errors.Is(err, invite.ErrInvalidCode) {
					invalid++
				} else {
					require.True(t, errors.Is(err, invite.ErrCodeLocked) || errors.Is(err, invite.ErrConflict), "%v", err)
				}
			}
			require.LessOrEqual(t, invalid, 5, "more failures answered than CodeMaxAttempts")
			require.Positive(t, invalid)
			require.Equal(t, invalid, e.record("t1", res.Invitation.ID).Credentials.CodeFailures,
				"every failure answered was recorded, and only those")
			// Use up what is left of the limit, if anything, one at a time.
			for i := invalid; i < 5; i++ {
				_, err := e.m.VerifyCode(e.ctx(), ref, wrongCode(code, 0))
				require.ErrorIs(t, err, invite.ErrInvalidCode)
			}
			_, err := e.m.VerifyCode(e.ctx(), ref, code)
			require.ErrorIs(t, err, invite.ErrCodeLocked)
			_, err = e.m.AcceptCode(e.ctx(), ref, code, invite.AcceptInput{Subject: "u"})
			require.ErrorIs(t, err, invite.ErrCodeLocked)
			require.Equal(t, invite.StatePending, e.get("t1", res.Invitation.ID).State)
		})
	}
}

// ---------------------------------------------------------------- maintenance

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
		require.Equal(t, managerNow(e.clock), ev.New.ClosedAt)
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
	open := e.create(input("d@example.com"))
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

func TestLinkTemplateEscapesValues(t *testing.T) {
	e := newEnv(t, func(c *invite.Config) {
		c.LinkTemplate = "https://app.example/invite?code={{.Code}}&org={{.OrgID}}&tenant={{.TenantID}}&email={{.Email}}" +
			"&id={{.InvitationID}}&short={{.ShortCode}}&redirect={{.Redirect}}&locale={{.Locale}}&client={{.ClientID}}"
	})
	in := codeInput("a+b@example.com", "")
	in.TenantID = "acme & co/1?x=y#z"
	in.RedirectURI = "https://app.example/cb?x=1&y=2"
	in.Locale = "de-CH"
	in.ClientID = "web client=1"
	res := e.create(in)
	link := res.Link.Reveal()
	u, err := url.Parse(link)
	require.NoError(t, err)
	require.Equal(t, "app.example", u.Host)
	require.Equal(t, "/invite", u.Path)
	require.Empty(t, u.Fragment)
	q := u.Query()
	require.Equal(t, url.Values{
		"code": {res.Token.Reveal()}, "org": {in.TenantID}, "tenant": {in.TenantID}, "email": {"a+b@example.com"},
		"id": {res.Invitation.ID}, "short": {res.Code.Reveal()}, "redirect": {in.RedirectURI},
		"locale": {"de-CH"}, "client": {"web client=1"},
	}, q)

	// An invitation's own template wins over the configured one.
	in2 := input("c@example.com")
	in2.LinkTemplate = "https://other.example/join/{{.TenantID}}/{{.Token}}?u={{.UserID}}"
	in2.Invitee.UserID = "u/1 2"
	in2.TenantID = "a b+c"
	res2 := e.create(in2)
	require.Equal(t, "https://other.example/join/a%20b%2Bc/"+res2.Token.Reveal()+"?u=u%2F1%202", res2.Link.Reveal())
	// A value reads back as itself in a path segment as in a query.
	u, err = url.Parse(res2.Link.Reveal())
	require.NoError(t, err)
	require.Equal(t, "/join/a b+c/"+res2.Token.Reveal(), u.Path)
	require.Equal(t, "u/1 2", u.Query().Get("u"))
}

func TestLinkFromRedirectURI(t *testing.T) {
	e := newEnv(t, func(c *invite.Config) { c.LinkTokenParam = "invitation" })
	in := input("a@example.com")
	in.RedirectURI = "https://app.example/cb?x=1&token=keep"
	res := e.create(in)
	u, err := url.Parse(res.Link.Reveal())
	require.NoError(t, err)
	require.Equal(t, url.Values{"x": {"1"}, "token": {"keep"}, "invitation": {res.Token.Reveal()}}, u.Query())

	in = input("b@example.com")
	in.RedirectURI = ""
	res = e.create(in)
	require.True(t, res.Link.IsZero(), "no template and no redirect: no link")
}

// ---------------------------------------------------------------- mark sent, copies

func TestMarkSent(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	ctx := invite.WithActor(e.ctx(), invite.Actor{Kind: invite.ActorAdmin, ID: "root"})
	e.clock.Advance(time.Minute)
	inv, err := e.m.MarkSent(ctx, "t1", res.Invitation.ID)
	require.NoError(t, err)
	require.Equal(t, invite.StateSent, inv.State)
	require.Equal(t, 1, inv.SendCount)
	require.Equal(t, managerNow(e.clock), inv.SentAt)
	inv, err = e.m.MarkSent(ctx, "t1", res.Invitation.ID)
	require.NoError(t, err)
	require.Equal(t, 2, inv.SendCount)
	require.Equal(t, []invite.EventType{invite.EventCreated, invite.EventSent, invite.EventSent}, e.events.Types())
	require.Equal(t, invite.Actor{Kind: invite.ActorAdmin, ID: "root"}, e.events.Events()[1].Actor)
	require.Empty(t, e.notes.Messages())

	_, err = e.m.MarkSent(ctx, "t2", res.Invitation.ID)
	require.ErrorIs(t, err, invite.ErrNotFound)
	_, err = e.m.MarkSent(ctx, "", res.Invitation.ID)
	requireValidation(t, err, "TenantID")

	_, err = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u"})
	require.NoError(t, err)
	_, err = e.m.MarkSent(ctx, "t1", res.Invitation.ID)
	requireTransition(t, err, invite.StateAccepted)

	in := input("bob@example.com")
	in.ExpiresIn = time.Hour
	exp := e.create(in)
	e.clock.Advance(time.Hour)
	_, err = e.m.MarkSent(ctx, "t1", exp.Invitation.ID)
	requireTransition(t, err, invite.StateExpired)
	require.Zero(t, e.get("t1", exp.Invitation.ID).SendCount)
	// Swept: still refused, and the record stays closed.
	n, err := e.m.ExpireDue(e.ctx(), 0)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = e.m.MarkSent(ctx, "t1", exp.Invitation.ID)
	requireTransition(t, err, invite.StateExpired)
	require.Equal(t, invite.StateExpired, e.record("t1", exp.Invitation.ID).Invitation.State)
}

// TestAcceptCodeRetryAfterAcceptance: acceptance by code is idempotent for
// the same subject also when the code is looked up by email or phone, which
// no longer finds the (now closed) invitation among the open ones.
func TestAcceptCodeRetryAfterAcceptance(t *testing.T) {
	e := newEnv(t)
	res := e.create(codeInput("ada@example.com", "+15555550100"))
	code := res.Code.Reveal()
	for _, ref := range []invite.CodeRef{
		{TenantID: "t1", Email: "ADA@example.com"},
		{TenantID: "t1", Phone: "001 555 555 0100"},
	} {
		acc, err := e.m.AcceptCode(e.ctx(), ref, code, invite.AcceptInput{Subject: "ada"})
		require.NoError(t, err)
		require.Equal(t, res.Invitation.ID, acc.Invitation.ID)
		require.Equal(t, "ada", acc.Invitation.AcceptedBy)
		_, err = e.m.AcceptCode(e.ctx(), ref, code, invite.AcceptInput{Subject: "eve"})
		require.ErrorIs(t, err, invite.ErrAlreadyAccepted)
		_, err = e.m.AcceptCode(e.ctx(), ref, wrongCode(code, 0), invite.AcceptInput{Subject: "ada"})
		require.ErrorIs(t, err, invite.ErrInvalidCode)
	}
	accepted := 0
	for _, ev := range e.events.Events() {
		if ev.Type == invite.EventAccepted {
			accepted++
		}
	}
	require.Equal(t, 1, accepted)
	// Another tenant still finds nothing.
	_, err := e.m.AcceptCode(e.ctx(), invite.CodeRef{TenantID: "t2", Email: "ada@example.com"}, code, invite.AcceptInput{Subject: "ada"})
	require.ErrorIs(t, err, invite.ErrInvalidCode)
}

// TestReturnedValuesAreCopies changes everything the Manager hands back and
// checks that the stored invitation did not change with it.
func TestReturnedValuesAreCopies(t *testing.T) {
	e := newEnv(t)
	in := codeInput("ada@example.com", "")
	in.Data = map[string]string{"k": "v"}
	in.FormData = map[string]map[string]string{"f": {"x": "y"}}
	in.Metadata = json.RawMessage(`{"a":1}`)
	in.Groups = []string{"g"}
	res := e.create(in)
	id := res.Invitation.ID
	want := e.record("t1", id).Invitation

	scribble := func(inv *invite.Invitation) {
		t.Helper()
		require.NotNil(t, inv)
		inv.Roles[0] = "owner"
		inv.Groups[0] = "root"
		inv.Data["k"] = "changed"
		inv.Data["new"] = "added"
		inv.FormData["f"]["x"] = "changed"
		inv.Metadata[2] = 'b'
		inv.GivenName = "Mallory"
	}
	check := func(step string) {
		t.Helper()
		got := e.record("t1", id).Invitation
		require.Equal(t, want.Roles, got.Roles, step)
		require.Equal(t, want.Groups, got.Groups, step)
		require.Equal(t, want.Data, got.Data, step)
		require.Equal(t, want.FormData, got.FormData, step)
		require.Equal(t, want.Metadata, got.Metadata, step)
		require.Equal(t, want.GivenName, got.GivenName, step)
	}

	scribble(res.Invitation)
	check("create")
	scribble(e.get("t1", id))
	check("get")
	page, err := e.m.List(e.ctx(), "t1", invite.ListOptions{})
	require.NoError(t, err)
	scribble(page.Invitations[0])
	check("list")
	inv, err := e.m.Lookup(e.ctx(), res.Token.Reveal())
	require.NoError(t, err)
	scribble(inv)
	check("lookup")
	inv, err = e.m.VerifyCode(e.ctx(), invite.CodeRef{TenantID: "t1", InvitationID: id}, res.Code.Reveal())
	require.NoError(t, err)
	scribble(inv)
	check("verify code")
	name := "Augusta"
	inv, err = e.m.Update(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: id, FamilyName: &name})
	require.NoError(t, err)
	want.FamilyName = name
	scribble(inv)
	check("update")
	r2, err := e.m.Resend(e.ctx(), "t1", id, invite.ResendOptions{})
	require.NoError(t, err)
	scribble(r2.Invitation)
	check("resend")
	up, err := e.m.Upsert(e.ctx(), in)
	require.NoError(t, err)
	want = e.record("t1", id).Invitation
	scribble(up.Invitation)
	check("upsert")
	acc, err := e.m.Accept(e.ctx(), r2.Token.Reveal(), invite.AcceptInput{Subject: "u"})
	require.NoError(t, err)
	scribble(acc.Invitation)
	check("accept")

	// The events the sink got were not changed by any of it either.
	for _, ev := range e.events.Events() {
		for _, snap := range []*invite.Invitation{ev.Old, ev.New} {
			if snap != nil {
				require.NotEqual(t, "Mallory", snap.GivenName)
				require.NotEqual(t, "changed", snap.Data["k"])
			}
		}
	}
}

func TestConcurrentUpsertCreatesOnce(t *testing.T) {
	e := newEnv(t)
	const n = 12
	results := make([]*invite.UpsertResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			in := input("ada@example.com")
			in.Data = map[string]string{"i": fmt.Sprint(i)}
			results[i], errs[i] = e.m.Upsert(e.ctx(), in)
		})
	}
	wg.Wait()
	created := 0
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, results[0].Invitation.ID, results[i].Invitation.ID)
		if results[i].Created {
			created++
			require.False(t, results[i].Token.IsZero())
		} else {
			require.True(t, results[i].Token.IsZero())
		}
	}
	require.Equal(t, 1, created)
	require.Equal(t, 1, e.count("t1"))
	require.EqualValues(t, n, e.get("t1", results[0].Invitation.ID).Version, "one create and n-1 updates")
}

func TestConcurrentSupersedeLeavesOneOpen(t *testing.T) {
	e := newEnv(t)
	const n = 10
	results := make([]*invite.Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			in := input("ada@example.com")
			in.Supersede = true
			results[i], errs[i] = e.m.Create(e.ctx(), in)
		})
	}
	wg.Wait()
	ok := 0
	for i := range n {
		if errs[i] == nil {
			ok++
			continue
		}
		// Losing every retry against the others is the only acceptable failure.
		require.True(t, errors.Is(errs[i], invite.ErrAlreadyExists) || errors.Is(errs[i], invite.ErrConflict), "%v", errs[i])
	}
	require.Positive(t, ok)
	page, err := e.m.List(e.ctx(), "t1", invite.ListOptions{Filter: invite.Filter{States: []invite.State{invite.StatePending}}})
	require.NoError(t, err)
	require.Len(t, page.Invitations, 1, "exactly one open invitation")
	revoked, err := e.m.List(e.ctx(), "t1", invite.ListOptions{Filter: invite.Filter{States: []invite.State{invite.StateRevoked}}})
	require.NoError(t, err)
	require.Len(t, revoked.Invitations, ok-1)
	// Only the open one's token works.
	for i := range n {
		if errs[i] != nil {
			continue
		}
		_, err := e.m.Lookup(e.ctx(), results[i].Token.Reveal())
		if results[i].Invitation.ID == page.Invitations[0].ID {
			require.NoError(t, err)
		} else {
			requireTransition(t, err, invite.StateRevoked)
		}
	}
}
