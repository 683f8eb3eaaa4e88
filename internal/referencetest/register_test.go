package referencetest

// Reference 004 (004_4dc1d4455b168f3b.txt): an identity platform's admin
// invites a user, who registers and sets their own password.
//
//	POST  /useractions-srv/invitations             {email | mobile_number, given_name, family_name, groups, roles,
//	                                                client_id, initiate_login_uri, invite_template_key, lang
//	                                                (or Accept-Language), customFields, allow_same_email}
//	GET   /useractions-srv/invitations/{inviteId}
//	PATCH /useractions-srv/invitations/{inviteId}  {"state": "reinitiated" | "revoked" | "rejected" | "accepted"}
//	POST  /useractions-srv/graph/invitations       search with filters
//	POST  /useractions-srv/registration?invite_id= registration, which accepts the invitation
//
// The link points to the client's login page with invite_id and
// view_type=register and lives 7 days; states are initiated, reinitiated,
// accepted, revoked, rejected; the webhooks INVITE_USER (sent, re-sent),
// INVITE_ACCEPTED (old and new value) and ACCOUNT_CREATED reach the
// receiver, which here gets them at least once (the reference's are
// best-effort): events go through the Manager's outbox, a Dispatcher and
// invitehook's Sink to a real receiver on loopback that checks every
// signature with invitehook.Verify.
//
// One deliberate difference: the link's invite_id carries the token, the
// capability, not the invitation's id; the admin routes take the id.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitehook"
	"github.com/invitekit/invite/invitehttp"
	"github.com/invitekit/invite/invitetest"
	"github.com/invitekit/invite/memstore"
)

type inviteUserRequest struct {
	Email             string            `json:"email,omitempty"`
	MobileNumber      string            `json:"mobile_number,omitempty"`
	GivenName         string            `json:"given_name,omitempty"`
	FamilyName        string            `json:"family_name,omitempty"`
	Groups            []string          `json:"groups,omitempty"`
	Roles             []string          `json:"roles,omitempty"`
	ClientID          string            `json:"client_id,omitempty"`
	InitiateLoginURI  string            `json:"initiate_login_uri,omitempty"`
	InviteTemplateKey string            `json:"invite_template_key,omitempty"`
	Lang              string            `json:"lang,omitempty"`
	CustomFields      map[string]string `json:"customFields,omitempty"`
	AllowSameEmail    bool              `json:"allow_same_email,omitempty"`
}

// userInvitation is the host's view of an invitation.
type userInvitation struct {
	ID                string            `json:"_id"`
	Email             string            `json:"email,omitempty"`
	MobileNumber      string            `json:"mobile_number,omitempty"`
	GivenName         string            `json:"given_name,omitempty"`
	FamilyName        string            `json:"family_name,omitempty"`
	Groups            []string          `json:"groups,omitempty"`
	Roles             []string          `json:"roles,omitempty"`
	ClientID          string            `json:"client_id,omitempty"`
	InviteTemplateKey string            `json:"invite_template_key,omitempty"`
	Lang              string            `json:"lang,omitempty"`
	CustomFields      map[string]string `json:"customFields,omitempty"`
	AllowSameEmail    bool              `json:"allow_same_email"`
	InvitedBy         string            `json:"invited_by,omitempty"`
	State             string            `json:"state"`
	CreatedTime       time.Time         `json:"createdTime"`
	ExpiresAt         time.Time         `json:"expiresAt"`
	AcceptedTime      *time.Time        `json:"acceptedTime,omitempty"`
	Sub               string            `json:"sub,omitempty"`
}

// userState is the reference's state: open is initiated, or reinitiated
// once re-sent.
func userState(inv *invite.Invitation) string {
	switch inv.State {
	case invite.StatePending, invite.StateSent:
		if inv.ResendCount > 0 {
			return "reinitiated"
		}
		return "initiated"
	}
	return string(inv.State) // accepted, revoked, rejected (and expired)
}

func userInvitationOf(inv *invite.Invitation) userInvitation {
	u := userInvitation{ID: inv.ID, Email: inv.Invitee.Email, MobileNumber: inv.Invitee.Phone, GivenName: inv.GivenName,
		FamilyName: inv.FamilyName, Groups: inv.Groups, Roles: inv.Roles, ClientID: inv.ClientID,
		InviteTemplateKey: inv.TemplateKey, Lang: inv.Locale, CustomFields: inv.Data, AllowSameEmail: inv.RequireEmailMatch,
		InvitedBy: inv.Inviter.Name, State: userState(inv), CreatedTime: inv.CreatedAt, ExpiresAt: inv.ExpiresAt, Sub: inv.AcceptedBy}
	if inv.State == invite.StateAccepted {
		u.AcceptedTime = &inv.ClosedAt
	}
	return u
}

// userResponse is the host's answer: {"success", "status", "data"} or
// {"success": false, "status", "error"}.
type userResponse struct {
	Success bool            `json:"success"`
	Status  int             `json:"status"`
	Data    json.RawMessage `json:"data,omitempty"`
	Total   *int            `json:"total,omitempty"`
	Error   *userError      `json:"error,omitempty"`
}

type userError struct {
	Code   string         `json:"code"`
	Error  string         `json:"error"`
	Errors []problemField `json:"errors,omitempty"`
}

// user is an account of the host.
type user struct {
	Sub          string
	Email        string
	GivenName    string
	FamilyName   string
	CustomFields map[string]string
	Roles        []string
	Groups       []string
}

// registration is a registration under way: the account the Accepted
// hook creates.
type registration struct {
	Sub          string            `json:"sub"`
	GivenName    string            `json:"given_name"`
	FamilyName   string            `json:"family_name"`
	Email        string            `json:"email"`
	MobileNumber string            `json:"mobile_number,omitempty"`
	Password     string            `json:"password,omitempty"`
	CustomFields map[string]string `json:"customFields,omitempty"`
}

type registrationKey struct{}

// registerHost is the host of reference 004: one tenant, acme.
type registerHost struct {
	*host
	m        *invite.Manager
	notifier *invitetest.Notifier
	sink     *invitehook.Sink
	rc       *receiver

	mu    sync.Mutex
	users map[string]*user
}

func newRegisterHost(t *testing.T, rc *receiver) *registerHost {
	t.Helper()
	sink, err := invitehook.New(invitehook.Config{Endpoints: []invitehook.Endpoint{{Name: "crm", URL: rc.URL,
		Secrets: []string{rc.secret},
		Types:   []invite.EventType{invite.EventSent, invite.EventAccepted, eventAccountCreated}}}})
	require.NoError(t, err)
	h := &registerHost{notifier: &invitetest.Notifier{}, sink: sink, rc: rc, users: map[string]*user{}}
	h.m, err = invite.New(memstore.New(), invite.Config{Notifier: h.notifier, EventSink: sink,
		TemplateKeys: []string{"INVITE_USER", "CRM_INVITE"}, LinkTokenParam: "invite_id"})
	require.NoError(t, err)
	d, err := h.m.NewDispatcher(invite.DispatcherConfig{PollInterval: 20 * time.Millisecond,
		Backoff: func(int) time.Duration { return 50 * time.Millisecond }})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	h.host = newHost(t, invitehttp.Config{Manager: h.m, BeforeCreate: h.beforeCreate, Accepted: h.accepted})
	h.handle("POST /useractions-srv/invitations", h.invite)
	h.handle("GET /useractions-srv/invitations/{inviteId}", h.get)
	h.handle("PATCH /useractions-srv/invitations/{inviteId}", h.patch)
	h.handle("POST /useractions-srv/graph/invitations", h.search)
	h.handle("POST /useractions-srv/registration", h.register)
	return h
}

// eventAccountCreated is the host's own webhook type.
const eventAccountCreated invite.EventType = "account.created"

// beforeCreate sets what the admin may not choose: the inviter, from the
// session, and the account's name.
func (h *registerHost) beforeCreate(r *http.Request, in *invite.CreateInput) error {
	if r.Header.Get("Authorization") == "Bearer admin-acme" {
		in.Inviter = invite.Inviter{ID: "u-grace", Name: "Grace Hopper"}
	}
	in.AccountName = "Acme Corp"
	return nil
}

// accepted creates the account of the registration under way (or finds
// the existing user an admin accepted for) and grants it the
// invitation's roles and groups.
//
// It runs after the acceptance has committed, so an account that failed
// to be created here would leave the invitation accepted without one. A
// host whose accounts live in its database closes that window with
// invitehttp.Config.Transact: the acceptance (a Manager on sqlstore's
// WithTx) and this hook run in one transaction of the host's, and a
// failing hook leaves the invitation open (invitehttp's
// TestTransactOnSQLite). This host does not use it: its accounts are a
// map and its invitations are in memstore, which has no transactions to
// join, and its hook does not fail in practice (it adds to the map under
// its lock; the admin's acceptance is only asked for a user the host
// has, and a registration brings its own).
func (h *registerHost) accepted(r *http.Request, acc *invite.Acceptance) error {
	inv := acc.Invitation
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.users[inv.AcceptedBy]
	if !ok {
		reg, _ := r.Context().Value(registrationKey{}).(*registration)
		if reg == nil || reg.Sub != inv.AcceptedBy {
			return invitehttp.ErrForbidden // no such user
		}
		u = &user{Sub: reg.Sub, Email: reg.Email, GivenName: reg.GivenName, FamilyName: reg.FamilyName, CustomFields: reg.CustomFields}
		h.users[u.Sub] = u
	}
	u.Roles = append(u.Roles, inv.Roles...)
	u.Groups = append(u.Groups, inv.Groups...)
	return nil
}

// addUser adds an account.
func (h *registerHost) addUser(u user) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users[u.Sub] = &u
}

// userCount is how many accounts there are.
func (h *registerHost) userCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.users)
}

func (h *registerHost) user(sub string) (user, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.users[sub]
	if !ok {
		return user{}, false
	}
	return *u, true
}

// answer relays the library's reply: a problem as the host's error, an
// invitation (or a result holding one) as the host's view.
func (h *registerHost) answer(w http.ResponseWriter, rep *reply, status int) {
	if rep.isProblem() {
		var p problemDoc
		if err := json.Unmarshal(rep.body, &p); err != nil {
			h.fail(w, err)
			return
		}
		writeJSON(w, p.Status, "", userResponse{Status: p.Status, Error: &userError{Code: p.kind(), Error: p.Detail, Errors: p.Errors}})
		return
	}
	var doc struct {
		invite.Invitation
		Result *invite.Invitation `json:"invitation"`
	}
	if err := json.Unmarshal(rep.body, &doc); err != nil {
		h.fail(w, err)
		return
	}
	inv := &doc.Invitation
	if doc.Result != nil {
		inv = doc.Result
	}
	if status == 0 {
		status = rep.status
	}
	data, err := json.Marshal(userInvitationOf(inv))
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, status, "", userResponse{Success: true, Status: status, Data: data})
}

// refuse answers the host's own error.
func refuse(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, "", userResponse{Status: status, Error: &userError{Code: code, Error: msg}})
}

func (h *registerHost) invite(w http.ResponseWriter, r *http.Request) {
	var req inviteUserRequest
	if err := decodeStrict(w, r, &req); err != nil {
		refuse(w, http.StatusBadRequest, "malformed-request", "the body must be an invitation request")
		return
	}
	login, err := url.Parse(req.InitiateLoginURI)
	if req.InitiateLoginURI == "" || err != nil {
		refuse(w, http.StatusBadRequest, "validation", "initiate_login_uri is required: the client's login page")
		return
	}
	// The link: the client's login page, with view_type=register here
	// and the token as invite_id (Config.LinkTokenParam).
	q := login.Query()
	q.Set("view_type", "register")
	login.RawQuery = q.Encode()
	lang := req.Lang
	if lang == "" {
		lang, _, _ = strings.Cut(r.Header.Get("Accept-Language"), ",")
		lang, _, _ = strings.Cut(lang, ";")
		lang = strings.TrimSpace(lang)
	}
	in := invite.CreateInput{Invitee: invite.Invitee{Email: req.Email, Phone: req.MobileNumber},
		GivenName: req.GivenName, FamilyName: req.FamilyName, Groups: req.Groups, Roles: req.Roles,
		ClientID: req.ClientID, RedirectURI: login.String(), TemplateKey: req.InviteTemplateKey, Locale: lang,
		Data: req.CustomFields, RequireEmailMatch: req.AllowSameEmail}
	rep, err := h.call(r, "POST", "/tenants/acme/invitations", in)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.answer(w, rep, 0)
}

func (h *registerHost) get(w http.ResponseWriter, r *http.Request) {
	rep, err := h.call(r, "GET", "/tenants/acme/invitations/"+url.PathEscape(r.PathValue("inviteId")), nil)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.answer(w, rep, 0)
}

func (h *registerHost) patch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		State  string `json:"state"`
		Sub    string `json:"sub,omitempty"`
		Reason string `json:"reason,omitempty"`
	}
	if err := decodeStrict(w, r, &req); err != nil {
		refuse(w, http.StatusBadRequest, "malformed-request", "the body must be {\"state\"}")
		return
	}
	var body map[string]any
	switch req.State {
	case "reinitiated":
		body = map[string]any{"resend": map[string]any{}}
	case "revoked", "rejected":
		body = map[string]any{"state": req.State}
		if req.Reason != "" {
			body["reason"] = req.Reason
		}
	case "accepted": // for an existing user
		if _, ok := h.user(req.Sub); !ok {
			refuse(w, http.StatusNotFound, "not-found", "sub names no user")
			return
		}
		body = map[string]any{"state": "accepted", "subject": req.Sub}
	default:
		refuse(w, http.StatusBadRequest, "validation", "state must be reinitiated, revoked, rejected or accepted")
		return
	}
	rep, err := h.call(r, "PATCH", "/tenants/acme/invitations/"+url.PathEscape(r.PathValue("inviteId")), body)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.answer(w, rep, 0)
}

// search finds invitations with the reference's filters.
func (h *registerHost) search(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Email    string `json:"email,omitempty"`
		ClientID string `json:"client_id,omitempty"`
		Group    string `json:"group,omitempty"`
		Role     string `json:"role,omitempty"`
		State    string `json:"state,omitempty"`
		Search   string `json:"search,omitempty"`
	}
	if err := decodeStrict(w, r, &req); err != nil {
		refuse(w, http.StatusBadRequest, "malformed-request", "the body must be a search")
		return
	}
	q := url.Values{"include_expired": {"true"}}
	for name, v := range map[string]string{"email": req.Email, "client_id": req.ClientID, "group": req.Group, "role": req.Role, "search": req.Search} {
		if v != "" {
			q.Set(name, v)
		}
	}
	switch req.State {
	case "":
	case "initiated":
		q.Set("open", "true")
		q.Set("resent", "false")
	case "reinitiated":
		q.Set("open", "true")
		q.Set("resent", "true")
	case "accepted", "revoked", "rejected", "expired":
		q.Set("states", req.State)
	default: // pending and sent are the library's names, not the reference's
		refuse(w, http.StatusBadRequest, "validation", "state must be initiated, reinitiated, accepted, revoked, rejected or expired")
		return
	}
	rep, err := h.call(r, "GET", "/tenants/acme/invitations?"+q.Encode(), nil)
	if err != nil {
		h.fail(w, err)
		return
	}
	if rep.isProblem() {
		h.answer(w, rep, 0)
		return
	}
	var page struct {
		Invitations []invite.Invitation `json:"invitations"`
	}
	if err := json.Unmarshal(rep.body, &page); err != nil {
		h.fail(w, err)
		return
	}
	out := make([]userInvitation, 0, len(page.Invitations))
	for i := range page.Invitations {
		out = append(out, userInvitationOf(&page.Invitations[i]))
	}
	data, err := json.Marshal(out)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, "", userResponse{Success: true, Status: http.StatusOK, Data: data})
}

// register creates the account of a registration with an invitation:
// the invitation is accepted as the new user, whose account the
// Accepted hook creates with the invitation's grants, and the host
// sends its account-created webhook.
func (h *registerHost) register(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("invite_id")
	if token == "" {
		token = r.Header.Get("invite_id")
	}
	var reg registration
	if err := decodeStrict(w, r, &reg); err != nil {
		refuse(w, http.StatusBadRequest, "malformed-request", "the body must be a registration")
		return
	}
	if token == "" || reg.Password == "" || reg.Email == "" {
		refuse(w, http.StatusBadRequest, "validation", "invite_id, email and password are required")
		return
	}
	reg.Sub = uuid.NewString()
	// The new user is signed in for the acceptance: their email is the
	// one they register with.
	ctx := withSubject(context.WithValue(r.Context(), registrationKey{}, &reg), invitehttp.Subject{ID: reg.Sub, Email: reg.Email})
	rep, err := h.call(r.WithContext(ctx), "POST", "/public/invitations/"+url.PathEscape(token)+"/accept", nil)
	if err != nil {
		h.fail(w, err)
		return
	}
	if rep.isProblem() {
		h.answer(w, rep, 0)
		return
	}
	// GAP: the host's own webhook is not backed by the outbox: Send is
	// one attempt, and its retry (same id) is the host's to run.
	reg.Password = ""
	wh, err := invitehook.NewWebhook("account-created-"+reg.Sub, eventAccountCreated, time.Now(),
		map[string]any{"provider": "self", "requestId": reg.Sub, "sub": reg.Sub, "newValue": reg})
	if err == nil {
		err = h.sink.Send(r.Context(), wh)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	u, _ := h.user(reg.Sub)
	data, err := json.Marshal(map[string]any{"sub": u.Sub, "email": u.Email, "roles": u.Roles, "groups": u.Groups})
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, "", userResponse{Success: true, Status: http.StatusCreated, Data: data})
}

// receiver is the webhook receiver: it verifies every request, answers
// 503 to the very first (failFirst), and keeps the first delivery of each
// webhook-id.
type receiver struct {
	*httptest.Server
	secret    string
	failFirst bool

	mu       sync.Mutex
	attempts map[string]int
	got      []received
}

type received struct {
	ID   string
	Type invite.EventType
	Body []byte
}

func newReceiver(t *testing.T, failFirst bool) *receiver {
	t.Helper()
	rc := &receiver{secret: invitehook.NewSecret(), failFirst: failFirst, attempts: map[string]int{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err == nil {
			err = invitehook.Verify(r.Header, body, rc.secret)
		}
		if err != nil {
			http.Error(w, "invalid webhook", http.StatusUnauthorized)
			return
		}
		id := r.Header.Get(invitehook.HeaderID)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.attempts[id]++
		if rc.failFirst && len(rc.attempts) == 1 && rc.attempts[id] == 1 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		if slices.ContainsFunc(rc.got, func(g received) bool { return g.ID == id }) {
			return // a retry of one handled
		}
		var head struct {
			Type invite.EventType `json:"type"`
		}
		if err := json.Unmarshal(body, &head); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		rc.got = append(rc.got, received{ID: id, Type: head.Type, Body: body})
	}))
	t.Cleanup(rc.Close)
	return rc
}

// received returns the webhooks received so far.
func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// attemptsOf is how many times the webhook id was posted.
func (rc *receiver) attemptsOf(id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.attempts[id]
}

// await waits until the receiver holds n webhooks and returns them.
func (rc *receiver) await(t *testing.T, n int) []received {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Len(c, rc.received(), n)
	}, 10*time.Second, 10*time.Millisecond)
	return rc.received()
}

// event decodes a received invitation event.
func (r received) event(t *testing.T) invite.Event {
	t.Helper()
	var ev invite.Event
	require.NoError(t, json.Unmarshal(r.Body, &ev))
	return ev
}

// fact is the reference's name of a webhook.
func fact(typ invite.EventType) string {
	return map[invite.EventType]string{invite.EventSent: "INVITE_USER", invite.EventAccepted: "INVITE_ACCEPTED",
		eventAccountCreated: "ACCOUNT_CREATED_WITH_CIDAAS_IDENTITY"}[typ]
}

func facts(rs []received) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fact(r.Type))
	}
	return out
}

// The whole flow: the admin invites (template key, language from
// Accept-Language, custom fields, groups and roles, bound to the email),
// the message names the invitee, the inviter and the account and links
// to the client's login page for 7 days; a resend; the registration page
// is pre-filled; a registration with another email is refused and
// creates nothing; the right one creates the account with the grants and
// accepts; the receiver gets INVITE_USER twice (the first after a 503),
// INVITE_ACCEPTED with old and new value, and ACCOUNT_CREATED.
func TestInviteAndRegister(t *testing.T) {
	rc := newReceiver(t, true)
	h := newRegisterHost(t, rc)
	admin := h.client("Authorization", "Bearer admin-acme")

	var res userResponse
	admin.do("POST", "/useractions-srv/invitations", inviteUserRequest{Email: "ada@example.com", GivenName: "Ada",
		FamilyName: "Lovelace", Groups: []string{"engineering"}, Roles: []string{"developer"}, ClientID: "crm",
		InitiateLoginURI: "https://crm.example/login", InviteTemplateKey: "CRM_INVITE",
		CustomFields: map[string]string{"department": "R&D"}, AllowSameEmail: true},
		"Accept-Language", "de-DE,de;q=0.9,en;q=0.8").expect(t, http.StatusCreated, &res)
	require.True(t, res.Success)
	var inv userInvitation
	require.NoError(t, json.Unmarshal(res.Data, &inv))
	require.Equal(t, "initiated", inv.State)
	require.Equal(t, "de-DE", inv.Lang)
	require.Equal(t, "Grace Hopper", inv.InvitedBy)
	require.Equal(t, 7*24*time.Hour, inv.ExpiresAt.Sub(inv.CreatedTime), "the link lives 7 days")

	msg, ok := h.notifier.Last("ada@example.com")
	require.True(t, ok)
	require.Equal(t, invite.ChannelEmail, msg.Channel)
	require.Equal(t, "CRM_INVITE", msg.TemplateKey)
	require.Equal(t, "de-DE", msg.Locale)
	vars := msg.Vars.Map()
	require.Equal(t, "Ada Lovelace", vars["name"])
	require.Equal(t, "Grace Hopper", vars["invited_by"])
	require.Equal(t, "Acme Corp", vars["account_name"])
	link, err := url.Parse(vars["invite_link"])
	require.NoError(t, err)
	require.Equal(t, "https://crm.example/login", link.Scheme+"://"+link.Host+link.Path)
	require.Equal(t, "register", link.Query().Get("view_type"))
	first := link.Query().Get("invite_id")
	require.NotEmpty(t, first)

	// INVITE_USER, delivered at the second attempt.
	got := rc.await(t, 1)
	require.Equal(t, []string{"INVITE_USER"}, facts(got))
	require.Equal(t, inv.ID, got[0].event(t).InvitationID)
	require.Equal(t, 2, rc.attemptsOf(got[0].ID), "refused once with 503, then delivered")

	// Resend: reinitiated, a new link, a second INVITE_USER.
	admin.do("PATCH", "/useractions-srv/invitations/"+inv.ID, `{"state":"reinitiated"}`).expect(t, http.StatusOK, &res)
	require.NoError(t, json.Unmarshal(res.Data, &inv))
	require.Equal(t, "reinitiated", inv.State)
	msg, _ = h.notifier.Last("ada@example.com")
	require.True(t, msg.Resend)
	token := msg.Param("invite_id")
	require.NotEqual(t, first, token)
	got = rc.await(t, 2)
	require.Equal(t, []string{"INVITE_USER", "INVITE_USER"}, facts(got))
	require.Equal(t, 1, got[1].event(t).New.ResendCount, "a re-send")
	h.client().do("GET", "/api/invite/public/invitations/"+first, nil).expect(t, http.StatusNotFound, nil)

	// The registration page, pre-filled.
	var view invite.PublicInvitation
	h.client().do("GET", "/api/invite/public/invitations/"+token, nil).expect(t, http.StatusOK, &view)
	require.Equal(t, invite.PublicInvitation{TenantID: "acme", AccountName: "Acme Corp", InviterName: "Grace Hopper",
		Email: "ada@example.com", GivenName: "Ada", FamilyName: "Lovelace", Roles: []string{"developer"},
		Groups: []string{"engineering"}, Data: map[string]string{"department": "R&D"}, Locale: "de-DE",
		RequireEmailMatch: true, State: invite.StateSent, ExpiresAt: inv.ExpiresAt}, view)

	// Another email: refused, no account, the invitation still open.
	reg := registration{GivenName: "Ada", FamilyName: "Lovelace", Email: "ada@elsewhere.example", Password: "correct horse"}
	h.client().do("POST", "/useractions-srv/registration?invite_id="+url.QueryEscape(token), reg).expect(t, http.StatusForbidden, &res)
	require.Equal(t, "email-mismatch", res.Error.Code)
	require.Zero(t, h.userCount())
	admin.do("GET", "/useractions-srv/invitations/"+inv.ID, nil).expect(t, http.StatusOK, &res)
	require.NoError(t, json.Unmarshal(res.Data, &inv))
	require.Equal(t, "reinitiated", inv.State)

	// The invited email, with invite_id in the header: the account.
	reg.Email = "ada@example.com"
	h.client().do("POST", "/useractions-srv/registration", reg, "invite_id", token).expect(t, http.StatusCreated, &res)
	var account struct {
		Sub    string   `json:"sub"`
		Roles  []string `json:"roles"`
		Groups []string `json:"groups"`
	}
	require.NoError(t, json.Unmarshal(res.Data, &account))
	u, ok := h.user(account.Sub)
	require.True(t, ok)
	require.Equal(t, user{Sub: account.Sub, Email: "ada@example.com", GivenName: "Ada", FamilyName: "Lovelace",
		Roles: []string{"developer"}, Groups: []string{"engineering"}}, u)
	admin.do("GET", "/useractions-srv/invitations/"+inv.ID, nil).expect(t, http.StatusOK, &res)
	require.NoError(t, json.Unmarshal(res.Data, &inv))
	require.Equal(t, "accepted", inv.State)
	require.Equal(t, account.Sub, inv.Sub)
	require.NotNil(t, inv.AcceptedTime)

	got = rc.await(t, 4)
	require.ElementsMatch(t, []string{"INVITE_USER", "INVITE_USER", "INVITE_ACCEPTED", "ACCOUNT_CREATED_WITH_CIDAAS_IDENTITY"}, facts(got))
	for _, g := range got[2:] {
		switch g.Type {
		case invite.EventAccepted:
			ev := g.event(t)
			require.Equal(t, inv.ID, ev.InvitationID)
			require.Equal(t, invite.StateSent, ev.Old.State, "the old value")
			require.Equal(t, invite.StateAccepted, ev.New.State, "the new value")
			require.Equal(t, account.Sub, ev.New.AcceptedBy, "the sub")
		case eventAccountCreated:
			var wh struct {
				ID   string `json:"id"`
				Data struct {
					Provider, RequestID, Sub string
					NewValue                 map[string]any `json:"newValue"`
				} `json:"data"`
			}
			require.NoError(t, json.Unmarshal(g.Body, &wh))
			require.Equal(t, g.ID, wh.ID)
			require.Equal(t, account.Sub, wh.Data.Sub)
			require.Equal(t, "ada@example.com", wh.Data.NewValue["email"])
			require.NotContains(t, string(g.Body), "correct horse", "never the password")
		}
		require.NotContains(t, string(g.Body), token)
	}

	// The link is used up; a search finds the accepted invitation.
	h.client().do("POST", "/useractions-srv/registration?invite_id="+url.QueryEscape(token), reg).expect(t, http.StatusGone, &res)
	require.Equal(t, "already-accepted", res.Error.Code)
	admin.do("POST", "/useractions-srv/graph/invitations", `{"client_id":"crm","group":"engineering","state":"accepted"}`).
		expect(t, http.StatusOK, &res)
	var found []userInvitation
	require.NoError(t, json.Unmarshal(res.Data, &found))
	require.Len(t, found, 1)
	require.Equal(t, inv.ID, found[0].ID)

	// A webhook signed with another secret is refused.
	body := []byte(`{"type":"invitation.accepted"}`)
	sig, err := invitehook.Sign("forged", time.Now(), body, invitehook.NewSecret())
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(t.Context(), "POST", rc.URL, strings.NewReader(string(body)))
	require.NoError(t, err)
	req.Header.Set(invitehook.HeaderID, "forged")
	req.Header.Set(invitehook.HeaderTimestamp, strconv.FormatInt(time.Now().Unix(), 10))
	req.Header.Set(invitehook.HeaderSignature, sig)
	resp, err := rc.Client().Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

// The admin's state changes and the invitee's decline, by mobile number
// and email; the template key must exist; search by state.
func TestInviteAndRegisterStateChanges(t *testing.T) {
	rc := newReceiver(t, false)
	h := newRegisterHost(t, rc)
	admin := h.client("Authorization", "Bearer admin-acme")
	create := func(req inviteUserRequest) userInvitation {
		t.Helper()
		req.InitiateLoginURI = "https://crm.example/login"
		var res userResponse
		admin.do("POST", "/useractions-srv/invitations", req).expect(t, http.StatusCreated, &res)
		var inv userInvitation
		require.NoError(t, json.Unmarshal(res.Data, &inv))
		return inv
	}
	state := func(id, body string, status int) userResponse {
		t.Helper()
		var res userResponse
		admin.do("PATCH", "/useractions-srv/invitations/"+id, body).expect(t, status, &res)
		return res
	}
	bob := create(inviteUserRequest{MobileNumber: "+49 151 23456789", GivenName: "Bob", Lang: "en"})
	msg, ok := h.notifier.Last("+4915123456789")
	require.True(t, ok)
	require.Equal(t, invite.ChannelSMS, msg.Channel)
	require.Equal(t, "INVITE_USER", msg.TemplateKey, "the default template key")
	carol := create(inviteUserRequest{Email: "carol@example.com"})
	dave := create(inviteUserRequest{Email: "dave@example.com"})
	erin := create(inviteUserRequest{Email: "erin@example.com", Roles: []string{"viewer"}})
	state(dave.ID, `{"state":"reinitiated"}`, http.StatusOK)

	for _, tc := range []struct {
		name, state string
		want        []string // the emails or numbers found
	}{
		{"initiated", "initiated", []string{"+4915123456789", "carol@example.com", "erin@example.com"}},
		{"reinitiated", "reinitiated", []string{"dave@example.com"}},
		{"every state", "", []string{"+4915123456789", "carol@example.com", "dave@example.com", "erin@example.com"}},
	} {
		t.Run("search "+tc.name, func(t *testing.T) {
			var res userResponse
			admin.do("POST", "/useractions-srv/graph/invitations", map[string]string{"state": tc.state}).expect(t, http.StatusOK, &res)
			var found []userInvitation
			require.NoError(t, json.Unmarshal(res.Data, &found))
			var who []string
			for _, f := range found {
				who = append(who, f.Email+f.MobileNumber)
			}
			require.Equal(t, tc.want, who)
		})
	}

	// Revoked by the admin: no resend, and a new invitation may follow.
	res := state(bob.ID, `{"state":"revoked","reason":"wrong person"}`, http.StatusOK)
	var inv userInvitation
	require.NoError(t, json.Unmarshal(res.Data, &inv))
	require.Equal(t, "revoked", inv.State)
	require.Equal(t, "revoked", state(bob.ID, `{"state":"reinitiated"}`, http.StatusGone).Error.Code)
	require.Equal(t, "initiated", create(inviteUserRequest{MobileNumber: "+4915123456789"}).State)

	// Rejected by the user, on the invitee's page.
	msg, _ = h.notifier.Last("carol@example.com")
	var view invite.PublicInvitation
	h.client().do("POST", "/api/invite/public/invitations/"+msg.Param("invite_id")+"/reject", `{"reason":"not interested"}`).
		expect(t, http.StatusOK, &view)
	require.Equal(t, invite.StateRejected, view.State)
	admin.do("GET", "/useractions-srv/invitations/"+carol.ID, nil).expect(t, http.StatusOK, &res)
	require.NoError(t, json.Unmarshal(res.Data, &inv))
	require.Equal(t, "rejected", inv.State)

	// Rejected for the user by the admin; an admin may not accept it then.
	require.NoError(t, json.Unmarshal(state(dave.ID, `{"state":"rejected"}`, http.StatusOK).Data, &inv))
	require.Equal(t, "rejected", inv.State)
	h.addUser(user{Sub: "u-dave", Email: "dave@example.com"})
	require.Equal(t, "invalid-transition", state(dave.ID, `{"state":"accepted","sub":"u-dave"}`, http.StatusConflict).Error.Code)

	// Accepted by the admin for an existing user, who gets the roles.
	require.Equal(t, "not-found", state(erin.ID, `{"state":"accepted","sub":"u-erin"}`, http.StatusNotFound).Error.Code)
	h.addUser(user{Sub: "u-erin", Email: "erin@example.com"})
	require.NoError(t, json.Unmarshal(state(erin.ID, `{"state":"accepted","sub":"u-erin"}`, http.StatusOK).Data, &inv))
	require.Equal(t, "accepted", inv.State)
	require.Equal(t, "u-erin", inv.Sub)
	u, _ := h.user("u-erin")
	require.Equal(t, []string{"viewer"}, u.Roles)
	require.Equal(t, "validation", state(carol.ID, `{"state":"nonsense"}`, http.StatusBadRequest).Error.Code)

	// INVITE_USER for bob, carol, dave, erin, dave again and bob's second
	// invitation; INVITE_ACCEPTED for erin, by the admin. Revoking and
	// rejecting send nothing the receiver subscribed to.
	got := rc.await(t, 7)
	require.ElementsMatch(t, []string{"INVITE_USER", "INVITE_USER", "INVITE_USER", "INVITE_USER", "INVITE_USER", "INVITE_USER",
		"INVITE_ACCEPTED"}, facts(got))
	for _, g := range got {
		if g.Type == invite.EventAccepted {
			ev := g.event(t)
			require.Equal(t, erin.ID, ev.InvitationID)
			require.Equal(t, invite.ActorAdmin, ev.Actor.Kind)
			require.Equal(t, "u-erin", ev.New.AcceptedBy)
		}
	}

	// Errors of the request.
	for _, tc := range []struct {
		name   string
		req    inviteUserRequest
		status int
		at     []string
	}{
		{"an unknown template key", inviteUserRequest{Email: "x@example.com", InviteTemplateKey: "NOPE"}, 422, []string{"/template_key=unknown"}},
		{"neither email nor mobile number", inviteUserRequest{GivenName: "X"}, 422, []string{"/invitee=no_delivery_channel"}},
		{"allow_same_email without an email", inviteUserRequest{MobileNumber: "+4915199999999", AllowSameEmail: true}, 422,
			[]string{"/require_email_match=required"}},
		{"an unknown language", inviteUserRequest{Email: "y@example.com", Lang: "not a language"}, 422, []string{"/locale=invalid_format"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.InitiateLoginURI = "https://crm.example/login"
			var res userResponse
			admin.do("POST", "/useractions-srv/invitations", tc.req).expect(t, tc.status, &res)
			require.False(t, res.Success)
			require.Equal(t, "validation", res.Error.Code)
			require.Equal(t, tc.at, problemDoc{Errors: res.Error.Errors}.at())
		})
	}
}
