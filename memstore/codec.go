package memstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"
	"unsafe"

	"github.com/invitekit/invite"
)

// memstore keeps each record version as one encoded, pointer-free byte
// slice (a blob): its index fields first (the header), then the rest.
// Compared with keeping *invite.Record values this
//   - makes writes and reads copies by construction (encode in, decode out),
//     as the Store contract wants;
//   - leaves the garbage collector one pointer-free object per version to
//     mark instead of a pointer-dense struct and the dozen strings, slices
//     and maps hanging off it: with a million stored invitations marking
//     dominated every operation's cost;
//   - keeps a record's bytes together, so a read touches a few adjacent
//     cache lines instead of a dozen scattered objects (reaching the record
//     among a million still costs cache and TLB misses; see
//     BenchmarkRandomRead).
//
// A blob is never modified once built, so the strings of a decoded record
// point into it (unsafe.String) instead of being copied; the slices and
// maps a caller could modify (lists, data, metadata, hashes) are fresh.

// blob is one encoded version of a record.
type blob []byte

// header holds a version's index fields, decoded from its blob (strings
// point into it).
type header struct {
	version int64
	state   invite.State
	invitee invite.Invitee
	idem    string
	expires time.Time
	closed  time.Time
	token   invite.TokenHash
	// prev holds the previous tokens, prevSize bytes each, read on
	// demand; nprev is how many (-1: nil).
	prev  []byte
	nprev int
	// nlist is how many roles and groups the record has.
	nlist int
	// body is where the fields after the header start in the blob.
	body int
}

// open reports whether the version's stored state is open.
func (h *header) open() bool { return h.state.Open() }

// The header is a fixed-size part, then the five strings whose lengths it
// gives and the previous tokens, so that reading it takes no parsing:
//
//	off  field
//	0    version              int64
//	8    expires              int64 Unix seconds, uint32 nanoseconds
//	20   closed               int64 Unix seconds, uint32 nanoseconds
//	32   token hash           [32]byte
//	64   previous tokens + 1  uint16 (0: nil)
//	66   list strings         uint16: how many roles and groups in all
//	68   string lengths       uint16 each: state, email, phone, user id,
//	                          idempotency key
//	78   the five strings, then each previous token (hash, expiry: 44 bytes),
//	     then the body (varint-encoded, see appendRecord)
//
// All integers are little-endian. The 16-bit fields bound what a record may
// hold (checkLimits); the Manager's validation keeps far below.
const (
	hashSize  = len(invite.TokenHash{})
	fixedSize = 78
	prevSize  = hashSize + timeSize
	timeSize  = 12
	// maxField is the most a 16-bit header field holds.
	maxField = math.MaxUint16
)

// checkLimits returns an error matching invite.ErrInvalid, naming the
// field, when r does not fit the header's 16-bit fields.
func checkLimits(r *invite.Record) error {
	inv := &r.Invitation
	for _, f := range [...]struct {
		name string
		n    int
	}{
		{"State", len(inv.State)}, {"Invitee.Email", len(inv.Invitee.Email)}, {"Invitee.Phone", len(inv.Invitee.Phone)},
		{"Invitee.UserID", len(inv.Invitee.UserID)}, {"IdempotencyKey", len(inv.IdempotencyKey)},
		{"Roles and Groups", len(inv.Roles) + len(inv.Groups)}, {"PreviousTokens", len(r.Credentials.PreviousTokens) + 1},
	} {
		if f.n > maxField {
			return fmt.Errorf("%w: memstore: %s: more than %d (bytes or items)", invite.ErrInvalid, f.name, maxField)
		}
	}
	return nil
}

var le = binary.LittleEndian

// header decodes b's index fields.
func (b blob) header() header {
	_ = b[fixedSize-1]
	h := header{version: int64(le.Uint64(b)), expires: fixedTime(b[8:]), closed: fixedTime(b[20:]),
		token: invite.TokenHash(b[32:64]), nprev: int(le.Uint16(b[64:])) - 1, nlist: int(le.Uint16(b[66:]))}
	off := fixedSize
	var s [5]string
	for i := range s {
		n := int(le.Uint16(b[68+2*i:]))
		s[i] = view(b[off : off+n])
		off += n
	}
	h.state, h.invitee, h.idem = invite.State(s[0]), invite.Invitee{Email: s[1], Phone: s[2], UserID: s[3]}, s[4]
	end := off + max(h.nprev, 0)*prevSize
	h.prev, h.body = b[off:end:end], end
	return h
}

// fixedTime reads what appendFixedTime wrote.
func fixedTime(b []byte) time.Time {
	return time.Unix(int64(le.Uint64(b)), int64(le.Uint32(b[8:]))).UTC()
}

func appendFixedTime(b []byte, t time.Time) []byte {
	return le.AppendUint32(le.AppendUint64(b, uint64(t.Unix())), uint32(t.Nanosecond()))
}

// view returns b's bytes as a string, sharing them (blobs are immutable).
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// previous calls fn for each previous token, in order.
func (h *header) previous(fn func(invite.PreviousToken)) {
	for p := h.prev; len(p) >= prevSize; p = p[prevSize:] {
		fn(invite.PreviousToken{Hash: invite.TokenHash(p), ExpiresAt: fixedTime(p[hashSize:])})
	}
}

// hasHash reports whether x is the version's current or a previous token
// hash.
func (h *header) hasHash(x invite.TokenHash) bool {
	if h.token == x {
		return true
	}
	for p := h.prev; len(p) >= prevSize; p = p[prevSize:] {
		if invite.TokenHash(p) == x {
			return true
		}
	}
	return false
}

// hashes returns the version's current and previous token hashes, in buf
// when they fit.
func (h *header) hashes(buf *[2]invite.TokenHash) []invite.TokenHash {
	hs := buf[:0]
	if !h.token.IsZero() {
		hs = append(hs, h.token)
	}
	for p := h.prev; len(p) >= prevSize; p = p[prevSize:] {
		hs = append(hs, invite.TokenHash(p))
	}
	return hs
}

// names returns the record's id and tenant id (the body's first two
// fields), views of b, whose header is h.
func (b blob) names(h *header) (id, tenantID string) {
	d := decoder{buf: b, off: h.body}
	return d.str(), d.str()
}

// encode builds the stored form of r and returns it with its header. Times
// are kept in UTC. r must pass checkLimits.
func encode(r *invite.Record) (blob, header) {
	bp := scratch.Get().(*[]byte)
	buf := appendRecord((*bp)[:0], r)
	b := blob(append(make([]byte, 0, len(buf)), buf...))
	if cap(buf) <= 64<<10 {
		*bp = buf
		scratch.Put(bp)
	}
	return b, b.header()
}

// decode returns a new record the caller owns.
func (b blob) decode() *invite.Record {
	h := b.header()
	return b.decodeWith(&h)
}

// decodeWith returns a new record the caller owns, decoded from the blob
// whose header is h.
func (b blob) decodeWith(h *header) *invite.Record {
	r, lists := newRecord(h.nlist)
	b.decodeInto(h, r, true, lists)
	return r
}

// newRecord allocates a record and room for n list strings (its roles and
// groups), together when n is small: a record with up to two fits the
// size class of a record alone.
func newRecord(n int) (*invite.Record, []string) {
	switch {
	case n == 0:
		return new(invite.Record), nil
	case n <= 2:
		x := new(struct {
			r invite.Record
			l [2]string
		})
		return &x.r, x.l[:n]
	case n <= 4:
		x := new(struct {
			r invite.Record
			l [4]string
		})
		return &x.r, x.l[:n]
	}
	return new(invite.Record), make([]string, n)
}

// decodeInto fills r from the blob, whose header is h, with the roles and
// groups in lists (h.nlist long); without own it leaves the collections
// (lists, data, metadata, code hash) out.
func (b blob) decodeInto(h *header, r *invite.Record, own bool, lists []string) {
	d := decoder{buf: b, off: h.body, lists: lists}
	inv, c := &r.Invitation, &r.Credentials
	inv.Version, inv.State, inv.Invitee, inv.IdempotencyKey = h.version, h.state, h.invitee, h.idem
	inv.ExpiresAt, inv.ClosedAt = h.expires, h.closed
	c.TokenHash = h.token
	if h.nprev >= 0 {
		c.PreviousTokens = make([]invite.PreviousToken, 0, h.nprev)
		h.previous(func(p invite.PreviousToken) { c.PreviousTokens = append(c.PreviousTokens, p) })
	}
	d.body(r, own)
}

// scratch holds encoding buffers: a record is encoded into one, then
// copied into a blob of its exact size.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// The encoding functions append to and return a buffer held in a local
// variable, never in a struct: a pointer store into a struct the compiler
// cannot prove is on the stack pays the GC write barrier, which made
// encoding several times slower while a collection was running.

func appendVarint(b []byte, v int64) []byte {
	return binary.AppendUvarint(b, uint64(v<<1)^uint64(v>>63))
}

func appendBytes(b, v []byte) []byte { return append(binary.AppendUvarint(b, uint64(len(v))), v...) }

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// appendLength writes a collection's length, 0 for nil and n+1 otherwise,
// so nil and empty survive the round trip.
func appendLength(b []byte, n int, isNil bool) []byte {
	if isNil {
		return append(b, 0)
	}
	return binary.AppendUvarint(b, uint64(n)+1)
}

func appendTime(b []byte, t time.Time) []byte {
	return binary.AppendUvarint(appendVarint(b, t.Unix()), uint64(t.Nanosecond()))
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendList(b []byte, l []string) []byte {
	b = appendLength(b, len(l), l == nil)
	for _, s := range l {
		b = appendStr(b, s)
	}
	return b
}

func appendDict(b []byte, m map[string]string) []byte {
	b = appendLength(b, len(m), m == nil)
	for k, v := range m {
		b = appendStr(appendStr(b, k), v)
	}
	return b
}

// appendRecord writes the header (see fixedSize), then the rest. r must
// pass checkLimits.
func appendRecord(b []byte, r *invite.Record) []byte {
	inv, c := &r.Invitation, &r.Credentials
	b = le.AppendUint64(b, uint64(inv.Version))
	b = appendFixedTime(b, inv.ExpiresAt)
	b = appendFixedTime(b, inv.ClosedAt)
	b = append(b, c.TokenHash[:]...)
	nprev := 0
	if c.PreviousTokens != nil {
		nprev = len(c.PreviousTokens) + 1
	}
	b = le.AppendUint16(b, uint16(nprev))
	b = le.AppendUint16(b, uint16(len(inv.Roles)+len(inv.Groups)))
	strs := [...]string{string(inv.State), inv.Invitee.Email, inv.Invitee.Phone, inv.Invitee.UserID, inv.IdempotencyKey}
	for _, s := range strs {
		b = le.AppendUint16(b, uint16(len(s)))
	}
	for _, s := range strs {
		b = append(b, s...)
	}
	for _, p := range c.PreviousTokens {
		b = appendFixedTime(append(b, p.Hash[:]...), p.ExpiresAt)
	}
	// body
	for _, s := range [...]string{inv.ID, inv.TenantID, inv.GivenName, inv.FamilyName, inv.Inviter.ID, inv.Inviter.Name,
		inv.AccountName, inv.ClientID, inv.IdentityProviderID, inv.RedirectURI, inv.LinkTemplate, inv.TemplateKey,
		inv.Locale, inv.AcceptedBy, inv.Reason} {
		b = appendStr(b, s)
	}
	b = appendBool(b, inv.RequireEmailMatch)
	b = appendBool(b, inv.HasCode)
	for _, t := range [...]time.Time{inv.CreatedAt, inv.UpdatedAt, inv.IssuedAt, inv.SentAt} {
		b = appendTime(b, t)
	}
	b = appendVarint(b, int64(inv.SendCount))
	b = appendVarint(b, int64(c.CodeFailures))
	b = appendList(b, inv.Roles)
	b = appendList(b, inv.Groups)
	b = appendDict(b, inv.Data)
	b = appendLength(b, len(inv.FormData), inv.FormData == nil)
	for k, v := range inv.FormData {
		b = appendDict(appendStr(b, k), v)
	}
	b = appendLength(b, len(inv.Metadata), inv.Metadata == nil)
	b = appendBytes(b, inv.Metadata)
	b = appendLength(b, len(c.CodeHash), c.CodeHash == nil)
	return appendBytes(b, c.CodeHash)
}

// decoder reads the body appendRecord wrote. The blob is trusted (memstore
// wrote it), so malformed input is a bug and panics.
type decoder struct {
	buf []byte
	off int
	// lists is where roleGroups puts the roles and groups.
	lists []string
}

func (d *decoder) uvarint() uint64 {
	if d.off < len(d.buf) && d.buf[d.off] < 0x80 { // one byte: most lengths and flags
		d.off++
		return uint64(d.buf[d.off-1])
	}
	v, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 {
		panic("memstore: corrupt record")
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// raw returns the next length-prefixed bytes, aliasing the blob.
func (d *decoder) raw() []byte {
	n := int(d.uvarint())
	b := d.buf[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

// str returns the next string, sharing the (immutable) blob's bytes.
func (d *decoder) str() string { return view(d.raw()) }

// length reads what encoder.length wrote: -1 for nil.
func (d *decoder) length() int { return int(d.uvarint()) - 1 }

func (d *decoder) time() time.Time {
	sec := d.varint()
	nsec := int64(d.uvarint())
	return time.Unix(sec, nsec).UTC()
}

func (d *decoder) bool() bool { return d.uvarint() == 1 }

// roleGroups decodes roles and groups into d.lists (each capped at its
// length, so appending to one never writes into the other).
func (d *decoder) roleGroups() (roles, groups []string) {
	nr := d.length()
	roles = d.strings(nr, d.lists)
	groups = d.strings(d.length(), d.lists[max(nr, 0):])
	return roles, groups
}

// strings decodes n strings into the front of dst (n == -1: nil).
func (d *decoder) strings(n int, dst []string) []string {
	switch {
	case n < 0:
		return nil
	case n == 0:
		return []string{}
	}
	for i := range n {
		dst[i] = d.str()
	}
	return dst[:n:n]
}

func (d *decoder) dict() map[string]string {
	n := d.length()
	if n < 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k, v := d.str(), d.str()
		m[k] = v
	}
	return m
}

// body reads the fields after the header into r; without own it stops
// before the collections.
func (d *decoder) body(r *invite.Record, own bool) {
	inv, c := &r.Invitation, &r.Credentials
	inv.ID, inv.TenantID, inv.GivenName, inv.FamilyName = d.str(), d.str(), d.str(), d.str()
	inv.Inviter = invite.Inviter{ID: d.str(), Name: d.str()}
	inv.AccountName, inv.ClientID, inv.IdentityProviderID, inv.RedirectURI = d.str(), d.str(), d.str(), d.str()
	inv.LinkTemplate, inv.TemplateKey, inv.Locale, inv.AcceptedBy, inv.Reason = d.str(), d.str(), d.str(), d.str(), d.str()
	inv.RequireEmailMatch, inv.HasCode = d.bool(), d.bool()
	inv.CreatedAt, inv.UpdatedAt, inv.IssuedAt, inv.SentAt = d.time(), d.time(), d.time(), d.time()
	inv.SendCount = int(d.varint())
	c.CodeFailures = int(d.varint())
	if !own {
		return
	}
	inv.Roles, inv.Groups = d.roleGroups()
	inv.Data = d.dict()
	if n := d.length(); n >= 0 {
		inv.FormData = make(map[string]map[string]string, n)
		for range n {
			k := d.str()
			inv.FormData[k] = d.dict()
		}
	}
	inv.Metadata = d.ownBytes()
	c.CodeHash = d.ownBytes()
}

// ownBytes reads what a length and bytes pair wrote, as a fresh slice.
func (d *decoder) ownBytes() []byte {
	isNil := d.length() < 0
	b := d.raw()
	if isNil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
