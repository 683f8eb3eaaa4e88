package invitehttp_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite/invitehttp"
)

func TestStrictDecoding(t *testing.T) {
	e := newEnv(t)
	const path = "/tenants/acme/invitations"
	for _, tc := range []struct {
		name     string
		body     any
		hdr      []string
		status   int
		kind     string
		pointers []string
	}{
		{"no body", nil, nil, 400, "malformed-request", nil},
		{"blank body", "  \n", nil, 400, "malformed-request", nil},
		{"not JSON", `{"invitee":`, nil, 400, "malformed-request", nil},
		{"syntax error", `{"invitee" {}}`, nil, 400, "malformed-request", nil},
		{"two values", `{"invitee":{"email":"a@example.com"}} {}`, nil, 400, "malformed-request", nil},
		{"trailing garbage", `{"invitee":{"email":"a@example.com"}} x`, nil, 400, "malformed-request", nil},
		{"array, not object", `[]`, nil, 400, "malformed-request", []string{"=invalid_format"}},
		{"unknown member", `{"invitee":{"email":"a@example.com"},"rolez":["a"]}`, nil, 400, "malformed-request", []string{"/rolez=unknown"}},
		{"unknown nested member", `{"invitee":{"emial":"a@example.com"}}`, nil, 400, "malformed-request", []string{"/invitee/emial=unknown"}},
		{"member in another case", `{"Invitee":{"email":"a@example.com"}}`, nil, 400, "malformed-request", []string{"/Invitee=unknown"}},
		{"member without JSON form", `{"invitee":{"email":"a@example.com"},"InviterLimit":5}`, nil, 400, "malformed-request", []string{"/InviterLimit=unknown"}},
		{"member given twice", `{"invitee":{"email":"a@example.com"},"locale":"de","locale":"fr"}`, nil, 400, "malformed-request", []string{"/locale=conflict"}},
		{"wrong type", `{"invitee":{"email":5}}`, nil, 400, "malformed-request", []string{"/invitee/email=invalid_format"}},
		{"wrong element type", `{"invitee":{"email":"a@example.com"},"roles":[1]}`, nil, 400, "malformed-request", []string{"/roles=invalid_format"}},
		{"bad delivery", `{"invitee":{"email":"a@example.com"},"delivery":"carrier pigeon"}`, nil, 400, "malformed-request", nil},
		{"bad time", `{"invitee":{"email":"a@example.com"},"expires_at":"tomorrow"}`, nil, 400, "malformed-request", nil},
		{"invalid UTF-8", "{\"invitee\":{\"email\":\"a\xff@example.com\"}}", nil, 400, "malformed-request", nil},
		{"text/plain", `{"invitee":{"email":"a@example.com"}}`, []string{"Content-Type", "text/plain"}, 415, "unsupported-media-type", nil},
		{"no content type", `{"invitee":{"email":"a@example.com"}}`, []string{"Content-Type", ""}, 415, "unsupported-media-type", nil},
		{"too large", `{"invitee":{"email":"a@example.com"},"given_name":"` + strings.Repeat("a", 1<<20) + `"}`, nil, 413, "payload-too-large", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := e.admin("POST", path, tc.body, tc.hdr...).problem(t, tc.status, tc.kind)
			require.Equal(t, tc.pointers, p.pointers())
		})
	}
	// Metadata is free JSON: any members, and a JSON type with parameters.
	r := e.admin("POST", path, `{"invitee":{"email":"ok@example.com"},"metadata":{"Any":{"thing":[1,{"x":2}]}}}`,
		"Content-Type", "application/json; charset=utf-8")
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	r = e.admin("POST", path, `{"invitee":{"email":"ok2@example.com"}}`, "Content-Type", "application/merge-patch+json")
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
}

func TestMaxBodyBytes(t *testing.T) {
	e := newEnv(t, func(c *invitehttp.Config) { c.MaxBodyBytes = 64 })
	e.admin("POST", "/tenants/acme/invitations", `{"invitee":{"email":"a@example.com"},"given_name":"`+strings.Repeat("a", 64)+`"}`).
		problem(t, 413, "payload-too-large")
}
