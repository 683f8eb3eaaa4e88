package invitehttp_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitehttp"
	"github.com/invitekit/invite/invitetest"
)

func TestAuthorization(t *testing.T) {
	var seen []invitehttp.Action
	e := newEnv(t, func(c *invitehttp.Config) {
		c.Authorize = func(r *http.Request, tenant string, a invitehttp.Action) error {
			seen = append(seen, a)
			return testAuthorize(r, tenant, a)
		}
	})
	c := e.create("ada@example.com")
	id := "/tenants/acme/invitations/" + c.Invitation.ID
	for _, tc := range []struct {
		method, path string
		body         any
		action       invitehttp.Action
	}{
		{"POST", "/tenants/acme/invitations", map[string]any{}, invitehttp.ActionCreate},
		{"POST", "/tenants/acme/invitations/batch", map[string]any{}, invitehttp.ActionCreateBatch},
		{"PUT", "/tenants/acme/invitations", map[string]any{}, invitehttp.ActionUpsert},
		{"GET", "/tenants/acme/invitations", nil, invitehttp.ActionList},
		{"GET", "/tenants/acme/users/u1/invitations", nil, invitehttp.ActionListUser},
		{"GET", id, nil, invitehttp.ActionGet},
		{"PATCH", id, map[string]any{"roles": []string{"x"}}, invitehttp.ActionUpdate},
		{"PATCH", id, map[string]any{"resend": map[string]any{}}, invitehttp.ActionResend},
		{"PATCH", id, map[string]any{"state": "revoked"}, invitehttp.ActionRevoke},
		{"PATCH", id, map[string]any{"state": "accepted", "subject": "u1"}, invitehttp.ActionAdminAccept},
		{"PATCH", id, map[string]any{"state": "rejected"}, invitehttp.ActionAdminReject},
		{"PATCH", id, map[string]any{"state": "sent"}, invitehttp.ActionMarkSent},
		{"DELETE", id, nil, invitehttp.ActionDelete},
		{"GET", "/tenants/acme/dead-letters", nil, invitehttp.ActionDeadLetters},
		{"POST", "/tenants/acme/dead-letters/redrive", map[string]any{"ids": []string{}}, invitehttp.ActionRedrive},
	} {
		t.Run(string(tc.action), func(t *testing.T) {
			seen = nil
			e.do(tc.method, tc.path, tc.body).problem(t, 401, "unauthenticated")
			require.Equal(t, []invitehttp.Action{tc.action}, seen)
			e.do(tc.method, tc.path, tc.body, "Authorization", adminOther).problem(t, 403, "forbidden")
			if tc.action != invitehttp.ActionGet && tc.action != invitehttp.ActionList && tc.action != invitehttp.ActionListUser {
				e.do(tc.method, tc.path, tc.body, "Authorization", viewerAcme).problem(t, 403, "forbidden")
			}
		})
	}
	// Nothing was changed by the refused requests.
	inv, err := e.h.Get(t.Context(), "acme", c.Invitation.ID)
	require.NoError(t, err)
	require.Equal(t, c.Invitation.Version, inv.Version)

	// The public actions reach the hook too.
	seen = nil
	e.do("GET", "/public/invitations/"+c.Token, nil)
	e.do("POST", "/public/tenants/acme/codes/verify", map[string]any{"email": "ada@example.com", "code": "ABCDEFGH"})
	require.Equal(t, []invitehttp.Action{invitehttp.ActionLookup, invitehttp.ActionVerifyCode}, seen)
}

func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	c := e.create("ada@example.com")
	other := func(method, path string, body any, hdr ...string) *resp {
		return e.do(method, path, body, append([]string{"Authorization", adminOther}, hdr...)...)
	}
	id := "/tenants/other/invitations/" + c.Invitation.ID
	other("GET", id, nil).problem(t, 404, "not-found")
	other("PATCH", id, map[string]any{"roles": []string{"x"}}).problem(t, 404, "not-found")
	other("PATCH", id, map[string]any{"state": "revoked"}).problem(t, 404, "not-found")
	other("PATCH", id, map[string]any{"state": "accepted", "subject": "mallory"}).problem(t, 404, "not-found")
	other("PATCH", id, map[string]any{"resend": map[string]any{"delivery": "return"}}).problem(t, 404, "not-found")
	other("DELETE", id, nil).problem(t, 404, "not-found")
	r := other("GET", "/tenants/other/invitations?include_expired=true&total=true", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.JSONEq(t, `{"invitations":[],"total":0}`, string(r.body))
	r = other("GET", "/tenants/other/users/u1/invitations?email=ada@example.com", nil)
	require.JSONEq(t, `{"invitations":[]}`, string(r.body))
	// The same invitee in the other tenant is not blocked by acme's.
	r = other("POST", "/tenants/other/invitations", map[string]any{"invitee": map[string]any{"email": "ada@example.com"}})
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	require.NotContains(t, string(r.body), c.Invitation.ID)
	// Codes are looked up in the tenant of the path only.
	e.do("POST", "/public/tenants/other/codes/verify", map[string]any{"invitation_id": c.Invitation.ID, "code": "ABCDEFGH"}).
		problem(t, 400, "invalid-code")

	inv, err := e.h.Get(t.Context(), "acme", c.Invitation.ID)
	require.NoError(t, err)
	require.Equal(t, c.Invitation.Version, inv.Version)
}

// A host serving each tenant on its own host name pins the tokens to it.
func TestTenantResolverPinsTokens(t *testing.T) {
	e := newEnv(t, func(c *invitehttp.Config) {
		c.Tenant = func(r *http.Request) (string, error) {
			switch tenant := r.Header.Get("X-Tenant"); tenant {
			case "":
				return r.PathValue("tenant"), nil
			case "nobody":
				return "", errors.New("no such tenant")
			case "locked":
				return "", invitehttp.ErrForbidden
			default:
				return tenant, nil
			}
		}
	})
	c := e.create("ada@example.com")
	require.Equal(t, http.StatusOK, e.do("GET", "/public/invitations/"+c.Token, nil, "X-Tenant", "acme").status)
	e.do("GET", "/public/invitations/"+c.Token, nil, "X-Tenant", "other").problem(t, 404, "invalid-token")
	e.do("POST", "/public/invitations/"+c.Token+"/accept", nil, "X-Tenant", "other", "X-User", "u1").problem(t, 404, "invalid-token")
	e.do("POST", "/public/invitations/"+c.Token+"/reject", nil, "X-Tenant", "other").problem(t, 404, "invalid-token")
	e.do("GET", "/public/invitations/"+c.Token, nil, "X-Tenant", "nobody").problem(t, 404, "not-found")
	e.do("GET", "/public/invitations/"+c.Token, nil, "X-Tenant", "locked").problem(t, 403, "forbidden")
	r := e.do("POST", "/public/invitations/"+c.Token+"/accept", nil, "X-Tenant", "acme", "X-User", "u1")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
}

func TestRoutingProblems(t *testing.T) {
	e := newEnv(t)
	e.admin("GET", "/nowhere", nil).problem(t, 404, "not-found")
	r := e.admin("POST", "/tenants/acme/invitations/123", nil)
	r.problem(t, 405, "method-not-allowed")
	require.ElementsMatch(t, []string{"DELETE", "GET", "HEAD", "PATCH"}, strings.Split(strings.ReplaceAll(r.header.Get("Allow"), " ", ""), ","))
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))
	// An unclean path is redirected to the clean one (the client follows).
	r = e.admin("GET", "/tenants/acme//invitations", nil)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.Contains(t, string(r.body), `"invitations"`)

	// A CONNECT in authority form has no path at all: a 404 problem too.
	api, err := invitehttp.New(invitehttp.Config{Manager: e.h.Manager, Authorize: invitehttp.AllowAll})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest(http.MethodConnect, "example.com:443", nil))
	require.Equal(t, http.StatusNotFound, rec.Code)
	require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
}

func TestMounting(t *testing.T) {
	h := invitetest.NewManager(t, invite.Config{LinkTemplate: "https://app.example/invite?token={{.Token}}"})
	for _, tc := range []struct {
		name  string
		mount func(t *testing.T) http.Handler
	}{
		{"StripPrefix", func(t *testing.T) http.Handler {
			api, err := invitehttp.New(invitehttp.Config{Manager: h.Manager, Authorize: testAuthorize})
			require.NoError(t, err)
			mux := http.NewServeMux()
			mux.Handle("/api/invite/", http.StripPrefix("/api/invite", api))
			return mux
		}},
		{"Prefix", func(t *testing.T) http.Handler {
			api, err := invitehttp.New(invitehttp.Config{Manager: h.Manager, Authorize: testAuthorize, Prefix: "/api/invite"})
			require.NoError(t, err)
			return api // as a router that passes the full path on would call it
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.mount(t))
			defer srv.Close()
			e := &env{t: t, h: h, srv: srv}
			r := e.admin("POST", "/api/invite/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": tc.name + "@example.com"}})
			require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
			var c createdJSON
			r.decode(t, &c)
			// Location is relative to the request: right under any prefix.
			loc, err := srv.Client().Get(srv.URL + "/api/invite/tenants/acme/invitations")
			require.NoError(t, err)
			loc.Body.Close()
			u, err := loc.Request.URL.Parse(r.header.Get("Location"))
			require.NoError(t, err)
			require.Equal(t, "/api/invite/tenants/acme/invitations/"+c.Invitation.ID, u.Path)
			require.Equal(t, http.StatusOK, e.admin("GET", u.Path, nil).status)
		})
	}
}

func TestNewValidatesConfig(t *testing.T) {
	h := invitetest.NewManager(t, invite.Config{})
	for _, tc := range []struct {
		cfg  invitehttp.Config
		want string
	}{
		{invitehttp.Config{}, "Manager is required; Authorize is required"},
		{invitehttp.Config{Manager: h.Manager, Authorize: invitehttp.AllowAll, Prefix: "api"}, "Prefix"},
		{invitehttp.Config{Manager: h.Manager, Authorize: invitehttp.AllowAll, Prefix: "/api/"}, "Prefix"},
		{invitehttp.Config{Manager: h.Manager, Authorize: invitehttp.AllowAll, Prefix: "/o/{tenant}"}, "{tenant}"},
		{invitehttp.Config{Manager: h.Manager, Authorize: invitehttp.AllowAll, Prefix: "/o/{bad"}, "Prefix"},
		{invitehttp.Config{Manager: h.Manager, Authorize: invitehttp.AllowAll, MaxBodyBytes: -1}, "MaxBodyBytes"},
		{invitehttp.Config{Manager: h.Manager, Authorize: invitehttp.AllowAll, RetryAfter: -1}, "RetryAfter"},
		{invitehttp.Config{Manager: h.Manager, Authorize: invitehttp.AllowAll, InvalidStatus: 500}, "InvalidStatus 500 must be 400 or 422"},
	} {
		_, err := invitehttp.New(tc.cfg)
		require.ErrorContains(t, err, tc.want)
	}
	_, err := invitehttp.New(invitehttp.Config{Manager: h.Manager, Authorize: invitehttp.AllowAll, Prefix: "/orgs/{org}/invite"})
	require.NoError(t, err)
}
