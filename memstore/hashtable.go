package memstore

import "github.com/invitekit/invite"

// hashTable maps 64-bit hashes of keys to values (slot numbers or refs):
// the token index, and the main map of each keyIndex. It is an
// open-addressing hash table with linear probing whose entries (the hash
// and the value, 16 bytes) fill one array, four to a cache line, so that
// finding a key among a million usually costs one cache miss where a Go
// map costs about two (its control word, then the slot). It holds no
// pointer, so the garbage collector never scans it. Deletes shift later
// entries back instead of leaving tombstones.
//
// A keyed table (the token index) keeps each key in a second array, at
// the same position as its entry, and may hold several keys with one
// hash: its exact lookups compare the key, and candidate, for a caller
// that checks what it finds anyway, reads the entries alone. An unkeyed
// table (keyIndex) holds one entry per hash, and its caller tells keys
// with the same hash apart.
//
// The zero value is an empty unkeyed table. A hashTable is not safe for
// concurrent use.
type hashTable struct {
	ents  []hashEnt
	keys  []invite.TokenHash
	n     int
	keyed bool
}

// hashEnt is one place of a hashTable: a hash and, with hashUsed set, its
// value. Values (refs and slot numbers) never have that bit.
type hashEnt struct {
	h uint64
	v uint64
}

const hashUsed = uint64(1) << 63

// minHashTable is the size of a table's first array.
const minHashTable = 8

func (t *hashTable) len() int { return t.n }

// find returns the position of k, whose hash is h; a nil k matches the
// first entry with hash h.
func (t *hashTable) find(h uint64, k *invite.TokenHash) (int, bool) {
	if t.n == 0 {
		return 0, false
	}
	mask := uint64(len(t.ents) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		e := &t.ents[i]
		if e.v&hashUsed == 0 {
			return 0, false
		}
		if e.h == h && (k == nil || t.keys[i] == *k) {
			return int(i), true
		}
	}
}

// touch reads the place where a lookup of hash h starts (its entry and,
// keyed, its key) and returns something of it. A caller about to look up
// several keys in cold tables touches them all first: the reads do not
// depend on each other, so the processor waits for their cache misses
// together instead of one after another.
func (t *hashTable) touch(h uint64) uint64 {
	if len(t.ents) == 0 {
		return 0
	}
	i := h & uint64(len(t.ents)-1)
	v := t.ents[i].h
	if t.keyed {
		v += uint64(t.keys[i][0])
	}
	return v
}

// get returns the value of k, whose hash is h (nil k: see find).
func (t *hashTable) get(h uint64, k *invite.TokenHash) (uint64, bool) {
	if i, ok := t.find(h, k); ok {
		return t.ents[i].v &^ hashUsed, true
	}
	return 0, false
}

// candidate returns the value of the first key whose hash is h, without
// comparing keys: in a keyed table the caller must check that the value
// is its key's.
func (t *hashTable) candidate(h uint64) (uint64, bool) { return t.get(h, nil) }

// set maps k, whose hash is h, to v (nil k: the entry with hash h).
func (t *hashTable) set(h uint64, k *invite.TokenHash, v uint64) {
	if i, ok := t.find(h, k); ok {
		t.ents[i].v = v | hashUsed
		return
	}
	t.insert(h, k, v)
}

// add maps k, whose hash is h, to v unless it is mapped already, and
// reports whether it did (nil k: unless an entry has hash h).
func (t *hashTable) add(h uint64, k *invite.TokenHash, v uint64) bool {
	if _, ok := t.find(h, k); ok {
		return false
	}
	t.insert(h, k, v)
	return true
}

// insert adds k, known to be absent.
func (t *hashTable) insert(h uint64, k *invite.TokenHash, v uint64) {
	// Grow at three quarters full: linear probing stays short below that.
	if (t.n+1)*4 > len(t.ents)*3 {
		t.grow()
	}
	t.put(h, k, v)
	t.n++
}

// put stores k in a table with room for it.
func (t *hashTable) put(h uint64, k *invite.TokenHash, v uint64) {
	mask := uint64(len(t.ents) - 1)
	i := h & mask
	for t.ents[i].v&hashUsed != 0 {
		i = (i + 1) & mask
	}
	t.ents[i] = hashEnt{h: h, v: v | hashUsed}
	if t.keyed {
		t.keys[i] = *k
	}
}

func (t *hashTable) grow() {
	ents, keys := t.ents, t.keys
	size := max(minHashTable, 2*len(ents))
	t.ents = make([]hashEnt, size)
	if t.keyed {
		t.keys = make([]invite.TokenHash, size)
	}
	for i := range ents {
		if e := &ents[i]; e.v&hashUsed != 0 {
			var k *invite.TokenHash
			if t.keyed {
				k = &keys[i]
			}
			t.put(e.h, k, e.v&^hashUsed)
		}
	}
}

// del unmaps k, whose hash is h (nil k: see find), if it maps to v, and
// reports whether it did.
func (t *hashTable) del(h uint64, k *invite.TokenHash, v uint64) bool {
	i, ok := t.find(h, k)
	if !ok || t.ents[i].v&^hashUsed != v {
		return false
	}
	// Backward-shift deletion: move each later entry of the run into the
	// hole when its home position allows, so that no lookup stops at the
	// hole before reaching its key.
	mask := len(t.ents) - 1
	hole := i
	for j := (i + 1) & mask; t.ents[j].v&hashUsed != 0; j = (j + 1) & mask {
		// j may move to hole when its home is not in (hole, j]
		// (cyclically): its probe from home passes hole.
		if home := int(t.ents[j].h) & mask; (j-home)&mask >= (j-hole)&mask {
			t.ents[hole] = t.ents[j]
			if t.keyed {
				t.keys[hole] = t.keys[j]
			}
			hole = j
		}
	}
	t.ents[hole] = hashEnt{}
	if t.keyed {
		t.keys[hole] = invite.TokenHash{}
	}
	t.n--
	return true
}
