package invitetmpl_test

import (
	"fmt"
	"strings"
	"testing/fstest"
	"time"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetmpl"
)

// Rendering an invitation email with the default templates, in the
// language that best matches the invitation's locale (de-AT: German).
func ExampleRenderer_RenderEmail() {
	r, err := invitetmpl.New(invitetmpl.Config{})
	if err != nil {
		panic(err)
	}
	msg := invite.Message{
		Channel: invite.ChannelEmail, To: "ada@example.com", Locale: "de-AT", TemplateKey: "invite",
		Vars: invite.Vars{
			Name: "Ada Lovelace", GivenName: "Ada", InvitedBy: "Grace", AccountName: "Acme",
			InviteLink: invite.NewSecret("https://app.example/invite?token=inv_example"),
			ExpiresAt:  time.Date(2027, 5, 3, 14, 0, 0, 0, time.UTC),
		},
	}
	subject, html, text, err := r.RenderEmail(msg)
	if err != nil {
		panic(err) // a notifier returns invite.Permanent(err)
	}
	fmt.Println(subject)
	fmt.Println(strings.Contains(html, `<html lang="de" dir="ltr">`))
	fmt.Print(text)
	// Output:
	// Einladung zu Acme
	// true
	// Hallo Ada,
	//
	// Grace hat Sie zu Acme eingeladen.
	//
	// Einladung annehmen:
	// https://app.example/invite?token=inv_example
	//
	// Die Einladung gilt bis zum 3. Mai 2027, 14:00 UTC.
	//
	// Falls Sie diese Einladung nicht erwartet haben, können Sie diese E-Mail ignorieren.
}

// Registering a host's own template key, with a variable of its own
// (declared in Config.Variables, set per invitation in
// CreateInput.Variables), from an fs.FS: here an fstest.MapFS, in a host
// usually an embed.FS.
func ExampleRenderer_Register() {
	r, err := invitetmpl.New(invitetmpl.Config{Variables: []string{"plan"}})
	if err != nil {
		panic(err)
	}
	err = r.Register(fstest.MapFS{
		"trial/en/subject.txt": {Data: []byte("Try {{.account_name}} {{.plan}}")},
		"trial/en/body.html":   {Data: []byte(`<p>{{.invited_by}} invites you: <a href="{{.invite_link}}">start</a></p>`)},
		"trial/en/body.txt":    {Data: []byte("{{.invited_by}} invites you: {{.invite_link}}")},
		"trial/en/sms.txt":     {Data: []byte("{{.account_name}} {{.plan}}: {{.invite_link}}")},
	})
	if err != nil {
		panic(err) // a *TemplateError naming the file
	}
	fmt.Println(r.Keys()) // for invite.Config.TemplateKeys

	msg := invite.Message{Locale: "en-GB", TemplateKey: "trial", Vars: invite.Vars{
		InvitedBy: "<Grace>", AccountName: "Acme", Custom: map[string]string{"plan": "Pro"},
		InviteLink: invite.NewSecret("https://app.example/i/inv_example"),
	}}
	subject, html, _, _ := r.RenderEmail(msg)
	fmt.Println(subject)
	fmt.Print(html)
	sms, _ := r.RenderSMS(msg)
	fmt.Println(sms.Body, sms.Encoding, sms.Segments)

	// A template naming a variable nobody declared is refused now, not
	// when the first invitation is sent.
	err = r.Register(fstest.MapFS{"trial/de/sms.txt": {Data: []byte("{{.plna}}")}})
	fmt.Println(err)
	// Output:
	// [invite trial]
	// Try Acme Pro
	// <p>&lt;Grace&gt; invites you: <a href="https://app.example/i/inv_example">start</a></p>
	// Acme Pro: https://app.example/i/inv_example GSM-7 1
	// invitetmpl: template trial/de/sms.txt: names the unknown variable .plna (not built in, not in Config.Variables)
}
