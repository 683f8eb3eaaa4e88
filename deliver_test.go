package invite_test

import (
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

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
		"name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace", "invite_link": res.Link.Reveal(),
		"invited_by": "Grace Hopper", "account_name": "Analytical Engines", "expires_at": now.Add(week).Format(time.RFC3339),
		"code": res.Code.Reveal(),
	}, vars)
	require.Equal(t, []string{"member"}, msg.Vars.Roles)

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

func TestResendStoresMicrosecondExpiry(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	out, err := e.m.Resend(e.ctx(), "t1", res.Invitation.ID, invite.ResendOptions{
		Delivery: invite.DeliveryReturn, ExpiresIn: 2*time.Hour + 789*time.Nanosecond})
	require.NoError(t, err)
	require.Zero(t, out.Invitation.ExpiresAt.Nanosecond()%1000)
	require.Equal(t, out.Invitation.ExpiresAt, e.get("t1", res.Invitation.ID).ExpiresAt)
}

// TestPreviousTokensFollowTheCurrentSetting: tokens a resend kept valid
// stop working once the host turns KeepPreviousTokens off, and
// ForgetPreviousTokens drops them for one invitation.
func TestPreviousTokensFollowTheCurrentSetting(t *testing.T) {
	e := newEnv(t, func(c *invite.Config) { c.KeepPreviousTokens = true })
	first := e.create(input("ada@example.com"))
	second, err := e.m.Resend(e.ctx(), "t1", first.Invitation.ID, invite.ResendOptions{Delivery: invite.DeliveryReturn})
	require.NoError(t, err)
	_, err = e.m.Lookup(e.ctx(), first.Token.Reveal())
	require.NoError(t, err, "kept valid while the option is on")

	off, err := invite.New(e.store, invite.Config{Now: e.clock.Now})
	require.NoError(t, err)
	_, err = off.Lookup(e.ctx(), first.Token.Reveal())
	require.ErrorIs(t, err, invite.ErrInvalidToken, "the option is off now")
	_, err = off.Lookup(e.ctx(), second.Token.Reveal())
	require.NoError(t, err)

	inv, err := e.m.ForgetPreviousTokens(e.ctx(), "t1", first.Invitation.ID)
	require.NoError(t, err)
	require.Empty(t, e.record("t1", inv.ID).Credentials.PreviousTokens)
	_, err = e.m.Lookup(e.ctx(), first.Token.Reveal())
	require.ErrorIs(t, err, invite.ErrInvalidToken, "forgotten")
	_, err = e.m.Lookup(e.ctx(), second.Token.Reveal())
	require.NoError(t, err)
	version := e.get("t1", inv.ID).Version
	_, err = e.m.ForgetPreviousTokens(e.ctx(), "t1", first.Invitation.ID)
	require.NoError(t, err)
	require.Equal(t, version, e.get("t1", inv.ID).Version, "nothing left to forget: no write")
	_, err = e.m.ForgetPreviousTokens(e.ctx(), "t2", first.Invitation.ID)
	require.ErrorIs(t, err, invite.ErrNotFound)
}
