package memstore

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/storetest"
)

// The conformance suite with every index key hashing alike: each lookup
// past the first key of a tenant goes through the spill map, and every
// delete promotes a spilled key.
func TestConformanceCollidingKeys(t *testing.T) {
	storetest.Run(t, func(t *testing.T) invite.Store {
		s := New()
		s.collide = true
		return s
	})
}

func TestKeyIndex(t *testing.T) {
	keys := map[uint32]string{1: "a", 2: "b", 3: "c"}
	holder := func(v uint32) string { return keys[v] }
	sameHash := func(string) uint64 { return 7 }
	var x keyIndex[string]
	for v, k := range keys {
		_, ok := x.get(7, k, holder)
		require.False(t, ok)
		x.set(7, k, v, strings.Clone)
	}
	require.Equal(t, 3, x.len())
	require.Equal(t, 1, x.m.len())
	require.Len(t, x.spill, 2)
	for v, k := range keys {
		got, ok := x.get(7, k, holder)
		require.True(t, ok)
		require.Equal(t, v, got)
	}
	_, ok := x.get(7, "d", holder)
	require.False(t, ok, "a key absent from spill and not the main entry's")

	// Deleting the main entry's key promotes a spilled one.
	mv64, ok := x.m.get(7, nil)
	require.True(t, ok)
	mv := uint32(mv64)
	main := keys[mv]
	require.False(t, x.del(7, main, mv+1, sameHash), "another value: not deleted")
	require.True(t, x.del(7, main, mv, sameHash))
	require.Equal(t, 2, x.len())
	require.Equal(t, 1, x.m.len())
	_, ok = x.get(7, main, holder)
	require.False(t, ok)
	for v, k := range keys {
		if k != main {
			got, ok := x.get(7, k, holder)
			require.True(t, ok)
			require.Equal(t, v, got)
		}
	}
	// Deleting an absent key changes nothing.
	require.False(t, x.del(7, "d", 4, sameHash))
	require.Equal(t, 2, x.len())
	for v, k := range keys {
		require.Equal(t, k != main, x.del(7, k, v, sameHash))
	}
	require.Equal(t, 0, x.len())
}

// A spilled key is a copy: it does not keep the version it came from alive.
func TestSpilledKeysAreCopies(t *testing.T) {
	s := New()
	s.collide = true
	first, second := slotRecord("t", 1), slotRecord("t", 2)
	first.Invitation.IdempotencyKey, second.Invitation.IdempotencyKey = "k1", "k2"
	require.NoError(t, applyOne(t, s, invite.Write{Record: first}))
	require.NoError(t, applyOne(t, s, invite.Write{Record: second}))
	sh := s.shardOf("t")
	tn := sh.tenants["t"]
	e, ok := tn.getID(second.Invitation.ID)
	require.True(t, ok)
	v1 := sh.slots[e].cur
	inBlob := func(str string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(str)))
		start := uintptr(unsafe.Pointer(&v1[0]))
		return p >= start && p < start+uintptr(len(v1))
	}
	require.NotEmpty(t, tn.byID.spill)
	require.NotEmpty(t, tn.idem.spill)
	require.NotEmpty(t, tn.open.spill)
	for k := range tn.byID.spill {
		require.False(t, inBlob(k), "spilled id %q is a view of the version", k)
	}
	for k := range tn.idem.spill {
		require.False(t, inBlob(k), "spilled idempotency key %q is a view of the version", k)
	}
	for k := range tn.open.spill {
		require.False(t, inBlob(k.Value), "spilled invitee key %q is a view of the version", k.Value)
	}
}
