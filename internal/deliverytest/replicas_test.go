package deliverytest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// replicaSize is how many entries the Exclusive proof of TestReplicas
// delivers on each backend.
func replicaSize(be backend) int {
	if be.name == "SQLite" {
		return 1000 // one writer at a time: more proves nothing more
	}
	return 5000
}

// TestReplicas runs several Dispatchers (each on a Manager of its own, as
// replicas would) against one store and records every claim (owner,
// attempt, when, lease end), every settlement and every delivery (start,
// end). Four dispatchers deliver a backlog of events; no entry
// may be claimed by one while another's claim on it holds (not settled,
// lease not run out), nor delivered by two at overlapping times within a
// lease, and every entry is delivered exactly once (nothing fails).
func TestReplicas(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			start := time.Now()
			n := replicaSize(be)
			fx := be.open(t)
			ids := seedEvents(t, fx.Store, n)
			l := newLedger(ids)
			ctx, cancel := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			var rs []*replica
			for i := range 4 {
				r := newReplica(t, fx.Store, l, fmt.Sprintf("replica-%d", i), invite.DispatcherConfig{
					PollInterval: 10 * time.Millisecond, BatchSize: 20, Concurrency: 4,
				}, briefly)
				rs = append(rs, r)
				wg.Go(func() { assert.NoError(t, r.d.Run(ctx)) })
			}
			l.wait(t)
			cancel()
			wg.Wait()
			l.check(t)
			require.Zero(t, outboxStats(t, fx.Store).Pending, "pending entries")
			for _, id := range ids {
				require.Equal(t, 1, l.acked[id], "deliveries of entry %s", id)
			}
			t.Logf("%s: %d entries delivered by 4 dispatchers (%s) in %s", be.name, n, l.shares(rs), time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestReplicaStopped stops a dispatcher in the middle of a batch, its
// deliveries either giving up at AttemptTimeout (Cancelled) or hanging
// past the lease (Hung); two others must deliver everything it held, in
// the hung case only after its lease ran out, without breaking a claim
// (see replicaStopped). The subtests mostly wait for the lease or the
// attempt timeout: they run in parallel.
func TestReplicaStopped(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			t.Run("Cancelled", func(t *testing.T) {
				t.Parallel()
				// The stopped dispatcher's attempts give up when their
				// AttemptTimeout ends; it then settles them as retries and
				// releases the entries it had not started.
				replicaStopped(t, be, func(ctx context.Context, _ *replica, _ invite.Event, _ <-chan struct{}) error {
					<-ctx.Done()
					return ctx.Err()
				})
			})
			t.Run("Hung", func(t *testing.T) {
				t.Parallel()
				// The stopped dispatcher's attempts ignore their deadline
				// and hang until the others have delivered everything:
				// its claims are taken over only when its lease runs out.
				replicaStopped(t, be, func(_ context.Context, _ *replica, _ invite.Event, release <-chan struct{}) error {
					<-release
					return nil
				})
			})
		})
	}
}

// replicaStopped is TestReplicaStopped's Cancelled and Hung: dispatcher "stopped"
// (Concurrency 2, BatchSize 50, Lease 2 s, AttemptTimeout 1 s) claims a
// batch of 200 entries and starts two attempts, which stall in stall
// (released, for Hung, once the others have delivered everything); its
// context is cancelled then, and two more dispatchers start. They must
// deliver all 200 entries without breaking a claim of "stopped".
func replicaStopped(t *testing.T, be backend, stall func(ctx context.Context, r *replica, e invite.Event, release <-chan struct{}) error) {
	start := time.Now()
	const n = 200
	fx := be.open(t)
	ids := seedEvents(t, fx.Store, n)
	l := newLedger(ids)
	cfg := invite.DispatcherConfig{PollInterval: 20 * time.Millisecond, Lease: 2 * time.Second, AttemptTimeout: time.Second,
		Backoff: func(int) time.Duration { return time.Millisecond }}

	stalled := make(chan struct{}, 2)
	release := make(chan struct{})
	scfg := cfg
	scfg.BatchSize, scfg.Concurrency = 50, 2
	stopped := newReplica(t, fx.Store, l, "stopped", scfg, func(ctx context.Context, r *replica, e invite.Event) error {
		stalled <- struct{}{}
		return stall(ctx, r, e, release)
	})
	sctx, stop := context.WithCancel(t.Context())
	var stoppedDone sync.WaitGroup
	stoppedDone.Go(func() { assert.NoError(t, stopped.d.Run(sctx)) })
	for range 2 {
		select {
		case <-stalled:
		case <-time.After(2 * time.Minute):
			t.Fatal("the stopped dispatcher did not start two deliveries")
		}
	}
	stop()

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var rs []*replica
	for i := range 2 {
		ocfg := cfg
		ocfg.BatchSize, ocfg.Concurrency = 20, 4
		r := newReplica(t, fx.Store, l, fmt.Sprintf("other-%d", i), ocfg, briefly)
		rs = append(rs, r)
		wg.Go(func() { assert.NoError(t, r.d.Run(ctx)) })
	}
	l.wait(t)
	close(release)
	stoppedDone.Wait()
	cancel()
	wg.Wait()

	l.check(t)
	require.Zero(t, outboxStats(t, fx.Store).Pending, "pending entries")
	held := l.claimedBy("stopped")
	require.Len(t, held, 50, "entries the stopped dispatcher claimed")
	for _, id := range held {
		require.True(t, slices.ContainsFunc(l.deliveries, func(d delivery) bool { return d.entry == id && d.owner != "stopped" && d.acked }),
			"entry %s, claimed by the stopped dispatcher, was not delivered by another", id)
	}
	t.Logf("%s: %d entries, the stopped dispatcher held %d, delivered by (%s) in %s",
		be.name, n, len(held), l.shares(append(rs, stopped)), time.Since(start).Round(time.Millisecond))
}

// briefly delivers after a pause of up to half a millisecond, so that
// deliveries overlap in time.
func briefly(context.Context, *replica, invite.Event) error {
	time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
	return nil
}

// seedEvents queues n events (and their invitations) in st, due now, in
// batches of 100, and returns their ids.
func seedEvents(t *testing.T, st invite.Store, n int) []string {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	ids := make([]string, 0, n)
	for len(ids) < n {
		var b invite.Batch
		for range min(100, n-len(ids)) {
			_, hash, err := invite.MintToken(invite.DefaultTokenPrefix)
			require.NoError(t, err)
			rec := &invite.Record{
				Invitation: invite.Invitation{ID: uuid.Must(uuid.NewV7()).String(), TenantID: tenant,
					Invitee: invite.Invitee{Email: email("replica")}, TemplateKey: "invite", State: invite.StatePending,
					CreatedAt: now, UpdatedAt: now, IssuedAt: now, ExpiresAt: now.Add(7 * 24 * time.Hour), Version: 1},
				Credentials: invite.Credentials{TokenHash: hash},
			}
			inv := rec.Invitation
			ev := invite.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: invite.EventCreated, Time: now, TenantID: tenant,
				InvitationID: inv.ID, Version: 1, Actor: invite.Actor{Kind: invite.ActorAdmin}, New: &inv}
			b.Writes = append(b.Writes, invite.Write{Record: rec})
			b.Events = append(b.Events, ev)
			ids = append(ids, ev.ID)
		}
		require.NoError(t, st.Apply(t.Context(), &b))
	}
	return ids
}

// claim is one entry as a ClaimOutbox call returned it.
type claim struct {
	entry, owner string
	attempt      int
	// now is the time the claim was made at, returned when the call
	// returned, and leaseEnd when the claim runs out.
	now, returned, leaseEnd time.Time
}

type claimKey struct {
	entry, owner string
	attempt      int
}

// delivery is one Publish of one entry's event by one dispatcher.
type delivery struct {
	entry, owner string
	attempt      int
	start, end   time.Time
	acked        bool
}

// ledger records the claims, settlements and deliveries of every
// dispatcher on one store.
type ledger struct {
	mu         sync.Mutex
	claims     []claim
	settled    map[claimKey]time.Time // when the settling call started
	deliveries []delivery
	acked      map[string]int
	want       map[string]bool
	missing    int
	done       chan struct{}
	// badLeases lists claimed entries whose AvailableAt is not the end of
	// the lease asked for.
	badLeases []string
}

func newLedger(ids []string) *ledger {
	l := &ledger{settled: map[claimKey]time.Time{}, acked: map[string]int{}, want: map[string]bool{}, done: make(chan struct{})}
	for _, id := range ids {
		l.want[id] = true
	}
	l.missing = len(ids)
	return l
}

// wait returns once every entry was delivered (acknowledged) at least once.
func (l *ledger) wait(t *testing.T) {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(2 * time.Minute):
		l.mu.Lock()
		defer l.mu.Unlock()
		t.Fatalf("the dispatchers stalled: %d of %d entries undelivered after 2 minutes", l.missing, len(l.want))
	}
}

func (l *ledger) delivered(d delivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.deliveries = append(l.deliveries, d)
	if !d.acked {
		return
	}
	l.acked[d.entry]++
	if l.acked[d.entry] == 1 && l.want[d.entry] {
		if l.missing--; l.missing == 0 {
			close(l.done)
		}
	}
}

// claimedBy returns the entries owner claimed.
func (l *ledger) claimedBy(owner string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, c := range l.claims {
		if c.owner == owner {
			out = append(out, c.entry)
		}
	}
	return out
}

// shares says how many deliveries each replica made.
func (l *ledger) shares(rs []*replica) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	per := map[string]int{}
	for _, d := range l.deliveries {
		if d.acked {
			per[d.owner]++
		}
	}
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s: %d", r.id, per[r.id])
	}
	return s
}

// check checks the exclusivity of claims and deliveries, and that every
// entry was delivered.
func (l *ledger) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	require.Empty(t, l.badLeases, "claims whose AvailableAt is not now+lease")
	for id := range l.want {
		require.Positive(t, l.acked[id], "entry %s was never delivered", id)
	}
	for id := range l.acked {
		require.True(t, l.want[id], "entry %s was delivered but never queued", id)
	}

	// Claims: a claim of an entry by another owner comes after the
	// earlier claim was settled or its lease ran out.
	byEntry := map[string][]claim{}
	leases := map[claimKey]time.Time{}
	for _, c := range l.claims {
		byEntry[c.entry] = append(byEntry[c.entry], c)
		leases[claimKey{c.entry, c.owner, c.attempt}] = c.leaseEnd
	}
	for id, cs := range byEntry {
		for i, c1 := range cs {
			for _, c2 := range cs[i+1:] {
				if c1.owner == c2.owner {
					continue
				}
				if c2.now.Before(c1.now) {
					c1, c2 = c2, c1
				}
				settled, ok := l.settled[claimKey{id, c1.owner, c1.attempt}]
				require.True(t, !c2.now.Before(c1.leaseEnd) || (ok && !c2.returned.Before(settled)),
					"entry %s: %s claimed it (attempt %d) at %s while %s's claim (attempt %d, at %s, lease to %s) held",
					id, c2.owner, c2.attempt, c2.now, c1.owner, c1.attempt, c1.now, c1.leaseEnd)
			}
		}
	}

	// Deliveries: two dispatchers' deliveries of one entry overlap only
	// when the later one began after the earlier one's lease ran out.
	deliveries := map[string][]delivery{}
	for _, d := range l.deliveries {
		deliveries[d.entry] = append(deliveries[d.entry], d)
	}
	for id, ds := range deliveries {
		for i, d1 := range ds {
			for _, d2 := range ds[i+1:] {
				if d1.owner == d2.owner {
					continue
				}
				if d2.start.Before(d1.start) {
					d1, d2 = d2, d1
				}
				lease, ok := leases[claimKey{id, d1.owner, d1.attempt}]
				require.True(t, ok, "entry %s: %s delivered it without a claim", id, d1.owner)
				require.True(t, !d2.start.Before(d1.end) || !d2.start.Before(lease),
					"entry %s: %s delivered it (%s to %s) while %s was delivering it (%s to %s, lease to %s)",
					id, d2.owner, d2.start, d2.end, d1.owner, d1.start, d1.end, lease)
			}
		}
	}
}

// replica is one dispatcher on a Manager of its own, whose store records
// its claims and settlements in the ledger and whose sink records its
// deliveries.
type replica struct {
	id string
	d  *invite.Dispatcher
	l  *ledger
	mu sync.Mutex
	// attempts holds the attempt of this replica's latest claim per entry.
	attempts map[string]int
}

// newReplica makes a dispatcher of events named id on st, recording into
// l; publish delivers one event.
func newReplica(t *testing.T, st invite.Store, l *ledger, id string, cfg invite.DispatcherConfig,
	publish func(ctx context.Context, r *replica, e invite.Event) error) *replica {
	t.Helper()
	r := &replica{id: id, l: l, attempts: map[string]int{}}
	sink := invite.EventSinkFunc(func(ctx context.Context, evs []invite.Event) error {
		for _, e := range evs {
			r.mu.Lock()
			attempt := r.attempts[e.ID]
			r.mu.Unlock()
			start := time.Now()
			err := publish(ctx, r, e)
			l.delivered(delivery{entry: e.ID, owner: id, attempt: attempt, start: start, end: time.Now(), acked: err == nil})
			if err != nil {
				return err
			}
		}
		return nil
	})
	m, err := invite.New(&ledgerStore{Store: st, Outbox: st.(invite.Outbox), r: r}, config(nil, sink, nil))
	require.NoError(t, err)
	cfg.ID = id
	r.d, err = m.NewDispatcher(cfg)
	require.NoError(t, err)
	return r
}

// ledgerStore is a replica's store: it records the replica's claims and
// settlements.
type ledgerStore struct {
	invite.Store
	invite.Outbox
	r *replica
}

func (s *ledgerStore) ClaimOutbox(ctx context.Context, owner string, kinds []invite.OutboxKind, now time.Time, lease time.Duration, limit int) ([]*invite.OutboxEntry, error) {
	es, err := s.Outbox.ClaimOutbox(ctx, owner, kinds, now, lease, limit)
	returned := time.Now()
	s.r.mu.Lock()
	for _, e := range es {
		s.r.attempts[e.ID] = e.Attempts
	}
	s.r.mu.Unlock()
	s.r.l.mu.Lock()
	defer s.r.l.mu.Unlock()
	for _, e := range es {
		// The lease is the one asked for: a store that kept a shorter one
		// would break the claims it is meant to protect.
		s.r.l.claims = append(s.r.l.claims, claim{entry: e.ID, owner: owner, attempt: e.Attempts, now: now, returned: returned, leaseEnd: now.Add(lease)})
		if !e.AvailableAt.Equal(now.Add(lease)) {
			s.r.l.badLeases = append(s.r.l.badLeases, fmt.Sprintf("entry %s claimed at %s for %s: AvailableAt %s", e.ID, now, lease, e.AvailableAt))
		}
	}
	return es, err
}

func (s *ledgerStore) SettleOutbox(ctx context.Context, owner string, now time.Time, ss []invite.Settlement) (int, error) {
	started := time.Now()
	s.r.l.mu.Lock()
	for _, x := range ss {
		s.r.l.settled[claimKey{x.ID, owner, x.Attempt}] = started
	}
	s.r.l.mu.Unlock()
	return s.Outbox.SettleOutbox(ctx, owner, now, ss)
}
