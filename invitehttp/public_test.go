package invitehttp_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitehttp"
)

type publicAcceptance struct {
	Invitation invite.PublicInvitation `json:"invitation"`
	Replayed   bool                    `json:"replayed"`
}

func TestLookup(t *testing.T) {
	e := newEnv(t)
	c := e.create("ada@example.com", map[string]any{"given_name": "Ada", "metadata": map[string]any{"crm": "secret-ref"}})
	r := e.do("GET", "/public/invitations/"+c.Token, nil)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))
	require.Equal(t, "no-referrer", r.header.Get("Referrer-Policy"))
	var pub invite.PublicInvitation
	r.decode(t, &pub)
	require.Equal(t, "Ada", pub.GivenName)
	require.Equal(t, "Grace", pub.InviterName)
	require.Equal(t, []string{"member"}, pub.Roles)
	// The public view, not the admin's.
	require.NotContains(t, string(r.body), c.Invitation.ID)
	require.NotContains(t, string(r.body), "secret-ref")
	require.NotContains(t, string(r.body), "u-admin")

	p := e.do("GET", "/public/invitations/inv_garbage", nil).problem(t, 404, "invalid-token")
	require.Nil(t, p.Invitation)
	require.Equal(t, "no-referrer", e.do("GET", "/public/invitations/inv_garbage", nil).header.Get("Referrer-Policy"))
}

func TestLookupOfAClosedInvitationShowsItsStatus(t *testing.T) {
	e := newEnv(t)
	accepted := e.create("acc@example.com")
	r := e.do("POST", "/public/invitations/"+accepted.Token+"/accept", nil, "X-User", "u1")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	revoked := e.create("rev@example.com")
	e.admin("PATCH", "/tenants/acme/invitations/"+revoked.Invitation.ID, map[string]any{"state": "revoked"})
	rejected := e.create("rej@example.com")
	e.do("POST", "/public/invitations/"+rejected.Token+"/reject", nil)
	expired := e.create("exp@example.com", map[string]any{"expires_in_seconds": 3600})
	e.h.Clock.Advance(2 * time.Hour)

	for _, tc := range []struct {
		token, kind string
		state       invite.State
	}{
		{accepted.Token, "already-accepted", invite.StateAccepted},
		{revoked.Token, "revoked", invite.StateRevoked},
		{rejected.Token, "rejected", invite.StateRejected},
		{expired.Token, "expired", invite.StateExpired},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			p := e.do("GET", "/public/invitations/"+tc.token, nil).problem(t, 410, tc.kind)
			require.NotNil(t, p.Invitation)
			require.Equal(t, tc.state, p.Invitation.State)
			require.Equal(t, "Grace", p.Invitation.InviterName)
			require.Equal(t, string(tc.state), p.State)
		})
	}
}

// Link scanners fetch every URL of a message: no GET may change anything,
// and the endpoints that do take POST only.
func TestGetNeverMutates(t *testing.T) {
	e := newEnv(t)
	c := e.create("ada@example.com")
	for range 5 {
		require.Equal(t, http.StatusOK, e.do("GET", "/public/invitations/"+c.Token, nil).status)
		require.Equal(t, http.StatusOK, e.do("HEAD", "/public/invitations/"+c.Token, nil).status)
		for _, p := range []string{"/accept", "/reject"} {
			r := e.do("GET", "/public/invitations/"+c.Token+p, nil, "X-User", "u1")
			r.problem(t, 405, "method-not-allowed")
			require.Equal(t, "POST", r.header.Get("Allow"))
		}
	}
	inv, err := e.h.Get(t.Context(), "acme", c.Invitation.ID)
	require.NoError(t, err)
	require.Equal(t, c.Invitation.Version, inv.Version)
	require.Equal(t, invite.StatePending, inv.State)
	require.Equal(t, []invite.EventType{invite.EventCreated}, e.h.Events.Types())
}

func TestAccept(t *testing.T) {
	var granted []string
	var mu sync.Mutex
	e := newEnv(t, func(c *invitehttp.Config) {
		c.Accepted = func(r *http.Request, acc *invite.Acceptance) error {
			mu.Lock()
			defer mu.Unlock()
			granted = append(granted, acc.Invitation.AcceptedBy)
			return nil
		}
	})
	c := e.create("ada@example.com")
	path := "/public/invitations/" + c.Token + "/accept"
	e.do("POST", path, nil).problem(t, 401, "unauthenticated")
	require.Equal(t, "Bearer", e.do("POST", path, nil).header.Get("WWW-Authenticate"))
	e.do("POST", path, `{"subject":"u9"}`, "X-User", "u1").problem(t, 400, "malformed-request")

	r := e.do("POST", path, nil, "X-User", "u1")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.Equal(t, "no-referrer", r.header.Get("Referrer-Policy"))
	var acc publicAcceptance
	r.decode(t, &acc)
	require.Equal(t, invite.StateAccepted, acc.Invitation.State)
	require.False(t, acc.Replayed)
	require.NotContains(t, string(r.body), c.Invitation.ID)

	r = e.do("POST", path, `{}`, "X-User", "u1")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	r.decode(t, &acc)
	require.True(t, acc.Replayed)
	e.do("POST", path, nil, "X-User", "u2").problem(t, 410, "already-accepted")
	require.Equal(t, []string{"u1", "u1"}, granted)

	bound := e.create("bound@example.com", map[string]any{"require_email_match": true})
	e.do("POST", "/public/invitations/"+bound.Token+"/accept", nil, "X-User", "u3", "X-User-Email", "eve@example.com").
		problem(t, 403, "email-mismatch")
	r = e.do("POST", "/public/invitations/"+bound.Token+"/accept", nil, "X-User", "u3", "X-User-Email", "Bound@Example.com")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)

	forUser := e.create("", map[string]any{"invitee": map[string]any{"user_id": "u7"}})
	e.do("POST", "/public/invitations/"+forUser.Token+"/accept", nil, "X-User", "u8").problem(t, 403, "subject-mismatch")

	e.do("POST", "/public/invitations/inv_nope/accept", nil, "X-User", "u1").problem(t, 404, "invalid-token")
}

func TestAcceptWithoutSubjectResolverIsNotServed(t *testing.T) {
	e := newEnv(t, func(c *invitehttp.Config) { c.Subject = nil })
	c := e.create("ada@example.com")
	e.do("POST", "/public/invitations/"+c.Token+"/accept", nil, "X-User", "u1").problem(t, 404, "not-found")
	e.do("POST", "/public/tenants/acme/codes/accept", map[string]any{"email": "ada@example.com", "code": "ABCDEFGH"}).problem(t, 404, "not-found")
	require.Equal(t, http.StatusOK, e.do("GET", "/public/invitations/"+c.Token, nil).status)
}

func TestReject(t *testing.T) {
	e := newEnv(t)
	c := e.create("ada@example.com")
	path := "/public/invitations/" + c.Token + "/reject"
	r := e.do("POST", path, map[string]any{"reason": "not interested"})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var pub invite.PublicInvitation
	r.decode(t, &pub)
	require.Equal(t, invite.StateRejected, pub.State)
	e.do("POST", path, nil).problem(t, 410, "rejected")
	e.do("POST", "/public/invitations/"+c.Token+"/accept", nil, "X-User", "u1").problem(t, 410, "rejected")
	e.do("POST", path, map[string]any{"reason": "x", "why": 1}).problem(t, 400, "malformed-request")
}

func TestCodes(t *testing.T) {
	e := newEnv(t)
	c := e.create("ada@example.com", map[string]any{"with_code": true})
	verify := "/public/tenants/acme/codes/verify"
	r := e.do("POST", verify, map[string]any{"email": "Ada@Example.com", "code": c.Code})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.Equal(t, "no-referrer", r.header.Get("Referrer-Policy"))
	var pub invite.PublicInvitation
	r.decode(t, &pub)
	require.Equal(t, "ada@example.com", pub.Email)

	// Every failure is the same answer.
	for _, body := range []map[string]any{
		{"email": "ada@example.com", "code": "WRONGCDE"},
		{"email": "nobody@example.com", "code": c.Code},
		{"invitation_id": "nope", "code": c.Code},
		{"email": "ada@example.com", "code": "short"},
	} {
		e.do("POST", verify, body).problem(t, 400, "invalid-code")
	}
	e.do("POST", "/public/tenants/other/codes/verify", map[string]any{"email": "ada@example.com", "code": c.Code}).problem(t, 400, "invalid-code")
	p := e.do("POST", verify, map[string]any{"email": "nope", "code": c.Code}).problem(t, 422, "validation")
	require.Equal(t, []string{"/email=invalid_format"}, p.pointers())
	p = e.do("POST", verify, map[string]any{"code": c.Code}).problem(t, 422, "validation")
	require.Equal(t, []string{"/invitation_id=required"}, p.pointers())

	accept := "/public/tenants/acme/codes/accept"
	e.do("POST", accept, map[string]any{"email": "ada@example.com", "code": c.Code}).problem(t, 401, "unauthenticated")
	r = e.do("POST", accept, map[string]any{"invitation_id": c.Invitation.ID, "code": c.Code}, "X-User", "u1")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var acc publicAcceptance
	r.decode(t, &acc)
	require.Equal(t, invite.StateAccepted, acc.Invitation.State)
	e.do("POST", accept, map[string]any{"invitation_id": c.Invitation.ID, "code": c.Code}, "X-User", "u2").problem(t, 410, "already-accepted")
}

// Concurrent accepts of one invitation by different users over HTTP:
// exactly one wins, the others are told it was already accepted.
func TestConcurrentAcceptsOneWins(t *testing.T) {
	e := newEnv(t)
	c := e.create("ada@example.com")
	const n = 16
	var wins, gone atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := e.do("POST", "/public/invitations/"+c.Token+"/accept", nil, "X-User", "user-"+string(rune('a'+i)))
			switch r.status {
			case http.StatusOK:
				wins.Add(1)
			case http.StatusGone:
				gone.Add(1)
			default:
				t.Errorf("status %d: %s", r.status, r.body)
			}
		})
	}
	wg.Wait()
	require.Equal(t, int32(1), wins.Load())
	require.Equal(t, int32(n-1), gone.Load())
	inv, err := e.h.Get(t.Context(), "acme", c.Invitation.ID)
	require.NoError(t, err)
	require.Equal(t, invite.StateAccepted, inv.State)
}
