package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/invitekit/invite"
	"github.com/stretchr/testify/require"
)

func (s *suite) testUniqueness(t *testing.T) {
	t.Run("Insert", s.testInsertUniqueness)
	t.Run("Update", s.testUpdateUniqueness)
	t.Run("CloseAndInsertInOneBatch", func(t *testing.T) {
		for _, to := range []invite.State{invite.StateExpired, invite.StateRevoked} {
			t.Run(string(to), func(t *testing.T) {
				st := s.store(t)
				iv := invite.Invitee{Email: newEmail(), Phone: newPhone()}
				old := newRecord(tenantA, invitee(iv), expires(base.Add(time.Hour)))
				mustInsert(t, st, old)
				closed := next(old, state(to, base.Add(2*time.Hour)))
				fresh := newRecord(tenantA, invitee(invite.Invitee{Email: strings.ToUpper(iv.Email)}), created(base.Add(2*time.Hour)))
				mustApply(t, st, upd(closed, 1), ins(fresh))
				requireStored(t, st, closed)
				requireStored(t, st, fresh)
				requireOpen(t, st, tenantA, iv, fresh)
			})
		}
	})
	t.Run("HandOverInOneBatch", func(t *testing.T) {
		// Writes apply in order: what an earlier write of the batch releases,
		// a later one may take.
		for _, tc := range []struct {
			name string
			// release returns the write that frees old's keys and the record
			// taking them over from old.
			release func(old *invite.Record) (invite.Write, *invite.Record)
		}{
			{"TokenHashOfDeleted", func(old *invite.Record) (invite.Write, *invite.Record) {
				return del(old), newRecord(tenantA, previous(old.Credentials.PreviousTokens[0].Hash),
					func(r *invite.Record) { r.Credentials.TokenHash = old.Credentials.TokenHash })
			}},
			{"TokenHashRotatedAway", func(old *invite.Record) (invite.Write, *invite.Record) {
				rotated := next(old, func(r *invite.Record) {
					r.Credentials.TokenHash, r.Credentials.PreviousTokens = newHash(), nil
				})
				return upd(rotated, 1), newRecord(tenantB, func(r *invite.Record) { r.Credentials.TokenHash = old.Credentials.TokenHash })
			}},
			{"IdempotencyKeyOfDeleted", func(old *invite.Record) (invite.Write, *invite.Record) {
				return del(old), newRecord(tenantA, idemKey(old.Invitation.IdempotencyKey))
			}},
			{"InviteeOfDeleted", func(old *invite.Record) (invite.Write, *invite.Record) {
				return del(old), newRecord(tenantA, invitee(old.Invitation.Invitee))
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st := s.store(t)
				old := newRecord(tenantA, idemKey("handed-over"), previous(newHash()))
				mustInsert(t, st, old)
				w, taker := tc.release(old)

				// Rolled back, the hand-over leaves old with all it had.
				missing := upd(next(newRecord(tenantA)), 1)
				require.ErrorIs(t, apply(t, st, w, ins(taker), missing), invite.ErrNotFound, "Apply with a failing last write")
				requireStored(t, st, old)
				requireTokenFinds(t, st, old.Credentials.TokenHash, old)
				requireTokenFinds(t, st, old.Credentials.PreviousTokens[0].Hash, old)
				requireOpen(t, st, tenantA, old.Invitation.Invitee, old)
				requireGone(t, st, taker)

				mustApply(t, st, w, ins(taker))
				requireStored(t, st, taker)
				requireTokenFinds(t, st, taker.Credentials.TokenHash, taker)
			})
		}
	})
	t.Run("Concurrent", s.testConcurrentInserts)
}

func (s *suite) testInsertUniqueness(t *testing.T) {
	sharedEmail := "Ann.Lee@Example.com"
	type tc struct {
		name   string
		first  func() *invite.Record
		second func(first *invite.Record) *invite.Record
		// exists: the second insert must fail with ErrAlreadyExists.
		exists bool
	}
	open := func() *invite.Record {
		return newRecord(tenantA, invitee(invite.Invitee{Email: sharedEmail, Phone: newPhone(), UserID: "user-" + newID()}),
			previous(newHash(), newHash()), func(r *invite.Record) { r.Invitation.IdempotencyKey = "key-" + r.Invitation.ID })
	}
	closedAs := func(st invite.State) func() *invite.Record {
		return func() *invite.Record {
			r := open()
			state(st)(r)
			return r
		}
	}
	cases := []tc{
		{name: "SameID", first: open, exists: true, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantA, func(r *invite.Record) { r.Invitation.ID = f.Invitation.ID })
		}},
		{name: "SameIDOfClosedRecord", first: closedAs(invite.StateAccepted), exists: true, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantA, func(r *invite.Record) { r.Invitation.ID = f.Invitation.ID })
		}},
		{name: "TokenHashIsCurrentOfAnother", first: open, exists: true, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantA, func(r *invite.Record) { r.Credentials.TokenHash = f.Credentials.TokenHash })
		}},
		{name: "TokenHashIsCurrentOfAnotherTenant", first: open, exists: true, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantB, func(r *invite.Record) { r.Credentials.TokenHash = f.Credentials.TokenHash })
		}},
		{name: "TokenHashIsPreviousOfAnother", first: open, exists: true, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantA, func(r *invite.Record) { r.Credentials.TokenHash = f.Credentials.PreviousTokens[1].Hash })
		}},
		{name: "PreviousIsCurrentOfAnother", first: open, exists: true, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantA, previous(newHash(), f.Credentials.TokenHash))
		}},
		{name: "PreviousIsPreviousOfAnother", first: open, exists: true, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantA, previous(f.Credentials.PreviousTokens[0].Hash))
		}},
		{name: "TokenHashOfClosedRecord", first: closedAs(invite.StateRevoked), exists: true, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantA, func(r *invite.Record) { r.Credentials.TokenHash = f.Credentials.TokenHash })
		}},
		{name: "IdempotencyKey", first: open, exists: true, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantA, idemKey(f.Invitation.IdempotencyKey))
		}},
		{name: "IdempotencyKeyOfClosedRecord", first: closedAs(invite.StateAccepted), exists: true, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantA, idemKey(f.Invitation.IdempotencyKey))
		}},
		{name: "IdempotencyKeyInAnotherTenant", first: open, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantB, idemKey(f.Invitation.IdempotencyKey))
		}},
		{name: "OpenEmail", first: open, exists: true, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantA, email(f.Invitation.Invitee.Email))
		}},
		{name: "OpenEmailOtherCase", first: open, exists: true, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantA, email("ann.lee@EXAMPLE.COM"))
		}},
		{name: "OpenPhone", first: open, exists: true, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantA, invitee(invite.Invitee{Phone: f.Invitation.Invitee.Phone}))
		}},
		{name: "OpenUserID", first: open, exists: true, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantA, invitee(invite.Invitee{UserID: f.Invitation.Invitee.UserID}))
		}},
		{name: "OneOfSeveralKeys", first: open, exists: true, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantA, invitee(invite.Invitee{Email: newEmail(), Phone: newPhone(), UserID: f.Invitation.Invitee.UserID}))
		}},
		{name: "OpenSentBlocksPending", first: func() *invite.Record { r := open(); state(invite.StateSent)(r); return r },
			exists: true, second: func(f *invite.Record) *invite.Record { return newRecord(tenantA, email(sharedEmail)) }},
		{name: "NewRecordSent", first: open, exists: true, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantA, email(sharedEmail), state(invite.StateSent))
		}},
		{name: "OpenPastExpiryStillBlocks", exists: true,
			first: func() *invite.Record {
				r := open()
				created(base.Add(-8 * 24 * time.Hour))(r)
				expires(base.Add(-24 * time.Hour))(r)
				return r
			},
			second: func(f *invite.Record) *invite.Record { return newRecord(tenantA, email(sharedEmail)) }},
		{name: "OpenEmailInAnotherTenant", first: open, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantB, invitee(f.Invitation.Invitee))
		}},
		{name: "NewRecordAccepted", first: open, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantA, invitee(f.Invitation.Invitee), state(invite.StateAccepted))
		}},
		{name: "NewRecordExpired", first: open, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantA, invitee(f.Invitation.Invitee), state(invite.StateExpired))
		}},
		{name: "DifferentKeys", first: open, second: func(f *invite.Record) *invite.Record {
			return newRecord(tenantA, invitee(invite.Invitee{Email: "ann.lee@example.org", Phone: newPhone(), UserID: "user-" + newID()}))
		}},
		{name: "UserIDEqualToAnotherEmail", first: open, second: func(f *invite.Record) *invite.Record {
			// Keys are per kind: a user id that reads like an email is not that email.
			return newRecord(tenantA, invitee(invite.Invitee{UserID: f.Invitation.Invitee.Email}))
		}},
		{name: "NoInviteeKeys", first: func() *invite.Record { return newRecord(tenantA, invitee(invite.Invitee{})) },
			second: func(f *invite.Record) *invite.Record { return newRecord(tenantA, invitee(invite.Invitee{})) }},
	}
	for _, st := range []invite.State{invite.StateAccepted, invite.StateRejected, invite.StateRevoked, invite.StateExpired} {
		cases = append(cases, tc{name: "FirstStored" + strings.ToUpper(string(st[:1])) + string(st[1:]), first: closedAs(st),
			second: func(f *invite.Record) *invite.Record { return newRecord(tenantA, invitee(f.Invitation.Invitee)) }})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := s.store(t)
			first := c.first()
			mustInsert(t, st, first)
			second := c.second(first)
			err := apply(t, st, ins(second))
			if c.exists {
				require.ErrorIs(t, err, invite.ErrAlreadyExists, "second insert")
				if second.Invitation.ID != first.Invitation.ID {
					requireGone(t, st, second)
				}
				requireTokenFinds(t, st, first.Credentials.TokenHash, first)
			} else {
				require.NoError(t, err, "second insert")
				requireStored(t, st, second)
				requireTokenFinds(t, st, second.Credentials.TokenHash, second)
			}
			requireStored(t, st, first)
		})
	}
}

func (s *suite) testUpdateUniqueness(t *testing.T) {
	type tc struct {
		name string
		// edit turns a copy of b into the update; a is the other record.
		edit   func(a, b *invite.Record) func(*invite.Record)
		exists bool
	}
	cases := []tc{
		{name: "ReopenWhileAnotherIsOpen", exists: true, edit: func(a, b *invite.Record) func(*invite.Record) {
			return func(r *invite.Record) {
				r.Invitation.State, r.Invitation.ClosedAt = invite.StatePending, time.Time{}
				r.Invitation.ExpiresAt = r.Invitation.ExpiresAt.Add(time.Hour)
			}
		}},
		{name: "TakeOpenEmail", exists: true, edit: func(a, b *invite.Record) func(*invite.Record) {
			return func(r *invite.Record) {
				r.Invitation.State, r.Invitation.ClosedAt = invite.StateSent, time.Time{}
				r.Invitation.Invitee = invite.Invitee{Email: strings.ToUpper(a.Invitation.Invitee.Email)}
			}
		}},
		{name: "TakeTokenHash", exists: true, edit: func(a, b *invite.Record) func(*invite.Record) {
			return func(r *invite.Record) { r.Credentials.TokenHash = a.Credentials.TokenHash }
		}},
		{name: "TakePreviousTokenHash", exists: true, edit: func(a, b *invite.Record) func(*invite.Record) {
			return func(r *invite.Record) {
				r.Credentials.PreviousTokens = append(r.Credentials.PreviousTokens,
					invite.PreviousToken{Hash: a.Credentials.PreviousTokens[0].Hash, ExpiresAt: base})
			}
		}},
		{name: "TakeIdempotencyKey", exists: true, edit: func(a, b *invite.Record) func(*invite.Record) {
			return idemKey(a.Invitation.IdempotencyKey)
		}},
		{name: "KeepOwnTokenAndKey", edit: func(a, b *invite.Record) func(*invite.Record) {
			return func(r *invite.Record) { r.Invitation.Roles = []string{"changed"} }
		}},
		{name: "StayClosedWithSharedKey", edit: func(a, b *invite.Record) func(*invite.Record) {
			return func(r *invite.Record) { r.Invitation.Reason = "still closed" }
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := s.store(t)
			iv := invite.Invitee{Email: newEmail(), Phone: newPhone()}
			a := newRecord(tenantA, invitee(iv), idemKey("key-a"), previous(newHash()))
			b := newRecord(tenantA, invitee(iv), idemKey("key-b"), previous(newHash()), state(invite.StateRevoked))
			mustInsert(t, st, a, b)
			u := next(b, c.edit(a, b))
			err := apply(t, st, upd(u, 1))
			if c.exists {
				require.ErrorIs(t, err, invite.ErrAlreadyExists, "update")
				requireStored(t, st, b)
				requireTokenFinds(t, st, b.Credentials.TokenHash, b)
			} else {
				require.NoError(t, err, "update")
				requireStored(t, st, u)
			}
			requireStored(t, st, a)
			requireTokenFinds(t, st, a.Credentials.TokenHash, a)
			requireOpen(t, st, tenantA, iv, a)
		})
	}

	t.Run("ChangeInviteeFreesOldKeys", func(t *testing.T) {
		st := s.store(t)
		oldIv, newIv := invite.Invitee{Email: newEmail(), Phone: newPhone()}, invite.Invitee{Email: newEmail()}
		a := newRecord(tenantA, invitee(oldIv))
		mustInsert(t, st, a)
		moved := next(a, invitee(newIv))
		mustApply(t, st, upd(moved, 1))
		requireOpen(t, st, tenantA, oldIv)
		requireOpen(t, st, tenantA, newIv, moved)
		taker := newRecord(tenantA, invitee(oldIv))
		mustInsert(t, st, taker)
		require.ErrorIs(t, apply(t, st, ins(newRecord(tenantA, invitee(newIv)))), invite.ErrAlreadyExists,
			"insert with the moved key")
	})

	t.Run("CloseFreesKeys", func(t *testing.T) {
		for _, to := range []invite.State{invite.StateAccepted, invite.StateRejected, invite.StateRevoked, invite.StateExpired} {
			t.Run(string(to), func(t *testing.T) {
				st := s.store(t)
				iv := invite.Invitee{Email: newEmail(), Phone: newPhone(), UserID: "user-" + newID()}
				a := newRecord(tenantA, invitee(iv))
				mustInsert(t, st, a)
				mustApply(t, st, upd(next(a, state(to)), 1))
				requireOpen(t, st, tenantA, iv)
				mustInsert(t, st, newRecord(tenantA, invitee(iv)))
			})
		}
	})
}

// testConcurrentInserts races inserts that collide: exactly one must win.
func (s *suite) testConcurrentInserts(t *testing.T) {
	n := s.opts.ConcurrentGoroutines
	for _, c := range []struct {
		name string
		// make returns the record goroutine i inserts in a round.
		make func(round, i int, shared *invite.Record) *invite.Record
	}{
		{"SameInvitee", func(round, i int, shared *invite.Record) *invite.Record {
			// Any two of these share a key, each kind of key in turn.
			iv := shared.Invitation.Invitee
			switch i % 4 {
			case 1:
				iv = invite.Invitee{Email: strings.ToUpper(iv.Email), Phone: iv.Phone}
			case 2:
				iv = invite.Invitee{Phone: iv.Phone, UserID: iv.UserID}
			case 3:
				iv = invite.Invitee{Email: iv.Email, UserID: iv.UserID}
			}
			return newRecord(tenantA, invitee(iv))
		}},
		{"SameTokenHash", func(round, i int, shared *invite.Record) *invite.Record {
			return newRecord(tenantA, func(r *invite.Record) { r.Credentials.TokenHash = shared.Credentials.TokenHash })
		}},
		{"SameIdempotencyKey", func(round, i int, shared *invite.Record) *invite.Record {
			return newRecord(tenantA, idemKey(shared.Invitation.IdempotencyKey))
		}},
		{"SameID", func(round, i int, shared *invite.Record) *invite.Record {
			return newRecord(tenantA, func(r *invite.Record) { r.Invitation.ID = shared.Invitation.ID })
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := s.store(t)
			for round := range s.opts.ConcurrentRounds {
				shared := newRecord(tenantA, invitee(invite.Invitee{Email: newEmail(), Phone: newPhone(), UserID: "user-" + newID()}),
					idemKey("key-"+newID()))
				recs := make([]*invite.Record, n)
				for i := range recs {
					recs[i] = c.make(round, i, shared)
				}
				errs := race(n, func(i int) error { return st.Apply(t.Context(), batch(ins(recs[i]))) })
				winner := -1
				for i, err := range errs {
					if err == nil {
						require.Equal(t, -1, winner, "round %d: inserts %d and %d both succeeded", round, winner, i)
						winner = i
						continue
					}
					require.True(t, errors.Is(err, invite.ErrAlreadyExists),
						"round %d: losing insert %d: got %v, want ErrAlreadyExists", round, i, err)
				}
				require.NotEqual(t, -1, winner, "round %d: no insert succeeded", round)
				requireStored(t, st, recs[winner])
				if c.name == "SameInvitee" {
					requireOpen(t, st, tenantA, shared.Invitation.Invitee, recs[winner])
				}
			}
		})
	}
}
