package invitetmpl_test

import (
	"errors"
	"io/fs"
	"regexp"
	"slices"
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

// The files FuzzRegister writes, by bit of its parts argument; bit 4 puts
// the same files in the resend folder too.
var fuzzParts = []string{"subject.txt", "body.html", "body.txt", "sms.txt"}

// costly matches the actions of a template whose rendering the template
// itself may make arbitrarily long (a range over a large number, a huge
// printf width): the host's own choice, not a fault, and it would stall
// the fuzzer.
var costly = regexp.MustCompile(`range|\*|[0-9]{4,}|[0-9]_[0-9]|[0-9][eEpP]|0[xXbBoO]`)

// actions returns the insides of src's actions ({{ to }}, skipping quoted
// strings), space separated.
func actions(src string) string {
	var b strings.Builder
	for {
		i := strings.Index(src, "{{")
		if i < 0 {
			return b.String()
		}
		src = src[i+2:]
		var quote byte
		j := 0
	scan:
		for ; j < len(src); j++ {
			switch c := src[j]; {
			case quote != 0 && c == '\\' && quote != '`':
				j++
			case quote != 0 && c == quote:
				quote = 0
			case quote == 0 && (c == '"' || c == '`' || c == '\''):
				quote = c
			case quote == 0 && c == '}' && j+1 < len(src) && src[j+1] == '}':
				break scan
			}
		}
		j = min(j, len(src))
		b.WriteString(src[:j])
		b.WriteByte(' ')
		src = src[min(j+2, len(src)):]
	}
}

// FuzzRegister registers arbitrary host template sources, laid out as
// Register reads them: they register, or Register returns a *TemplateError
// (matching ErrTemplate) and registers nothing; it never panics. A set that
// registers renders a message with arbitrary host values without
// panicking, with no error but ErrRender (a template that fails on some
// values), ErrTooManySegments (an SMS) or, for a language other than
// English, ErrNoTemplate; its subject is one line, and no value reaches
// the HTML unescaped: every value starts with "<" and a NUL, which
// html/template writes escaped in every context.
func FuzzRegister(f *testing.F) {
	defaults := invitetmpl.Defaults()
	for _, lang := range []string{"en", "de", "ar"} {
		for _, dir := range []string{"invite/" + lang, "invite/" + lang + "/resend"} {
			var src [4]string
			for i, name := range fuzzParts {
				b, err := fs.ReadFile(defaults, dir+"/"+name)
				require.NoError(f, err)
				src[i] = string(b)
			}
			f.Add(src[0], src[1], src[2], src[3], uint8(0x1f), lang, "Ada", strings.HasSuffix(dir, "resend"))
		}
	}
	f.Add("{{.plan}}", `<a href="{{.invite_link}}" title='{{.plan}}'>{{.name}}</a><script>var p = {{.plan}};</script><style>p{x:{{.plan}}}</style>`,
		"{{.plan}}", "{{.code}}", uint8(0x0f), "en", "<script>alert(1)</script>", false)
	f.Add("{{slice .name 3}}", `<p>{{slice .name 1}}</p><!-- {{.name}} --><textarea>{{.plan}}</textarea>`, "x", "y", uint8(0x0b), "pt-BR", "", true)
	f.Add("{{.nope}}", "<p>", "{{if .name}}", "{{index . \"code\"}}", uint8(0x0f), "de-AT", "x", false)
	f.Add("a", "b", "c", "d", uint8(0x03), "english!", "x", false)
	f.Fuzz(func(t *testing.T, subject, html, text, sms string, parts uint8, lang, value string, resend bool) {
		src := [4]string{subject, html, text, sms}
		for _, s := range src {
			if len(s) > 4096 || costly.MatchString(actions(s)) {
				t.Skip()
			}
		}
		if lang == "" || strings.ContainsAny(lang, "/\\") || strings.HasPrefix(lang, ".") || !fs.ValidPath("host/"+lang) {
			lang = "en"
		}
		fsys := fstest.MapFS{}
		for i, name := range fuzzParts {
			if parts&(1<<i) == 0 {
				continue
			}
			fsys["host/"+lang+"/"+name] = &fstest.MapFile{Data: []byte(src[i])}
			if parts&0x10 != 0 {
				fsys["host/"+lang+"/resend/"+name] = &fstest.MapFile{Data: []byte(src[i])}
			}
		}
		r := newRenderer(t, invitetmpl.Config{NoDefaults: true, Variables: []string{"plan"}})
		if err := r.Register(fsys); err != nil {
			var te *invitetmpl.TemplateError
			require.ErrorAs(t, err, &te)
			require.ErrorIs(t, err, invitetmpl.ErrTemplate)
			require.Empty(t, r.Keys(), "a refused set registers nothing")
			return
		}

		msg := message(lang)
		msg.TemplateKey, msg.Resend = "host", resend
		v := "<\x00" + value
		msg.Vars.Name, msg.Vars.GivenName, msg.Vars.FamilyName = v+"n", v+"g", v+"f"
		msg.Vars.InvitedBy, msg.Vars.AccountName = v+"i", v+"a"
		msg.Vars.InviteLink, msg.Vars.Code = invite.NewSecret(v+"l"), invite.NewSecret(v+"c")
		msg.Vars.Custom = map[string]string{"plan": v + "p"}
		allowed := func(err error, more ...error) bool {
			if err == nil || errors.Is(err, invitetmpl.ErrRender) || lang != "en" && errors.Is(err, invitetmpl.ErrNoTemplate) {
				return true
			}
			return slices.ContainsFunc(more, func(e error) bool { return errors.Is(err, e) })
		}
		if parts&0x07 == 0x07 {
			subj, body, _, err := r.RenderEmail(msg)
			require.True(t, allowed(err), "RenderEmail: %v", err)
			require.NotContains(t, subj, "\n")
			require.NotContains(t, subj, "\r")
			if !strings.Contains(html, "\x00") {
				require.NotContains(t, body, "<\x00", "a value reached the HTML unescaped")
			}
		}
		if parts&0x08 != 0 {
			_, err := r.RenderSMS(msg)
			require.True(t, allowed(err, invitetmpl.ErrTooManySegments), "RenderSMS: %v", err)
		}
	})
}
