package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/invitekit/invite"
	"github.com/stretchr/testify/require"
)

// RunOutbox runs the conformance suite of the invite.Outbox ability: the
// stores returned by newStore must implement it. Like Run, it calls
// newStore once per subtest, for a new, empty store.
//
// The subtests: Queue (Apply queues events and messages atomically with
// its writes), Claim (due entries only, soonest first, kinds, limit, leases
// and reclaiming), Settle (each outcome, and settlements of a claim that is
// no longer held are ignored), BatchDelivered (a write's Delivered
// removes the entries), HeldMessages (a message queued with its
// invitation's insert and not yet claimed is claimed when due, settled by
// Delivered, and forgotten with its invitation), DeadLetters (tenant-scoped listing and re-drive),
// Retention (Delete and Purge forget an invitation's
// entries, PurgeOutbox the delivered ones), Stats, ConcurrentClaims (no
// entry is handed to two claimers), Arguments (every method refuses what
// invite.Outbox's rules refuse, as an *invite.ValidationError naming each
// bad field, and changes nothing) and Collisions (Apply refuses to queue
// an id taken, with invite.ErrAlreadyExists, and writes nothing of the
// batch).
func RunOutbox(t *testing.T, newStore func(t *testing.T) invite.Store) {
	t.Helper()
	o := &outboxSuite{newStore: newStore}
	t.Run("Queue", o.testQueue)
	t.Run("Claim", o.testClaim)
	t.Run("Settle", o.testSettle)
	t.Run("BatchDelivered", o.testBatchDelivered)
	t.Run("HeldMessages", o.testHeldMessages)
	t.Run("DeadLetters", o.testDeadLetters)
	t.Run("Retention", o.testRetention)
	t.Run("Stats", o.testStats)
	t.Run("ConcurrentClaims", o.testConcurrentClaims)
	t.Run("Arguments", o.testArguments)
	t.Run("Collisions", o.testCollisions)
}

type outboxSuite struct {
	newStore func(t *testing.T) invite.Store
}

// outboxStore is a store with the Outbox ability.
type outboxStore interface {
	invite.Store
	invite.Outbox
}

func (o *outboxSuite) store(t *testing.T) outboxStore {
	t.Helper()
	st := o.newStore(t)
	require.NotNil(t, st, "newStore returned nil")
	ob, ok := st.(outboxStore)
	require.True(t, ok, "%T does not implement invite.Outbox", st)
	return ob
}

const lease = time.Minute

// message returns a message for r queued at at, due at due.
func message(r *invite.Record, at, due time.Time) invite.QueuedMessage {
	return invite.QueuedMessage{ID: newID(), TenantID: r.Invitation.TenantID, InvitationID: r.Invitation.ID,
		Resend: true, ResendCount: 3, CreatedAt: at, AvailableAt: due}
}

// queued inserts a new record of tenant with its created event and a
// message due at due, and returns the record, the event and the message.
func queued(t *testing.T, st outboxStore, tenantID string, due time.Time) (*invite.Record, invite.Event, invite.QueuedMessage) {
	t.Helper()
	r := newRecord(tenantID)
	b := batch(ins(r))
	msg := message(r, base, due)
	b.Messages = append(b.Messages, msg)
	require.NoError(t, st.Apply(t.Context(), b), "Apply")
	return r, b.Events[0], msg
}

func claim(t *testing.T, st outboxStore, owner string, now time.Time, limit int, kinds ...invite.OutboxKind) []*invite.OutboxEntry {
	t.Helper()
	es, err := st.ClaimOutbox(t.Context(), owner, kinds, now, lease, limit)
	require.NoError(t, err, "ClaimOutbox")
	return es
}

func entryIDs(es []*invite.OutboxEntry) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

func settle(t *testing.T, st outboxStore, owner string, now time.Time, ss ...invite.Settlement) int {
	t.Helper()
	n, err := st.SettleOutbox(t.Context(), owner, now, ss)
	require.NoError(t, err, "SettleOutbox")
	return n
}

func stats(t *testing.T, st outboxStore) invite.OutboxStats {
	t.Helper()
	s, err := st.OutboxStats(t.Context())
	require.NoError(t, err, "OutboxStats")
	return s
}

// requireEvent checks that a claimed event entry carries ev.
func requireEvent(t *testing.T, ev invite.Event, e *invite.OutboxEntry) {
	t.Helper()
	require.Equal(t, invite.OutboxEvent, e.Kind)
	require.Equal(t, ev.ID, e.ID)
	require.Equal(t, ev.TenantID, e.TenantID)
	require.Equal(t, ev.InvitationID, e.InvitationID)
	require.NotNil(t, e.Event, "Event")
	require.Nil(t, e.Message, "Message")
	got := e.Event
	require.Equal(t, ev.ID, got.ID)
	require.Equal(t, ev.Type, got.Type)
	require.Equal(t, ev.Version, got.Version)
	requireTime(t, ev.Time, got.Time, "Event.Time")
	requireTime(t, ev.Time, e.CreatedAt, "CreatedAt")
	require.Equal(t, ev.TenantID, got.TenantID)
	require.Equal(t, ev.InvitationID, got.InvitationID)
	require.Equal(t, ev.Actor, got.Actor)
	for _, p := range [][2]*invite.Invitation{{ev.Old, got.Old}, {ev.New, got.New}} {
		if p[0] == nil {
			require.Nil(t, p[1])
			continue
		}
		require.NotNil(t, p[1])
		requireInvitationEqual(t, p[0], p[1], "Event")
	}
}

// requireMessage checks that a claimed message entry carries msg.
func requireMessage(t *testing.T, msg invite.QueuedMessage, e *invite.OutboxEntry) {
	t.Helper()
	require.Equal(t, invite.OutboxMessage, e.Kind)
	require.Equal(t, msg.ID, e.ID)
	require.Equal(t, msg.TenantID, e.TenantID)
	require.Equal(t, msg.InvitationID, e.InvitationID)
	requireTime(t, msg.CreatedAt, e.CreatedAt, "CreatedAt")
	require.Nil(t, e.Event, "Event")
	require.NotNil(t, e.Message, "Message")
	got := *e.Message
	requireTime(t, msg.CreatedAt, got.CreatedAt, "Message.CreatedAt")
	requireTime(t, msg.AvailableAt, got.AvailableAt, "Message.AvailableAt")
	got.CreatedAt, got.AvailableAt = msg.CreatedAt, msg.AvailableAt
	require.Equal(t, msg, got)
}

func (o *outboxSuite) testQueue(t *testing.T) {
	t.Run("EventsAndMessages", func(t *testing.T) {
		st := o.store(t)
		r := fullRecord(tenantA)
		b := batch(ins(r))
		b.Events[0].Actor = invite.Actor{Kind: invite.ActorAdmin, ID: "admin-7"}
		msg := message(r, us(1), us(1))
		b.Messages = append(b.Messages, msg)
		require.NoError(t, st.Apply(t.Context(), b))

		now := b.Events[0].Time.Add(time.Second)
		es := claim(t, st, "d1", now, 10)
		require.Len(t, es, 2)
		byID := map[string]*invite.OutboxEntry{es[0].ID: es[0], es[1].ID: es[1]}
		requireEvent(t, b.Events[0], byID[b.Events[0].ID])
		requireMessage(t, msg, byID[msg.ID])
		for _, e := range es {
			require.Equal(t, 1, e.Attempts)
			require.Equal(t, "d1", e.Owner)
			requireTime(t, now.Add(lease), e.AvailableAt, "AvailableAt")
			require.True(t, e.DeliveredAt.IsZero() && e.DeadAt.IsZero())
			require.Equal(t, "", e.LastError)
		}
	})

	t.Run("UpdateAndDeleteEvents", func(t *testing.T) {
		st := o.store(t)
		r := newRecord(tenantA)
		mustApply(t, st, ins(r))
		u := next(r)
		mustApply(t, st, upd(u, 1))
		es := claim(t, st, "d1", u.Invitation.UpdatedAt, 10)
		require.Len(t, es, 2)
		slices.SortFunc(es, func(a, b *invite.OutboxEntry) int { return a.CreatedAt.Compare(b.CreatedAt) })
		require.Equal(t, invite.EventCreated, es[0].Event.Type)
		require.Equal(t, invite.EventUpdated, es[1].Event.Type)
		require.Equal(t, int64(2), es[1].Event.New.Version)
	})

	t.Run("FailedBatchQueuesNothing", func(t *testing.T) {
		st := o.store(t)
		r := newRecord(tenantA)
		mustApply(t, st, ins(r))
		dup := newRecord(tenantA, func(x *invite.Record) { x.Invitation.ID = r.Invitation.ID })
		b := batch(ins(newRecord(tenantA)), ins(dup))
		b.Messages = append(b.Messages, message(dup, base, base))
		err := st.Apply(t.Context(), b)
		require.ErrorIs(t, err, invite.ErrAlreadyExists)
		es := claim(t, st, "d1", us(10), 10)
		require.Len(t, es, 1, "only the first insert's event")
		require.Equal(t, r.Invitation.ID, es[0].InvitationID)

		stale := next(next(r))
		b = batch(upd(stale, 2))
		b.Messages = append(b.Messages, message(r, base, base))
		require.ErrorIs(t, st.Apply(t.Context(), b), invite.ErrConflict)
		require.Empty(t, claim(t, st, "d2", us(10).Add(2*lease), 10, invite.OutboxMessage))
	})

	t.Run("MessagesOnly", func(t *testing.T) {
		st := o.store(t)
		r := newRecord(tenantA)
		b := &invite.Batch{Writes: []invite.Write{ins(r)}, Messages: []invite.QueuedMessage{message(r, base, base)}}
		require.NoError(t, st.Apply(t.Context(), b))
		es := claim(t, st, "d1", base, 10)
		require.Len(t, es, 1)
		requireMessage(t, b.Messages[0], es[0])
	})
}

func (o *outboxSuite) testClaim(t *testing.T) {
	t.Run("DueOnlySoonestFirst", func(t *testing.T) {
		st := o.store(t)
		_, _, late := queued(t, st, tenantA, us(300))
		_, _, soon := queued(t, st, tenantB, us(100))
		_, _, mid := queued(t, st, tenantA, us(200))

		es := claim(t, st, "d1", us(250), 10, invite.OutboxMessage)
		require.Equal(t, []string{soon.ID, mid.ID}, entryIDs(es), "due messages, soonest first")
		es = claim(t, st, "d1", us(300), 1, invite.OutboxMessage)
		require.Equal(t, []string{late.ID}, entryIDs(es), "AvailableAt is inclusive")
	})

	t.Run("Kinds", func(t *testing.T) {
		st := o.store(t)
		_, ev, msg := queued(t, st, tenantA, base)
		es := claim(t, st, "d1", us(1), 10, invite.OutboxEvent)
		require.Equal(t, []string{ev.ID}, entryIDs(es))
		es = claim(t, st, "d1", us(1), 10, invite.OutboxMessage)
		require.Equal(t, []string{msg.ID}, entryIDs(es))
		require.Empty(t, claim(t, st, "d1", us(1), 10))
	})

	t.Run("Limit", func(t *testing.T) {
		st := o.store(t)
		for range 5 {
			queued(t, st, tenantA, base)
		}
		require.Len(t, claim(t, st, "d1", us(1), 3, invite.OutboxMessage), 3)
		require.Len(t, claim(t, st, "d2", us(1), 3, invite.OutboxMessage), 2)
		require.Empty(t, claim(t, st, "d3", us(1), 3, invite.OutboxMessage))
	})

	t.Run("LeaseAndReclaim", func(t *testing.T) {
		st := o.store(t)
		_, _, msg := queued(t, st, tenantA, base)
		now := us(10)
		es := claim(t, st, "d1", now, 10, invite.OutboxMessage)
		require.Len(t, es, 1)
		require.Empty(t, claim(t, st, "d2", now.Add(lease-time.Microsecond), 10, invite.OutboxMessage), "leased")

		es = claim(t, st, "d2", now.Add(lease), 10, invite.OutboxMessage)
		require.Len(t, es, 1, "the lease ran out")
		require.Equal(t, msg.ID, es[0].ID)
		require.Equal(t, 2, es[0].Attempts)
		require.Equal(t, "d2", es[0].Owner)
		requireTime(t, now.Add(2*lease), es[0].AvailableAt, "AvailableAt")

		// d1's claim is gone: its settlement does nothing.
		require.Zero(t, settle(t, st, "d1", now, invite.Settlement{ID: msg.ID, Attempt: 1, Outcome: invite.Delivered}))
		require.Equal(t, 1, settle(t, st, "d2", now, invite.Settlement{ID: msg.ID, Attempt: 2, Outcome: invite.Delivered}))
		require.Empty(t, claim(t, st, "d3", now.Add(10*lease), 10, invite.OutboxMessage))
	})
}

func (o *outboxSuite) testSettle(t *testing.T) {
	at := us(1000)
	t.Run("Outcomes", func(t *testing.T) {
		st := o.store(t)
		var msgs []invite.QueuedMessage
		for range 4 {
			_, _, m := queued(t, st, tenantA, base)
			msgs = append(msgs, m)
		}
		es := claim(t, st, "d1", at, 10, invite.OutboxMessage)
		require.Len(t, es, 4)
		n := settle(t, st, "d1", at,
			invite.Settlement{ID: msgs[0].ID, Attempt: 1, Outcome: invite.Delivered},
			invite.Settlement{ID: msgs[1].ID, Attempt: 1, Outcome: invite.Retry, At: at.Add(time.Hour), Error: "smtp: 451 try later"},
			invite.Settlement{ID: msgs[2].ID, Attempt: 1, Outcome: invite.Dead, Error: "smtp: 550 no such user"},
			invite.Settlement{ID: msgs[3].ID, Attempt: 1, Outcome: invite.Release, At: at.Add(time.Second)},
		)
		require.Equal(t, 4, n)

		es = claim(t, st, "d2", at.Add(time.Second), 10, invite.OutboxMessage)
		require.Equal(t, []string{msgs[3].ID}, entryIDs(es), "released: due at At")
		require.Equal(t, 1, es[0].Attempts, "a release does not count as an attempt")
		require.Equal(t, 1, settle(t, st, "d2", at, invite.Settlement{ID: msgs[3].ID, Attempt: 1, Outcome: invite.Delivered}))
		es = claim(t, st, "d2", at.Add(time.Hour), 10, invite.OutboxMessage)
		require.Equal(t, []string{msgs[1].ID}, entryIDs(es), "retried: due at At")
		require.Equal(t, 2, es[0].Attempts)
		require.Equal(t, "smtp: 451 try later", es[0].LastError)
		require.Equal(t, 1, settle(t, st, "d2", at, invite.Settlement{ID: msgs[1].ID, Attempt: 2, Outcome: invite.Delivered}))
		require.Empty(t, claim(t, st, "d2", at.Add(100*time.Hour), 10, invite.OutboxMessage), "delivered and dead entries are never due")

		dead, err := st.ListDeadOutbox(t.Context(), tenantA, "", 10)
		require.NoError(t, err)
		require.Equal(t, []string{msgs[2].ID}, entryIDs(dead))
		require.Equal(t, "smtp: 550 no such user", dead[0].LastError)
		requireTime(t, at, dead[0].DeadAt, "DeadAt")
		requireMessage(t, msgs[2], dead[0])
	})

	t.Run("StaleClaims", func(t *testing.T) {
		st := o.store(t)
		_, _, msg := queued(t, st, tenantA, base)
		es := claim(t, st, "d1", at, 10, invite.OutboxMessage)
		require.Len(t, es, 1)
		for _, s := range []struct {
			owner   string
			attempt int
		}{{"d2", 1}, {"d1", 2}, {"d1", 0}} {
			for _, out := range []invite.Outcome{invite.Delivered, invite.Retry, invite.Dead, invite.Release} {
				require.Zero(t, settle(t, st, s.owner, at, invite.Settlement{ID: msg.ID, Attempt: s.attempt, Outcome: out, At: at}),
					"owner %s attempt %d outcome %d", s.owner, s.attempt, out)
			}
		}
		require.Zero(t, settle(t, st, "d1", at, invite.Settlement{ID: newID(), Attempt: 1, Outcome: invite.Delivered}), "unknown id")
		// Still held by d1: settle for real, once.
		require.Equal(t, 1, settle(t, st, "d1", at, invite.Settlement{ID: msg.ID, Attempt: 1, Outcome: invite.Dead, Error: "x"}))
		require.Zero(t, settle(t, st, "d1", at, invite.Settlement{ID: msg.ID, Attempt: 1, Outcome: invite.Delivered}), "settled already")
		require.Equal(t, 1, stats(t, st).Dead)
	})
}

func (o *outboxSuite) testBatchDelivered(t *testing.T) {
	st := o.store(t)
	r, _, msg := queued(t, st, tenantA, base)
	_, _, other := queued(t, st, tenantA, base)
	es := claim(t, st, "d1", us(5), 10, invite.OutboxMessage)
	require.Len(t, es, 2)

	// The write that records the delivery settles the message, whoever
	// holds its claim; unknown ids are ignored.
	u := next(r)
	b := &invite.Batch{Writes: []invite.Write{upd(u, 1)}, Delivered: []string{msg.ID, newID()}}
	require.NoError(t, st.Apply(t.Context(), b))
	require.Zero(t, settle(t, st, "d1", us(6), invite.Settlement{ID: msg.ID, Attempt: 1, Outcome: invite.Retry, At: us(7)}))
	require.Equal(t, 1, settle(t, st, "d1", us(6), invite.Settlement{ID: other.ID, Attempt: 1, Outcome: invite.Retry, At: us(7)}))
	es = claim(t, st, "d2", us(7).Add(10*lease), 10, invite.OutboxMessage)
	require.Equal(t, []string{other.ID}, entryIDs(es))

	// A batch that fails settles nothing.
	b = &invite.Batch{Writes: []invite.Write{upd(next(r), 1)}, Delivered: []string{other.ID}}
	require.ErrorIs(t, st.Apply(t.Context(), b), invite.ErrConflict)
	require.Equal(t, 1, settle(t, st, "d2", us(8), invite.Settlement{ID: other.ID, Attempt: 2, Outcome: invite.Delivered}))

	// A dead entry named by a batch goes too (a re-drive would resend
	// what the write recorded as delivered).
	r3, _, dead := queued(t, st, tenantA, base)
	require.Equal(t, []string{dead.ID}, entryIDs(claim(t, st, "d3", us(9).Add(10*lease), 10, invite.OutboxMessage)))
	require.Equal(t, 1, settle(t, st, "d3", us(10).Add(10*lease), invite.Settlement{ID: dead.ID, Attempt: 1, Outcome: invite.Dead}))
	require.NoError(t, st.Apply(t.Context(), &invite.Batch{Writes: []invite.Write{upd(next(r3), 1)}, Delivered: []string{dead.ID}}))
	deads, err := st.ListDeadOutbox(t.Context(), tenantA, "", 10)
	require.NoError(t, err)
	require.Empty(t, deads)

	// The entries a batch settled are removed, not kept as delivered:
	// retention finds only the one settled through SettleOutbox.
	n, err := st.PurgeOutbox(t.Context(), base.Add(100*time.Hour*24*365), 100)
	require.NoError(t, err)
	require.Equal(t, 1, n, "delivered entries purged")
}
