package invitehttp_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitehttp"
)

// Config.InvalidStatus is the status of every validation problem, and
// its "status" member: of the Manager's refusals, the handler's own, a
// host hook's and a batch item's. Malformed bodies stay 400 and a reused
// idempotency key 422.
func TestInvalidStatus(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setting int
		want    int
	}{
		{"default", 0, http.StatusUnprocessableEntity},
		{"422", http.StatusUnprocessableEntity, http.StatusUnprocessableEntity},
		{"400", http.StatusBadRequest, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *invitehttp.Config) {
				c.InvalidStatus = tc.setting
				c.BeforeCreate = func(_ *http.Request, in *invite.CreateInput) error {
					if in.GivenName == "Mallory" {
						return &invite.ValidationError{Fields: []invite.FieldError{{Field: "GivenName",
							Reason: "is not welcome here", Code: invite.CodeNotAllowed}}}
					}
					return nil
				}
			})
			c := e.create("ada@example.com")
			path := "/tenants/acme/invitations/" + c.Invitation.ID
			for _, v := range []struct {
				name           string
				method, target string
				body           any
				pointers       []string
			}{
				{"the Manager's", "POST", "/tenants/acme/invitations",
					map[string]any{"invitee": map[string]any{"email": "nope"}}, []string{"/invitee/email=invalid_format"}},
				{"the handler's", "POST", "/tenants/acme/invitations",
					map[string]any{"tenant_id": "other", "invitee": map[string]any{"email": "b@example.com"}}, []string{"/tenant_id=conflict"}},
				{"a hook's", "PUT", "/tenants/acme/invitations",
					map[string]any{"given_name": "Mallory", "invitee": map[string]any{"email": "m@example.com"}}, []string{"/given_name=not_allowed"}},
				{"a resend's", "PATCH", path,
					map[string]any{"resend": map[string]any{"expires_in_days": 1000}}, []string{"/resend/expires_in_days=out_of_range"}},
				{"a PATCH's mix", "PATCH", path,
					map[string]any{"state": "revoked", "roles": []string{"a"}}, []string{"/state=conflict"}},
				{"a query's", "GET", "/tenants/acme/invitations?count=5000", nil, []string{"count=out_of_range"}},
			} {
				p := e.admin(v.method, v.target, v.body).problem(t, tc.want, "validation")
				require.Equal(t, v.pointers, p.pointers(), v.name)
			}

			r := e.admin("POST", "/tenants/acme/invitations/batch", map[string]any{"invitations": []any{
				map[string]any{"invitee": map[string]any{"email": "one@example.com"}},
				map[string]any{"invitee": map[string]any{"email": "bad"}},
			}})
			require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
			var out struct {
				Items []struct {
					Status  int         `json:"status"`
					Problem *problemDoc `json:"problem"`
				} `json:"items"`
			}
			r.decode(t, &out)
			require.Len(t, out.Items, 2)
			require.Equal(t, http.StatusCreated, out.Items[0].Status)
			require.Equal(t, tc.want, out.Items[1].Status)
			require.Equal(t, tc.want, out.Items[1].Problem.Status)
			require.Equal(t, invitehttp.DefaultProblemTypeBase+"validation", out.Items[1].Problem.Type)

			// What is not a validation problem keeps its status.
			e.admin("POST", "/tenants/acme/invitations", `{"invitee": `).problem(t, http.StatusBadRequest, "malformed-request")
			e.admin("POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "k@example.com"}},
				"Idempotency-Key", "k1")
			e.admin("POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "other@example.com"}},
				"Idempotency-Key", "k1").problem(t, http.StatusUnprocessableEntity, "idempotency-mismatch")
		})
	}
}

func TestInvalidStatusConfig(t *testing.T) {
	e := newEnv(t)
	for _, bad := range []int{-1, 200, 409, 500, 4220} {
		_, err := invitehttp.New(invitehttp.Config{Manager: e.h.Manager, Authorize: invitehttp.AllowAll, InvalidStatus: bad})
		require.ErrorContains(t, err, fmt.Sprintf("InvalidStatus %d must be 400 or 422", bad))
	}
}

// With InvalidStatus 400, every operation's validation problem is still
// one the document describes; and the document does not allow the
// explicit zero expiry the handler refuses.
func TestOpenAPIContractInvalidStatus(t *testing.T) {
	e := newEnv(t, func(c *invitehttp.Config) {
		c.InvalidStatus = http.StatusBadRequest
		c.Tenant = func(r *http.Request) (string, error) {
			if r.Header.Get("X-Tenant") != "" {
				return r.Header.Get("X-Tenant"), nil
			}
			return r.PathValue("tenant"), nil
		}
	})
	ada := e.create("ada@example.com")
	path := "/tenants/acme/invitations/" + ada.Invitation.ID
	long := strings.Repeat("x", 300)
	many := make([]any, invite.MaxBatchSize+1)
	for i := range many {
		many[i] = map[string]any{"invitee": map[string]any{"email": fmt.Sprintf("u%d@example.com", i)}}
	}
	c := loadContract(t, e.srv, "")
	for _, tc := range []struct {
		wantValid    bool
		method, path string
		body         any
		hdr          []string
		status       int
	}{
		{valid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "not an email"}}, nil, 400},
		{valid, "PUT", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{}}, nil, 400},
		{valid, "POST", "/tenants/acme/invitations/batch", map[string]any{"invitations": many}, nil, 400},
		{valid, "GET", "/tenants/acme/invitations?limit=5000", nil, nil, 400},
		{valid, "GET", "/tenants/acme/users/u1/invitations?limit=5000", nil, nil, 400},
		{valid, "GET", "/tenants/acme/invitations/" + long, nil, nil, 400},
		{valid, "PATCH", path, map[string]any{"state": "revoked", "given_name": "x"}, nil, 400},
		{valid, "DELETE", "/tenants/acme/invitations/" + long, nil, nil, 400},
		{valid, "GET", "/tenants/acme/dead-letters?limit=0", nil, nil, 400},
		{valid, "POST", "/tenants/acme/dead-letters/redrive", map[string]any{"ids": []string{""}}, nil, 400},
		{valid, "GET", "/public/invitations/" + ada.Token, nil, []string{"X-Tenant", long}, 400},
		{valid, "POST", "/public/tenants/acme/codes/verify", map[string]any{"code": "ABCD2345"}, nil, 400},
		{valid, "POST", "/public/tenants/acme/codes/accept", map[string]any{"code": "ABCD2345"}, []string{"X-User", "u1"}, 400},
		{invalid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "z@example.com"}, "expires_in_days": 0}, nil, 400},
		{invalid, "PATCH", path, map[string]any{"resend": map[string]any{"expires_in_seconds": 0}}, nil, 400},
	} {
		r := c.call(tc.wantValid, tc.method, tc.path, tc.body, append([]string{"Authorization", adminAcme}, tc.hdr...)...)
		p := r.problem(t, tc.status, "validation")
		require.NotEmpty(t, p.Errors, "%s %s", tc.method, tc.path)
	}
}
