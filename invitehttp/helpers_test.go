package invitehttp_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitehttp"
	"github.com/invitekit/invite/invitetest"
)

// The test hosts' identities: an admin of each tenant, and a signed-in
// user (X-User) who may accept.
const (
	adminAcme  = "Bearer admin-acme"
	adminOther = "Bearer admin-other"
	viewerAcme = "Bearer viewer-acme" // may only read
)

// testAuthorize lets "admin-T" do anything in tenant T and "viewer-T"
// read it; public actions are open to anyone.
func testAuthorize(r *http.Request, tenant string, a invitehttp.Action) error {
	if a.Public() {
		return nil
	}
	who, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || who == "" {
		return invitehttp.ErrUnauthenticated
	}
	switch who {
	case "admin-" + tenant:
		return nil
	case "viewer-" + tenant:
		if a == invitehttp.ActionGet || a == invitehttp.ActionList || a == invitehttp.ActionListUser {
			return nil
		}
	}
	return invitehttp.ErrForbidden
}

// testSubject is the signed-in user: X-User and X-User-Email.
func testSubject(r *http.Request) (invitehttp.Subject, error) {
	id := r.Header.Get("X-User")
	if id == "" {
		return invitehttp.Subject{}, invitehttp.ErrUnauthenticated
	}
	return invitehttp.Subject{ID: id, Email: r.Header.Get("X-User-Email")}, nil
}

type env struct {
	t   *testing.T
	h   *invitetest.Harness
	srv *httptest.Server
}

// newEnv serves the API on loopback over a Manager on memstore; opts
// adjust the handler's Config.
func newEnv(t *testing.T, opts ...func(*invitehttp.Config)) *env {
	t.Helper()
	h := invitetest.NewManager(t, invite.Config{LinkTemplate: "https://app.example/invite?token={{.Token}}"})
	return serve(t, h, h.Manager, opts...)
}

func serve(t *testing.T, h *invitetest.Harness, m *invite.Manager, opts ...func(*invitehttp.Config)) *env {
	t.Helper()
	cfg := invitehttp.Config{Manager: m, Authorize: testAuthorize, Subject: testSubject}
	for _, o := range opts {
		o(&cfg)
	}
	handler, err := invitehttp.New(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return &env{t: t, h: h, srv: srv}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request: body is nil (none), a string (sent as it is) or a
// value (sent as JSON); hdr are header names and values, in pairs. A
// request with a body is application/json unless hdr says otherwise.
func (e *env) do(method, path string, body any, hdr ...string) *resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, rd)
	require.NoError(e.t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.srv.Client().Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return &resp{status: res.StatusCode, header: res.Header, body: b}
}

// admin sends a request as acme's admin.
func (e *env) admin(method, path string, body any, hdr ...string) *resp {
	e.t.Helper()
	return e.do(method, path, body, append([]string{"Authorization", adminAcme}, hdr...)...)
}

// decode decodes the response's JSON into v.
func (r *resp) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), "body: %s", r.body)
}

// problemDoc is a problem response as a client reads it.
type problemDoc struct {
	Type       string `json:"type"`
	Title      string `json:"title"`
	Status     int    `json:"status"`
	Detail     string `json:"detail"`
	ExistingID string `json:"existing_id"`
	Limit      int    `json:"limit"`
	State      string `json:"state"`
	Errors     []struct {
		Pointer   string `json:"pointer"`
		Parameter string `json:"parameter"`
		Code      string `json:"code"`
		Reason    string `json:"reason"`
	} `json:"errors"`
	Invitation *invite.PublicInvitation `json:"invitation"`
}

// problem checks that r is a problem of the status and kind, and returns it.
func (r *resp) problem(t *testing.T, status int, kind string) problemDoc {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	var p problemDoc
	r.decode(t, &p)
	require.Equal(t, invitehttp.DefaultProblemTypeBase+kind, p.Type)
	require.Equal(t, status, p.Status)
	require.NotEmpty(t, p.Title)
	require.NotEmpty(t, p.Detail)
	return p
}

// pointers lists the pointers (or parameters) of a problem's errors.
func (p problemDoc) pointers() []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Pointer+e.Parameter+"="+e.Code)
	}
	return out
}

// createdJSON is a create's response as a client reads it.
type createdJSON struct {
	Invitation    invite.Invitation `json:"invitation"`
	Replayed      bool              `json:"replayed"`
	Created       *bool             `json:"created"`
	DeliveryError string            `json:"delivery_error"`
	Token         string            `json:"token"`
	Code          string            `json:"code"`
	Link          string            `json:"link"`
}

// create creates an invitation for email in acme, returning the secret
// (DeliveryReturn) so that the test can act as the invitee.
func (e *env) create(email string, extra ...map[string]any) createdJSON {
	e.t.Helper()
	body := map[string]any{"invitee": map[string]any{"email": email}, "delivery": "return",
		"roles": []string{"member"}, "inviter": map[string]any{"id": "u-admin", "name": "Grace"}}
	for _, x := range extra {
		for k, v := range x {
			body[k] = v
		}
	}
	r := e.admin("POST", "/tenants/acme/invitations", body)
	require.Equal(e.t, http.StatusCreated, r.status, "body: %s", r.body)
	var c createdJSON
	r.decode(e.t, &c)
	require.NotEmpty(e.t, c.Token)
	return c
}
