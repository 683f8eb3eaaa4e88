package storetest

import (
	"testing"
	"time"

	"github.com/invitekit/invite"
	"github.com/stretchr/testify/require"
)

// testAtomicity applies batches whose last write fails and checks that none
// of the earlier writes left a trace: not in the records, and not in any
// index (token hashes, idempotency keys, open invitee keys).
func (s *suite) testAtomicity(t *testing.T) {
	// fixture: x is what the first writes touch; y is what the failing
	// write collides with.
	type fixture struct {
		x, y *invite.Record
		// fresh is a new record the first writes may insert.
		fresh *invite.Record
	}
	firsts := []struct {
		name   string
		writes func(f *fixture) []invite.Write
		// check asserts that the first writes left no trace.
		check func(t *testing.T, st invite.Store, f *fixture)
	}{
		{"Insert",
			func(f *fixture) []invite.Write { return []invite.Write{ins(f.fresh)} },
			func(t *testing.T, st invite.Store, f *fixture) {
				requireGone(t, st, f.fresh)
				requireTokenNotFound(t, st, f.fresh.Credentials.TokenHash)
				requireTokenNotFound(t, st, f.fresh.Credentials.PreviousTokens[0].Hash)
				_, err := st.GetByIdempotencyKey(t.Context(), tenantA, f.fresh.Invitation.IdempotencyKey)
				require.ErrorIs(t, err, invite.ErrNotFound, "GetByIdempotencyKey of the failed insert")
				requireOpen(t, st, tenantA, f.fresh.Invitation.Invitee)
				// Nothing of it lingers: inserting it now works.
				mustInsert(t, st, f.fresh)
				requireStored(t, st, f.fresh)
			}},
		{"Update",
			func(f *fixture) []invite.Write {
				// Rotate the token, drop the previous one, change data and close.
				u := next(f.x, state(invite.StateRevoked), func(r *invite.Record) {
					r.Invitation.Roles = []string{"changed"}
					r.Invitation.Reason = "revoked"
					r.Credentials.TokenHash = f.fresh.Credentials.TokenHash
					r.Credentials.PreviousTokens = nil
				})
				return []invite.Write{upd(u, 1)}
			},
			func(t *testing.T, st invite.Store, f *fixture) {
				requireTokenNotFound(t, st, f.fresh.Credentials.TokenHash)
				requireTokenFinds(t, st, f.x.Credentials.PreviousTokens[0].Hash, f.x)
			}},
		{"Delete",
			func(f *fixture) []invite.Write { return []invite.Write{del(f.x)} },
			func(t *testing.T, st invite.Store, f *fixture) {}},
		{"CloseAndInsert",
			func(f *fixture) []invite.Write {
				f.fresh.Invitation.Invitee = f.x.Invitation.Invitee
				return []invite.Write{upd(next(f.x, state(invite.StateExpired)), 1), ins(f.fresh)}
			},
			func(t *testing.T, st invite.Store, f *fixture) {
				requireGone(t, st, f.fresh)
				requireTokenNotFound(t, st, f.fresh.Credentials.TokenHash)
			}},
	}
	lasts := []struct {
		name  string
		write func(f *fixture) invite.Write
		err   error
	}{
		{"DuplicateID", func(f *fixture) invite.Write {
			return ins(newRecord(tenantA, func(r *invite.Record) { r.Invitation.ID = f.y.Invitation.ID }))
		}, invite.ErrAlreadyExists},
		{"DuplicateTokenHash", func(f *fixture) invite.Write {
			return ins(newRecord(tenantA, func(r *invite.Record) { r.Credentials.TokenHash = f.y.Credentials.TokenHash }))
		}, invite.ErrAlreadyExists},
		{"DuplicateIdempotencyKey", func(f *fixture) invite.Write {
			return ins(newRecord(tenantA, idemKey(f.y.Invitation.IdempotencyKey)))
		}, invite.ErrAlreadyExists},
		{"OpenInviteeKey", func(f *fixture) invite.Write {
			return ins(newRecord(tenantA, invitee(f.y.Invitation.Invitee)))
		}, invite.ErrAlreadyExists},
		{"StaleVersion", func(f *fixture) invite.Write {
			return upd(next(f.y, func(r *invite.Record) { r.Invitation.Version = 8 }), 7)
		}, invite.ErrConflict},
		{"MissingRecord", func(f *fixture) invite.Write {
			return upd(next(newRecord(tenantA)), 1)
		}, invite.ErrNotFound},
	}
	for _, first := range firsts {
		t.Run(first.name, func(t *testing.T) {
			for _, last := range lasts {
				t.Run("Then"+last.name, func(t *testing.T) {
					st := s.store(t)
					f := &fixture{
						x: newRecord(tenantA, invitee(invite.Invitee{Email: newEmail(), Phone: newPhone()}),
							idemKey("key-x"), previous(newHash()), created(base.Add(time.Second))),
						y: newRecord(tenantA, idemKey("key-y"), created(base.Add(2*time.Second))),
						fresh: newRecord(tenantA, invitee(invite.Invitee{Email: newEmail(), Phone: newPhone()}),
							idemKey("key-fresh"), previous(newHash()), created(base.Add(3*time.Second))),
					}
					mustInsert(t, st, f.x, f.y)
					ws := append(first.writes(f), last.write(f))
					require.ErrorIs(t, apply(t, st, ws...), last.err, "Apply of the failing batch")

					// x and y are untouched, with every index.
					for _, r := range []*invite.Record{f.x, f.y} {
						requireStored(t, st, r)
						requireTokenFinds(t, st, r.Credentials.TokenHash, r)
						got, err := st.GetByIdempotencyKey(t.Context(), tenantA, r.Invitation.IdempotencyKey)
						require.NoError(t, err, "GetByIdempotencyKey")
						requireRecordEqual(t, r, got, "GetByIdempotencyKey")
						requireOpen(t, st, tenantA, r.Invitation.Invitee, r)
					}
					all, _ := listAll(t, st, tenantA, invite.Query{Now: base, Limit: 100, Filter: invite.Filter{IncludeExpired: true}})
					require.Equal(t, []string{f.x.Invitation.ID, f.y.Invitation.ID}, invitationIDs(all), "List after the failed batch")
					first.check(t, st, f)
				})
			}
		})
	}
}
