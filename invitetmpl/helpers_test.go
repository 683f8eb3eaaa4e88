package invitetmpl_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetmpl"
)

const testLink = "https://app.example/invite?token=inv_testtoken&org=acme"

// message is a message in locale with every built-in variable set.
func message(locale string) invite.Message {
	return invite.Message{
		ID: "msg-1", TenantID: "acme", InvitationID: "inv-1", Channel: invite.ChannelEmail,
		To: "ada@example.com", Locale: locale, TemplateKey: "invite",
		Vars: invite.Vars{
			Name: "Ada Lovelace", GivenName: "Ada", FamilyName: "Lovelace",
			InviteLink: invite.NewSecret(testLink), InvitedBy: "Grace Hopper", AccountName: "Acme",
			ExpiresAt: time.Date(2027, 5, 3, 14, 0, 0, 0, time.UTC), Code: invite.NewSecret("K7PQM2"),
		},
	}
}

// newRenderer is a Renderer on cfg, failing the test on an error.
func newRenderer(t testing.TB, cfg invitetmpl.Config) *invitetmpl.Renderer {
	t.Helper()
	r, err := invitetmpl.New(cfg)
	require.NoError(t, err)
	return r
}
