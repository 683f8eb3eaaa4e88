package storetest

// The outbox suite, continued: the ids Apply refuses to queue, with
// invite.ErrAlreadyExists, writing nothing of the batch.

import (
	"testing"

	"github.com/invitekit/invite"
	"github.com/stretchr/testify/require"
)

// batchShapes are the batches a collision is tried in: one write (on
// PostgreSQL, one statement), and two writes (a transaction).
var batchShapes = []struct {
	name  string
	build func(f *refusalFixture) (*invite.Batch, *invite.Record)
}{
	{"OneWrite", func(f *refusalFixture) (*invite.Batch, *invite.Record) {
		r := newRecord(tenantA)
		b := batch(ins(r))
		b.Messages = append(b.Messages, message(r, base, base))
		b.Delivered = []string{f.m1.ID}
		return b, r
	}},
	{"TwoWrites", (*refusalFixture).refusedBatch},
}

func (o *outboxSuite) testCollisions(t *testing.T) {
	cases := []struct {
		name string
		// collide makes b queue an entry under an id taken.
		collide func(f *refusalFixture, b *invite.Batch)
	}{
		{"TwoEvents", func(_ *refusalFixture, b *invite.Batch) {
			again := b.Events[0]
			again.Type = invite.EventSent
			b.Events = append(b.Events, again)
		}},
		{"TwoMessages", func(_ *refusalFixture, b *invite.Batch) {
			again := b.Messages[0]
			again.ResendCount++
			b.Messages = append(b.Messages, again)
		}},
		{"EventAndMessage", func(_ *refusalFixture, b *invite.Batch) { b.Messages[0].ID = b.Events[0].ID }},
		{"PendingEvent", func(f *refusalFixture, b *invite.Batch) { b.Events[0].ID = f.ev1.ID }},
		{"ClaimedMessage", func(f *refusalFixture, b *invite.Batch) {
			b.Delivered = nil // the stored entry alone (RemovedByDelivered names it too)
			b.Messages[0].ID = f.m1.ID
		}},
		{"DeadMessage", func(f *refusalFixture, b *invite.Batch) { b.Events[0].ID = f.m2.ID }},
		{"RemovedByDelivered", func(f *refusalFixture, b *invite.Batch) {
			// r1's message, which the batch names as delivered: the id is
			// taken when the batch starts.
			b.Messages[0].ID = f.m1.ID
		}},
		{"NamedByDelivered", func(_ *refusalFixture, b *invite.Batch) {
			b.Delivered = append(b.Delivered, b.Events[0].ID) // unknown to the store: taken all the same
		}},
		// r4's message, never claimed.
		{"HeldMessageAsEvent", func(f *refusalFixture, b *invite.Batch) { b.Events[0].ID = f.m4.ID }},
		{"HeldMessageAsMessage", func(f *refusalFixture, b *invite.Batch) { b.Messages[0].ID = f.m4.ID }},
		{"HeldMessageForAnother", func(f *refusalFixture, b *invite.Batch) {
			again := message(f.r2, base, base)
			again.ID = f.m4.ID
			b.Messages = append(b.Messages, again)
		}},
		{"EventAsHeldMessage", func(f *refusalFixture, b *invite.Batch) { b.Messages[0].ID = f.ev1.ID }},
		{"DeliveredMessage", func(f *refusalFixture, b *invite.Batch) {
			b.Delivered = []string{f.m1.ID} // the stored entry alone, not named by the batch
			b.Messages[0].ID = f.m3.ID
		}},
	}
	for _, c := range cases {
		for _, shape := range batchShapes {
			t.Run(c.name+"/"+shape.name, func(t *testing.T) {
				f := o.refusalFixture(t)
				b, fresh := shape.build(f)
				c.collide(f, b)
				require.ErrorIs(t, f.st.Apply(t.Context(), b), invite.ErrAlreadyExists)
				f.requireUnchanged(t, fresh)
			})
		}
	}
}
