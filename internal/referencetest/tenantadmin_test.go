package referencetest

// Reference 003 (003_bbde757406969cda.txt): an identity platform's
// tenant-scoped invitation CRUD, for account administrators.
//
//	GET    api/v1-preview/Tenants/{tenantId}/Invitations/{invitationId}
//	GET    api/v1-preview/Tenants/{tenantId}/Invitations?skip&count(=100)&includeExpiredInvitations
//	PUT    api/v1-preview/Tenants/{tenantId}/Invitations/{invitationId}     update
//	DELETE api/v1-preview/Tenants/{tenantId}/Invitations/{invitationId}     204
//	GET    api/v1-preview/Tenants/{tenantId}/Users/{userId}/Invitations     the user's
//	POST   api/v1-preview/Tenants/{tenantId}/Users/{userId}/Invitations     201, 409 when one exists
//	PUT    api/v1-preview/Tenants/{tenantId}/Users/{userId}/Invitations     201 created, 200 updated
//
// with InvitationDto {Id, Issued, Expires, Accepted, State (None 0,
// InvitationEmailSent 1, InvitationAccepted 2), TenantId, UserId,
// IdentityProviderId} and InvitationCreateOrUpdateDto {ExpiresDateTime,
// State, SendInvitation, IdentityProviderId}. Errors are statuses; the
// host answers them as problem details.

import (
	"encoding/json"
	"errors"
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

type invitationDto struct {
	ID                 string     `json:"Id"`
	Issued             time.Time  `json:"Issued"`
	Expires            time.Time  `json:"Expires"`
	Accepted           *time.Time `json:"Accepted"`
	State              int        `json:"State"`
	TenantID           string     `json:"TenantId"`
	UserID             string     `json:"UserId"`
	IdentityProviderID *string    `json:"IdentityProviderId"`
}

type invitationCreateOrUpdateDto struct {
	ExpiresDateTime    *time.Time `json:"ExpiresDateTime"`
	State              *int       `json:"State"`
	SendInvitation     bool       `json:"SendInvitation"`
	IdentityProviderID *string    `json:"IdentityProviderId"`
}

// The reference's InvitationStates.
const (
	stateNone                = 0
	stateInvitationEmailSent = 1
	stateInvitationAccepted  = 2
)

// nilGUID is the reference's "no identity provider".
const nilGUID = "00000000-0000-0000-0000-000000000000"

// dtoState is the reference's state of an invitation: accepted, sent
// (delivered at least once) or none. The reference has no state for
// declined, revoked or expired; Expires says the last.
func dtoState(inv *invite.Invitation) int {
	switch {
	case inv.State == invite.StateAccepted:
		return stateInvitationAccepted
	case inv.SendCount > 0:
		return stateInvitationEmailSent
	}
	return stateNone
}

func dtoOf(inv *invite.Invitation) invitationDto {
	d := invitationDto{ID: inv.ID, Issued: inv.IssuedAt, Expires: inv.ExpiresAt, State: dtoState(inv),
		TenantID: inv.TenantID, UserID: inv.Invitee.UserID}
	if inv.State == invite.StateAccepted {
		d.Accepted = &inv.ClosedAt
	}
	if inv.IdentityProviderID != "" {
		d.IdentityProviderID = &inv.IdentityProviderID
	}
	return d
}

// tenantAdminPointers names the library's input fields as the reference
// does.
var tenantAdminPointers = map[string]string{"/expires_at": "/ExpiresDateTime", "/identity_provider_id": "/IdentityProviderId"}

// tenantAdminHost is the host of reference 003.
type tenantAdminHost struct {
	*host
	m     *invitetest.Harness
	users map[string]map[string]bool // tenant -> its users
}

const tenantAdminBase = "/api/v1-preview/Tenants/{tenantId}"

func newTenantAdminHost(t *testing.T) *tenantAdminHost {
	t.Helper()
	h := &tenantAdminHost{m: invitetest.NewManager(t, invite.Config{
		LinkTemplate: "https://id.example/accept?invitation={{.Token}}&tenant={{.TenantID}}"}),
		users: map[string]map[string]bool{"acme": {}}}
	for _, u := range tenantUsers {
		h.users["acme"][u] = true
	}
	h.host = newHost(t, invitehttp.Config{Manager: h.m.Manager,
		// The reference answers invalid input with 400.
		InvalidStatus: http.StatusBadRequest,
		// The host's tenants: any other is 404.
		Tenant: func(r *http.Request) (string, error) {
			t := r.PathValue("tenant")
			if _, ok := h.users[t]; !ok && t != "" {
				return "", errors.New("no such tenant")
			}
			return t, nil
		}})
	h.handle("GET "+tenantAdminBase+"/Invitations/{invitationId}", h.get)
	h.handle("GET "+tenantAdminBase+"/Invitations", h.list)
	h.handle("PUT "+tenantAdminBase+"/Invitations/{invitationId}", h.update)
	h.handle("DELETE "+tenantAdminBase+"/Invitations/{invitationId}", h.delete)
	h.handle("GET "+tenantAdminBase+"/Users/{userId}/Invitations", h.listUser)
	h.handle("POST "+tenantAdminBase+"/Users/{userId}/Invitations", h.createOrUpsert)
	h.handle("PUT "+tenantAdminBase+"/Users/{userId}/Invitations", h.createOrUpsert)
	return h
}

var tenantUsers = []string{"3f2b8d2e-0000-4000-8000-000000000001", "3f2b8d2e-0000-4000-8000-000000000002",
	"3f2b8d2e-0000-4000-8000-000000000003", "3f2b8d2e-0000-4000-8000-000000000004", "3f2b8d2e-0000-4000-8000-000000000005"}

// answer relays the library's reply: a problem as the host's problem, an
// invitation (or a create's result) as an InvitationDto, a list as a list
// of them; status replaces the reply's when not 0.
func (h *tenantAdminHost) answer(w http.ResponseWriter, rep *reply, status int) {
	if rep.isProblem() {
		if err := relayProblem(w, rep, tenantAdminPointers, nil); err != nil {
			h.fail(w, err)
		}
		return
	}
	if status == 0 {
		status = rep.status
	}
	var doc struct {
		invite.Invitation
		Result      *invite.Invitation  `json:"invitation"`
		Invitations []invite.Invitation `json:"invitations"`
	}
	if err := json.Unmarshal(rep.body, &doc); err != nil {
		h.fail(w, err)
		return
	}
	switch {
	case doc.Invitations != nil:
		out := make([]invitationDto, len(doc.Invitations))
		for i := range doc.Invitations {
			out[i] = dtoOf(&doc.Invitations[i])
		}
		writeJSON(w, status, "", out)
	case doc.Result != nil:
		writeJSON(w, status, "", dtoOf(doc.Result))
	default:
		writeJSON(w, status, "", dtoOf(&doc.Invitation))
	}
}

// path is the library's path of the tenant's invitations, and more.
func path(r *http.Request, more ...string) string {
	p := "/tenants/" + url.PathEscape(r.PathValue("tenantId"))
	for _, m := range more {
		p += "/" + url.PathEscape(m)
	}
	return p
}

func (h *tenantAdminHost) get(w http.ResponseWriter, r *http.Request) {
	rep, err := h.call(r, "GET", path(r, "invitations", r.PathValue("invitationId")), nil)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.answer(w, rep, 0)
}

// listQuery is the library's query for the reference's: skip and count
// are its own names too; query is "currently not supported".
func listQuery(r *http.Request) string {
	q, out := r.URL.Query(), url.Values{}
	for _, name := range []string{"skip", "count"} {
		if q.Has(name) {
			out.Set(name, q.Get(name))
		}
	}
	if q.Has("includeExpiredInvitations") {
		out.Set("include_expired", q.Get("includeExpiredInvitations"))
	}
	return out.Encode()
}

func (h *tenantAdminHost) list(w http.ResponseWriter, r *http.Request) {
	rep, err := h.call(r, "GET", path(r, "invitations")+"?"+listQuery(r), nil)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.answer(w, rep, 0)
}

func (h *tenantAdminHost) listUser(w http.ResponseWriter, r *http.Request) {
	if !h.users[r.PathValue("tenantId")][r.PathValue("userId")] {
		h.notFound(w, r, "no such user in this tenant")
		return
	}
	rep, err := h.call(r, "GET", path(r, "users", r.PathValue("userId"), "invitations")+"?"+listQuery(r), nil)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.answer(w, rep, 0)
}

func (h *tenantAdminHost) delete(w http.ResponseWriter, r *http.Request) {
	rep, err := h.call(r, "DELETE", path(r, "invitations", r.PathValue("invitationId")), nil)
	switch {
	case err != nil:
		h.fail(w, err)
	case rep.status == http.StatusNoContent:
		w.WriteHeader(http.StatusNoContent)
	default:
		h.answer(w, rep, 0)
	}
}

// notFound answers the host's own 404 (a user or tenant it does not
// have), after asking the library's API whether the caller may see the
// tenant at all.
func (h *tenantAdminHost) notFound(w http.ResponseWriter, r *http.Request, detail string) {
	if rep, err := h.call(r, "GET", path(r, "invitations")+"?count=1", nil); err == nil && rep.isProblem() {
		h.answer(w, rep, 0)
		return
	}
	writeJSON(w, http.StatusNotFound, "application/problem+json", map[string]any{
		"type": invitehttp.DefaultProblemTypeBase + "not-found", "title": "Not found", "status": 404, "detail": detail})
}

// identityProvider is the library's identity provider of the DTO's: ""
// for none (the nil GUID).
func identityProvider(id *string) string {
	if id == nil || *id == nilGUID {
		return ""
	}
	return *id
}

// createOrUpsert serves POST (create; 409 when the user has an open
// invitation) and PUT (create or update) of a user's invitation.
func (h *tenantAdminHost) createOrUpsert(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("userId")
	if !h.users[r.PathValue("tenantId")][user] {
		h.notFound(w, r, "no such user in this tenant")
		return
	}
	var dto invitationCreateOrUpdateDto
	if err := decodeStrict(w, r, &dto); err != nil {
		h.malformed(w, "the body must be an InvitationCreateOrUpdateDto")
		return
	}
	in := invite.CreateInput{Invitee: invite.Invitee{UserID: user}, IdentityProviderID: identityProvider(dto.IdentityProviderID),
		Delivery: invite.DeliveryReturn}
	if dto.ExpiresDateTime != nil {
		in.ExpiresAt = *dto.ExpiresDateTime
	}
	if dto.SendInvitation {
		in.Delivery, in.ResendOnUpdate = invite.DeliverySend, true
	}
	method, status := "POST", http.StatusCreated
	if r.Method == http.MethodPut {
		method = "PUT"
	}
	rep, err := h.call(r, method, path(r, "invitations"), in)
	if err != nil {
		h.fail(w, err)
		return
	}
	if !rep.isProblem() {
		var res struct {
			Invitation invite.Invitation `json:"invitation"`
		}
		if err := json.Unmarshal(rep.body, &res); err != nil {
			h.fail(w, err)
			return
		}
		if rep.status == http.StatusOK {
			status = http.StatusOK // updated
		}
		rep, err = h.setState(r, &res.Invitation, dto.State)
		if err != nil {
			h.fail(w, err)
			return
		}
	}
	h.answer(w, rep, status)
}

// update serves PUT of one invitation: its expiry and identity provider,
// a resend (SendInvitation), and its state.
func (h *tenantAdminHost) update(w http.ResponseWriter, r *http.Request) {
	var dto invitationCreateOrUpdateDto
	if err := decodeStrict(w, r, &dto); err != nil {
		h.malformed(w, "the body must be an InvitationCreateOrUpdateDto")
		return
	}
	id := r.PathValue("invitationId")
	rep, err := h.call(r, "GET", path(r, "invitations", id), nil)
	if err != nil || rep.isProblem() {
		if err != nil {
			h.fail(w, err)
		} else {
			h.answer(w, rep, 0)
		}
		return
	}
	var cur invite.Invitation
	if err := json.Unmarshal(rep.body, &cur); err != nil {
		h.fail(w, err)
		return
	}
	// The edits and the resend, in one write, guarded by the version read.
	patch := map[string]any{}
	if e := dto.ExpiresDateTime; e != nil && !e.Truncate(time.Microsecond).Equal(cur.ExpiresAt) {
		patch["expires_at"] = e
	}
	if idp := identityProvider(dto.IdentityProviderID); dto.IdentityProviderID != nil && idp != cur.IdentityProviderID {
		patch["identity_provider_id"] = idp
	}
	if dto.SendInvitation {
		patch["resend"] = map[string]any{}
	}
	if len(patch) > 0 {
		rep, err = h.call(r, "PATCH", path(r, "invitations", id), patch, "If-Match", rep.header.Get("ETag"))
		if err != nil {
			h.fail(w, err)
			return
		}
		if rep.isProblem() {
			h.answer(w, rep, 0)
			return
		}
		var res struct {
			invite.Invitation
			Result *invite.Invitation `json:"invitation"`
		}
		if err := json.Unmarshal(rep.body, &res); err != nil {
			h.fail(w, err)
			return
		}
		if cur = res.Invitation; res.Result != nil {
			cur = *res.Result
		}
	}
	if rep, err = h.setState(r, &cur, dto.State); err != nil {
		h.fail(w, err)
		return
	}
	h.answer(w, rep, http.StatusOK)
}

// setState moves inv to the reference's state want (nil: as it is) and
// returns the reply to relay: the invitation as it then is, or a problem.
func (h *tenantAdminHost) setState(r *http.Request, inv *invite.Invitation, want *int) (*reply, error) {
	as := func(inv *invite.Invitation) (*reply, error) {
		b, err := json.Marshal(inv)
		return &reply{status: http.StatusOK, header: http.Header{}, body: b}, err
	}
	if want == nil || *want == dtoState(inv) {
		return as(inv)
	}
	switch *want {
	case stateInvitationAccepted: // the administrator records the user's acceptance
		return h.call(r, "PATCH", path(r, "invitations", inv.ID), map[string]any{"state": "accepted", "subject": inv.Invitee.UserID})
	case stateInvitationEmailSent:
		if dtoState(inv) == stateNone { // the host delivered the invitation itself
			return h.call(r, "PATCH", path(r, "invitations", inv.ID), map[string]any{"state": "sent"})
		}
	}
	b, err := json.Marshal(map[string]any{"type": invitehttp.DefaultProblemTypeBase + "invalid-transition",
		"title": "The invitation is not in a state that allows this", "status": http.StatusConflict,
		"detail": "State can go from None to InvitationEmailSent or InvitationAccepted, and from InvitationEmailSent to InvitationAccepted",
		"state":  inv.State})
	return &reply{status: http.StatusConflict, header: http.Header{"Content-Type": {"application/problem+json"}}, body: b}, err
}

func (h *tenantAdminHost) malformed(w http.ResponseWriter, detail string) {
	writeJSON(w, http.StatusBadRequest, "application/problem+json", map[string]any{
		"type": invitehttp.DefaultProblemTypeBase + "malformed-request", "title": "The request is malformed", "status": 400, "detail": detail})
}

// tenantAdminClient is an account administrator of acme.
func (h *tenantAdminHost) admin() *client { return h.client("Authorization", "Bearer admin-acme") }

func ptr[T any](v T) *T { return &v }

// The whole CRUD of one user's invitations, as the reference's client
// drives it: create without sending, 409, create-or-update that sends,
// get, update of expiry and identity provider, a resend, the state set
// to accepted, the user's invitations, a new one after acceptance,
// delete; and a state set to sent by the host that delivered it itself.
func TestTenantAdminCRUD(t *testing.T) {
	h := newTenantAdminHost(t)
	c := h.admin()
	now := invitetest.Start
	u1, u2 := tenantUsers[0], tenantUsers[1]
	base := "/api/v1-preview/Tenants/acme"

	var created invitationDto
	c.do("POST", base+"/Users/"+u1+"/Invitations", invitationCreateOrUpdateDto{ExpiresDateTime: ptr(now.Add(72 * time.Hour)),
		State: ptr(stateNone), IdentityProviderID: ptr("idp-1")}).expect(t, http.StatusCreated, &created)
	require.Equal(t, invitationDto{ID: created.ID, Issued: now, Expires: now.Add(72 * time.Hour), State: stateNone,
		TenantID: "acme", UserID: u1, IdentityProviderID: ptr("idp-1")}, created)
	require.Empty(t, h.m.Notifier.Messages(), "SendInvitation false")
	require.Contains(t, string(c.do("GET", base+"/Invitations/"+created.ID, nil).body), `"Accepted":null`)

	var p problemDoc
	c.do("POST", base+"/Users/"+u1+"/Invitations", invitationCreateOrUpdateDto{SendInvitation: true}).expect(t, http.StatusConflict, &p)
	require.Equal(t, "already-exists", p.kind())
	require.Equal(t, created.ID, p.ExistingID)

	// Create-or-update finds the open one: updated (200), and sent.
	h.m.Clock.Advance(time.Hour)
	var upserted invitationDto
	c.do("PUT", base+"/Users/"+u1+"/Invitations", invitationCreateOrUpdateDto{ExpiresDateTime: ptr(now.Add(5 * 24 * time.Hour)),
		SendInvitation: true, IdentityProviderID: ptr(nilGUID)}).expect(t, http.StatusOK, &upserted)
	require.Equal(t, invitationDto{ID: created.ID, Issued: now.Add(time.Hour), Expires: now.Add(5 * 24 * time.Hour),
		State: stateInvitationEmailSent, TenantID: "acme", UserID: u1}, upserted)
	msg, ok := h.m.Notifier.Last(u1)
	require.True(t, ok)
	require.Equal(t, invite.ChannelUser, msg.Channel)
	require.Equal(t, "acme", msg.Param("tenant"))

	var got invitationDto
	c.do("GET", base+"/Invitations/"+created.ID, nil).expect(t, http.StatusOK, &got)
	require.Equal(t, upserted, got)

	// Update: a new expiry and identity provider; nothing sent.
	var updated invitationDto
	c.do("PUT", base+"/Invitations/"+created.ID, invitationCreateOrUpdateDto{ExpiresDateTime: ptr(now.Add(10 * 24 * time.Hour)),
		State: ptr(stateInvitationEmailSent), IdentityProviderID: ptr("idp-2")}).expect(t, http.StatusOK, &updated)
	require.Equal(t, now.Add(10*24*time.Hour), updated.Expires)
	require.Equal(t, "idp-2", *updated.IdentityProviderID)
	require.Len(t, h.m.Notifier.Messages(), 1)

	// SendInvitation on an update: sent again, with a new link.
	h.m.Clock.Advance(time.Hour)
	c.do("PUT", base+"/Invitations/"+created.ID, invitationCreateOrUpdateDto{SendInvitation: true}).expect(t, http.StatusOK, &updated)
	require.Equal(t, now.Add(2*time.Hour), updated.Issued)
	require.Len(t, h.m.Notifier.Messages(), 2)
	again, _ := h.m.Notifier.Last(u1)
	require.True(t, again.Resend)
	require.NotEqual(t, msg.Link, again.Link)

	// The state set to accepted: the administrator records it.
	c.do("PUT", base+"/Invitations/"+created.ID, invitationCreateOrUpdateDto{State: ptr(stateInvitationAccepted)}).
		expect(t, http.StatusOK, &updated)
	require.Equal(t, stateInvitationAccepted, updated.State)
	require.Equal(t, now.Add(2*time.Hour), *updated.Accepted)
	c.do("PUT", base+"/Invitations/"+created.ID, invitationCreateOrUpdateDto{State: ptr(stateNone)}).expect(t, http.StatusConflict, &p)
	require.Equal(t, "invalid-transition", p.kind())

	var mine []invitationDto
	c.do("GET", base+"/Users/"+u1+"/Invitations", nil).expect(t, http.StatusOK, &mine)
	require.Equal(t, []invitationDto{updated}, mine)

	// An accepted invitation does not block a new one: created (201).
	var second invitationDto
	c.do("PUT", base+"/Users/"+u1+"/Invitations", invitationCreateOrUpdateDto{}).expect(t, http.StatusCreated, &second)
	require.NotEqual(t, created.ID, second.ID)
	require.Equal(t, stateNone, second.State)
	require.Equal(t, second.Issued.Add(7*24*time.Hour), second.Expires, "the default validity")
	c.do("GET", base+"/Users/"+u1+"/Invitations", nil).expect(t, http.StatusOK, &mine)
	require.Len(t, mine, 2)

	rep := c.do("DELETE", base+"/Invitations/"+second.ID, nil)
	require.Equal(t, http.StatusNoContent, rep.status, "body: %s", rep.body)
	require.Empty(t, rep.body)
	c.do("GET", base+"/Invitations/"+second.ID, nil).expect(t, http.StatusNotFound, &p)
	require.Equal(t, "not-found", p.kind())
	c.do("DELETE", base+"/Invitations/"+second.ID, nil).expect(t, http.StatusNotFound, nil)

	// The host delivered it itself: created with the state set to sent.
	var sent invitationDto
	c.do("POST", base+"/Users/"+u2+"/Invitations", invitationCreateOrUpdateDto{State: ptr(stateInvitationEmailSent)}).
		expect(t, http.StatusCreated, &sent)
	require.Equal(t, stateInvitationEmailSent, sent.State)
	_, ok = h.m.Notifier.Last(u2)
	require.False(t, ok)
}

// skip and count page (count defaults to 100), expired invitations are
// left out unless includeExpiredInvitations, for the tenant and for one
// user.
func TestTenantAdminListSkipCountIncludeExpired(t *testing.T) {
	h := newTenantAdminHost(t)
	c := h.admin()
	base := "/api/v1-preview/Tenants/acme"
	ids := map[string]string{} // invitation id -> user
	for i, u := range tenantUsers {
		dto := invitationCreateOrUpdateDto{}
		if i == 2 {
			dto.ExpiresDateTime = ptr(h.m.Clock.Now().Add(time.Hour)) // the shortest validity allowed
		}
		var d invitationDto
		c.do("POST", base+"/Users/"+u+"/Invitations", dto).expect(t, http.StatusCreated, &d)
		ids[d.ID] = u
		h.m.Clock.Advance(time.Second)
	}
	h.m.Clock.Advance(2 * time.Hour)
	users := func(ds []invitationDto) []string {
		out := []string{}
		for _, d := range ds {
			out = append(out, ids[d.ID])
		}
		return out
	}
	u := tenantUsers
	for _, tc := range []struct {
		name  string
		path  string
		users []string
	}{
		{"every open one", "/Invitations", []string{u[0], u[1], u[3], u[4]}},
		{"expired too", "/Invitations?includeExpiredInvitations=true", u},
		{"skip 1, count 2", "/Invitations?skip=1&count=2", []string{u[1], u[3]}},
		{"skip 1, count 2, expired too", "/Invitations?skip=1&count=2&includeExpiredInvitations=true", []string{u[1], u[2]}},
		{"skip past the end", "/Invitations?skip=10", []string{}},
		{"count 0 is the default", "/Invitations?count=0&includeExpiredInvitations=true", u},
		{"the query is not supported, and ignored", "/Invitations?query=anything", []string{u[0], u[1], u[3], u[4]}},
		{"the user's expired one, left out", "/Users/" + u[2] + "/Invitations", []string{}},
		{"the user's expired one", "/Users/" + u[2] + "/Invitations?includeExpiredInvitations=true", []string{u[2]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ds []invitationDto
			c.do("GET", base+tc.path, nil).expect(t, http.StatusOK, &ds)
			require.Equal(t, tc.users, users(ds))
		})
	}
	// 101 more users: the default page holds 100.
	for i := range 101 {
		user := "extra-" + strconv.Itoa(i)
		h.users["acme"][user] = true
		c.do("POST", base+"/Users/"+user+"/Invitations", invitationCreateOrUpdateDto{}).expect(t, http.StatusCreated, nil)
	}
	var ds []invitationDto
	c.do("GET", base+"/Invitations", nil).expect(t, http.StatusOK, &ds)
	require.Len(t, ds, 100)
	c.do("GET", base+"/Invitations?skip=100", nil).expect(t, http.StatusOK, &ds)
	require.Len(t, ds, 5)
}

// The reference's error statuses, as problem details.
func TestTenantAdminErrors(t *testing.T) {
	h := newTenantAdminHost(t)
	var d invitationDto
	h.admin().do("POST", "/api/v1-preview/Tenants/acme/Users/"+tenantUsers[0]+"/Invitations", invitationCreateOrUpdateDto{}).
		expect(t, http.StatusCreated, &d)
	past := invitetest.Start.Add(-time.Hour)
	for _, tc := range []struct {
		name   string
		auth   string
		method string
		path   string
		body   any
		status int
		kind   string
		at     []string
	}{
		{"unknown invitation", "admin-acme", "GET", "acme/Invitations/nope", nil, 404, "not-found", nil},
		{"unknown tenant", "admin-globex", "GET", "globex/Invitations", nil, 404, "not-found", nil},
		{"unknown user", "admin-acme", "POST", "acme/Users/nobody/Invitations", invitationCreateOrUpdateDto{}, 404, "not-found", nil},
		{"not signed in", "", "GET", "acme/Invitations", nil, 401, "unauthenticated", nil},
		{"not an administrator", "viewer-acme", "DELETE", "acme/Invitations/" + d.ID, nil, 403, "forbidden", nil},
		{"not an administrator, marking it sent", "viewer-acme", "PUT", "acme/Invitations/" + d.ID,
			invitationCreateOrUpdateDto{State: ptr(stateInvitationEmailSent)}, 403, "forbidden", nil},
		{"not an administrator of this tenant", "admin-globex", "GET", "acme/Invitations/" + d.ID, nil, 403, "forbidden", nil},
		{"another tenant's user, unknown", "admin-globex", "GET", "acme/Users/" + tenantUsers[0] + "/Invitations", nil, 403, "forbidden", nil},
		{"an expiry in the past", "admin-acme", "PUT", "acme/Users/" + tenantUsers[1] + "/Invitations",
			invitationCreateOrUpdateDto{ExpiresDateTime: &past}, 400, "validation", []string{"/ExpiresDateTime=out_of_range"}},
		{"an update's expiry in the past", "admin-acme", "PUT", "acme/Invitations/" + d.ID,
			invitationCreateOrUpdateDto{ExpiresDateTime: &past}, 400, "validation", []string{"/ExpiresDateTime=out_of_range"}},
		{"skip not a number", "admin-acme", "GET", "acme/Invitations?skip=ten", nil, 400, "malformed-request", []string{"skip=invalid_format"}},
		{"count too large", "admin-acme", "GET", "acme/Invitations?count=5000", nil, 400, "validation", []string{"count=out_of_range"}},
		{"an unknown member", "admin-acme", "PUT", "acme/Invitations/" + d.ID, `{"Expires":"2030-01-02T00:00:00Z"}`, 400, "malformed-request", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.auth != "" {
				hdr = []string{"Authorization", "Bearer " + tc.auth}
			}
			rep := h.client(hdr...).do(tc.method, "/api/v1-preview/Tenants/"+tc.path, tc.body)
			require.Equal(t, tc.status, rep.status, "body: %s", rep.body)
			require.Equal(t, "application/problem+json", rep.header.Get("Content-Type"))
			var p problemDoc
			rep.decode(t, &p)
			require.Equal(t, tc.kind, p.kind())
			require.Equal(t, tc.status, p.Status)
			require.NotEmpty(t, p.Detail)
			require.Equal(t, tc.at, p.at())
		})
	}
	inv, err := h.m.Get(t.Context(), "acme", d.ID)
	require.NoError(t, err)
	require.Equal(t, invite.StatePending, inv.State, "no refusal marked it sent")
}
