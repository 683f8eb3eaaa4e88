package deliverytest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// TestSlowNotifier queues messages for a Dispatcher whose Notifier takes
// all but a millisecond of the attempt's AttemptTimeout before it succeeds.
// The message went out: the write marking its invitation sent must not
// fail for want of time (the entry would be settled with the invitation
// left unsent). Every invitation must end sent, with the link delivered
// working.
func TestSlowNotifier(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			fx := be.open(t)
			queued := queueMessages(t, fx.Store, 20)
			var mu sync.Mutex
			var hs []handover
			notifier := invite.NotifierFunc(func(ctx context.Context, msg invite.Message) error {
				if dl, ok := ctx.Deadline(); ok {
					time.Sleep(time.Until(dl) - time.Millisecond)
				}
				mu.Lock()
				defer mu.Unlock()
				hs = append(hs, handover{invitationID: msg.InvitationID, messageID: msg.ID, token: token(msg)})
				return nil
			})
			m, err := invite.New(fx.Store, config(notifier, nil, nil))
			require.NoError(t, err)
			d, err := m.NewDispatcher(invite.DispatcherConfig{AttemptTimeout: 200 * time.Millisecond, Concurrency: 20,
				Backoff: func(int) time.Duration { return time.Millisecond }})
			require.NoError(t, err)
			// An attempt whose first write took the whole deadline is
			// retried: drain until nothing is pending.
			deadline := time.Now().Add(time.Minute)
			for outboxStats(t, fx.Store).Pending > 0 {
				require.True(t, time.Now().Before(deadline), "the outbox does not drain")
				time.Sleep(5 * time.Millisecond)
				_, err := d.Drain(t.Context())
				require.NoError(t, err)
			}
			require.Zero(t, outboxStats(t, fx.Store).Dead, "dead entries")
			for _, inv := range listAll(t, fx.Store, tenant) {
				require.Equal(t, invite.StateSent, inv.State, "invitation %s: its message went out", inv.ID)
				require.Equal(t, 1, inv.SendCount, "invitation %s", inv.ID)
			}
			checkHandovers(t, m, queued, hs, false)
		})
	}
}
