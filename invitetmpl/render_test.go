package invitetmpl_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/language"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetmpl"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/golden/name, or rewrites it with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	require.Equal(t, string(want), got, "differs from %s (go test -update rewrites it)", path)
}

func TestGolden(t *testing.T) {
	r := newRenderer(t, invitetmpl.Config{})
	for _, lang := range []string{"en", "de", "ar"} {
		for _, resend := range []bool{false, true} {
			name := lang
			if resend {
				name += "-resend"
			}
			t.Run(name, func(t *testing.T) {
				msg := message(lang)
				msg.Resend = resend
				subject, html, text, err := r.RenderEmail(msg)
				require.NoError(t, err)
				golden(t, name+".subject.txt", subject+"\n")
				golden(t, name+".html", html)
				golden(t, name+".txt", text)
				sms, err := r.RenderSMS(msg)
				require.NoError(t, err)
				golden(t, name+".sms.txt", sms.Body+"\n")
				assert.Contains(t, html, `href="`+strings.ReplaceAll(testLink, "&", "&amp;")+`"`)
				assert.Contains(t, text, testLink)
				assert.Contains(t, sms.Body, testLink)
				assert.Contains(t, html, `lang="`+lang+`"`)
				if lang == "ar" {
					assert.Contains(t, html, `<html lang="ar" dir="rtl">`)
					assert.Equal(t, invitetmpl.UCS2, sms.Encoding)
				} else {
					assert.Contains(t, html, `dir="ltr"`)
					assert.Equal(t, invitetmpl.GSM7, sms.Encoding)
				}
				assert.Equal(t, resend, strings.Contains(text, "://") && (strings.Contains(subject, "Reminder") ||
					strings.Contains(subject, "Erinnerung") || strings.Contains(subject, "تذكير")))
			})
		}
	}
}

func TestExpiresAtPerLanguage(t *testing.T) {
	r := newRenderer(t, invitetmpl.Config{})
	tests := []struct{ locale, want string }{
		{"en", "This invitation expires on May 3, 2027, 14:00 UTC."},
		{"de-DE", "Die Einladung gilt bis zum 3. Mai 2027, 14:00 UTC."},
		{"ar-EG", "تنتهي صلاحية هذه الدعوة في 3 مايو 2027، 14:00 UTC."},
	}
	for _, tt := range tests {
		t.Run(tt.locale, func(t *testing.T) {
			_, _, text, err := r.RenderEmail(message(tt.locale))
			require.NoError(t, err)
			assert.Contains(t, text, tt.want)
		})
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone database")
	}
	assert.Equal(t, "3. Mai 2027, 16:00 CEST", invitetmpl.FormatTime(message("").Vars.ExpiresAt, berlin, language.German))
	assert.Equal(t, "2027-05-03 14:00 UTC", invitetmpl.FormatTime(message("").Vars.ExpiresAt, nil, language.French))
}

func TestFallback(t *testing.T) {
	host := fstest.MapFS{
		"invite/de-AT/subject.txt": {Data: []byte("Servus {{.given_name}}")},
		"invite/de-AT/body.html":   {Data: []byte("<p>Servus</p>")},
		"invite/de-AT/body.txt":    {Data: []byte("Servus")},
		"invite/de-AT/sms.txt":     {Data: []byte("Servus")},
		"news/fr/subject.txt":      {Data: []byte("Bonjour")},
		"news/fr/body.html":        {Data: []byte("<p>Bonjour</p>")},
		"news/fr/body.txt":         {Data: []byte("Bonjour")},
	}
	r := newRenderer(t, invitetmpl.Config{})
	require.NoError(t, r.Register(host))
	tests := []struct {
		key, locale, want string
	}{
		{"invite", "de-AT", "Servus Ada"},
		{"invite", "de-CH", "Einladung zu Acme"},
		{"invite", "de", "Einladung zu Acme"},
		{"invite", "ar-SA", "دعوة للانضمام إلى Acme"},
		{"invite", "en-GB", "You are invited to join Acme"},
		{"invite", "fr-FR", "You are invited to join Acme"},     // no French: the default language
		{"invite", "", "You are invited to join Acme"},          // no locale
		{"invite", "not a tag", "You are invited to join Acme"}, // unparsable
		{"", "de", "Einladung zu Acme"},                         // no key: DefaultKey
		{"news", "fr-CA", "Bonjour"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+tt.locale, func(t *testing.T) {
			msg := message(tt.locale)
			msg.TemplateKey = tt.key
			subject, _, _, err := r.RenderEmail(msg)
			require.NoError(t, err)
			assert.Equal(t, tt.want, subject)
		})
	}
	assert.Equal(t, []string{"invite", "news"}, r.Keys())
	assert.Equal(t, []language.Tag{language.English, language.Arabic, language.German, language.MustParse("de-AT")},
		r.Languages("invite", invite.ChannelEmail))

	// news has no English template and no SMS: a typed error, either way.
	for _, locale := range []string{"en", "de", ""} {
		msg := message(locale)
		msg.TemplateKey = "news"
		_, _, _, err := r.RenderEmail(msg)
		var nt *invitetmpl.NoTemplateError
		require.ErrorAs(t, err, &nt, locale)
		assert.Equal(t, invitetmpl.NoTemplateError{Key: "news", Channel: invite.ChannelEmail, Locale: locale}, *nt)
		assert.ErrorIs(t, err, invitetmpl.ErrNoTemplate)
		assert.NotContains(t, err.Error(), "inv_testtoken")
	}
	msg := message("fr")
	msg.TemplateKey = "news"
	_, err := r.RenderSMS(msg)
	require.ErrorIs(t, err, invitetmpl.ErrNoTemplate)
	msg.TemplateKey = "unknown"
	_, _, _, err = r.RenderEmail(msg)
	require.ErrorIs(t, err, invitetmpl.ErrNoTemplate)
}

func TestDefaultLanguage(t *testing.T) {
	r := newRenderer(t, invitetmpl.Config{DefaultLanguage: language.German})
	subject, _, _, err := r.RenderEmail(message("pt-BR"))
	require.NoError(t, err)
	assert.Equal(t, "Einladung zu Acme", subject)
	// A regional default finds its language's templates.
	r = newRenderer(t, invitetmpl.Config{DefaultLanguage: language.MustParse("en-US")})
	subject, _, _, err = r.RenderEmail(message("pt-BR"))
	require.NoError(t, err)
	assert.Equal(t, "You are invited to join Acme", subject)
}

func TestEscaping(t *testing.T) {
	r := newRenderer(t, invitetmpl.Config{Variables: []string{"plan"}})
	hostile := `<script>alert("x")</script>`
	msg := message("en")
	msg.Vars.GivenName, msg.Vars.InvitedBy, msg.Vars.AccountName = hostile, `"><img src=x onerror=alert(1)>`, "Tom & Jerry's"
	msg.Vars.InviteLink = invite.NewSecret(`javascript:alert(1)`)
	_, html, text, err := r.RenderEmail(msg)
	require.NoError(t, err)
	assert.NotContains(t, html, "<script>")
	assert.NotContains(t, html, "<img")
	assert.NotContains(t, html, `href="javascript:`)
	assert.Contains(t, html, `href="#ZgotmplZ"`, "an unsafe link is neutralised")
	assert.Contains(t, html, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;")
	assert.Contains(t, html, "Tom &amp; Jerry&#39;s")
	assert.Contains(t, text, hostile, "the plain-text body is not escaped")

	// A host template puts a custom value in an attribute and a URL.
	require.NoError(t, r.Register(fstest.MapFS{
		"plan/en/subject.txt": {Data: []byte("Plan {{.plan}}\r\nBcc: x@example.com")},
		"plan/en/body.html":   {Data: []byte(`<a title="{{.plan}}" href="https://app.example/?plan={{.plan}}">{{.plan}}</a>`)},
		"plan/en/body.txt":    {Data: []byte("{{.plan}}")},
	}))
	msg.TemplateKey = "plan"
	msg.Vars.Custom = map[string]string{"plan": `a" onclick="x<`}
	subject, html, _, err := r.RenderEmail(msg)
	require.NoError(t, err)
	assert.Equal(t, `Plan a" onclick="x< Bcc: x@example.com`, subject, "the subject is one line")
	assert.Equal(t, `<a title="a&#34; onclick=&#34;x&lt;" href="https://app.example/?plan=a%22%20onclick%3d%22x%3c">a&#34; onclick=&#34;x&lt;</a>`+"\n", html)
}

func TestCustomVariables(t *testing.T) {
	r := newRenderer(t, invitetmpl.Config{Variables: []string{"plan", "app_name"}})
	require.NoError(t, r.Register(fstest.MapFS{
		"plan/en/sms.txt": {Data: []byte("{{.app_name}}: {{if .plan}}plan {{.plan}}{{else}}no plan{{end}} {{.invite_link}}")},
	}))
	msg := message("en")
	msg.TemplateKey = "plan"
	msg.Vars.Custom = map[string]string{"plan": "pro", "undeclared": "x"}
	sms, err := r.RenderSMS(msg)
	require.NoError(t, err)
	assert.Equal(t, ": plan pro "+testLink, sms.Body)
	msg.Vars.Custom = nil
	sms, err = r.RenderSMS(msg)
	require.NoError(t, err)
	assert.Equal(t, ": no plan "+testLink, sms.Body)
}

func TestSMSLimit(t *testing.T) {
	long := fstest.MapFS{"invite/en/sms.txt": {Data: []byte(strings.Repeat("x", 400) + "{{.name}}")}}
	r := newRenderer(t, invitetmpl.Config{MaxSMSSegments: 2})
	require.NoError(t, r.Register(long))
	_, err := r.RenderSMS(message("en"))
	var se *invitetmpl.SegmentsError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, invitetmpl.SegmentsError{Segments: 3, Max: 2, Encoding: invitetmpl.GSM7}, *se)
	assert.ErrorIs(t, err, invitetmpl.ErrTooManySegments)
	assert.NotContains(t, err.Error(), "Ada")

	r = newRenderer(t, invitetmpl.Config{MaxSMSSegments: -1})
	require.NoError(t, r.Register(long))
	sms, err := r.RenderSMS(message("en"))
	require.NoError(t, err)
	assert.Equal(t, 3, sms.Segments)
}

func TestResendFallsBackToFirstSend(t *testing.T) {
	r := newRenderer(t, invitetmpl.Config{NoDefaults: true})
	require.NoError(t, r.Register(fstest.MapFS{
		"invite/en/sms.txt":        {Data: []byte("first {{.invite_link}}")},
		"invite/de/sms.txt":        {Data: []byte("erste {{.invite_link}}")},
		"invite/de/resend/sms.txt": {Data: []byte("erneut {{.invite_link}}")},
	}))
	for _, tt := range []struct {
		locale string
		resend bool
		want   string
	}{{"en", false, "first"}, {"en", true, "first"}, {"de", false, "erste"}, {"de", true, "erneut"}} {
		msg := message(tt.locale)
		msg.Resend = tt.resend
		sms, err := r.RenderSMS(msg)
		require.NoError(t, err)
		assert.Equal(t, tt.want+" "+testLink, sms.Body)
	}
	_, _, _, err := r.RenderEmail(message("en"))
	require.True(t, errors.Is(err, invitetmpl.ErrNoTemplate))
}
