package invite_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

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

// TestVariablesReachTheMessage: the host's template variables are stored
// with the invitation and handed to the notifier with the built-in ones,
// which they cannot shadow.
func TestVariablesReachTheMessage(t *testing.T) {
	var got []invite.Message
	e := newEnv(t, func(c *invite.Config) {
		c.Notifier = invite.NotifierFunc(func(_ context.Context, m invite.Message) error { got = append(got, m); return nil })
	})
	in := input("vars@example.com")
	in.Delivery = invite.DeliverySend
	in.Variables = map[string]string{"application_name": "Ledger", "team_size": "12"}
	res := e.create(in)
	require.Equal(t, in.Variables, e.get("t1", res.Invitation.ID).Variables, "stored")
	require.Len(t, got, 1)
	require.Equal(t, in.Variables, got[0].Vars.Custom)
	vars := got[0].Vars.Map()
	require.Equal(t, "Ledger", vars["application_name"])
	require.Equal(t, "Ada Lovelace", vars["name"])

	for _, tc := range []struct {
		name string
		vars map[string]string
		want string
	}{
		{"shadows a built-in", map[string]string{"name": "x"}, `Variables["name"]`},
		{"not a name", map[string]string{"Team Size": "x"}, `Variables["Team Size"]`},
		{"starts with a digit", map[string]string{"1a": "x"}, `Variables["1a"]`},
		{"control character", map[string]string{"a": "x\x00y"}, `Variables["a"]`},
		{"too long", map[string]string{"a": strings.Repeat("x", invite.MaxVariableLen+1)}, `Variables["a"]`},
		{"too large", map[string]string{"a": strings.Repeat("x", 70000)}, "Variables"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input("bad-vars@example.com")
			in.Variables = tc.vars
			_, err := e.m.Create(e.ctx(), in)
			requireValidation(t, err, tc.want)
		})
	}
}

func TestUpdateVariablesAndNames(t *testing.T) {
	e := newEnv(t, func(c *invite.Config) { c.RequireNames = true })
	res := e.create(input("upd@example.com"))
	id := res.Invitation.ID
	vars := map[string]string{"application_name": "Ledger"}
	inv, err := e.m.Update(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: id, Variables: &vars})
	require.NoError(t, err)
	require.Equal(t, vars, inv.Variables)
	vars["application_name"] = "changed by the caller later"
	require.Equal(t, "Ledger", e.get("t1", id).Variables["application_name"], "the Manager keeps its own copy")

	blank, bad := " ", map[string]string{"code": "x"}
	_, err = e.m.Update(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: id, GivenName: &blank, Variables: &bad})
	requireValidation(t, err, "GivenName", `Variables["code"]`)

	// A resend's validity in days.
	r, err := e.m.Resend(e.ctx(), "t1", id, invite.ResendOptions{Delivery: invite.DeliveryReturn, ExpiresInDays: new(2)})
	require.NoError(t, err)
	require.Equal(t, 48*time.Hour, r.Invitation.ExpiresAt.Sub(r.Invitation.IssuedAt))
	_, err = e.m.Resend(e.ctx(), "t1", id, invite.ResendOptions{Delivery: invite.DeliveryReturn, ExpiresInDays: new(2), ExpiresIn: time.Hour})
	requireValidation(t, err, "ExpiresInDays")
}
