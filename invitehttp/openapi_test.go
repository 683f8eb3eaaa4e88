package invitehttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitehttp"
	"github.com/invitekit/invite/invitetest"
)

// contract drives a handler with real requests and checks each request
// and each response against the OpenAPI document the handler serves.
type contract struct {
	t      *testing.T
	srv    *httptest.Server
	base   string // the mount path, "" at the root
	doc    *openapi3.T
	router routers.Router
	// covered records the statuses seen per operation.
	covered map[string]map[int]bool
}

// loadContract fetches the handler's document, validates it as it is
// served, and loads it for the checks with every object schema that does
// not say otherwise closed (additionalProperties: false): the published
// document lets responses grow members, the test does not, so a member the
// document does not describe fails it.
func loadContract(t *testing.T, srv *httptest.Server, base string) *contract {
	t.Helper()
	res, err := srv.Client().Get(srv.URL + base + "/openapi.json")
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "body: %s", body)
	require.Equal(t, "application/vnd.oai.openapi+json;version=3.1", res.Header.Get("Content-Type"))

	ctx := t.Context()
	served, err := openapi3.NewLoader().LoadFromData(body)
	require.NoError(t, err)
	require.True(t, served.IsOpenAPI31OrLater() && !served.IsOpenAPI32OrLater(), "an OpenAPI 3.1 document")
	require.NoError(t, served.Validate(ctx))
	mount := base
	if mount == "" {
		mount = "/"
	}
	require.Len(t, served.Servers, 1)
	require.Equal(t, mount, served.Servers[0].URL, "servers names where the handler is mounted")

	var raw map[string]any
	require.NoError(t, json.Unmarshal(body, &raw))
	closeObjects(raw)
	closed, err := json.Marshal(raw)
	require.NoError(t, err)
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(closed)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(ctx))
	// The router matches the server's path against the request's URL.
	doc.Servers = openapi3.Servers{{URL: srv.URL + base}}
	router, err := gorillamux.NewRouter(doc)
	require.NoError(t, err)
	return &contract{t: t, srv: srv, base: base, doc: doc, router: router, covered: map[string]map[int]bool{}}
}

// closeObjects sets additionalProperties: false on every schema with
// properties that leaves it unsaid.
func closeObjects(v any) {
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["properties"]; ok {
			if _, ok := v["additionalProperties"]; !ok {
				v["additionalProperties"] = false
			}
		}
		for _, x := range v {
			closeObjects(x)
		}
	case []any:
		for _, x := range v {
			closeObjects(x)
		}
	}
}

// valid and invalid say whether the document allows a request: the
// handler's answer to one it does not allow is still checked.
const (
	valid   = true
	invalid = false
)

// call sends a request (body as in env.do; hdr in pairs) to a documented
// operation, checks the request against the document (wantValid says
// whether it conforms), and the response, which must be one the document
// describes for that operation: its status, headers and body.
func (c *contract) call(wantValid bool, method, path string, body any, hdr ...string) *resp {
	c.t.Helper()
	t := c.t
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		b, err = json.Marshal(v)
		require.NoError(t, err)
	}
	build := func() *http.Request {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(t.Context(), method, c.srv.URL+c.base+path, rd)
		require.NoError(t, err)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		return req
	}

	vreq := build()
	route, params, err := c.router.FindRoute(vreq)
	require.NoError(t, err, "%s %s is not an operation of the document", method, path)
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true}}
	err = openapi3filter.ValidateRequest(t.Context(), in)
	if wantValid {
		require.NoError(t, err, "%s %s: the request does not conform", method, path)
	} else {
		require.Error(t, err, "%s %s: the document allows a request meant not to conform", method, path)
	}

	res, err := c.srv.Client().Do(build())
	require.NoError(t, err)
	rb, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	out := &resp{status: res.StatusCode, header: res.Header, body: rb}
	c.checkResponse(in, out)
	op := route.Operation.OperationID
	if c.covered[op] == nil {
		c.covered[op] = map[int]bool{}
	}
	c.covered[op][out.status] = true
	return out
}

// checkResponse validates r as the response to the request of in.
func (c *contract) checkResponse(in *openapi3filter.RequestValidationInput, r *resp) {
	c.t.Helper()
	require.NoError(c.t, c.validateResponse(in, r), "%s %s answered %d, which the document does not describe: %s",
		in.Request.Method, in.Request.URL.Path, r.status, r.body)
}

func (c *contract) validateResponse(in *openapi3filter.RequestValidationInput, r *resp) error {
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: r.status, Header: r.header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	out.SetBodyBytes(r.body)
	return openapi3filter.ValidateResponse(c.t.Context(), out)
}

// unrouted sends a request that matches no operation of the document (an
// unknown path, a method a path does not take) and checks that the
// handler answers it with a problem of the document's Problem schema.
func (c *contract) unrouted(method, path string, status int) *resp {
	c.t.Helper()
	t := c.t
	req, err := http.NewRequestWithContext(t.Context(), method, c.srv.URL+c.base+path, nil)
	require.NoError(t, err)
	_, _, err = c.router.FindRoute(req)
	require.Error(t, err, "%s %s is an operation of the document", method, path)
	res, err := c.srv.Client().Do(req)
	require.NoError(t, err)
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Equal(t, status, res.StatusCode, "body: %s", b)
	require.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
	require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	var v any
	require.NoError(t, json.Unmarshal(b, &v))
	require.NoError(t, c.doc.Components.Schemas["Problem"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020()))
	return &resp{status: res.StatusCode, header: res.Header, body: b}
}

// decoded is a JSON response as a generic value, for the few members the
// test reads.
func decoded(t *testing.T, r *resp) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, _ := v.(map[string]any)
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

// storeWithoutExtras hides the Counter and Outbox of the store it wraps.
type storeWithoutExtras struct{ invite.Store }

// The document describes every route of the handler: the test sends real
// requests to each, succeeding and failing, and checks each request and
// response against it.
func TestOpenAPIContract(t *testing.T) {
	h := invitetest.NewManager(t, invite.Config{LinkTemplate: "https://app.example/invite?token={{.Token}}"})
	dead, err := h.NewDispatcher(invite.DispatcherConfig{MaxAttempts: 1, Concurrency: 1})
	require.NoError(t, err)
	var limited atomic.Bool
	handler, err := invitehttp.New(invitehttp.Config{
		Manager: h.Manager, Authorize: testAuthorize, Subject: testSubject, Logger: slog.New(slog.DiscardHandler),
		BeforeCreate: func(r *http.Request, in *invite.CreateInput) error {
			switch in.Invitee.Email {
			case "crash@example.com":
				return errors.New("the host's hook failed")
			case "slow@example.com":
				return context.DeadlineExceeded
			}
			return nil
		},
		RateLimit: func(*http.Request, invitehttp.Action, string) (time.Duration, bool) {
			return 3 * time.Second, !limited.Load()
		},
	})
	require.NoError(t, err)
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	c := loadContract(t, srv, "")
	auth := []string{"Authorization", adminAcme}
	admin := func(wantValid bool, method, path string, body any, hdr ...string) *resp {
		t.Helper()
		return c.call(wantValid, method, path, body, append(append([]string{}, auth...), hdr...)...)
	}
	must := func(r *resp, status int) *resp {
		t.Helper()
		require.Equal(t, status, r.status, "body: %s", r.body)
		return r
	}

	// The document itself, and its revalidation.
	r := must(c.call(valid, "GET", "/openapi.json", nil), 200)
	require.Equal(t, "no-cache", r.header.Get("Cache-Control"))
	must(c.call(valid, "GET", "/openapi.json", nil, "If-None-Match", r.header.Get("ETag")), 304)

	// Create: returned (with a code), sent through the notifier, replayed.
	r = must(admin(valid, "POST", "/tenants/acme/invitations", map[string]any{
		"invitee": map[string]any{"email": "ada@example.com", "user_id": "user-7"}, "given_name": "Ada",
		"inviter": map[string]any{"id": "u-admin", "name": "Grace"}, "roles": []string{"member"},
		"data": map[string]string{"plan": "pro"}, "form_data": map[string]any{"profile": map[string]string{"title": "Dr"}},
		"metadata": map[string]any{"crm": 7}, "delivery": "return", "with_code": true, "expires_in_days": 7}), 201)
	ada := decoded(t, r)
	adaID, adaToken, adaCode := str(ada, "invitation", "id"), str(ada, "token"), str(ada, "code")
	require.NotEmpty(t, adaToken)
	require.NotEmpty(t, adaCode)
	require.Equal(t, "invitations/"+adaID, r.header.Get("Location"))

	must(admin(valid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "bob@example.com"},
		"require_email_match": true}), 201)
	msg, ok := h.Notifier.Last("bob@example.com")
	require.True(t, ok, "sent through the notifier")
	bobToken := msg.Param("token")
	require.NotEmpty(t, bobToken)

	h.Notifier.Fail(errors.New("smtp down"))
	r = must(admin(valid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "cy@example.com"}}), 201)
	require.Equal(t, "delivery failed", str(decoded(t, r), "delivery_error"))
	h.Notifier.Fail(nil)

	idem := map[string]any{"invitee": map[string]any{"email": "dee@example.com"}, "delivery": "return"}
	must(admin(valid, "POST", "/tenants/acme/invitations", idem, "Idempotency-Key", "k-1"), 201)
	r = must(admin(valid, "POST", "/tenants/acme/invitations", idem, "Idempotency-Key", "k-1"), 200)
	require.Equal(t, true, decoded(t, r)["replayed"])
	must(admin(valid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "eve@example.com"}},
		"Idempotency-Key", "k-1"), 422)
	r = must(admin(valid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "ada@example.com"}}), 409)
	require.Equal(t, adaID, str(decoded(t, r), "existing_id"))
	must(admin(valid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "not an email"}}), 422)
	must(admin(invalid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "x@example.com"}, "colour": "red"}), 400)
	must(admin(invalid, "POST", "/tenants/acme/invitations", `{"invitee": `), 400)
	must(admin(invalid, "POST", "/tenants/acme/invitations", "invitee=x", "Content-Type", "text/plain"), 415)
	must(admin(valid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "big@example.com"},
		"given_name": strings.Repeat("x", 1<<20)}), 413)
	must(c.call(valid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "x@example.com"}}), 401)
	must(c.call(valid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "x@example.com"}},
		"Authorization", viewerAcme), 403)
	must(admin(valid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "crash@example.com"}}), 500)
	r = must(admin(valid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "slow@example.com"}}), 503)
	require.Equal(t, "1", r.header.Get("Retry-After"))

	// A batch: one item created, one refused.
	r = must(admin(valid, "POST", "/tenants/acme/invitations/batch", map[string]any{"invitations": []any{
		map[string]any{"invitee": map[string]any{"email": "fay@example.com"}, "delivery": "return"},
		map[string]any{"invitee": map[string]any{"email": "bad"}},
	}}), 200)
	require.Contains(t, string(r.body), `"status":201`)
	require.Contains(t, string(r.body), `"status":422`)
	must(admin(valid, "POST", "/tenants/acme/invitations/batch", map[string]any{"invitations": []any{}}, "Idempotency-Key", "k"), 400)
	must(admin(invalid, "POST", "/tenants/acme/invitations/batch", map[string]any{"items": []any{}}), 400)
	must(c.call(valid, "POST", "/tenants/acme/invitations/batch", map[string]any{"invitations": []any{}}, "Authorization", viewerAcme), 403)

	// Create or update.
	upsert := map[string]any{"invitee": map[string]any{"email": "gus@example.com"}, "given_name": "Gus", "delivery": "return"}
	r = must(admin(valid, "PUT", "/tenants/acme/invitations", upsert), 201)
	require.Equal(t, true, decoded(t, r)["created"])
	upsert["given_name"] = "Augustus"
	r = must(admin(valid, "PUT", "/tenants/acme/invitations", upsert), 200)
	require.Equal(t, false, decoded(t, r)["created"])
	must(admin(invalid, "PUT", "/tenants/acme/invitations", map[string]any{"invitee": "gus"}), 400)
	must(admin(valid, "PUT", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{}}), 422)

	// Lists.
	r = must(admin(valid, "GET", "/tenants/acme/invitations?states=pending,sent&total=true&limit=2&descending=true", nil), 200)
	page := decoded(t, r)
	require.NotEmpty(t, page["next_cursor"])
	require.NotNil(t, page["total"])
	must(admin(valid, "GET", "/tenants/acme/invitations?cursor="+str(page, "next_cursor")+"&limit=2&descending=true&states=pending,sent", nil), 200)
	must(admin(valid, "GET", "/tenants/acme/invitations?skip=1&count=2&search=ada&include_expired=true&created_from=2020-01-01T00:00:00Z", nil), 200)
	must(admin(valid, "GET", "/tenants/acme/invitations?resent=false&open=true&total=true", nil), 200)
	must(admin(invalid, "GET", "/tenants/acme/invitations?resent=maybe", nil), 400)
	must(admin(valid, "GET", "/tenants/acme/users/user-7/invitations?resent=true", nil), 200)
	must(admin(invalid, "GET", "/tenants/acme/users/user-7/invitations?resent=maybe", nil), 400)
	must(admin(valid, "GET", "/tenants/acme/invitations?page=2", nil), 400)
	must(admin(invalid, "GET", "/tenants/acme/invitations?limit=many", nil), 400)
	must(admin(valid, "GET", "/tenants/acme/invitations?limit=5000", nil), 422)
	must(c.call(valid, "GET", "/tenants/acme/invitations", nil), 401)
	r = must(admin(valid, "GET", "/tenants/acme/users/user-7/invitations?open=true", nil), 200)
	require.Len(t, decoded(t, r)["invitations"], 1)
	must(admin(valid, "GET", "/tenants/acme/users/user-7/invitations?user_id=user-8", nil), 400)
	must(c.call(valid, "GET", "/tenants/acme/users/user-7/invitations", nil, "Authorization", adminOther), 403)

	// One invitation.
	path := "/tenants/acme/invitations/" + adaID
	r = must(admin(valid, "GET", path, nil), 200)
	require.Equal(t, `"1"`, r.header.Get("ETag"))
	must(admin(valid, "GET", path, nil, "If-None-Match", `"1"`), 304)
	must(admin(valid, "GET", "/tenants/acme/invitations/no-such-id", nil), 404)
	must(admin(valid, "GET", "/tenants/acme/invitations/"+strings.Repeat("x", 300), nil), 422)
	must(c.call(valid, "GET", path, nil, "Authorization", adminOther), 403)

	// PATCH: edits, nulls, a resend, state changes.
	r = must(admin(valid, "PATCH", path, map[string]any{"given_name": "Augusta Ada", "roles": []string{"member", "billing"},
		"variables": map[string]string{"app": "Ledger"}}, "If-Match", `"1"`), 200)
	require.Equal(t, `"2"`, r.header.Get("ETag"))
	must(admin(valid, "PATCH", path, map[string]any{"family_name": "Lovelace", "given_name": nil, "data": nil}), 200)
	must(admin(valid, "PATCH", path, map[string]any{"locale": "en-GB"}, "If-Match", `"1"`), 412)
	must(admin(invalid, "PATCH", path, map[string]any{"locale": "en-GB"}, "If-Match", "version 1"), 400)
	must(admin(invalid, "PATCH", path, map[string]any{"nickname": "Ada"}), 400)
	r = must(admin(valid, "PATCH", path, map[string]any{"locale": "en-GB", "resend": map[string]any{"delivery": "return"}}), 200)
	adaToken = str(decoded(t, r), "token")
	require.NotEmpty(t, adaToken)
	must(admin(valid, "PATCH", path, map[string]any{"state": "revoked", "given_name": "x"}), 422)
	must(admin(invalid, "PATCH", path, map[string]any{"state": "archived"}), 422)
	must(admin(valid, "PATCH", "/tenants/acme/invitations/no-such-id", map[string]any{"locale": "fr"}), 404)
	must(c.call(valid, "PATCH", path, map[string]any{"state": "revoked"}, "Authorization", viewerAcme), 403)

	// Revoke (then 410), an admin's decline (then 409), an admin's acceptance.
	gone := decoded(t, must(admin(valid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "hal@example.com"}, "delivery": "return"}), 201))
	gonePath := "/tenants/acme/invitations/" + str(gone, "invitation", "id")
	must(admin(valid, "PATCH", gonePath, map[string]any{"state": "revoked", "reason": "sent in error"}), 200)
	must(admin(valid, "PATCH", gonePath, map[string]any{"state": "rejected"}), 410)
	r = must(c.call(valid, "GET", "/public/invitations/"+str(gone, "token"), nil), 410)
	require.Equal(t, "revoked", str(decoded(t, r), "invitation", "state"))
	declined := decoded(t, must(admin(valid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "ivy@example.com"}, "delivery": "return"}), 201))
	declinedPath := "/tenants/acme/invitations/" + str(declined, "invitation", "id")
	must(admin(valid, "PATCH", declinedPath, map[string]any{"state": "rejected", "reason": "on leave"}), 200)
	must(admin(valid, "PATCH", declinedPath, map[string]any{"state": "revoked"}), 409)
	onBehalf := decoded(t, must(admin(valid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "jo@example.com"}, "delivery": "return"}), 201))
	r = must(admin(valid, "PATCH", "/tenants/acme/invitations/"+str(onBehalf, "invitation", "id"),
		map[string]any{"state": "accepted", "subject": "user-9", "email": "jo@example.com"}, "If-Match", `"1"`), 200)
	require.Equal(t, "user-9", str(decoded(t, r), "invitation", "accepted_by"))

	// The invitee: lookup, codes, accept, decline.
	r = must(c.call(valid, "GET", "/public/invitations/"+adaToken, nil), 200)
	require.Equal(t, "no-referrer", r.header.Get("Referrer-Policy"))
	must(c.call(valid, "GET", "/public/invitations/inv_garbage", nil), 404)
	limited.Store(true)
	r = must(c.call(valid, "GET", "/public/invitations/"+adaToken, nil), 429)
	require.Equal(t, "3", r.header.Get("Retry-After"))
	must(c.call(valid, "POST", "/public/invitations/"+adaToken+"/reject", nil), 429)
	limited.Store(false)

	must(c.call(valid, "POST", "/public/tenants/acme/codes/verify", map[string]any{"invitation_id": adaID, "code": "WRONG234"}), 400)
	must(c.call(invalid, "POST", "/public/tenants/acme/codes/verify", map[string]any{"email": "ada@example.com"}), 400)
	must(c.call(invalid, "POST", "/public/tenants/acme/codes/verify", "", "Content-Type", "application/json"), 400)
	must(c.call(invalid, "POST", "/public/tenants/acme/codes/verify", map[string]any{"code": "X", "pin": "1"}), 400)
	must(c.call(valid, "POST", "/public/tenants/acme/codes/verify", map[string]any{"code": "ABCD2345"}), 422)
	// The resend minted a new code: send again with the code returned.
	r = must(admin(valid, "PATCH", path, map[string]any{"resend": map[string]any{"delivery": "return", "expires_in_days": 3}}), 200)
	adaToken, adaCode = str(decoded(t, r), "token"), str(decoded(t, r), "code")
	must(c.call(valid, "POST", "/public/tenants/acme/codes/verify", map[string]any{"email": "ada@example.com", "code": adaCode}), 200)
	must(c.call(valid, "POST", "/public/tenants/acme/codes/accept", map[string]any{"invitation_id": adaID, "code": adaCode}), 401)
	r = must(c.call(valid, "POST", "/public/tenants/acme/codes/accept", map[string]any{"invitation_id": adaID, "code": adaCode}, "X-User", "user-7"), 200)
	require.Equal(t, "accepted", str(decoded(t, r), "invitation", "state"))
	must(c.call(valid, "POST", "/public/tenants/acme/codes/accept", map[string]any{"invitation_id": adaID, "code": "ZZZZ2345"}, "X-User", "user-7"), 400)
	r = must(c.call(valid, "GET", "/public/invitations/"+adaToken, nil), 410)
	require.Equal(t, "accepted", str(decoded(t, r), "state"))

	must(c.call(valid, "POST", "/public/invitations/"+bobToken+"/accept", nil), 401)
	must(c.call(valid, "POST", "/public/invitations/"+bobToken+"/accept", nil, "X-User", "u-bob", "X-User-Email", "robert@example.com"), 403)
	must(c.call(invalid, "POST", "/public/invitations/"+bobToken+"/accept", map[string]any{"subject": "u-bob"}, "X-User", "u-bob"), 400)
	r = must(c.call(valid, "POST", "/public/invitations/"+bobToken+"/accept", map[string]any{}, "X-User", "u-bob", "X-User-Email", "bob@example.com"), 200)
	require.Equal(t, false, decoded(t, r)["replayed"])
	r = must(c.call(valid, "POST", "/public/invitations/"+bobToken+"/accept", nil, "X-User", "u-bob", "X-User-Email", "bob@example.com"), 200)
	require.Equal(t, true, decoded(t, r)["replayed"])
	must(c.call(valid, "POST", "/public/invitations/"+bobToken+"/accept", nil, "X-User", "u-other"), 410)
	must(c.call(valid, "POST", "/public/invitations/inv_garbage/accept", nil, "X-User", "u-bob"), 404)

	kim := decoded(t, must(admin(valid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "kim@example.com"}, "delivery": "return"}), 201))
	must(c.call(invalid, "POST", "/public/invitations/"+str(kim, "token")+"/reject", map[string]any{"why": "busy"}), 400)
	must(c.call(invalid, "POST", "/public/invitations/"+str(kim, "token")+"/reject", `{"reason": "busy"}`, "Content-Type", "text/plain"), 415)
	r = must(c.call(valid, "POST", "/public/invitations/"+str(kim, "token")+"/reject", map[string]any{"reason": "busy"}), 200)
	require.Equal(t, "rejected", str(decoded(t, r), "state"))
	must(c.call(valid, "POST", "/public/invitations/"+str(kim, "token")+"/reject", nil), 410)
	lee := decoded(t, must(admin(valid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "lee@example.com"}, "delivery": "return"}), 201))
	must(c.call(valid, "POST", "/public/invitations/"+str(lee, "token")+"/reject", nil), 200)

	// Delete.
	leePath := "/tenants/acme/invitations/" + str(lee, "invitation", "id")
	must(admin(valid, "DELETE", leePath, nil, "If-Match", `"1"`), 412)
	must(admin(invalid, "DELETE", leePath, nil, "If-Match", "W/1"), 400)
	must(c.call(valid, "DELETE", leePath, nil, "Authorization", viewerAcme), 403)
	must(admin(valid, "DELETE", leePath, nil), 204)
	must(admin(valid, "DELETE", leePath, nil), 404)

	// Dead letters: a message and the events the sink refused.
	h.Notifier.Fail(invite.Permanent(errors.New("mailbox full")))
	h.Events.Fail(invite.Permanent(errors.New("webhook gone")))
	must(admin(valid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "max@example.com"}}), 201)
	h.Clock.Advance(time.Hour)
	_, err = dead.Drain(t.Context())
	require.NoError(t, err)
	h.Notifier.Fail(nil)
	h.Events.Fail(nil)
	r = must(admin(valid, "GET", "/tenants/acme/dead-letters?limit=2", nil), 200)
	letters := decoded(t, r)
	require.NotEmpty(t, letters["next_after"])
	r = must(admin(valid, "GET", "/tenants/acme/dead-letters?after="+str(letters, "next_after")+"&limit=1000", nil), 200)
	require.Contains(t, string(r.body), `"kind":"message"`)
	require.Contains(t, string(r.body), `"kind":"event"`)
	must(admin(valid, "GET", "/tenants/acme/dead-letters?limit=0", nil), 422)
	must(admin(invalid, "GET", "/tenants/acme/dead-letters?limit=ten", nil), 400)
	must(c.call(valid, "GET", "/tenants/acme/dead-letters", nil), 401)
	first := letters["dead_letters"].([]any)[0].(map[string]any)["id"].(string)
	r = must(admin(valid, "POST", "/tenants/acme/dead-letters/redrive", map[string]any{"ids": []string{first, "unknown"}}), 200)
	require.JSONEq(t, `{"redriven":1}`, string(r.body))
	must(admin(valid, "POST", "/tenants/acme/dead-letters/redrive", map[string]any{"ids": []string{""}}), 422)
	must(admin(invalid, "POST", "/tenants/acme/dead-letters/redrive", map[string]any{"id": first}), 400)
	must(c.call(valid, "POST", "/tenants/acme/dead-letters/redrive", map[string]any{"ids": []string{}}, "Authorization", viewerAcme), 403)

	// Outside the document: no such path, a method a path does not take.
	c.unrouted("GET", "/tenants/acme/nothing", 404)
	r = c.unrouted("GET", "/public/invitations/"+bobToken+"/accept", 405)
	require.Equal(t, "POST", r.header.Get("Allow"))
	c.unrouted("POST", "/openapi.json", 405)

	// Every operation answered both a success and an error (the document
	// has no errors but 304).
	var missing []string
	for path, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			seen := c.covered[op.OperationID]
			var ok, failed bool
			for status := range seen {
				ok = ok || status < 300
				failed = failed || status >= 400
			}
			if !ok || (!failed && op.OperationID != "getOpenAPI") {
				missing = append(missing, fmt.Sprintf("%s %s (%v)", method, path, keys(seen)))
			}
		}
	}
	sort.Strings(missing)
	t.Logf("statuses per operation: %v", c.covered)
	require.Empty(t, missing, "operations not exercised with both a success and an error")
}

func keys(m map[int]bool) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// The statuses that need another configuration: a store without a counter
// or an outbox (501), and no Config.Subject (the accept routes are 404).
func TestOpenAPIContractWithoutExtras(t *testing.T) {
	h := invitetest.NewManager(t, invite.Config{LinkTemplate: "https://app.example/invite?token={{.Token}}"})
	m, err := invite.New(storeWithoutExtras{h.Store}, h.Config)
	require.NoError(t, err)
	handler, err := invitehttp.New(invitehttp.Config{Manager: m, Authorize: testAuthorize})
	require.NoError(t, err)
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	c := loadContract(t, srv, "")
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", "/tenants/acme/invitations", nil, 200},
		{"GET", "/tenants/acme/invitations?total=true", nil, 501},
		{"GET", "/tenants/acme/users/u1/invitations?total=true", nil, 501},
		{"GET", "/tenants/acme/dead-letters", nil, 501},
		{"POST", "/tenants/acme/dead-letters/redrive", map[string]any{"ids": []string{"x"}}, 501},
		{"POST", "/public/invitations/inv_x/accept", nil, 404},
		{"POST", "/public/tenants/acme/codes/accept", map[string]any{"email": "a@example.com", "code": "ABCD2345"}, 404},
	} {
		r := c.call(valid, tc.method, tc.path, tc.body, "Authorization", adminAcme)
		require.Equal(t, tc.status, r.status, "%s %s: %s", tc.method, tc.path, r.body)
	}
}

// Mounted under a prefix, the document names it as its server, and the
// routes it describes are found there.
func TestOpenAPIMounted(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	handler, err := invitehttp.New(invitehttp.Config{Manager: e.h.Manager, Authorize: testAuthorize, Subject: testSubject})
	require.NoError(t, err)
	mux.Handle("/api/invite/", http.StripPrefix("/api/invite", handler))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := loadContract(t, srv, "/api/invite")
	r := c.call(valid, "POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "ada@example.com"}, "delivery": "return"},
		"Authorization", adminAcme)
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	r = c.call(valid, "GET", "/public/invitations/"+str(decoded(t, r), "token"), nil)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)

	// With Config.Prefix (a router that passes the whole path on) too.
	handler, err = invitehttp.New(invitehttp.Config{Manager: e.h.Manager, Authorize: testAuthorize, Prefix: "/orgs/{org}/invite"})
	require.NoError(t, err)
	srv2 := httptest.NewServer(handler)
	t.Cleanup(srv2.Close)
	c = loadContract(t, srv2, "/orgs/o1/invite")
	r = c.call(valid, "GET", "/tenants/acme/invitations", nil, "Authorization", adminAcme)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)

	// The document a host takes to publish elsewhere is the one served,
	// without its servers.
	var doc map[string]any
	require.NoError(t, json.Unmarshal(invitehttp.OpenAPI(), &doc))
	require.NotContains(t, doc, "servers")
	require.Equal(t, "3.1.0", doc["openapi"])
}

// The check is strict: a status, a header or a member the document does
// not describe fails it.
func TestOpenAPIContractIsStrict(t *testing.T) {
	e := newEnv(t)
	c := loadContract(t, e.srv, "")
	created := decoded(t, c.call(valid, "POST", "/tenants/acme/invitations",
		map[string]any{"invitee": map[string]any{"email": "ada@example.com"}}, "Authorization", adminAcme))
	path := "/tenants/acme/invitations/" + str(created, "invitation", "id")
	req, err := http.NewRequestWithContext(t.Context(), "GET", e.srv.URL+path, nil)
	require.NoError(t, err)
	route, params, err := c.router.FindRoute(req)
	require.NoError(t, err)
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}
	real := e.admin("GET", path, nil)
	require.NoError(t, c.validateResponse(in, real))

	with := func(f func(r *resp)) *resp {
		r := &resp{status: real.status, header: real.header.Clone(), body: bytes.Clone(real.body)}
		f(r)
		return r
	}
	for name, r := range map[string]*resp{
		"an undescribed status": with(func(r *resp) { r.status = http.StatusTeapot }),
		"a missing ETag":        with(func(r *resp) { r.header.Del("ETag") }),
		"a weak ETag":           with(func(r *resp) { r.header.Set("ETag", `W/"1"`) }),
		"another Cache-Control": with(func(r *resp) { r.header.Set("Cache-Control", "max-age=60") }),
		"another content type":  with(func(r *resp) { r.header.Set("Content-Type", "text/html") }),
		"an undescribed member": with(func(r *resp) { r.body = bytes.Replace(r.body, []byte(`{`), []byte(`{"secret":"x",`), 1) }),
		"a missing member": with(func(r *resp) {
			var m map[string]any
			require.NoError(t, json.Unmarshal(r.body, &m))
			delete(m, "version")
			r.body, _ = json.Marshal(m)
		}),
		"an unknown state": with(func(r *resp) { r.body = bytes.Replace(r.body, []byte(`"state":"`), []byte(`"state":"x`), 1) }),
	} {
		require.Error(t, c.validateResponse(in, r), name)
	}
}
