package invite_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/idna"

	"github.com/invitekit/invite"
)

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

func TestAcceptPinnedToTenant(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com")) // tenant t1
	_, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u1", TenantID: "t2"})
	require.ErrorIs(t, err, invite.ErrInvalidToken)
	require.Equal(t, invite.StatePending, e.get("t1", res.Invitation.ID).State, "not consumed")
	acc, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u1", TenantID: "t1"})
	require.NoError(t, err)
	require.Equal(t, invite.StateAccepted, acc.Invitation.State)
}

// TestLookupAndRejectPinnedToTenant: as AcceptInput.TenantID does for
// Accept, LookupIn and RejectIn refuse another tenant's token without
// showing or changing it.
func TestLookupAndRejectPinnedToTenant(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("ada@example.com"))
	tok := res.Token.Reveal()
	_, err := e.m.LookupIn(e.ctx(), "t2", tok)
	require.ErrorIs(t, err, invite.ErrInvalidToken)
	_, err = e.m.RejectIn(e.ctx(), "t2", tok, "")
	require.ErrorIs(t, err, invite.ErrInvalidToken)
	require.Equal(t, res.Invitation.Version, e.get("t1", res.Invitation.ID).Version, "not rejected")
	_, err = e.m.LookupIn(e.ctx(), "bad\x00tenant", tok)
	requireValidation(t, err, "TenantID")

	inv, err := e.m.LookupIn(e.ctx(), "t1", tok)
	require.NoError(t, err)
	require.Equal(t, res.Invitation.ID, inv.ID)
	inv, err = e.m.RejectIn(e.ctx(), "t1", tok, "no thanks")
	require.NoError(t, err)
	require.Equal(t, invite.StateRejected, inv.State)
}

// TestEmailBindingIgnoresUnicodeCaseMapping (review defect: "ada@İbm.com"
// passed for ada@ibm.com, and K+U+212A for K): addresses outside ASCII are
// refused, and with a domain converter (IDNA, as mail systems use) an
// internationalised domain is its own domain, never another's.
func TestEmailBindingIgnoresUnicodeCaseMapping(t *testing.T) {
	e := newEnv(t)
	in := input("ada@ibm.com")
	in.RequireEmailMatch = true
	res := e.create(in)
	for _, spoof := range []string{"ada@\u0130bm.com", "ada@IBM.com\u200b", "\u212aate@ibm.com"} {
		_, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u1", Email: spoof})
		requireValidation(t, err, "Email")
		_, err = e.m.Create(e.ctx(), input(spoof))
		requireValidation(t, err, "Invitee.Email")
	}
	acc, err := e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u1", Email: "ADA@IBM.COM"})
	require.NoError(t, err, "ASCII case still folds")
	require.Equal(t, "u1", acc.Invitation.AcceptedBy)

	idn := newEnv(t, func(c *invite.Config) { c.EmailDomainToASCII = idna.Lookup.ToASCII })
	in = input("ada@ibm.com")
	in.RequireEmailMatch = true
	res = idn.create(in)
	_, err = idn.m.Accept(idn.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "u1", Email: "ada@\u0130bm.com"})
	require.ErrorIs(t, err, invite.ErrEmailMismatch, "İbm.com is another domain")
	other := idn.create(input("ada@\u0130bm.com"))
	require.True(t, strings.HasPrefix(other.Invitation.Invitee.Email, "ada@xn--"), other.Invitation.Invitee.Email)
	bucher := idn.create(input("Ada@B\u00fccher.example"))
	require.Equal(t, "ada@xn--bcher-kva.example", bucher.Invitation.Invitee.Email)
	_, err = idn.m.Create(idn.ctx(), input("ADA@xn--bcher-kva.example"))
	require.ErrorIs(t, err, invite.ErrAlreadyExists, "the same invitee, however written")
	_, err = idn.m.Create(idn.ctx(), input("\u212aate@b\u00fccher.example"))
	requireValidation(t, err, "Invitee.Email")
}
