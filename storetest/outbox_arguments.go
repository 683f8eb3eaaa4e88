package storetest

// The outbox suite, continued: the arguments every Outbox method refuses,
// by invite.Outbox's rules, as an *invite.ValidationError naming each bad
// field, before it changes anything.

import (
	"context"
	"testing"
	"time"

	"github.com/invitekit/invite"
	"github.com/stretchr/testify/require"
)

func (o *outboxSuite) testArguments(t *testing.T) {
	t.Run("ClaimOutbox", o.testClaimArguments)
	t.Run("SettleOutbox", o.testSettleArguments)
	t.Run("ListDeadOutbox", o.testListDeadArguments)
	t.Run("RedriveOutbox", o.testRedriveArguments)
	t.Run("PurgeOutbox", func(t *testing.T) {
		o.runRefused(t, []refusedCall{{"Limit0", func(ctx context.Context, f *refusalFixture) error {
			_, err := f.st.PurgeOutbox(ctx, far, 0)
			return err
		}, []string{"limit"}}})
	})
	t.Run("Apply", o.testApplyArguments)
	t.Run("Limits", o.testIdentifierLimits)
}

func (o *outboxSuite) testClaimArguments(t *testing.T) {
	claimWith := func(owner string, kinds []invite.OutboxKind, ls time.Duration, limit int) func(context.Context, *refusalFixture) error {
		return func(ctx context.Context, f *refusalFixture) error {
			_, err := f.st.ClaimOutbox(ctx, owner, kinds, far, ls, limit)
			return err
		}
	}
	calls := []refusedCall{
		{"UnknownKind", claimWith("d2", []invite.OutboxKind{invite.OutboxEvent, "sms"}, lease, 10), []string{"kinds[1]"}},
		{"Limit0", claimWith("d2", nil, lease, 0), []string{"limit"}},
		{"Lease0", claimWith("d2", nil, 0, 10), []string{"lease"}},
		{"Everything", claimWith("", []invite.OutboxKind{"sms"}, -lease, -1), []string{"owner", "kinds[0]", "lease", "limit"}},
	}
	for _, bad := range badIdentifiers(maxKeyBytes) {
		calls = append(calls, refusedCall{"Owner" + bad.name, claimWith(bad.v, nil, lease, 10), []string{"owner"}})
	}
	o.runRefused(t, calls)
}

func (o *outboxSuite) testSettleArguments(t *testing.T) {
	// Each call settles r1's claimed message too: a refused call settles
	// nothing, requireUnchanged checks.
	settleWith := func(owner string, second invite.Settlement) func(context.Context, *refusalFixture) error {
		return func(ctx context.Context, f *refusalFixture) error {
			_, err := f.st.SettleOutbox(ctx, owner, us(3), []invite.Settlement{f.claimedM1(), second})
			return err
		}
	}
	other := invite.Settlement{ID: newID(), Attempt: 1, Outcome: invite.Retry, At: us(5)}
	calls := []refusedCall{
		{"NoOutcome", settleWith("d1", invite.Settlement{ID: newID(), Attempt: 1}), []string{"settlements[1].Outcome"}},
		{"UnknownOutcome", settleWith("d1", invite.Settlement{ID: newID(), Attempt: 1, Outcome: invite.Release + 1}), []string{"settlements[1].Outcome"}},
		{"SameIDTwice", func(ctx context.Context, f *refusalFixture) error {
			again := f.claimedM1()
			again.Outcome, again.At = invite.Retry, us(5)
			_, err := f.st.SettleOutbox(ctx, "d1", us(3), []invite.Settlement{f.claimedM1(), again})
			return err
		}, []string{"settlements[1].ID"}},
		{"Everything", settleWith("", invite.Settlement{Attempt: 1}), []string{"owner", "settlements[1].ID", "settlements[1].Outcome"}},
	}
	for _, bad := range badIdentifiers(maxKeyBytes) {
		calls = append(calls, refusedCall{"Owner" + bad.name, settleWith(bad.v, other), []string{"owner"}})
	}
	for _, bad := range badIdentifiers(maxOutboxID) {
		s := other
		s.ID = bad.v
		calls = append(calls, refusedCall{"ID" + bad.name, settleWith("d1", s), []string{"settlements[1].ID"}})
	}
	o.runRefused(t, calls)
}

func (o *outboxSuite) testListDeadArguments(t *testing.T) {
	list := func(tenantID, after string, limit int) func(context.Context, *refusalFixture) error {
		return func(ctx context.Context, f *refusalFixture) error {
			_, err := f.st.ListDeadOutbox(ctx, tenantID, after, limit)
			return err
		}
	}
	calls := []refusedCall{
		{"Limit0", list(tenantA, "", 0), []string{"limit"}},
		{"Everything", list("", "\x00", 0), []string{"tenantID", "after", "limit"}},
	}
	for _, bad := range badIdentifiers(maxKeyBytes) {
		calls = append(calls, refusedCall{"TenantID" + bad.name, list(bad.v, "", 10), []string{"tenantID"}})
	}
	for _, bad := range badIdentifiers(maxOutboxID) {
		if bad.v != "" { // "" lists from the start
			calls = append(calls, refusedCall{"After" + bad.name, list(tenantA, bad.v, 10), []string{"after"}})
		}
	}
	o.runRefused(t, calls)
}

func (o *outboxSuite) testRedriveArguments(t *testing.T) {
	// Each call re-drives r2's dead message too: a refused call re-drives
	// nothing, requireUnchanged checks.
	redrive := func(tenantID, id string) func(context.Context, *refusalFixture) error {
		return func(ctx context.Context, f *refusalFixture) error {
			_, err := f.st.RedriveOutbox(ctx, tenantID, []string{f.m2.ID, id}, us(3))
			return err
		}
	}
	calls := []refusedCall{{"Everything", redrive("", ""), []string{"tenantID", "ids[1]"}}}
	for _, bad := range badIdentifiers(maxKeyBytes) {
		calls = append(calls, refusedCall{"TenantID" + bad.name, redrive(bad.v, newID()), []string{"tenantID"}})
	}
	for _, bad := range badIdentifiers(maxOutboxID) {
		calls = append(calls, refusedCall{"ID" + bad.name, redrive(tenantA, bad.v), []string{"ids[1]"}})
	}
	o.runRefused(t, calls)
}

// testApplyArguments checks that Apply refuses a batch with a bad event,
// message or delivered id, and writes nothing of it: neither its entries
// nor its invitation writes, and it removes none of its Delivered.
func (o *outboxSuite) testApplyArguments(t *testing.T) {
	type edit struct {
		name, field string
		max         int
		set         func(b *invite.Batch, v string)
	}
	edits := []edit{
		{"EventID", "Events[1].ID", maxOutboxID, func(b *invite.Batch, v string) { b.Events[1].ID = v }},
		{"EventTenantID", "Events[1].TenantID", maxKeyBytes, func(b *invite.Batch, v string) { b.Events[1].TenantID = v }},
		{"EventInvitationID", "Events[1].InvitationID", maxKeyBytes, func(b *invite.Batch, v string) { b.Events[1].InvitationID = v }},
		{"MessageID", "Messages[0].ID", maxOutboxID, func(b *invite.Batch, v string) { b.Messages[0].ID = v }},
		{"MessageTenantID", "Messages[0].TenantID", maxKeyBytes, func(b *invite.Batch, v string) { b.Messages[0].TenantID = v }},
		{"MessageInvitationID", "Messages[0].InvitationID", maxKeyBytes, func(b *invite.Batch, v string) { b.Messages[0].InvitationID = v }},
		{"Delivered", "Delivered[2]", maxOutboxID, func(b *invite.Batch, v string) { b.Delivered = append(b.Delivered, v) }},
	}
	type refusedBatch struct {
		name   string
		edit   func(b *invite.Batch)
		fields []string
	}
	var cases []refusedBatch
	for _, e := range edits {
		for _, bad := range badIdentifiers(e.max) {
			cases = append(cases, refusedBatch{e.name + bad.name, func(b *invite.Batch) { e.set(b, bad.v) }, []string{e.field}})
		}
	}
	cases = append(cases,
		refusedBatch{"NegativeResendCount", func(b *invite.Batch) { b.Messages[0].ResendCount = -1 }, []string{"Messages[0].ResendCount"}},
		refusedBatch{"Everything", func(b *invite.Batch) {
			b.Events[0].ID, b.Messages[0].TenantID, b.Messages[0].ResendCount = "\x00", "", -1
			b.Delivered = append(b.Delivered, "x\xff")
		}, []string{"Events[0].ID", "Messages[0].TenantID", "Messages[0].ResendCount", "Delivered[2]"}},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := o.refusalFixture(t)
			b, fresh := f.refusedBatch()
			c.edit(b)
			requireInvalid(t, f.st.Apply(t.Context(), b), c.fields...)
			f.requireUnchanged(t, fresh)
		})
	}
}

// testIdentifierLimits checks that identifiers as long as allowed, in
// bytes, are taken and come back whole.
func (o *outboxSuite) testIdentifierLimits(t *testing.T) {
	st := o.store(t)
	ctx := t.Context()
	owner, tenant, invitation := longest(maxKeyBytes, "o"), longest(maxKeyBytes, "t"), longest(maxKeyBytes, "i")
	evID, msgID := longest(maxOutboxID, "1"), longest(maxOutboxID, "2")
	r := newRecord(tenantA)
	b := batch(ins(r))
	b.Events[0].ID = evID
	b.Messages = []invite.QueuedMessage{{ID: msgID, TenantID: tenant, InvitationID: invitation, CreatedAt: base, AvailableAt: base}}
	b.Delivered = []string{longest(maxOutboxID, "3")}
	require.NoError(t, st.Apply(ctx, b))

	es := claim(t, st, owner, us(1), 10)
	require.ElementsMatch(t, []string{evID, msgID}, entryIDs(es))
	for _, e := range es {
		require.Equal(t, owner, e.Owner)
		if e.Kind == invite.OutboxMessage {
			require.Equal(t, tenant, e.TenantID)
			require.Equal(t, invitation, e.InvitationID)
			require.Equal(t, msgID, e.Message.ID)
		} else {
			require.Equal(t, evID, e.Event.ID)
		}
	}
	require.Equal(t, 2, settle(t, st, owner, us(2),
		invite.Settlement{ID: evID, Attempt: 1, Outcome: invite.Dead},
		invite.Settlement{ID: msgID, Attempt: 1, Outcome: invite.Dead}))
	dead, err := st.ListDeadOutbox(ctx, tenant, "", 10)
	require.NoError(t, err)
	require.Equal(t, []string{msgID}, entryIDs(dead))
	dead, err = st.ListDeadOutbox(ctx, tenantA, longest(maxOutboxID, "0"), 10)
	require.NoError(t, err)
	require.Equal(t, []string{evID}, entryIDs(dead), "after a longest id")
	n, err := st.RedriveOutbox(ctx, tenant, []string{msgID, longest(maxOutboxID, "4")}, us(3))
	require.NoError(t, err)
	require.Equal(t, 1, n)
}
