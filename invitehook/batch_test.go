package invitehook_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitehook"
)

// TestBatchRetryKeepsSettledEvents: when one event of a Publish batch
// awaits a retry, the Dispatcher publishes the whole batch again; the
// events an endpoint already took or refused for good are not posted to
// it again. Once nothing awaits a retry, the batch is settled (a refusal
// makes it permanent) and forgotten: publishing it again posts every event
// afresh.
func TestBatchRetryKeepsSettledEvents(t *testing.T) {
	const (
		ok        = "nil"
		retry     = "retry"
		permanent = "permanent"
	)
	tests := []struct {
		name     string
		statuses map[string][]int // per event id, one per post; 200 after the list
		attempts []string         // the outcome of each Publish of the batch
		posts    map[string]int   // posts per event id in the end
	}{
		{name: "refused for good, the other retried",
			statuses: map[string][]int{"a": {http.StatusBadRequest}, "b": {http.StatusInternalServerError}},
			attempts: []string{retry, permanent}, posts: map[string]int{"a": 1, "b": 2}},
		{name: "refused for good, the other retried twice",
			statuses: map[string][]int{"a": {http.StatusUnprocessableEntity}, "b": {http.StatusServiceUnavailable, http.StatusTooManyRequests}},
			attempts: []string{retry, retry, permanent}, posts: map[string]int{"a": 1, "b": 3}},
		{name: "taken, the other retried",
			statuses: map[string][]int{"b": {http.StatusInternalServerError}},
			attempts: []string{retry, ok}, posts: map[string]int{"a": 1, "b": 2}},
		{name: "refused for good alone: settled at once, then sent afresh",
			statuses: map[string][]int{"a": {http.StatusBadRequest, http.StatusBadRequest}},
			attempts: []string{permanent, permanent}, posts: map[string]int{"a": 2, "b": 2}},
		{name: "settled after the retry, then sent afresh",
			statuses: map[string][]int{"a": {http.StatusBadRequest}, "b": {http.StatusInternalServerError}},
			attempts: []string{retry, permanent, ok}, posts: map[string]int{"a": 2, "b": 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret := invitehook.NewSecret()
			var mu sync.Mutex
			posts := map[string]int{}
			rc := newReceiver(t, []string{secret}, func(w http.ResponseWriter, r *http.Request, _ int) {
				id := r.Header.Get(invitehook.HeaderID)
				mu.Lock()
				n := posts[id]
				posts[id]++
				mu.Unlock()
				if st := tt.statuses[id]; n < len(st) {
					w.WriteHeader(st[n])
				}
			})
			s := newSink(t, invitehook.Config{Endpoints: []invitehook.Endpoint{{Name: "crm", URL: rc.URL, Secrets: []string{secret}}}})
			batch := []invite.Event{event("a", invite.EventSent), event("b", invite.EventAccepted)}
			for i, want := range tt.attempts {
				err := s.Publish(t.Context(), batch)
				switch want {
				case ok:
					require.NoError(t, err, "attempt %d", i)
				case retry:
					require.Error(t, err, "attempt %d", i)
					require.False(t, invite.IsPermanent(err), "attempt %d: %v", i, err)
				case permanent:
					require.Error(t, err, "attempt %d", i)
					require.True(t, invite.IsPermanent(err), "attempt %d: %v", i, err)
					var de *invitehook.DeliveryError
					require.ErrorAs(t, err, &de)
					require.Equal(t, "crm", de.Endpoint)
					require.Equal(t, tt.statuses["a"][0], de.Status, "the refusal of the settled event is reported")
				}
			}
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, tt.posts, posts)
			require.Len(t, rc.requests(t), tt.posts["a"]+tt.posts["b"])
		})
	}
}
