package invitehook_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitehook"
)

// TestBadID: Sign, NewWebhook and Send refuse an id that cannot be a
// webhook-id with an *invite.ValidationError on the field "ID" that
// matches ErrMalformedID (Send's is permanent), and post nothing.
func TestBadID(t *testing.T) {
	secret := invitehook.NewSecret()
	rc := newReceiver(t, []string{secret}, nil)
	s := newSink(t, invitehook.Config{Endpoints: []invitehook.Endpoint{{URL: rc.URL, Secrets: []string{secret}}}})
	at := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	calls := []struct {
		name string
		call func(id string) error
	}{
		{"Sign", func(id string) error { _, err := invitehook.Sign(id, at, []byte("{}"), secret); return err }},
		{"NewWebhook", func(id string) error { _, err := invitehook.NewWebhook(id, "account.created", at, nil); return err }},
		{"Send", func(id string) error {
			return s.Send(t.Context(), invitehook.Webhook{ID: id, Type: "account.created", Body: []byte("{}")})
		}},
	}
	ids := []struct {
		name string
		id   string
		ok   bool
	}{
		{"empty", "", false},
		{"full stop", "account.created.7", false},
		{"space", "bad id", false},
		{"control character", "a\nb", false},
		{"non-ASCII", "café", false},
		{"257 characters", strings.Repeat("a", 257), false},
		{"256 characters", strings.Repeat("a", 256), true},
		{"a UUID", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", true},
	}
	for _, c := range calls {
		for _, tt := range ids {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				err := c.call(tt.id)
				if tt.ok {
					require.NoError(t, err)
					return
				}
				var ve *invite.ValidationError
				require.True(t, errors.As(err, &ve), "%T: %v", err, err)
				require.Len(t, ve.Fields, 1)
				require.Equal(t, "ID", ve.Fields[0].Field)
				require.Equal(t, invite.CodeInvalidFormat, ve.Fields[0].Code)
				require.ErrorIs(t, err, invitehook.ErrMalformedID)
				require.ErrorIs(t, err, invite.ErrInvalid)
				if c.name == "Send" {
					require.True(t, invite.IsPermanent(err))
				}
			})
		}
	}
	// Only the two valid ids reached the receiver, once each.
	require.Len(t, rc.ids(t), 2)
}
