package memstore

import (
	"hash/maphash"
	"strings"

	"github.com/invitekit/invite"
)

// keyIndex maps keys to values (slot numbers). Its main map is keyed by a
// seeded 64-bit hash of the key and holds no pointers, so the garbage
// collector never scans it however many keys it holds. The key itself is
// not kept: a value stands for the key its holder function derives from
// the store (the id of a slot, say), which is how a lookup checks that the
// entry is its key's and not another key's with the same hash. A key whose
// hash another key already holds goes to spill, keyed by the key itself
// (rare: two keys of one tenant share a 64-bit hash with a likelihood of
// about n²/2⁶⁵ for n keys).
type keyIndex[K comparable] struct {
	m     hashTable
	spill map[K]uint32
}

func (x *keyIndex[K]) len() int { return x.m.len() + len(x.spill) }

// get returns the value of k, whose hash is h.
func (x *keyIndex[K]) get(h uint64, k K, holder func(uint32) K) (uint32, bool) {
	if len(x.spill) > 0 {
		if v, ok := x.spill[k]; ok {
			return v, true
		}
	}
	if v, ok := x.m.get(h, nil); ok && holder(uint32(v)) == k {
		return uint32(v), true
	}
	return 0, false
}

// set maps k, whose hash is h, to v; k must not be mapped already. A key
// that goes to spill is kept as clone(k): k may be a view of a version the
// record will leave behind.
func (x *keyIndex[K]) set(h uint64, k K, v uint32, clone func(K) K) {
	if x.m.add(h, nil, uint64(v)) {
		return
	}
	if x.spill == nil {
		x.spill = map[K]uint32{}
	}
	x.spill[clone(k)] = v
}

// del unmaps k, whose hash is h, if it maps to v, and reports whether it
// did. v names its key (a slot has one id, one idempotency key and one
// invitee key per kind), so no holder check is needed. A spilled key with
// the same hash moves to the main map in its place.
func (x *keyIndex[K]) del(h uint64, k K, v uint32, hash func(K) uint64) bool {
	if len(x.spill) > 0 {
		if got, ok := x.spill[k]; ok {
			if got != v {
				return false
			}
			delete(x.spill, k)
			return true
		}
	}
	if !x.m.del(h, nil, uint64(v)) {
		return false
	}
	for k2, v2 := range x.spill {
		if hash(k2) == h {
			delete(x.spill, k2)
			x.m.add(h, nil, uint64(v2))
			break
		}
	}
	return true
}

// tenant holds the indexes of one tenant's invitations.
type tenant struct {
	s  *Store // for the hash seed
	sh *shard // whose slots the indexes name
	// byID maps ids to slots.
	byID keyIndex[string]
	// open maps the invitee keys of records whose stored state is open to
	// slot<<2 | kind (see keyKind): a record has up to three keys, and the
	// kind says which one an entry stands for.
	open keyIndex[invite.InviteeKey]
	// idem maps idempotency keys to slots.
	idem keyIndex[string]
	// order holds the tenant's slots sorted by (created, id), each with
	// its creation time, so that seeking a place in it reads this slice
	// alone and not a slot per step.
	order []orderEntry
	// num is the tenant's number in its shard (shard.numbered, slot.tn).
	num uint32
}

func newTenant(s *Store, sh *shard) *tenant {
	return &tenant{s: s, sh: sh}
}

func (t *tenant) hashString(s string) uint64 {
	if t.s.collide {
		return 0
	}
	return maphash.String(t.s.seed, s)
}

// hashKey hashes an invitee key; its kind is part of the hash.
func (t *tenant) hashKey(k invite.InviteeKey) uint64 {
	if t.s.collide {
		return 0
	}
	return maphash.String(t.s.seed, k.Value) + uint64(keyKind(k.Kind)+1)*0x9e3779b97f4a7c15
}

func (t *tenant) idOf(e uint32) string { return t.sh.slots[e].id }

func (t *tenant) idemOf(e uint32) string {
	cur := t.sh.slots[e].cur
	if cur == nil {
		return ""
	}
	h := cur.header()
	return h.idem
}

// keyOf returns the invitee key an open-index value stands for, from the
// slot's current version.
func (t *tenant) keyOf(v uint32) invite.InviteeKey {
	cur := t.sh.slots[v>>2].cur
	if cur == nil {
		return invite.InviteeKey{}
	}
	h := cur.header()
	var buf [3]invite.InviteeKey
	for _, k := range h.invitee.AppendKeys(buf[:0]) {
		if keyKind(k.Kind) == int(v&3) {
			return k
		}
	}
	return invite.InviteeKey{}
}

// cloneKey copies k's value (its kind is a constant).
func cloneKey(k invite.InviteeKey) invite.InviteeKey {
	return invite.InviteeKey{Kind: k.Kind, Value: strings.Clone(k.Value)}
}

// keyKind numbers the kinds of invitee keys (invite.Invitee.AppendKeys).
func keyKind(kind string) int {
	switch kind {
	case "email":
		return 0
	case "phone":
		return 1
	default:
		return 2
	}
}

func (t *tenant) getID(id string) (uint32, bool) { return t.byID.get(t.hashString(id), id, t.idOf) }
func (t *tenant) setID(id string, e uint32)      { t.byID.set(t.hashString(id), id, e, strings.Clone) }
func (t *tenant) delID(id string, e uint32) bool {
	return t.byID.del(t.hashString(id), id, e, t.hashString)
}

func (t *tenant) getIdem(k string) (uint32, bool) { return t.idem.get(t.hashString(k), k, t.idemOf) }
func (t *tenant) setIdem(k string, e uint32)      { t.idem.set(t.hashString(k), k, e, strings.Clone) }
func (t *tenant) delIdem(k string, e uint32) bool {
	return t.idem.del(t.hashString(k), k, e, t.hashString)
}

// getOpen returns the slot of the open record with invitee key k.
func (t *tenant) getOpen(k invite.InviteeKey) (uint32, bool) {
	v, ok := t.open.get(t.hashKey(k), k, t.keyOf)
	return v >> 2, ok
}

func (t *tenant) setOpen(k invite.InviteeKey, e uint32) {
	t.open.set(t.hashKey(k), k, e<<2|uint32(keyKind(k.Kind)), cloneKey)
}

// delOpen unmaps k if it is slot e's.
func (t *tenant) delOpen(k invite.InviteeKey, e uint32) bool {
	return t.open.del(t.hashKey(k), k, e<<2|uint32(keyKind(k.Kind)), t.hashKey)
}
