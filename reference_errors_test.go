package invite_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// TestReferenceErrorShapes checks that the error values carry what two of
// the reference APIs answer with, without a mapping table of field names:
// reference 001's outcomes (Ok, NoDeliveryChannel; MerchantNotFound is the
// host's own tenant lookup) and reference 000's envelope {data,
// error_code, error_message, error_descriptions}.
func TestReferenceErrorShapes(t *testing.T) {
	e := newEnv(t)
	outcome := func(err error) string {
		switch {
		case err == nil:
			return "Ok"
		case errors.Is(err, invite.ErrNoDeliveryChannel):
			return "NoDeliveryChannel"
		}
		return "problem"
	}
	in := input("ok@example.com")
	_, err := e.m.Create(e.ctx(), in)
	require.Equal(t, "Ok", outcome(err))

	in = input("")
	in.Invitee = invite.Invitee{}
	_, err = e.m.Create(e.ctx(), in)
	require.Equal(t, "NoDeliveryChannel", outcome(err))

	in = input("not an email")
	in.GivenName = string(make([]byte, 200))
	_, err = e.m.Create(e.ctx(), in)
	require.Equal(t, "problem", outcome(err))

	// Reference 000's envelope, built from the error alone.
	var ve *invite.ValidationError
	require.ErrorAs(t, err, &ve)
	envelope := map[string]any{"data": nil, "error_code": 400, "error_message": "invalid input", "error_descriptions": ve.Fields}
	b, err := json.Marshal(envelope)
	require.NoError(t, err)
	var got struct {
		ErrorDescriptions []struct{ Path, Pointer, Code, Reason string } `json:"error_descriptions"`
	}
	require.NoError(t, json.Unmarshal(b, &got))
	byPath := map[string]string{}
	for _, d := range got.ErrorDescriptions {
		byPath[d.Path] = d.Code
		require.NotEmpty(t, d.Reason)
	}
	require.Equal(t, map[string]string{"invitee.email": invite.CodeInvalidFormat, "given_name": invite.CodeInvalidFormat}, byPath)
}
