package memstore

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
)

// hashFuncs go from "all alike" to "all distinct", so that every probe
// run, the wrap-around at the end of the array, growth and backward-shift
// deletion get exercised.
var hashFuncs = []struct {
	name string
	hash func(*invite.TokenHash) uint64
}{
	{"alike", func(*invite.TokenHash) uint64 { return 0 }},
	{"eight", func(k *invite.TokenHash) uint64 { return uint64(k[1] % 8) }},
	{"high", func(k *invite.TokenHash) uint64 { return uint64(k[1])<<56 | 63 }}, // home at the end: runs wrap
	{"distinct", func(k *invite.TokenHash) uint64 { return uint64(k[1])<<8 | uint64(k[2]) }},
}

// testKeys returns n distinct keys.
func testKeys(n int) []invite.TokenHash {
	keys := make([]invite.TokenHash, n)
	for i := range keys {
		keys[i][1], keys[i][2], keys[i][31] = byte(i), byte(i>>8), 1
	}
	return keys
}

// A keyed hashTable against a Go map, through random sets and deletes;
// after every step each key is checked, and its candidate.
func TestHashTableKeyed(t *testing.T) {
	for _, tc := range hashFuncs {
		t.Run(tc.name, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(1, uint64(len(tc.name))))
			keys := testKeys(300)
			tab := hashTable{keyed: true}
			want := map[invite.TokenHash]uint64{}
			for step := range 3000 {
				k := &keys[rnd.IntN(len(keys))]
				h := tc.hash(k)
				v := uint64(rnd.IntN(4))
				if rnd.IntN(3) == 0 {
					got := tab.del(h, k, v)
					cur, had := want[*k]
					require.Equal(t, had && cur == v, got, "step %d: del", step)
					if got {
						delete(want, *k)
					}
				} else {
					tab.set(h, k, v)
					want[*k] = v
				}
				require.Equal(t, len(want), tab.len(), "step %d", step)
				for i := range keys {
					k := &keys[i]
					got, ok := tab.get(tc.hash(k), k)
					w, had := want[*k]
					require.Equal(t, had, ok, "step %d: key %d", step, i)
					require.Equal(t, w, got, "step %d: key %d", step, i)
					c, ok := tab.candidate(tc.hash(k))
					if had {
						require.True(t, ok, "step %d: a present key has a candidate", step)
						require.True(t, candidateOf(want, tc.hash, tc.hash(k), c), "step %d: key %d", step, i)
					}
				}
			}
		})
	}
}

// candidateOf reports whether some key with hash h maps to v.
func candidateOf(m map[invite.TokenHash]uint64, hash func(*invite.TokenHash) uint64, h, v uint64) bool {
	for k, w := range m {
		if hash(&k) == h && w == v {
			return true
		}
	}
	return false
}

// An unkeyed hashTable against a Go map of hashes, through random adds and
// deletes: one entry per hash.
func TestHashTableUnkeyed(t *testing.T) {
	for _, tc := range hashFuncs {
		t.Run(tc.name, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(2, uint64(len(tc.name))))
			keys := testKeys(300)
			var tab hashTable
			want := map[uint64]uint64{}
			for step := range 3000 {
				h := tc.hash(&keys[rnd.IntN(len(keys))])
				v := uint64(rnd.IntN(4))
				cur, had := want[h]
				switch rnd.IntN(3) {
				case 0:
					got := tab.del(h, nil, v)
					require.Equal(t, had && cur == v, got, "step %d: del", step)
					if got {
						delete(want, h)
					}
				default:
					require.Equal(t, !had, tab.add(h, nil, v), "step %d: add", step)
					if !had {
						want[h] = v
					}
				}
				require.Equal(t, len(want), tab.len(), "step %d", step)
				for i := range keys {
					h := tc.hash(&keys[i])
					got, ok := tab.get(h, nil)
					w, had := want[h]
					require.Equal(t, had, ok, "step %d: hash %d", step, h)
					require.Equal(t, w, got, "step %d: hash %d", step, h)
				}
			}
		})
	}
}

// The store with every token hash alike: each read finds another key's
// entry first, so GetByTokenHash takes its exact path.
func TestTokenIndexAllHashesAlike(t *testing.T) {
	s := New()
	s.collide = true
	var recs []*invite.Record
	for i := range 50 {
		r := slotRecord("t", i+1)
		require.NoError(t, applyOne(t, s, invite.Write{Record: r}))
		recs = append(recs, r)
	}
	ctx := t.Context()
	for i, r := range recs {
		got, err := s.GetByTokenHash(ctx, r.Credentials.TokenHash)
		require.NoError(t, err, "record %d", i)
		require.Equal(t, r.Invitation.ID, got.Invitation.ID)
	}
	// Deleting every other one leaves the rest reachable.
	for i := 0; i < len(recs); i += 2 {
		require.NoError(t, applyOne(t, s, invite.Write{Record: recs[i], Expect: 1, Delete: true}))
	}
	for i, r := range recs {
		got, err := s.GetByTokenHash(ctx, r.Credentials.TokenHash)
		if i%2 == 0 {
			require.ErrorIs(t, err, invite.ErrNotFound, "record %d", i)
			continue
		}
		require.NoError(t, err, "record %d", i)
		require.Equal(t, r.Invitation.ID, got.Invitation.ID)
	}
}
