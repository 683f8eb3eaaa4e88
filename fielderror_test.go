package invite_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

func TestFieldErrorPathAndPointer(t *testing.T) {
	for _, tc := range []struct{ field, path, pointer string }{
		{"Invitee.Email", "invitee.email", "/invitee/email"},
		{"GivenName", "given_name", "/given_name"},
		{"Inviter.ID", "inviter.id", "/inviter/id"},
		{"IdentityProviderID", "identity_provider_id", "/identity_provider_id"},
		{"RedirectURI", "redirect_uri", "/redirect_uri"},
		{"Roles[2]", "roles.2", "/roles/2"},
		{`Data["plan"]`, "data.plan", "/data/plan"},
		{`FormData["billing"]["vat.id"]`, "form_data.billing.vat.id", "/form_data/billing/vat.id"},
		{`Data["a/b~c"]`, "data.a/b~c", "/data/a~1b~0c"},
		{`Data["q\"uote]"]`, `data.q"uote]`, `/data/q"uote]`},
		{`Data["cut`, "data.cut", "/data/cut"},
		{"ExpiresInSeconds", "expires_in_seconds", "/expires_in_seconds"},
		{"", "", ""},
	} {
		t.Run(tc.field, func(t *testing.T) {
			f := invite.FieldError{Field: tc.field}
			require.Equal(t, tc.path, f.Path())
			require.Equal(t, tc.pointer, f.Pointer())
		})
	}
}

// TestInputJSONNames holds the rule Path and Pointer rely on: every field
// of the input types is named in JSON in snake_case after its Go name.
func TestInputJSONNames(t *testing.T) {
	for _, v := range []any{invite.CreateInput{}, invite.Invitee{}, invite.Inviter{}, invite.UpdateInput{}, invite.ResendOptions{},
		invite.AcceptInput{}, invite.AdminAcceptInput{}, invite.AdminRejectInput{}, invite.Acceptance{}, invite.Actor{},
		invite.ListOptions{}, invite.Filter{}, invite.Page{},
	} {
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			sf := typ.Field(i)
			if sf.Anonymous {
				continue // inlined: its own fields are checked
			}
			tag, ok := sf.Tag.Lookup("json")
			require.True(t, ok, "%s.%s has no json tag", typ.Name(), sf.Name)
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			require.Equal(t, invite.FieldError{Field: sf.Name}.Path(), name, "%s.%s", typ.Name(), sf.Name)
		}
	}
}

func TestFieldErrorJSON(t *testing.T) {
	e := newEnv(t)
	in := input("not-an-email")
	in.Data = map[string]string{"plan": strings.Repeat("x", 5000)}
	_, err := e.m.Create(e.ctx(), in)
	ve := requireValidation(t, err, "Invitee.Email")
	b, err := json.Marshal(ve.Fields)
	require.NoError(t, err)
	var got []map[string]string
	require.NoError(t, json.Unmarshal(b, &got))
	require.Contains(t, got, map[string]string{"path": "invitee.email", "pointer": "/invitee/email",
		"code": invite.CodeInvalidFormat, "reason": ve.Fields[0].Reason})
	require.NotContains(t, string(b), "not-an-email", "the value is not echoed")
	// A field error built without a code encodes the fallback.
	b, err = json.Marshal(invite.FieldError{Field: "X", Reason: "odd"})
	require.NoError(t, err)
	require.JSONEq(t, `{"path":"x","pointer":"/x","code":"invalid","reason":"odd"}`, string(b))
}

func TestFieldErrorCodes(t *testing.T) {
	e := newEnv(t, func(c *invite.Config) { c.LinkHosts = []string{"app.example"} })
	for _, tc := range []struct {
		name  string
		edit  func(*invite.CreateInput)
		field string
		code  string
	}{
		{"required", func(in *invite.CreateInput) { in.TenantID = "" }, "TenantID", invite.CodeRequired},
		{"too long", func(in *invite.CreateInput) { in.GivenName = strings.Repeat("a", 500) }, "GivenName", invite.CodeTooLong},
		{"email too long", func(in *invite.CreateInput) { in.Invitee.Email = strings.Repeat("a", 250) + "@example.com" }, "Invitee.Email", invite.CodeTooLong},
		{"phone too long", func(in *invite.CreateInput) { in.Invitee.Phone = "+" + strings.Repeat("1", 60) }, "Invitee.Phone", invite.CodeTooLong},
		{"format", func(in *invite.CreateInput) { in.Locale = "not a tag" }, "Locale", invite.CodeInvalidFormat},
		{"range", func(in *invite.CreateInput) { in.ExpiresIn = time.Minute }, "ExpiresIn", invite.CodeOutOfRange},
		{"unknown", func(in *invite.CreateInput) { in.TemplateKey = "nope" }, "TemplateKey", invite.CodeUnknown},
		{"conflict", func(in *invite.CreateInput) { in.ExpiresIn, in.ExpiresInDays = time.Hour*48, new(3) }, "ExpiresInDays", invite.CodeConflict},
		{"not allowed", func(in *invite.CreateInput) { in.RedirectURI = "https://evil.example/x" }, "RedirectURI", invite.CodeNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input("ada@example.com")
			tc.edit(&in)
			_, err := e.m.Create(e.ctx(), in)
			ve := requireValidation(t, err, tc.field)
			for _, f := range ve.Fields {
				if f.Field == tc.field {
					require.Equal(t, tc.code, f.Code, f.Reason)
				}
			}
		})
	}
}

func TestExpiryForms(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now().UTC()
	in := input("days@example.com")
	in.ExpiresInDays = new(3)
	res := e.create(in)
	require.WithinDuration(t, now.Add(72*time.Hour), res.Invitation.ExpiresAt, time.Second)

	in = input("seconds@example.com")
	in.ExpiresInSeconds = new(int64(7200))
	res = e.create(in)
	require.WithinDuration(t, now.Add(2*time.Hour), res.Invitation.ExpiresAt, time.Second)

	for _, tc := range []struct {
		name  string
		edit  func(*invite.CreateInput)
		field string
	}{
		{"two forms", func(in *invite.CreateInput) { in.ExpiresInSeconds, in.ExpiresInDays = new(int64(7200)), new(2) }, "ExpiresInDays"},
		{"negative days", func(in *invite.CreateInput) { in.ExpiresInDays = new(-1) }, "ExpiresInDays"},
		{"absurd seconds", func(in *invite.CreateInput) { in.ExpiresInSeconds = new(int64(1 << 62)) }, "ExpiresInSeconds"},
		{"too many days", func(in *invite.CreateInput) { in.ExpiresInDays = new(91) }, "ExpiresInDays"},
		{"too few seconds", func(in *invite.CreateInput) { in.ExpiresInSeconds = new(int64(60)) }, "ExpiresInSeconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input("bad@example.com")
			tc.edit(&in)
			_, err := e.m.Create(e.ctx(), in)
			requireValidation(t, err, tc.field)
		})
	}

	// The words: whole units, not Go's duration syntax.
	in = input("words@example.com")
	in.ExpiresInDays = new(200)
	_, err := e.m.Create(e.ctx(), in)
	require.ErrorContains(t, err, "must be between 1 hour and 90 days")
}

// An expiry count given as 0 is out of range, in the words of any other
// out-of-range count: never "not given" (the default validity). Left out
// or null, it is not given.
func TestExpiryGivenAsZero(t *testing.T) {
	e := newEnv(t)
	const reason = "must be between 1 hour and 90 days"
	for _, tc := range []struct {
		name  string
		doc   string // the expiry members of the JSON input
		field string // "": valid, with the default validity
	}{
		{"days 0", `{"expires_in_days":0}`, "ExpiresInDays"},
		{"seconds 0", `{"expires_in_seconds":0}`, "ExpiresInSeconds"},
		{"days null", `{"expires_in_days":null}`, ""},
		{"seconds null", `{"expires_in_seconds":null}`, ""},
		{"left out", `{}`, ""},
	} {
		t.Run("create "+tc.name, func(t *testing.T) {
			in := input(strings.ReplaceAll(tc.name, " ", "-") + "@example.com")
			require.NoError(t, json.Unmarshal([]byte(tc.doc), &in))
			res, err := e.m.Create(e.ctx(), in)
			if tc.field == "" {
				require.NoError(t, err)
				require.Equal(t, 7*24*time.Hour, res.Invitation.ExpiresAt.Sub(res.Invitation.IssuedAt), "the default validity")
				return
			}
			requireOutOfRange(t, err, tc.field, reason)
		})
		t.Run("resend "+tc.name, func(t *testing.T) {
			first := e.create(input("resend-" + strings.ReplaceAll(tc.name, " ", "-") + "@example.com"))
			opts := invite.ResendOptions{Delivery: invite.DeliveryReturn}
			require.NoError(t, json.Unmarshal([]byte(tc.doc), &opts))
			res, err := e.m.Resend(e.ctx(), "t1", first.Invitation.ID, opts)
			if tc.field == "" {
				require.NoError(t, err)
				require.Equal(t, 7*24*time.Hour, res.Invitation.ExpiresAt.Sub(res.Invitation.IssuedAt), "the validity last given")
				return
			}
			requireOutOfRange(t, err, tc.field, reason)
			_, err = e.m.UpdateAndResend(e.ctx(), invite.UpdateInput{TenantID: "t1", ID: first.Invitation.ID}, opts)
			requireOutOfRange(t, err, tc.field, reason)
		})
	}
	// In Go, new(0) is the same explicit 0, and the JSON form keeps it:
	// a host relaying a CreateInput sends what its client sent.
	in := input("go-zero@example.com")
	in.ExpiresInDays = new(0)
	_, err := e.m.Create(e.ctx(), in)
	requireOutOfRange(t, err, "ExpiresInDays", reason)
	b, err := json.Marshal(invite.CreateInput{ExpiresInDays: new(0)})
	require.NoError(t, err)
	require.Contains(t, string(b), `"expires_in_days":0`)
	b, err = json.Marshal(invite.ResendOptions{ExpiresInSeconds: new(int64(0))})
	require.NoError(t, err)
	require.Contains(t, string(b), `"expires_in_seconds":0`)
	b, err = json.Marshal(invite.CreateInput{})
	require.NoError(t, err)
	require.NotContains(t, string(b), "expires_in")
}

// requireOutOfRange asserts that err is a *ValidationError whose only
// field is field, out of range for reason.
func requireOutOfRange(t *testing.T, err error, field, reason string) {
	t.Helper()
	ve := requireValidation(t, err, field)
	require.Len(t, ve.Fields, 1, "%v", err)
	require.Equal(t, invite.CodeOutOfRange, ve.Fields[0].Code)
	require.Equal(t, reason, ve.Fields[0].Reason)
}

func TestCreateInputJSON(t *testing.T) {
	var in invite.CreateInput
	require.NoError(t, json.Unmarshal([]byte(`{"tenant_id":"t1","invitee":{"email":"a@example.com"},
		"expires_in_days":7,"delivery":"return","roles":["admin"],"data":{"plan":"pro"}}`), &in))
	require.Equal(t, invite.DeliveryReturn, in.Delivery)
	require.Equal(t, new(7), in.ExpiresInDays)
	require.Equal(t, "a@example.com", in.Invitee.Email)
	require.Error(t, json.Unmarshal([]byte(`{"delivery":"fax"}`), &in))
	b, err := json.Marshal(invite.CreateInput{Delivery: invite.DeliveryReturn, ExpiresIn: time.Hour})
	require.NoError(t, err)
	require.NotContains(t, string(b), "expires_in\"", "ExpiresIn has no JSON form")
	require.Contains(t, string(b), `"delivery":"return"`)
	_, err = json.Marshal(invite.CreateInput{Delivery: 7})
	require.Error(t, err)
}

func TestErrorWords(t *testing.T) {
	for _, tc := range []struct {
		err  invite.TransitionError
		want string
	}{
		{invite.TransitionError{ID: "inv-1", Op: invite.OpAccept, From: invite.StateAccepted}, "invite: the invitation was already accepted"},
		{invite.TransitionError{ID: "inv-1", Op: invite.OpAccept, From: invite.StateExpired}, "invite: the invitation has expired and cannot be accepted"},
		{invite.TransitionError{ID: "inv-1", Op: invite.OpRevoke, From: invite.StateRevoked}, "invite: the invitation was already revoked"},
		{invite.TransitionError{ID: "inv-1", Op: invite.OpResend, From: invite.StateAccepted}, "invite: the invitation was already accepted and cannot be re-sent"},
		{invite.TransitionError{ID: "inv-1", Op: invite.OpAccept, From: invite.StateRevoked}, "invite: the invitation was revoked and cannot be accepted"},
		{invite.TransitionError{ID: "inv-1", From: invite.StateRejected, To: invite.StateAccepted}, "invite: the invitation was declined and cannot become accepted"},
	} {
		require.Equal(t, tc.want, tc.err.Error())
		require.NotContains(t, tc.err.Error(), "inv-1", "no id in words an invitee may see")
	}
}

func TestExistsErrorNamesTheOpenInvitation(t *testing.T) {
	e := newEnv(t)
	first := e.create(input("ada@example.com"))
	_, err := e.m.Create(e.ctx(), input("ADA@example.com"))
	require.ErrorIs(t, err, invite.ErrAlreadyExists)
	var ee *invite.ExistsError
	require.True(t, errors.As(err, &ee), "%T", err)
	require.Equal(t, first.Invitation.ID, ee.ID)
	require.Equal(t, "t1", ee.TenantID)
	require.NotContains(t, err.Error(), first.Invitation.ID)
}

func TestResultJSONCarriesNoSecret(t *testing.T) {
	e := newEnv(t)
	res := e.create(input("json@example.com"))
	require.False(t, res.Token.IsZero())
	res.DeliveryErr = errors.New("smtp: 550 user@example.com " + res.Token.Reveal())
	for _, v := range []any{res, *res, invite.UpsertResult{Result: *res, Created: true}} {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		require.NotContains(t, string(b), res.Token.Reveal())
		require.NotContains(t, string(b), "smtp")
		var got map[string]any
		require.NoError(t, json.Unmarshal(b, &got))
		require.Equal(t, "delivery failed", got["delivery_error"])
		require.Equal(t, false, got["replayed"])
		require.Equal(t, res.Invitation.ID, got["invitation"].(map[string]any)["id"])
		if u, ok := v.(invite.UpsertResult); ok {
			require.Equal(t, u.Created, got["created"])
		}
	}
}
