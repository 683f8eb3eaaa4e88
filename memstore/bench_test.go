package memstore_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/memstore"
)

// BenchmarkStore measures the Manager on memstore (impl=library) and a
// hand-written floor (impl=floor, see floorStore) in the same process, with
// 10,000 and with 1,000,000 stored invitations:
//
//	GODEBUG=madvdontneed=0 go test -run '^$' -bench 'Store$' -benchtime 100000x -cpu 1 -count 3 ./memstore
//
// (GODEBUG: see warmHeap.)
//
// A third size, 100, is a reference: its heap is a couple of megabytes and
// what an operation touches is mostly in cache, so it shows what each
// operation computes, apart from what reaching a record in a larger heap
// costs.
//
// One store is alive at a time, so each is measured on a heap of its own
// size. The store stays at its size while it is measured: Create and Accept
// run in chunks, and between chunks (timer stopped) the invitations a chunk
// created or accepted are deleted and the next chunk's inputs or fresh
// invitations are made. So "stored=N" holds throughout, and a run measures
// a store at steady size, not one whose heap grows with every operation.
//
// Before a store is measured its heap is grown to the size the collector
// lets it reach before its next cycle (warmHeap), as in a process that has
// run for a while: on a virtual machine that backs guest memory lazily the
// first touch of a page can cost several microseconds (BenchmarkFreshPage
// measures it), which is the machine's cost of a growing heap rather than
// the library's.
//
// Besides ns/op each result reports, over the timed part only, faults/op
// (minor page faults), sys-ns/op (kernel CPU time) and gc-ns/op (the
// collector's CPU time, part of ns/op), and live-MB (the heap after a
// collection, store included). A collection comes every few hundred
// thousand operations at 1,000,000 stored (every few thousand at 10,000):
// for its cost to be shared out fairly there, run at least 1000000x.
func BenchmarkStore(b *testing.B) {
	for _, size := range []int{100, 10_000, 1_000_000} {
		b.Run(fmt.Sprintf("stored=%d", size), func(b *testing.B) {
			for _, impl := range impls {
				// Built inside the sub-benchmark: a -bench filter that
				// skips it skips building the store.
				b.Run("impl="+impl.name, func(b *testing.B) {
					t := impl.build(b, size)
					warmHeap()
					for _, o := range ops {
						b.Run("op="+o.name, func(b *testing.B) { runOp(b, t, o) })
					}
				})
				runtime.GC() // the next store starts without this one
			}
		})
	}
}

// impls are the implementations measured: the library and the floor.
var impls = []struct {
	name  string
	build func(*testing.B, int) target
}{
	{"library", func(b *testing.B, size int) target { return newLibrary(b, size) }},
	{"floor", func(b *testing.B, size int) target { return newFloor(b, size) }},
}

// chunk is how many operations run between two untimed setup phases.
const chunk = 1000

// target is one implementation under measurement.
type target interface {
	// create stores an invitation for in and returns a reference to it and
	// its token.
	create(b *testing.B, in *invite.CreateInput) (ref, string)
	lookup(b *testing.B, token string)
	accept(b *testing.B, token string) ref
	remove(b *testing.B, r ref)
	// tokens returns the tokens of the stored invitations Lookup reads.
	tokens() []string
	inputs() *inputs
}

// ref names a stored invitation for its removal.
type ref struct {
	tenant, id string
	version    int64
}

// inputs makes invitation inputs for fresh invitees.
type inputs struct{ seq atomic.Int64 }

const benchTenants = 1000

func (f *inputs) next() invite.CreateInput {
	n := f.seq.Add(1)
	return invite.CreateInput{
		TenantID:  fmt.Sprintf("tenant-%d", n%benchTenants),
		Invitee:   invite.Invitee{Email: fmt.Sprintf("user%d@example.com", n)},
		GivenName: "Ada", FamilyName: "Lovelace",
		Inviter:  invite.Inviter{ID: "admin-1", Name: "Grace"},
		Roles:    []string{"member"},
		Groups:   []string{"engineering"},
		Data:     map[string]string{"team": "core"},
		Delivery: invite.DeliveryReturn,
	}
}

// invitationOf is the pending invitation in asks for, with the given id,
// sharing in's lists and data.
func invitationOf(in *invite.CreateInput, id string) invite.Invitation {
	return invite.Invitation{ID: id, TenantID: in.TenantID, Invitee: in.Invitee, GivenName: in.GivenName,
		FamilyName: in.FamilyName, Inviter: in.Inviter, Roles: in.Roles, Groups: in.Groups, Data: in.Data,
		State: invite.StatePending, Version: 1}
}

// fill stores size invitations in t and returns their tokens.
func fill(b *testing.B, t target, size int) []string {
	b.Helper()
	toks := make([]string, size)
	for i := range toks {
		in := t.inputs().next()
		_, toks[i] = t.create(b, &in)
	}
	return toks
}

// op is one measured operation, run in chunks: prepare (untimed) removes
// what the previous chunk added and makes the next n operations' inputs;
// run (timed) does them.
type op struct {
	name    string
	prepare func(b *testing.B, t target, c *chunkState, n int)
	run     func(b *testing.B, t target, c *chunkState, n int)
}

// chunkState is an op's state on one target between chunks.
type chunkState struct {
	ins   []invite.CreateInput
	fresh []string
	refs  []ref
	rnd   *rand.Rand
}

func newChunkState() *chunkState {
	return &chunkState{ins: make([]invite.CreateInput, chunk), fresh: make([]string, chunk),
		refs: make([]ref, 0, chunk), rnd: rand.New(rand.NewPCG(1, 2))}
}

// cleanup removes what the last chunk added, keeping the store at its size.
func (c *chunkState) cleanup(b *testing.B, t target) {
	for _, r := range c.refs {
		t.remove(b, r)
	}
	c.refs = c.refs[:0]
}

var ops = []op{
	{
		name: "Create",
		prepare: func(b *testing.B, t target, c *chunkState, n int) {
			c.cleanup(b, t)
			for i := range n {
				c.ins[i] = t.inputs().next()
			}
		},
		run: func(b *testing.B, t target, c *chunkState, n int) {
			for i := range n {
				r, _ := t.create(b, &c.ins[i])
				c.refs = append(c.refs, r)
			}
		},
	},
	{
		name: "Lookup",
		prepare: func(b *testing.B, t target, c *chunkState, n int) {
			toks := t.tokens()
			for i := range n {
				c.fresh[i] = toks[c.rnd.IntN(len(toks))]
			}
		},
		run: func(b *testing.B, t target, c *chunkState, n int) {
			for i := range n {
				t.lookup(b, c.fresh[i])
			}
		},
	},
	{
		name: "Accept",
		prepare: func(b *testing.B, t target, c *chunkState, n int) {
			c.cleanup(b, t)
			for i := range n {
				in := t.inputs().next()
				_, c.fresh[i] = t.create(b, &in)
			}
		},
		run: func(b *testing.B, t target, c *chunkState, n int) {
			for i := range n {
				c.refs = append(c.refs, t.accept(b, c.fresh[i]))
			}
		},
	},
}

// runOp measures o on t: b.N operations in chunks.
func runOp(b *testing.B, t target, o op) {
	c := newChunkState()
	inChunks(b, func(n int) { o.prepare(b, t, c, n) }, func(n int) { o.run(b, t, c, n) })
	c.cleanup(b, t)
}

// inChunks runs b.N operations in chunks of at most chunk: prepare(n),
// untimed, then run(n), timed, and reports what startMeter measures.
func inChunks(b *testing.B, prepare, run func(n int)) {
	m := startMeter(b)
	for done := 0; done < b.N; {
		n := min(chunk, b.N-done)
		m.stop()
		prepare(n)
		m.start()
		run(n)
		done += n
	}
	m.stop()
	m.report()
}

// BenchmarkRatio runs the library and the floor side by side, chunk by
// chunk (alternating which goes first), so that the machine's drift, which
// on a shared virtual machine moves absolute figures by tens of percent
// within a minute, hits both alike:
//
//	go test -run '^$' -bench Ratio -benchtime 100000x -cpu 1 -count 5 ./memstore
//
// It reports library-ns/op and floor-ns/op (total time over operations),
// library/floor (the ratio of the totals) and median-chunk-ratio (the
// median over chunks of the two chunks' time ratio: it leaves out the tail
// of chunks a garbage collection landed in, which the totals include);
// ns/op is the sum of both. Both stores are alive at once and share one
// heap: each collection marks both and each side pays for it in proportion
// to what it allocates, so the ratio compares the work per operation, not
// what each store costs the collector. Read BenchmarkStore for that and for
// absolute figures.
func BenchmarkRatio(b *testing.B) {
	for _, size := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("stored=%d", size), func(b *testing.B) {
			lib, flo := newLibrary(b, size), newFloor(b, size)
			warmHeap()
			for _, o := range ops {
				b.Run("op="+o.name, func(b *testing.B) {
					cl, cf := newChunkState(), newChunkState()
					var ratios []float64
					var sumL, sumF time.Duration
					b.ResetTimer()
					for done, k := 0, 0; done < b.N; k++ {
						n := min(chunk, b.N-done)
						b.StopTimer()
						o.prepare(b, lib, cl, n)
						o.prepare(b, flo, cf, n)
						b.StartTimer()
						var dl, df time.Duration
						if k%2 == 0 {
							dl = timeChunk(b, o, lib, cl, n)
							df = timeChunk(b, o, flo, cf, n)
						} else {
							df = timeChunk(b, o, flo, cf, n)
							dl = timeChunk(b, o, lib, cl, n)
						}
						sumL, sumF = sumL+dl, sumF+df
						ratios = append(ratios, float64(dl)/float64(df))
						done += n
					}
					b.StopTimer()
					cl.cleanup(b, lib)
					cf.cleanup(b, flo)
					b.ReportMetric(float64(sumL)/float64(b.N), "library-ns/op")
					b.ReportMetric(float64(sumF)/float64(b.N), "floor-ns/op")
					b.ReportMetric(float64(sumL)/float64(sumF), "library/floor")
					b.ReportMetric(median(ratios), "median-chunk-ratio")
				})
			}
		})
		runtime.GC()
	}
}

// timeChunk runs one chunk of o on t and returns how long it took.
func timeChunk(b *testing.B, o op, t target, c *chunkState, n int) time.Duration {
	start := time.Now()
	o.run(b, t, c, n)
	return time.Since(start)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	switch n := len(s); {
	case n == 0:
		return 0
	case n%2 == 0:
		return (s[n/2-1] + s[n/2]) / 2
	default:
		return s[n/2]
	}
}

// library is the Manager on memstore, as a host uses it.
type library struct {
	m    *invite.Manager
	in   inputs
	toks []string
}

func newLibrary(b *testing.B, size int) *library {
	b.Helper()
	m, err := invite.New(memstore.New(), invite.Config{})
	if err != nil {
		b.Fatal(err)
	}
	l := &library{m: m}
	l.toks = fill(b, l, size)
	return l
}

func (l *library) tokens() []string    { return l.toks }
func (l *library) inputs() *inputs     { return &l.in }
func refOf(inv *invite.Invitation) ref { return ref{inv.TenantID, inv.ID, inv.Version} }
func (l *library) remove(b *testing.B, r ref) {
	if err := l.m.Delete(context.Background(), r.tenant, r.id, r.version); err != nil {
		b.Fatal(err)
	}
}

func (l *library) create(b *testing.B, in *invite.CreateInput) (ref, string) {
	res, err := l.m.Create(context.Background(), *in)
	if err != nil {
		b.Fatal(err)
	}
	return refOf(res.Invitation), res.Token.Reveal()
}

func (l *library) lookup(b *testing.B, token string) {
	if _, err := l.m.Lookup(context.Background(), token); err != nil {
		b.Fatal(err)
	}
}

func (l *library) accept(b *testing.B, token string) ref {
	acc, err := l.m.Accept(context.Background(), token, invite.AcceptInput{Subject: "user-1"})
	if err != nil {
		b.Fatal(err)
	}
	return refOf(acc.Invitation)
}

// floorStore is what any in-memory invitation store must do at the least,
// written by hand, to put the library's figures in proportion on the
// machine at hand. Create = a token (random, SHA-256), a record with copies
// of its lists and data, inserts into three maps (id, token hash, invitee)
// under a lock, and a copy for the caller; Lookup = a token hash, a map read
// and a copy of the record; Accept = Lookup plus a new version of the record
// stored back and the invitee key removed. No validation, ids, events, undo
// log, tenants, shards or expiry.
type floorStore struct {
	raw  *rawStore
	seq  int64
	in   inputs
	toks []string
}

// floorSink keeps the floor's copies for the caller from being optimised
// away: the library's are returned, so they are real allocations.
var floorSink *invite.Invitation

func newFloor(b *testing.B, size int) *floorStore {
	b.Helper()
	s := &floorStore{raw: newRawStore()}
	s.toks = fill(b, s, size)
	return s
}

func (s *floorStore) tokens() []string { return s.toks }
func (s *floorStore) inputs() *inputs  { return &s.in }

func (s *floorStore) create(b *testing.B, in *invite.CreateInput) (ref, string) {
	token, hash := invite.MintToken(invite.DefaultTokenPrefix)
	s.seq++ // single goroutine: the floor needs no atomic
	inv := invitationOf(in, fmt.Sprintf("%032x", s.seq))
	rec := &invite.Record{Invitation: *inv.Clone(), Credentials: invite.Credentials{TokenHash: hash}}
	s.raw.put(rec)
	floorSink = rec.Invitation.Clone() // the caller's copy
	return ref{id: inv.ID}, token.Reveal()
}

func (s *floorStore) get(b *testing.B, token string) *invite.Record {
	rec := s.raw.find(sha256.Sum256([]byte(token)))
	if rec == nil {
		b.Fatal("floor: token not found")
	}
	return rec
}

func (s *floorStore) lookup(b *testing.B, token string) {
	floorSink = s.get(b, token).Invitation.Clone()
}

func (s *floorStore) accept(b *testing.B, token string) ref {
	next := *s.get(b, token)
	next.Invitation.State = invite.StateAccepted
	next.Invitation.AcceptedBy = "user-1"
	next.Invitation.Version++
	s.raw.put(&next)
	floorSink = next.Invitation.Clone() // the caller's copy
	return ref{id: next.Invitation.ID}
}

func (s *floorStore) remove(b *testing.B, r ref) {
	s.raw.mu.Lock()
	rec := s.raw.byID[r.id]
	s.raw.mu.Unlock()
	if rec == nil {
		b.Fatal("floor: id not found")
	}
	s.raw.remove(b, rec)
}

// BenchmarkCollect measures one full garbage collection (runtime.GC) with
// the library's and the floor's store of 1,000,000 invitations alive: what
// the store costs the collector, which a process pays once per cycle.
//
//	go test -run '^$' -bench Collect -benchtime 5x ./memstore
func BenchmarkCollect(b *testing.B) {
	for _, impl := range impls {
		b.Run("stored=1000000/impl="+impl.name, func(b *testing.B) {
			t := impl.build(b, 1_000_000)
			runtime.GC()
			b.ResetTimer()
			for range b.N {
				runtime.GC()
			}
			b.StopTimer()
			runtime.KeepAlive(t)
		})
		runtime.GC()
	}
}

// BenchmarkParallel runs Create, Lookup and Accept from GOMAXPROCS
// goroutines on a store of 10,000 invitations; compare its ns/op across
// -cpu 1,2 (ns/op is wall time per operation across all goroutines, so it
// falls when the store scales). Create's timed loop includes building its
// input. What a sub-benchmark adds is deleted afterwards (untimed), so each
// starts at 10,000.
func BenchmarkParallel(b *testing.B) {
	ctx := context.Background()
	var l *library
	store := func(b *testing.B) *library {
		if l == nil {
			l = newLibrary(b, 10_000)
		}
		return l
	}
	// removeAll deletes what a sub-benchmark added, with the timer stopped.
	removeAll := func(b *testing.B, refs []ref) {
		b.StopTimer()
		for _, r := range refs {
			l.remove(b, r)
		}
	}
	b.Run("op=Create", func(b *testing.B) {
		l := store(b)
		var mu sync.Mutex
		var refs []ref
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var mine []ref
			defer func() { mu.Lock(); refs = append(refs, mine...); mu.Unlock() }()
			for pb.Next() {
				res, err := l.m.Create(ctx, l.in.next())
				if err != nil {
					b.Error(err) // not Fatal: this is not the benchmark's goroutine
					return
				}
				mine = append(mine, refOf(res.Invitation))
			}
		})
		removeAll(b, refs)
	})
	b.Run("op=Lookup", func(b *testing.B) {
		l := store(b)
		b.ReportAllocs()
		var seed atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(seed.Add(1), 7))
			for pb.Next() {
				if _, err := l.m.Lookup(ctx, l.toks[r.IntN(len(l.toks))]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("op=Accept", func(b *testing.B) {
		l := store(b)
		fresh := make([]string, b.N)
		refs := make([]ref, b.N)
		for i := range fresh {
			in := l.in.next()
			refs[i], fresh[i] = l.create(b, &in)
		}
		var next atomic.Int64
		runtime.GC()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1) - 1
				acc, err := l.m.Accept(ctx, fresh[i], invite.AcceptInput{Subject: "user-1"})
				if err != nil {
					b.Error(err)
					return
				}
				refs[i] = refOf(acc.Invitation) // each goroutine writes its own indexes
			}
		})
		removeAll(b, refs)
	})
}

// BenchmarkRandomRead is the machine's own estimate of how much slower an
// operation gets when the store grows from 10,000 to 1,000,000 invitations,
// with none of the library in it: the least a token lookup does, which is a
// SHA-256 of the token, one probe of a map from token hash to record, and a
// read of the record's bytes (a 288-byte slice per record, the size class of
// the library's encoded record in BenchmarkStore).
//
//	go test -run '^$' -bench RandomRead -benchtime 1000000x -cpu 1 -count 3 ./memstore
//
// Both sets of records are alive at once and are read in alternate chunks
// (as BenchmarkRatio does), so the machine's drift hits both alike; each
// chunk's tokens are copied, untimed, into one contiguous buffer, as a
// request's token would be at hand. It reports ns/op among 10,000 records
// (small-ns/op) and among 1,000,000 (large-ns/op), large/small, and
// penalty-ns, their difference: what the cache and TLB misses of reaching
// one random record among a million cost on this machine. ns/op is the sum
// of both.
//
// An operation that finds one record among a million by its token (Lookup,
// Accept) pays about penalty-ns more than among 10,000, since each step of
// the chain (token hash, index, record) needs the one before it: such an
// operation can stay within a ratio r of its 10,000-record speed only if
// it takes about penalty-ns/(r-1) or more at 10,000.
func BenchmarkRandomRead(b *testing.B) {
	const recordSize = 288
	type records struct {
		toks []string
		recs map[invite.TokenHash][]byte
	}
	build := func(size int) records {
		r := records{toks: make([]string, size), recs: make(map[invite.TokenHash][]byte, size)}
		for i := range r.toks {
			tok, h := invite.MintToken(invite.DefaultTokenPrefix)
			r.toks[i] = tok.Reveal()
			r.recs[h] = make([]byte, recordSize)
		}
		return r
	}
	b.StopTimer()
	small, large := build(10_000), build(1_000_000)
	tokLen := len(small.toks[0])
	warmHeap()
	rnd := rand.New(rand.NewPCG(1, 2))
	seq := make([]byte, chunk*tokLen)
	var out [recordSize]byte
	// run reads n random records of r and returns how long it took.
	run := func(r *records, n int) time.Duration {
		for i := range n {
			copy(seq[i*tokLen:], r.toks[rnd.IntN(len(r.toks))])
		}
		read := 0
		b.StartTimer()
		start := time.Now()
		for i := range n {
			h := sha256.Sum256(seq[i*tokLen : (i+1)*tokLen])
			read += copy(out[:], r.recs[h])
		}
		d := time.Since(start)
		b.StopTimer()
		if read != n*recordSize {
			b.Fatal("a record is missing")
		}
		return d
	}
	var dSmall, dLarge time.Duration
	for done, k := 0, 0; done < b.N; k++ {
		n := min(chunk, b.N-done)
		if k%2 == 0 {
			dSmall += run(&small, n)
			dLarge += run(&large, n)
		} else {
			dLarge += run(&large, n)
			dSmall += run(&small, n)
		}
		done += n
	}
	b.ReportMetric(float64(dSmall)/float64(b.N), "small-ns/op")
	b.ReportMetric(float64(dLarge)/float64(b.N), "large-ns/op")
	b.ReportMetric(float64(dLarge)/float64(dSmall), "large/small")
	b.ReportMetric(float64(dLarge-dSmall)/float64(b.N), "penalty-ns")
}
