package invitetmpl_test

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite/invitetmpl"
)

// emailFS is a complete email in key/lang with the given HTML body.
func emailFS(dir, html string) fstest.MapFS {
	return fstest.MapFS{
		dir + "/subject.txt": {Data: []byte("Hi {{.name}}")},
		dir + "/body.html":   {Data: []byte(html)},
		dir + "/body.txt":    {Data: []byte("Hi {{.name}} {{.invite_link}}")},
	}
}

func with(fs fstest.MapFS, name, data string) fstest.MapFS {
	fs[name] = &fstest.MapFile{Data: []byte(data)}
	return fs
}

func TestRegisterErrors(t *testing.T) {
	tests := []struct {
		name string
		fs   fstest.MapFS
		want error
		path string
	}{
		{"unknown variable", emailFS("k/en", "<p>{{.nmae}}</p>"), invitetmpl.ErrUnknownVariable, "k/en/body.html"},
		{"unknown variable in a branch", with(fstest.MapFS{}, "k/en/sms.txt", "{{if .code}}{{else}}{{.plan}}{{end}}"), invitetmpl.ErrUnknownVariable, "k/en/sms.txt"},
		{"unknown variable through $", with(fstest.MapFS{}, "k/en/sms.txt", "{{with .code}}{{$.plan}}{{end}}"), invitetmpl.ErrUnknownVariable, "k/en/sms.txt"},
		{"unknown variable in a nested pipeline", with(fstest.MapFS{}, "k/en/sms.txt", `{{printf "%s" (print .plan)}}`), invitetmpl.ErrUnknownVariable, "k/en/sms.txt"},
		{"undeclared custom variable in a subject", with(emailFS("k/en", "<p></p>"), "k/en/subject.txt", "{{.app_name}}"), invitetmpl.ErrUnknownVariable, "k/en/subject.txt"},
		{"bad syntax", emailFS("k/en", "<p>{{.name</p>"), invitetmpl.ErrSyntax, "k/en/body.html"},
		{"unclosed if", with(fstest.MapFS{}, "k/en/sms.txt", "{{if .name}}x"), invitetmpl.ErrSyntax, "k/en/sms.txt"},
		{"unknown function", with(fstest.MapFS{}, "k/en/sms.txt", "{{upper .name}}"), invitetmpl.ErrSyntax, "k/en/sms.txt"},
		{"ambiguous HTML context", emailFS("k/en", `<a href="{{if .name}}x{{else}}">{{end}}">`), invitetmpl.ErrSyntax, "k/en/body.html"},
		{"empty template", with(fstest.MapFS{}, "k/en/sms.txt", " \n"), invitetmpl.ErrSyntax, "k/en/sms.txt"},
		{"index", with(fstest.MapFS{}, "k/en/sms.txt", `{{index . "secret"}}`), invitetmpl.ErrConstruct, "k/en/sms.txt"},
		{"sub-template", with(fstest.MapFS{}, "k/en/sms.txt", `{{define "x"}}a{{end}}{{template "x"}}`), invitetmpl.ErrConstruct, "k/en/sms.txt"},
		{"field of a variable", with(fstest.MapFS{}, "k/en/sms.txt", `{{.name.first}}`), invitetmpl.ErrConstruct, "k/en/sms.txt"},
		{"missing HTML body", func() fstest.MapFS { f := emailFS("k/en", ""); delete(f, "k/en/body.html"); return f }(), invitetmpl.ErrMissingPart, "k/en"},
		{"missing subject in the resend variant", func() fstest.MapFS {
			f := emailFS("k/en/resend", "<p></p>")
			delete(f, "k/en/resend/subject.txt")
			return with(f, "k/en/sms.txt", "x")
		}(), invitetmpl.ErrMissingPart, "k/en/resend"},
		{"resend without first send", with(fstest.MapFS{}, "k/en/resend/sms.txt", "again"), invitetmpl.ErrMissingPart, "k/en/resend"},
		{"empty language folder", fstest.MapFS{"k/en/.keep": {}}, invitetmpl.ErrMissingPart, "k/en"},
		{"unknown file", with(fstest.MapFS{}, "k/en/subjet.txt", "x"), invitetmpl.ErrLayout, "k/en/subjet.txt"},
		{"not a language", with(fstest.MapFS{}, "k/english!/sms.txt", "x"), invitetmpl.ErrLayout, "k/english!"},
		{"file at the top", with(fstest.MapFS{}, "README.md", "x"), invitetmpl.ErrLayout, "README.md"},
		{"same language twice", with(with(fstest.MapFS{}, "k/de-at/sms.txt", "x"), "k/de-AT/sms.txt", "y"), invitetmpl.ErrLayout, "k/de-at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRenderer(t, invitetmpl.Config{})
			before := r.Keys()
			err := r.Register(tt.fs)
			require.ErrorIs(t, err, tt.want)
			require.ErrorIs(t, err, invitetmpl.ErrTemplate)
			var te *invitetmpl.TemplateError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tt.path, te.Path)
			assert.Equal(t, before, r.Keys(), "nothing registered")
		})
	}
}

func TestRegisterIsAllOrNothing(t *testing.T) {
	r := newRenderer(t, invitetmpl.Config{})
	fs := emailFS("good/en", "<p>{{.name}}</p>")
	fs["bad/en/sms.txt"] = &fstest.MapFile{Data: []byte("{{.nope}}")}
	require.ErrorIs(t, r.Register(fs), invitetmpl.ErrUnknownVariable)
	assert.Equal(t, []string{"invite"}, r.Keys())
}

func TestRegisterOverridesPerChannel(t *testing.T) {
	r := newRenderer(t, invitetmpl.Config{})
	require.NoError(t, r.Register(fstest.MapFS{
		"invite/en/sms.txt": {Data: []byte("Join {{.account_name}}: {{.invite_link}}")},
		"invite/.git/x":     {Data: []byte("skipped: starts with a dot")},
	}))
	msg := message("en")
	sms, err := r.RenderSMS(msg)
	require.NoError(t, err)
	assert.Equal(t, "Join Acme: "+testLink, sms.Body)
	subject, _, _, err := r.RenderEmail(msg)
	require.NoError(t, err)
	assert.Equal(t, "You are invited to join Acme", subject, "the default email stays")

	// The resend variant of the default still applies to the email, the
	// new SMS has none: a resend SMS uses the new first-send one.
	msg.Resend = true
	sms, err = r.RenderSMS(msg)
	require.NoError(t, err)
	assert.Equal(t, "Reminder: Grace Hopper invited you to join Acme. Accept: "+testLink+" Code: K7PQM2", sms.Body,
		"the default resend SMS stays registered")
}

func TestNoDefaults(t *testing.T) {
	r := newRenderer(t, invitetmpl.Config{NoDefaults: true})
	assert.Empty(t, r.Keys())
	_, _, _, err := r.RenderEmail(message("en"))
	require.ErrorIs(t, err, invitetmpl.ErrNoTemplate)
	require.NoError(t, r.Register(invitetmpl.Defaults()))
	assert.Equal(t, []string{"invite"}, r.Keys())
}

func TestRegisterWhileRendering(t *testing.T) {
	r := newRenderer(t, invitetmpl.Config{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			lang := []string{"fr", "it", "es"}[i%3]
			assert.NoError(t, r.Register(fstest.MapFS{"invite/" + lang + "/sms.txt": {Data: []byte("{{.invite_link}}")}}))
		}
	}()
	for range 200 {
		_, _, _, err := r.RenderEmail(message("fr"))
		require.NoError(t, err)
		_, err = r.RenderSMS(message("it"))
		require.NoError(t, err)
	}
	<-done
}
