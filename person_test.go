package invite_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

func TestRequireNames(t *testing.T) {
	e := newEnv(t, func(c *invite.Config) { c.RequireNames = true })
	for _, tc := range []struct {
		name          string
		given, family string
		fields        []string
	}{
		{"both missing", "", "", []string{"GivenName", "FamilyName"}},
		{"blank", "  ", "Lovelace", []string{"GivenName"}},
		{"too long", strings.Repeat("a", invite.MaxNameLen+1), "Lovelace", []string{"GivenName"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input("names@example.com")
			in.GivenName, in.FamilyName = tc.given, tc.family
			_, err := e.m.Create(e.ctx(), in)
			ve := requireValidation(t, err, tc.fields...)
			require.Len(t, ve.Fields, len(tc.fields))
		})
	}
	in := input("names@example.com")
	res := e.create(in)
	require.Equal(t, "Ada Lovelace", res.Invitation.Name())

	// Without the option, names stay optional.
	plain := newEnv(t)
	in.GivenName, in.FamilyName = "", ""
	plain.create(in)
}

func TestNormalizePhoneHook(t *testing.T) {
	var calls int
	hook := func(s string) (string, error) {
		calls++
		switch s {
		case "0301234567":
			return "+49301234567", nil
		case "odd":
			return "0301234567", nil // not E.164: refused
		}
		return "", errors.New("no")
	}
	e := newEnv(t, func(c *invite.Config) { c.NormalizePhone = hook })
	in := input("")
	in.Invitee = invite.Invitee{Phone: "0301234567"}
	require.Equal(t, "+49301234567", e.create(in).Invitation.Invitee.Phone)
	for _, bad := range []string{"odd", "nope", strings.Repeat("0", invite.MaxPhoneLen+1)} {
		in.Invitee.Phone = bad
		_, err := e.m.Create(e.ctx(), in)
		requireValidation(t, err, "Invitee.Phone")
	}
	require.Equal(t, 3, calls, "the over-long number never reaches the hook")
}
