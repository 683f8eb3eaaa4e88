package memstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/memstore"
)

// BenchmarkCalls measures memstore alone: the Store calls the Manager
// makes for Create (one Apply that inserts), Lookup (one GetByTokenHash)
// and Accept (GetByTokenHash, then an Apply that writes the accepted
// version against the version read), with the records and token hashes
// made beforehand, untimed. It leaves out what the Manager does around
// them (validation, minting the token and the id, parsing and hashing the
// token: BenchmarkToken* measure those), so it shows what the store itself
// costs per operation. impl=floor is the least a store must do for the
// same calls, written by hand (rawStore): maps of pointers to records
// under one lock, a copy in and a copy out.
//
//	GODEBUG=madvdontneed=0 go test -run '^$' -bench Calls -benchtime 200000x -cpu 1 -count 3 ./memstore
//
// As in BenchmarkStore one store is alive at a time, warmed (warmHeap),
// and kept at its size: what a chunk adds is deleted, untimed, before the
// next chunk. Read BenchmarkStore for the library as a host uses it.
func BenchmarkCalls(b *testing.B) {
	for _, size := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("stored=%d", size), func(b *testing.B) {
			for _, impl := range []struct {
				name string
				make func() rawTarget
			}{
				{"library", func() rawTarget { return &memTarget{s: memstore.New()} }},
				{"floor", func() rawTarget { return newRawStore() }},
			} {
				b.Run("impl="+impl.name, func(b *testing.B) {
					t := impl.make()
					var mk records
					hashes := make([]invite.TokenHash, size)
					for i := range hashes {
						r := mk.next()
						t.insert(b, r)
						hashes[i] = r.Credentials.TokenHash
					}
					warmHeap()
					for _, o := range storeOps {
						b.Run("op="+o.name, func(b *testing.B) { runStoreOp(b, t, &mk, hashes, o) })
					}
				})
				runtime.GC()
			}
		})
	}
}

// rawTarget is a store under BenchmarkCalls.
type rawTarget interface {
	insert(b *testing.B, r *invite.Record)
	get(b *testing.B, h invite.TokenHash) *invite.Record
	// update writes r, read at version expect.
	update(b *testing.B, r *invite.Record, expect int64)
	remove(b *testing.B, r *invite.Record)
}

// records makes records of BenchmarkStore's inputs, as the Manager would
// store them.
type records struct{ in inputs }

func (m *records) next() *invite.Record {
	in := m.in.next()
	inv := invitationOf(&in, uuid.Must(uuid.NewV7()).String())
	now := time.Now().UTC().Truncate(time.Microsecond)
	inv.CreatedAt, inv.UpdatedAt, inv.IssuedAt, inv.ExpiresAt = now, now, now, now.Add(7*24*time.Hour)
	_, h := invite.MintToken(invite.DefaultTokenPrefix)
	return &invite.Record{Invitation: inv, Credentials: invite.Credentials{TokenHash: h}}
}

type storeOp struct {
	name string
	// run does op i of a chunk: recs are the chunk's fresh records
	// (stored already for Accept), hs the hashes Lookup reads.
	run func(b *testing.B, t rawTarget, recs []*invite.Record, hs []invite.TokenHash, i int) *invite.Record
	// fresh: the chunk needs fresh records; stored: stored before it runs.
	fresh, stored bool
}

var storeOps = []storeOp{
	{name: "Create", fresh: true, run: func(b *testing.B, t rawTarget, recs []*invite.Record, _ []invite.TokenHash, i int) *invite.Record {
		t.insert(b, recs[i])
		return recs[i]
	}},
	{name: "Lookup", run: func(b *testing.B, t rawTarget, _ []*invite.Record, hs []invite.TokenHash, i int) *invite.Record {
		t.get(b, hs[i])
		return nil
	}},
	{name: "Accept", fresh: true, stored: true, run: func(b *testing.B, t rawTarget, recs []*invite.Record, _ []invite.TokenHash, i int) *invite.Record {
		cur := t.get(b, recs[i].Credentials.TokenHash)
		v := cur.Invitation.Version
		inv := &cur.Invitation
		inv.State, inv.AcceptedBy, inv.ClosedAt, inv.UpdatedAt, inv.Version = invite.StateAccepted, "user-1", recs[i].Invitation.CreatedAt, recs[i].Invitation.CreatedAt, v+1
		t.update(b, cur, v)
		return cur
	}},
}

// runStoreOp measures o on t in chunks, as runOp does.
func runStoreOp(b *testing.B, t rawTarget, mk *records, stored []invite.TokenHash, o storeOp) {
	recs := make([]*invite.Record, chunk)
	hs := make([]invite.TokenHash, chunk)
	var added []*invite.Record
	cleanup := func() {
		for _, r := range added {
			t.remove(b, r)
		}
		added = added[:0]
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	inChunks(b, func(n int) {
		cleanup()
		for i := range n {
			if o.fresh {
				recs[i] = mk.next()
				if o.stored {
					t.insert(b, recs[i])
				}
			}
			hs[i] = stored[rnd.IntN(len(stored))]
		}
	}, func(n int) {
		for i := range n {
			if r := o.run(b, t, recs, hs, i); r != nil {
				added = append(added, r)
			}
		}
	})
	cleanup()
}

// memTarget is memstore.
type memTarget struct{ s *memstore.Store }

func (t *memTarget) apply(b *testing.B, w invite.Write) {
	if err := t.s.Apply(context.Background(), &invite.Batch{Writes: []invite.Write{w}}); err != nil {
		b.Fatal(err)
	}
}

func (t *memTarget) insert(b *testing.B, r *invite.Record) { t.apply(b, invite.Write{Record: r}) }

func (t *memTarget) update(b *testing.B, r *invite.Record, expect int64) {
	t.apply(b, invite.Write{Record: r, Expect: expect})
}

func (t *memTarget) remove(b *testing.B, r *invite.Record) {
	t.apply(b, invite.Write{Record: r, Expect: r.Invitation.Version, Delete: true})
}

func (t *memTarget) get(b *testing.B, h invite.TokenHash) *invite.Record {
	r, err := t.s.GetByTokenHash(context.Background(), h)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// rawStore is the floor of BenchmarkCalls (and the maps of
// BenchmarkStore's floor): records by id, token hash and open invitee
// under one lock, copied in and out; no tenants, version checks, undo or
// ordering.
type rawStore struct {
	mu     sync.Mutex
	byID   map[string]*invite.Record
	byHash map[invite.TokenHash]*invite.Record
	open   map[string]string
}

func newRawStore() *rawStore {
	return &rawStore{byID: map[string]*invite.Record{}, byHash: map[invite.TokenHash]*invite.Record{}, open: map[string]string{}}
}

// put stores c, which the store now owns, by id and token hash, and by
// invitee while it is open.
func (s *rawStore) put(c *invite.Record) {
	inv := &c.Invitation
	s.mu.Lock()
	s.byID[inv.ID] = c
	s.byHash[c.Credentials.TokenHash] = c
	if inv.State.Open() {
		s.open[inv.Invitee.Email] = inv.ID
	} else {
		delete(s.open, inv.Invitee.Email)
	}
	s.mu.Unlock()
}

// find returns the stored record of h itself, or nil.
func (s *rawStore) find(h invite.TokenHash) *invite.Record {
	s.mu.Lock()
	r := s.byHash[h]
	s.mu.Unlock()
	return r
}

func (s *rawStore) insert(_ *testing.B, r *invite.Record) { s.put(r.Clone()) }

func (s *rawStore) update(_ *testing.B, r *invite.Record, _ int64) { s.put(r.Clone()) }

func (s *rawStore) get(b *testing.B, h invite.TokenHash) *invite.Record {
	r := s.find(h)
	if r == nil {
		b.Fatal("floor: token not found")
	}
	return r.Clone()
}

func (s *rawStore) remove(_ *testing.B, r *invite.Record) {
	s.mu.Lock()
	delete(s.byID, r.Invitation.ID)
	delete(s.byHash, r.Credentials.TokenHash)
	if s.open[r.Invitation.Invitee.Email] == r.Invitation.ID {
		delete(s.open, r.Invitation.Invitee.Email)
	}
	s.mu.Unlock()
}
