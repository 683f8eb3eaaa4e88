package invitephone_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitephone"
	"github.com/invitekit/invite/memstore"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		region, in, want string
	}{
		{"DE", "030 1234567", "+49301234567"},
		{"DE", "0151 23456789", "+4915123456789"},
		{"DE", "+49 (0)30 1234567", "+49301234567"},
		{"DE", "0049 30 1234567", "+49301234567"},
		{"de", "030/1234567", "+49301234567"},
		{"US", "(202) 456-1111", "+12024561111"},
		{"US", "+44 20 7123 4567", "+442071234567"},
		{"", "+1 202 456 1111", "+12024561111"},
		{"", "0049 30 1234567", "+49301234567"},
		{"DE", "12", ""},
		{"DE", "not a number", ""},
		{"US", "(202) 456-11111111", ""},
		{"", "030 1234567", ""},
		{"DE", "", ""},
	} {
		t.Run(tc.region+" "+tc.in, func(t *testing.T) {
			norm, err := invitephone.New(tc.region)
			require.NoError(t, err)
			got, err := norm(tc.in)
			if tc.want == "" {
				require.ErrorIs(t, err, invitephone.ErrInvalidNumber)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	_, err := invitephone.New("XX")
	require.ErrorIs(t, err, invitephone.ErrUnknownRegion)
}

// TestWithManager plugs the normaliser into a Manager: numbers as typed
// are stored in E.164, and found by the List filter as typed too.
func TestWithManager(t *testing.T) {
	norm, err := invitephone.New("DE")
	require.NoError(t, err)
	m, err := invite.New(memstore.New(), invite.Config{NormalizePhone: norm})
	require.NoError(t, err)
	ctx := context.Background()
	res, err := m.Create(ctx, invite.CreateInput{TenantID: "t1", Invitee: invite.Invitee{Phone: "0151 23456789"},
		Delivery: invite.DeliveryReturn})
	require.NoError(t, err)
	require.Equal(t, "+4915123456789", res.Invitation.Invitee.Phone)
	page, err := m.List(ctx, "t1", invite.ListOptions{Filter: invite.Filter{Phone: "0151/23456789"}})
	require.NoError(t, err)
	require.Len(t, page.Invitations, 1)

	for bad, code := range map[string]string{"12345": invite.CodeInvalidFormat, strings.Repeat("1", 60): invite.CodeTooLong} {
		_, err = m.Create(ctx, invite.CreateInput{TenantID: "t1", Invitee: invite.Invitee{Phone: bad}, Delivery: invite.DeliveryReturn})
		var ve *invite.ValidationError
		require.ErrorAs(t, err, &ve)
		require.True(t, ve.Has("Invitee.Phone"), "%v", err)
		require.Equal(t, code, ve.Fields[0].Code)
	}
}
