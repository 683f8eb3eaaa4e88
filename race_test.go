package invite_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// A lapsed (open but past expiry) invitation never blocks a Create. When
// ExpireDue closes it while the Create is between its first Apply and its
// FindOpen, the Create must still succeed.
func TestRaceCreateVsExpireDueOfLapsedBlocker(t *testing.T) {
	e := newEnv(t)
	fails := 0
	const rounds = 300
	for r := range rounds {
		email := fmt.Sprintf("u%d@example.com", r)
		in := input(email)
		in.ExpiresIn = time.Hour
		e.create(in)
		e.clock.Advance(2 * time.Hour) // the first one lapses
		var cerr error
		concurrently(func() {
			_, cerr = e.m.Create(e.ctx(), input(email))
		}, func() {
			_, _ = e.m.ExpireDue(e.ctx(), 10)
		})
		if cerr != nil {
			fails++
			if fails <= 3 {
				t.Logf("round %d: Create failed: %v", r, cerr)
			}
		}
	}
	require.Zero(t, fails, "Create refused although its only blocker was lapsed (%d/%d rounds)", fails, rounds)
}

// Create with Supersede must succeed whatever happens to the live blocker
// meanwhile (accepted, revoked, deleted).
func TestRaceSupersedeVsAcceptOfBlocker(t *testing.T) {
	for _, racer := range []string{"accept", "revoke", "delete"} {
		t.Run(racer, func(t *testing.T) {
			e := newEnv(t)
			fails := 0
			const rounds = 300
			for r := range rounds {
				email := fmt.Sprintf("u%d@example.com", r)
				old := e.create(input(email))
				var cerr, aerr error
				concurrently(func() {
					in := input(email)
					in.Supersede = true
					_, cerr = e.m.Create(e.ctx(), in)
				}, func() {
					switch racer {
					case "accept":
						_, aerr = e.m.Accept(e.ctx(), old.Token.Reveal(), invite.AcceptInput{Subject: "s"})
					case "revoke":
						_, _ = e.m.Revoke(e.ctx(), "t1", old.Invitation.ID, "")
					case "delete":
						_ = e.m.Delete(e.ctx(), "t1", old.Invitation.ID, 0)
					}
				})
				if racer == "accept" {
					st := e.get("t1", old.Invitation.ID).State
					if aerr == nil {
						require.Equal(t, invite.StateAccepted, st, "round %d", r)
					} else {
						require.Equal(t, invite.StateRevoked, st, "round %d: %v", r, aerr)
					}
				}
				if cerr != nil {
					fails++
					if fails <= 3 {
						t.Logf("round %d: Create(Supersede) failed: %v", r, cerr)
					}
				}
			}
			require.Zero(t, fails, "Create with Supersede failed (%d/%d rounds)", fails, rounds)
		})
	}
}

// Parallel short-code guesses, one of them right, answered through
// VerifyCode or AcceptCode with a wrong email (RequireEmailMatch): every
// answer other than ErrCodeLocked (and ErrConflict, a lost race) is a
// committed write against the version it was computed from, wrong guesses
// and the right one alike, so the Version grows by exactly the number of
// answers and a burst cannot learn more than the limit allows. (The right
// guess answered ErrEmailMismatch without a write, from a version the
// wrong guesses had since locked.)
func TestRaceEveryCodeAnswerIsCommitted(t *testing.T) {
	const rounds, guessers = 20, 30
	for _, mode := range []string{"verify", "accept-wrong-email"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			for r := range rounds {
				in := codeInput(fmt.Sprintf("u%d@example.com", r), "")
				in.RequireEmailMatch = true
				res := e.create(in)
				code := res.Code.Reveal()
				ref := invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}
				v0 := e.get("t1", res.Invitation.ID).Version
				right := rand.IntN(guessers)
				errs := make([]error, guessers)
				inParallel(guessers, func(i int) {
					guess := code
					if i != right {
						guess = wrongCode(code, i)
					}
					if mode == "verify" {
						_, errs[i] = e.m.VerifyCode(e.ctx(), ref, guess)
					} else {
						_, errs[i] = e.m.AcceptCode(e.ctx(), ref, guess, invite.AcceptInput{Subject: "attacker", Email: "attacker@evil.example"})
					}
				})
				answered := 0
				for _, err := range errs {
					if !errors.Is(err, invite.ErrCodeLocked) && !errors.Is(err, invite.ErrConflict) {
						answered++
					}
				}
				rec := e.record("t1", res.Invitation.ID)
				require.Equal(t, 5, rec.Credentials.CodeFailures, "round %d: the limit is spent", r)
				require.Equal(t, v0+int64(answered), rec.Invitation.Version, "round %d: an answer was given without a committed write", r)
			}
		})
	}
}

// Replays of an acceptance by its subject through the short code write
// nothing: parallel replays all succeed, and the Version stays that of the
// acceptance.
func TestRaceParallelAcceptCodeReplays(t *testing.T) {
	e := newEnv(t)
	res := e.create(codeInput("ada@example.com", ""))
	ref := invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}
	acc, err := e.m.AcceptCode(e.ctx(), ref, res.Code.Reveal(), invite.AcceptInput{Subject: "u1"})
	require.NoError(t, err)
	const n = 24
	accs := make([]*invite.Acceptance, n)
	errs := make([]error, n)
	inParallel(n, func(i int) {
		accs[i], errs[i] = e.m.AcceptCode(e.ctx(), ref, res.Code.Reveal(), invite.AcceptInput{Subject: "u1"})
	})
	for i, err := range errs {
		require.NoError(t, err, "replay %d", i)
		require.True(t, accs[i].Replayed)
		require.Equal(t, acc.Invitation.Version, accs[i].Invitation.Version)
	}
	require.Equal(t, acc.Invitation.Version, e.get("t1", res.Invitation.ID).Version)
}

// Accept with the old token races Resend (which rotates the token): either
// the accept wins (Resend then fails) or the rotation wins (the old token
// is dead, the new one accepts). Never both, never neither.
func TestRaceAcceptVsResend(t *testing.T) {
	for _, keep := range []bool{false, true} {
		for _, events := range []bool{true, false} {
			t.Run(fmt.Sprintf("keep=%v/events=%v", keep, events), func(t *testing.T) {
				e := newEnv(t, func(c *invite.Config) {
					c.KeepPreviousTokens = keep
					if !events {
						c.EventSink = nil
					}
				})
				for r := range 200 {
					res := e.create(input(fmt.Sprintf("u%d@example.com", r)))
					var acc *invite.Acceptance
					var aerr, rerr error
					var rs *invite.Result
					concurrently(func() {
						acc, aerr = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "s1"})
					}, func() {
						rs, rerr = e.m.Resend(e.ctx(), "t1", res.Invitation.ID, invite.ResendOptions{Delivery: invite.DeliveryReturn})
					})
					final := e.get("t1", res.Invitation.ID)
					switch {
					case aerr == nil && rerr == nil:
						// accept after resend: allowed only with keep (old token valid)
						require.True(t, keep, "round %d: old token accepted after rotation", r)
						require.Equal(t, invite.StateAccepted, final.State)
						require.Greater(t, acc.Invitation.Version, rs.Invitation.Version)
					case aerr == nil:
						requireTransition(t, rerr, invite.StateAccepted)
						require.Equal(t, invite.StateAccepted, final.State)
						require.Equal(t, "s1", final.AcceptedBy)
					case rerr == nil:
						require.False(t, keep, "round %d: with keep the old token must still work: %v", r, aerr)
						require.ErrorIs(t, aerr, invite.ErrInvalidToken, "round %d", r)
						// the new token works
						a2, err := e.m.Accept(e.ctx(), rs.Token.Reveal(), invite.AcceptInput{Subject: "s2"})
						require.NoError(t, err, "round %d: new token dead", r)
						require.False(t, a2.Replayed)
					default:
						t.Fatalf("round %d: both failed: %v / %v", r, aerr, rerr)
					}
					// Replay by the same subject is idempotent; another subject is refused.
					final = e.get("t1", res.Invitation.ID)
					require.Equal(t, invite.StateAccepted, final.State)
				}
			})
		}
	}
}

// Upserts for overlapping invitee keys (email only, phone only, both) in
// parallel: at no point may two open invitations share a key.
func TestRaceUpsertOverlappingKeys(t *testing.T) {
	e := newEnv(t)
	ivs := []invite.Invitee{{Email: "a@example.com"}, {Phone: "+4930123456"}, {Email: "a@example.com", Phone: "+4930123456"}, {Email: "A@Example.com"}}
	for r := range 60 {
		inParallel(8, func(i int) {
			in := input("")
			in.Invitee = ivs[i%len(ivs)]
			in.Data = map[string]string{"r": fmt.Sprint(r)}
			_, err := e.m.Upsert(e.ctx(), in)
			if err != nil && !errors.Is(err, invite.ErrConflict) && !errors.Is(err, invite.ErrAlreadyExists) {
				t.Errorf("upsert: %v", err)
			}
		})
		page, err := e.m.List(e.ctx(), "t1", invite.ListOptions{Filter: invite.Filter{States: []invite.State{invite.StatePending, invite.StateSent}}, Limit: 1000})
		require.NoError(t, err)
		seen := map[string]string{}
		for _, inv := range page.Invitations {
			for _, k := range inv.Invitee.Keys() {
				if prev, ok := seen[k]; ok {
					t.Fatalf("round %d: two open invitations %s and %s share %v", r, prev, inv.ID, k)
				}
				seen[k] = inv.ID
			}
		}
		// close them all for the next round, alternating ways
		for j, inv := range page.Invitations {
			if j%2 == 0 {
				_, _ = e.m.Revoke(e.ctx(), "t1", inv.ID, "")
			} else {
				_ = e.m.Delete(e.ctx(), "t1", inv.ID, 0)
			}
		}
	}
}

// ExpireDue racing Accept at the expiry boundary: an accepted invitation
// never ends up expired and vice versa; exactly one close.
func TestRaceExpireDueVsAccept(t *testing.T) {
	e := newEnv(t)
	for r := range 200 {
		in := input(fmt.Sprintf("u%d@example.com", r))
		in.ExpiresIn = time.Hour
		res := e.create(in)
		// One goroutine accepts, the other advances the clock past the expiry and runs ExpireDue.
		var aerr error
		var acc *invite.Acceptance
		var n int
		concurrently(func() {
			acc, aerr = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "s"})
		}, func() {
			e.clock.Advance(time.Hour)
			n, _ = e.m.ExpireDue(e.ctx(), 100)
		})
		final := e.record("t1", res.Invitation.ID)
		if aerr == nil {
			require.Equal(t, invite.StateAccepted, final.Invitation.State, "round %d", r)
			require.Zero(t, n)
			require.Equal(t, acc.Invitation.Version, final.Invitation.Version)
		} else {
			require.ErrorIs(t, aerr, invite.ErrExpired, "round %d", r)
			require.Equal(t, invite.StateExpired, final.Invitation.State, "round %d", r)
		}
	}
}

// Purge racing Accept replays and Gets: no panics, no half state; a Get
// either finds the record whole or ErrNotFound.
func TestRacePurgeVsAcceptAndGet(t *testing.T) {
	e := newEnv(t)
	type item struct {
		id, tok string
	}
	var items []item
	for r := range 300 {
		res := e.create(input(fmt.Sprintf("u%d@example.com", r)))
		items = append(items, item{res.Invitation.ID, res.Token.Reveal()})
	}
	for _, it := range items[:150] {
		_, err := e.m.Accept(e.ctx(), it.tok, invite.AcceptInput{Subject: "s"})
		require.NoError(t, err)
	}
	e.clock.Advance(time.Minute)
	// One purger, and two acceptors taking every other item.
	inParallel(3, func(g int) {
		if g == 2 {
			for range 20 {
				_, err := e.m.Purge(e.ctx(), 0, 10)
				assert.NoError(t, err)
			}
			return
		}
		for i, it := range items {
			if i%2 != g {
				continue
			}
			acc, err := e.m.Accept(e.ctx(), it.tok, invite.AcceptInput{Subject: "s"})
			switch {
			case err == nil:
				assert.Equal(t, it.id, acc.Invitation.ID)
				assert.Equal(t, "s", acc.Invitation.AcceptedBy)
			case i < 150:
				assert.ErrorIs(t, err, invite.ErrInvalidToken, "purged")
			default:
				t.Errorf("accept of open %d: %v", i, err)
			}
			inv, err := e.m.Get(e.ctx(), "t1", it.id)
			if err == nil {
				assert.Equal(t, it.id, inv.ID)
			} else {
				assert.ErrorIs(t, err, invite.ErrNotFound)
			}
		}
	})
}

// Parallel VerifyCode calls with the correct code (a double click, a
// retrying client) all succeed: each is a guard write, and a call that
// loses the race re-reads and tries again. With n callers each conflict is
// another caller's success, so a caller loses at most n-1 times: nine
// callers fit the Manager's retry bound (eight retries).
func TestRaceParallelCorrectVerifyCode(t *testing.T) {
	e := newEnv(t)
	res := e.create(codeInput("ada@example.com", ""))
	ref := invite.CodeRef{TenantID: "t1", InvitationID: res.Invitation.ID}
	const n = 9
	errs := make([]error, n)
	inParallel(n, func(i int) {
		_, errs[i] = e.m.VerifyCode(e.ctx(), ref, res.Code.Reveal())
	})
	bad := 0
	for _, err := range errs {
		if err != nil {
			bad++
			t.Logf("VerifyCode with the correct code: %v", err)
		}
	}
	require.Zero(t, bad)
}

// Accept racing Delete: the accept either wins, or answers as for an
// unknown token (ErrInvalidToken), as documented for Accept.
func TestRaceAcceptVsDeleteError(t *testing.T) {
	e := newEnv(t)
	seen := map[string]int{}
	for r := range 300 {
		res := e.create(input(fmt.Sprintf("u%d@example.com", r)))
		var aerr error
		concurrently(func() {
			_, aerr = e.m.Accept(e.ctx(), res.Token.Reveal(), invite.AcceptInput{Subject: "s"})
		}, func() {
			assert.NoError(t, e.m.Delete(e.ctx(), "t1", res.Invitation.ID, 0))
		})
		switch {
		case aerr == nil:
			seen["ok"]++
		case errors.Is(aerr, invite.ErrInvalidToken):
			seen["invalid token"]++
		default:
			seen[aerr.Error()]++
		}
	}
	t.Logf("%v", seen)
	for k := range seen {
		require.Contains(t, []string{"ok", "invalid token"}, k)
	}
}

func TestRaceCreateBatchDuplicatesConcurrent(t *testing.T) {
	e := newEnv(t)
	for r := range 50 {
		email := fmt.Sprintf("u%d@example.com", r)
		outs := make([][]invite.BatchItem, 3)
		inParallel(3, func(g int) {
			ins := []invite.CreateInput{input(email), input(email), input(strings.ToUpper(email))}
			if g == 2 {
				for i := range ins {
					ins[i].Supersede = true
				}
			}
			var err error
			outs[g], err = e.m.CreateBatch(e.ctx(), ins)
			assert.NoError(t, err)
		})
		open, err := e.mem.FindOpen(e.ctx(), "t1", invite.Invitee{Email: email})
		require.NoError(t, err)
		require.Len(t, open, 1, "round %d", r)
		// the open one's token works; exactly one successful item has it
		n := 0
		for _, out := range outs {
			for _, it := range out {
				if it.Err == nil && it.Result.Invitation.ID == open[0].Invitation.ID {
					n++
					_, err := e.m.Lookup(e.ctx(), it.Result.Token.Reveal())
					require.NoError(t, err)
				} else if it.Err != nil {
					require.True(t, errors.Is(it.Err, invite.ErrAlreadyExists) || errors.Is(it.Err, invite.ErrConflict), "%v", it.Err)
				}
			}
		}
		require.Equal(t, 1, n)
	}
}

// Upserts racing for overlapping invitees answer only with success or
// ErrConflict.
func TestRaceUpsertErrorKinds(t *testing.T) {
	e := newEnv(t)
	ivs := []invite.Invitee{{Email: "a@example.com"}, {Phone: "+4930123456"}, {Email: "a@example.com", Phone: "+4930123456"}}
	kinds := map[string]int{}
	var mu sync.Mutex
	for r := range 100 {
		inParallel(6, func(i int) {
			in := input("")
			in.Invitee = ivs[i%len(ivs)]
			_, err := e.m.Upsert(e.ctx(), in)
			mu.Lock()
			switch {
			case err == nil:
				kinds["ok"]++
			case errors.Is(err, invite.ErrConflict):
				kinds["conflict"]++
			default:
				kinds[err.Error()]++
			}
			mu.Unlock()
		})
		page, _ := e.m.List(e.ctx(), "t1", invite.ListOptions{Limit: 1000})
		for _, inv := range page.Invitations {
			_ = e.m.Delete(e.ctx(), "t1", inv.ID, 0)
		}
		_ = r
	}
	t.Logf("%v", kinds)
	// Racing upserts for overlapping invitees succeed, or find the
	// invitee's keys on two open invitations (ErrConflict); nothing else.
	for k := range kinds {
		require.Contains(t, []string{"ok", "conflict"}, k)
	}
}
