package invitehook_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitehook"
	"github.com/invitekit/invite/invitetest"
)

// harness is a Manager on memstore whose events go through a Sink to rc.
func harness(t *testing.T, rc *receiver, secret string) *invitetest.Harness {
	t.Helper()
	sink := newSink(t, invitehook.Config{Endpoints: []invitehook.Endpoint{{Name: "rc", URL: rc.URL, Secrets: []string{secret}}}})
	return invitetest.NewManager(t, invite.Config{
		LinkTemplate: "https://app.example/invite?token={{.Token}}",
		EventSink:    sink,
	})
}

func drain(t *testing.T, h *invitetest.Harness) {
	t.Helper()
	_, err := h.Dispatcher.Drain(t.Context())
	require.NoError(t, err)
}

// forms returns every rendering of the secrets that must not show up: the
// plaintext and its SHA-256 in hex and base64.
func forms(secrets ...string) []string {
	var out []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		sum := sha256.Sum256([]byte(s))
		out = append(out, s, hex.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString(sum[:]),
			base64.RawURLEncoding.EncodeToString(sum[:]), fmt.Sprint(sum[:]))
	}
	return out
}

// The reference's webhook kinds (INVITE_USER, INVITE_ACCEPTED and
// ACCOUNT_CREATED) map to invitation.sent, invitation.accepted and the
// host's own webhook; none carries a secret or a hash.
func TestManagerEventsCarryNoSecret(t *testing.T) {
	secret := invitehook.NewSecret()
	rc := newReceiver(t, []string{secret}, nil)
	h := harness(t, rc, secret)
	ctx := t.Context()
	res, err := h.Create(ctx, invite.CreateInput{
		TenantID: "acme", Invitee: invite.Invitee{Email: "ada@example.com"}, GivenName: "Ada",
		Roles: []string{"admin"}, WithCode: true,
	})
	require.NoError(t, err)
	again, err := h.Resend(ctx, "acme", res.Invitation.ID, invite.ResendOptions{})
	require.NoError(t, err)
	acc, err := h.Accept(ctx, again.Token.Reveal(), invite.AcceptInput{Subject: "user-7"})
	require.NoError(t, err)
	drain(t, h)

	secrets := []string{res.Token.Reveal(), res.Code.Reveal(), res.Link.Reveal(), again.Token.Reveal(), again.Code.Reveal(), again.Link.Reveal()}
	for _, m := range h.Notifier.Messages() {
		secrets = append(secrets, m.Link, m.Code, m.Param("token"))
	}
	require.NotEmpty(t, res.Code.Reveal())
	forbidden := forms(secrets...)
	var types []invite.EventType
	var accepted invite.Event
	for _, r := range rc.requests(t) { // every one verified
		for _, f := range append(forbidden, "$argon2id$", "inv_", "token_hash", "code_hash") {
			require.NotContains(t, string(r.Body), f)
			for _, v := range r.Header {
				require.NotContains(t, strings.Join(v, " "), f)
			}
		}
		var ev invite.Event
		require.NoError(t, json.Unmarshal(r.Body, &ev))
		require.Equal(t, ev.ID, r.Header.Get(invitehook.HeaderID))
		types = append(types, ev.Type)
		if ev.Type == invite.EventAccepted {
			accepted = ev
		}
	}
	require.Equal(t, []invite.EventType{invite.EventCreated, invite.EventSent, invite.EventResent, invite.EventSent, invite.EventAccepted}, types)
	require.NotNil(t, accepted.Old)
	require.NotNil(t, accepted.New)
	require.Equal(t, invite.StateSent, accepted.Old.State)
	require.Equal(t, invite.StateAccepted, accepted.New.State)
	require.Equal(t, "user-7", accepted.New.AcceptedBy)
	require.Equal(t, acc.Invitation.ID, accepted.InvitationID)
}

func TestDispatcherHonoursRetryAfter(t *testing.T) {
	secret := invitehook.NewSecret()
	rc := newReceiver(t, []string{secret}, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 0 {
			w.Header().Set("Retry-After", "7200")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	h := harness(t, rc, secret)
	_, err := h.Create(t.Context(), invite.CreateInput{TenantID: "acme", Invitee: invite.Invitee{Email: "ada@example.com"}, Delivery: invite.DeliveryReturn})
	require.NoError(t, err)
	drain(t, h)
	require.Len(t, rc.ids(t), 1)
	h.Clock.Advance(time.Hour) // well past the dispatcher's own first pause
	drain(t, h)
	require.Len(t, rc.ids(t), 1, "the receiver asked for two hours")
	h.Clock.Advance(time.Hour + time.Second)
	drain(t, h)
	ids := rc.ids(t)
	require.Len(t, ids, 2)
	require.Equal(t, ids[0], ids[1], "the same webhook-id on the retry")
}

func TestDispatcherRetriesServerErrors(t *testing.T) {
	secret := invitehook.NewSecret()
	rc := newReceiver(t, []string{secret}, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n < 3 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	h := harness(t, rc, secret)
	_, err := h.Create(t.Context(), invite.CreateInput{TenantID: "acme", Invitee: invite.Invitee{Email: "ada@example.com"}, Delivery: invite.DeliveryReturn})
	require.NoError(t, err)
	for range 4 {
		drain(t, h)
		h.Clock.Advance(time.Hour)
	}
	ids := rc.ids(t)
	require.Len(t, ids, 4)
	stats, err := h.Dispatcher.Stats(t.Context())
	require.NoError(t, err)
	require.Zero(t, stats.Pending)
	dead, err := h.DeadLetters(t.Context(), "acme", "", 10)
	require.NoError(t, err)
	require.Empty(t, dead)
}

func TestDispatcherDeadLettersRefusals(t *testing.T) {
	secret := invitehook.NewSecret()
	rc := newReceiver(t, []string{secret}, status(http.StatusUnprocessableEntity))
	h := harness(t, rc, secret)
	_, err := h.Create(t.Context(), invite.CreateInput{TenantID: "acme", Invitee: invite.Invitee{Email: "ada@example.com"}, Delivery: invite.DeliveryReturn})
	require.NoError(t, err)
	drain(t, h)
	dead, err := h.DeadLetters(t.Context(), "acme", "", 10)
	require.NoError(t, err)
	require.Len(t, dead, 1, "dead-lettered at once")
	require.Contains(t, dead[0].LastError, `"rc" answered 422`)
	require.Equal(t, 1, dead[0].Attempts)

	rc.setRespond(nil) // the receiver is fixed
	n, err := h.Redrive(t.Context(), "acme", dead[0].ID)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	drain(t, h)
	require.Len(t, rc.ids(t), 2)
	dead, err = h.DeadLetters(t.Context(), "acme", "", 10)
	require.NoError(t, err)
	require.Empty(t, dead)
}
