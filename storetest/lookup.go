package storetest

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

func (s *suite) testTokenHash(t *testing.T) {
	t.Run("Current", func(t *testing.T) {
		st := s.store(t)
		a, b := fullRecord(tenantA), newRecord(tenantB)
		mustInsert(t, st, a, b)
		requireTokenFinds(t, st, a.Credentials.TokenHash, a)
		requireTokenFinds(t, st, b.Credentials.TokenHash, b)
	})

	t.Run("Previous", func(t *testing.T) {
		st := s.store(t)
		a := fullRecord(tenantA)
		// The store does not judge expiry: a previous token past its own
		// ExpiresAt is still found (the Manager reads it as expired).
		a.Credentials.PreviousTokens = append(a.Credentials.PreviousTokens,
			invite.PreviousToken{Hash: newHash(), ExpiresAt: base.Add(-time.Hour)})
		mustInsert(t, st, a)
		for _, p := range a.Credentials.PreviousTokens {
			requireTokenFinds(t, st, p.Hash, a)
		}
	})

	t.Run("ClosedRecord", func(t *testing.T) {
		st := s.store(t)
		a := closedRecord(tenantA)
		mustInsert(t, st, a)
		requireTokenFinds(t, st, a.Credentials.TokenHash, a)
		requireTokenFinds(t, st, a.Credentials.PreviousTokens[0].Hash, a)
	})

	t.Run("Unknown", func(t *testing.T) {
		st := s.store(t)
		mustInsert(t, st, fullRecord(tenantA))
		requireTokenNotFound(t, st, newHash())
		requireTokenNotFound(t, st, invite.TokenHash{})
	})

	t.Run("Rotation", func(t *testing.T) {
		st := s.store(t)
		v1 := newRecord(tenantA)
		mustInsert(t, st, v1)
		h1 := v1.Credentials.TokenHash

		// Resend keeping the previous token: both work.
		h2 := newHash()
		v2 := next(v1, func(r *invite.Record) {
			r.Credentials.TokenHash = h2
			r.Credentials.PreviousTokens = []invite.PreviousToken{{Hash: h1, ExpiresAt: v1.Invitation.ExpiresAt}}
		})
		mustApply(t, st, upd(v2, 1))
		requireTokenFinds(t, st, h2, v2)
		requireTokenFinds(t, st, h1, v2)

		// Resend dropping it: h1 is gone, h2 became previous.
		h3 := newHash()
		v3 := next(v2, func(r *invite.Record) {
			r.Credentials.TokenHash = h3
			r.Credentials.PreviousTokens = []invite.PreviousToken{{Hash: h2, ExpiresAt: v2.Invitation.ExpiresAt}}
		})
		mustApply(t, st, upd(v3, 2))
		requireTokenNotFound(t, st, h1)
		requireTokenFinds(t, st, h2, v3)
		requireTokenFinds(t, st, h3, v3)

		// Resend without keeping: only the newest works.
		h4 := newHash()
		v4 := next(v3, func(r *invite.Record) {
			r.Credentials.TokenHash = h4
			r.Credentials.PreviousTokens = nil
		})
		mustApply(t, st, upd(v4, 3))
		for _, h := range []invite.TokenHash{h1, h2, h3} {
			requireTokenNotFound(t, st, h)
		}
		requireTokenFinds(t, st, h4, v4)

		// A dropped hash belongs to no record: another record may take it.
		taker := newRecord(tenantA, previous(h2), func(r *invite.Record) { r.Credentials.TokenHash = h1 })
		mustInsert(t, st, taker)
		requireTokenFinds(t, st, h1, taker)
		requireTokenFinds(t, st, h2, taker)
		requireTokenFinds(t, st, h4, v4)
	})

	// A batch that deletes a record and gives its token hash to a new one
	// (in the same tenant, or another) is atomic for readers too: while
	// such batches commit one after another, a read of the hash always
	// finds the record holding it before or after a batch, never nothing.
	t.Run("HandoverWhileReading", func(t *testing.T) {
		st := s.store(t)
		holder := newRecord(tenantA)
		mustInsert(t, st, holder)
		h := holder.Credentials.TokenHash
		var mu sync.Mutex
		holders := map[string]bool{holder.Invitation.ID: true}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var misses, reads atomic.Int64
		var wrong atomic.Value
		for range 2 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					got, err := st.GetByTokenHash(t.Context(), h)
					reads.Add(1)
					if err != nil {
						misses.Add(1)
						continue
					}
					mu.Lock()
					ok := holders[got.Invitation.ID]
					mu.Unlock()
					if !ok || !holdsHash(got, h) {
						wrong.Store(got.Invitation.ID)
					}
				}
			})
		}
		for round := range s.opts.ConcurrentRounds * 10 {
			tenant := tenantA
			if round%2 == 1 {
				tenant = tenantB
			}
			taker := newRecord(tenant, func(r *invite.Record) { r.Credentials.TokenHash = h })
			mu.Lock()
			holders[taker.Invitation.ID] = true
			mu.Unlock()
			if err := apply(t, st, del(holder), ins(taker)); err != nil {
				close(stop)
				wg.Wait()
				t.Fatalf("round %d: handing the hash over: %v", round, err)
			}
			holder = taker
		}
		close(stop)
		wg.Wait()
		require.Zero(t, misses.Load(), "of %d reads during handovers, some found no record", reads.Load())
		require.Nil(t, wrong.Load(), "a read returned a record that never held the hash")
		requireTokenFinds(t, st, h, holder)
	})
}

func (s *suite) testFindOpen(t *testing.T) {
	t.Run("OldestFirst", func(t *testing.T) {
		st := s.store(t)
		// Inserted newest first; distinct keys of one invitee.
		iv := invite.Invitee{Email: newEmail(), Phone: newPhone(), UserID: "user-" + newID()}
		byUser := newRecord(tenantA, invitee(invite.Invitee{UserID: iv.UserID}), created(base.Add(3*time.Second)))
		byEmail := newRecord(tenantA, invitee(invite.Invitee{Email: iv.Email}), created(base.Add(2*time.Second)))
		byPhone := newRecord(tenantA, invitee(invite.Invitee{Phone: iv.Phone}), created(base.Add(time.Second)))
		mustInsert(t, st, byUser, byEmail, byPhone)
		requireOpen(t, st, tenantA, iv, byPhone, byEmail, byUser)
		requireOpen(t, st, tenantA, invite.Invitee{Email: iv.Email, UserID: iv.UserID}, byEmail, byUser)
		requireOpen(t, st, tenantA, invite.Invitee{Phone: iv.Phone}, byPhone)
	})

	t.Run("NoDuplicates", func(t *testing.T) {
		st := s.store(t)
		iv := invite.Invitee{Email: "Dup.Key@Example.com", Phone: newPhone(), UserID: "user-" + newID()}
		rec := newRecord(tenantA, invitee(iv))
		mustInsert(t, st, rec)
		requireOpen(t, st, tenantA, iv, rec)
		requireOpen(t, st, tenantA, invite.Invitee{Email: "dup.key@example.COM", Phone: iv.Phone}, rec)
	})

	t.Run("ExcludesClosed", func(t *testing.T) {
		st := s.store(t)
		iv := invite.Invitee{Email: newEmail(), Phone: newPhone(), UserID: "user-" + newID()}
		var closed []*invite.Record
		for i, cs := range []invite.State{invite.StateAccepted, invite.StateRejected, invite.StateRevoked, invite.StateExpired} {
			closed = append(closed, newRecord(tenantA, invitee(iv), state(cs), created(base.Add(time.Duration(i)*time.Second))))
		}
		mustInsert(t, st, closed...)
		requireOpen(t, st, tenantA, iv)
		live := newRecord(tenantA, invitee(iv), state(invite.StateSent), created(base.Add(time.Minute)))
		mustInsert(t, st, live)
		requireOpen(t, st, tenantA, iv, live)
	})

	t.Run("IncludesPastExpiry", func(t *testing.T) {
		st := s.store(t)
		rec := newRecord(tenantA, created(base.Add(-10*24*time.Hour)), expires(base.Add(-3*24*time.Hour)))
		mustInsert(t, st, rec)
		requireOpen(t, st, tenantA, rec.Invitation.Invitee, rec)
	})

	t.Run("EmailCaseInsensitive", func(t *testing.T) {
		st := s.store(t)
		rec := newRecord(tenantA, email("Mixed.Case@Example.COM"))
		mustInsert(t, st, rec)
		requireOpen(t, st, tenantA, invite.Invitee{Email: "mixed.case@example.com"}, rec)
		requireOpen(t, st, tenantA, invite.Invitee{Email: "MIXED.CASE@EXAMPLE.COM"}, rec)
	})

	t.Run("NoMatch", func(t *testing.T) {
		st := s.store(t)
		rec := newRecord(tenantA, invitee(invite.Invitee{Email: "alice@example.com", Phone: newPhone(), UserID: "alice"}))
		mustInsert(t, st, rec)
		requireOpen(t, st, tenantA, invite.Invitee{Email: "alice@example.org"})
		requireOpen(t, st, tenantA, invite.Invitee{Email: "alice"})              // an email is not a user id
		requireOpen(t, st, tenantA, invite.Invitee{UserID: "alice@example.com"}) // nor the reverse
		requireOpen(t, st, tenantA, invite.Invitee{Phone: strings.Replace(rec.Invitation.Invitee.Phone, "+1", "+2", 1)})
		requireOpen(t, st, tenantA, invite.Invitee{}) // no keys, no match
	})
}

// holdsHash reports whether h is r's current or a previous token hash.
func holdsHash(r *invite.Record, h invite.TokenHash) bool {
	if r.Credentials.TokenHash == h {
		return true
	}
	for _, p := range r.Credentials.PreviousTokens {
		if p.Hash == h {
			return true
		}
	}
	return false
}
