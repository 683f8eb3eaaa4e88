package invitesmtp_test

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitesmtp"
)

// TestConfigValidation: New refuses a bad Config up front, naming every
// bad field with its code.
func TestConfigValidation(t *testing.T) {
	base := func() invitesmtp.Config {
		return invitesmtp.Config{Host: "smtp.acme.example", From: "invites@acme.example", Renderer: testRenderer{}}
	}
	tests := []struct {
		name  string
		set   func(*invitesmtp.Config)
		field string
		code  string
	}{
		{"host required", func(c *invitesmtp.Config) { c.Host = "" }, "Host", invite.CodeRequired},
		{"host with a port", func(c *invitesmtp.Config) { c.Host = "smtp.acme.example:587" }, "Host", invite.CodeInvalidFormat},
		{"from required", func(c *invitesmtp.Config) { c.From = "" }, "From", invite.CodeRequired},
		{"from not an address", func(c *invitesmtp.Config) { c.From = "Acme" }, "From", invite.CodeInvalidFormat},
		{"two from addresses", func(c *invitesmtp.Config) { c.From = "a@acme.example, b@acme.example" }, "From", invite.CodeInvalidFormat},
		{"from name net/mail cannot write", func(c *invitesmtp.Config) { c.From = `"Zoë \\ Acme" <invites@acme.example>` }, "From", invite.CodeInvalidFormat},
		{"renderer required", func(c *invitesmtp.Config) { c.Renderer = nil }, "Renderer", invite.CodeRequired},
		{"port out of range", func(c *invitesmtp.Config) { c.Port = 70000 }, "Port", invite.CodeOutOfRange},
		{"negative port", func(c *invitesmtp.Config) { c.Port = -1 }, "Port", invite.CodeOutOfRange},
		{"unknown TLS mode", func(c *invitesmtp.Config) { c.TLS = 9 }, "TLS", invite.CodeUnknown},
		{"no TLS to a remote host", func(c *invitesmtp.Config) { c.TLS = invitesmtp.NoTLS }, "TLS", invite.CodeNotAllowed},
		{"skip verify to a remote host", func(c *invitesmtp.Config) {
			c.TLSConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the point of the test
		}, "TLSConfig", invite.CodeNotAllowed},
		{"password without user", func(c *invitesmtp.Config) { c.Password = "p" }, "Username", invite.CodeRequired},
		{"unknown mechanism", func(c *invitesmtp.Config) {
			c.Username, c.AuthMechanisms = "u", []invitesmtp.AuthMechanism{"XOAUTH2"}
		}, "AuthMechanisms[0]", invite.CodeUnknown},
		{"no mechanism", func(c *invitesmtp.Config) {
			c.Username, c.AuthMechanisms = "u", []invitesmtp.AuthMechanism{}
		}, "AuthMechanisms", invite.CodeRequired},
		{"reply-to not an address", func(c *invitesmtp.Config) { c.ReplyTo = "support" }, "ReplyTo", invite.CodeInvalidFormat},
		{"one-click without a URL", func(c *invitesmtp.Config) {
			c.ListUnsubscribe = invitesmtp.ListUnsubscribe{Mailto: "u@acme.example", OneClick: true}
		}, "ListUnsubscribe.URL", invite.CodeRequired},
		{"unsubscribe over http", func(c *invitesmtp.Config) {
			c.ListUnsubscribe.URL = "http://acme.example/u"
		}, "ListUnsubscribe.URL", invite.CodeInvalidFormat},
		{"relative unsubscribe URL", func(c *invitesmtp.Config) {
			c.ListUnsubscribe.URL = "/unsubscribe"
		}, "ListUnsubscribe.URL", invite.CodeInvalidFormat},
		{"unsubscribe mailto with a name", func(c *invitesmtp.Config) {
			c.ListUnsubscribe.Mailto = "Unsub <u@acme.example>"
		}, "ListUnsubscribe.Mailto", invite.CodeInvalidFormat},
		{"message id domain", func(c *invitesmtp.Config) { c.MessageIDDomain = "acme example" }, "MessageIDDomain", invite.CodeInvalidFormat},
		{"negative connect timeout", func(c *invitesmtp.Config) { c.ConnectTimeout = -time.Second }, "ConnectTimeout", invite.CodeOutOfRange},
		{"negative send timeout", func(c *invitesmtp.Config) { c.SendTimeout = -time.Second }, "SendTimeout", invite.CodeOutOfRange},
		{"negative idle timeout", func(c *invitesmtp.Config) { c.IdleTimeout = -time.Second }, "IdleTimeout", invite.CodeOutOfRange},
		{"too many connections", func(c *invitesmtp.Config) { c.Connections = 65 }, "Connections", invite.CodeOutOfRange},
		{"negative message limit", func(c *invitesmtp.Config) { c.MaxMessagesPerConnection = -1 }, "MaxMessagesPerConnection", invite.CodeOutOfRange},
		{"bad HELO", func(c *invitesmtp.Config) { c.HELO = "client test" }, "HELO", invite.CodeInvalidFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.set(&cfg)
			_, err := invitesmtp.New(cfg)
			requireFieldError(t, err, tt.field)
			var ve *invite.ValidationError
			require.ErrorAs(t, err, &ve)
			for _, f := range ve.Fields {
				if f.Field == tt.field {
					require.Equal(t, tt.code, f.Code, f.Reason)
				}
			}
		})
	}

	t.Run("every problem at once", func(t *testing.T) {
		_, err := invitesmtp.New(invitesmtp.Config{Port: -1, Connections: -1})
		var ve *invite.ValidationError
		require.ErrorAs(t, err, &ve)
		var fields []string
		for _, f := range ve.Fields {
			fields = append(fields, f.Field)
		}
		require.Subset(t, fields, []string{"Host", "Port", "From", "Renderer", "Connections"})
	})

	t.Run("valid", func(t *testing.T) {
		for _, set := range []func(*invitesmtp.Config){
			func(*invitesmtp.Config) {},
			func(c *invitesmtp.Config) { c.Host, c.TLS = "localhost", invitesmtp.NoTLS },
			func(c *invitesmtp.Config) { c.Host, c.TLS = "::1", invitesmtp.NoTLS },
			func(c *invitesmtp.Config) { c.Host, c.TLS = "192.0.2.1", invitesmtp.ImplicitTLS },
			func(c *invitesmtp.Config) {
				c.Username, c.Password = "u", "p"
				c.AuthMechanisms = []invitesmtp.AuthMechanism{invitesmtp.AuthCRAMMD5}
			},
			func(c *invitesmtp.Config) {
				c.ListUnsubscribe = invitesmtp.ListUnsubscribe{URL: "http://localhost:8080/u"}
			},
			func(c *invitesmtp.Config) { c.HELO = "[192.0.2.7]" },
		} {
			cfg := base()
			set(&cfg)
			n, err := invitesmtp.New(cfg)
			require.NoError(t, err)
			require.NoError(t, n.Close())
		}
	})
}

// TestTLSModeString names the modes.
func TestTLSModeString(t *testing.T) {
	require.Equal(t, "starttls", invitesmtp.StartTLS.String())
	require.Equal(t, "starttls-opportunistic", invitesmtp.StartTLSOpportunistic.String())
	require.Equal(t, "implicit-tls", invitesmtp.ImplicitTLS.String())
	require.Equal(t, "none", invitesmtp.NoTLS.String())
	require.Equal(t, "TLSMode(9)", invitesmtp.TLSMode(9).String())
}
