// Package invitesmtp delivers invitations by email over SMTP: a Notifier
// for invite.Config.Notifier that renders each message with a Renderer
// and hands it to a mail server.
//
//	r, err := invitetmpl.New(invitetmpl.Config{}) // the default templates
//	n, err := invitesmtp.New(invitesmtp.Config{
//		Host:     "smtp.acme.example", // port 587, STARTTLS required
//		Username: "invites@acme.example", Password: password,
//		From:     "Acme <invites@acme.example>",
//		Renderer: r, // an *invitetmpl.Renderer, or any type with RenderEmail
//	})
//	m, err := invite.New(store, invite.Config{Notifier: n, LinkTemplate: ...})
//
// # The email
//
// Each message is multipart/alternative with the text and HTML bodies the
// Renderer returns (one part when one body is empty), to msg.To (with the
// invitee's name as display name), from Config.From, with Reply-To and
// List-Unsubscribe (and List-Unsubscribe-Post for one-click) when
// configured, a Date, and a Message-ID derived from msg.ID and told apart
// per link (see Notifier.MessageID: a retried delivery carries a fresh
// link, and a mail system that drops a Message-ID it has seen must not
// hide the one that works). The domain part of the Message-ID is Config.MessageIDDomain,
// by default the domain of From's address.
//
// Nothing a host or an invitee typed can add a header: New refuses
// configured addresses, URLs and names holding control characters; the
// subject and the invitee's name lose their control characters and line
// breaks (each becomes a space) and are encoded as RFC 2047 words when
// they are not plain ASCII (a subject that contains "=?" is encoded whole,
// so a reader cannot decode a line break out of it); a To that is not one
// plain address is refused.
//
// # Connections
//
// The Notifier keeps Config.Connections connections (default 1) and sends
// one message at a time on each, resetting the session (RSET) between
// messages; concurrent Notify calls wait for a free connection. A
// connection is opened on first use and reopened after IdleTimeout
// without a message, after MaxMessagesPerConnection messages, after an
// error that may have left the session unusable, and, within the same
// Notify call, when a reused connection turns out to be closed before
// anything was sent. ConnectTimeout bounds opening one (dial, greeting,
// TLS, authentication), SendTimeout sending one message; Notify's context
// can only shorten both, and cancelling it closes the connection under
// way.
//
// TLS is StartTLS by default (STARTTLS required, port 587);
// StartTLSOpportunistic carries on without TLS when the server does not
// offer it; ImplicitTLS speaks TLS from the first byte (port 465); NoTLS
// is refused unless Host is a loopback address. With Username set, the
// Notifier authenticates with the first of Config.AuthMechanisms (PLAIN,
// LOGIN, CRAM-MD5 by default) the server offers; PLAIN and LOGIN never
// send the password over a connection without TLS, except to a loopback
// host.
//
// # Errors
//
// Notify's errors follow what the dispatcher does with them. Permanent
// ones are wrapped by invite.Permanent and dead-lettered at once: a
// message not for the email channel, a To that is not a plain address, a
// *RenderError, and a *SendError for a 5xx reply refusing the recipient
// (RCPT TO) or the message (DATA): 550, 553, 554, ... Every other failure
// is retried with the dispatcher's backoff: 4xx replies (greylisting, a
// full mailbox, 421), lost connections, timeouts, connection, TLS and
// authentication failures, and the replies that mean the configuration,
// not the message, is wrong: any refusal of the envelope sender (MAIL
// FROM, 5xx included, as a sender the server will not take refuses every
// message alike and should not dead-letter them all at once), 5xx replies
// to AUTH, and 530, 534, 535 and 538 at any stage. No error text and no log line holds the message's
// link or code: they are cut out of the server's replies.
//
// The package imports github.com/wneessen/go-mail for the SMTP session
// and the MIME message; the core package does not.
package invitesmtp
