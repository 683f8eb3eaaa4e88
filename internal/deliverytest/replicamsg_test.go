package deliverytest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// replicaMessageSize is how many messages TestReplicasMessages sends on
// each backend: 2,500 on PostgreSQL and MariaDB, where 5,000 took 11 s and
// 16 s under -race (TestReplicas delivers 5,000 events there already);
// 1,000 on memstore and 500 on SQLite (one writer at a time, its engine
// slow under -race). INVITE_REPLICA_MESSAGES overrides them all.
func replicaMessageSize(be backend) int {
	if s := os.Getenv("INVITE_REPLICA_MESSAGES"); s != "" {
		var n int
		if _, err := fmt.Sscan(s, &n); err == nil && n > 0 {
			return n
		}
	}
	switch be.name {
	case "memstore":
		return 1000
	case "SQLite":
		return 500
	}
	return 2500
}

// TestReplicasMessages is TestReplicas with messages: invitations created
// (send mode) by a Manager whose notifier refuses every inline attempt,
// so that each one's message is left to the dispatchers; then four
// Dispatchers (each on a Manager of its own) send them. Their notifier
// fails one call in ten: half of those before the message went out, half
// after (a lost acknowledgement: the message arrived, and its retry sends
// a fresh token under the same message id). No message may be claimed by
// one dispatcher while another's claim on it holds, nor sent by two at
// overlapping times within a lease; every message is acknowledged exactly
// once; every invitation ends sent; each invitation's newest link works,
// and an older one from a retry does not, except with KeepPreviousTokens
// (memstore and SQLite keep them, PostgreSQL and MariaDB do not); and a
// message that went out twice carries the id it went out under before.
func TestReplicasMessages(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			start := time.Now()
			n := replicaMessageSize(be)
			keep := be.name == "memstore" || be.name == "SQLite"
			fx := be.open(t)
			queued := queueMessages(t, fx.Store, n)
			seeded := time.Since(start)
			ids := slices.Collect(func(yield func(string) bool) {
				for id := range queued {
					if !yield(id) {
						return
					}
				}
			})
			l := newLedger(ids)
			out := &outgoing{}
			ctx, cancel := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			var rs []*replica
			for i := range 4 {
				r := newMessageReplica(t, fx.Store, l, out, fmt.Sprintf("replica-%d", i), invite.DispatcherConfig{
					PollInterval: 10 * time.Millisecond, BatchSize: 20, Concurrency: 4,
					Backoff: func(int) time.Duration { return time.Millisecond },
				}, keep)
				rs = append(rs, r)
				wg.Go(func() { assert.NoError(t, r.d.Run(ctx)) })
			}
			l.wait(t)
			cancel()
			wg.Wait()

			l.check(t)
			for _, id := range ids {
				require.Equal(t, 1, l.acked[id], "acknowledged deliveries of message %s", id)
			}
			s := outboxStats(t, fx.Store)
			require.Zero(t, s.Pending, "pending entries")
			require.Zero(t, s.Dead, "dead entries")
			invs := listAll(t, fx.Store, tenant)
			require.Len(t, invs, n, "invitations")
			for _, inv := range invs {
				require.Equal(t, invite.StateSent, inv.State, "invitation %s", inv.ID)
				require.Equal(t, 1, inv.SendCount, "invitation %s", inv.ID)
			}
			lcfg := config(nil, nil, nil)
			lcfg.KeepPreviousTokens = keep
			m, err := invite.New(fx.Store, lcfg)
			require.NoError(t, err)
			dups := checkHandovers(t, m, queued, out.all(), keep)
			require.Positive(t, dups, "no message went out twice: the proof of the retries proves nothing")
			t.Logf("%s: %d messages (queued in %s) sent by 4 dispatchers (%s), %d sent more than once, %d attempts in all, keep previous tokens %t; total %s",
				be.name, n, seeded.Round(time.Millisecond), l.shares(rs), dups, len(l.deliveries), keep, time.Since(start).Round(time.Millisecond))
		})
	}
}

// outgoing records the messages that went out, in order, whichever
// dispatcher sent them.
type outgoing struct {
	mu sync.Mutex
	hs []handover
}

func (o *outgoing) add(msg invite.Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.hs = append(o.hs, handover{invitationID: msg.InvitationID, messageID: msg.ID, token: token(msg)})
}

func (o *outgoing) all() []handover {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.hs)
}

// newMessageReplica makes a dispatcher of messages named id on st,
// recording its claims, settlements and deliveries into l and the messages
// that went out into out. Its notifier takes up to half a millisecond and
// fails one call in ten, half of those after the message went out.
func newMessageReplica(t *testing.T, st invite.Store, l *ledger, out *outgoing, id string, cfg invite.DispatcherConfig, keep bool) *replica {
	t.Helper()
	r := &replica{id: id, l: l, attempts: map[string]int{}}
	notifier := invite.NotifierFunc(func(_ context.Context, msg invite.Message) error {
		r.mu.Lock()
		attempt := r.attempts[msg.ID]
		r.mu.Unlock()
		start := time.Now()
		time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
		var err error
		switch x := rand.Float64(); {
		case x < 0.05:
			err = errTransport
		default:
			out.add(msg)
			if x < 0.1 {
				err = errTransport // went out, the acknowledgement was lost
			}
		}
		l.delivered(delivery{entry: msg.ID, owner: id, attempt: attempt, start: start, end: time.Now(), acked: err == nil})
		return err
	})
	mcfg := config(notifier, nil, nil)
	mcfg.KeepPreviousTokens = keep
	m, err := invite.New(&ledgerStore{Store: st, Outbox: st.(invite.Outbox), r: r}, mcfg)
	require.NoError(t, err)
	cfg.ID = id
	r.d, err = m.NewDispatcher(cfg)
	require.NoError(t, err)
	return r
}
