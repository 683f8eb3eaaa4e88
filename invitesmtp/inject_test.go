package invitesmtp_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitesmtp"
)

// injections are values that try to start a header line of their own.
var injections = []string{
	"Ada\r\nBcc: eve@evil.example",
	"Ada\nBcc: eve@evil.example",
	"Ada\rBcc: eve@evil.example",
	"Ada\r\n\r\n<html>forged body</html>",
	"Ada\u2028Bcc: eve@evil.example",
	"Ada\x00\x85Bcc: eve@evil.example",
	"=?UTF-8?Q?Ada=0D=0ABcc:_eve@evil.example?=",
}

// TestHeaderInjection: CR, LF and other line breaks in the invitee's
// name, the inviter's name or the account name (which reach the To
// display name and the subject) never start a header line: the raw
// message on the server has only the expected headers and one recipient.
func TestHeaderInjection(t *testing.T) {
	ts := startServer(t, serverOpts{StartTLS: true})
	n := newNotifier(t, testConfig(ts))
	for i, bad := range injections {
		msg := testMessage("inj-"+string(rune('a'+i)), "ada@example.com")
		msg.Vars.Name, msg.Vars.InvitedBy, msg.Vars.AccountName = bad, bad, bad
		msg.Vars.Custom = map[string]string{"x": bad}
		require.NoError(t, n.Notify(t.Context(), msg))
	}
	mails := waitMails(t, ts, len(injections))
	want := []string{"Content-Transfer-Encoding", "Content-Type", "Date", "From", "List-Unsubscribe",
		"List-Unsubscribe-Post", "MIME-Version", "Message-ID", "Reply-To", "Subject", "To"}
	for i, m := range mails {
		require.Equal(t, []string{"ada@example.com"}, m.To)
		p := parseMail(t, m.Data)
		names := headerNames(p.Raw)
		slices.Sort(names)
		names = slices.Compact(names)
		got := slices.DeleteFunc(names, func(s string) bool { return s == "Content-Transfer-Encoding" })
		require.Equal(t, slices.DeleteFunc(slices.Clone(want), func(s string) bool { return s == "Content-Transfer-Encoding" }), got,
			"injection %q", injections[i])
		head, _, _ := strings.Cut(p.Raw, "\r\n\r\n") // the bodies may hold anything
		for _, line := range strings.Split(head, "\r\n") {
			require.False(t, strings.HasPrefix(strings.ToLower(line), "bcc:"), "injection %q: %q", injections[i], line)
		}
		require.NotContains(t, p.Subject, "\r")
		require.NotContains(t, p.Subject, "\n")
		to, err := p.Header.AddressList("To")
		require.NoError(t, err)
		require.Len(t, to, 1)
		require.Equal(t, "ada@example.com", to[0].Address)
		require.NotContains(t, to[0].Name, "\n")
	}
	// The first one, read back: the break became a space.
	p := parseMail(t, mails[0].Data)
	require.Equal(t, "Ada Bcc: eve@evil.example invited you to Ada Bcc: eve@evil.example", p.Subject)
	// An encoded word in a value reads back as the text it is, not decoded.
	last := injections[len(injections)-1]
	require.Equal(t, last+" invited you to "+last, parseMail(t, mails[len(mails)-1].Data).Subject)
}

// TestInjectionInTo: a recipient with a line break is refused before
// anything is sent.
func TestInjectionInTo(t *testing.T) {
	ts := startServer(t, serverOpts{StartTLS: true})
	n := newNotifier(t, testConfig(ts))
	for _, to := range []string{
		"ada@example.com\r\nBcc: eve@evil.example", "ada@example.com\n", "ada@example.com>\r\nRCPT TO:<eve@evil.example",
		"<ada@example.com>", "ada@example.com,eve@evil.example", "",
	} {
		err := n.Notify(t.Context(), testMessage("a", to))
		require.Error(t, err, to)
		require.True(t, invite.IsPermanent(err), to)
	}
	require.Zero(t, ts.sessions.Load())
}

// TestConfigInjection: configured header values with line breaks are
// refused by New, naming the field.
func TestConfigInjection(t *testing.T) {
	ts := &testServer{Host: "127.0.0.1", Port: 2525}
	tests := []struct {
		field string
		set   func(*invitesmtp.Config)
	}{
		{"From", func(c *invitesmtp.Config) { c.From = "Acme\r\nBcc: eve@evil.example <invites@acme.example>" }},
		{"From", func(c *invitesmtp.Config) { c.From = "\"Acme\r\nBcc: eve@evil.example\" <invites@acme.example>" }},
		{"From", func(c *invitesmtp.Config) { c.From = "invites@acme.example\r\nBcc: eve@evil.example" }},
		{"ReplyTo", func(c *invitesmtp.Config) { c.ReplyTo = "support@acme.example\nBcc: eve@evil.example" }},
		{"ReplyTo", func(c *invitesmtp.Config) { c.ReplyTo = "\"Support\u2028Bcc: x\" <support@acme.example>" }},
		{"EnvelopeFrom", func(c *invitesmtp.Config) { c.EnvelopeFrom = "bounces@acme.example\r\nRCPT TO:<eve@evil.example>" }},
		{"ListUnsubscribe.URL", func(c *invitesmtp.Config) { c.ListUnsubscribe.URL = "https://acme.example/u\r\nBcc: eve@evil.example" }},
		{"ListUnsubscribe.URL", func(c *invitesmtp.Config) { c.ListUnsubscribe.URL = "https://acme.example/u>, <https://evil.example" }},
		{"ListUnsubscribe.Mailto", func(c *invitesmtp.Config) { c.ListUnsubscribe.Mailto = "u@acme.example\r\nBcc: eve@evil.example" }},
		{"ListUnsubscribe.Mailto", func(c *invitesmtp.Config) { c.ListUnsubscribe.Mailto = "u@acme.example?body=x" }},
		{"MessageIDDomain", func(c *invitesmtp.Config) { c.MessageIDDomain = "acme.example>\r\nBcc: eve@evil.example" }},
		{"HELO", func(c *invitesmtp.Config) { c.HELO = "client.test\r\nMAIL FROM:<eve@evil.example>" }},
		{"Host", func(c *invitesmtp.Config) { c.Host = "smtp.acme.example\r\n" }},
		{"Username", func(c *invitesmtp.Config) { c.Username, c.Password = "u\r\nAUTH x", "p" }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			cfg := testConfig(ts)
			tt.set(&cfg)
			_, err := invitesmtp.New(cfg)
			requireFieldError(t, err, tt.field)
		})
	}
}

// requireFieldError checks that err is an *invite.ValidationError naming
// field.
func requireFieldError(t *testing.T, err error, field string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, invite.ErrInvalid)
	var ve *invite.ValidationError
	require.True(t, errors.As(err, &ve), "%T", err)
	var fields []string
	for _, f := range ve.Fields {
		fields = append(fields, f.Field)
		require.NotEmpty(t, f.Code)
	}
	require.Contains(t, fields, field, err.Error())
}
