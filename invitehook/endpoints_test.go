package invitehook_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitehook"
)

func TestFilters(t *testing.T) {
	secret := invitehook.NewSecret()
	all := newReceiver(t, []string{secret}, nil)
	accepted := newReceiver(t, []string{secret}, nil)
	sent := newReceiver(t, []string{secret}, nil)
	s := newSink(t, invitehook.Config{Endpoints: []invitehook.Endpoint{
		{URL: all.URL, Secrets: []string{secret}},
		{URL: accepted.URL, Secrets: []string{secret}, Types: []invite.EventType{invite.EventAccepted}},
		{URL: sent.URL, Secrets: []string{secret}, Types: []invite.EventType{invite.EventSent, invite.EventResent}},
	}})
	require.NoError(t, s.Publish(t.Context(), []invite.Event{
		event("e1", invite.EventCreated), event("e2", invite.EventSent), event("e3", invite.EventResent),
		event("e4", invite.EventAccepted), event("e5", invite.EventDeleted),
	}))
	require.Equal(t, []string{"e1", "e2", "e3", "e4", "e5"}, all.ids(t))
	require.Equal(t, []string{"e4"}, accepted.ids(t))
	require.Equal(t, []string{"e2", "e3"}, sent.ids(t))
}

func TestSeveralEndpointsRetryOnlyTheFailed(t *testing.T) {
	secret := invitehook.NewSecret()
	ok := newReceiver(t, []string{secret}, nil)
	flaky := newReceiver(t, []string{secret}, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n < 2 {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	refuses := newReceiver(t, []string{secret}, status(http.StatusBadRequest))
	s := newSink(t, invitehook.Config{Endpoints: []invitehook.Endpoint{
		{Name: "ok", URL: ok.URL, Secrets: []string{secret}},
		{Name: "flaky", URL: flaky.URL, Secrets: []string{secret}},
		{Name: "refuses", URL: refuses.URL, Secrets: []string{secret}},
	}})
	evs := []invite.Event{event("evt-1", invite.EventAccepted)}

	// First attempt: ok takes it, flaky asks for 30 s, refuses refuses.
	err := s.Publish(t.Context(), evs)
	require.Error(t, err)
	require.False(t, invite.IsPermanent(err), "a retryable failure makes the whole retryable: %v", err)
	d, found := invitehook.RetryAfterOf(err)
	require.True(t, found)
	require.Equal(t, 30*time.Second, d)
	require.Contains(t, err.Error(), `"flaky" answered 503`)
	require.Contains(t, err.Error(), `"refuses" answered 400`)

	// Second: only flaky again.
	err = s.Publish(t.Context(), evs)
	require.Error(t, err)
	require.False(t, invite.IsPermanent(err))
	require.NotContains(t, err.Error(), "refuses")

	// Third: flaky takes it; the refusal remains, now permanent.
	err = s.Publish(t.Context(), evs)
	require.Error(t, err)
	require.True(t, invite.IsPermanent(err), "%v", err)
	require.Contains(t, err.Error(), `"refuses" answered 400`)
	require.NotContains(t, err.Error(), "flaky")

	require.Equal(t, []string{"evt-1"}, ok.ids(t), "the endpoint that took it is not sent it again")
	require.Equal(t, []string{"evt-1", "evt-1", "evt-1"}, flaky.ids(t))
	require.Equal(t, []string{"evt-1"}, refuses.ids(t))

	// Settled and forgotten: a redrive sends to every endpoint again.
	refuses.setRespond(nil)
	require.NoError(t, s.Publish(t.Context(), evs))
	require.Len(t, ok.ids(t), 2)
	require.Len(t, refuses.ids(t), 2)

	// Every attempt at the event carries the same id and verifies, each
	// with its own timestamp.
	for _, r := range flaky.requests(t) {
		require.Equal(t, "evt-1", r.Header.Get(invitehook.HeaderID))
	}
}

func TestRememberIsBounded(t *testing.T) {
	secret := invitehook.NewSecret()
	ok := newReceiver(t, []string{secret}, nil)
	down := newReceiver(t, []string{secret}, status(http.StatusInternalServerError))
	s := newSink(t, invitehook.Config{Remember: 2, Endpoints: []invitehook.Endpoint{
		{URL: ok.URL, Secrets: []string{secret}},
		{URL: down.URL, Secrets: []string{secret}},
	}})
	for _, id := range []string{"e1", "e2", "e3"} {
		require.Error(t, s.Publish(t.Context(), []invite.Event{event(id, invite.EventSent)}))
	}
	// e1 was forgotten: its retry goes to both; e3 is remembered.
	require.Error(t, s.Publish(t.Context(), []invite.Event{event("e1", invite.EventSent)}))
	require.Error(t, s.Publish(t.Context(), []invite.Event{event("e3", invite.EventSent)}))
	require.Equal(t, []string{"e1", "e2", "e3", "e1"}, ok.ids(t))
	require.Equal(t, []string{"e1", "e2", "e3", "e1", "e3"}, down.ids(t))
}

func TestSecretRotation(t *testing.T) {
	oldSecret, newSecret := invitehook.NewSecret(), invitehook.NewSecret()
	oldOnly := newReceiver(t, []string{oldSecret}, nil)
	newOnly := newReceiver(t, []string{newSecret}, nil)
	both := newReceiver(t, []string{newSecret, oldSecret}, nil)
	rotating := []string{newSecret, oldSecret}
	s := newSink(t, invitehook.Config{Endpoints: []invitehook.Endpoint{
		{URL: oldOnly.URL, Secrets: rotating},
		{URL: newOnly.URL, Secrets: rotating},
		{URL: both.URL, Secrets: rotating},
	}})
	require.NoError(t, s.Publish(t.Context(), []invite.Event{event("evt-1", invite.EventSent)}))
	for _, rc := range []*receiver{oldOnly, newOnly, both} {
		reqs := rc.requests(t) // each verified with the receiver's own secrets
		require.Len(t, reqs, 1)
		require.Len(t, strings.Fields(reqs[0].Header.Get(invitehook.HeaderSignature)), 2, "one signature per secret")
	}
	// After the rotation, a receiver still on the old secret refuses.
	s = newSink(t, invitehook.Config{Endpoints: []invitehook.Endpoint{{URL: oldOnly.URL, Secrets: []string{newSecret}}}})
	require.NoError(t, s.Publish(t.Context(), []invite.Event{event("evt-2", invite.EventSent)}))
	reqs := oldOnly.unverified()
	require.Len(t, reqs, 2)
	require.ErrorIs(t, reqs[1].Err, invitehook.ErrNoMatch)
}

func TestConfig(t *testing.T) {
	good := invitehook.NewSecret()
	short := "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 16))
	tests := []struct {
		name  string
		cfg   invitehook.Config
		field string
		want  error
	}{
		{"no endpoint", invitehook.Config{}, "Endpoints", invitehook.ErrInvalidConfig},
		{"relative URL", invitehook.Config{Endpoints: []invitehook.Endpoint{{URL: "/hook", Secrets: []string{good}}}}, "Endpoints[0].URL", invitehook.ErrInvalidConfig},
		{"http elsewhere", invitehook.Config{Endpoints: []invitehook.Endpoint{{URL: "http://crm.example/hook", Secrets: []string{good}}}}, "Endpoints[0].URL", invitehook.ErrInvalidConfig},
		{"ftp", invitehook.Config{Endpoints: []invitehook.Endpoint{{URL: "ftp://crm.example/hook", Secrets: []string{good}}}}, "Endpoints[0].URL", invitehook.ErrInvalidConfig},
		{"no secret", invitehook.Config{Endpoints: []invitehook.Endpoint{{URL: "https://crm.example/hook"}}}, "Endpoints[0].Secrets", invitehook.ErrInvalidSecret},
		{"short secret", invitehook.Config{Endpoints: []invitehook.Endpoint{
			{URL: "https://a.example/hook", Secrets: []string{good}},
			{URL: "https://b.example/hook", Secrets: []string{good, short}},
		}}, "Endpoints[1].Secrets[1]", invitehook.ErrInvalidSecret},
		{"secret without prefix", invitehook.Config{Endpoints: []invitehook.Endpoint{{URL: "https://crm.example/hook", Secrets: []string{strings.TrimPrefix(good, "whsec_")}}}}, "Endpoints[0].Secrets[0]", invitehook.ErrInvalidSecret},
		{"same name twice", invitehook.Config{Endpoints: []invitehook.Endpoint{
			{URL: "https://crm.example/hook", Secrets: []string{good}},
			{URL: "https://crm.example/hook?v=2", Secrets: []string{good}},
		}}, "Endpoints[1].Name", invitehook.ErrInvalidConfig},
		{"negative timeout", invitehook.Config{Timeout: -1, Endpoints: []invitehook.Endpoint{{URL: "https://crm.example/hook", Secrets: []string{good}}}}, "Timeout", invitehook.ErrInvalidConfig},
		{"user agent with a line break", invitehook.Config{UserAgent: "a\r\nX-Evil: 1", Endpoints: []invitehook.Endpoint{{URL: "https://crm.example/hook", Secrets: []string{good}}}}, "UserAgent", invitehook.ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := invitehook.New(tt.cfg)
			require.ErrorIs(t, err, tt.want)
			require.Contains(t, err.Error(), tt.field+":")
			require.NotContains(t, err.Error(), strings.TrimPrefix(good, "whsec_"))
		})
	}
	for _, u := range []string{"https://crm.example/hook", "http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]:9/hook"} {
		_, err := invitehook.New(invitehook.Config{Endpoints: []invitehook.Endpoint{{URL: u, Secrets: []string{good}}}})
		require.NoError(t, err, u)
	}
}

func TestSendOwnWebhook(t *testing.T) {
	secret := invitehook.NewSecret()
	accounts := newReceiver(t, []string{secret}, nil)
	invitations := newReceiver(t, []string{secret}, nil)
	const accountCreated invite.EventType = "account.created"
	s := newSink(t, invitehook.Config{Endpoints: []invitehook.Endpoint{
		{URL: accounts.URL, Secrets: []string{secret}, Types: []invite.EventType{accountCreated, invite.EventAccepted}},
		{URL: invitations.URL, Secrets: []string{secret}, Types: []invite.EventType{invite.EventAccepted}},
	}})
	at := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	w, err := invitehook.NewWebhook("account-created-user-7", accountCreated, at, map[string]string{"user_id": "user-7", "invitation_id": "inv-1"})
	require.NoError(t, err)
	require.NoError(t, s.Send(t.Context(), w))
	reqs := accounts.requests(t)
	require.Len(t, reqs, 1)
	require.JSONEq(t, `{"id":"account-created-user-7","type":"account.created","time":"2030-01-01T09:00:00Z","data":{"user_id":"user-7","invitation_id":"inv-1"}}`, string(reqs[0].Body))
	require.Equal(t, "account-created-user-7", reqs[0].Header.Get(invitehook.HeaderID))
	require.Empty(t, invitations.ids(t), "filtered by type")

	_, err = invitehook.NewWebhook("account.created.7", accountCreated, at, nil)
	require.Error(t, err)
	err = s.Send(t.Context(), invitehook.Webhook{ID: "bad id", Type: accountCreated, Body: []byte("{}")})
	require.True(t, invite.IsPermanent(err))
	_, err = invitehook.NewWebhook("x", accountCreated, at, func() {})
	require.Error(t, err)
}
