package invitesmtp_test

import (
	"bytes"
	"errors"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitesmtp"
)

// The secrets of testMessage.
const (
	testToken = "inv_4Dq9ZsV0bN7cX2mK8pL1wR5tY3uE6iO0aS9dF2gH4jK7lZx1AbCdEf"
	testLink  = "https://app.example/invite?token=" + testToken
	testCode  = "K7P2-9QXM"
)

// testRenderer renders a small email from the message's variables. The
// template key "broken" fails, echoing the link as a careless template
// error might.
type testRenderer struct{}

func (testRenderer) RenderEmail(msg invite.Message) (subject, htmlBody, text string, err error) {
	v := msg.Vars
	link := v.InviteLink.Reveal()
	if msg.TemplateKey == "broken" {
		return "", "", "", errors.New("template invite: cannot render " + link + " with code " + v.Code.Reveal())
	}
	subject = v.InvitedBy + " invited you to " + v.AccountName
	htmlBody = "<p>Hello " + html.EscapeString(v.Name) + `,</p><p><a href="` + html.EscapeString(link) +
		`">Accept the invitation</a> or type ` + html.EscapeString(v.Code.Reveal()) + "</p>"
	text = "Hello " + v.Name + ",\n\nAccept the invitation: " + link + "\nor type " + v.Code.Reveal() + "\n"
	return subject, htmlBody, text, nil
}

// testMessage is an invitation email to to.
func testMessage(id, to string) invite.Message {
	return invite.Message{
		ID: id, TenantID: "acme", InvitationID: "inv-" + id, Channel: invite.ChannelEmail, To: to,
		Locale: "en", TemplateKey: "invite",
		Vars: invite.Vars{
			Name: "Ada Lovelace", GivenName: "Ada", FamilyName: "Lovelace",
			InviteLink: invite.NewSecret(testLink), InvitedBy: "Grace Hopper", AccountName: "Acme",
			ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), Code: invite.NewSecret(testCode),
		},
	}
}

// testConfig is a Config for ts: STARTTLS trusting its certificate, every
// header set, short timeouts.
func testConfig(ts *testServer) invitesmtp.Config {
	return invitesmtp.Config{
		Host: ts.Host, Port: ts.Port, TLS: invitesmtp.StartTLS,
		TLSConfig: newTLSConfig(ts),
		HELO:      "client.test",
		From:      "Acme Invitations <invites@acme.example>",
		ReplyTo:   "Acme Support <support@acme.example>",
		ListUnsubscribe: invitesmtp.ListUnsubscribe{
			URL: "https://acme.example/unsubscribe?list=invites", Mailto: "unsubscribe@acme.example", OneClick: true,
		},
		Renderer:       testRenderer{},
		ConnectTimeout: 5 * time.Second,
		SendTimeout:    5 * time.Second,
	}
}

// newNotifier makes a Notifier, closed at the end of the test.
func newNotifier(t *testing.T, cfg invitesmtp.Config) *invitesmtp.Notifier {
	t.Helper()
	n, err := invitesmtp.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// parsedMail is a received message, parsed.
type parsedMail struct {
	Raw     string
	Header  mail.Header
	Subject string
	Text    string
	HTML    string
}

// parseMail parses a multipart/alternative message (or a single part) and
// decodes its subject and bodies.
func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	require.NoError(t, err)
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	require.NoError(t, err)
	p := parsedMail{Raw: string(data), Header: m.Header, Subject: subject}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(t, err)
	if !strings.HasPrefix(mt, "multipart/") {
		body, err := io.ReadAll(m.Body)
		require.NoError(t, err)
		p.Text = string(body)
		return p
	}
	require.Equal(t, "multipart/alternative", mt)
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		body, err := io.ReadAll(part) // quoted-printable is decoded by the reader
		require.NoError(t, err)
		ct, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		require.NoError(t, err)
		switch ct {
		case "text/plain":
			p.Text = string(body)
		case "text/html":
			p.HTML = string(body)
		default:
			t.Fatalf("unexpected part %s", ct)
		}
	}
	return p
}

// headerNames lists the names of the raw message's header lines, in order.
func headerNames(raw string) []string {
	head, _, _ := strings.Cut(strings.ReplaceAll(raw, "\r\n", "\n"), "\n\n")
	var names []string
	for line := range strings.SplitSeq(head, "\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue // a folded continuation
		}
		name, _, _ := strings.Cut(line, ":")
		names = append(names, name)
	}
	return names
}

// waitMails waits until ts has received n messages.
func waitMails(t *testing.T, ts *testServer, n int) []received {
	t.Helper()
	require.Eventually(t, func() bool { return len(ts.Mails()) >= n }, 5*time.Second, 5*time.Millisecond)
	return ts.Mails()
}
