package invitesmtp_test

import (
	"context"
	"html"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitesmtp"
	"github.com/invitekit/invite/memstore"
)

// plainRenderer renders every message with one template. A real host uses
// a template renderer per key and language.
type plainRenderer struct{}

func (plainRenderer) RenderEmail(msg invite.Message) (subject, htmlBody, text string, err error) {
	v := msg.Vars
	link := v.InviteLink.Reveal()
	subject = v.InvitedBy + " invited you to " + v.AccountName
	htmlBody = `<p><a href="` + html.EscapeString(link) + `">Join ` + html.EscapeString(v.AccountName) + `</a></p>`
	text = "Join " + v.AccountName + ": " + link + "\n"
	return subject, htmlBody, text, nil
}

// The Notifier sends the Manager's invitations through a mail submission
// server, and the Dispatcher retries what fails: a greylisted recipient or
// a lost connection is retried with backoff, a recipient the server
// refuses for good is dead-lettered at once.
func Example() {
	mailer, err := invitesmtp.New(invitesmtp.Config{
		Host:     "smtp.acme.example", // port 587, STARTTLS required
		Username: "invites@acme.example",
		Password: os.Getenv("SMTP_PASSWORD"),
		From:     "Acme <invites@acme.example>",
		ReplyTo:  "support@acme.example",
		ListUnsubscribe: invitesmtp.ListUnsubscribe{
			URL: "https://acme.example/email-preferences", Mailto: "unsubscribe@acme.example",
		},
		Renderer:    plainRenderer{},
		Logger:      slog.Default(),
		Connections: 2, // two sessions at once, each reused message after message
	})
	if err != nil {
		log.Fatal(err) // an *invite.ValidationError naming the bad fields
	}
	defer mailer.Close()

	m, err := invite.New(memstore.New(), invite.Config{
		LinkTemplate: "https://app.acme.example/invite?token={{.Token}}",
		Notifier:     mailer,
	})
	if err != nil {
		log.Fatal(err)
	}
	d, err := m.NewDispatcher(invite.DispatcherConfig{AttemptTimeout: 45 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _ = d.Run(ctx) }()

	res, err := m.Create(ctx, invite.CreateInput{
		TenantID: "acme", Invitee: invite.Invitee{Email: "ada@example.com"},
		Inviter: invite.Inviter{ID: "u1", Name: "Grace"}, AccountName: "Acme",
	})
	if err != nil {
		log.Fatal(err)
	}
	if res.DeliveryErr != nil {
		// Not sent yet: the dispatcher retries it (or dead-letters it when
		// invite.IsPermanent(res.DeliveryErr)).
		log.Print(res.DeliveryErr)
	}
}
