package memstore_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/memstore"
)

// A batch hands record A's token hash to a new record B (A deleted), then
// fails: the store is as before. A reader of that hash while such batches
// run must always find A, never ErrNotFound or B. (storetest's
// HandoverWhileReading covers batches that commit.)
func TestHandoverRollbackReaders(t *testing.T) {
	for _, tenantB := range []string{"ta", "tb"} {
		t.Run("tenantB="+tenantB, func(t *testing.T) {
			ctx := t.Context()
			st := memstore.New()
			a, y := newRecord("ta"), newRecord("ta")
			require.NoError(t, st.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: a}, {Record: y}}}))
			h := a.Credentials.TokenHash
			stop := make(chan struct{})
			var reads, misses, wrong atomic.Int64
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
						switch {
						case err != nil:
							misses.Add(1)
						case got.Invitation.ID != a.Invitation.ID:
							wrong.Add(1)
						}
					}
				})
			}
			for range 2000 {
				b := newRecord(tenantB)
				b.Credentials.TokenHash = h // takes over A's hash
				dup := newRecord("ta")
				dup.Invitation.ID = y.Invitation.ID // fails: duplicate id
				err := st.Apply(ctx, &invite.Batch{Writes: []invite.Write{
					{Record: a, Expect: 1, Delete: true}, {Record: b}, {Record: dup}}})
				require.ErrorIs(t, err, invite.ErrAlreadyExists)
			}
			halt()
			t.Logf("%d reads", reads.Load())
			require.Zero(t, misses.Load(), "a reader found no record for A's hash")
			require.Zero(t, wrong.Load(), "A's hash returned another record")
			got, err := st.GetByTokenHash(ctx, h)
			require.NoError(t, err)
			require.Equal(t, a.Invitation.ID, got.Invitation.ID)
		})
	}
}
