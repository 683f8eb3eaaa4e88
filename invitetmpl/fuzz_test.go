package invitetmpl_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetmpl"
)

// hostTemplates put a custom variable in every HTML context a host
// template is likely to use.
var hostTemplates = fstest.MapFS{
	"host/en/subject.txt": {Data: []byte("{{.plan}} for {{.name}}")},
	"host/en/body.html": {Data: []byte(`<p title="{{.plan}}">{{.plan}}</p><a href="https://app.example/p?plan={{.plan}}">{{.invite_link}}</a>` +
		`<a href="{{.invite_link}}">go</a><img alt='{{.name}}' src="/x.png"><style>p{color:red}</style>`)},
	"host/en/body.txt": {Data: []byte("{{.plan}} {{.name}}")},
	"host/en/sms.txt":  {Data: []byte("{{.plan}} {{.invite_link}}")},
}

// FuzzRenderHostValues renders the default templates and a host template
// with arbitrary host values: rendering never panics or fails (but for an
// SMS over the segment limit), no value brings a '<' into the HTML (the
// HTML has as many '<' as with harmless values), and the subject is one
// line.
func FuzzRenderHostValues(f *testing.F) {
	r := newRenderer(f, invitetmpl.Config{Variables: []string{"plan"}})
	require.NoError(f, r.Register(hostTemplates))
	f.Add("<script>alert(1)</script>", `"><img src=x onerror=alert(1)>`, "Tom & Jerry", "javascript:alert(1)", "'\"`<>", "ar")
	f.Add("", "", "", "", "", "")
	f.Add("Ada\r\nBcc: x@example.com", "</style><script>", "\xff\xfe", "https://app.example/i?t=1&a=<b>", "{{.code}}", "de-AT")
	f.Fuzz(func(t *testing.T, name, invitedBy, account, link, plan, locale string) {
		msg := message(locale)
		msg.Vars.Name, msg.Vars.GivenName, msg.Vars.InvitedBy, msg.Vars.AccountName = name, name, invitedBy, account
		msg.Vars.InviteLink = invite.NewSecret(link)
		msg.Vars.Custom = map[string]string{"plan": plan}
		safe := msg
		x := func(s string) string {
			if s == "" {
				return ""
			}
			return "x"
		}
		safe.Vars.Name, safe.Vars.GivenName, safe.Vars.InvitedBy, safe.Vars.AccountName = x(name), x(name), x(invitedBy), x(account)
		safe.Vars.InviteLink = invite.NewSecret(x(link))
		safe.Vars.Custom = map[string]string{"plan": x(plan)}
		for _, key := range []string{"invite", "host"} {
			msg.TemplateKey, safe.TemplateKey = key, key
			subject, html, _, err := r.RenderEmail(msg)
			require.NoError(t, err)
			require.NotContains(t, subject, "\n")
			require.NotContains(t, subject, "\r")
			_, want, _, err := r.RenderEmail(safe)
			require.NoError(t, err)
			require.Equal(t, strings.Count(want, "<"), strings.Count(html, "<"), "a value brought markup into the HTML")
			if _, err := r.RenderSMS(msg); err != nil && !errors.Is(err, invitetmpl.ErrTooManySegments) {
				t.Fatal(err)
			}
		}
	})
}
