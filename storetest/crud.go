package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/invitekit/invite"
	"github.com/stretchr/testify/require"
)

func (s *suite) testCRUD(t *testing.T) {
	t.Run("InsertGet", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			rec  func() *invite.Record
		}{
			{"Full", func() *invite.Record { return fullRecord(tenantA) }},
			{"Closed", func() *invite.Record { return closedRecord(tenantA) }},
			{"Minimal", func() *invite.Record {
				// No invitee at all (DeliveryReturn allows it), no optional field.
				return newRecord(tenantA, invitee(invite.Invitee{}), func(r *invite.Record) { r.Invitation.TemplateKey = "" })
			}},
			{"EmptyCollections", func() *invite.Record {
				return newRecord(tenantA, func(r *invite.Record) {
					inv := &r.Invitation
					inv.Roles, inv.Groups = []string{}, []string{}
					inv.Data, inv.FormData = map[string]string{}, map[string]map[string]string{"form": {}}
					inv.Metadata = json.RawMessage(`{}`)
					r.Credentials.PreviousTokens, r.Credentials.CodeHash = []invite.PreviousToken{}, []byte{}
				})
			}},
			{"PhoneOnly", func() *invite.Record { return newRecord(tenantA, invitee(invite.Invitee{Phone: newPhone()})) }},
			{"UserIDOnly", func() *invite.Record { return newRecord(tenantA, invitee(invite.Invitee{UserID: "user-" + newID()})) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st := s.store(t)
				rec := tc.rec()
				mustInsert(t, st, rec)
				requireStored(t, st, rec)
			})
		}
	})

	t.Run("GetMissing", func(t *testing.T) {
		st := s.store(t)
		ctx := t.Context()
		mustInsert(t, st, newRecord(tenantA, idemKey("present")))
		_, err := st.Get(ctx, tenantA, newID())
		require.ErrorIs(t, err, invite.ErrNotFound, "Get of an unknown id")
		_, err = st.Get(ctx, "no-such-tenant", newID())
		require.ErrorIs(t, err, invite.ErrNotFound, "Get in an unknown tenant")
		_, err = st.GetByIdempotencyKey(ctx, tenantA, "absent")
		require.ErrorIs(t, err, invite.ErrNotFound, "GetByIdempotencyKey of an unknown key")
		requireTokenNotFound(t, st, newHash())
		requireOpen(t, st, tenantA, invite.Invitee{Email: newEmail()})
		invs, cur, err := st.List(ctx, "no-such-tenant", invite.Query{Now: base, Limit: 10, Filter: invite.Filter{IncludeExpired: true}})
		require.NoError(t, err, "List of an unknown tenant")
		require.Empty(t, invs, "List of an unknown tenant")
		require.Nil(t, cur, "List of an unknown tenant: cursor")
	})

	t.Run("ReturnedRecordsAreCopies", func(t *testing.T) {
		due := base.Add(30 * 24 * time.Hour) // past fullRecord's expiry: ListDue returns it
		for _, tc := range []struct {
			name string
			read func(t *testing.T, st invite.Store, r *invite.Record) *invite.Record
		}{
			{"Get", func(t *testing.T, st invite.Store, r *invite.Record) *invite.Record {
				return mustGet(t, st, r.Invitation.TenantID, r.Invitation.ID)
			}},
			{"GetByTokenHash", func(t *testing.T, st invite.Store, r *invite.Record) *invite.Record {
				got, err := st.GetByTokenHash(t.Context(), r.Credentials.TokenHash)
				require.NoError(t, err)
				return got
			}},
			{"GetByPreviousTokenHash", func(t *testing.T, st invite.Store, r *invite.Record) *invite.Record {
				got, err := st.GetByTokenHash(t.Context(), r.Credentials.PreviousTokens[1].Hash)
				require.NoError(t, err)
				return got
			}},
			{"GetByIdempotencyKey", func(t *testing.T, st invite.Store, r *invite.Record) *invite.Record {
				got, err := st.GetByIdempotencyKey(t.Context(), r.Invitation.TenantID, r.Invitation.IdempotencyKey)
				require.NoError(t, err)
				return got
			}},
			{"FindOpen", func(t *testing.T, st invite.Store, r *invite.Record) *invite.Record {
				got := mustFindOpen(t, st, r.Invitation.TenantID, r.Invitation.Invitee)
				require.Len(t, got, 1)
				return got[0]
			}},
			{"ListDue", func(t *testing.T, st invite.Store, r *invite.Record) *invite.Record {
				got, err := st.ListDue(t.Context(), due, 10)
				require.NoError(t, err)
				require.Len(t, got, 1)
				return got[0]
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st := s.store(t)
				rec := fullRecord(tenantA)
				mustInsert(t, st, rec)
				got := tc.read(t, st, rec)
				requireRecordEqual(t, rec, got, tc.name)
				scribble(got)
				requireRecordEqual(t, rec, tc.read(t, st, rec), tc.name+" after modifying an earlier result")
				requireStored(t, st, rec)
			})
		}
		t.Run("List", func(t *testing.T) {
			st := s.store(t)
			rec := fullRecord(tenantA)
			mustInsert(t, st, rec)
			q := invite.Query{Now: base, Limit: 10}
			got, _ := listAll(t, st, tenantA, q)
			require.Len(t, got, 1)
			requireInvitationEqual(t, &rec.Invitation, got[0], "List")
			scribbleInvitation(got[0])
			again, _ := listAll(t, st, tenantA, q)
			require.Len(t, again, 1)
			requireInvitationEqual(t, &rec.Invitation, again[0], "List after modifying an earlier result")
			requireStored(t, st, rec)
		})
	})

	t.Run("ApplyCopiesItsInput", func(t *testing.T) {
		st := s.store(t)
		rec := fullRecord(tenantA)
		want := rec.Clone()
		mustInsert(t, st, rec)
		scribble(rec)
		requireStored(t, st, want)

		upd1 := next(want, func(r *invite.Record) { r.Invitation.Roles = []string{"owner"} })
		want = upd1.Clone()
		mustApply(t, st, upd(upd1, 1))
		scribble(upd1)
		requireStored(t, st, want)
		requireTokenFinds(t, st, want.Credentials.TokenHash, want)
	})

	t.Run("Update", func(t *testing.T) {
		st := s.store(t)
		rec := fullRecord(tenantA)
		mustInsert(t, st, rec)

		v2 := next(rec, func(r *invite.Record) {
			inv := &r.Invitation
			inv.GivenName, inv.FamilyName = "Zoé", "Muller"
			inv.Roles = []string{"viewer"}
			inv.Groups = append(inv.Groups, "new-group")
			inv.Data = map[string]string{"team": "red"}
			inv.FormData = map[string]map[string]string{"other": {"k": "v"}}
			inv.Metadata = json.RawMessage(`{"changed":true}`)
			inv.Locale = "de"
			inv.SendCount++
			inv.SentAt = inv.SentAt.Add(time.Hour + 17*time.Microsecond)
			inv.ResendCount++
			inv.LastResentAt = inv.LastResentAt.Add(time.Hour + 19*time.Microsecond)
			inv.ExpiresAt = inv.ExpiresAt.Add(24*time.Hour + 3*time.Microsecond)
			r.Credentials.CodeFailures = 4
		})
		mustApply(t, st, upd(v2, 1))
		got := mustGet(t, st, tenantA, rec.Invitation.ID)
		require.EqualValues(t, 2, got.Invitation.Version, "Version after one update")
		requireRecordEqual(t, v2, got, "Get after update")

		v3 := next(v2, state(invite.StateAccepted, v2.Invitation.UpdatedAt.Add(time.Minute)), func(r *invite.Record) {
			r.Invitation.Reason = "accepted"
		})
		mustApply(t, st, upd(v3, 2))
		got = mustGet(t, st, tenantA, rec.Invitation.ID)
		require.EqualValues(t, 3, got.Invitation.Version, "Version after two updates")
		requireRecordEqual(t, v3, got, "Get after second update")
	})

	t.Run("UpdateWithPrev", func(t *testing.T) {
		// Write.Prev is a hint a store may use to write only what changed;
		// a true one and an untrue one must both leave the record stored
		// exactly as Record has it.
		st := s.store(t)
		rec := fullRecord(tenantA)
		mustInsert(t, st, rec)
		oldEmail := rec.Invitation.Invitee
		v2 := next(rec, func(r *invite.Record) { r.Invitation.Reason, r.Credentials.CodeFailures = "edited", 2 })
		mustApply(t, st, invite.Write{Record: v2, Expect: 1, Prev: rec.Clone()})
		requireStored(t, st, v2)
		requireTokenFinds(t, st, v2.Credentials.TokenHash, v2)

		v3 := next(v2, email(newEmail()), state(invite.StateSent), func(r *invite.Record) {
			r.Credentials.TokenHash, r.Credentials.PreviousTokens = newHash(), nil
			r.Invitation.GivenName, r.Invitation.FamilyName = "Renamed", "Person"
			r.Invitation.ExpiresAt = r.Invitation.ExpiresAt.Add(time.Hour)
		})
		untrue := v3.Clone() // claims that none of this changed
		untrue.Invitation.Version = 2
		mustApply(t, st, invite.Write{Record: v3, Expect: 2, Rotated: true, Prev: untrue})
		requireStored(t, st, v3)
		requireTokenFinds(t, st, v3.Credentials.TokenHash, v3)
		requireTokenNotFound(t, st, v2.Credentials.TokenHash)
		for _, p := range v2.Credentials.PreviousTokens {
			requireTokenNotFound(t, st, p.Hash)
		}
		requireOpen(t, st, tenantA, v3.Invitation.Invitee, v3)
		requireOpen(t, st, tenantA, oldEmail)
	})

	t.Run("UpdateClearsFields", func(t *testing.T) {
		st := s.store(t)
		rec := closedRecord(tenantA)
		mustInsert(t, st, rec)
		cleared := next(rec, func(r *invite.Record) {
			inv := &r.Invitation
			inv.GivenName, inv.FamilyName, inv.Inviter, inv.AccountName = "", "", invite.Inviter{}, ""
			inv.Roles, inv.Groups, inv.Data, inv.FormData, inv.Metadata = nil, nil, nil, nil, nil
			inv.ClientID, inv.IdentityProviderID, inv.RedirectURI, inv.LinkTemplate, inv.Locale = "", "", "", "", ""
			inv.RequireEmailMatch, inv.HasCode = false, false
			inv.SentAt, inv.SendCount, inv.ClosedAt, inv.AcceptedBy, inv.Reason = time.Time{}, 0, time.Time{}, "", ""
			inv.ResendCount, inv.LastResentAt = 0, time.Time{}
			inv.State = invite.StateRevoked
			inv.ClosedAt = inv.UpdatedAt
			r.Credentials.PreviousTokens, r.Credentials.CodeHash, r.Credentials.CodeFailures = nil, nil, 0
		})
		mustApply(t, st, upd(cleared, 1))
		requireStored(t, st, cleared)
		for _, p := range rec.Credentials.PreviousTokens {
			requireTokenNotFound(t, st, p.Hash)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		st := s.store(t)
		rec := fullRecord(tenantA)
		other := newRecord(tenantA)
		mustInsert(t, st, rec, other)
		mustApply(t, st, del(rec))

		requireGone(t, st, rec)
		requireTokenNotFound(t, st, rec.Credentials.TokenHash)
		for _, p := range rec.Credentials.PreviousTokens {
			requireTokenNotFound(t, st, p.Hash)
		}
		_, err := st.GetByIdempotencyKey(t.Context(), tenantA, rec.Invitation.IdempotencyKey)
		require.ErrorIs(t, err, invite.ErrNotFound, "GetByIdempotencyKey after delete")
		requireOpen(t, st, tenantA, rec.Invitation.Invitee)
		all, _ := listAll(t, st, tenantA, invite.Query{Now: base, Limit: 10, Filter: invite.Filter{IncludeExpired: true}})
		require.Equal(t, []string{other.Invitation.ID}, invitationIDs(all), "List after delete")
		requireStored(t, st, other)

		require.ErrorIs(t, apply(t, st, del(rec)), invite.ErrNotFound, "deleting again")

		// Its token hashes, idempotency key and invitee keys are free again.
		reuse := newRecord(tenantA, invitee(rec.Invitation.Invitee), idemKey(rec.Invitation.IdempotencyKey),
			func(r *invite.Record) {
				r.Credentials.TokenHash = rec.Credentials.TokenHash
				r.Credentials.PreviousTokens = rec.Credentials.PreviousTokens
			})
		mustInsert(t, st, reuse)
		requireStored(t, st, reuse)
		requireTokenFinds(t, st, rec.Credentials.TokenHash, reuse)
	})

	t.Run("DeleteClosed", func(t *testing.T) {
		st := s.store(t)
		rec := closedRecord(tenantA)
		mustInsert(t, st, rec)
		mustApply(t, st, del(rec))
		requireGone(t, st, rec)
		requireTokenNotFound(t, st, rec.Credentials.TokenHash)
	})
}
