package memstore

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

func TestCodecRoundTrip(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	at := time.Date(2030, 5, 6, 7, 8, 9, 123456789, paris)
	full := invite.Record{
		Invitation: invite.Invitation{
			ID: "id-1", TenantID: "t", Invitee: invite.Invitee{Email: "Ada@Example.com", Phone: "+33612345678", UserID: "u"},
			GivenName: "Ada", FamilyName: "Lovelace", Inviter: invite.Inviter{ID: "i", Name: "Grace"}, AccountName: "Acme",
			Roles: []string{"a", "b"}, Groups: []string{"g"}, Data: map[string]string{"k": "v", "": "empty key", "ü": "\x00"},
			FormData: map[string]map[string]string{"f1": {"x": "1"}, "f2": nil, "f3": {}},
			Metadata: json.RawMessage(`{"a":1}`), ClientID: "c", IdentityProviderID: "idp", RedirectURI: "https://x",
			LinkTemplate: "https://x/{{.Token}}", TemplateKey: "tk", Locale: "fr-FR", RequireEmailMatch: true, HasCode: true,
			State: invite.StateAccepted, CreatedAt: at, UpdatedAt: at.Add(time.Second), IssuedAt: at.Add(-time.Hour),
			ExpiresAt: at.Add(7 * 24 * time.Hour), SentAt: at.Add(time.Minute), SendCount: 3, ClosedAt: at.Add(time.Hour),
			AcceptedBy: "subject", Reason: "why\nnot", IdempotencyKey: "idem", Version: 1 << 40,
		},
		Credentials: invite.Credentials{
			TokenHash:      invite.TokenHash{1, 2, 3},
			PreviousTokens: []invite.PreviousToken{{Hash: invite.TokenHash{4}, ExpiresAt: at}, {Hash: invite.TokenHash{5}}},
			CodeHash:       []byte("$argon2id$..."), CodeFailures: 4,
		},
	}
	empty := invite.Record{Invitation: invite.Invitation{Roles: []string{}, Groups: []string{}, Data: map[string]string{},
		FormData: map[string]map[string]string{}, Metadata: json.RawMessage{}},
		Credentials: invite.Credentials{PreviousTokens: []invite.PreviousToken{}, CodeHash: []byte{}}}
	onlyGroups := invite.Record{Invitation: invite.Invitation{Groups: []string{"g1", "g2"}, SendCount: -1, Version: -7}}
	for name, r := range map[string]invite.Record{"full": full, "zero": {}, "empty": empty, "only groups": onlyGroups} {
		t.Run(name, func(t *testing.T) {
			want := decoded(&r)
			st, eh := encode(&r)
			got := st.decode()
			require.Equal(t, want, got)
			h := st.header()
			require.Equal(t, h, eh, "encode's header is the blob's")
			require.Equal(t, want.Invitation.Version, h.version)
			require.Equal(t, want.Invitation.State, h.state)
			require.Equal(t, want.Invitation.Invitee, h.invitee)
			require.Equal(t, want.Invitation.IdempotencyKey, h.idem)
			require.True(t, want.Invitation.ExpiresAt.Equal(h.expires))
			require.True(t, want.Invitation.ClosedAt.Equal(h.closed))
			require.Equal(t, want.Credentials.TokenHash, h.token)
			var hashes [2]invite.TokenHash
			wantHashes := []invite.TokenHash{}
			if !want.Credentials.TokenHash.IsZero() {
				wantHashes = append(wantHashes, want.Credentials.TokenHash)
			}
			for _, p := range want.Credentials.PreviousTokens {
				wantHashes = append(wantHashes, p.Hash)
				require.True(t, h.hasHash(p.Hash))
			}
			require.Equal(t, wantHashes, append([]invite.TokenHash{}, h.hashes(&hashes)...))
			require.False(t, h.hasHash(invite.TokenHash{9, 9}))
			var scalars invite.Record
			st.decodeInto(&h, &scalars, false, nil)
			require.Equal(t, want.Invitation.ID, scalars.Invitation.ID)
			require.Equal(t, want.Invitation.CreatedAt, scalars.Invitation.CreatedAt)
			require.Equal(t, want.Invitation.State, scalars.Invitation.State)
			require.Nil(t, scalars.Invitation.Roles)

			// Lists are separate: appending to one never shows in the other.
			if len(got.Invitation.Roles) > 0 && len(got.Invitation.Groups) > 0 {
				got.Invitation.Roles = append(got.Invitation.Roles, "x")
				require.Equal(t, want.Invitation.Groups, got.Invitation.Groups)
			}
		})
	}
}

// BenchmarkCodec measures one encode and one decode of a typical record.
func BenchmarkCodec(b *testing.B) {
	now := time.Now().UTC()
	r := &invite.Record{Invitation: invite.Invitation{ID: "0193a8f2-6b7c-7d8e-9f00-112233445566", TenantID: "tenant-42",
		Invitee: invite.Invitee{Email: "user42@example.com"}, GivenName: "Ada", FamilyName: "Lovelace",
		Inviter: invite.Inviter{ID: "admin-1", Name: "Grace"}, Roles: []string{"member"}, Groups: []string{"engineering"},
		Data: map[string]string{"team": "core"}, TemplateKey: "default", State: invite.StatePending,
		CreatedAt: now, UpdatedAt: now, IssuedAt: now, ExpiresAt: now.Add(time.Hour), Version: 1},
		Credentials: invite.Credentials{TokenHash: invite.TokenHash{1}}}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = encode(r)
		}
	})
	st, _ := encode(r)
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = st.decode()
		}
	})
	b.Run("clone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = r.Clone()
		}
	})
}

// decoded returns what decoding r's encoding must give: a copy of r with
// its times in UTC.
func decoded(r *invite.Record) *invite.Record {
	want := r.Clone()
	for _, tm := range []*time.Time{&want.Invitation.CreatedAt, &want.Invitation.UpdatedAt, &want.Invitation.IssuedAt,
		&want.Invitation.ExpiresAt, &want.Invitation.SentAt, &want.Invitation.ClosedAt} {
		*tm = tm.UTC()
	}
	for i := range want.Credentials.PreviousTokens {
		want.Credentials.PreviousTokens[i].ExpiresAt = want.Credentials.PreviousTokens[i].ExpiresAt.UTC()
	}
	return want
}

// FuzzCodec checks that any record survives encode and decode, and that
// the header encode returns is the one the blob gives back. shape picks,
// for each collection on its own, nil, empty or a few items.
func FuzzCodec(f *testing.F) {
	f.Add("id", "tenant", "ada@example.com", "+33612345678", "u", "pending", "team", "core", int64(3), int64(1_700_000_000), int64(5), uint32(0xffff), []byte(`{"a":1}`))
	f.Add("", "", "", "", "", "", "", "", int64(-1), int64(-62135596800), int64(0), uint32(0), []byte(nil))
	f.Fuzz(func(t *testing.T, id, tenant, email, phone, user, state, key, val string,
		version, sec, nsec int64, shape uint32, meta []byte) {
		// count returns how many items the 3 bits of shape at bit give a
		// collection: -1 for nil, 0 for empty, else 1 to 6.
		count := func(bit uint) int { return int(shape>>bit&7) - 1 }
		strs := func(n int) []string {
			if n < 0 {
				return nil
			}
			l := make([]string, n)
			for i := range l {
				l[i] = fmt.Sprint(key, i)
			}
			return l
		}
		at := time.Unix(sec, nsec)
		r := invite.Record{
			Invitation: invite.Invitation{
				ID: id, TenantID: tenant, Invitee: invite.Invitee{Email: email, Phone: phone, UserID: user},
				GivenName: val, FamilyName: key, Inviter: invite.Inviter{ID: user, Name: val}, AccountName: tenant,
				ClientID: key, IdentityProviderID: val, RedirectURI: email, LinkTemplate: phone, TemplateKey: state,
				Locale: key, AcceptedBy: user, Reason: val, IdempotencyKey: key, State: invite.State(state),
				RequireEmailMatch: shape&1 != 0, HasCode: shape&2 != 0, SendCount: int(version), Version: version,
				CreatedAt: at, UpdatedAt: at.Add(time.Second), IssuedAt: at, ExpiresAt: at.Add(time.Hour), SentAt: at,
				ClosedAt: at.Add(-time.Minute), Roles: strs(count(2)), Groups: strs(count(5)),
			},
			Credentials: invite.Credentials{TokenHash: invite.TokenHash{byte(shape)}, CodeFailures: int(shape >> 16)},
		}
		inv := &r.Invitation
		if n := count(8); n >= 0 {
			inv.Data = map[string]string{}
			for _, k := range strs(n) {
				inv.Data[k] = val
			}
		}
		if n := count(11); n >= 0 {
			inv.FormData = map[string]map[string]string{}
			for i := range n {
				inv.FormData[fmt.Sprint(id, i)] = map[string]string{key: val}
			}
			inv.FormData[id] = nil
		}
		if shape&(1<<14) != 0 {
			inv.Metadata = append([]byte{}, meta...)
			r.Credentials.CodeHash = []byte(val)
		}
		if n := count(15); n >= 0 {
			r.Credentials.PreviousTokens = []invite.PreviousToken{}
			for i := range n {
				r.Credentials.PreviousTokens = append(r.Credentials.PreviousTokens,
					invite.PreviousToken{Hash: invite.TokenHash{byte(i), 1}, ExpiresAt: at.Add(time.Duration(i))})
			}
		}
		if checkLimits(&r) != nil {
			t.Skip("does not fit the header (TestHeaderLimits)")
		}
		b, h := encode(&r)
		got := b.decode()
		require.Equal(t, decoded(&r), got)
		require.Equal(t, h, b.header())
		id, tenantID := b.names(&h)
		require.Equal(t, r.Invitation.ID, id)
		require.Equal(t, r.Invitation.TenantID, tenantID)
		require.Equal(t, len(r.Invitation.Roles)+len(r.Invitation.Groups), h.nlist)
		if len(got.Invitation.Roles) > 0 && len(got.Invitation.Groups) > 0 {
			groups := slices.Clone(got.Invitation.Groups)
			_ = append(got.Invitation.Roles, "x")
			require.Equal(t, groups, got.Invitation.Groups, "appending to Roles never changes Groups")
		}
	})
}
