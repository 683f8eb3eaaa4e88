package invitesmtp

import (
	"bytes"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// echoRenderer puts the inviter's name in the subject as it is.
type echoRenderer struct{}

func (echoRenderer) RenderEmail(msg invite.Message) (string, string, string, error) {
	return msg.Vars.InvitedBy, "<p>x</p>", "x", nil
}

// FuzzHeaders: whatever the names and the subject hold, the message has
// exactly the expected headers, one recipient, and a subject that reads
// back as the sanitised text.
func FuzzHeaders(f *testing.F) {
	for _, s := range []string{"Ada", "Ada\r\nBcc: eve@evil.example", "=?UTF-8?Q?a=0D=0Ab?=", "Zoë\u2028x", "\x00\x85\xff",
		strings.Repeat("é", 600), "a: b\n\nbody", `a\?é`, `"Zoë" \ (x)`} {
		f.Add(s, s)
	}
	n, err := New(Config{Host: "localhost", TLS: NoTLS, From: "Acme <invites@acme.example>", Renderer: echoRenderer{},
		ReplyTo: "support@acme.example", ListUnsubscribe: ListUnsubscribe{URL: "https://acme.example/u", OneClick: true}})
	require.NoError(f, err)
	want := []string{"Content-Type", "Date", "From", "List-Unsubscribe", "List-Unsubscribe-Post", "Message-Id",
		"Mime-Version", "Reply-To", "Subject", "To"}
	f.Fuzz(func(t *testing.T, name, subject string) {
		msg := invite.Message{ID: name, Channel: invite.ChannelEmail, To: "ada@example.com",
			Vars: invite.Vars{Name: name, InvitedBy: subject}}
		m, err := n.build(msg, time.Now(), nil)
		clean := headerText(subject, maxSubject)
		if clean == "" {
			require.True(t, invite.IsPermanent(err))
			return
		}
		require.NoError(t, err)
		var buf bytes.Buffer
		_, err = m.WriteTo(&buf)
		require.NoError(t, err)
		parsed, err := mail.ReadMessage(&buf)
		require.NoError(t, err)
		var keys []string
		for k := range parsed.Header {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		require.Equal(t, want, keys)
		for k, v := range parsed.Header {
			require.Len(t, v, 1, k)
		}
		to, err := parsed.Header.AddressList("To")
		require.NoError(t, err)
		require.Len(t, to, 1)
		require.Equal(t, "ada@example.com", to[0].Address)
		require.Equal(t, displayName(name), to[0].Name)
		require.LessOrEqual(t, len(to[0].Name), 200)
		var dec mime.WordDecoder
		got, err := dec.DecodeHeader(parsed.Header.Get("Subject"))
		require.NoError(t, err)
		require.Equal(t, clean, got)
	})
}

// FuzzHeaderText: the sanitised text is valid UTF-8 without control
// characters, within its bound, and trimmed.
func FuzzHeaderText(f *testing.F) {
	for _, s := range []string{"", " a  b ", "a\r\nb", "\xff\xfe", "é", "\u2028"} {
		f.Add(s, 5)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max%2000 + 1
		if max < 1 {
			max = -max + 1
		}
		got := headerText(s, max)
		require.True(t, utf8.ValidString(got))
		require.False(t, hasControl(got))
		require.LessOrEqual(t, len(got), max)
		require.Equal(t, strings.TrimSpace(got), got)
		require.NotContains(t, got, "  ")
	})
}
