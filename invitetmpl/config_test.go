package invitetmpl_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetmpl"
)

// TestConfigErrors: New refuses a bad MaxSMSSegments or Variables entry
// with an *invite.ValidationError naming each bad field, with its code.
func TestConfigErrors(t *testing.T) {
	type field struct{ name, code string }
	tests := []struct {
		name string
		cfg  invitetmpl.Config
		want []field // nil: accepted
	}{
		{name: "defaults", cfg: invitetmpl.Config{}},
		{name: "no SMS limit", cfg: invitetmpl.Config{MaxSMSSegments: -1}},
		{name: "SMS limit 1", cfg: invitetmpl.Config{MaxSMSSegments: 1}},
		{name: "custom variables", cfg: invitetmpl.Config{Variables: []string{"plan", "app_name", "seats2"}}},
		{name: "SMS limit below -1", cfg: invitetmpl.Config{MaxSMSSegments: -2},
			want: []field{{"MaxSMSSegments", invite.CodeOutOfRange}}},
		{name: "upper-case variable", cfg: invitetmpl.Config{Variables: []string{"Plan"}},
			want: []field{{"Variables[0]", invite.CodeInvalidFormat}}},
		{name: "variable starting with a digit", cfg: invitetmpl.Config{Variables: []string{"plan", "1x"}},
			want: []field{{"Variables[1]", invite.CodeInvalidFormat}}},
		{name: "empty variable", cfg: invitetmpl.Config{Variables: []string{""}},
			want: []field{{"Variables[0]", invite.CodeInvalidFormat}}},
		{name: "variable too long", cfg: invitetmpl.Config{Variables: []string{strings.Repeat("a", 65)}},
			want: []field{{"Variables[0]", invite.CodeInvalidFormat}}},
		{name: "built-in variable", cfg: invitetmpl.Config{Variables: []string{"name"}},
			want: []field{{"Variables[0]", invite.CodeNotAllowed}}},
		{name: "variable declared twice", cfg: invitetmpl.Config{Variables: []string{"plan", "seats", "plan"}},
			want: []field{{"Variables[2]", invite.CodeConflict}}},
		{name: "every problem listed", cfg: invitetmpl.Config{MaxSMSSegments: -7, Variables: []string{"ok", "Bad", "invite_link", "ok"}},
			want: []field{{"MaxSMSSegments", invite.CodeOutOfRange}, {"Variables[1]", invite.CodeInvalidFormat},
				{"Variables[2]", invite.CodeNotAllowed}, {"Variables[3]", invite.CodeConflict}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := invitetmpl.New(tt.cfg)
			if tt.want == nil {
				require.NoError(t, err)
				require.NotNil(t, r)
				return
			}
			require.Nil(t, r)
			require.ErrorIs(t, err, invite.ErrInvalid)
			var ve *invite.ValidationError
			require.True(t, errors.As(err, &ve), "%T: %v", err, err)
			var got []field
			for _, f := range ve.Fields {
				require.NotEmpty(t, f.Reason)
				got = append(got, field{f.Field, f.Code})
			}
			require.Equal(t, tt.want, got)
			for _, f := range tt.want {
				require.True(t, ve.Has(f.name))
				require.Contains(t, err.Error(), f.name)
			}
		})
	}
}
