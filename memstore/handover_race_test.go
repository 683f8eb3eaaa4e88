package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/memstore"
)

// raceFor is how long each of these races runs.
const raceFor = time.Second

var rbase = time.Date(2027, time.March, 4, 5, 6, 7, 123456000, time.UTC)

func rid() string { return uuid.Must(uuid.NewV7()).String() }

func rhash() invite.TokenHash {
	_, h := invite.MintToken(invite.DefaultTokenPrefix)
	return h
}

func rrec(tenant string) *invite.Record {
	return &invite.Record{
		Invitation: invite.Invitation{
			ID: rid(), TenantID: tenant, Invitee: invite.Invitee{Email: "e-" + rid() + "@example.com"},
			TemplateKey: "invite", State: invite.StatePending, CreatedAt: rbase, UpdatedAt: rbase, IssuedAt: rbase,
			ExpiresAt: rbase.Add(7 * 24 * time.Hour), Version: 1,
		},
		Credentials: invite.Credentials{TokenHash: rhash()},
	}
}

func rnext(r *invite.Record, edit func(*invite.Record)) *invite.Record {
	c := r.Clone()
	c.Invitation.Version++
	if edit != nil {
		edit(c)
	}
	return c
}

// Races of token readers against batches that move token hashes between
// records (Store.Apply may hand a deleted record's hash to a new one) and
// reuse freed slots.

// A batch hands record A's token hash to a new record B (A deleted), then
// fails: the store is as before, A owns the hash. A reader of that hash
// during the batch must see the old state (A) or the new state (also A):
// never ErrNotFound.
func TestHandoverRollbackReaders(t *testing.T) {
	ctx := context.Background()
	for _, crossTenant := range []bool{false, true} {
		t.Run(fmt.Sprintf("crossTenant=%v", crossTenant), func(t *testing.T) {
			st := memstore.New()
			a := rrec("ta")
			y := rrec("ta")
			require.NoError(t, st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: a}, {Record: y}}}))
			h := a.Credentials.TokenHash
			stop := make(chan struct{})
			var misses, reads, wrong atomic.Int64
			var wg sync.WaitGroup
			halt := sync.OnceFunc(func() { close(stop); wg.Wait() }) // also when a require fails
			defer halt()
			for range 2 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						got, err := st.GetByTokenHash(ctx, h)
						reads.Add(1)
						if err != nil {
							misses.Add(1)
							continue
						}
						if got.Invitation.ID != a.Invitation.ID {
							wrong.Add(1)
						}
					}
				})
			}
			deadline := time.Now().Add(raceFor)
			rounds := 0
			for time.Now().Before(deadline) {
				rounds++
				bt := "ta"
				if crossTenant {
					bt = "tb"
				}
				b := rrec(bt)
				b.Credentials.TokenHash = h // takes over A's hash
				dup := rrec("ta")
				dup.Invitation.ID = y.Invitation.ID // fails: duplicate id
				err := st.Apply(ctx, &invite.Batch{Writes: []invite.Write{
					{Record: a, Expect: 1, Delete: true}, {Record: b}, {Record: dup}}})
				require.ErrorIs(t, err, invite.ErrAlreadyExists)
			}
			halt()
			got, err := st.GetByTokenHash(ctx, h)
			require.NoError(t, err)
			require.Equal(t, a.Invitation.ID, got.Invitation.ID)
			t.Logf("%d failed batches, %d reads, %d reads of A's token answered ErrNotFound", rounds, reads.Load(), misses.Load())
			require.Zero(t, misses.Load(), "a reader saw neither the old nor the new state")
			require.Zero(t, wrong.Load(), "A's token returned another record")
		})
	}
}

// Deletes free slots, creates reuse them; readers by token must only ever
// get the token's own record (or ErrNotFound once it is deleted), and
// updates computed from a deleted record must never land in a reused slot.
func TestSlotReuseReadersAndStaleWriters(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	const tenants = 3
	type live struct {
		mu   sync.Mutex
		recs []*invite.Record
	}
	var L live
	for i := range 30 {
		r := rrec(fmt.Sprint("t", i%tenants))
		require.NoError(t, st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: r}}}))
		L.recs = append(L.recs, r)
	}
	pick := func(i int) *invite.Record {
		L.mu.Lock()
		defer L.mu.Unlock()
		return L.recs[i%len(L.recs)]
	}
	var bad atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ops atomic.Int64
	// churn: delete a record, create a new one (reusing the slot)
	wg.Go(func() {
		i := 0
		for {
			select {
			case <-stop:
				return
			default:
			}
			i++
			L.mu.Lock()
			k := i % len(L.recs)
			old := L.recs[k]
			L.mu.Unlock()
			cur, err := st.Get(ctx, old.Invitation.TenantID, old.Invitation.ID)
			if err != nil {
				continue
			}
			if err := st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: cur, Expect: cur.Invitation.Version, Delete: true}}}); err != nil {
				continue
			}
			n := rrec(old.Invitation.TenantID)
			if err := st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: n}}}); err != nil {
				bad.Store(fmt.Sprint("create: ", err))
				return
			}
			L.mu.Lock()
			L.recs[k] = n
			L.mu.Unlock()
		}
	})
	// readers by token (of possibly deleted records)
	for g := range 2 {
		wg.Go(func() {
			i := g
			for {
				select {
				case <-stop:
					return
				default:
				}
				i += 7
				r := pick(i)
				got, err := st.GetByTokenHash(ctx, r.Credentials.TokenHash)
				ops.Add(1)
				if err == nil && (got.Invitation.ID != r.Invitation.ID || got.Credentials.TokenHash != r.Credentials.TokenHash) {
					bad.Store("token read returned another record")
					return
				}
			}
		})
	}
	// stale writers: read by token, wait, write an update guarded by the
	// version read (the churn may have deleted it and reused the slot).
	wg.Go(func() {
		i := 0
		for {
			select {
			case <-stop:
				return
			default:
			}
			i += 3
			r := pick(i)
			got, err := st.GetByTokenHash(ctx, r.Credentials.TokenHash)
			if err != nil {
				continue
			}
			time.Sleep(time.Microsecond)
			u := rnext(got, func(x *invite.Record) { x.Invitation.GivenName = "touched-" + x.Invitation.ID })
			err = st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: u, Expect: got.Invitation.Version}}})
			if err != nil && !errors.Is(err, invite.ErrConflict) && !errors.Is(err, invite.ErrNotFound) {
				bad.Store(fmt.Sprint("stale update: ", err))
				return
			}
		}
	})
	time.Sleep(raceFor)
	close(stop)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
	// Every stored record is consistent: its GivenName names itself or is empty.
	for i := range tenants {
		all, _, err := st.List(ctx, fmt.Sprint("t", i), invite.Query{Now: rbase, Limit: 1000, Filter: invite.Filter{IncludeExpired: true}})
		require.NoError(t, err)
		for _, inv := range all {
			if inv.GivenName != "" {
				require.Equal(t, "touched-"+inv.ID, inv.GivenName, "an update landed on another record")
			}
			rec, err := st.Get(ctx, inv.TenantID, inv.ID)
			require.NoError(t, err)
			byTok, err := st.GetByTokenHash(ctx, rec.Credentials.TokenHash)
			require.NoError(t, err)
			require.Equal(t, inv.ID, byTok.Invitation.ID)
		}
	}
	t.Logf("%d token reads", ops.Load())
}

// A committed batch hands the hash from the record holding it to a new one
// (the old one deleted). Before and after every batch some record holds the
// hash, so a reader must never get ErrNotFound.
func TestHandoverCommitReaders(t *testing.T) {
	for _, crossTenant := range []bool{false, true} {
		t.Run(fmt.Sprintf("crossTenant=%v", crossTenant), func(t *testing.T) { takeoverCommitReaders(t, crossTenant) })
	}
}

func takeoverCommitReaders(t *testing.T, crossTenant bool) {
	ctx := context.Background()
	st := memstore.New()
	cur := rrec("ta")
	require.NoError(t, st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: cur}}}))
	h := cur.Credentials.TokenHash
	stop := make(chan struct{})
	var misses, reads atomic.Int64
	var wg sync.WaitGroup
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() }) // also when a require fails
	defer halt()
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := st.GetByTokenHash(ctx, h)
				reads.Add(1)
				if err != nil {
					misses.Add(1)
				}
			}
		})
	}
	deadline := time.Now().Add(raceFor)
	for k := 0; time.Now().Before(deadline); k++ {
		tenant := "ta"
		if crossTenant {
			tenant = fmt.Sprintf("t%d", k%8) // mostly another shard
		}
		n := rrec(tenant)
		n.Credentials.TokenHash = h
		require.NoError(t, st.Apply(ctx, &invite.Batch{Writes: []invite.Write{
			{Record: cur, Expect: cur.Invitation.Version, Delete: true}, {Record: n}}}))
		cur = n
	}
	halt()
	t.Logf("%d reads, %d ErrNotFound", reads.Load(), misses.Load())
	require.Zero(t, misses.Load(), "a reader saw neither the old nor the new holder of the hash")
}
