package invite_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// Random operations on a few invitees in two tenants, then invariants.
func TestRaceChaos(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprint("keep=", keep), func(t *testing.T) {
			e := newEnv(t, func(c *invite.Config) { c.KeepPreviousTokens = keep })
			tenants := []string{"t1", "t2"}
			ivs := []invite.Invitee{{Email: "a@example.com"}, {Phone: "+4930123456"}, {Email: "a@example.com", Phone: "+4930123456"},
				{Email: "b@example.com"}, {UserID: "u-1"}, {Email: "b@example.com", UserID: "u-1"}}
			type tok struct{ tenant, id, token string }
			var mu sync.Mutex
			var toks []tok
			fresh := map[string]string{} // id -> subject of the non-replayed accept
			var failures []string
			fail := func(f string, a ...any) {
				mu.Lock()
				failures = append(failures, fmt.Sprintf(f, a...))
				mu.Unlock()
			}
			addTok := func(tn, id, tk string) {
				mu.Lock()
				toks = append(toks, tok{tn, id, tk})
				mu.Unlock()
			}
			pickTok := func(r *rand.Rand) (tok, bool) {
				mu.Lock()
				defer mu.Unlock()
				if len(toks) == 0 {
					return tok{}, false
				}
				return toks[r.IntN(len(toks))], true
			}
			deadline := time.Now().Add(3 * time.Second)
			var wg sync.WaitGroup
			for g := range 6 {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(g), 7))
					for time.Now().Before(deadline) {
						tn := tenants[r.IntN(2)]
						in := input("")
						in.TenantID = tn
						in.Invitee = ivs[r.IntN(len(ivs))]
						in.ExpiresIn = time.Duration(1+r.IntN(3)) * time.Hour
						switch op := r.IntN(12); op {
						case 0, 1:
							in.Supersede = op == 1
							res, err := e.m.Create(e.ctx(), in)
							if err == nil {
								addTok(tn, res.Invitation.ID, res.Token.Reveal())
							}
						case 2:
							res, err := e.m.Upsert(e.ctx(), in)
							if err == nil && res.Created {
								addTok(tn, res.Invitation.ID, res.Token.Reveal())
							}
						case 3, 4:
							tk, ok := pickTok(r)
							if !ok {
								continue
							}
							subj := fmt.Sprint("s", r.IntN(2))
							if in.Invitee.UserID != "" {
								subj = "u-1"
							}
							acc, err := e.m.Accept(e.ctx(), tk.token, invite.AcceptInput{Subject: subj})
							if err == nil {
								if acc.Invitation.ID != tk.id {
									fail("accept of %s returned %s", tk.id, acc.Invitation.ID)
								}
								if acc.Invitation.AcceptedBy != subj {
									fail("accept by %s returned AcceptedBy %s", subj, acc.Invitation.AcceptedBy)
								}
								if !acc.Replayed {
									mu.Lock()
									if prev, ok := fresh[tk.id]; ok {
										failures = append(failures, fmt.Sprintf("%s accepted twice (%s, %s)", tk.id, prev, subj))
									}
									fresh[tk.id] = subj
									mu.Unlock()
								}
							}
						case 5:
							tk, ok := pickTok(r)
							if !ok {
								continue
							}
							res, err := e.m.Resend(e.ctx(), tk.tenant, tk.id, invite.ResendOptions{Delivery: invite.DeliveryReturn})
							if err == nil {
								addTok(tk.tenant, tk.id, res.Token.Reveal())
							}
						case 6:
							tk, ok := pickTok(r)
							if ok {
								_, _ = e.m.Revoke(e.ctx(), tk.tenant, tk.id, "")
							}
						case 7:
							tk, ok := pickTok(r)
							if ok {
								_ = e.m.Delete(e.ctx(), tk.tenant, tk.id, 0)
							}
						case 8:
							_, _ = e.m.ExpireDue(e.ctx(), 50)
						case 9:
							_, _ = e.m.Purge(e.ctx(), 30*time.Minute, 50)
						case 10:
							if r.IntN(8) == 0 {
								e.clock.Advance(time.Duration(r.IntN(20)) * time.Minute)
							}
						case 11:
							tk, ok := pickTok(r)
							if ok {
								inv, err := e.m.Lookup(e.ctx(), tk.token)
								if err == nil && inv.ID != tk.id {
									fail("lookup of %s returned %s", tk.id, inv.ID)
								}
								if ok2 := tk.tenant; ok2 != "" {
									other := "t1"
									if tk.tenant == "t1" {
										other = "t2"
									}
									if _, err := e.m.Get(e.ctx(), other, tk.id); !errors.Is(err, invite.ErrNotFound) {
										fail("tenant isolation: %v", err)
									}
								}
							}
						}
					}
				})
			}
			wg.Wait()
			require.Empty(t, failures)
			// Invariants over the store.
			for _, tn := range tenants {
				page, err := e.m.List(e.ctx(), tn, invite.ListOptions{Filter: invite.Filter{States: invite.States}, Limit: invite.MaxPageSize})
				require.NoError(t, err)
				seen := map[string]string{}
				for _, inv := range page.Invitations {
					rec := e.record(tn, inv.ID)
					if rec.Invitation.State.Open() {
						for _, k := range rec.Invitation.Invitee.Keys() {
							if prev, ok := seen[k]; ok {
								t.Fatalf("two open invitations %s and %s share %s", prev, inv.ID, k)
							}
							seen[k] = inv.ID
						}
						open, err := e.mem.FindOpen(e.ctx(), tn, rec.Invitation.Invitee)
						require.NoError(t, err)
						require.Len(t, open, 1)
						require.Equal(t, inv.ID, open[0].Invitation.ID)
					}
					byTok, err := e.mem.GetByTokenHash(e.ctx(), rec.Credentials.TokenHash)
					require.NoError(t, err)
					require.Equal(t, inv.ID, byTok.Invitation.ID)
					for _, p := range rec.Credentials.PreviousTokens {
						byTok, err := e.mem.GetByTokenHash(e.ctx(), p.Hash)
						require.NoError(t, err)
						require.Equal(t, inv.ID, byTok.Invitation.ID)
					}
					if rec.Invitation.State == invite.StateAccepted {
						mu.Lock()
						s, ok := fresh[inv.ID]
						mu.Unlock()
						require.True(t, ok, "accepted %s without a fresh accept seen", inv.ID)
						require.Equal(t, s, rec.Invitation.AcceptedBy)
					}
				}
			}
			// Every token we minted either finds its own record or nothing.
			for _, tk := range toks {
				inv, err := e.m.Lookup(e.ctx(), tk.token)
				if err == nil {
					require.Equal(t, tk.id, inv.ID)
				}
			}
			t.Logf("%d tokens, %d accepted", len(toks), len(fresh))
		})
	}
}
