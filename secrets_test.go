package invite_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetest"
)

// secretForms returns every rendering of a token or code that must never
// show up in output: the plaintext and its SHA-256 in hex and base64.
func secretForms(secrets ...string) []string {
	var out []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		sum := sha256.Sum256([]byte(s))
		out = append(out, s,
			hex.EncodeToString(sum[:]), strings.ToUpper(hex.EncodeToString(sum[:])),
			base64.StdEncoding.EncodeToString(sum[:]), base64.RawStdEncoding.EncodeToString(sum[:]),
			base64.URLEncoding.EncodeToString(sum[:]), base64.RawURLEncoding.EncodeToString(sum[:]),
			fmt.Sprint(sum[:]), fmt.Sprint(sum))
	}
	return out
}

func requireNoSecret(t *testing.T, out string, forbidden []string) {
	t.Helper()
	require.NotEmpty(t, forbidden)
	for _, f := range append(forbidden, "$argon2id$") {
		if i := strings.Index(out, f); i >= 0 {
			// Only the neighbourhood: the whole output runs to megabytes.
			t.Fatalf("a secret leaked: ...%s<SECRET>...", out[max(0, i-300):i])
		}
	}
}

var fmtVerbs = []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%p", "%10.3v", "%-20s", "%#x", "% x"}

// hashVerbs leaves out %p. fmt handles %p of a non-pointer as a bad verb and
// then prints the value by reflection without calling its Format method, so
// a TokenHash ([32]byte) or a Credentials value shows its bytes under %p.
// No method can prevent that; Secret is safe because its plaintext sits
// behind a pointer (%p shows the address only), which the test above checks.
var hashVerbs = slices.DeleteFunc(slices.Clone(fmtVerbs), func(v string) bool { return v == "%p" })

func TestSecretNeverPrintsThroughFmt(t *testing.T) {
	plain := "inv_TopSecretValue1234567890"
	s := invite.NewSecret(plain)
	require.Equal(t, plain, s.Reveal())
	require.False(t, s.IsZero())
	type holder struct {
		Token  invite.Secret
		Ptr    *invite.Secret
		List   []invite.Secret
		ByName map[string]invite.Secret
		Any    any
	}
	h := holder{Token: s, Ptr: &s, List: []invite.Secret{s}, ByName: map[string]invite.Secret{"t": s}, Any: s}
	forbidden := []string{plain, "TopSecret", hex.EncodeToString([]byte(plain))}
	for _, verb := range fmtVerbs {
		for _, v := range []any{s, &s, h, &h, []any{s}} {
			out := fmt.Sprintf(verb, v)
			for _, f := range forbidden {
				require.NotContains(t, out, f, "verb %s on %T", verb, v)
			}
		}
	}
	require.Equal(t, "[REDACTED]", fmt.Sprint(s))
	require.NotContains(t, fmt.Sprintln(s, &s), "TopSecret")
	require.NotContains(t, fmt.Errorf("wrapped: %v", s).Error(), "TopSecret")
	require.NotContains(t, fmt.Errorf("wrapped: %w", errors.New(s.String())).Error(), "TopSecret")

	text, err := s.MarshalText()
	require.NoError(t, err)
	require.NotContains(t, string(text), "TopSecret")
}

func TestZeroSecret(t *testing.T) {
	var s invite.Secret
	require.True(t, s.IsZero())
	require.Empty(t, s.Reveal())
	require.True(t, invite.NewSecret("").IsZero())
	require.Empty(t, fmt.Sprint(s))
	b, err := json.Marshal(s)
	require.NoError(t, err)
	require.JSONEq(t, `""`, string(b))
}

func TestTokenHashNeverPrints(t *testing.T) {
	tok, h := mintToken(t, invite.DefaultTokenPrefix)
	forbidden := secretForms(tok.Reveal())
	for _, verb := range hashVerbs {
		out := fmt.Sprintf(verb, h) + fmt.Sprintf(verb, &h) + fmt.Sprintf(verb, struct{ H invite.TokenHash }{h})
		for _, f := range forbidden {
			require.NotContains(t, out, f, "verb %s", verb)
		}
	}
	b, err := json.Marshal(map[string]any{"h": h, "p": &h})
	require.NoError(t, err)
	requireNoSecret(t, string(b), forbidden)
	require.False(t, h.IsZero())
	require.True(t, invite.TokenHash{}.IsZero())
}

func TestCredentialsNeverPrint(t *testing.T) {
	tok, h := mintToken(t, invite.DefaultTokenPrefix)
	code, codeHash := mintCode(t, 8, invitetest.FastCodeHash)
	rec := &invite.Record{
		Invitation: invite.Invitation{ID: "id-1", TenantID: "t1"},
		Credentials: invite.Credentials{TokenHash: h, CodeHash: codeHash,
			PreviousTokens: []invite.PreviousToken{{Hash: h}}},
	}
	forbidden := append(secretForms(tok.Reveal(), code.Reveal()), string(codeHash))
	for _, verb := range hashVerbs {
		requireNoSecret(t, fmt.Sprintf(verb, rec)+fmt.Sprintf(verb, *rec)+fmt.Sprintf(verb, rec.Credentials), forbidden)
	}
	// Pointers are safe under %p too.
	requireNoSecret(t, fmt.Sprintf("%p %p", rec, &rec.Credentials), forbidden)
	b, err := json.Marshal(rec)
	require.NoError(t, err)
	requireNoSecret(t, string(b), forbidden)
	requireNoSecret(t, slogText(t, "rec", rec)+slogJSON(t, "rec", rec)+slogJSON(t, "creds", rec.Credentials), forbidden)
}

func slogText(t *testing.T, key string, v any) string {
	t.Helper()
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("msg", key, v, slog.Group("g", key, v))
	require.NotEmpty(t, buf.String())
	return buf.String()
}

func slogJSON(t *testing.T, key string, v any) string {
	t.Helper()
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("msg", key, v, slog.Group("g", key, v))
	require.True(t, json.Valid(buf.Bytes()), buf.String())
	return buf.String()
}

func TestSecretNeverLogsThroughSlog(t *testing.T) {
	s := invite.NewSecret("inv_TopSecretValue1234567890")
	for _, out := range []string{slogText(t, "token", s), slogJSON(t, "token", s), slogText(t, "ptr", &s), slogJSON(t, "ptr", &s)} {
		require.NotContains(t, out, "TopSecret")
		require.Contains(t, out, "REDACTED")
	}
}

// TestResultCarriesNoPrintableSecret creates an invitation with a token, a
// code and a link and renders its Result, events, messages and stored record
// every way a host might: none shows a secret or a hash of one.
func TestResultCarriesNoPrintableSecret(t *testing.T) {
	e := newEnv(t)
	in := input("ada@example.com")
	in.WithCode = true
	in.Delivery = invite.DeliverySend
	in.IdempotencyKey = "idem-1"
	res := e.create(in)
	tok, code, link := res.Token.Reveal(), res.Code.Reveal(), res.Link.Reveal()
	require.NotEmpty(t, tok)
	require.NotEmpty(t, code)
	require.Contains(t, link, tokenParam(tok))
	rec := e.record("t1", res.Invitation.ID)
	forbidden := append(secretForms(tok, code, link), string(rec.Credentials.CodeHash))

	var outs []string
	for _, verb := range fmtVerbs {
		outs = append(outs, fmt.Sprintf(verb, res), fmt.Sprintf(verb, *res), fmt.Sprintf(verb, rec))
	}
	var msgs []invite.Message // what the Manager handed over (not the recorder's plaintext copies)
	for _, d := range e.notes.Messages() {
		msgs = append(msgs, d.Message)
	}
	for _, v := range []any{res, res.Invitation, rec, e.events.Events(), msgs} {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		outs = append(outs, string(b))
		outs = append(outs, slogText(t, "v", v), slogJSON(t, "v", v))
	}
	// What the notifier got prints redacted too (it reveals on purpose only
	// through Vars.Map).
	require.Len(t, msgs, 1)
	outs = append(outs, fmt.Sprintf("%+v", msgs[0]), fmt.Sprintf("%#v", msgs[0].Vars))
	require.Equal(t, link, msgs[0].Vars.Map()["invite_link"])
	require.Equal(t, code, msgs[0].Vars.Map()["code"])

	// Errors of every failing call with or around the secrets.
	_, err := e.m.Accept(e.ctx(), tok[:len(tok)-1], invite.AcceptInput{Subject: "u"})
	outs = append(outs, err.Error())
	_, err = e.m.VerifyCode(e.ctx(), invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}, code+"X")
	outs = append(outs, err.Error())
	_, err = e.m.Create(e.ctx(), in) // duplicate invitee, same idempotency key: replay
	require.NoError(t, err)
	in.IdempotencyKey = ""
	_, err = e.m.Create(e.ctx(), in)
	require.ErrorIs(t, err, invite.ErrAlreadyExists)
	outs = append(outs, err.Error())
	_, err = e.m.Accept(e.ctx(), tok, invite.AcceptInput{Subject: "u1"})
	require.NoError(t, err)
	_, err = e.m.Accept(e.ctx(), tok, invite.AcceptInput{Subject: "u2"})
	require.ErrorIs(t, err, invite.ErrAlreadyAccepted)
	outs = append(outs, err.Error(), fmt.Sprintf("%+v", err))
	_, err = e.m.AcceptCode(e.ctx(), invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}, code, invite.AcceptInput{Subject: "u3"})
	require.Error(t, err)
	outs = append(outs, err.Error())

	// Events again, now with the accept, and the logs.
	b, err := json.Marshal(e.events.Events())
	require.NoError(t, err)
	outs = append(outs, string(b), fmt.Sprintf("%+v", e.events.Events()), e.logs.String())

	requireNoSecret(t, strings.Join(outs, "\n"), forbidden)
}

func TestDeliveryFailureLogsNoSecret(t *testing.T) {
	e := newEnv(t)
	e.notes.Fail(errors.New("smtp: 554 rejected"))
	in := input("ada@example.com")
	in.Delivery = invite.DeliverySend
	in.WithCode = true
	res, err := e.m.Create(e.ctx(), in)
	require.NoError(t, err)
	require.ErrorIs(t, res.DeliveryErr, invite.ErrDelivery)
	logs := e.logs.String()
	require.Contains(t, logs, "delivery failed")
	require.Contains(t, logs, res.Invitation.ID)
	forbidden := secretForms(res.Token.Reveal(), res.Code.Reveal(), res.Link.Reveal())
	requireNoSecret(t, logs+res.DeliveryErr.Error(), forbidden)
}

func TestEventSinkFailureIsLoggedWithoutSecret(t *testing.T) {
	e := newEnv(t)
	e.events.Fail(errors.New("sink down"))
	res := e.create(input("ada@example.com"))
	first := e.events.Events() // the log records, then fails
	// The change stands although the sink failed.
	require.Equal(t, invite.StatePending, e.get("t1", res.Invitation.ID).State)
	require.Contains(t, e.logs.String(), "sink down")
	require.Contains(t, e.logs.String(), "will retry")
	// The event waits in the outbox and arrives once the sink is back.
	e.events.Fail(nil)
	require.Len(t, e.events.Events(), 1, "not due before the backoff")
	e.clock.Advance(5 * time.Minute)
	evs := e.events.Events()
	require.Len(t, evs, 2, "retried once the backoff passed")
	require.Equal(t, first[0].ID, evs[1].ID, "the retry carries the same event id")
	e.clock.Advance(24 * time.Hour)
	require.Len(t, e.events.Events(), 2, "delivered: not retried again")
	requireNoSecret(t, e.logs.String(), secretForms(res.Token.Reveal(), res.Link.Reveal()))
}

func tokenParam(token string) string { return "token=" + token }

// TestEveryTypeWithSecretsIsRedactedUnderEveryVerb (review: %s and %q of a
// Batch or Write printed the token hash and the code's argon2 string):
// every exported type that can hold secret material, alone, by pointer and
// nested in a slice, a map and a struct, under every verb. %p takes only
// pointers (go vet reports a non-pointer, and fmt then bypasses Format).
func TestEveryTypeWithSecretsIsRedactedUnderEveryVerb(t *testing.T) {
	tok, h := mintToken(t, invite.DefaultTokenPrefix)
	code, codeHash := mintCode(t, 8, invitetest.FastCodeHash)
	link := "https://app.example/i?token=" + tok.Reveal()
	creds := invite.Credentials{TokenHash: h, CodeHash: codeHash, PreviousTokens: []invite.PreviousToken{{Hash: h}}}
	rec := &invite.Record{Invitation: invite.Invitation{ID: "id-1", TenantID: "t1"}, Credentials: creds}
	write := invite.Write{Record: rec, Expect: 1}
	batch := &invite.Batch{Writes: []invite.Write{write, {Record: rec}}}
	result := &invite.Result{Invitation: &rec.Invitation, Token: tok, Code: code, Link: invite.NewSecret(link)}
	vars := invite.Vars{InviteLink: invite.NewSecret(link), Code: code}
	msg := invite.Message{ID: "m", Vars: vars}
	values := map[string]any{
		"Secret": tok, "TokenHash": h, "PreviousToken": creds.PreviousTokens[0], "Credentials": creds,
		"Record": *rec, "Write": write, "Batch": *batch, "Result": *result, "Vars": vars, "Message": msg,
		"UpsertResult": invite.UpsertResult{Result: *result}, "BatchItem": invite.BatchItem{Result: result},
	}
	forbidden := append(secretForms(tok.Reveal(), code.Reveal()), string(codeHash))
	for name, v := range values {
		ptr := reflect.New(reflect.TypeOf(v))
		ptr.Elem().Set(reflect.ValueOf(v))
		p := ptr.Interface()
		for _, verb := range hashVerbs {
			out := fmt.Sprintf(verb, v) + fmt.Sprintf(verb, p) + fmt.Sprintf(verb, []any{v}) +
				fmt.Sprintf(verb, map[string]any{"k": p}) + fmt.Sprintf(verb, struct{ V, P any }{v, p})
			if i := firstSecret(out, forbidden); i >= 0 {
				t.Fatalf("%s under %s: ...%s<SECRET>", name, verb, out[max(0, i-200):i])
			}
		}
		out := fmt.Sprintf("%p", p) + fmt.Sprintf("%p", []any{p})
		require.Negative(t, firstSecret(out, forbidden), "%s under %%p", name)
	}
}

// firstSecret returns where the first of forbidden occurs in out, or -1.
func firstSecret(out string, forbidden []string) int {
	for _, f := range append(forbidden, "$argon2id$") {
		if i := strings.Index(out, f); i >= 0 {
			return i
		}
	}
	return -1
}
