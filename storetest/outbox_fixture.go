package storetest

// The outbox suite's fixture for refused calls: a store holding entries in
// every state, and the check that a refused call left all of them, and the
// invitations, as they were.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/invitekit/invite"
	"github.com/stretchr/testify/require"
)

// The longest identifiers of invite.Outbox, in bytes: an entry id, and a
// tenant id, an invitation id or an owner.
const (
	maxOutboxID = 255
	maxKeyBytes = 1024
)

// badValue is a value an identifier must not be, and the case's name.
type badValue struct{ name, v string }

// badIdentifiers are the values an identifier of at most max bytes must
// not be: empty; one byte too long, in two-byte characters (fewer
// characters than max: the limit counts bytes); with a C0 control
// character, a NUL, a C1 control character (U+0085); and not UTF-8.
func badIdentifiers(max int) []badValue {
	return []badValue{
		{"Empty", ""},
		{"TooLong", strings.Repeat("é", max/2) + "xx"[:max%2+1]},
		{"Control", "id\x01"},
		{"NUL", "id\x00x"},
		{"C1Control", "id\u0085"},
		{"InvalidUTF8", "id\xff"},
	}
}

// longest returns an identifier of exactly max bytes, of two-byte
// characters (and an x when max is odd), ending with suffix's bytes.
func longest(max int, suffix string) string {
	n := max - len(suffix)
	return strings.Repeat("é", n/2) + "x"[:n%2] + suffix
}

// refusalFixture is a store holding four invitations of tenantA and their
// entries: the four created events (due), the message of r1 claimed by
// "d1" (attempt 1), r2's dead, r3's delivered (not purged yet) and r4's
// never claimed (due later).
type refusalFixture struct {
	st             outboxStore
	r1, r2, r3, r4 *invite.Record
	ev1            invite.Event
	m1, m2, m3, m4 invite.QueuedMessage
}

// claimedM1 is a settlement of r1's claimed message that applies.
func (f *refusalFixture) claimedM1() invite.Settlement {
	return invite.Settlement{ID: f.m1.ID, Attempt: 1, Outcome: invite.Delivered}
}

func (o *outboxSuite) refusalFixture(t *testing.T) *refusalFixture {
	t.Helper()
	f := &refusalFixture{st: o.store(t)}
	f.r1, f.ev1, f.m1 = queued(t, f.st, tenantA, base)
	f.r2, _, f.m2 = queued(t, f.st, tenantA, base)
	f.r3, _, f.m3 = queued(t, f.st, tenantA, base)
	f.r4, _, f.m4 = queued(t, f.st, tenantA, later)
	require.Len(t, claim(t, f.st, "d1", us(1), 10, invite.OutboxMessage), 3)
	require.Equal(t, 2, settle(t, f.st, "d1", us(2),
		invite.Settlement{ID: f.m2.ID, Attempt: 1, Outcome: invite.Dead, Error: "gave up"},
		invite.Settlement{ID: f.m3.ID, Attempt: 1, Outcome: invite.Delivered}))
	return f
}

// refusedBatch returns a batch that would change every invitation and
// entry of f: it inserts a record (returned), updates r1, and settles r1's
// and r3's messages as delivered, with the events of its writes and a
// message for the new record.
func (f *refusalFixture) refusedBatch() (*invite.Batch, *invite.Record) {
	r := newRecord(tenantA)
	b := batch(ins(r), upd(next(f.r1), 1))
	b.Messages = append(b.Messages, message(r, base, base))
	b.Delivered = []string{f.m1.ID, f.m3.ID}
	return b, r
}

// requireUnchanged checks that f's store holds what refusalFixture left
// there, and nothing of the refused batch that inserted fresh (nil when
// the refused call was not an Apply). It changes the store.
func (f *refusalFixture) requireUnchanged(t *testing.T, fresh *invite.Record) {
	t.Helper()
	ctx := t.Context()
	if fresh != nil {
		_, err := f.st.Get(ctx, fresh.Invitation.TenantID, fresh.Invitation.ID)
		require.ErrorIs(t, err, invite.ErrNotFound, "the refused batch's insert is not there")
	}
	for _, r := range []*invite.Record{f.r1, f.r2, f.r3, f.r4} {
		require.Equal(t, int64(1), mustGet(t, f.st, tenantA, r.Invitation.ID).Invitation.Version, "invitations unchanged")
	}
	s := stats(t, f.st)
	require.Equal(t, 6, s.Pending, "the four events, the claimed message and r4's, and nothing queued")
	require.Equal(t, 1, s.Dead)
	dead, err := f.st.ListDeadOutbox(ctx, tenantA, "", 10)
	require.NoError(t, err)
	require.Equal(t, []string{f.m2.ID}, entryIDs(dead), "the dead message stays dead")
	es := claim(t, f.st, "d2", us(3), 10)
	require.Len(t, es, 4, "the events, due and unclaimed")
	for _, e := range es {
		require.Equal(t, invite.OutboxEvent, e.Kind)
		require.Equal(t, 1, e.Attempts, "never claimed before")
	}
	require.Equal(t, 1, settle(t, f.st, "d1", us(3), f.claimedM1()), "d1 still holds r1's message")
	n, err := f.st.PurgeOutbox(ctx, us(4), 10)
	require.NoError(t, err)
	require.Equal(t, 2, n, "r3's delivered message was kept until purged, and r1's now")
	es = claim(t, f.st, "d3", later, 10, invite.OutboxMessage)
	require.Equal(t, []string{f.m4.ID}, entryIDs(es), "r4's message, queued as it was")
	require.Equal(t, 1, es[0].Attempts)
}

// requireInvalid checks that err is an *invite.ValidationError matching
// invite.ErrInvalid that names exactly fields.
func requireInvalid(t *testing.T, err error, fields ...string) {
	t.Helper()
	require.ErrorIs(t, err, invite.ErrInvalid)
	var ve *invite.ValidationError
	require.True(t, errors.As(err, &ve), "want an *invite.ValidationError, got %T: %v", err, err)
	got := make([]string, len(ve.Fields))
	for i, f := range ve.Fields {
		got[i] = f.Field
		require.NotEmpty(t, f.Reason, "the reason of %s", f.Field)
	}
	require.ElementsMatch(t, fields, got, "the invalid fields of %v", err)
}

// refusedCall is a call that must be refused, naming fields.
type refusedCall struct {
	name   string
	call   func(ctx context.Context, f *refusalFixture) error
	fields []string
}

// runRefused runs each call as a subtest on a fresh fixture, and checks
// that it is refused and changed nothing.
func (o *outboxSuite) runRefused(t *testing.T, calls []refusedCall) {
	t.Helper()
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			f := o.refusalFixture(t)
			requireInvalid(t, c.call(t.Context(), f), c.fields...)
			f.requireUnchanged(t, nil)
		})
	}
}

// far is a time at which every entry of a fixture is due.
var far = base.Add(1000 * time.Hour)
