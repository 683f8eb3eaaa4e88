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
	r := ts.m[a.Credentials.TokenHash]
	require.NoError(t, applyOne(t, s, invite.Write{Record: a, Expect: 1, Delete: true}))
	b := slotRecord("t", 2)
	require.NoError(t, applyOne(t, s, invite.Write{Record: b}))
	ts.m[a.Credentials.TokenHash] = r // as if read before the delete
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
