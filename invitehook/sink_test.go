package invitehook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitehook"
)

// received is one request as the receiver saw it.
type received struct {
	Header http.Header
	Body   []byte
	Err    error // Verify's verdict
}

// receiver is a webhook receiver on loopback that verifies every request
// with its secrets and answers with respond (200 when nil).
type receiver struct {
	*httptest.Server
	secrets []string
	mu      sync.Mutex
	reqs    []received
	respond func(w http.ResponseWriter, r *http.Request, n int) // n: 0 for the first request
}

func newReceiver(t *testing.T, secrets []string, respond func(w http.ResponseWriter, r *http.Request, n int)) *receiver {
	t.Helper()
	rc := &receiver{secrets: secrets, respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		n := len(rc.reqs)
		rc.reqs = append(rc.reqs, received{Header: r.Header.Clone(), Body: body, Err: invitehook.Verify(r.Header, body, rc.secrets...)})
		respond := rc.respond
		rc.mu.Unlock()
		if respond != nil {
			respond(w, r, n)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

// setRespond replaces the receiver's answer.
func (rc *receiver) setRespond(f func(w http.ResponseWriter, r *http.Request, n int)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.respond = f
}

// requests returns what arrived so far, every request verified.
func (rc *receiver) requests(t *testing.T) []received {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, r := range rc.reqs {
		require.NoError(t, r.Err, "the receiver verifies every request")
	}
	return slices.Clone(rc.reqs)
}

// unverified returns what arrived so far, with Verify's verdicts.
func (rc *receiver) unverified() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.reqs)
}

// ids returns the webhook-ids that arrived, in order.
func (rc *receiver) ids(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, r := range rc.requests(t) {
		out = append(out, r.Header.Get(invitehook.HeaderID))
	}
	return out
}

func status(code int, header ...string) func(w http.ResponseWriter, r *http.Request, n int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
	}
}

func newSink(t *testing.T, cfg invitehook.Config) *invitehook.Sink {
	t.Helper()
	s, err := invitehook.New(cfg)
	require.NoError(t, err)
	return s
}

func event(id string, typ invite.EventType) invite.Event {
	return invite.Event{
		ID: id, Type: typ, Time: time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC), TenantID: "acme",
		InvitationID: "inv-1", Version: 2, Actor: invite.Actor{Kind: invite.ActorAdmin},
		New: &invite.Invitation{ID: "inv-1", TenantID: "acme", Invitee: invite.Invitee{Email: "ada@example.com"}, State: invite.StateSent, Version: 2},
	}
}

func TestPublishSignedEvent(t *testing.T) {
	secret := invitehook.NewSecret()
	rc := newReceiver(t, []string{secret}, nil)
	s := newSink(t, invitehook.Config{Endpoints: []invitehook.Endpoint{{URL: rc.URL + "/hook?src=invite", Secrets: []string{secret}}}})
	ev := event("evt-1", invite.EventSent)
	before := time.Now().Unix()
	require.NoError(t, s.Publish(t.Context(), []invite.Event{ev}))
	reqs := rc.requests(t)
	require.Len(t, reqs, 1)
	want, err := json.Marshal(ev)
	require.NoError(t, err)
	require.Equal(t, string(want), string(reqs[0].Body), "the Event's own JSON form")
	h := reqs[0].Header
	require.Equal(t, "evt-1", h.Get(invitehook.HeaderID))
	require.Equal(t, "application/json", h.Get("Content-Type"))
	require.Equal(t, invitehook.DefaultUserAgent, h.Get("User-Agent"))
	ts, err := strconv.ParseInt(h.Get(invitehook.HeaderTimestamp), 10, 64)
	require.NoError(t, err)
	require.InDelta(t, before, ts, 2)
	require.Len(t, strings.Fields(h.Get(invitehook.HeaderSignature)), 1)
}

func TestResponses(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		respond    func(w http.ResponseWriter, r *http.Request, n int)
		ok         bool
		permanent  bool
		retryAfter time.Duration // 0: none asked for
	}{
		{"200", status(200), true, false, 0},
		{"204", status(204), true, false, 0},
		{"202", status(202), true, false, 0},
		{"500", status(500), false, false, 0},
		{"502", status(502), false, false, 0},
		{"503 with seconds", status(503, "Retry-After", "120"), false, false, 120 * time.Second},
		{"503 with a date", status(503, "Retry-After", date), false, false, 90 * time.Second},
		{"429 with seconds", status(429, "Retry-After", "7"), false, false, 7 * time.Second},
		{"429 with a huge pause", status(429, "Retry-After", "99999999999"), false, false, invitehook.MaxRetryAfter},
		{"429 with garbage", status(429, "Retry-After", "soon"), false, false, 0},
		{"429 bare", status(429), false, false, 0},
		{"400", status(400), false, true, 0},
		{"401", status(401), false, true, 0},
		{"404", status(404), false, true, 0},
		{"413", status(413), false, true, 0},
		{"400 with Retry-After", status(400, "Retry-After", "5"), false, true, 0},
		{"301 not followed", status(301, "Location", "/elsewhere"), false, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret := invitehook.NewSecret()
			rc := newReceiver(t, []string{secret}, tt.respond)
			s := newSink(t, invitehook.Config{Endpoints: []invitehook.Endpoint{{Name: "crm", URL: rc.URL, Secrets: []string{secret}}}})
			err := s.Publish(t.Context(), []invite.Event{event("evt-1", invite.EventSent)})
			require.Len(t, rc.requests(t), 1, "one request; redirects are not followed")
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, tt.permanent, invite.IsPermanent(err), "%v", err)
			var de *invitehook.DeliveryError
			require.ErrorAs(t, err, &de)
			require.Equal(t, "crm", de.Endpoint)
			d, ok := invitehook.RetryAfterOf(err)
			require.Equal(t, tt.retryAfter != 0, ok)
			require.InDelta(t, tt.retryAfter, d, float64(2*time.Second))
		})
	}
}

func TestGoneDisablesEndpoint(t *testing.T) {
	secret := invitehook.NewSecret()
	gone := newReceiver(t, []string{secret}, status(http.StatusGone))
	live := newReceiver(t, []string{secret}, nil)
	var disabled []string
	s := newSink(t, invitehook.Config{
		Endpoints: []invitehook.Endpoint{
			{Name: "gone", URL: gone.URL, Secrets: []string{secret}},
			{Name: "live", URL: live.URL, Secrets: []string{secret}},
		},
		OnDisable: func(name string) { disabled = append(disabled, name) },
	})
	require.NoError(t, s.Publish(t.Context(), []invite.Event{event("evt-1", invite.EventSent)}), "410 settles the attempt")
	require.Equal(t, []string{"gone"}, disabled)
	require.Equal(t, []string{"gone"}, s.Disabled())
	require.NoError(t, s.Publish(t.Context(), []invite.Event{event("evt-2", invite.EventSent)}))
	require.Equal(t, []string{"evt-1"}, gone.ids(t), "nothing more to a disabled endpoint")
	require.Equal(t, []string{"evt-1", "evt-2"}, live.ids(t))

	require.True(t, s.Enable("gone"))
	require.False(t, s.Enable("nope"))
	require.Empty(t, s.Disabled())
	gone.setRespond(nil)
	require.NoError(t, s.Publish(t.Context(), []invite.Event{event("evt-3", invite.EventSent)}))
	require.Equal(t, []string{"evt-1", "evt-3"}, gone.ids(t))
	require.Equal(t, []string{"gone"}, disabled, "OnDisable once")
}

func TestTimeout(t *testing.T) {
	secret := invitehook.NewSecret()
	release := make(chan struct{})
	rc := newReceiver(t, []string{secret}, func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	s := newSink(t, invitehook.Config{
		Endpoints: []invitehook.Endpoint{{URL: rc.URL + "/hook?key=do-not-log", Secrets: []string{secret}}},
		Timeout:   200 * time.Millisecond,
	})
	start := time.Now()
	err := s.Publish(t.Context(), []invite.Event{event("evt-1", invite.EventSent)})
	require.Less(t, time.Since(start), 5*time.Second)
	require.Error(t, err)
	require.False(t, invite.IsPermanent(err), "a timeout is retried")
	var de *invitehook.DeliveryError
	require.ErrorAs(t, err, &de)
	require.Zero(t, de.Status)
	require.NotContains(t, err.Error(), "do-not-log", "errors never carry the URL's query")

	// The caller's deadline counts too.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	s = newSink(t, invitehook.Config{Endpoints: []invitehook.Endpoint{{URL: rc.URL, Secrets: []string{secret}}}})
	err = s.Publish(ctx, []invite.Event{event("evt-2", invite.EventSent)})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.False(t, invite.IsPermanent(err))
}

func TestNetworkErrorIsRetried(t *testing.T) {
	rc := newReceiver(t, nil, nil)
	url := rc.URL
	rc.Close()
	s := newSink(t, invitehook.Config{Endpoints: []invitehook.Endpoint{{URL: url, Secrets: []string{invitehook.NewSecret()}}}})
	err := s.Publish(t.Context(), []invite.Event{event("evt-1", invite.EventSent)})
	require.Error(t, err)
	require.False(t, invite.IsPermanent(err))
}

// countingTransport counts the response body bytes the client reads.
type countingTransport struct {
	mu sync.Mutex
	n  int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, c: c}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	c *countingTransport
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.mu.Lock()
	b.c.n += int64(n)
	b.c.mu.Unlock()
	return n, err
}

func TestResponseBodyLimit(t *testing.T) {
	secret := invitehook.NewSecret()
	for _, code := range []int{200, 500} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			// A receiver that streams an endless body.
			rc := newReceiver(t, []string{secret}, func(w http.ResponseWriter, r *http.Request, _ int) {
				w.WriteHeader(code)
				chunk := []byte(strings.Repeat("x", 32<<10))
				for r.Context().Err() == nil {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			})
			ct := &countingTransport{}
			s := newSink(t, invitehook.Config{Endpoints: []invitehook.Endpoint{{URL: rc.URL, Secrets: []string{secret}}}, Transport: ct, Timeout: 10 * time.Second})
			start := time.Now()
			err := s.Publish(t.Context(), []invite.Event{event("evt-1", invite.EventSent)})
			require.Less(t, time.Since(start), 5*time.Second, "the endless body is not read to the timeout")
			require.Equal(t, code == 200, err == nil, "%v", err)
			ct.mu.Lock()
			defer ct.mu.Unlock()
			require.Positive(t, ct.n)
			require.LessOrEqual(t, ct.n, int64(invitehook.MaxResponseBody))
		})
	}
}
