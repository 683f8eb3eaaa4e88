package invitehttp_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// An expiry count given as 0 (in a create, an upsert, a batch item or a
// resend) is a validation problem naming the member, in the words of any
// out-of-range count; left out or null, the default applies.
func TestExpiryGivenAsZero(t *testing.T) {
	e := newEnv(t)
	const reason = "must be between 1 hour and 90 days"
	c := e.create("resent@example.com")
	path := "/tenants/acme/invitations/" + c.Invitation.ID
	for _, member := range []string{"expires_in_days", "expires_in_seconds"} {
		t.Run(member, func(t *testing.T) {
			invitee := map[string]any{"email": member + "@example.com"}
			for _, v := range []struct {
				method, target string
				body           map[string]any
				pointer        string
			}{
				{"POST", "/tenants/acme/invitations", map[string]any{"invitee": invitee, member: 0}, "/" + member},
				{"PUT", "/tenants/acme/invitations", map[string]any{"invitee": invitee, member: 0}, "/" + member},
				{"PATCH", path, map[string]any{"resend": map[string]any{member: 0}}, "/resend/" + member},
			} {
				p := e.admin(v.method, v.target, v.body).problem(t, http.StatusUnprocessableEntity, "validation")
				require.Len(t, p.Errors, 1, "%s %s", v.method, v.target)
				require.Equal(t, v.pointer, p.Errors[0].Pointer)
				require.Equal(t, invite.CodeOutOfRange, p.Errors[0].Code)
				require.Equal(t, reason, p.Errors[0].Reason)
			}

			r := e.admin("POST", "/tenants/acme/invitations/batch", map[string]any{"invitations": []any{
				map[string]any{"invitee": invitee, member: 0}}})
			require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
			var out struct {
				Items []struct {
					Status  int         `json:"status"`
					Problem *problemDoc `json:"problem"`
				} `json:"items"`
			}
			r.decode(t, &out)
			require.Len(t, out.Items, 1)
			require.Equal(t, http.StatusUnprocessableEntity, out.Items[0].Status)
			require.Equal(t, []string{"/invitations/0/" + member + "=out_of_range"}, out.Items[0].Problem.pointers())
			require.Equal(t, reason, out.Items[0].Problem.Errors[0].Reason)

			// null is "not given": the default validity, 7 days.
			r = e.admin("POST", "/tenants/acme/invitations", map[string]any{"invitee": invitee, member: nil})
			require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
			var created createdJSON
			r.decode(t, &created)
			require.Equal(t, 7*24*time.Hour, created.Invitation.ExpiresAt.Sub(created.Invitation.IssuedAt))
		})
	}
}
