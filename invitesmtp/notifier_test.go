package invitesmtp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitesmtp"
)

// TestDelivery sends a message through each TLS mode and authentication
// mechanism and reads it back on the server.
func TestDelivery(t *testing.T) {
	all := []string{"PLAIN", "LOGIN", "CRAM-MD5"}
	tests := []struct {
		name     string
		server   serverOpts
		tls      invitesmtp.TLSMode
		auth     bool
		mechs    []invitesmtp.AuthMechanism
		wantAuth string
		wantTLS  bool
	}{
		{name: "starttls", server: serverOpts{StartTLS: true}, tls: invitesmtp.StartTLS, wantTLS: true},
		{name: "starttls plain", server: serverOpts{StartTLS: true, Auth: []string{"PLAIN"}},
			tls: invitesmtp.StartTLS, auth: true, wantAuth: "PLAIN", wantTLS: true},
		{name: "starttls login", server: serverOpts{StartTLS: true, Auth: []string{"LOGIN"}},
			tls: invitesmtp.StartTLS, auth: true, wantAuth: "LOGIN", wantTLS: true},
		{name: "starttls cram-md5", server: serverOpts{StartTLS: true, Auth: []string{"CRAM-MD5"}},
			tls: invitesmtp.StartTLS, auth: true, wantAuth: "CRAM-MD5", wantTLS: true},
		{name: "all offered, default preference", server: serverOpts{StartTLS: true, Auth: all},
			tls: invitesmtp.StartTLS, auth: true, wantAuth: "PLAIN", wantTLS: true},
		{name: "all offered, CRAM-MD5 preferred", server: serverOpts{StartTLS: true, Auth: all},
			tls: invitesmtp.StartTLS, auth: true, mechs: []invitesmtp.AuthMechanism{invitesmtp.AuthCRAMMD5, invitesmtp.AuthPlain},
			wantAuth: "CRAM-MD5", wantTLS: true},
		{name: "implicit tls login", server: serverOpts{ImplicitTLS: true, Auth: []string{"LOGIN"}},
			tls: invitesmtp.ImplicitTLS, auth: true, wantAuth: "LOGIN", wantTLS: true},
		{name: "opportunistic, offered", server: serverOpts{StartTLS: true}, tls: invitesmtp.StartTLSOpportunistic, wantTLS: true},
		{name: "opportunistic, not offered", server: serverOpts{}, tls: invitesmtp.StartTLSOpportunistic},
		{name: "no tls", server: serverOpts{}, tls: invitesmtp.NoTLS},
		{name: "no tls plain on loopback", server: serverOpts{Auth: []string{"PLAIN"}, InsecureAuth: true},
			tls: invitesmtp.NoTLS, auth: true, wantAuth: "PLAIN"},
		{name: "no tls cram-md5", server: serverOpts{Auth: []string{"CRAM-MD5"}, InsecureAuth: true},
			tls: invitesmtp.NoTLS, auth: true, wantAuth: "CRAM-MD5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, tt.server)
			cfg := testConfig(ts)
			cfg.TLS = tt.tls
			if tt.auth {
				cfg.Username, cfg.Password = testUser, testPass
				cfg.AuthMechanisms = tt.mechs
			}
			n := newNotifier(t, cfg)
			msg := testMessage("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "ada@example.com")
			require.NoError(t, n.Notify(t.Context(), msg))

			mails := ts.Mails()
			require.Len(t, mails, 1)
			got := mails[0]
			require.Equal(t, "invites@acme.example", got.From)
			require.Equal(t, []string{"ada@example.com"}, got.To)
			require.Equal(t, tt.wantAuth, got.Auth)
			require.Equal(t, tt.wantTLS, got.TLS)

			p := parseMail(t, got.Data)
			require.Equal(t, "Grace Hopper invited you to Acme", p.Subject)
			require.Regexp(t, `^<invite\.0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\.[0-9a-f]{16}@acme\.example>$`, p.Header.Get("Message-ID"))
			require.Equal(t, n.MessageID(msg), p.Header.Get("Message-ID"))
			from, err := p.Header.AddressList("From")
			require.NoError(t, err)
			require.Equal(t, "Acme Invitations", from[0].Name)
			require.Equal(t, "invites@acme.example", from[0].Address)
			to, err := p.Header.AddressList("To")
			require.NoError(t, err)
			require.Len(t, to, 1)
			require.Equal(t, "Ada Lovelace", to[0].Name)
			require.Equal(t, "ada@example.com", to[0].Address)
			replyTo, err := p.Header.AddressList("Reply-To")
			require.NoError(t, err)
			require.Equal(t, "support@acme.example", replyTo[0].Address)
			require.Equal(t, "<https://acme.example/unsubscribe?list=invites>, <mailto:unsubscribe@acme.example>",
				p.Header.Get("List-Unsubscribe"))
			require.Equal(t, "List-Unsubscribe=One-Click", p.Header.Get("List-Unsubscribe-Post"))
			date, err := p.Header.Date()
			require.NoError(t, err)
			require.WithinDuration(t, time.Now(), date, time.Minute)
			require.Empty(t, p.Header.Get("User-Agent"))
			require.Empty(t, p.Header.Get("X-Mailer"))

			require.Contains(t, p.Text, "Hello Ada Lovelace,")
			require.Contains(t, p.Text, testLink)
			require.Contains(t, p.Text, testCode)
			require.Contains(t, p.HTML, "<p>Hello Ada Lovelace,</p>")
			require.Contains(t, p.HTML, `<a href="`+strings.ReplaceAll(testLink, "&", "&amp;")+`">`)
		})
	}
}

// TestNonASCII: names and subjects outside ASCII are encoded words in the
// headers and arrive intact.
func TestNonASCII(t *testing.T) {
	ts := startServer(t, serverOpts{StartTLS: true})
	cfg := testConfig(ts)
	cfg.From = "Zoë’s Café <invites@acme.example>"
	n := newNotifier(t, cfg)
	msg := testMessage("m-1", "ada@example.com")
	msg.Vars.Name = "Ада Ловелас"
	msg.Vars.InvitedBy = "Zoë Ünal"
	msg.Vars.AccountName = "カフェ — قهوة"
	require.NoError(t, n.Notify(t.Context(), msg))

	p := parseMail(t, waitMails(t, ts, 1)[0].Data)
	require.Equal(t, "Zoë Ünal invited you to カフェ — قهوة", p.Subject)
	require.Contains(t, p.Header.Get("Subject"), "=?UTF-8?")
	for _, line := range strings.Split(p.Raw[:strings.Index(p.Raw, "\r\n\r\n")], "\r\n") {
		for _, c := range []byte(line) {
			require.Less(t, c, byte(0x80), "raw 8-bit byte in header line %q", line)
		}
	}
	to, err := p.Header.AddressList("To")
	require.NoError(t, err)
	require.Equal(t, "Ада Ловелас", to[0].Name)
	from, err := p.Header.AddressList("From")
	require.NoError(t, err)
	require.Equal(t, "Zoë’s Café", from[0].Name)
	require.Contains(t, p.Text, "Hello Ада Ловелас,")
	require.Contains(t, p.HTML, "Hello Ада Ловелас,")
}

// TestMessageID: one attempt keeps its Message-ID; another link (a retried
// delivery's fresh secret) gets another; an id that is not safe in a
// header is hashed.
func TestMessageID(t *testing.T) {
	ts := startServer(t, serverOpts{StartTLS: true})
	cfg := testConfig(ts)
	cfg.MessageIDDomain = "mail.acme.example"
	n := newNotifier(t, cfg)
	retried := testMessage("a-1", "ada@example.com")
	retried.Vars.InviteLink = invite.NewSecret(testLink + "-fresh")
	for _, msg := range []invite.Message{testMessage("a-1", "ada@example.com"), testMessage("a-1", "ada@example.com"), retried,
		testMessage("b\r\nBcc: x@evil.example", "ada@example.com"), testMessage(strings.Repeat("x", 65), "ada@example.com")} {
		require.NoError(t, n.Notify(t.Context(), msg))
	}
	mails := waitMails(t, ts, 5)
	var ids []string
	for _, m := range mails {
		ids = append(ids, parseMail(t, m.Data).Header.Get("Message-ID"))
	}
	require.Regexp(t, `^<invite\.a-1\.[0-9a-f]{16}@mail\.acme\.example>$`, ids[0])
	require.Equal(t, ids[0], ids[1], "the same attempt")
	require.NotEqual(t, ids[0], ids[2], "another link")
	require.True(t, strings.HasPrefix(ids[2], "<invite.a-1."), "the delivery's id stays")
	require.Regexp(t, `^<invite\.[0-9a-f]{64}\.[0-9a-f]{16}@mail\.acme\.example>$`, ids[3])
	require.Regexp(t, `^<invite\.[0-9a-f]{64}\.[0-9a-f]{16}@mail\.acme\.example>$`, ids[4])
	require.NotEqual(t, ids[3], ids[4])
	for _, id := range ids {
		require.NotContains(t, id, testLink)
	}
}

// TestNoOptionalHeaders: without Reply-To and List-Unsubscribe the message
// has neither header, and Message-ID takes From's domain.
func TestNoOptionalHeaders(t *testing.T) {
	ts := startServer(t, serverOpts{StartTLS: true})
	cfg := testConfig(ts)
	cfg.ReplyTo, cfg.ListUnsubscribe = "", invitesmtp.ListUnsubscribe{}
	cfg.From = "invites@Mail.Acme.Example"
	n := newNotifier(t, cfg)
	require.NoError(t, n.Notify(t.Context(), testMessage("a-1", "ada@example.com")))
	p := parseMail(t, waitMails(t, ts, 1)[0].Data)
	require.NotContains(t, headerNames(p.Raw), "Reply-To")
	require.NotContains(t, headerNames(p.Raw), "List-Unsubscribe")
	require.NotContains(t, headerNames(p.Raw), "List-Unsubscribe-Post")
	require.Regexp(t, `^<invite\.a-1\.[0-9a-f]{16}@Mail\.Acme\.Example>$`, p.Header.Get("Message-ID"))
}

// TestNotEmail: a message for another channel, a bad To and a render
// failure are permanent, and nothing is sent.
func TestNotEmail(t *testing.T) {
	ts := startServer(t, serverOpts{StartTLS: true})
	n := newNotifier(t, testConfig(ts))
	sms := testMessage("a", "+4915112345678")
	sms.Channel = invite.ChannelSMS
	twoTo := testMessage("b", "ada@example.com, eve@example.com")
	named := testMessage("c", "Eve <eve@example.com>")
	crlf := testMessage("d", "ada@example.com\r\nBcc: eve@example.com")
	broken := testMessage("e", "ada@example.com")
	broken.TemplateKey = "broken"
	for _, msg := range []invite.Message{sms, twoTo, named, crlf, broken} {
		err := n.Notify(t.Context(), msg)
		require.Error(t, err)
		require.True(t, invite.IsPermanent(err), err.Error())
		require.NotContains(t, err.Error(), testToken)
		require.NotContains(t, err.Error(), testCode)
	}
	var re *invitesmtp.RenderError
	require.ErrorAs(t, n.Notify(t.Context(), broken), &re)
	require.Contains(t, re.Error(), "cannot render [REDACTED] with code [REDACTED]")
	require.Zero(t, ts.sessions.Load(), "nothing reaches the server")
}

// TestClose: Close ends the session; Notify then fails with ErrClosed.
func TestClose(t *testing.T) {
	ts := startServer(t, serverOpts{StartTLS: true})
	n, err := invitesmtp.New(testConfig(ts))
	require.NoError(t, err)
	require.NoError(t, n.Notify(t.Context(), testMessage("a", "ada@example.com")))
	require.NoError(t, n.Close())
	require.NoError(t, n.Close())
	require.ErrorIs(t, n.Notify(t.Context(), testMessage("b", "ada@example.com")), invitesmtp.ErrClosed)
	require.Len(t, ts.Mails(), 1)
}
