package referencetest

// Reference 002 (002_5544d5744c114f43.txt): an identity provider creates
// an invite code for an existing user, who uses it to set up their first
// authentication method.
//
//	POST /v2/users/{userId}/invite_code, Authorization: Bearer <admin>
//	{"sendCode": {"urlTemplate": "https://example.com/user/invite?userID={{.UserID}}&code={{.Code}}&orgID={{.OrgID}}",
//	              "applicationName": "CustomerPortal"}}   or   {"returnCode": {}}
//
// answers {"details": {"sequence", "changeDate", "resourceOwner",
// "creationDate"}, "inviteCode"} (the code only for returnCode), and
// errors as {"code" (a gRPC code), "message", "details": [{"@type"}]}.
// Creating a code again replaces the previous one.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitehttp"
	"github.com/invitekit/invite/invitetest"
)

type inviteCodeRequest struct {
	SendCode *struct {
		URLTemplate     *string `json:"urlTemplate"`
		ApplicationName *string `json:"applicationName"`
	} `json:"sendCode"`
	ReturnCode *struct{} `json:"returnCode"`
}

type inviteCodeResponse struct {
	Details    objectDetails `json:"details"`
	InviteCode *string       `json:"inviteCode,omitempty"`
}

// objectDetails is the reference's details block; sequence is a uint64,
// a string in JSON.
type objectDetails struct {
	Sequence      string    `json:"sequence"`
	ChangeDate    time.Time `json:"changeDate"`
	ResourceOwner string    `json:"resourceOwner"`
	CreationDate  time.Time `json:"creationDate"`
}

// detailsOf builds the details block from an invitation: its version,
// updated_at, tenant and created_at.
func detailsOf(inv *invite.Invitation) objectDetails {
	return objectDetails{Sequence: strconv.FormatInt(inv.Version, 10), ChangeDate: inv.UpdatedAt,
		ResourceOwner: inv.TenantID, CreationDate: inv.CreatedAt}
}

// grpcStatus is the reference's error body.
type grpcStatus struct {
	Code    int              `json:"code"`
	Message string           `json:"message"`
	Details []map[string]any `json:"details"`
}

// grpcCodes maps HTTP statuses to gRPC codes, as gRPC-gateway maps them
// back: the HTTP side of the reference's errors, nothing of the library's.
var grpcCodes = map[int]int{400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 410: 9, 412: 9, 429: 8, 503: 14}

// grpcError answers status with the reference's error body; extra is the
// detail, or nil.
func grpcError(w http.ResponseWriter, status int, message string, extra map[string]any) {
	code, ok := grpcCodes[status]
	if !ok {
		code = 13 // internal
	}
	out := grpcStatus{Code: code, Message: message, Details: []map[string]any{}}
	if extra != nil {
		out.Details = append(out.Details, extra)
	}
	writeJSON(w, status, "", out)
}

// inviteCodeHost is the host of reference 002: each organisation is a
// tenant, and the host's users belong to one.
type inviteCodeHost struct {
	*host
	m     *invitetest.Harness
	users map[string]string // user id -> organisation
}

const (
	org    = "69629023906488334"
	userID = "218476512847618303"
)

func newInviteCodeHost(t *testing.T) *inviteCodeHost {
	t.Helper()
	h := &inviteCodeHost{users: map[string]string{userID: org, "218476512847618304": org}}
	// The link of a code sent without a template of the caller's.
	h.m = invitetest.NewManager(t, invite.Config{LinkTemplate: "https://login.example/ui/v2/invite?userID={{.UserID}}&code={{.Code}}&orgID={{.OrgID}}"})
	// Invalid input is InvalidArgument, which the reference answers 400.
	h.host = newHost(t, invitehttp.Config{Manager: h.m.Manager, InvalidStatus: http.StatusBadRequest})
	h.handle("POST /v2/users/{userId}/invite_code", h.create)
	return h
}

func (h *inviteCodeHost) create(w http.ResponseWriter, r *http.Request) {
	var req inviteCodeRequest
	if err := decodeStrict(w, r, &req); err != nil {
		grpcError(w, 400, "the body must be an object with sendCode or returnCode", nil)
		return
	}
	if req.SendCode != nil && req.ReturnCode != nil {
		grpcError(w, 400, "set one of sendCode and returnCode", nil)
		return
	}
	user := r.PathValue("userId")
	tenant, ok := h.users[user] // the host's own users
	if !ok {
		grpcError(w, 404, "User could not be found", nil)
		return
	}
	// Creating a code again replaces the previous one: create, or renew
	// the user's open invitation with a new secret.
	in := invite.CreateInput{Invitee: invite.Invitee{UserID: user}, ResendOnUpdate: true}
	if req.ReturnCode != nil {
		in.Delivery = invite.DeliveryReturn
	}
	if s := req.SendCode; s != nil {
		if s.URLTemplate != nil {
			in.LinkTemplate = *s.URLTemplate
		}
		if s.ApplicationName != nil {
			in.Variables = map[string]string{"application_name": *s.ApplicationName}
		}
	}
	rep, err := h.call(r, "PUT", "/tenants/"+tenant+"/invitations", in)
	if err != nil {
		h.fail(w, err)
		return
	}
	if rep.isProblem() {
		var p problemDoc
		if err := json.Unmarshal(rep.body, &p); err != nil {
			h.fail(w, err)
			return
		}
		grpcError(w, p.Status, p.Detail, map[string]any{"@type": p.Type, "errors": p.Errors})
		return
	}
	var res struct {
		Invitation invite.Invitation `json:"invitation"`
		Token      string            `json:"token"`
	}
	if err := json.Unmarshal(rep.body, &res); err != nil {
		h.fail(w, err)
		return
	}
	out := inviteCodeResponse{Details: detailsOf(&res.Invitation)}
	if req.ReturnCode != nil {
		out.InviteCode = &res.Token
	}
	writeJSON(w, http.StatusOK, "", out)
}

// invitation reads the user's open invitation through the library's API.
func (h *inviteCodeHost) invitation(t *testing.T, user string) invite.Invitation {
	t.Helper()
	var page struct {
		Invitations []invite.Invitation `json:"invitations"`
	}
	h.client("Authorization", "Bearer admin-"+org).do("GET", "/api/invite/tenants/"+org+"/users/"+user+"/invitations?open=true", nil).
		expect(t, http.StatusOK, &page)
	require.Len(t, page.Invitations, 1)
	return page.Invitations[0]
}

// sendCode sends the code through the host's notifier, with the
// reference's URL template (OrgID) or the same with TenantID: the
// message carries the link with the user, the code and the
// organisation, and the application name; the user follows it and
// accepts, and only they can.
func TestInviteCodeForExistingUserSent(t *testing.T) {
	for _, tc := range []struct {
		name     string
		template string
	}{
		{"the reference's template", "https://example.com/user/invite?userID={{.UserID}}&code={{.Code}}&orgID={{.OrgID}}"},
		{"the organisation as TenantID", "https://example.com/user/invite?userID={{.UserID}}&code={{.Code}}&orgID={{.TenantID}}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newInviteCodeHost(t)
			c := h.client("Authorization", "Bearer admin-"+org)
			rep := c.do("POST", "/v2/users/"+userID+"/invite_code",
				map[string]any{"sendCode": map[string]any{"urlTemplate": tc.template, "applicationName": "CustomerPortal"}})
			var out inviteCodeResponse
			rep.expect(t, http.StatusOK, &out)
			require.NotContains(t, string(rep.body), "inviteCode")
			inv := h.invitation(t, userID)
			require.Equal(t, detailsOf(&inv), out.Details)
			require.Equal(t, objectDetails{Sequence: "2", ChangeDate: invitetest.Start, ResourceOwner: org, CreationDate: invitetest.Start},
				out.Details, "created (1), then sent (2)")
			require.Equal(t, invite.StateSent, inv.State)

			msgs := h.m.Notifier.Messages()
			require.Len(t, msgs, 1)
			msg := msgs[0]
			require.Equal(t, invite.ChannelUser, msg.Channel, "the host's notifier reaches the user")
			require.Equal(t, userID, msg.To)
			require.Equal(t, "CustomerPortal", msg.Vars.Custom["application_name"])
			require.Equal(t, "CustomerPortal", msg.Vars.Map()["application_name"])
			link, err := url.Parse(msg.Link)
			require.NoError(t, err)
			require.Equal(t, "https://example.com/user/invite", link.Scheme+"://"+link.Host+link.Path)
			q := link.Query()
			require.Equal(t, userID, q.Get("userID"))
			require.Equal(t, org, q.Get("orgID"))
			code := q.Get("code")
			require.NotEmpty(t, code)

			// The user's page checks the code, and only the user accepts it.
			page := h.client()
			var view invite.PublicInvitation
			page.do("GET", "/api/invite/public/invitations/"+url.PathEscape(code), nil).expect(t, http.StatusOK, &view)
			require.Equal(t, org, view.TenantID)
			var p problemDoc
			page.do("POST", "/api/invite/public/invitations/"+code+"/accept", nil, "X-User", "218476512847618304").
				expect(t, http.StatusForbidden, &p)
			require.Equal(t, "subject-mismatch", p.kind())
			page.do("POST", "/api/invite/public/invitations/"+code+"/accept", nil, "X-User", userID).expect(t, http.StatusOK, nil)
		})
	}
}

// returnCode hands the code to the caller and sends nothing; creating it
// again replaces it (the sequence grows, the old code is dead); a send
// after that delivers a third one.
func TestInviteCodeForExistingUserReturned(t *testing.T) {
	h := newInviteCodeHost(t)
	c := h.client("Authorization", "Bearer admin-"+org)
	var first, second, third inviteCodeResponse
	c.do("POST", "/v2/users/"+userID+"/invite_code", `{"returnCode":{}}`).expect(t, http.StatusOK, &first)
	require.NotNil(t, first.InviteCode)
	require.Equal(t, "1", first.Details.Sequence)
	require.Empty(t, h.m.Notifier.Messages())
	inv := h.invitation(t, userID)
	require.Equal(t, invite.StatePending, inv.State)
	require.Equal(t, detailsOf(&inv), first.Details)

	h.m.Clock.Advance(time.Minute)
	c.do("POST", "/v2/users/"+userID+"/invite_code", `{"returnCode":{}}`).expect(t, http.StatusOK, &second)
	require.NotNil(t, second.InviteCode)
	require.NotEqual(t, *first.InviteCode, *second.InviteCode)
	require.Equal(t, objectDetails{Sequence: "2", ChangeDate: invitetest.Start.Add(time.Minute), ResourceOwner: org,
		CreationDate: invitetest.Start}, second.Details)
	var p problemDoc
	h.client().do("GET", "/api/invite/public/invitations/"+*first.InviteCode, nil).expect(t, http.StatusNotFound, &p)
	require.Equal(t, "invalid-token", p.kind())
	h.client().do("GET", "/api/invite/public/invitations/"+*second.InviteCode, nil).expect(t, http.StatusOK, nil)

	c.do("POST", "/v2/users/"+userID+"/invite_code", `{"sendCode":{}}`).expect(t, http.StatusOK, &third)
	require.Nil(t, third.InviteCode)
	msg, ok := h.m.Notifier.Last(userID)
	require.True(t, ok)
	require.True(t, msg.Resend)
	require.Equal(t, org, msg.Param("orgID"), "the host's default template")
	h.client().do("GET", "/api/invite/public/invitations/"+*second.InviteCode, nil).expect(t, http.StatusNotFound, nil)
	h.client().do("GET", "/api/invite/public/invitations/"+msg.Param("code"), nil).expect(t, http.StatusOK, nil)
	inv = h.invitation(t, userID)
	require.Equal(t, detailsOf(&inv), third.Details)
	require.Equal(t, 2, inv.ResendCount)
}

// The reference's errors: gRPC codes, the library's problem in details.
func TestInviteCodeForExistingUserErrors(t *testing.T) {
	h := newInviteCodeHost(t)
	for _, tc := range []struct {
		name   string
		user   string
		auth   string
		body   string
		status int
		code   int
		at     []string // the library's field errors in details
	}{
		{"unknown user", "1", "Bearer admin-" + org, `{"returnCode":{}}`, 404, 5, nil},
		{"not signed in", userID, "", `{"returnCode":{}}`, 401, 16, nil},
		{"another organisation's admin", userID, "Bearer admin-1", `{"returnCode":{}}`, 403, 7, nil},
		{"both sendCode and returnCode", userID, "Bearer admin-" + org,
			`{"sendCode":{"urlTemplate":"https://example.com/?code={{.Code}}"},"returnCode":{}}`, 400, 3, nil},
		{"a template for http", userID, "Bearer admin-" + org,
			`{"sendCode":{"urlTemplate":"http://example.com/user/invite?code={{.Code}}"}}`, 400, 3, []string{"/link_template=not_allowed"}},
		{"a template naming no such value", userID, "Bearer admin-" + org,
			`{"sendCode":{"urlTemplate":"https://example.com/user/invite?code={{.Secret}}"}}`, 400, 3, []string{"/link_template=invalid_format"}},
		{"an application name with a line break", userID, "Bearer admin-" + org,
			`{"sendCode":{"applicationName":"Customer\nPortal"}}`, 400, 3, []string{"/variables/application_name=invalid_format"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.auth != "" {
				hdr = []string{"Authorization", tc.auth}
			}
			var out grpcStatus
			h.client(hdr...).do("POST", "/v2/users/"+tc.user+"/invite_code", tc.body).expect(t, tc.status, &out)
			require.Equal(t, tc.code, out.Code)
			require.NotEmpty(t, out.Message)
			var at []string
			for _, d := range out.Details {
				require.NotEmpty(t, d["@type"])
				errs, _ := d["errors"].([]any)
				for _, e := range errs {
					e := e.(map[string]any)
					at = append(at, e["pointer"].(string)+"="+e["code"].(string))
				}
			}
			require.Equal(t, tc.at, at)
		})
	}
	require.Empty(t, h.m.Notifier.Messages())
}
