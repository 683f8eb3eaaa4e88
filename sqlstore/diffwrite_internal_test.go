package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/invitekit/invite"
)

// TestDiffWriteMatchesAWholeWrite: an update with a random (often untrue)
// Write.Prev over a random (sometimes stale: a column changed behind the
// Store's back) stored row must store exactly what an insert of Record
// stores in another database, row and token rows alike, whether it takes
// diffWrite's update or its fallback.
func TestDiffWriteMatchesAWholeWrite(t *testing.T) {
	ctx := context.Background()
	open := func(name string) *Store {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), name+".db")+"?_pragma=busy_timeout(5000)&_txlock=immediate")
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		s, err := New(db, Config{Dialect: SQLite})
		require.NoError(t, err)
		require.NoError(t, s.Migrate(ctx))
		return s
	}
	a, c := open("a"), open("c")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(1, seed))
	pick := func(n int) int { return rng.IntN(n) }
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	est := time.FixedZone("EST", -5*3600)
	times := []time.Time{t0, t0.Add(500), t0.In(est), t0.Add(time.Microsecond), t0.Add(time.Hour)}
	ctimes := append([]time.Time{{}, {}}, times...)
	iter := 0
	h := func(b byte) invite.TokenHash {
		var x invite.TokenHash
		x[0], x[31], x[1], x[2] = b, b, byte(iter), byte(iter>>8)
		return x
	}
	hashesF := func() []invite.TokenHash { return []invite.TokenHash{{}, h(1), h(2), h(3)} }
	prevs := func() []invite.PreviousToken {
		switch pick(6) {
		case 0:
			return nil
		case 1:
			return []invite.PreviousToken{}
		case 2:
			return []invite.PreviousToken{{Hash: h(4), ExpiresAt: times[pick(len(times))]}}
		case 3:
			return []invite.PreviousToken{{Hash: h(5), ExpiresAt: t0}, {Hash: h(5), ExpiresAt: t0}}
		case 4:
			return []invite.PreviousToken{{Hash: hashesF()[pick(4)], ExpiresAt: times[pick(len(times))]}}
		}
		return []invite.PreviousToken{{Hash: h(6), ExpiresAt: t0}, {Hash: h(4), ExpiresAt: t0.Add(500)}}
	}
	bs := func(vals ...string) []byte {
		i := pick(len(vals) + 2)
		switch i {
		case len(vals):
			return nil
		case len(vals) + 1:
			return []byte{}
		}
		return []byte(vals[i])
	}
	str := func(vals ...string) string { return vals[pick(len(vals))] }
	states := []invite.State{invite.StatePending, invite.StateSent, invite.StateAccepted, invite.StateRevoked}
	// field setters: each sets one field of r to a random value
	setters := []func(r *invite.Record){
		func(r *invite.Record) { r.Invitation.State = states[pick(len(states))] },
		func(r *invite.Record) { r.Invitation.Invitee.Email = str("", "a@x.com", "A@x.com", "b@x.com") },
		func(r *invite.Record) { r.Invitation.Invitee.Phone = str("", "+15550001", "+15550002") },
		func(r *invite.Record) { r.Invitation.Invitee.UserID = str("", "u1", "u2") },
		func(r *invite.Record) { r.Invitation.Inviter.ID = str("", "i1", "i2") },
		func(r *invite.Record) { r.Invitation.IdempotencyKey = str("", "k1", "k2") },
		func(r *invite.Record) { r.Invitation.CreatedAt = times[pick(len(times))] },
		func(r *invite.Record) { r.Invitation.ExpiresAt = times[pick(len(times))] },
		func(r *invite.Record) { r.Invitation.ClosedAt = ctimes[pick(len(ctimes))] },
		func(r *invite.Record) { r.Credentials.TokenHash = hashesF()[pick(4)] },
		func(r *invite.Record) { r.Credentials.PreviousTokens = prevs() },
		func(r *invite.Record) { r.Credentials.CodeHash = bs("c1", "c2") },
		func(r *invite.Record) { r.Credentials.CodeFailures = pick(3) },
		func(r *invite.Record) { r.Credentials.RequestDigest = bs("d1", "d2") },
		func(r *invite.Record) { r.Invitation.GivenName = str("", "Ada", "ADA", "Zoë") },
		func(r *invite.Record) { r.Invitation.FamilyName = str("", "Love", "LOVE", "ada") },
		func(r *invite.Record) { r.Invitation.Reason = str("", "x") },
	}
	tenant := "t"
	random := func(id string, version int64) *invite.Record {
		r := &invite.Record{Invitation: invite.Invitation{TenantID: tenant, ID: id, Version: version}}
		for _, s := range setters {
			s(r)
		}
		return r
	}
	mutate := func(r *invite.Record) *invite.Record {
		n := r.Clone()
		n.Invitation.Version++
		for range pick(4) {
			setters[pick(len(setters))](n)
		}
		return n
	}
	rowOf := func(s *Store, id string) string {
		rows, err := s.db.QueryContext(ctx, "SELECT "+strings.Join(invitationColumns, ", ")+" FROM "+s.invitations+" WHERE tenant_id = ? AND id = ?", tenant, id)
		require.NoError(t, err)
		defer rows.Close()
		require.True(t, rows.Next())
		vals := make([]any, len(invitationColumns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		var b strings.Builder
		for i, v := range vals {
			fmt.Fprintf(&b, "%s=%T:%v\n", invitationColumns[i], v, v)
		}
		trs, err := s.db.QueryContext(ctx, "SELECT hex(token_hash) FROM "+s.tokens+" WHERE tenant_id = ? AND invitation_id = ?", tenant, id)
		require.NoError(t, err)
		defer trs.Close()
		var toks []string
		for trs.Next() {
			var x string
			require.NoError(t, trs.Scan(&x))
			toks = append(toks, x)
		}
		sort.Strings(toks)
		fmt.Fprintf(&b, "tokens=%v\n", toks)
		return b.String()
	}
	corrupt := func(s *Store, id string, x *invite.Record) {
		rw, fe := encodeRecord(s.dl, x)
		require.Empty(t, fe)
		vals := rw.values()
		i := 3 + pick(len(vals)-3)
		if invitationColumns[i] == "doc" {
			return
		}
		if invitationColumns[i] == "token_hash" || invitationColumns[i] == "prev_tokens" {
			_, err := s.db.ExecContext(ctx, "UPDATE "+s.invitations+" SET token_hash = ?, prev_tokens = ? WHERE tenant_id = ? AND id = ?", rw.tokenHash, rw.prevTokens, tenant, id)
			require.NoError(t, err)
			_, err = s.db.ExecContext(ctx, "DELETE FROM "+s.tokens+" WHERE tenant_id = ? AND invitation_id = ?", tenant, id)
			require.NoError(t, err)
			for _, hh := range rw.hashes {
				_, err = s.db.ExecContext(ctx, "INSERT INTO "+s.tokens+" (token_hash, tenant_id, invitation_id) VALUES (?, ?, ?)", hh, tenant, id)
				require.NoError(t, err)
			}
			return
		}
		_, err := s.db.ExecContext(ctx, "UPDATE "+s.invitations+" SET "+invitationColumns[i]+" = ? WHERE tenant_id = ? AND id = ?", vals[i], tenant, id)
		require.NoError(t, err)
	}
	fallbacks, diffs := 0, 0
	for it := range 300 {
		iter = it
		tenant = fmt.Sprintf("t%d", it)
		id := fmt.Sprintf("inv-%d", it)
		r0 := random(id, 1)
		require.NoError(t, a.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: r0}}}), "insert %d", it)
		if pick(3) == 0 {
			corrupt(a, id, random(id, 1))
		}
		r1 := mutate(r0)
		prev := r0.Clone()
		if pick(2) == 0 {
			for i, s := range setters {
				switch pick(3) {
				case 1:
					copyField(prev, r1, i)
				case 2:
					s(prev)
				}
			}
		}
		w := invite.Write{Record: r1, Expect: 1, Prev: prev, Rotated: pick(2) == 0}
		ws, _ := a.prepareWrites([]invite.Write{w})
		if ws[0].same != 0 {
			diffs++
			var q []string
			var args []any
			vals := ws[0].row.values()
			for i := 2; i < len(vals); i++ {
				if ws[0].same&(1<<i) != 0 {
					q = append(q, invitationColumns[i]+" IS ?")
					args = append(args, vals[i])
				}
			}
			var n int
			args = append(args, tenant, id)
			require.NoError(t, a.db.QueryRowContext(ctx, "SELECT count(*) FROM "+a.invitations+" WHERE "+strings.Join(q, " AND ")+" AND tenant_id = ? AND id = ?", args...).Scan(&n))
			if n == 0 {
				fallbacks++
			}
		}
		err := a.Apply(ctx, &invite.Batch{Writes: []invite.Write{w}})
		require.NoError(t, err, "apply %d", it)
		require.NoError(t, c.Apply(ctx, &invite.Batch{Writes: []invite.Write{{Record: r1}}}), "truth %d", it)
		got, want := rowOf(a, id), rowOf(c, id)
		if got != want {
			t.Fatalf("iteration %d: differs\nr0=%+v\nr1=%+v\nprev=%+v\ngot:\n%s\nwant:\n%s", it, r0, r1, prev, got, want)
		}
		// reverse-check: r1 stored must read back as r1 does in c
		ga, err := a.Get(ctx, tenant, id)
		require.NoError(t, err)
		gc, err := c.Get(ctx, tenant, id)
		require.NoError(t, err)
		require.Equal(t, gc, ga)
	}
	t.Logf("diff writes: %d, fallbacks: %d", diffs, fallbacks)
}

// copyField copies field i (the field of setters[i]) from src to dst.
func copyField(dst, src *invite.Record, i int) {
	copies := []func(){
		func() { dst.Invitation.State = src.Invitation.State },
		func() { dst.Invitation.Invitee.Email = src.Invitation.Invitee.Email },
		func() { dst.Invitation.Invitee.Phone = src.Invitation.Invitee.Phone },
		func() { dst.Invitation.Invitee.UserID = src.Invitation.Invitee.UserID },
		func() { dst.Invitation.Inviter.ID = src.Invitation.Inviter.ID },
		func() { dst.Invitation.IdempotencyKey = src.Invitation.IdempotencyKey },
		func() { dst.Invitation.CreatedAt = src.Invitation.CreatedAt },
		func() { dst.Invitation.ExpiresAt = src.Invitation.ExpiresAt },
		func() { dst.Invitation.ClosedAt = src.Invitation.ClosedAt },
		func() { dst.Credentials.TokenHash = src.Credentials.TokenHash },
		func() { dst.Credentials.PreviousTokens = slices.Clone(src.Credentials.PreviousTokens) },
		func() { dst.Credentials.CodeHash = slices.Clone(src.Credentials.CodeHash) },
		func() { dst.Credentials.CodeFailures = src.Credentials.CodeFailures },
		func() { dst.Credentials.RequestDigest = slices.Clone(src.Credentials.RequestDigest) },
		func() { dst.Invitation.GivenName = src.Invitation.GivenName },
		func() { dst.Invitation.FamilyName = src.Invitation.FamilyName },
		func() { dst.Invitation.Reason = src.Invitation.Reason },
	}
	copies[i]()
}
