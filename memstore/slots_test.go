package memstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

func slotRecord(tenantID string, n int) *invite.Record {
	_, h := invite.MintToken(invite.DefaultTokenPrefix)
	at := time.Date(2027, 1, 2, 3, 4, 5, n*1000, time.UTC)
	return &invite.Record{
		Invitation: invite.Invitation{ID: fmt.Sprintf("id-%d", n), TenantID: tenantID,
			Invitee: invite.Invitee{Email: fmt.Sprintf("u%d@example.com", n)}, State: invite.StatePending,
			CreatedAt: at, UpdatedAt: at, IssuedAt: at, ExpiresAt: at.Add(time.Hour), Version: 1},
		Credentials: invite.Credentials{TokenHash: h},
	}
}

func applyOne(t *testing.T, s *Store, w invite.Write) error {
	t.Helper()
	return s.Apply(context.Background(), &invite.Batch{Writes: []invite.Write{w}})
}

// Deleted records give their slots back, and a reused slot never answers
// for the token of the record that had it before.
func TestSlotReuse(t *testing.T) {
	ctx := context.Background()
	s := New()
	sh := s.shardOf("t")
	prev := slotRecord("t", 0)
	require.NoError(t, applyOne(t, s, invite.Write{Record: prev}))
	require.Len(t, sh.slots, 1)
	for n := 1; n <= 100; n++ {
		require.NoError(t, applyOne(t, s, invite.Write{Record: prev, Expect: 1, Delete: true}))
		next := slotRecord("t", n)
		require.NoError(t, applyOne(t, s, invite.Write{Record: next}))
		require.Len(t, sh.slots, 1, "the deleted record's slot is reused")

		_, err := s.GetByTokenHash(ctx, prev.Credentials.TokenHash)
		require.ErrorIs(t, err, invite.ErrNotFound)
		_, err = s.Get(ctx, "t", prev.Invitation.ID)
		require.ErrorIs(t, err, invite.ErrNotFound)
		got, err := s.GetByTokenHash(ctx, next.Credentials.TokenHash)
		require.NoError(t, err)
		require.Equal(t, next.Invitation.ID, got.Invitation.ID)
		prev = next
	}
}

// A token index entry left pointing at a slot that now holds another
// record (as a reader racing a delete and a create may see it) is not
// trusted.
func TestStaleTokenRef(t *testing.T) {
	s := New()
	a := slotRecord("t", 1)
	require.NoError(t, applyOne(t, s, invite.Write{Record: a}))
	ts := s.tokenShard(a.Credentials.TokenHash)
	r, ok := s.getToken(ts, &a.Credentials.TokenHash)
	require.True(t, ok)
	require.NoError(t, applyOne(t, s, invite.Write{Record: a, Expect: 1, Delete: true}))
	b := slotRecord("t", 2)
	require.NoError(t, applyOne(t, s, invite.Write{Record: b}))
	s.setToken(ts, &a.Credentials.TokenHash, r) // as if read before the delete
	_, err := s.GetByTokenHash(context.Background(), a.Credentials.TokenHash)
	require.ErrorIs(t, err, invite.ErrNotFound)
}

// A batch that fails releases the slots it took.
func TestRollbackReleasesSlots(t *testing.T) {
	s := New()
	taken := slotRecord("t", 1)
	require.NoError(t, applyOne(t, s, invite.Write{Record: taken}))
	dup := slotRecord("t", 3)
	dup.Invitation.Invitee = taken.Invitation.Invitee // an open invitation exists: the batch fails
	err := s.Apply(context.Background(), &invite.Batch{Writes: []invite.Write{{Record: slotRecord("t", 2)}, {Record: dup}}})
	require.ErrorIs(t, err, invite.ErrAlreadyExists)
	sh := s.shardOf("t")
	require.Len(t, sh.slots, 3)
	require.Len(t, sh.free, 2)
	require.NoError(t, applyOne(t, s, invite.Write{Record: slotRecord("t", 4)}))
	require.NoError(t, applyOne(t, s, invite.Write{Record: slotRecord("t", 5)}))
	require.Len(t, sh.slots, 3, "the released slots are reused")
}

// Readers racing deletes and creates that reuse slots never get a record
// for a token that is not its own.
func TestSlotReuseRace(t *testing.T) {
	ctx := context.Background()
	s := New()
	const writers, readers, rounds = 4, 4, 300
	type pair struct {
		h  invite.TokenHash
		id string
	}
	var mu sync.Mutex
	var seen []pair
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				r := slotRecord("t", w*rounds+i)
				if err := s.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: r}}}); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen = append(seen, pair{r.Credentials.TokenHash, r.Invitation.ID})
				mu.Unlock()
				if err := s.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: r, Expect: 1, Delete: true}}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	var rg sync.WaitGroup
	for range readers {
		rg.Add(1)
		go func() {
			defer rg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				if len(seen) == 0 {
					mu.Unlock()
					continue
				}
				p := seen[n%len(seen)]
				mu.Unlock()
				got, err := s.GetByTokenHash(ctx, p.h)
				if err == nil && got.Invitation.ID != p.id {
					t.Errorf("token of %s answered with %s", p.id, got.Invitation.ID)
					return
				}
				if err != nil && !errors.Is(err, invite.ErrNotFound) {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	rg.Wait()
	sh := s.shardOf("t")
	require.LessOrEqual(t, len(sh.slots), writers, "slots are reused")
}

// A record that does not fit the header's 16-bit fields is refused with a
// typed error naming the field, and nothing of its batch is stored.
func TestHeaderLimits(t *testing.T) {
	ctx := context.Background()
	long := string(make([]byte, maxField+1))
	for name, tc := range map[string]struct {
		field string
		edit  func(r *invite.Record)
	}{
		"email":           {"Invitee.Email", func(r *invite.Record) { r.Invitation.Invitee.Email = long }},
		"idempotency key": {"IdempotencyKey", func(r *invite.Record) { r.Invitation.IdempotencyKey = long }},
		"lists": {"Roles and Groups", func(r *invite.Record) {
			r.Invitation.Roles, r.Invitation.Groups = make([]string, maxField/2+1), make([]string, maxField/2+1)
		}},
		"previous tokens": {"PreviousTokens", func(r *invite.Record) {
			r.Credentials.PreviousTokens = make([]invite.PreviousToken, maxField)
		}},
	} {
		t.Run(name, func(t *testing.T) {
			s := New()
			ok, bad := slotRecord("t", 1), slotRecord("t", 2)
			tc.edit(bad)
			err := s.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: ok}, {Record: bad}}})
			require.ErrorIs(t, err, invite.ErrInvalid)
			require.ErrorContains(t, err, tc.field)
			_, err = s.Get(ctx, "t", ok.Invitation.ID)
			require.ErrorIs(t, err, invite.ErrNotFound, "the batch's other write is rolled back")
		})
	}
	// At the limit, it fits.
	s := New()
	r := slotRecord("t", 3)
	r.Invitation.IdempotencyKey = long[:maxField]
	r.Invitation.Roles = make([]string, maxField)
	require.NoError(t, applyOne(t, s, invite.Write{Record: r}))
	got, err := s.Get(ctx, "t", r.Invitation.ID)
	require.NoError(t, err)
	require.Equal(t, r.Invitation.IdempotencyKey, got.Invitation.IdempotencyKey)
	require.Len(t, got.Invitation.Roles, maxField)
}

// sameShard returns n tenant ids that s puts in one shard.
func sameShard(t *testing.T, s *Store, n int) []string {
	t.Helper()
	byShard := map[int][]string{}
	for i := 0; ; i++ {
		id := fmt.Sprintf("tenant-%d", i)
		si := s.shardIndex(id)
		if byShard[si] = append(byShard[si], id); len(byShard[si]) == n {
			return byShard[si]
		}
	}
}

// requireNumbered checks that every live slot of sh names its own tenant
// by number.
func requireNumbered(t *testing.T, sh *shard) {
	t.Helper()
	for e := range sh.slots {
		sl := &sh.slots[e]
		if sl.cur == nil {
			continue
		}
		h := sl.cur.header()
		_, tenantID := sl.cur.names(&h)
		tn := sh.tenants[tenantID]
		require.NotNil(t, tn, "slot %d: its tenant is gone", e)
		require.Same(t, tn, sh.numbered[sl.tn], "slot %d: tenant number", e)
	}
	for _, n := range sh.freeNums {
		require.Nil(t, sh.numbered[n], "free tenant number %d in use", n)
	}
}

// An update finds its record through the token index (viaToken) only when
// the slot there holds the same id in the same tenant: a write carrying
// another record's token hash, of the same tenant or of another tenant of
// the shard with the same id, never lands on that record.
func TestUpdateViaToken(t *testing.T) {
	ctx := context.Background()
	s := New()
	ts := sameShard(t, s, 3)
	a, b, empty := ts[0], ts[1], ts[2]
	sh := s.shardOf(a)
	ra, rb, ra2 := slotRecord(a, 1), slotRecord(b, 1), slotRecord(a, 2) // ra and rb share the id "id-1"
	for _, r := range []*invite.Record{ra, rb, ra2} {
		require.NoError(t, applyOne(t, s, invite.Write{Record: r}))
	}
	next := func(r *invite.Record, token invite.TokenHash) *invite.Record {
		n := r.Clone()
		n.Invitation.Version, n.Invitation.Reason, n.Credentials.TokenHash = 2, "changed", token
		return n
	}
	requireUnchanged := func() {
		t.Helper()
		for _, r := range []*invite.Record{ra, rb, ra2} {
			got, err := s.Get(ctx, r.Invitation.TenantID, r.Invitation.ID)
			require.NoError(t, err)
			require.Equal(t, int64(1), got.Invitation.Version, "%s/%s", r.Invitation.TenantID, r.Invitation.ID)
			got, err = s.GetByTokenHash(ctx, r.Credentials.TokenHash)
			require.NoError(t, err)
			require.Equal(t, r.Invitation.TenantID, got.Invitation.TenantID)
			require.Equal(t, r.Invitation.ID, got.Invitation.ID)
		}
	}

	err := applyOne(t, s, invite.Write{Record: next(rb, ra.Credentials.TokenHash), Expect: 1})
	require.ErrorIs(t, err, invite.ErrAlreadyExists, "b's id-1 with a's token: a's token is a's")
	// Closed, so that no open invitee key of id-2's collides on the way.
	revoked := next(ra2, ra.Credentials.TokenHash)
	revoked.Invitation.State, revoked.Invitation.ClosedAt = invite.StateRevoked, revoked.Invitation.CreatedAt
	err = applyOne(t, s, invite.Write{Record: revoked, Expect: 1})
	require.ErrorIs(t, err, invite.ErrAlreadyExists, "a's id-2 with id-1's token")
	ghost := next(ra, ra.Credentials.TokenHash)
	ghost.Invitation.TenantID = empty
	require.ErrorIs(t, applyOne(t, s, invite.Write{Record: ghost, Expect: 1}), invite.ErrNotFound,
		"a tenant without records, with a's token")
	requireUnchanged()

	for _, r := range []*invite.Record{ra, rb, ra2} {
		require.NoError(t, applyOne(t, s, invite.Write{Record: next(r, r.Credentials.TokenHash), Expect: 1}))
		got, err := s.GetByTokenHash(ctx, r.Credentials.TokenHash)
		require.NoError(t, err)
		require.Equal(t, int64(2), got.Invitation.Version)
		require.Equal(t, "changed", got.Invitation.Reason)
	}
	requireNumbered(t, sh)
}

// Purge drops a tenant left without records and frees its number; a new
// tenant of the shard reuses it, and updates through the token index find
// the new tenant's records.
func TestTenantNumbers(t *testing.T) {
	ctx := context.Background()
	s := New()
	ts := sameShard(t, s, 4)
	sh := s.shardOf(ts[0])
	closed := func(tenantID string, n int) *invite.Record {
		r := slotRecord(tenantID, n)
		r.Invitation.State, r.Invitation.ClosedAt = invite.StateRevoked, r.Invitation.CreatedAt
		return r
	}
	require.NoError(t, applyOne(t, s, invite.Write{Record: closed(ts[0], 1)}))
	require.NoError(t, applyOne(t, s, invite.Write{Record: slotRecord(ts[1], 1)}))
	require.NoError(t, applyOne(t, s, invite.Write{Record: closed(ts[2], 1)}))
	require.Len(t, sh.numbered, 3)
	n, err := s.Purge(ctx, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), 100)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Len(t, sh.tenants, 1)
	require.Len(t, sh.freeNums, 2)
	requireNumbered(t, sh)

	r := slotRecord(ts[3], 1)
	require.NoError(t, applyOne(t, s, invite.Write{Record: r}))
	require.Len(t, sh.numbered, 3, "a freed number is reused")
	require.Len(t, sh.freeNums, 1)
	u := r.Clone()
	u.Invitation.Version = 2
	require.NoError(t, applyOne(t, s, invite.Write{Record: u, Expect: 1}))
	got, err := s.Get(ctx, ts[3], r.Invitation.ID)
	require.NoError(t, err)
	require.Equal(t, int64(2), got.Invitation.Version)
	requireNumbered(t, sh)
}

// requireOrder checks tenant tn's order: every slot of the tenant once,
// sorted by (created, id), each entry with its slot's creation time.
func requireOrder(t *testing.T, s *Store, tn string) {
	t.Helper()
	sh := s.shardOf(tn)
	ten := sh.tenants[tn]
	require.NotNil(t, ten)
	require.Len(t, ten.order, ten.byID.len())
	for i, o := range ten.order {
		sl := &sh.slots[o.e]
		require.NotNil(t, sl.cur, "entry %d names a free slot", i)
		require.Equal(t, [2]int64{sl.sec, int64(sl.nsec)}, [2]int64{o.sec, int64(o.nsec)}, "entry %d", i)
		if i > 0 {
			require.True(t, sh.slots[ten.order[i-1].e].less(sl), "entry %d is not after entry %d", i, i-1)
		}
	}
}

// The order keeps each entry's creation time, and a batch that fails puts
// back the entries it removed or moved, times included.
func TestOrderEntries(t *testing.T) {
	ctx := context.Background()
	s := New()
	recs := map[int]*invite.Record{}
	for _, n := range []int{5, 1, 3, 2, 4, 9} {
		recs[n] = slotRecord("t", n)
		if n == 9 { // the same time as record 3: the ids break the tie
			recs[n].Invitation.CreatedAt = recs[3].Invitation.CreatedAt
		}
		require.NoError(t, applyOne(t, s, invite.Write{Record: recs[n]}))
		requireOrder(t, s, "t")
	}
	stale := recs[5].Clone()
	stale.Invitation.Version = 2 // Expect 7 below: the batch fails on it

	moved := recs[2].Clone()
	moved.Invitation.CreatedAt = moved.Invitation.CreatedAt.Add(time.Hour)
	moved.Invitation.Version = 2
	for _, first := range []invite.Write{
		{Record: recs[3], Expect: 1, Delete: true},
		{Record: moved, Expect: 1},
	} {
		err := s.Apply(ctx, &invite.Batch{Writes: []invite.Write{first, {Record: stale, Expect: 7}}})
		require.ErrorIs(t, err, invite.ErrConflict)
		requireOrder(t, s, "t")
	}
	// The restored entries are found again: deleting and moving them works.
	require.NoError(t, applyOne(t, s, invite.Write{Record: recs[3], Expect: 1, Delete: true}))
	requireOrder(t, s, "t")
	require.NoError(t, applyOne(t, s, invite.Write{Record: moved, Expect: 1}))
	requireOrder(t, s, "t")
	page, _, err := s.List(ctx, "t", invite.Query{Limit: 10})
	require.NoError(t, err)
	var ids []string
	for _, inv := range page {
		ids = append(ids, inv.ID)
	}
	require.Equal(t, []string{"id-1", "id-9", "id-4", "id-5", "id-2"}, ids)
}
