package memstore_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/memstore"
)

// Benchmarks of the Manager on memstore with 10,000 and 1,000,000 stored
// invitations:
//
//	go test -run '^$' -bench . -benchtime 200000x -count 6 ./memstore
//
// The fixture for each size is built once per process and shared.

const benchTenants = 1000

type fixture struct {
	m      *invite.Manager
	tokens []string
	seq    atomic.Int64
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[int]*fixture{}
)

func newBenchManager(b *testing.B, s invite.Store) *invite.Manager {
	b.Helper()
	m, err := invite.New(s, invite.Config{})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// input describes an invitation for a fresh invitee.
func (f *fixture) input() invite.CreateInput {
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

// create makes one invitation for a fresh invitee and returns its token.
func (f *fixture) create(b *testing.B) string {
	res, err := f.m.Create(context.Background(), f.input())
	if err != nil {
		b.Fatal(err)
	}
	return res.Token.Reveal()
}

func getFixture(b *testing.B, size int) *fixture {
	b.Helper()
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if f := fixtures[size]; f != nil {
		return f
	}
	f := &fixture{m: newBenchManager(b, memstore.New())}
	f.tokens = make([]string, size)
	for i := range f.tokens {
		f.tokens[i] = f.create(b)
	}
	fixtures[size] = f
	return f
}

var sizes = []int{10_000, 1_000_000}

func BenchmarkCreate(b *testing.B) {
	for _, size := range sizes {
		b.Run(fmt.Sprintf("stored=%d", size), func(b *testing.B) {
			f := getFixture(b, size)
			ctx := context.Background()
			// The inputs are made before timing: the benchmark measures
			// Create, not fmt.Sprintf.
			ins := make([]invite.CreateInput, b.N)
			for i := range ins {
				ins[i] = f.input()
			}
			runtime.GC() // start timing with no collection debt from the setup
			b.ReportAllocs()
			b.ResetTimer()
			for i := range ins {
				if _, err := f.m.Create(ctx, ins[i]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	for _, size := range sizes {
		b.Run(fmt.Sprintf("stored=%d", size), func(b *testing.B) {
			f := getFixture(b, size)
			ctx := context.Background()
			r := rand.New(rand.NewPCG(1, 2))
			runtime.GC() // start timing with no collection debt from the setup
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := f.m.Lookup(ctx, f.tokens[r.IntN(len(f.tokens))]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAccept(b *testing.B) {
	for _, size := range sizes {
		b.Run(fmt.Sprintf("stored=%d", size), func(b *testing.B) {
			f := getFixture(b, size)
			ctx := context.Background()
			fresh := make([]string, b.N)
			for i := range fresh {
				fresh[i] = f.create(b)
			}
			runtime.GC() // start timing with no collection debt from the setup
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := f.m.Accept(ctx, fresh[i], invite.AcceptInput{Subject: "user-1"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParallel runs Create, Lookup and Accept from GOMAXPROCS
// goroutines on 10,000 stored invitations; compare its ns/op with the
// serial benchmarks (ns/op is wall time per op across all goroutines).
func BenchmarkParallel(b *testing.B) {
	ctx := context.Background()
	b.Run("op=Create", func(b *testing.B) {
		f := getFixture(b, sizes[0])
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				f.create(b)
			}
		})
	})
	b.Run("op=Lookup", func(b *testing.B) {
		f := getFixture(b, sizes[0])
		b.ReportAllocs()
		var seed atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(seed.Add(1), 7))
			for pb.Next() {
				if _, err := f.m.Lookup(ctx, f.tokens[r.IntN(len(f.tokens))]); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("op=Accept", func(b *testing.B) {
		f := getFixture(b, sizes[0])
		fresh := make([]string, b.N)
		for i := range fresh {
			fresh[i] = f.create(b)
		}
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				tok := fresh[next.Add(1)-1]
				if _, err := f.m.Accept(ctx, tok, invite.AcceptInput{Subject: "user-1"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkFloor is what any in-memory invitation store must do at the
// least, written by hand in this process, to put the figures above in
// proportion on the machine at hand: Create = a token (random, SHA-256), a
// record with copies of its lists and data, and inserts into three maps
// (id, token hash, invitee) under a lock; Lookup = a token hash, a map
// read and a copy of the record; Accept = Lookup plus a new version of the
// record stored back and an invitee key removed. No validation, ids,
// events, undo log, tenants or shards.
func BenchmarkFloor(b *testing.B) {
	type floorStore struct {
		mu     sync.Mutex
		byID   map[string]*invite.Record
		byHash map[invite.TokenHash]*invite.Record
		open   map[string]string
	}
	newRecord := func(n int64, in *invite.CreateInput) (*invite.Record, string) {
		token, hash := invite.MintToken(invite.DefaultTokenPrefix)
		inv := invite.Invitation{ID: fmt.Sprintf("%032x", n), TenantID: in.TenantID, Invitee: in.Invitee,
			GivenName: in.GivenName, FamilyName: in.FamilyName, Inviter: in.Inviter, Roles: in.Roles, Groups: in.Groups,
			Data: in.Data, State: invite.StatePending, Version: 1}
		rec := &invite.Record{Invitation: *inv.Clone(), Credentials: invite.Credentials{TokenHash: hash}}
		return rec, token.Reveal()
	}
	for _, size := range sizes {
		fx := &fixture{}
		s := &floorStore{byID: map[string]*invite.Record{}, byHash: map[invite.TokenHash]*invite.Record{}, open: map[string]string{}}
		insert := func(rec *invite.Record) {
			s.mu.Lock()
			s.byID[rec.Invitation.ID] = rec
			s.byHash[rec.Credentials.TokenHash] = rec
			s.open[rec.Invitation.Invitee.Email] = rec.Invitation.ID
			s.mu.Unlock()
		}
		tokens := make([]string, size)
		for i := range tokens {
			in := fx.input()
			rec, tok := newRecord(int64(i), &in)
			insert(rec)
			tokens[i] = tok
		}
		lookup := func(tok string) *invite.Record {
			h := sha256.Sum256([]byte(tok))
			s.mu.Lock()
			rec := s.byHash[h]
			s.mu.Unlock()
			return rec
		}
		b.Run(fmt.Sprintf("op=Create/stored=%d", size), func(b *testing.B) {
			ins := make([]invite.CreateInput, b.N)
			for i := range ins {
				ins[i] = fx.input()
			}
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range ins {
				rec, _ := newRecord(int64(size+i), &ins[i])
				insert(rec)
				_ = rec.Invitation.Clone() // the caller's copy
			}
		})
		b.Run(fmt.Sprintf("op=Lookup/stored=%d", size), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_ = lookup(tokens[r.IntN(len(tokens))]).Invitation.Clone()
			}
		})
		b.Run(fmt.Sprintf("op=Accept/stored=%d", size), func(b *testing.B) {
			fresh := make([]string, b.N)
			for i := range fresh {
				in := fx.input()
				rec, tok := newRecord(int64(2*size+i), &in)
				insert(rec)
				fresh[i] = tok
			}
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range fresh {
				cur := lookup(fresh[i])
				next := *cur
				next.Invitation.State = invite.StateAccepted
				next.Invitation.AcceptedBy = "user-1"
				next.Invitation.Version++
				s.mu.Lock()
				s.byID[next.Invitation.ID] = &next
				s.byHash[next.Credentials.TokenHash] = &next
				delete(s.open, next.Invitation.Invitee.Email)
				s.mu.Unlock()
				_ = next.Invitation.Clone() // the caller's copy
			}
		})
	}
}
