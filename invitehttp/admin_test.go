package invitehttp_test

import (
	"fmt"
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

func TestCreateSendsAndHidesTheSecret(t *testing.T) {
	e := newEnv(t)
	r := e.admin("POST", "/tenants/acme/invitations", map[string]any{
		"invitee": map[string]any{"email": "ada@example.com"}, "given_name": "Ada", "roles": []string{"admin"},
	})
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	var c createdJSON
	r.decode(t, &c)
	require.Equal(t, "acme", c.Invitation.TenantID)
	require.Equal(t, "invitations/"+c.Invitation.ID, r.header.Get("Location"))
	require.Equal(t, `"`+strconv.FormatInt(c.Invitation.Version, 10)+`"`, r.header.Get("ETag"))
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))
	require.Empty(t, c.Token+c.Code+c.Link, "a sent invitation's secret is not returned")

	msg, ok := e.h.Notifier.Last("ada@example.com")
	require.True(t, ok)
	require.NotContains(t, string(r.body), msg.Param("token"))
	require.NotContains(t, e.h.Logs.String(), msg.Param("token"))
}

func TestCreateWithDeliveryReturnRevealsTheSecret(t *testing.T) {
	e := newEnv(t)
	c := e.create("ada@example.com", map[string]any{"with_code": true})
	require.Regexp(t, `^inv_`, c.Token)
	require.NotEmpty(t, c.Code)
	require.Equal(t, "https://app.example/invite?token="+c.Token, c.Link)
	require.Empty(t, e.h.Notifier.Messages(), "nothing is sent")
	// The token is the invitee's: it opens the invitation.
	r := e.do("GET", "/public/invitations/"+c.Token, nil)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
}

func TestCreateErrors(t *testing.T) {
	e := newEnv(t)
	first := e.create("taken@example.com")
	for _, tc := range []struct {
		name     string
		body     any
		status   int
		kind     string
		pointers []string
	}{
		{"no invitee", map[string]any{"given_name": "Ada"}, 422, "validation", []string{"/invitee=no_delivery_channel"}},
		{"bad email and locale", map[string]any{"invitee": map[string]any{"email": "nope"}, "locale": "??"}, 422, "validation",
			[]string{"/invitee/email=invalid_format", "/locale=invalid_format"}},
		{"another tenant in the body", map[string]any{"tenant_id": "other", "invitee": map[string]any{"email": "a@example.com"}}, 422, "validation",
			[]string{"/tenant_id=conflict"}},
		{"expiry out of range", map[string]any{"invitee": map[string]any{"email": "a@example.com"}, "expires_in_days": 400}, 422, "validation",
			[]string{"/expires_in_days=out_of_range"}},
		{"open invitation exists", map[string]any{"invitee": map[string]any{"email": "taken@example.com"}}, 409, "already-exists", nil},
		{"unknown template", map[string]any{"invitee": map[string]any{"email": "b@example.com"}, "template_key": "nope"}, 422, "validation",
			[]string{"/template_key=unknown"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := e.admin("POST", "/tenants/acme/invitations", tc.body).problem(t, tc.status, tc.kind)
			require.Equal(t, tc.pointers, p.pointers())
			if tc.kind == "already-exists" {
				require.Equal(t, first.Invitation.ID, p.ExistingID)
			}
		})
	}
}

func TestQuotaExceeded(t *testing.T) {
	h := invitetest.NewManager(t, invite.Config{MaxOpenPerInviter: 1, LinkTemplate: "https://app.example/invite?token={{.Token}}"})
	e := serve(t, h, h.Manager)
	e.create("a@example.com")
	r := e.admin("POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "b@example.com"},
		"inviter": map[string]any{"id": "u-admin"}})
	p := r.problem(t, http.StatusConflict, "quota-exceeded")
	require.Equal(t, 1, p.Limit)
}

func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"invitee": map[string]any{"email": "ada@example.com"}, "delivery": "return"}
	first := e.admin("POST", "/tenants/acme/invitations", body, "Idempotency-Key", "k1")
	require.Equal(t, http.StatusCreated, first.status, "body: %s", first.body)
	var a createdJSON
	first.decode(t, &a)
	require.NotEmpty(t, a.Token)

	again := e.admin("POST", "/tenants/acme/invitations", body, "Idempotency-Key", "k1")
	require.Equal(t, http.StatusOK, again.status, "body: %s", again.body)
	var b createdJSON
	again.decode(t, &b)
	require.True(t, b.Replayed)
	require.Equal(t, a.Invitation.ID, b.Invitation.ID)
	require.Empty(t, b.Token, "the secret is not returned again")

	other := map[string]any{"invitee": map[string]any{"email": "ada@example.com"}, "delivery": "return", "roles": []string{"x"}}
	e.admin("POST", "/tenants/acme/invitations", other, "Idempotency-Key", "k1").problem(t, 422, "idempotency-mismatch")

	withBody := map[string]any{"invitee": map[string]any{"email": "z@example.com"}, "idempotency_key": "k2"}
	p := e.admin("POST", "/tenants/acme/invitations", withBody, "Idempotency-Key", "k3").problem(t, 422, "validation")
	require.Equal(t, []string{"Idempotency-Key=conflict"}, p.pointers())
}

func TestCreateBatch(t *testing.T) {
	e := newEnv(t)
	e.create("taken@example.com")
	r := e.admin("POST", "/tenants/acme/invitations/batch", map[string]any{"invitations": []any{
		map[string]any{"invitee": map[string]any{"email": "one@example.com"}},
		map[string]any{"invitee": map[string]any{"email": "bad"}},
		map[string]any{"invitee": map[string]any{"email": "taken@example.com"}},
		map[string]any{"invitee": map[string]any{"email": "two@example.com"}, "delivery": "return"},
		map[string]any{"invitee": map[string]any{"email": "three@example.com"}, "tenant_id": "other"},
	}})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var out struct {
		Items []struct {
			Status  int          `json:"status"`
			Result  *createdJSON `json:"result"`
			Problem *problemDoc  `json:"problem"`
		} `json:"items"`
	}
	r.decode(t, &out)
	require.Len(t, out.Items, 5)
	require.Equal(t, 201, out.Items[0].Status)
	require.Empty(t, out.Items[0].Result.Token)
	require.Equal(t, 422, out.Items[1].Status)
	require.Equal(t, []string{"/invitations/1/invitee/email=invalid_format"}, out.Items[1].Problem.pointers())
	require.Equal(t, 409, out.Items[2].Status)
	require.NotEmpty(t, out.Items[2].Problem.ExistingID)
	require.Equal(t, 201, out.Items[3].Status)
	require.NotEmpty(t, out.Items[3].Result.Token, "delivery return reveals the item's secret")
	require.Equal(t, 422, out.Items[4].Status)
	require.Equal(t, []string{"/invitations/4/tenant_id=conflict"}, out.Items[4].Problem.pointers())

	e.admin("POST", "/tenants/acme/invitations/batch", map[string]any{"invitations": []any{}}, "Idempotency-Key", "k").
		problem(t, 400, "malformed-request")
	many := make([]any, invite.MaxBatchSize+1)
	for i := range many {
		many[i] = map[string]any{"invitee": map[string]any{"email": fmt.Sprintf("u%d@example.com", i)}}
	}
	p := e.admin("POST", "/tenants/acme/invitations/batch", map[string]any{"invitations": many}).problem(t, 422, "validation")
	require.Equal(t, []string{"/invitations=too_long"}, p.pointers())
}

func TestUpsert(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"invitee": map[string]any{"email": "ada@example.com"}, "roles": []string{"a"}}
	r := e.admin("PUT", "/tenants/acme/invitations", body)
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	var a createdJSON
	r.decode(t, &a)
	require.True(t, *a.Created)
	require.NotEmpty(t, r.header.Get("Location"))

	body["roles"] = []string{"b"}
	r = e.admin("PUT", "/tenants/acme/invitations", body)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var b createdJSON
	r.decode(t, &b)
	require.False(t, *b.Created)
	require.Equal(t, a.Invitation.ID, b.Invitation.ID)
	require.Equal(t, []string{"b"}, b.Invitation.Roles)
	require.Empty(t, r.header.Get("Location"))

	body["resend_on_update"], body["delivery"] = true, "return"
	r = e.admin("PUT", "/tenants/acme/invitations", body)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var c createdJSON
	r.decode(t, &c)
	require.NotEmpty(t, c.Token, "an update with a resend returns the new secret")
}

func TestGet(t *testing.T) {
	e := newEnv(t)
	c := e.create("ada@example.com")
	r := e.admin("GET", "/tenants/acme/invitations/"+c.Invitation.ID, nil)
	require.Equal(t, http.StatusOK, r.status)
	var inv invite.Invitation
	r.decode(t, &inv)
	require.Equal(t, c.Invitation.ID, inv.ID)
	etag := r.header.Get("ETag")
	require.Equal(t, `"`+strconv.FormatInt(inv.Version, 10)+`"`, etag)

	r = e.admin("GET", "/tenants/acme/invitations/"+c.Invitation.ID, nil, "If-None-Match", etag)
	require.Equal(t, http.StatusNotModified, r.status)
	require.Empty(t, r.body)

	e.admin("GET", "/tenants/acme/invitations/nope", nil).problem(t, 404, "not-found")
	r = e.do("GET", "/tenants/acme/invitations/"+c.Invitation.ID, nil, "Authorization", viewerAcme)
	require.Equal(t, http.StatusOK, r.status)
}

func TestList(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		e.create(fmt.Sprintf("u%d@example.com", i), map[string]any{"roles": []string{map[bool]string{true: "even", false: "odd"}[i%2 == 0]},
			"invitee": map[string]any{"email": fmt.Sprintf("u%d@example.com", i), "user_id": fmt.Sprintf("user%d", i)}})
	}
	type page struct {
		Invitations []invite.Invitation `json:"invitations"`
		NextCursor  string              `json:"next_cursor"`
		Total       *int                `json:"total"`
	}
	get := func(q string) page {
		t.Helper()
		r := e.admin("GET", "/tenants/acme/invitations"+q, nil)
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		var p page
		r.decode(t, &p)
		return p
	}
	emails := func(p page) (out []string) {
		for _, inv := range p.Invitations {
			out = append(out, inv.Invitee.Email)
		}
		return out
	}
	p := get("?limit=2&total=true")
	require.Equal(t, []string{"u0@example.com", "u1@example.com"}, emails(p))
	require.Equal(t, 5, *p.Total)
	p = get("?limit=2&cursor=" + url.QueryEscape(p.NextCursor))
	require.Equal(t, []string{"u2@example.com", "u3@example.com"}, emails(p))
	require.Nil(t, p.Total)
	require.Equal(t, []string{"u3@example.com", "u4@example.com"}, emails(get("?skip=3&count=2")))
	require.Equal(t, []string{"u0@example.com", "u2@example.com", "u4@example.com"}, emails(get("?role=even")))
	require.Equal(t, []string{"u4@example.com", "u2@example.com"}, emails(get("?role=even&descending=true&limit=2")))
	require.Equal(t, []string{"u1@example.com"}, emails(get("?search=U1")))
	require.Equal(t, []string{"u1@example.com"}, emails(get("?email=U1@Example.com")))
	require.Len(t, get("?states=pending,sent&open=true&include_expired=true&inviter_id=u-admin").Invitations, 5)
	require.Empty(t, get("?states=accepted").Invitations)
	require.Empty(t, get("?created_from=2031-01-01T00:00:00Z").Invitations)
	require.Len(t, get("?created_to=2031-01-01T00:00:00Z&client_id=&template_key=").Invitations, 5)

	r := e.admin("GET", "/tenants/acme/users/user3/invitations?total=true", nil)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var mine page
	r.decode(t, &mine)
	require.Equal(t, []string{"u3@example.com"}, emails(mine))
	require.Equal(t, 1, *mine.Total)

	for _, tc := range []struct {
		q      string
		status int
		kind   string
		params []string
	}{
		{"?limit=abc", 400, "malformed-request", []string{"limit=invalid_format"}},
		{"?nope=1", 400, "malformed-request", []string{"nope=unknown"}},
		{"?skip=1&offset=1", 400, "malformed-request", []string{"skip=conflict"}},
		{"?open=maybe", 400, "malformed-request", []string{"open=invalid_format"}},
		{"?created_from=yesterday", 400, "malformed-request", []string{"created_from=invalid_format"}},
		{"?role=a&role=b", 400, "malformed-request", []string{"role=conflict"}},
		{"?count=5000", 422, "validation", []string{"count=out_of_range"}},
		{"?states=gone", 422, "validation", []string{"states=unknown"}},
		{"?cursor=garbage", 422, "validation", []string{"cursor=invalid_format"}},
		{"?phone=12", 422, "validation", []string{"phone=invalid_format"}},
	} {
		t.Run(tc.q, func(t *testing.T) {
			p := e.admin("GET", "/tenants/acme/invitations"+tc.q, nil).problem(t, tc.status, tc.kind)
			require.Equal(t, tc.params, p.pointers())
		})
	}
	p2 := e.admin("GET", "/tenants/acme/users/user3/invitations?user_id=x", nil).problem(t, 400, "malformed-request")
	require.Equal(t, []string{"user_id=unknown"}, p2.pointers())
}

// TestListResent: the resent parameter keeps the invitations re-sent at
// least once (true) or never (false), paged and counted; a value that is
// not a boolean is a problem naming the parameter.
func TestListResent(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := range 4 {
		ids = append(ids, e.create(fmt.Sprintf("u%d@example.com", i)).Invitation.ID)
	}
	for _, id := range []string{ids[1], ids[2]} {
		r := e.admin("PATCH", "/tenants/acme/invitations/"+id, map[string]any{"resend": map[string]any{"delivery": "return"}})
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	}
	r := e.admin("PATCH", "/tenants/acme/invitations/"+ids[2], map[string]any{"state": "revoked"})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)

	type page struct {
		Invitations []invite.Invitation `json:"invitations"`
		NextCursor  string              `json:"next_cursor"`
		Total       *int                `json:"total"`
	}
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"", ids},
		{"resent=true", []string{ids[1], ids[2]}},
		{"resent=false", []string{ids[0], ids[3]}},
		{"resent=1", []string{ids[1], ids[2]}},
		{"resent=F", []string{ids[0], ids[3]}},
		{"resent=true&open=true", []string{ids[1]}},
		{"resent=false&states=revoked", nil},
	} {
		t.Run(tc.q, func(t *testing.T) {
			var got []string
			cursor := ""
			for {
				q := "?total=true&limit=1&" + tc.q
				if cursor != "" {
					q += "&cursor=" + url.QueryEscape(cursor)
				}
				r := e.admin("GET", "/tenants/acme/invitations"+q, nil)
				require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
				var p page
				r.decode(t, &p)
				require.Equal(t, len(tc.want), *p.Total, "total")
				for _, inv := range p.Invitations {
					got = append(got, inv.ID)
				}
				if cursor = p.NextCursor; cursor == "" {
					break
				}
			}
			require.Equal(t, tc.want, got)
		})
	}
	for _, tc := range []struct {
		q, param, reason string
	}{
		{"?resent=maybe", "resent=invalid_format", "must be true or false"},
		{"?resent=", "resent=invalid_format", "must be true or false"},
		{"?resent=true&resent=false", "resent=conflict", "is given more than once"},
	} {
		t.Run(tc.q, func(t *testing.T) {
			p := e.admin("GET", "/tenants/acme/invitations"+tc.q, nil).problem(t, 400, "malformed-request")
			require.Equal(t, []string{tc.param}, p.pointers())
			require.Equal(t, tc.reason, p.Errors[0].Reason)
		})
	}
	r = e.admin("GET", "/tenants/acme/users/nobody/invitations?resent=yes", nil)
	require.Equal(t, []string{"resent=invalid_format"}, r.problem(t, 400, "malformed-request").pointers())
}

func TestPatchEditsWithIfMatch(t *testing.T) {
	e := newEnv(t)
	c := e.create("ada@example.com")
	path := "/tenants/acme/invitations/" + c.Invitation.ID
	v := `"` + strconv.FormatInt(c.Invitation.Version, 10) + `"`
	exp := invitetest.Start.Add(48 * time.Hour)
	r := e.admin("PATCH", path, map[string]any{"roles": []string{"owner"}, "given_name": "Ada", "expires_at": exp,
		"variables": map[string]string{"app": "Acme"}, "data": map[string]string{"plan": "pro"}}, "If-Match", v)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var inv invite.Invitation
	r.decode(t, &inv)
	require.Equal(t, []string{"owner"}, inv.Roles)
	require.Equal(t, "Ada", inv.GivenName)
	require.True(t, exp.Equal(inv.ExpiresAt))
	require.Equal(t, "pro", inv.Data["plan"])
	require.Equal(t, `"`+strconv.FormatInt(inv.Version, 10)+`"`, r.header.Get("ETag"))
	require.Greater(t, inv.Version, c.Invitation.Version)

	// The old version no longer matches.
	e.admin("PATCH", path, map[string]any{"roles": []string{"x"}}, "If-Match", v).problem(t, 412, "precondition-failed")
	e.admin("DELETE", path, nil, "If-Match", v).problem(t, 412, "precondition-failed")
	e.admin("PATCH", path, map[string]any{"state": "revoked"}, "If-Match", v).problem(t, 412, "precondition-failed")
	e.admin("PATCH", path, map[string]any{"roles": []string{"x"}}, "If-Match", "W/\"1\"").problem(t, 400, "malformed-request")
	// Without If-Match the change is unconditional.
	r = e.admin("PATCH", path, map[string]any{"groups": []string{"eng"}}, "If-Match", "*")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	p := e.admin("PATCH", path, map[string]any{"locale": "??"}).problem(t, 422, "validation")
	require.Equal(t, []string{"/locale=invalid_format"}, p.pointers())
	// The path names the invitation and If-Match its version, not the body.
	p = e.admin("PATCH", path, map[string]any{"tenant_id": "other", "id": "x", "version": 1, "roles": []string{"x"}}).problem(t, 422, "validation")
	require.Equal(t, []string{"/tenant_id=not_allowed", "/id=not_allowed", "/version=not_allowed"}, p.pointers())
	e.admin("PATCH", "/tenants/acme/invitations/nope", map[string]any{"roles": []string{}}).problem(t, 404, "not-found")
}

func TestPatchStateChanges(t *testing.T) {
	e := newEnv(t)
	c := e.create("ada@example.com", map[string]any{"with_code": true})
	path := "/tenants/acme/invitations/" + c.Invitation.ID

	// Resend with edits: a new secret, revealed for delivery return.
	r := e.admin("PATCH", path, map[string]any{"roles": []string{"owner"}, "resend": map[string]any{"delivery": "return", "expires_in_days": 3}})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var res createdJSON
	r.decode(t, &res)
	require.NotEmpty(t, res.Token)
	require.NotEqual(t, c.Token, res.Token)
	require.NotEmpty(t, res.Code)
	require.Equal(t, 1, res.Invitation.ResendCount)
	require.Equal(t, []string{"owner"}, res.Invitation.Roles)
	// A resend that sends hides it.
	r = e.admin("PATCH", path, map[string]any{"resend": map[string]any{}})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var sent createdJSON
	r.decode(t, &sent)
	require.Empty(t, sent.Token)
	require.Len(t, e.h.Notifier.Messages(), 1)

	// Marked sent by the host, which delivered it itself.
	r = e.admin("PATCH", path, map[string]any{"state": "sent"})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var marked invite.Invitation
	r.decode(t, &marked)
	require.Equal(t, invite.StateSent, marked.State)
	require.Positive(t, marked.SendCount)

	// Admin accept, then again for another subject.
	r = e.admin("PATCH", path, map[string]any{"state": "accepted", "subject": "u42"})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var acc struct {
		Invitation invite.Invitation `json:"invitation"`
		Replayed   bool              `json:"replayed"`
	}
	r.decode(t, &acc)
	require.Equal(t, invite.StateAccepted, acc.Invitation.State)
	require.Equal(t, "u42", acc.Invitation.AcceptedBy)
	e.admin("PATCH", path, map[string]any{"state": "accepted", "subject": "u43"}).problem(t, 410, "already-accepted")
	e.admin("PATCH", path, map[string]any{"state": "revoked"}).problem(t, 410, "already-accepted")
	e.admin("PATCH", path, map[string]any{"resend": map[string]any{}}).problem(t, 410, "already-accepted")

	// Revoke is idempotent; a revoked invitation is gone.
	d := e.create("bob@example.com")
	path = "/tenants/acme/invitations/" + d.Invitation.ID
	for range 2 {
		r = e.admin("PATCH", path, map[string]any{"state": "revoked", "reason": "left the company"})
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	}
	var inv invite.Invitation
	r.decode(t, &inv)
	require.Equal(t, invite.StateRevoked, inv.State)
	e.admin("PATCH", path, map[string]any{"roles": []string{"x"}}).problem(t, 410, "revoked")
	e.admin("PATCH", path, map[string]any{"state": "rejected"}).problem(t, 410, "revoked")

	// Admin reject.
	f := e.create("cy@example.com")
	path = "/tenants/acme/invitations/" + f.Invitation.ID
	r = e.admin("PATCH", path, map[string]any{"state": "rejected", "reason": "said no on the phone"})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	r.decode(t, &inv)
	require.Equal(t, invite.StateRejected, inv.State)
	e.admin("PATCH", path, map[string]any{"state": "accepted", "subject": "u1"}).problem(t, 409, "invalid-transition")

	// Bodies that mix what cannot be mixed.
	for _, tc := range []struct {
		body     map[string]any
		pointers []string
	}{
		{map[string]any{"state": "pending"}, []string{"/state=unknown"}},
		{map[string]any{"state": "revoked", "roles": []string{"a"}}, []string{"/state=conflict"}},
		{map[string]any{"state": "revoked", "subject": "u1"}, []string{"/subject=not_allowed"}},
		{map[string]any{"reason": "why"}, []string{"/reason=not_allowed"}},
		{map[string]any{"state": "accepted"}, []string{"/subject=required"}},
		{map[string]any{"resend": map[string]any{"expires_in_days": 1000}}, []string{"/resend/expires_in_days=out_of_range"}},
	} {
		p := e.admin("PATCH", "/tenants/acme/invitations/"+d.Invitation.ID, tc.body).problem(t, 422, "validation")
		require.Equal(t, tc.pointers, p.pointers(), "%v", tc.body)
	}
}

func TestDelete(t *testing.T) {
	e := newEnv(t)
	c := e.create("ada@example.com")
	path := "/tenants/acme/invitations/" + c.Invitation.ID
	r := e.admin("DELETE", path, nil, "If-Match", `"`+strconv.FormatInt(c.Invitation.Version, 10)+`"`)
	require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
	e.admin("DELETE", path, nil).problem(t, 404, "not-found")
	e.admin("GET", path, nil).problem(t, 404, "not-found")
}

func TestDeadLettersAndRedrive(t *testing.T) {
	h := invitetest.NewManager(t, invite.Config{LinkTemplate: "https://app.example/invite?token={{.Token}}"})
	d, err := h.NewDispatcher(invite.DispatcherConfig{MaxAttempts: 1, Concurrency: 1})
	require.NoError(t, err)
	e := serve(t, h, h.Manager)
	h.Notifier.Fail(invite.Permanent(fmt.Errorf("mailbox full")))
	r := e.admin("POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "ada@example.com"}})
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	var c createdJSON
	r.decode(t, &c)
	require.Equal(t, "delivery failed", c.DeliveryError)
	h.Clock.Advance(time.Hour)
	_, err = d.Drain(t.Context())
	require.NoError(t, err)

	r = e.admin("GET", "/tenants/acme/dead-letters?limit=10", nil)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var out struct {
		DeadLetters []struct {
			ID           string `json:"id"`
			Kind         string `json:"kind"`
			InvitationID string `json:"invitation_id"`
			LastError    string `json:"last_error"`
		} `json:"dead_letters"`
	}
	r.decode(t, &out)
	require.Len(t, out.DeadLetters, 1)
	require.Equal(t, "message", out.DeadLetters[0].Kind)
	require.Equal(t, c.Invitation.ID, out.DeadLetters[0].InvitationID)
	require.Contains(t, out.DeadLetters[0].LastError, "mailbox full")
	r = e.do("GET", "/tenants/other/dead-letters", nil, "Authorization", adminOther)
	require.Equal(t, http.StatusOK, r.status)
	require.JSONEq(t, `{"dead_letters":[]}`, string(r.body))

	h.Notifier.Fail(nil)
	r = e.admin("POST", "/tenants/acme/dead-letters/redrive", map[string]any{"ids": []string{out.DeadLetters[0].ID, "unknown"}})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.JSONEq(t, `{"redriven":1}`, string(r.body))
	_, err = d.Drain(t.Context())
	require.NoError(t, err)
	_, ok := h.Notifier.Last("ada@example.com")
	require.True(t, ok)

	e.admin("GET", "/tenants/acme/dead-letters?limit=0", nil).problem(t, 422, "validation")
	e.admin("GET", "/tenants/acme/dead-letters?page=2", nil).problem(t, 400, "malformed-request")
	p := e.admin("POST", "/tenants/acme/dead-letters/redrive", map[string]any{"ids": []string{""}}).problem(t, 422, "validation")
	require.Equal(t, []string{"/ids/0=required"}, p.pointers())
}

// BeforeCreate lets the host set what a client may not choose.
func TestBeforeCreate(t *testing.T) {
	e := newEnv(t, func(c *invitehttp.Config) {
		c.BeforeCreate = func(r *http.Request, in *invite.CreateInput) error {
			if in.Invitee.Email == "blocked@example.com" {
				return fmt.Errorf("policy: %w", invitehttp.ErrForbidden)
			}
			in.Inviter = invite.Inviter{ID: "session-user", Name: "From the session"}
			return nil
		}
	})
	c := e.create("ada@example.com", map[string]any{"inviter": map[string]any{"id": "forged"}})
	require.Equal(t, "session-user", c.Invitation.Inviter.ID)
	e.admin("POST", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "blocked@example.com"}}).
		problem(t, 403, "forbidden")
	r := e.admin("PUT", "/tenants/acme/invitations", map[string]any{"invitee": map[string]any{"email": "bob@example.com"}})
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	require.Contains(t, string(r.body), "session-user")
}
