package memstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/memstore"
)

// BenchmarkStore measures Create, Lookup and Accept through an
// invite.Manager on memstore, with 100, 10,000 and 1,000,000 invitations
// stored (spread over 1,000 tenants):
//
//	GODEBUG=madvdontneed=0 go test -run '^$' -bench 'Store$/stored=(10000|1000000)$' -benchtime 200000x -cpu 1 -count 3 ./memstore
//
// ('Store$' runs all three sizes.) Filling the store with a million
// invitations takes several seconds and a live heap of about 1.5 GB, which
// the garbage collector marks every cycle: at that size a run of 200,000
// operations sees zero or one collection, so figures vary between runs
// more than at 10,000. GODEBUG=madvdontneed=0 keeps the runtime from
// handing freed pages back to the kernel and faulting them in again, which
// on a virtual machine adds noise.
//
// The store stays at its size while it is measured: Create and Accept run
// in chunks of 1,000, and between chunks, with the timer stopped, what the
// chunk created or accepted is deleted, and Create's next inputs or
// Accept's next invitations are made. Lookup reads random stored
// invitations.
func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	for _, size := range []int{100, 10_000, 1_000_000} {
		b.Run(fmt.Sprintf("stored=%d", size), func(b *testing.B) {
			m, err := invite.New(memstore.New(), invite.Config{})
			if err != nil {
				b.Fatal(err)
			}
			var seq int
			input := func() invite.CreateInput {
				seq++
				return invite.CreateInput{
					TenantID:  fmt.Sprintf("tenant-%d", seq%1000),
					Invitee:   invite.Invitee{Email: fmt.Sprintf("user%d@example.com", seq)},
					GivenName: "Ada", FamilyName: "Lovelace",
					Inviter:  invite.Inviter{ID: "admin-1", Name: "Grace"},
					Roles:    []string{"member"},
					Groups:   []string{"engineering"},
					Data:     map[string]string{"team": "core"},
					Delivery: invite.DeliveryReturn,
				}
			}
			create := func(in invite.CreateInput) (*invite.Invitation, string) {
				res, err := m.Create(ctx, in)
				if err != nil {
					b.Fatal(err)
				}
				return res.Invitation, res.Token.Reveal()
			}
			remove := func(invs []*invite.Invitation) {
				for _, inv := range invs {
					if err := m.Delete(ctx, inv.TenantID, inv.ID, inv.Version); err != nil {
						b.Fatal(err)
					}
				}
			}
			stored := make([]string, size)
			for i := range stored {
				_, stored[i] = create(input())
			}
			runtime.GC()

			b.Run("op=Create", func(b *testing.B) {
				ins := make([]invite.CreateInput, 1000)
				prepare := func(n int) {
					for i := range n {
						ins[i] = input()
					}
				}
				inChunks(b, prepare, func(i int) *invite.Invitation {
					inv, _ := create(ins[i])
					return inv
				}, remove)
			})
			b.Run("op=Lookup", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := m.Lookup(ctx, stored[rand.IntN(len(stored))]); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("op=Accept", func(b *testing.B) {
				var toks []string
				prepare := func(n int) {
					toks = toks[:0]
					for range n {
						_, tok := create(input())
						toks = append(toks, tok)
					}
				}
				inChunks(b, prepare, func(i int) *invite.Invitation {
					acc, err := m.Accept(ctx, toks[i], invite.AcceptInput{Subject: "user-1"})
					if err != nil {
						b.Fatal(err)
					}
					return acc.Invitation
				}, remove)
			})
		})
	}
}

// inChunks runs b.N operations in chunks of at most 1,000: prepare(n)
// untimed, op(i) for i in [0, n) timed, then remove(what the ops returned)
// untimed.
func inChunks(b *testing.B, prepare func(n int), op func(i int) *invite.Invitation, remove func([]*invite.Invitation)) {
	out := make([]*invite.Invitation, 1000)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(len(out), b.N-done)
		b.StopTimer()
		prepare(n)
		b.StartTimer()
		for i := range n {
			out[i] = op(i)
		}
		b.StopTimer()
		remove(out[:n])
		b.StartTimer()
		done += n
	}
}
