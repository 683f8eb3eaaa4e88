package memstore_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/memstore"
	"github.com/invitekit/invite/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) invite.Store { return memstore.New() })
}

var base = time.Date(2027, time.March, 4, 5, 6, 7, 123456000, time.UTC)

// newRecord returns a pending record of tenantID with a fresh id, token
// hash and email.
func newRecord(tenantID string) *invite.Record {
	id := uuid.Must(uuid.NewV7()).String()
	_, h, err := invite.MintToken(invite.DefaultTokenPrefix)
	if err != nil {
		panic(err) // the default prefix is valid
	}
	return &invite.Record{
		Invitation: invite.Invitation{
			ID: id, TenantID: tenantID, Invitee: invite.Invitee{Email: "e-" + id + "@example.com"},
			State: invite.StatePending, CreatedAt: base, UpdatedAt: base, IssuedAt: base,
			ExpiresAt: base.Add(7 * 24 * time.Hour), Version: 1,
		},
		Credentials: invite.Credentials{TokenHash: h},
	}
}

func apply(t *testing.T, st *memstore.Store, ws ...invite.Write) error {
	t.Helper()
	return st.Apply(t.Context(), &invite.Batch{Writes: ws})
}

// Two inserts of one batch that share a key: the second fails, and the
// first leaves no trace. (storetest collides batches with stored records.)
func TestClashWithinBatch(t *testing.T) {
	for name, share := range map[string]func(a, b *invite.Record){
		"TokenHash": func(a, b *invite.Record) { b.Credentials.TokenHash = a.Credentials.TokenHash },
		"PreviousHash": func(a, b *invite.Record) {
			b.Credentials.PreviousTokens = []invite.PreviousToken{{Hash: a.Credentials.TokenHash}}
		},
		"IdempotencyKey": func(a, b *invite.Record) { a.Invitation.IdempotencyKey, b.Invitation.IdempotencyKey = "k", "k" },
		"InviteeKey":     func(a, b *invite.Record) { b.Invitation.Invitee = a.Invitation.Invitee },
		"ID":             func(a, b *invite.Record) { b.Invitation.ID = a.Invitation.ID },
	} {
		t.Run(name, func(t *testing.T) {
			st := memstore.New()
			a, b := newRecord("t"), newRecord("t")
			share(a, b)
			require.ErrorIs(t, apply(t, st, invite.Write{Record: a}, invite.Write{Record: b}), invite.ErrAlreadyExists)
			_, err := st.Get(t.Context(), "t", a.Invitation.ID)
			require.ErrorIs(t, err, invite.ErrNotFound)
			_, err = st.GetByTokenHash(t.Context(), a.Credentials.TokenHash)
			require.ErrorIs(t, err, invite.ErrNotFound)
		})
	}
}

// A batch may update and then delete a record it inserted.
func TestWritesOnInsertedRecord(t *testing.T) {
	st := memstore.New()
	a := newRecord("t")
	a2 := a.Clone()
	a2.Invitation.Version, a2.Invitation.Reason = 2, "second"
	require.NoError(t, apply(t, st, invite.Write{Record: a}, invite.Write{Record: a2, Expect: 1}))
	got, err := st.Get(t.Context(), "t", a.Invitation.ID)
	require.NoError(t, err)
	require.Equal(t, "second", got.Invitation.Reason)

	b := newRecord("t")
	b3 := b.Clone()
	b3.Invitation.Version = 3
	require.ErrorIs(t, apply(t, st, invite.Write{Record: b}, invite.Write{Record: b3, Expect: 2}), invite.ErrConflict)
	require.NoError(t, apply(t, st, invite.Write{Record: b}, invite.Write{Record: b, Expect: 1, Delete: true}))
	_, err = st.Get(t.Context(), "t", b.Invitation.ID)
	require.ErrorIs(t, err, invite.ErrNotFound)
}

func TestTimesComeBackInUTC(t *testing.T) {
	st := memstore.New()
	r := newRecord("t")
	zone := time.FixedZone("X", 5*3600)
	r.Invitation.CreatedAt = r.Invitation.CreatedAt.In(zone)
	r.Credentials.PreviousTokens = []invite.PreviousToken{{Hash: [32]byte{1}, ExpiresAt: base.In(zone)}}
	require.NoError(t, apply(t, st, invite.Write{Record: r}))
	got, err := st.Get(t.Context(), "t", r.Invitation.ID)
	require.NoError(t, err)
	require.Equal(t, time.UTC, got.Invitation.CreatedAt.Location())
	require.True(t, got.Invitation.CreatedAt.Equal(base))
	require.Equal(t, time.UTC, got.Credentials.PreviousTokens[0].ExpiresAt.Location())
}

// The zero hash is no token: records without one do not collide, and it
// finds nothing.
func TestZeroTokenHash(t *testing.T) {
	st := memstore.New()
	a, b := newRecord("t"), newRecord("t")
	a.Credentials.TokenHash, b.Credentials.TokenHash = invite.TokenHash{}, invite.TokenHash{}
	require.NoError(t, apply(t, st, invite.Write{Record: a}, invite.Write{Record: b}))
	_, err := st.GetByTokenHash(t.Context(), invite.TokenHash{})
	require.ErrorIs(t, err, invite.ErrNotFound)
}

// Writes no store applies are refused as sqlstore refuses them, before
// anything changes.
func TestMalformedWrites(t *testing.T) {
	st := memstore.New()
	edit := func(f func(w *invite.Write)) invite.Write {
		w := invite.Write{Record: newRecord("t")}
		f(&w)
		return w
	}
	for field, w := range map[string]invite.Write{
		"Writes[1].Record":                    {},
		"Writes[1].Record.Invitation":         edit(func(w *invite.Write) { w.Record.Invitation.ID = "" }),
		"Writes[1].Expect":                    edit(func(w *invite.Write) { w.Expect = -1 }),
		"Writes[1].Delete":                    edit(func(w *invite.Write) { w.Delete = true }),
		"Writes[1].Record.Invitation.State":   edit(func(w *invite.Write) { w.Record.Invitation.State = "open" }),
		"Writes[1].Record.Invitation.Version": edit(func(w *invite.Write) { w.Expect = 1 }),
	} {
		first := newRecord("t")
		err := apply(t, st, invite.Write{Record: first}, w)
		var ve *invite.ValidationError
		require.ErrorAs(t, err, &ve, field)
		require.True(t, ve.Has(field), "%s: %v", field, err)
		_, err = st.Get(t.Context(), "t", first.Invitation.ID)
		require.ErrorIs(t, err, invite.ErrNotFound)
	}
}

func TestOutboxConformance(t *testing.T) {
	storetest.RunOutbox(t, func(t *testing.T) invite.Store { return memstore.New() })
}
