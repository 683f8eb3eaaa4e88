package deliverytest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/invitetest"
)

// outageSize is how many invitations TestOutage creates on each backend:
// 2,000 everywhere. INVITE_OUTAGE_SIZE overrides it.
func outageSize(backend) int {
	if s := os.Getenv("INVITE_OUTAGE_SIZE"); s != "" {
		var n int
		if _, err := fmt.Sscan(s, &n); err == nil && n > 0 {
			return n
		}
	}
	return 2000
}

// TestOutage creates invitations while the notifier and the event sink
// each fail 30% of their calls (half of those failures after the message
// or event went out: a lost acknowledgement), then drains the outbox with
// one Dispatcher, advancing a test clock past the backoff between rounds,
// until nothing is pending. Every invitation must end sent with the last
// link delivered working, every event of every committed write must have
// arrived, and every delivery, duplicates included, must carry the id of
// a committed event or queued message.
func TestOutage(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			start := time.Now()
			n := outageSize(be)
			fx := be.open(t)
			st := newRecordingStore(fx.Store)
			clock := invitetest.NewClock(invitetest.Start)
			notifier := &flakyNotifier{failRate: 0.3}
			sink := &flakySink{failRate: 0.3}
			m, err := invite.New(st, config(notifier, sink, clock.Now))
			require.NoError(t, err)

			// Create n invitations from a few goroutines at once.
			ids := make([]string, n)
			var inlineFailed sync.Map
			var wg sync.WaitGroup
			errs := make(chan error, n)
			const workers = 4
			for w := range workers {
				wg.Go(func() {
					for i := w; i < n; i += workers {
						res, err := m.Create(t.Context(), invite.CreateInput{TenantID: tenant, Invitee: invite.Invitee{Email: email("outage")}})
						if err != nil {
							errs <- err
							return
						}
						ids[i] = res.Invitation.ID
						if res.DeliveryErr != nil {
							inlineFailed.Store(res.Invitation.ID, true)
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err, "Create")
			}
			created := time.Since(start)

			// Drain: each round first moves the clock past the inline
			// attempt's window and past every backoff.
			d, err := m.NewDispatcher(invite.DispatcherConfig{
				ID:          "outage",
				MaxAttempts: 1000, // 0.3^1000: nothing is dead-lettered by chance
				Backoff:     func(int) time.Duration { return time.Minute },
			})
			require.NoError(t, err)
			rounds := 0
			for ; ; rounds++ {
				require.Less(t, rounds, 200, "the outbox does not drain")
				clock.Advance(time.Hour)
				_, err := d.Drain(t.Context())
				require.NoError(t, err)
				if s := outboxStats(t, st); s.Pending == 0 {
					require.Zero(t, s.Dead, "dead letters")
					break
				}
			}
			ds, err := d.Stats(t.Context())
			require.NoError(t, err)

			checkOutage(t, st, ids, notifier.sent(), sink.published())
			t.Logf("%s: %d invitations (created in %s, %d inline deliveries failed), drained in %d rounds "+
				"(dispatcher: %d delivered, %d dropped, %d retried), %d notify calls recorded, %d events recorded, total %s",
				be.name, n, created.Round(time.Millisecond), count(&inlineFailed), rounds+1, ds.Delivered, ds.Dropped, ds.Retried,
				len(notifier.sent()), len(sink.published()), time.Since(start).Round(time.Millisecond))
		})
	}
}

func count(m *sync.Map) int {
	n := 0
	m.Range(func(any, any) bool { n++; return true })
	return n
}

// checkOutage checks the end state of TestOutage.
func checkOutage(t *testing.T, st *recordingStore, ids []string, msgs []sent, evs []published) {
	t.Helper()
	ctx := context.Background()
	st.c.mu.Lock()
	defer st.c.mu.Unlock()

	// Every invitation ended sent, and the last message acknowledged for
	// it carries the token the store holds: the invitee's newest link
	// works.
	invs := listAll(t, st, tenant)
	require.Len(t, invs, len(ids), "invitations stored")
	lastAcked := map[string]sent{}
	for _, s := range msgs {
		q, ok := st.c.messages[s.Msg.ID]
		require.True(t, ok, "message %s was never queued", s.Msg.ID)
		require.Equal(t, q.InvitationID, s.Msg.InvitationID, "message %s names another invitation", s.Msg.ID)
		if s.Acked {
			lastAcked[s.Msg.InvitationID] = s
		}
	}
	for _, inv := range invs {
		require.Equal(t, invite.StateSent, inv.State, "invitation %s", inv.ID)
		require.GreaterOrEqual(t, inv.SendCount, 1, "invitation %s", inv.ID)
		s, ok := lastAcked[inv.ID]
		require.True(t, ok, "invitation %s: no message acknowledged", inv.ID)
		rec, err := st.Get(ctx, tenant, inv.ID)
		require.NoError(t, err)
		h, err := invite.ParseToken(invite.DefaultTokenPrefix, s.Token)
		require.NoError(t, err)
		require.True(t, rec.Credentials.TokenHash.Equal(h), "invitation %s: the last link delivered is not the current one", inv.ID)
	}

	// Every queued message's invitation got a message under that id;
	// each invitation had one message queued (Create's).
	perInvitation := map[string]int{}
	for _, q := range st.c.messages {
		perInvitation[q.InvitationID]++
	}
	for _, id := range ids {
		require.Equal(t, 1, perInvitation[id], "messages queued for invitation %s", id)
	}

	// Events: every published one was committed (duplicates carry a
	// committed id and the same content), every committed one arrived.
	arrived := map[string]int{}
	for _, p := range evs {
		want, ok := st.c.events[p.Event.ID]
		require.True(t, ok, "event %s was never committed", p.Event.ID)
		require.Equal(t, want.Type, p.Event.Type, "event %s", p.Event.ID)
		require.Equal(t, want.InvitationID, p.Event.InvitationID, "event %s", p.Event.ID)
		require.Equal(t, want.Version, p.Event.Version, "event %s", p.Event.ID)
		arrived[p.Event.ID]++
	}
	types := map[string][]invite.EventType{}
	for id, e := range st.c.events {
		require.Positive(t, arrived[id], "committed event %s (%s of %s) never arrived", id, e.Type, e.InvitationID)
		types[e.InvitationID] = append(types[e.InvitationID], e.Type)
	}
	for _, id := range ids {
		require.ElementsMatch(t, []invite.EventType{invite.EventCreated, invite.EventSent}, types[id], "events of invitation %s", id)
	}
}
