package invite_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// fullInput is input with every field a host can set, each holding a
// marker that must not leak where it is not meant to.
func fullInput(email string) invite.CreateInput {
	in := input(email)
	in.Invitee.Phone = "+4930123456"
	in.Inviter = invite.Inviter{ID: "INVITER-ID-7", Name: "Grace Hopper"}
	in.Groups = []string{"engineers"}
	in.Data = map[string]string{"team": "looms"}
	in.FormData = map[string]map[string]string{"kyc": {"city": "London"}}
	in.Metadata = json.RawMessage(`{"internal":"META-MARKER"}`)
	in.ClientID = "CLIENT-MARKER"
	in.IdentityProviderID = "IDP-MARKER"
	in.LinkTemplate = "https://app.example/i/{{.Token}}?tpl=LINKTPL-MARKER"
	in.Locale = "en-GB"
	in.RequireEmailMatch = true
	in.IdempotencyKey = "IDEM-MARKER"
	in.WithCode = true
	return in
}

// wantPublic is the public view of an invitation made from fullInput.
func wantPublic(inv *invite.Invitation, state invite.State, closedAt time.Time) *invite.PublicInvitation {
	return &invite.PublicInvitation{
		TenantID: "t1", AccountName: "Analytical Engines", InviterName: "Grace Hopper",
		Email: inv.Invitee.Email, Phone: "+4930123456", GivenName: "Ada", FamilyName: "Lovelace",
		Roles: []string{"member"}, Groups: []string{"engineers"},
		Data: map[string]string{"team": "looms"}, FormData: map[string]map[string]string{"kyc": {"city": "London"}},
		Locale: "en-GB", RequireEmailMatch: true, State: state, ExpiresAt: inv.ExpiresAt, ClosedAt: closedAt,
	}
}

// TestLookupOfClosedInvitationCarriesThePublicView: Lookup of an invitation
// that can no longer be accepted answers the typed error as before, and
// the error carries the view.
func TestLookupOfClosedInvitationCarriesThePublicView(t *testing.T) {
	cases := map[string]struct {
		close  func(e *env, res *invite.Result)
		state  invite.State
		is     error
		closed bool // ClosedAt is set (else zero)
	}{
		"accepted": {close: func(e *env, res *invite.Result) {
			_, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "ACCEPTED-BY-MARKER", Email: "ada@example.com"})
			require.NoError(e.t, err)
		}, state: invite.StateAccepted, is: invite.ErrAlreadyAccepted, closed: true},
		"revoked": {close: func(e *env, res *invite.Result) {
			_, err := e.m.Revoke(e.ctx(), "t1", res.Invitation.ID, "REASON-MARKER")
			require.NoError(e.t, err)
		}, state: invite.StateRevoked, is: invite.ErrInvalidTransition, closed: true},
		"rejected": {close: func(e *env, res *invite.Result) {
			_, err := e.m.Reject(e.ctx(), res.Token.Reveal(), "REASON-MARKER")
			require.NoError(e.t, err)
		}, state: invite.StateRejected, is: invite.ErrInvalidTransition, closed: true},
		"expired": {close: func(e *env, _ *invite.Result) { e.clock.Advance(week) },
			state: invite.StateExpired, is: invite.ErrExpired},
		"expired and swept": {close: func(e *env, _ *invite.Result) {
			e.clock.Advance(week)
			_, err := e.m.ExpireDue(e.ctx(), 0)
			require.NoError(e.t, err)
		}, state: invite.StateExpired, is: invite.ErrExpired, closed: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			res := e.create(fullInput("ada@example.com"))
			c.close(e, res)
			stored := e.get("t1", res.Invitation.ID)
			var closedAt time.Time
			if c.closed {
				closedAt = stored.ClosedAt
				require.False(t, closedAt.IsZero())
			}

			for _, lookup := range []func() (*invite.Invitation, error){
				func() (*invite.Invitation, error) { return e.m.Lookup(e.ctx(), res.Token.Reveal()) },
				func() (*invite.Invitation, error) { return e.m.LookupIn(e.ctx(), "t1", res.Token.Reveal()) },
			} {
				inv, err := lookup()
				require.Nil(t, inv)
				require.ErrorIs(t, err, c.is)
				requireTransition(t, err, c.state)
				var te *invite.TransitionError
				require.True(t, errors.As(err, &te))
				require.Equal(t, wantPublic(stored, c.state, closedAt), te.Public)
				requireNoLeak(t, e, res, te.Public, err)
			}
			require.EqualValues(t, stored.Version, e.get("t1", res.Invitation.ID).Version, "Lookup writes nothing")
		})
	}
}

// TestLookupWithoutAValidTokenCarriesNothing: only the holder of the
// invitation's token gets the view.
func TestLookupWithoutAValidTokenCarriesNothing(t *testing.T) {
	e := newEnv(t)
	res := e.create(fullInput("ada@example.com"))
	_, err := e.m.Revoke(e.ctx(), "t1", res.Invitation.ID, "")
	require.NoError(t, err)
	other, _ := mintToken(t, "inv_")
	for name, lookup := range map[string]func() (*invite.Invitation, error){
		"unknown token":  func() (*invite.Invitation, error) { return e.m.Lookup(e.ctx(), other.Reveal()) },
		"garbage":        func() (*invite.Invitation, error) { return e.m.Lookup(e.ctx(), "inv_nope") },
		"another tenant": func() (*invite.Invitation, error) { return e.m.LookupIn(e.ctx(), "t2", res.Token.Reveal()) },
	} {
		inv, err := lookup()
		require.Nil(t, inv, name)
		require.ErrorIs(t, err, invite.ErrInvalidToken, name)
		var te *invite.TransitionError
		require.False(t, errors.As(err, &te), name)
	}

	// Other operations' transition errors carry no view either, not even
	// the token holder's Accept: the view is Lookup's.
	_, err = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u"})
	var te *invite.TransitionError
	require.True(t, errors.As(err, &te))
	require.Nil(t, te.Public)
	_, err = e.m.Resend(e.ctx(), "t1", res.Invitation.ID, invite.ResendOptions{})
	require.True(t, errors.As(err, &te))
	require.Nil(t, te.Public)
	_, err = e.m.AcceptCode(e.ctx(), invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}, res.Code.Reveal(),
		invite.AcceptInput{Subject: "u"})
	require.False(t, errors.As(err, &te) && te.Public != nil, "a code proves less than a token")

	// Error() reads as before: the view adds nothing to it.
	_, err = e.m.Lookup(e.ctx(), res.Token.Reveal())
	require.True(t, errors.As(err, &te))
	bare := *te
	bare.Public = nil
	require.Equal(t, bare.Error(), err.Error())
}

// TestPublicOfOpenInvitation: the open case gets the same view from
// Lookup's invitation; it is a copy.
func TestPublicOfOpenInvitation(t *testing.T) {
	e := newEnv(t)
	res := e.create(fullInput("ada@example.com"))
	inv, err := e.m.Lookup(e.ctx(), res.Token.Reveal())
	require.NoError(t, err)
	pub := inv.Public()
	require.Equal(t, wantPublic(inv, invite.StatePending, time.Time{}), pub)
	require.Equal(t, "Ada Lovelace", pub.Name())
	requireNoLeak(t, e, res, pub, nil)

	pub.Roles[0] = "owner"
	pub.Data["team"] = "x"
	pub.FormData["kyc"]["city"] = "x"
	require.Equal(t, "member", inv.Roles[0])
	require.Equal(t, "looms", inv.Data["team"])
	require.Equal(t, "London", inv.FormData["kyc"]["city"])

	// JSON: snake_case, closed_at left out while open.
	b, err := json.Marshal(pub)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b, &doc))
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	require.ElementsMatch(t, []string{"tenant_id", "account_name", "inviter_name", "email", "phone", "given_name",
		"family_name", "roles", "groups", "data", "form_data", "locale", "require_email_match", "state", "expires_at"}, keys)
}

// TestPublicInvitationFields pins the view's fields: adding one to it is a
// decision (see the rule on PublicInvitation), not an accident.
func TestPublicInvitationFields(t *testing.T) {
	var names []string
	typ := reflect.TypeFor[invite.PublicInvitation]()
	for i := range typ.NumField() {
		names = append(names, typ.Field(i).Name)
	}
	require.Equal(t, []string{"TenantID", "AccountName", "InviterName", "Email", "Phone", "GivenName", "FamilyName",
		"Roles", "Groups", "Data", "FormData", "Locale", "RequireEmailMatch", "State", "ExpiresAt", "ClosedAt"}, names)
}

// requireNoLeak asserts that no secret, hash or administrator-only value
// of res's invitation reaches the view, its JSON, its fmt output, or err's.
func requireNoLeak(t *testing.T, e *env, res *invite.Result, pub *invite.PublicInvitation, err error) {
	t.Helper()
	rec := e.record("t1", res.Invitation.ID)
	h := rec.Credentials.TokenHash
	forbidden := []string{
		res.Token.Reveal(), res.Code.Reveal(), res.Link.Reveal(),
		hex.EncodeToString(h[:]), base64.StdEncoding.EncodeToString(h[:]), base64.RawURLEncoding.EncodeToString(h[:]),
		"IDEM-MARKER", "META-MARKER", "INVITER-ID-7", "CLIENT-MARKER", "IDP-MARKER", "LINKTPL-MARKER",
		"ACCEPTED-BY-MARKER", "REASON-MARKER", "register", // the redirect URI's path
	}
	if len(rec.Credentials.CodeHash) > 0 {
		forbidden = append(forbidden, string(rec.Credentials.CodeHash))
	}
	b, jerr := json.Marshal(pub)
	require.NoError(t, jerr)
	outputs := map[string]string{
		"json": string(b), "%v": fmt.Sprintf("%v", pub), "%+v": fmt.Sprintf("%+v", pub), "%#v": fmt.Sprintf("%#v", pub),
	}
	if err != nil {
		outputs["error"] = err.Error()
		outputs["error %+v"] = fmt.Sprintf("%+v", err)
		outputs["error %#v"] = fmt.Sprintf("%#v", err)
	}
	for what, out := range outputs {
		for _, f := range forbidden {
			require.NotEmpty(t, f)
			require.NotContains(t, out, f, "%s of the public view", what)
		}
	}
}
